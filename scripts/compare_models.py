"""Compare two model folders: did a rerun of the recipe give the shipped model?

    python scripts/compare_models.py runs/default models/default [--eval-a DIR --eval-b DIR]

Reports, for the folders ``A`` and ``B`` (each with ``config.json``, ``model.safetensors``
and ``splits/``):

- the splits: the same files on the same side (train / val / test), or how many differ;
- the calibration, threshold and ``uncertain`` band of ``config.json``;
- the weights: the largest absolute difference over all tensors, and how many tensors differ;
- with ``--eval-a`` / ``--eval-b`` (folders written by ``aiaudio evaluate``): the headline
  metrics of each, and the largest difference of a song's ``p_ai`` between the two
  ``scores.csv`` on the songs both scored.

Exit status 0 when the splits and weights are identical, 1 otherwise (the report says what
differs); the numbers are printed either way.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path

import numpy as np


def file_key(path: str, split_dir: Path) -> str:
    """The file a split row names, comparable across model folders.

    A relative path is relative to the split file's folder, so the same file reads
    differently from folders at different depths (``models/default`` against
    ``runs/x/model``): it is resolved against ``split_dir``. A ``~`` path stays as
    written, since it means the user's cache wherever the model was made.
    """
    if path.startswith("~") or Path(path).is_absolute():
        return path
    return os.path.normpath(split_dir.resolve() / path)


def split_rows(folder: Path) -> dict[str, set[tuple[str, str, str]]]:
    """``{side: {(file, label, group), ...}}`` of a model folder's ``splits/*.csv`` (see :func:`file_key`)."""
    out = {}
    for f in sorted((folder / "splits").glob("*.csv")):
        with f.open(newline="") as fh:
            out[f.stem] = {(file_key(r["path"], f.parent), r["label"], r["group"]) for r in csv.DictReader(fh)}
    return out


def weights(folder: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(folder / "model.safetensors"))


def p_by_path(eval_dir: Path) -> dict[str, float]:
    """``{path: p_ai}`` of the ``original`` condition of an evaluate ``scores.csv``."""
    with (eval_dir / "scores.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    col = "p_ai_original"
    return {r["path"]: float(r[col]) for r in rows if r[col] not in ("", "nan")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    ap.add_argument("--eval-a", type=Path)
    ap.add_argument("--eval-b", type=Path)
    args = ap.parse_args(argv)
    same = True

    sa, sb = split_rows(args.a), split_rows(args.b)
    for side in sorted(set(sa) | set(sb)):
        ra, rb = sa.get(side, set()), sb.get(side, set())
        diff = len(ra ^ rb)
        same &= diff == 0
        print(f"splits/{side}.csv: {len(ra)} / {len(rb)} rows, {diff} on one side only")

    ca, cb = (json.loads((f / "config.json").read_text()) for f in (args.a, args.b))
    for key in ("calibration", "threshold", "uncertain_low", "uncertain_high", "frontend", "arch"):
        va, vb = ca.get(key), cb.get(key)
        print(f"config {key}: {'equal' if va == vb else f'{va} vs {vb}'}")

    wa, wb = weights(args.a), weights(args.b)
    if set(wa) != set(wb):
        same = False
        print(f"weights: different tensors ({sorted(set(wa) ^ set(wb))})")
    else:
        d = {k: float(np.max(np.abs(wa[k].astype(np.float64) - wb[k]))) if wa[k].size else 0.0 for k in wa}
        n = sum(v > 0 for v in d.values())
        same &= n == 0
        print(f"weights: {len(d)} tensors, {n} differ, largest |difference| {max(d.values()):.3g}")

    if args.eval_a and args.eval_b:
        keys = ("n", "n_ai", "n_human", "auc", "eer", "fpr_human", "tpr_ai", "ece", "uncertain_share")
        for name, e in (("a", args.eval_a), ("b", args.eval_b)):
            m = json.loads((e / "metrics.json").read_text())
            flat = m["overall"]
            print(f"eval {name}: " + ", ".join(f"{k} {flat[k]:.4g}" if isinstance(flat.get(k), float) else f"{k} {flat.get(k)}"
                                              for k in keys if k in flat))
        pa, pb = p_by_path(args.eval_a), p_by_path(args.eval_b)
        both = sorted(set(pa) & set(pb))
        if both:
            dp = np.abs(np.array([pa[p] for p in both]) - np.array([pb[p] for p in both]))
            print(f"p_ai: {len(both)} songs scored by both, largest |difference| {dp.max():.3g}, mean {dp.mean():.3g}")
    print("identical splits and weights" if same else "the models differ (see above)")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
