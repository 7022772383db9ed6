"""What several commands share: loading the detector, the inputs, the plotting check."""

from __future__ import annotations

import argparse
import os
import sys

from ..errors import MissingDependencyError, ModelLoadError, require_extra
from ..files import collect_inputs  # re-exported: ``from aiaudio.cli import collect_inputs`` keeps working


def _has_extra(command: str, modules: tuple[str, ...], extra: str, usage: str) -> bool:
    """Whether ``modules`` are there for ``usage``; if not, print the pip command (caller exits 2)."""
    try:
        require_extra(modules, extra, usage)
    except MissingDependencyError as e:
        print(f"aiaudio {command}: {e}", file=sys.stderr)
        return False
    return True


def _has_plotting(command: str, usage: str) -> bool:
    """Whether matplotlib is there for ``usage``; if not, print the pip command (caller exits 2)."""
    return _has_extra(command, ("matplotlib",), "plot", usage)


def _load_detector(args: argparse.Namespace, command: str, what: str, batch_size: int | None = None):
    """Load ``--model`` (or the default) for a command; None (after saying why) when it fails.

    Prints the untrained-model banner once, on standard error, when the model is a placeholder.
    """
    from ..detector import load_detector

    try:
        det = load_detector(args.model) if batch_size is None else load_detector(args.model, batch_size=batch_size)
    except (ModelLoadError, MissingDependencyError, ValueError) as e:  # ValueError: a bad $AIAUDIO_BACKEND
        print(f"aiaudio {command}: {e}", file=sys.stderr)
        return None
    if not det.config.trained:
        print(
            f"WARNING: aiaudio is using an UNTRAINED placeholder model ({det.version}); {what} meaningless.",
            file=sys.stderr,
        )
    return det


def _inputs_or_none(args: argparse.Namespace, command: str) -> list[str] | None:
    """The files to process, or None (after saying why) when there is nothing to run on."""
    if not any(os.path.exists(p) for p in args.paths):
        print(f"aiaudio {command}: no such file or folder: " + ", ".join(args.paths), file=sys.stderr)
        return None
    files = collect_inputs(args.paths, recursive=args.recursive)
    if not files:
        hint = "" if args.recursive else " (use --recursive to look into sub-folders)"
        print(f"aiaudio {command}: no audio files found in " + ", ".join(args.paths) + hint, file=sys.stderr)
        return None
    return files


