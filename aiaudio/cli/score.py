"""``aiaudio score``: score files and folders (parallel, resumable) over :func:`aiaudio.batch.score_files`."""

from __future__ import annotations

import argparse
import csv
import json
import math
import signal
import sys
import warnings
from typing import IO, Any, Iterable, Iterator

from ._common import _has_extra, _inputs_or_none, _load_detector
from .output import RowWriter, SCORE_COLUMNS, _RowWriteError, _error_text, _format_for, _stdout_for_rows


def _score_row(det, path: str, result: Any, want_cues: bool, want_segments: bool) -> dict[str, Any]:
    """One output row: a file's score, or its error (with its ``reason``, see :class:`aiaudio.AudioLoadError`)."""
    row: dict[str, Any] = {"path": path}
    if isinstance(result, BaseException):
        row.update(error=_error_text(result), p_ai=None, label="", verdict="", confidence=None, duration_s=None, flags=[])
        row["model_version"] = det.version
        row["reason"] = getattr(result, "reason", None) or "internal"
        return row
    s = result
    row.update(
        p_ai=s.p_ai,
        label=s.label,
        verdict=s.verdict,
        confidence=s.confidence,
        duration_s=s.duration_s,
        error="",
        flags=s.flags,
        model_version=s.model_version,
        reason="",
    )
    if want_cues:
        row.update({f"cue_{k}": v for k, v in s.cues.items()})
    if want_segments:
        row["segments"] = [[seg.start_s, seg.end_s, seg.p_ai] for seg in s.segments]
    return row


def _score_rows(
    det,
    files: list[str],
    want_cues: bool,
    want_segments: bool,
    progress: bool,
    *,
    jobs: int | None = None,
    threads: int | None = None,
    done_before: int = 0,
    file_timeout: float | None = None,
) -> Iterator[dict[str, Any]]:
    """Rows of ``files`` in order of completion (see :func:`aiaudio.batch.score_files`)."""
    from ..batch import score_files

    results = score_files(det, files, jobs=jobs, torch_threads=threads, cues=want_cues, file_timeout=file_timeout)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=done_before + len(files), initial=done_before, desc="scoring", unit="file", file=sys.stderr, dynamic_ncols=True)
    try:
        for path, result in results:
            yield _score_row(det, path, result, want_cues, want_segments)
            if bar is not None:
                bar.update()
    finally:
        results.close()  # stops the decode workers at once when the caller stops early
        if bar is not None:
            bar.close()


def _check_resumed_model(partial: str, fmt: str, version: str) -> None:
    """Refuse to resume rows that another model scored (a mix of model versions in one output).

    Raises
    ------
    ResumeError
        When a row of ``partial`` has a ``model_version`` other than ``version``.
    """
    from ..batch import ResumeError

    with open(partial, encoding="utf-8", errors="surrogateescape", newline="") as fh:
        if fmt == "csv":
            rows: Iterable[Any] = csv.DictReader(fh)
        else:
            rows = []
            for line in fh:
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    continue
        others = sorted(
            {str(r.get("model_version")) for r in rows if isinstance(r, dict) and r.get("model_version")} - {version}
        )
    if others:
        raise ResumeError(
            f"{partial} holds rows scored by the model {', '.join(others)}; this run uses {version}. "
            "Resume with the same --model, or score into a new output file (or start afresh without --resume)."
        )


