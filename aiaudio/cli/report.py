"""``aiaudio report``: the HTML report of a score output (:func:`aiaudio.report.write_report`)."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

from ..errors import AiaudioError, MissingDependencyError
from ._common import _has_plotting, _load_detector


def _decision_points(model: str | None) -> tuple[float, tuple[float, float]] | None:
    """Threshold and uncertain band of ``model`` (or the default) from its config; None when it cannot be read."""
    from ..detector import default_model_dir
    from ..modelconfig import load_config

    try:
        c = load_config(model if model is not None else default_model_dir())
    except (AiaudioError, OSError):
        return None
    return c.threshold, (c.uncertain_low, c.uncertain_high)


def cmd_report(args: argparse.Namespace) -> int:
    from ..errors import ScoresFormatError
    from ..report import write_report

    if not os.path.isfile(args.scores):
        print(f"aiaudio report: no such file: {args.scores}", file=sys.stderr)
        return 2
    make_plot = None
    if args.make_plots:
        if not _has_plotting("report", "aiaudio report --make-plots"):
            return 2
        from ..detector import UntrainedModelWarning
        from ..explain import explain

        det = _load_detector(args, "report", "the explanation plots are")
        if det is None:
            return 1

        def _make_plot(audio: str, png: Path) -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UntrainedModelWarning)
                explain(det, audio).plot(png)

        make_plot = _make_plot

    errors: list[tuple[str, str]] = []
    decision = _decision_points(args.model)
    try:
        out = write_report(
            args.scores, args.output, plots_dir=args.plots, make_plots=make_plot, title=args.title, errors=errors,
            threshold=decision[0] if decision else None, uncertain=decision[1] if decision else None,
            progress=sys.stderr.isatty(),
        )
    except (ScoresFormatError, MissingDependencyError) as e:  # not a score output; no matplotlib
        print(f"aiaudio report: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"aiaudio report: {e}", file=sys.stderr)
        return 1
    for path, msg in errors:
        print(f"aiaudio report: no plot for {path}: {msg}", file=sys.stderr)
    print(f"aiaudio report: wrote {out}", file=sys.stderr)
    return 0


