"""Per-family table of an evaluation: each AI family against all human and against commercial human songs.

    python scripts/family_table.py EVAL_DIR MANIFEST [EVAL_DIR2 ...] [--without FAMILY[,FAMILY]]

Reads ``EVAL_DIR/scores.csv`` and ``EVAL_DIR/metrics.json`` (``aiaudio evaluate``) and the
``family`` column of ``MANIFEST`` (e.g. ``models/default/splits/test.csv``), and prints a
Markdown table per evaluation: overall AUC, false-positive rate on all and on commercial human
songs at the model's threshold, mean p_ai of the commercial human songs and ECE (with
``--without``, the same line again without those families' songs), then per AI family:
n, AUC against all human songs, AUC against the commercial human songs, share detected
(``p_ai`` at or above the threshold) and mean p_ai; then per human family: n, share flagged
``ai``, share in the ``uncertain`` band and mean p_ai (which human songs the false positives are).
"""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score


def summary(lab: np.ndarray, p: np.ndarray, hum: np.ndarray, comm: np.ndarray, t: float) -> str:
    """AUC, ECE, false positives (all / commercial human songs) and detection at threshold ``t``."""
    from aiaudio.training.evaluate import expected_calibration_error

    return (f"{len(p)} songs, AUC {roc_auc_score(lab, p):.3f}, ECE {expected_calibration_error(lab, p):.3f}; "
            f"threshold {t:.3f}: {np.mean(p[hum] >= t):.1%} of {hum.sum()} human songs flagged, "
            f"{np.mean(p[comm] >= t):.1%} of {comm.sum()} commercial human songs (their mean p_ai {p[comm].mean():.3f}); "
            f"{np.mean(p[lab == 1] >= t):.1%} of {(lab == 1).sum()} AI songs called `ai`.")


def table(eval_dir: Path, manifest: Path, without: tuple[str, ...] = ()) -> str:
    from aiaudio.training.data import load_items

    fam_of = {it.path: it.family for it in load_items(manifest)}
    m = json.loads((eval_dir / "metrics.json").read_text())
    t = m["threshold"]
    rows = list(csv.DictReader((eval_dir / "scores.csv").open(encoding="utf-8")))
    p = np.array([float(r["p_ai_original"]) for r in rows])
    lab = np.array([int(r["label"]) for r in rows])
    fam = np.array([fam_of.get(os.path.abspath(os.path.expanduser(r["path"])), "") for r in rows])
    ok = np.isfinite(p)
    p, lab, fam = p[ok], lab[ok], fam[ok]
    hum = lab == 0
    comm = hum & (fam == "human-commercial")
    out = [f"**{m['model_version']}** on {', '.join(m['data'])}: {summary(lab, p, hum, comm, t)}"]
    if without:
        k = ~np.isin(fam, list(without))
        out.append(f"Without {', '.join(without)}: {summary(lab[k], p[k], hum[k], comm[k], t)}")
    out += ["", "| family | n | AUC vs all human | AUC vs commercial human | detected | mean p_ai |", "|---|---|---|---|---|---|"]
    for f in sorted(set(fam[lab == 1])):
        a = (fam == f) & (lab == 1)
        out.append(f"| {f} | {a.sum()} | {roc_auc_score(lab[a | hum], p[a | hum]):.3f} | "
                   f"{roc_auc_score(lab[a | comm], p[a | comm]):.3f} | {np.mean(p[a] >= t):.1%} | {p[a].mean():.3f} |")
    lo = (m.get("uncertain_band") or [t, t])[0]
    out += ["", "| human family | n | flagged `ai` | uncertain | mean p_ai |", "|---|---|---|---|---|"]
    for f in sorted(set(fam[hum])):
        h = (fam == f) & hum
        out.append(f"| {f} | {h.sum()} | {np.mean(p[h] >= t):.1%} ({int(np.sum(p[h] >= t))}) | "
                   f"{np.mean((p[h] >= lo) & (p[h] < t)):.1%} | {p[h].mean():.3f} |")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    without: tuple[str, ...] = ()
    if "--without" in argv:  # --without FAMILY[,FAMILY]: the summary again without those families
        i = argv.index("--without")
        if i + 1 >= len(argv):
            print("family_table.py: --without needs a family (or a comma list)", file=sys.stderr)
            return 2
        without = tuple(f for f in argv[i + 1].split(",") if f)
        argv = argv[:i] + argv[i + 2:]
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    man = Path(argv[1])
    for d in [argv[0], *argv[2:]]:
        print(table(Path(d), man, without))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
