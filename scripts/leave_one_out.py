"""Leave-one-generator-family-out: train without a family, measure AUC on it.

    python scripts/leave_one_out.py --config configs/default.json --out runs/logo [--families acestep,yue]
                                    [--epochs N] [--by-family]

For each family, trains a model from the config with that family's generators held out
(``aiaudio.training.data.hold_out``: the family's AI items and the human source tracks they share
a group with), then scores the held-out family against the human songs of that fold's
test split and held-out set. The AUC on the left-out family is the number that predicts
how the detector does on a generator it has never seen. Each fold is resumable (training
checkpoints, finished evaluations are kept); the summary goes to ``OUT/summary.md`` and
``OUT/summary.json``.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import json
from pathlib import Path

import numpy as np

from aiaudio.training.data import load_items
from aiaudio.training.evaluate import binary_metrics, evaluate
from aiaudio.model import load_config
from aiaudio.training.train import TrainConfig, train

#: The generator families of the development share (issue 4), as hold_out patterns.
FAMILIES: dict[str, list[str]] = {
    "acestep": ["ace-step*"],
    "yue": ["yue*"],
    "noise2music": ["noise2music*"],
    "mustango-musicgen-audioldm2": ["mustango*", "musicgen*", "audioldm2*", "tango*"],
    "deezer-reconstructions": ["*-reconstruction"],
    "suno": ["suno*"],
}


def run_fold(base: TrainConfig, family: str, out: Path, epochs: int | None, patterns: list[str] | None = None) -> dict:
    fold = out / family
    result_path = fold / "result.json"
    if result_path.is_file():
        return json.loads(result_path.read_text())
    pats = patterns if patterns is not None else FAMILIES[family]
    cfg = TrainConfig.from_dict({**base.to_dict(), "out": str(fold / "model"), "holdout_generators": pats})
    if epochs:
        cfg.epochs = epochs
    cfg.name = f"logo-{family}"
    train(cfg, progress=True)
    model = fold / "model"
    evaluate(model, [str(model / "splits" / "holdout.csv"), str(model / "splits" / "test.csv")], fold / "eval", progress=True)
    rows = list(csv.DictReader((fold / "eval" / "scores.csv").open()))
    # the held-out AI items, and the flags the split files carry (role eval, probable label)
    flagged: set[str] = set()
    held_ai: set[str] = set()
    for spec in ("holdout.csv", "test.csv"):
        if (model / "splits" / spec).is_file():
            for it in load_items(model / "splits" / spec):
                if it.role == "eval" or it.probable:
                    flagged.add(it.path)
                if spec == "holdout.csv" and it.label == 1:
                    held_ai.add(it.path)
    labels, p, clean = [], [], []
    for r in rows:
        is_family = r["label"] == "1" and (r["path"] in held_ai if patterns is not None
                                           else any(fnmatch.fnmatchcase(r["generator"], pat) for pat in pats))
        if is_family or r["label"] == "0":
            labels.append(1 if is_family else 0)
            p.append(float(r["p_ai_original"]) if r["p_ai_original"] not in ("", "n/a") else np.nan)
            clean.append(r["path"] not in flagged)
    thr = load_config(model).threshold
    lab, pr, cl = np.array(labels), np.array(p), np.array(clean, dtype=bool)
    m = binary_metrics(lab, pr, thr)
    result = {"family": family, "patterns": pats, **m, "n_flagged": int((~cl).sum())}
    if (~cl).any() and cl.any() and len(set(lab[cl])) == 2:  # evaluation-only and probable items reported apart
        result["auc_unflagged"] = binary_metrics(lab[cl], pr[cl], thr)["auc"]
    result_path.write_text(json.dumps(result, indent=2) + "\n")
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/default.json")
    ap.add_argument("--out", default="runs/logo")
    ap.add_argument("--families", default=None, help="comma-separated, from: " + ", ".join(FAMILIES)
                    + " (with --by-family: the data's own families; default all)")
    ap.add_argument("--by-family", action="store_true",
                    help="hold out each value of the data's 'family' column whole (hold_out 'family:NAME': a service "
                         "or family with its groups), e.g. with the training manifest of the sources")
    ap.add_argument("--epochs", type=int, help="override the config's epochs")
    args = ap.parse_args()
    base = TrainConfig.from_file(args.config)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.by_family:
        items = [it for spec in base.data for it in load_items(spec)]
        fams = sorted({it.family for it in items if it.label == 1 and it.family})
        if not fams:
            raise SystemExit("--by-family: no item of the config's data has a family (use a manifest with a 'family' column)")
        chosen = args.families.split(",") if args.families else fams
        results = [run_fold(base, f, out, args.epochs, [f"family:{f}"]) for f in chosen]
    else:
        chosen = args.families.split(",") if args.families else list(FAMILIES)
        results = [run_fold(base, f, out, args.epochs) for f in chosen]
    lines = [
        "| family left out | AI songs | human songs | AUC | EER | FPR human | detection at threshold |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(f"| {r['family']} | {r['n_ai']} | {r['n_human']} | {r['auc']:.3f} | {r['eer']:.3f} | {r['fpr_human']:.3f} | {r['tpr_ai']:.3f} |")
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    (out / "summary.json").write_text(json.dumps(results, indent=2) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