class _Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: finish the row being written, keep the partial output."""


def _raise_terminated(signum: int, frame: Any) -> None:
    raise _Terminated()


def cmd_score(args: argparse.Namespace) -> int:
    from ..detector import UntrainedModelWarning
    from ..batch import RETRYABLE_REASONS, ResumableOutput, ResumeError

    to_stdout = args.output in (None, "-")
    if args.resume and to_stdout:
        print("aiaudio score: --resume needs an output file (-o OUT); rows on standard output cannot be resumed", file=sys.stderr)
        return 2
    for flag, value, low in (
        ("--batch-size", args.batch_size, 1), ("--jobs", args.jobs, 0), ("--threads", args.threads, 1),
        ("--file-timeout", args.file_timeout, 0),
    ):
        if value is not None and not value >= low:
            print(f"aiaudio score: {flag} must be >= {low}, got {value}", file=sys.stderr)
            return 2
    file_timeout = None if args.file_timeout is None else (args.file_timeout or math.inf)
    if args.cues:
        from ..errors import CUES_MODULES

        if not _has_extra("score", CUES_MODULES, "cues", "aiaudio score --cues"):
            return 2
    files = _inputs_or_none(args, "score")
    if files is None:
        return 2
    det = _load_detector(args, "score", "every score below is", batch_size=args.batch_size)
    if det is None:
        return 1
    from ..batch import keep_freed_memory

    keep_freed_memory()  # this process is the command's own
    fmt = _format_for(args.output, args.format)
    columns = list(SCORE_COLUMNS)
    if args.cues:
        from ..cues import CUE_NAMES

        columns += [f"cue_{k}" for k in CUE_NAMES]
    out: ResumableOutput | None = None
    todo = files
    if to_stdout:
        fh: IO[str] = _stdout_for_rows()
    else:
        # checked, locked and opened before anything is scored
        out = ResumableOutput(args.output, fmt, columns, resume=args.resume)
        try:
            fh = out.open()
            if args.resume:
                try:
                    _check_resumed_model(out.partial, fmt, det.version)
                except BaseException:
                    fh.close()
                    raise
        except ResumeError as e:  # also a folder, a missing folder, another run holding OUT, another model
            print(f"aiaudio score: {e}", file=sys.stderr)
            return 2
        except OSError as e:
            print(f"aiaudio score: cannot write {args.output}: {e}", file=sys.stderr)
            return 1
        if out.note:
            print(f"aiaudio score: {out.note}", file=sys.stderr)
        todo = [f for f in files if f not in out.done]
    kept = len(files) - len(todo)
    progress = not args.no_progress and sys.stderr.isatty()
    n_err = n_new = n_dec = n_retry = 0
    interrupted: KeyboardInterrupt | None = None
    write_error: OSError | None = None
    rows = None
    try:
        old_term = signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread
        old_term = None
    try:
        writer = RowWriter(fh, fmt, columns, header=out is None or out.fresh)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UntrainedModelWarning)  # printed once above
            rows = _score_rows(
                det, todo, args.cues, args.segments and fmt == "jsonl", progress,
                jobs=args.jobs, threads=args.threads, done_before=kept, file_timeout=file_timeout,
            )
            for row in rows:
                writer.write(row)
                n_new += 1
                n_err += bool(row.get("error"))
                n_retry += row.get("reason") in RETRYABLE_REASONS
                n_dec += "decoder_messages" in (row.get("flags") or ())
    except KeyboardInterrupt as e:
        interrupted = e
    except _RowWriteError as e:  # a full disk, a device that refuses: the rows so far are kept
        write_error = e.error
    finally:
        if rows is not None:
            rows.close()  # stops the decode workers
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
        if fh is not sys.stdout:
            try:
                fh.close()
            except OSError as e:  # the rest of a row that could not be written
                write_error = write_error or e
    streaming = out is None or out.streaming
    if interrupted is not None:
        if not streaming:
            out.close()
            print(
                f"aiaudio score: interrupted; {kept + n_new} of {len(files)} files are done and their rows "
                f"are in {out.partial}. Run the same command again with --resume to score the rest.",
                file=sys.stderr,
            )
        else:
            print("aiaudio score: interrupted", file=sys.stderr)
        return 143 if isinstance(interrupted, _Terminated) else 130
    if write_error is not None:
        why = write_error.strerror or str(write_error)
        if not streaming:
            out.close()
            print(
                f"aiaudio score: cannot write {out.partial}: {why}. {kept + n_new} of {len(files)} files are done "
                f"and their rows are in {out.partial}; make room (or fix the cause) and run the same command "
                "again with --resume to score the rest.",
                file=sys.stderr,
            )
        else:
            print(f"aiaudio score: cannot write {args.output or 'standard output'}: {why}", file=sys.stderr)
        return 1
    where = f" -> {args.output}" if out is not None else ""
    earlier = f" ({kept} kept from the earlier run)" if kept else ""
    damaged = f", {n_dec} with decoder messages (flag decoder_messages)" if n_dec else ""
    retry = (
        f"; {n_retry} of the errors timed out or lost their worker (reason timeout or worker_killed): "
        "--resume scores them again"
        if n_retry and out is not None
        else ""
    )
    summary = f"aiaudio score: {len(files)} files, {len(files) - n_err} scored, {n_err} errors{damaged}{earlier}{where}{retry}"
    if not streaming:
        # Ctrl-C or SIGTERM while OUT is written is held, then dropped: OUT is complete (exit 0),
        # or, when writing it failed, untouched with every row still in OUT.partial (no OUT.tmp).
        from ..batch import HeldSignals

        try:
            with HeldSignals(redeliver=False):
                out.finish(order=files)
                print(summary, file=sys.stderr)
        except OSError as e:
            print(
                f"aiaudio score: cannot write {args.output}: {e.strerror or e}. Nothing is lost: the rows of all "
                f"{len(files)} files are in {out.partial}; make room (or fix the cause) and run the same command "
                "again with --resume to write it.",
                file=sys.stderr,
            )
            return 1
        finally:
            out.close()
        return 0
    print(summary, file=sys.stderr)
    return 0


