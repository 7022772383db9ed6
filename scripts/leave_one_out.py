"""Leave-one-generator-family-out: train without a family, measure AUC on it.

    python scripts/leave_one_out.py --config configs/default.json --out runs/logo [--families acestep,yue]
                                    [--epochs N]

For each family, trains a model from the config with that family's generators held out
(``aiaudio.data.hold_out``: the family's AI items and the human source tracks they share
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

from aiaudio.evaluate import binary_metrics, evaluate
from aiaudio.model import load_config
from aiaudio.train import TrainConfig, train

#: The generator families of the development share (issue 4), as hold_out patterns.
FAMILIES: dict[str, list[str]] = {
    "acestep": ["ace-step*"],
    "yue": ["yue*"],
    "noise2music": ["noise2music*"],
    "mustango-musicgen-audioldm2": ["mustango*", "musicgen*", "audioldm2*", "tango*"],
    "deezer-reconstructions": ["*-reconstruction"],
    "suno": ["suno*"],
}


def run_fold(base: TrainConfig, family: str, out: Path, epochs: int | None) -> dict:
    fold = out / family
    result_path = fold / "result.json"
    if result_path.is_file():
        return json.loads(result_path.read_text())
    cfg = TrainConfig.from_dict({**base.to_dict(), "out": str(fold / "model"), "holdout_generators": FAMILIES[family]})
    if epochs:
        cfg.epochs = epochs
    cfg.name = f"logo-{family}"
    train(cfg, progress=True)
    model = fold / "model"
    evaluate(model, [str(model / "splits" / "holdout.csv"), str(model / "splits" / "test.csv")], fold / "eval", progress=True)
    rows = list(csv.DictReader((fold / "eval" / "scores.csv").open()))
    pats = FAMILIES[family]
    labels, p = [], []
    for r in rows:
        is_family = r["label"] == "1" and any(fnmatch.fnmatchcase(r["generator"], pat) for pat in pats)
        if is_family or r["label"] == "0":
            labels.append(1 if is_family else 0)
            p.append(float(r["p_ai_original"]) if r["p_ai_original"] not in ("", "n/a") else np.nan)
    thr = load_config(model).threshold
    m = binary_metrics(np.array(labels), np.array(p), thr)
    result = {"family": family, "patterns": pats, **m}
    result_path.write_text(json.dumps(result, indent=2) + "\n")
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/default.json")
    ap.add_argument("--out", default="runs/logo")
    ap.add_argument("--families", default=",".join(FAMILIES), help="comma-separated, from: " + ", ".join(FAMILIES))
    ap.add_argument("--epochs", type=int, help="override the config's epochs")
    args = ap.parse_args()
    base = TrainConfig.from_file(args.config)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = [run_fold(base, f, out, args.epochs) for f in args.families.split(",")]
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
