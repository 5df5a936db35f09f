#!/usr/bin/env bash
# Create .venv and install vramwise with its dev extras. Uses uv (fast) and the local CPU torch wheel folder
# where this machine has one (uv ignores pip's config, so find-links is passed explicitly).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check "uv>=0.4"
FIND_LINKS=$(.venv/bin/python -m pip config get global.find-links 2>/dev/null || true)
args=(--python .venv/bin/python --compile-bytecode)
if [ -n "$FIND_LINKS" ] && [ -d "$FIND_LINKS" ]; then args+=(--find-links "$FIND_LINKS"); fi
.venv/bin/uv pip install "${args[@]}" -e ".[all,dev]"
