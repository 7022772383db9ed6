"""The ``aiaudio`` command: a thin shell over the Python API.

    aiaudio score PATH [PATH ...] [-o OUT] [--recursive] [--format csv|jsonl] [--resume] [-j N] [--file-timeout S]
    aiaudio cues PATH [PATH ...] [-o OUT]
    aiaudio catalog PATH [PATH ...] [--group-by artist|album|folder|tag:FIELD] [-o CSV] [--html HTML]

Exit status: 0 when the run finished (also when some files gave error rows),
1 when the model could not be loaded or the output not written (a full disk), 2 for usage
errors, when no input was found, when OUT cannot be used (a folder, a missing folder,
another run writing it), when ``explain`` cannot read its file or ``report`` is not given
a score output, and when an optional extra is missing (the message gives the ``pip
install`` command), 130 after Ctrl-C (143 after SIGTERM): ``score`` then leaves the
finished rows in ``OUT.partial`` for ``--resume``. A Ctrl-C while OUT is being finished
waits for it (exit 0).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import csv
import json
import math
import os
import signal
import sys
import warnings
from pathlib import Path
from typing import IO, Any, Iterable, Iterator, Sequence

from ._version import __version__
from .audio import MAX_ANALYSIS_S
from .errors import AiaudioError, AudioLoadError, MissingDependencyError, ModelLoadError, require_extra
from .files import collect_inputs  # re-exported: ``from aiaudio.cli import collect_inputs`` keeps working

SCORE_COLUMNS = ["path", "p_ai", "label", "verdict", "confidence", "duration_s", "error", "flags", "model_version", "reason"]


# --------------------------------------------------------------------------- output


class _RowWriteError(Exception):
    """Writing a row failed (``error``: the ``OSError``; a closed pipe is not one: see :class:`RowWriter`)."""

    def __init__(self, error: OSError):
        super().__init__(str(error))
        self.error = error


class RowWriter:
    """Writes result rows as CSV or JSON lines, flushing each one.

    A failed write raises :class:`_RowWriteError` (``BrokenPipeError`` as it is: the reader
    of a pipe went away, as with ``aiaudio score DIR | head``).

    File names are kept exact (see :mod:`aiaudio._outfiles`): CSV fields with a comma, a
    quote, ``\\r`` or ``\\n`` are quoted, and a name that is not valid UTF-8 goes out byte for
    byte in CSV (``fh`` must be open with ``errors="surrogateescape"``) and as ``\\udcXX``
    escapes in JSON.
    """

    def __init__(self, fh: IO[str], fmt: str, columns: list[str], header: bool = True):
        self.fh = fh
        self.fmt = fmt
        self.columns = columns
        if fmt == "csv" and header:  # no header when appending to a resumed file
            from ._outfiles import csv_line

            self._put(csv_line(columns))

    def write(self, row: dict[str, Any]) -> None:
        from ._outfiles import csv_line, json_dumps, jsonable

        if self.fmt == "csv":
            self._put(csv_line([_cell(row.get(k)) for k in self.columns]))
        else:
            self._put(json_dumps(jsonable(row)) + "\n")

    def _put(self, text: str) -> None:
        try:
            self.fh.write(text)
            self.fh.flush()
        except BrokenPipeError:
            raise
        except OSError as e:
            raise _RowWriteError(e) from e


def _cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.6g}"
    if isinstance(v, (list, tuple)):
        return ";".join(str(x) for x in v)
    return v


def _format_for(output: str | None, fmt: str | None) -> str:
    if fmt:
        return fmt
    if output and output.lower().endswith((".jsonl", ".ndjson")):
        return "jsonl"
    return "csv"


def _progress(items: list[str], enabled: bool, desc: str) -> Iterable[str]:
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="file", file=sys.stderr, dynamic_ncols=True)


def _stdout_for_rows() -> IO[str]:
    """Standard output, set to write file names that are not valid UTF-8 byte for byte."""
    out = sys.stdout
    if getattr(out, "errors", None) == "strict" and hasattr(out, "reconfigure"):
        try:
            out.reconfigure(errors="surrogateescape")
        except (AttributeError, ValueError, OSError):  # pragma: no cover - a replaced stream
            pass
    return out


def _open_output(output: str | None) -> IO[str]:
    """Standard output, or the file ``output`` opened for writing (a device or a pipe is written through).

    Raises ``ValueError`` (with the message for the user) when ``output`` cannot be an
    output: a folder, a socket, a block device, a missing folder.
    """
    from ._outfiles import TEXT_FILE, output_target

    if output in (None, "-"):
        return _stdout_for_rows()
    kind, detail = output_target(output)
    if kind == "refuse":
        raise ValueError(detail)
    return open(output, "w", **TEXT_FILE)


def _error_text(e: BaseException) -> str:
    if isinstance(e, AiaudioError):
        return str(e)
    return f"internal error ({type(e).__name__}: {e}); please report it with the file"


# --------------------------------------------------------------------------- commands


def _has_plotting(command: str, usage: str) -> bool:
    """Whether matplotlib is there for ``usage``; if not, print the pip command (caller exits 2)."""
    try:
        require_extra(("matplotlib",), "plot", usage)
    except MissingDependencyError as e:
        print(f"aiaudio {command}: {e}", file=sys.stderr)
        return False
    return True


def _load_detector(args: argparse.Namespace, command: str, what: str, batch_size: int | None = None):
    """Load ``--model`` (or the default) for a command; None (after saying why) when it fails.

    Prints the untrained-model banner once, on standard error, when the model is a placeholder.
    """
    from .detector import load_detector

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
    from .batch import score_files

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
    from .batch import ResumeError

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
    from .detector import UntrainedModelWarning
    from .batch import RETRYABLE_REASONS, ResumableOutput, ResumeError

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
    files = _inputs_or_none(args, "score")
    if files is None:
        return 2
    det = _load_detector(args, "score", "every score below is", batch_size=args.batch_size)
    if det is None:
        return 1
    fmt = _format_for(args.output, args.format)
    columns = list(SCORE_COLUMNS)
    if args.cues:
        from .cues import CUE_NAMES

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
        from .batch import _HeldSignals

        try:
            with _HeldSignals(redeliver=False):
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


def cmd_catalog(args: argparse.Namespace) -> int:
    """``aiaudio catalog``: score the songs (``score``'s rows, resumable), then one verdict per group."""
    from .catalog import CATALOG_COLUMNS, build_catalog, load_catalog_model, songs_from_rows
    from .tags import parse_group_by

    try:
        parse_group_by(args.group_by)
    except ValueError as e:
        print(f"aiaudio catalog: {e}", file=sys.stderr)
        return 2
    songs_path = args.songs
    if not songs_path:
        base = args.output if args.output not in (None, "-") else "catalog.csv"
        songs_path = str(Path(base).with_suffix("")) + ".songs.jsonl"
    score_args = argparse.Namespace(
        paths=args.paths, output=songs_path, recursive=True, format="jsonl", no_progress=args.no_progress,
        model=args.model, cues=False, segments=True, batch_size=32, resume=args.resume, jobs=args.jobs,
        threads=args.threads, file_timeout=None,
    )
    rc = cmd_score(score_args)
    if rc != 0:
        return rc
    det = _load_detector(args, "catalog", "every verdict below is")
    if det is None:
        return 1
    try:
        with open(songs_path, encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh if line.strip()]
        cm = load_catalog_model(det.model_dir) if det.model_dir is not None else None
    except (OSError, ValueError, AiaudioError) as e:
        print(f"aiaudio catalog: {e}", file=sys.stderr)
        return 1
    from .catalog import CatalogModel

    cat = build_catalog(
        songs_from_rows(rows, det.config, args.group_by), cm or CatalogModel(), det.config,
        model_version=det.version, group_by=args.group_by,
    )
    try:
        fh = _open_output(args.output)
        try:
            writer = RowWriter(fh, "csv", CATALOG_COLUMNS)
            for row in cat.rows():
                writer.write(row)
        finally:
            if fh is not sys.stdout:
                fh.close()
        if args.html:
            from .catalog_report import write_catalog_html

            write_catalog_html(
                cat, args.html, title=args.title, threshold=det.config.threshold, uncertain_low=det.config.uncertain_low
            )
    except OSError as e:
        print(f"aiaudio catalog: cannot write output: {e}", file=sys.stderr)
        return 1
    tiers: dict[str, int] = {}
    for g in cat.groups:
        tiers[g.verdict] = tiers.get(g.verdict, 0) + 1
    summary = ", ".join(f"{n} {v}" for v, n in tiers.items())
    where = f" -> {args.output}" if args.output not in (None, "-") else ""
    html = f" and {args.html}" if args.html else ""
    print(f"aiaudio catalog: {len(cat.groups)} groups ({summary}); song rows in {songs_path}{where}{html}", file=sys.stderr)
    return 0


def cmd_cues(args: argparse.Namespace) -> int:
    from .cues import CUE_NAMES, file_cues

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


def cmd_train(args: argparse.Namespace) -> int:
    from .training.train import TrainConfig, train

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
    from .training.evaluate import evaluate

    conditions = ["original"] + [c for c in (args.conditions or []) if c != "original"]
    if args.robustness:
        from .training.augment import ROBUSTNESS_TRANSFORMS

        conditions = list(ROBUSTNESS_TRANSFORMS)
    try:
        evaluate(
            args.model,
            args.data,
            args.out,
            conditions=conditions,
            max_segments=args.max_segments or None,
            num_workers=args.workers,
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
    from .detector import default_model_dir
    from .training.evaluate import calibrate_on_human

    try:
        calibrate_on_human(
            args.model or default_model_dir(), args.human, args.out, target_fpr=args.target_fpr
        )
    except (ValueError, AiaudioError) as e:
        print(f"aiaudio calibrate: {e}", file=sys.stderr)
        return 1
    return 0


def _explain_one(det, path: str, js_path: str | None, png_path: str | None, want_json: bool, opts: dict[str, Any]) -> tuple[str, int, str, str | None, str]:
    """Explain one file of a batch: ``(path, status, headline, JSON text or None, message)``; writes its outputs."""
    from .detector import UntrainedModelWarning
    from .errors import AudioLoadError
    from .explain import explain
    from .batch import _StderrCapture

    if not os.path.exists(path):
        return path, 2, "", None, f"no such file: {path}"
    cap = _StderrCapture()  # decoder messages stay off the terminal, as with one file
    try:
        cap.resume()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UntrainedModelWarning)
                ex = explain(det, path, **opts)
        finally:
            cap.pause()
        log = cap.take()
    except AudioLoadError as e:
        return path, 2, "", None, str(e)
    except AiaudioError as e:
        return path, 1, "", None, str(e)
    finally:
        cap.close()
    if log and "decoder_messages" not in ex.flags:
        ex.flags.append("decoder_messages")
    try:
        if js_path:
            ex.to_json(js_path)
        if png_path:
            ex.plot(png_path)
    except (OSError, MissingDependencyError) as e:
        return path, 1, "", None, f"cannot write output: {e}"
    return path, 0, ex.headline, ex.to_json(indent=None) if want_json else None, ""


_BATCH: dict[str, Any] = {}


def _explain_worker_init(model: str | None, opts: dict[str, Any]) -> None:
    import torch

    from .detector import UntrainedModelWarning, load_detector

    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrainedModelWarning)
        _BATCH.update(det=load_detector(model), opts=opts)


