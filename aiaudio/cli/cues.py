"""``aiaudio cues``: the interpretable cues of files (:func:`aiaudio.cues.file_cues`)."""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import Any

from ._common import _has_extra, _inputs_or_none
from .output import RowWriter, _RowWriteError, _error_text, _format_for, _open_output, _progress


def cmd_cues(args: argparse.Namespace) -> int:
    from ..errors import CUES_MODULES

    if not _has_extra("cues", CUES_MODULES, "cues", "aiaudio cues"):
        return 2
    from ..cues import CUE_NAMES, file_cues

    files = _inputs_or_none(args, "cues")
    if files is None:
        return 2
    fmt = _format_for(args.output, args.format)
    columns = ["path", *CUE_NAMES, "flags", "error"]
    max_s = args.max_analysis_s if args.max_analysis_s > 0 else None
    try:
        fh = _open_output(args.output)
    except ValueError as e:  # a folder, a missing folder, a socket: say so before any work
        print(f"aiaudio cues: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"aiaudio cues: cannot write {args.output}: {e}", file=sys.stderr)
        return 1
    progress = not args.no_progress and sys.stderr.isatty()
    n_err = 0
    try:
        writer = RowWriter(fh, fmt, columns)
        for f in _progress(files, progress, "cues"):
            row: dict[str, Any] = {"path": f, "error": "", "flags": []}
            try:
                values, flags = file_cues(f, max_analysis_s=max_s)
                row.update(values, flags=flags)
            except Exception as e:
                row["error"] = _error_text(e)
                n_err += 1
            writer.write(row)
    except _RowWriteError as e:  # a full disk
        print(f"aiaudio cues: cannot write {args.output or 'standard output'}: {e.error.strerror or e}", file=sys.stderr)
        return 1
    finally:
        if fh is not sys.stdout:
            with contextlib.suppress(OSError):  # after a failed write: the same error again
                fh.close()
    print(f"aiaudio cues: {len(files)} files, {n_err} errors", file=sys.stderr)
    return 0


