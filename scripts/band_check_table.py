#!/usr/bin/env python
"""Measured table: the band an explanation names, and what filtering it out of the audio does.

    nice -n 10 python scripts/band_check_table.py [--data ../shared/data] [--model DIR] [--out table.md]

Ten files of the development share: 5 human clips held out of the saliency reference
(``scripts/build_saliency_reference.py`` holds out every fourth human clip; the first 5
of those, in path order) and the first AI file (path order) of each of 5 generators
(:data:`GENERATORS`). For each: ``p_ai``, the verdict, the band the explanation names (or
none), and ``p_ai`` of the excerpt before and after that band is filtered out of the audio
(:func:`aiaudio.explain.filter_band`, the explanation's own check). Where no band is named,
the candidate bands that were checked (occlusion outside the human range) are listed with
the same numbers, to show why none was named. Saliency and band check only (no cue
interventions), default occlusion settings.
"""

from __future__ import annotations

import argparse
import csv
import sys
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from aiaudio import load_detector  # noqa: E402
from aiaudio.detector import UntrainedModelWarning  # noqa: E402
from aiaudio.explain import explain  # noqa: E402
from aiaudio.explain.labels import _band  # noqa: E402
from build_saliency_reference import DEFAULT_DATA, human_split  # noqa: E402

GENERATORS = ("suno-v5", "ace-step-v1-3.5b", "yue", "musicgen", "mustango")


def pick(data: Path) -> list[tuple[str, str]]:
    """(relative path, label) of the ten files."""
    _, held = human_split(data)
    with open(data / "manifest.csv", newline="", encoding="utf-8") as fh:
        rows = sorted(csv.DictReader(fh), key=lambda r: r["path"])
    ai = []
    for g in GENERATORS:
        r = next(r for r in rows if r["label"] == "ai" and r["generator"].split(" ")[0] == g)
        ai.append((r["path"], "ai"))
    return [(p, "human") for p in held[:5]] + ai


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--model", default=None)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    det = load_detector(args.model)
    lines = [
        "| file | truth | p_ai | verdict | named band | excerpt p_ai | after filtering it out | candidates checked (p_ai after) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for rel, truth in pick(args.data):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UntrainedModelWarning)
            ex = explain(det, args.data / rel, cues=False, interventions=False)
        sal = ex.saliency
        named = [(side, j) for side, j in (("AI", sal.ai_band), ("human", sal.human_band)) if j is not None]
        if named:
            side, j = named[0]
            c = sal.check(j)
            band, before, after = f"{_band(sal.band_edges_hz, j)} (toward {side})", f"{c.p_ai_before:.3f}", f"{c.p_ai_after:.3f}"
        else:
            band, before, after = "none" + (f" ({sal.reference_note})" if sal.reference_note else ""), "", ""
            if sal.checks:
                before = f"{sal.checks[0].p_ai_before:.3f}"
        cands = "; ".join(
            f"{_band(sal.band_edges_hz, c.band)} {c.side}: {c.p_ai_after:.3f}{' (agrees)' if c.agrees else ''}" for c in sal.checks
        ) or "-"
        lines.append(f"| {rel} | {truth} | {ex.p_ai:.3f} | {ex.verdict} | {band} | {before} | {after} | {cands} |")
        print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        print()
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
