"""The package layers: the core never reaches up into the application, and a new runtime is one module + one row."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import yaml

from agent_tools import catalog, runtimes
from agent_tools.estimate import estimate_memory

REPO = Path(__file__).resolve().parent.parent
CORE = REPO / "agent_tools"
UPPER_LAYERS = ("vramwise", "evals", "assistant", "knowledge", "helpdesk", "server")


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_core_never_imports_the_cli_assistant_knowledge_or_evals():
    offenders = {
        f"{path.relative_to(REPO)} imports {name}"
        for path in CORE.rglob("*.py")
        for name in _imported_modules(path)
        if name.split(".")[0] in UPPER_LAYERS
    }
    assert not offenders, sorted(offenders)


def test_importing_the_core_loads_no_heavy_library():
    code = (
        "import sys, agent_tools, agent_tools.estimate, agent_tools.advice; "
        "heavy = [m for m in ('torch', 'chromadb', 'sentence_transformers', 'langchain', 'langchain_core', "
        "'knowledge', 'assistant', 'evals', 'vramwise') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"


def test_no_runtime_name_branches_outside_the_runtime_modules():
    """`if runtime == "vllm"`-style branches belong in agent_tools/runtimes/<id>.py, nowhere else in the core."""
    ids = set(catalog.runtimes())
    offenders = []
    for path in CORE.rglob("*.py"):
        if path.parent.name == "runtimes":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Compare):
                consts = [c.value for c in ast.walk(node) if isinstance(c, ast.Constant) and isinstance(c.value, str)]
                if any(c in ids for c in consts):
                    offenders.append(f"{path.name}:{node.lineno}")
    assert not offenders, offenders


def test_module_sizes_stay_small():
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in CORE.rglob("*.py")}
    assert sizes["estimate.py"] < 350
    assert max(sizes.values()) <= 500, {k: v for k, v in sizes.items() if v > 500}


TOY_MODULE = '''
from agent_tools.runtimes.base import Runtime


class Toy(Runtime):
    """A runtime that keeps a fixed 1 GiB scratch buffer per GPU instead of one prefill pass."""

    id = "toy"

    def inference_activations(self, plan, context, batch):
        return 2**30, 2**30

    def launch_flags(self, plan, detail):
        return f"toy-serve --ctx {plan.req.context_length}"
'''


def test_a_new_runtime_is_one_module_and_one_data_row(tmp_path, monkeypatch):
    (tmp_path / "toy.py").write_text(TOY_MODULE, encoding="utf-8")
    rows = yaml.safe_load((CORE / "data" / "runtimes.yaml").read_text(encoding="utf-8"))
    rows["runtimes"].append(
        {
            "id": "toy",
            "name": "Toy runtime",
            "aliases": ["toyrt"],
            "context_bytes": 100 * 2**20,
            "fit_margin_bytes": 0,
            "decode_efficiency": 0.5,
            "prefill_efficiency": 0.3,
            "sources": {"context_bytes": "the test that defines this runtime"},
        }
    )
    data = tmp_path / "data"
    data.mkdir()
    for f in (CORE / "data").glob("*.yaml"):
        (data / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    (data / "runtimes.yaml").write_text(yaml.safe_dump(rows), encoding="utf-8")
    monkeypatch.setattr(catalog, "DATA_DIR", data)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(runtimes, "__path__", [*runtimes.__path__, str(tmp_path)])
    for cached in (catalog.runtimes, catalog._runtime_index, runtimes.behaviours):
        cached.cache_clear()
    try:
        result = estimate_memory(model="llama3.1-8b", runtime="toyrt", context_length=4096, gpu="RTX 4090")
        assert result.runtime == "toy"
        assert result.breakdown.activations_bytes == 2**30
        assert result.breakdown.overhead_bytes == 100 * 2**20
        assert result.runtime_detail.launch_flags == "toy-serve --ctx 4096"
        assert result.speed is not None and result.speed.efficiency == 0.5
    finally:
        for cached in (catalog.runtimes, catalog._runtime_index, runtimes.behaviours):
            cached.cache_clear()