def _explain_worker(task: tuple[str, str | None, str | None, bool]) -> tuple[str, int, str, str | None, str]:
    return _explain_one(_BATCH["det"], *task, _BATCH["opts"])


def _explain_batch(args: argparse.Namespace) -> int:
    """``aiaudio explain FILE... --out-dir DIR`` (a JSON and a PNG per file) and/or ``--json -`` (JSON lines)."""
    from .report import plot_names

    files = list(args.file)
    json_lines = args.json == "-"
    if args.plot or (args.json and not json_lines):
        print("aiaudio explain: with several files, use --out-dir DIR (a JSON and a PNG per file) or --json - (JSON lines)", file=sys.stderr)
        return 2
    if not args.out_dir and not json_lines:
        print("aiaudio explain: with several files, say where the explanations go: --out-dir DIR or --json -", file=sys.stderr)
        return 2
    if args.out_dir and not _has_plotting("explain", "aiaudio explain --out-dir"):
        return 2
    det = _load_detector(args, "explain", "the scores and their explanations are")
    if det is None:
        return 1
    out = Path(args.out_dir) if args.out_dir else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    opts = dict(
        interventions=not args.no_interventions,
        saliency=not args.no_saliency,
        intervention_s=None if args.intervention_s <= 0 else args.intervention_s,
        max_occlusion_passes=args.max_occlusion_passes,
    )
    names = plot_names(files, ext="")  # the report's plot names: `report --plots DIR` finds the PNGs
    tasks = [
        (f, str(out / f"{n}.json") if out else None, str(out / f"{n}.png") if out else None, json_lines)
        for f, n in zip(files, names)
    ]
    jobs = args.jobs if args.jobs is not None else min(len(files), max(1, (os.cpu_count() or 1) // 2))
    bar = None
    if not args.no_progress and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=len(tasks), desc="explaining", unit="file", file=sys.stderr, dynamic_ncols=True)
    pool = None
    if jobs > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_explain_worker_init, initargs=(args.model, opts))
        results: Iterable[tuple[str, int, str, str | None, str]] = pool.map(_explain_worker, tasks)
    else:
        results = (_explain_one(det, *t, opts) for t in tasks)
    rc = n_ok = 0
    try:
        for path, code, head, js, msg in results:
            if code:
                print(f"aiaudio explain: {msg}", file=sys.stderr)
                rc = max(rc, code)
            else:
                n_ok += 1
                if js is not None:
                    sys.stdout.write(js + "\n")
                    sys.stdout.flush()
                print(f"{path}: {head}", file=sys.stderr if json_lines else sys.stdout)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        if pool is not None:
            pool.shutdown()
    if out is not None:
        print(f"aiaudio explain: wrote the JSON and PNG of {n_ok} of {len(tasks)} files to {out}", file=sys.stderr)
    return rc


