"""Byte units. GB = 10^9 bytes, GiB = 2^30 bytes; a value is never printed with the other's label."""

from __future__ import annotations

import math

GB = 10**9
GiB = 2**30
MiB = 2**20


def fmt_bytes(n: int | float) -> str:
    """'16.06 GB (14.96 GiB)' for large values, MB/MiB below a gigabyte; negative values keep their sign."""
    sign = "-" if n < 0 else ""
    n = abs(n)
    if n >= 0.1 * GB:
        return f"{sign}{n / GB:.2f} GB ({n / GiB:.2f} GiB)"
    return f"{sign}{n / 10**6:.1f} MB ({n / MiB:.1f} MiB)"


def parse_tokens(text: str) -> int:
    """'32k' -> 32768, '128K' -> 131072, '1m' -> 1048576, '8192' -> 8192."""
    s = text.strip().lower().replace("_", "").replace(",", "")
    mult = 1
    if s.endswith("k"):
        mult, s = 1024, s[:-1]
    elif s.endswith("m"):
        mult, s = 1024 * 1024, s[:-1]
    try:
        value = float(s)
    except ValueError:
        raise ValueError(f"must be a number of tokens such as 4096, 8k or 32k (got {text!r})") from None
    if not math.isfinite(value) or value <= 0 or value * mult > 2**40:
        raise ValueError(f"must be a positive, finite number of tokens (got {text!r})")
    return int(value * mult)


# The longest model, GPU, format or runtime name a request may carry (real ones are under 80 characters).
MAX_NAME_CHARS = 200

# A bare parameter count is sized by stretching a catalog shape's layer count, so the work grows with it: 2,000B
# (about 5x the largest dense open model) keeps one estimate well under a second.
MAX_PARAMS_B = 2000
