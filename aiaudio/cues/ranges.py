"""The human reference ranges of the cues (``assets/human_ranges.json``) and percentiles in them."""

from __future__ import annotations

import json
import math
from functools import lru_cache
from typing import Any

import numpy as np



@lru_cache(maxsize=1)
def human_ranges() -> dict[str, Any]:
    """The reference percentiles of every cue over human music (``assets/human_ranges.json``).

    Returns
    -------
    dict
        ``{"meta": {...}, "cues": {name: {"n": int, "percentiles": {"0": v, "1": v, ...,
        "100": v}}}}``. Built by ``scripts/build_human_ranges.py``.
    """
    from importlib import resources

    try:
        text = resources.files("aiaudio").joinpath("assets").joinpath("human_ranges.json").read_text(encoding="utf-8")
    except (FileNotFoundError, OSError) as e:
        raise FileNotFoundError(
            "aiaudio/assets/human_ranges.json is missing; build it with scripts/build_human_ranges.py"
        ) from e
    return json.loads(text)


def percentile_of(name: str, value: float) -> float:
    """Percentile of ``value`` among the human reference tracks for cue ``name``.

    Parameters
    ----------
    name : str
        A cue name from :data:`CUE_NAMES`.
    value : float
        The cue's value for some track.

    Returns
    -------
    float
        0-100: the share (in percent) of human reference tracks with a lower value,
        counting ties as half (mid-rank), interpolated linearly between the stored
        percentiles (0, 1, 5, 10, 25, 50, 75, 90, 95, 99, 100). Values outside the
        human range read 0 or 100. NaN for a NaN value. A result of 3.0 for
        ``percentile_of("crest_factor_db", 6.1)`` reads "crest factor 6.1 dB, lower
        than 97 % of human tracks".

    Raises
    ------
    KeyError
        Unknown cue name.
    """
    cues = human_ranges()["cues"]
    if name not in cues:
        raise KeyError(f"no human reference range for cue {name!r}; known: {sorted(cues)}")
    v = float(value)
    if math.isnan(v):
        return float("nan")
    pct = cues[name]["percentiles"]
    ps = np.array([float(p) for p in pct])
    vs = np.array([float(pct[p]) for p in pct])
    order = np.lexsort((ps, vs))
    ps, vs = ps[order], vs[order]
    uv, first = np.unique(vs, return_index=True)
    last = np.r_[first[1:] - 1, len(vs) - 1]
    p_lo = np.interp(v, uv, ps[first])
    p_hi = np.interp(v, uv, ps[last])
    if v < uv[0]:
        return 0.0
    if v > uv[-1]:
        return 100.0
    return float((p_lo + p_hi) / 2.0)