def cmd_explain(args: argparse.Namespace) -> int:
    from .detector import UntrainedModelWarning
    from .explain import explain
    from .batch import _StderrCapture

    if len(args.file) > 1 or args.out_dir:
        return _explain_batch(args)
    args.file = args.file[0]
    json_to_stdout = args.json == "-"
    if not os.path.exists(args.file):
        print(f"aiaudio explain: no such file: {args.file}", file=sys.stderr)
        return 2
    if args.plot and not _has_plotting("explain", "aiaudio explain --plot"):  # before the minutes of analysis
        return 2
    det = _load_detector(args, "explain", "the score and its explanation are")
    if det is None:
        return 1
    # what the decoding libraries print on file descriptor 2 is kept off the terminal, as `score` does
    cap = _StderrCapture()
    try:
        cap.resume()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UntrainedModelWarning)
                ex = explain(
                    det,
                    args.file,
                    interventions=not args.no_interventions,
                    saliency=not args.no_saliency,
                    intervention_s=None if args.intervention_s <= 0 else args.intervention_s,
                    max_occlusion_passes=args.max_occlusion_passes,
                    max_analysis_s=args.max_analysis_s if args.max_analysis_s > 0 else None,
                )
        finally:
            cap.pause()
        decoder_log = cap.take()
    except AudioLoadError as e:  # a bad input file, as `score` reports it
        print(f"aiaudio explain: {e}", file=sys.stderr)
        return 2
    except AiaudioError as e:
        print(f"aiaudio explain: {e}", file=sys.stderr)
        return 1
    finally:
        cap.close()
    if decoder_log:
        if "decoder_messages" not in ex.flags:
            ex.flags.append("decoder_messages")
        first = decoder_log.splitlines()[0]
        print(f"aiaudio explain: the decoder reported problems reading {args.file} (flag decoder_messages): {first}", file=sys.stderr)
    # with --json -, standard output holds the JSON and nothing else
    # a file name that is not UTF-8 is printed as it is
    print(ex.summary, file=sys.stderr if json_to_stdout else _stdout_for_rows())
    try:
        if args.plot:
            ex.plot(args.plot)
            print(f"aiaudio explain: wrote {args.plot}", file=sys.stderr)
        if json_to_stdout:
            sys.stdout.write(ex.to_json() + "\n")
            sys.stdout.flush()
        elif args.json:
            ex.to_json(args.json)
            print(f"aiaudio explain: wrote {args.json}", file=sys.stderr)
    except MissingDependencyError as e:  # matplotlib installed but not importable
        print(f"aiaudio explain: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"aiaudio explain: cannot write output: {e}", file=sys.stderr)
        return 1
    print(f"aiaudio explain: {ex.timings.get('total_s', float('nan')):.1f} s", file=sys.stderr)
    return 0


def _decision_points(model: str | None) -> tuple[float, tuple[float, float]] | None:
    """Threshold and uncertain band of ``model`` (or the default) from its config; None when it cannot be read."""
    from .detector import default_model_dir
    from .model import load_config

    try:
        c = load_config(model if model is not None else default_model_dir())
    except (AiaudioError, OSError):
        return None
    return c.threshold, (c.uncertain_low, c.uncertain_high)


def cmd_report(args: argparse.Namespace) -> int:
    from .errors import ScoresFormatError
    from .report import write_report

    if not os.path.isfile(args.scores):
        print(f"aiaudio report: no such file: {args.scores}", file=sys.stderr)
        return 2
    make_plot = None
    if args.make_plots:
        if not _has_plotting("report", "aiaudio report --make-plots"):
            return 2
        from .detector import UntrainedModelWarning
        from .explain import explain

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


def cmd_export_onnx(args: argparse.Namespace) -> int:
    from .export import export_model_onnx, export_onnx

    if not args.output and not args.into_model:
        print("aiaudio export-onnx: give -o OUT (the whole model as one file) or --into-model", file=sys.stderr)
        return 2
    det = _load_detector(args, "export-onnx", "the exported model's scores are")
    if det is None:
        return 1
    try:
        if args.into_model:
            out = export_model_onnx(det.model_dir, opset=args.opset)
        if args.output:
            out = export_onnx(det, path=args.output, opset=args.opset)
    except ValueError as e:  # an unsupported --opset
        print(f"aiaudio export-onnx: {e}", file=sys.stderr)
        return 2
    except AiaudioError as e:
        print(f"aiaudio export-onnx: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"aiaudio export-onnx: cannot write {args.output}: {e}", file=sys.stderr)
        return 1
    size_kb = out.stat().st_size / 1000
    print(f"aiaudio export-onnx: wrote {out} ({det.version}, {size_kb:.0f} kB)", file=sys.stderr)
    return 0


# --------------------------------------------------------------------------- parser


def _add_io_args(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH", help="audio files and/or folders")
    p.add_argument("-o", "--output", metavar="OUT", help=f"write {what} here (default: standard output)")
    p.add_argument("-r", "--recursive", action="store_true", help="look into sub-folders of folders")
    p.add_argument(
        "--format", choices=["csv", "jsonl"], help="output format (default: from OUT's extension, else csv)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar (it shows only on a terminal)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aiaudio",
        description="Tell AI-generated music from human-made music.",
        epilog="Run `aiaudio COMMAND --help` for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"aiaudio {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "score",
        help="score files and folders: one row per file",
        description=(
            "Score audio files and folders with a detector; one row per file with the columns "
            + ",".join(SCORE_COLUMNS)
            + ". A file that cannot be read gets a row with its error and the run goes on."
            " Rows go to OUT.partial as files finish and OUT is written, in input order, when"
            " the run completes; after Ctrl-C or a crash, --resume scores only the missing files."
            " On standard output rows come in order of completion."
        ),
    )
    _add_io_args(p, "the rows")
    p.add_argument("-m", "--model", metavar="DIR", help="model directory (default: the shipped default model)")
    p.add_argument("--cues", action="store_true", help="add the interpretable cues as cue_* columns (slower)")
    p.add_argument("--segments", action="store_true", help="with jsonl output: add per-segment [start_s, end_s, p_ai]")
    p.add_argument("--batch-size", type=int, default=32, metavar="N", help="segments per forward pass (default 32)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run: keep the rows in OUT.partial (or OUT), score only the other files",
    )
    p.add_argument(
        "-j", "--jobs", type=int, metavar="N",
        help="decode worker processes (default: chosen from the CPU cores; 0: decode in the main process)",
    )
    p.add_argument("--threads", type=int, metavar="N", help="CNN threads (default: chosen from the CPU cores)")
    p.add_argument(
        "--file-timeout", type=float, metavar="SECONDS",
        help="give up a file after this many seconds of decoding: it gets an error row with reason timeout "
        "and the run goes on (default: 60 s plus 10 s per MB of the file; 0: no limit)",
    )
    p.set_defaults(func=cmd_score)

    p = sub.add_parser(
        "catalog",
        help="one verdict per artist, album, folder or tag: songs combined, with the evidence song by song",
        description=(
            "Score the songs (rows as `aiaudio score --segments` writes them, kept in SONGS for --resume), "
            "group them by tag or folder (folders are searched recursively) and give each group a verdict: "
            "the songs' calibrated combination with its 90% interval, songs per tier, the most AI-like songs "
            "with their time ranges, the songs that decide it, and the AI-looking minority of a mixed catalogue."
        ),
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="audio files and/or folders")
    p.add_argument("-o", "--output", metavar="CSV", help="write one row per group here (default: standard output)")
    p.add_argument(
        "--group-by", default="artist", metavar="HOW",
        help="artist (album artist, else artist tag), album, folder, or tag:FIELD; files without the tag go by folder (default: artist)",
    )
    p.add_argument("--html", metavar="HTML", help="also write a self-contained HTML report (sortable, expandable groups)")
    p.add_argument("--title", help="title of the HTML report")
    p.add_argument(
        "--songs", metavar="SONGS",
        help="per-song rows (JSON lines; default: OUT with .songs.jsonl, or catalog.songs.jsonl without -o)",
    )
    p.add_argument("--resume", action="store_true", help="keep the songs already in SONGS and score only the others")
    p.add_argument("-m", "--model", metavar="DIR", help="model directory (default: the shipped default model)")
    p.add_argument("-j", "--jobs", type=int, metavar="N", help="decode worker processes (as for score)")
    p.add_argument("--threads", type=int, metavar="N", help="CNN threads (as for score)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (it shows only on a terminal)")
    p.set_defaults(func=cmd_catalog)

    p = sub.add_parser(
        "cues",
        help="compute the interpretable cues of files: one row per file",
        description="Compute the interpretable cues (loudness, dynamics, cut-off, upsampler peaks, shimmer, stereo).",
    )
    _add_io_args(p, "the rows")
    p.add_argument(
        "--max-analysis-s", type=float, default=MAX_ANALYSIS_S, metavar="S",
        help=f"decode and analyse at most the first S seconds of each file, flagged cues_truncated when longer "
        f"(0: whole files, in memory; default {MAX_ANALYSIS_S:g})",
    )
    p.set_defaults(func=cmd_cues)

    p = sub.add_parser(
        "train",
        help="train a model on a dataset",
        description="Train, calibrate and save a model; resumes from OUT/checkpoints if interrupted.",
    )
    p.add_argument("--data", action="append", default=[], metavar="SPEC", help="folder with ai/ and human/, CSV manifest, or SONICS/FakeMusicCaps root (repeatable)")
    p.add_argument("--out", metavar="DIR", help="output model directory (default models/new, or the --config file's)")
    p.add_argument("--config", metavar="JSON", help="training config file (flags override it)")
    p.add_argument("--holdout", action="append", default=[], metavar="GENERATOR", help="leave this generator out of training (repeatable)")
    p.add_argument("--epochs", type=int, metavar="N", help="training epochs (default 20, or the --config file's)")
    p.add_argument("--batch-size", type=int, metavar="N", help="segments per training batch (default 32, or the --config file's)")
    p.add_argument("--lr", type=float, metavar="LR", help="AdamW learning rate, with cosine decay (default 1e-3, or the --config file's)")
    p.add_argument("--seed", type=int, metavar="N", help="seeds the splits, the initial weights and every epoch's sampling (default 0, or the --config file's)")
    p.add_argument("--segments-per-item", type=int, metavar="N", help="random segments drawn from each song per epoch (default 8, or the --config file's)")
    p.add_argument("--workers", type=int, metavar="N", help="data-loading worker processes (default: from the CPU count; 0: load in the main process)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="where to train (default auto: cuda when available)")
    p.add_argument("--no-augment", action="store_true", help="train without augmentation (for ablations)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (it shows only on a terminal)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "evaluate",
        help="evaluate a model: metrics JSON, tables and plots",
        description="Score a dataset with a model and write metrics.json, report.md and plots to OUT.",
    )
    p.add_argument("--model", required=True, metavar="DIR", help="model directory to evaluate")
    p.add_argument(
        "--data", action="append", required=True, metavar="SPEC",
        help="folder with ai/ and human/, CSV manifest (e.g. MODEL/splits/test.csv), or SONICS/FakeMusicCaps root (repeatable)",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="where metrics.json, report.md, scores.csv and the plots go")
    p.add_argument("--conditions", nargs="*", metavar="NAME", help="robustness conditions (see aiaudio.training.augment.ROBUSTNESS_TRANSFORMS)")
    p.add_argument("--robustness", action="store_true", help="run every robustness condition")
    p.add_argument("--max-segments", type=int, default=8, metavar="N", help="segments per song, evenly spread (0: all; default 8)")
    p.add_argument("--workers", type=int, metavar="N", help="data-loading worker processes (default: from the CPU count; 0: load in the main process)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (it shows only on a terminal)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "calibrate",
        help="re-set the threshold on your own human tracks",
        description="Score your human tracks and write a model directory whose threshold flags at most --target-fpr of them.",
    )
    p.add_argument("--human", action="append", required=True, metavar="DIR", help="folder of human-made tracks (repeatable)")
    p.add_argument("--out", required=True, metavar="DIR", help="where the recalibrated model goes")
    p.add_argument("--model", metavar="DIR", help="model to start from (default: the shipped model)")
    p.add_argument(
        "--target-fpr", type=float, default=0.01, metavar="F",
        help="largest share of your human tracks the new threshold may flag as AI (default 0.01)",
    )
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser(
        "explain",
        help="why one file scored as it did: summary, plot, JSON",
        description=(
            "Explain one file's score: p_ai per segment, each cue's value, human percentile and measured "
            "effect (the change of p_ai when the cue is neutralised in the audio), an occlusion map of the "
            "spectrogram, the upsampler-peak residual spectrum, and a plain-language summary (printed)."
        ),
    )
    p.add_argument("file", nargs="+", metavar="FILE", help="audio file(s); several need --out-dir or --json -")
    p.add_argument(
        "--out-dir", metavar="DIR",
        help="write <name>.json and <name>.png per file here (names as `report` links them: <stem>, or <stem>-<hash> for a shared stem)",
    )
    p.add_argument("-j", "--jobs", type=int, metavar="N", help="with several files: worker processes (default: half the CPU cores)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (it shows only on a terminal)")
    p.add_argument("--plot", metavar="PNG", help='write a one-page plot here (needs pip install "aiaudio[plot]")')
    p.add_argument(
        "--json", metavar="JSON",
        help="write the full explanation here ('-': to standard output, the summary then goes to standard error)",
    )
    p.add_argument("-m", "--model", metavar="DIR", help="model directory (default: the shipped default model)")
    p.add_argument("--intervention-s", type=float, default=30.0, metavar="S", help="excerpt length for the cue interventions (0: whole track; default 30)")
    p.add_argument("--max-occlusion-passes", type=int, default=192, metavar="N", help="CNN passes for the occlusion map (default 192)")
    p.add_argument("--no-interventions", action="store_true", help="skip the cue interventions (faster; effects not measured)")
    p.add_argument("--no-saliency", action="store_true", help="skip the occlusion map (faster)")
    p.add_argument(
        "--max-analysis-s", type=float, default=MAX_ANALYSIS_S, metavar="S",
        help=f"analyse (cues, saliency, interventions) at most the first S seconds; the score covers the whole file "
        f"(0: all of it, in memory; default {MAX_ANALYSIS_S:g})",
    )
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser(
        "report",
        help="a self-contained HTML page for a scored folder",
        description=(
            "Make one HTML file (inline CSS/JS/SVG, opens without a server) from `aiaudio score` output: "
            "histogram of p_ai, a table sortable by any column, links to explanation plots."
        ),
    )
    p.add_argument("scores", metavar="SCORES", help="CSV (or JSON lines) written by `aiaudio score`")
    p.add_argument("-o", "--output", required=True, metavar="HTML", help="the page to write")
    p.add_argument("--plots", metavar="DIR", help="folder of explanation plots named <stem>.png to link")
    p.add_argument(
        "--make-plots", action="store_true",
        help='run `explain` on each scored file whose plot is missing (slow; needs pip install "aiaudio[plot]")',
    )
    p.add_argument("-m", "--model", metavar="DIR", help="model for --make-plots, and whose threshold the page shows (default: the shipped model)")
    p.add_argument("--title", help="page title")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "export-onnx",
        help="write the model as one ONNX file, for onnxruntime and other tools",
        description=(
            "Export the whole model, STFT front end included, to one ONNX file: input 'segments' "
            "float32 (batch, segment samples) of mono audio at the model rate, output 'logits' "
            "float32 (batch,). The file's metadata hold the model config and how to turn segment "
            'logits into a song p_ai and label. Needs pip install "aiaudio[onnx]".'
        ),
    )
    p.add_argument("-o", "--output", metavar="OUT", help="the .onnx file to write")
    p.add_argument(
        "--into-model", action="store_true",
        help="write the model folder's model.onnx (the CNN only, for torch-free scoring; see aiaudio.runtime)",
    )
    p.add_argument("-m", "--model", metavar="DIR", help="model directory (default: the shipped default model)")
    p.add_argument("--opset", type=int, metavar="N", help="ONNX opset, 18 or later (default: the exporter's)")
    p.set_defaults(func=cmd_export_onnx)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("aiaudio: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `aiaudio score dir | head`
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:  # pragma: no cover
            pass
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
