"""``aiaudio train``, ``evaluate`` and ``calibrate`` over :mod:`aiaudio.training` (the ``train`` extra)."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from ..errors import AiaudioError, MissingDependencyError


def cmd_train(args: argparse.Namespace) -> int:
    from ..training.train import TrainConfig, train

    cfg = TrainConfig.from_file(args.config) if args.config else TrainConfig()
    overrides = {
        "data": args.data,
        "out": args.out,
        "holdout_generators": args.holdout,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "seed": args.seed,
        "segments_per_item": args.segments_per_item,
        "num_workers": args.workers,
        "device": args.device,
    }
    given = {k: v for k, v in overrides.items() if v not in (None, [])}
    if args.no_augment:
        given["augment"] = None
    cfg = dataclasses.replace(cfg, **given)
    if not cfg.data:
        print("aiaudio train: give --data (a folder with ai/ and human/, a CSV manifest, or a SONICS/FakeMusicCaps root)", file=sys.stderr)
        return 2
    try:
        train(cfg, progress=not args.no_progress and sys.stderr.isatty())
    except MissingDependencyError as e:  # the train extra is not installed
        print(f"aiaudio train: {e}", file=sys.stderr)
        return 2
    except (ValueError, AiaudioError) as e:
        print(f"aiaudio train: {e}", file=sys.stderr)
        return 1
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..training.evaluate import evaluate

    conditions = ["original"] + [c for c in (args.conditions or []) if c != "original"]
    if args.robustness:
        from ..training.augment import ROBUSTNESS_TRANSFORMS

        conditions = list(ROBUSTNESS_TRANSFORMS)
    try:
        evaluate(
            args.model,
            args.data,
            args.out,
            conditions=conditions,
            max_segments=args.max_segments or None,
            num_workers=args.workers,
            sample=args.sample,
            excerpt_s=args.excerpt_s,
            progress=not args.no_progress and sys.stderr.isatty(),
        )
    except MissingDependencyError as e:  # the train extra is not installed
        print(f"aiaudio evaluate: {e}", file=sys.stderr)
        return 2
    except (ValueError, AiaudioError) as e:
        print(f"aiaudio evaluate: {e}", file=sys.stderr)
        return 1
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from ..detector import default_model_dir
    from ..training.evaluate import calibrate_on_human

    try:
        calibrate_on_human(
            args.model or default_model_dir(), args.human, args.out, target_fpr=args.target_fpr,
            conditions=args.conditions, excerpt_s=args.excerpt_s,
        )
    except (ValueError, AiaudioError) as e:
        print(f"aiaudio calibrate: {e}", file=sys.stderr)
        return 1
    return 0


