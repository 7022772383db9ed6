"""``aiaudio explain``: explanations of one file or many (in worker processes) over :func:`aiaudio.explain.explain`."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path
from typing import Any, Iterable

from ..errors import AiaudioError, AudioLoadError, MissingDependencyError
from ._common import _has_extra, _has_plotting, _load_detector
from .output import _stdout_for_rows


def _explain_one(det, path: str, js_path: str | None, png_path: str | None, want_json: bool, opts: dict[str, Any]) -> tuple[str, int, str, str | None, str]:
    """Explain one file of a batch: ``(path, status, headline, JSON text or None, message)``; writes its outputs."""
    from ..detector import UntrainedModelWarning
    from ..errors import AudioLoadError
    from ..explain import explain
    from ..batch import StderrCapture

    if not os.path.exists(path):
        return path, 2, "", None, f"no such file: {path}"
    cap = StderrCapture()  # decoder messages stay off the terminal, as with one file
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

    from ..detector import UntrainedModelWarning, load_detector

    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrainedModelWarning)
        _BATCH.update(det=load_detector(model), opts=opts)


def _explain_worker(task: tuple[str, str | None, str | None, bool]) -> tuple[str, int, str, str | None, str]:
    return _explain_one(_BATCH["det"], *task, _BATCH["opts"])


def _explain_batch(args: argparse.Namespace) -> int:
    """``aiaudio explain FILE... --out-dir DIR`` (a JSON and a PNG per file) and/or ``--json -`` (JSON lines)."""
    from ..report import plot_names

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
    from ..errors import EXPLAIN_MODULES

    # saliency maps take torch's gradients, the evidence needs the cues: the train extra has both
    if not _has_extra("explain", EXPLAIN_MODULES, "train", "aiaudio explain"):
        return 2
    from ..detector import UntrainedModelWarning
    from ..explain import explain
    from ..batch import StderrCapture

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
    cap = StderrCapture()
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


