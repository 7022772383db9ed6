"""Bandwidth check: does band-limiting human music move the detector's false positives?

    python scripts/bandwidth_check.py EVAL_DIR [--conditions lowpass_8k resample_16k]

Reads ``EVAL_DIR/scores.csv`` and ``EVAL_DIR/metrics.json`` written by
``aiaudio evaluate ... --conditions lowpass_8k resample_16k`` (or ``--robustness``) and
prints, for the human songs only, per condition: the false-positive rate at the model's
threshold (share labelled ``ai``), the share at or above the lower edge of the uncertain
band (labelled ``ai`` or ``uncertain``), both as changes against the original audio, and
the mean and largest change of ``p_ai`` per song. The issue's criterion: a band limit must
not move the false-positive rate by more than 1 percentage point. The second rate is a
looser operating point that shows movement the strict threshold can hide.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np


def human_scores(eval_dir: Path, condition: str) -> np.ndarray:
    """``p_ai`` of every human song under ``condition`` (NaN where it failed)."""
    with (eval_dir / "scores.csv").open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["label"] == "0"]
    col = f"p_ai_{condition}"
    if rows and col not in rows[0]:
        raise SystemExit(f"{eval_dir / 'scores.csv'} has no column {col}: evaluate with --conditions {condition}")
    return np.array([float(r[col]) if r[col] not in ("", "n/a", "nan") else np.nan for r in rows])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("eval_dir", type=Path)
    ap.add_argument("--conditions", nargs="+", default=["lowpass_8k", "resample_16k"])
    args = ap.parse_args()
    m = json.loads((args.eval_dir / "metrics.json").read_text())
    thr, low = m["threshold"], m["uncertain_band"][0]
    base = human_scores(args.eval_dir, "original")
    lines = [
        f"Human songs: {int(np.isfinite(base).sum())}; threshold {thr:.4f}, uncertain band from {low:.4f}.",
        "",
        "| condition | FPR at threshold | change (points) | share >= uncertain band | change (points) | mean change of p_ai | largest change of p_ai | within 1 point |",
        "|---|---|---|---|---|---|---|---|",
    ]
    # The FPR at the threshold comes from metrics.json (computed on unrounded scores): an older
    # scores.csv has 3 decimals, and a song within 0.0005 of the threshold would round across it.
    exact = {r["condition"]: r["fpr_human"] for r in m.get("robustness", [])}
    f0, u0 = exact.get("original", float(np.nanmean(base >= thr))), float(np.nanmean(base >= low))
    lines.append(f"| original | {f0:.3f} | | {u0:.3f} | | | | |")
    for c in args.conditions:
        p = human_scores(args.eval_dir, c)
        ok = np.isfinite(p) & np.isfinite(base)
        f, u = exact.get(c, float(np.mean(p[ok] >= thr))), float(np.mean(p[ok] >= low))
        d = p[ok] - base[ok]
        within = abs(f - f0) <= 0.01
        lines.append(
            f"| {c} | {f:.3f} | {100 * (f - f0):+.1f} | {u:.3f} | {100 * (u - u0):+.1f} | {d.mean():+.3f} | "
            f"{d[np.argmax(np.abs(d))]:+.3f} | {'yes' if within else 'NO'} |"
        )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
