#!/usr/bin/env python
"""Segment-logit inference: the torch detector against the exported ONNX model in onnxruntime.

Answers one question of the ONNX-export issue: is onnxruntime faster than aiaudio's own
CPU inference path? In one run it exports the model (:func:`aiaudio.export.export_onnx`)
and times, for 1 and 2 threads and batches of 1, 8 and 32 segments:

``torch``
    :meth:`aiaudio.Detector.segment_logits` (the tuned CPU copy: folded batch norms,
    channels-last, chunked STFT), with ``torch.set_num_threads(threads)``;
``onnxruntime``
    an ``InferenceSession`` on the CPU provider with ``intra_op_num_threads = threads``
    (default graph optimisations).

Each figure is the median over ``--repeats`` runs of the time per segment, a run
being enough calls to cover at least 32 segments, after one warm-up call. It prints
ms per segment, the ratio onnxruntime / torch (below 1: onnxruntime is faster) and
the largest difference between the two logits, then onnxruntime's time per operator
(its profiler; 1 thread, batch 8). A benchmark, not a test: numbers depend
on the machine and its load (the load average is printed).

Usage::

    python benchmarks/bench_onnx.py [--model DIR] [--repeats 7] [--batches 1 8 32] [--threads 1 2]

Needs ``pip install "aiaudio[onnx]"``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
import onnxscript  # noqa: E402
import torch  # noqa: E402

import aiaudio  # noqa: E402
from aiaudio.export import INPUT_NAME, OUTPUT_NAME, export_onnx  # noqa: E402

#: Each timed run covers at least this many segments (several calls at small batches).
SEGMENTS_PER_RUN = 32


def music_like_segments(n: int, samples: int, sr: int, seed: int = 0) -> np.ndarray:
    """``n`` deterministic segments, float32 ``(n, samples)``: decaying harmonic tones plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / sr
    out = np.empty((n, samples), dtype=np.float32)
    for i in range(n):
        f0 = 110.0 * 2 ** (rng.integers(0, 24) / 12)
        y = sum(np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 6.3)) / h for h in range(1, 8) if f0 * h < sr / 2)
        y = y * np.exp(-2 * (t % 0.5)) + 0.05 * rng.standard_normal(samples)
        out[i] = 0.5 * y / np.abs(y).max()
    return out


def median_ms_per_segment(fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray, repeats: int) -> float:
    """Median (over ``repeats`` runs) wall time per segment, in ms, of ``fn(x)`` after one warm-up."""
    fn(x)
    calls = max(1, -(-SEGMENTS_PER_RUN // x.shape[0]))
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn(x)
        runs.append((time.perf_counter() - t0) / (calls * x.shape[0]))
    return 1000.0 * statistics.median(runs)


def ort_session(path: Path, threads: int) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def ort_op_shares(path: Path, x: np.ndarray, runs: int = 5) -> list[tuple[str, float, float]]:
    """Where onnxruntime's time goes (1 thread): ``(operator, share of kernel time, ms per segment)``."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.enable_profiling = True
    opts.profile_file_prefix = str(path.parent / "ort_profile")
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    for _ in range(runs):
        sess.run([OUTPUT_NAME], {INPUT_NAME: x})
    events = json.loads(Path(sess.end_profiling()).read_text())
    total_us: dict[str, float] = {}
    for e in events:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
            op = e["args"]["op_name"]
            total_us[op] = total_us.get(op, 0.0) + e["dur"]
    all_us = sum(total_us.values()) or 1.0
    rows = [(op, us / all_us, us / 1000.0 / (runs * x.shape[0])) for op, us in total_us.items()]
    return sorted(rows, key=lambda r: -r[1])


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", metavar="DIR", help="model directory (default: the shipped default model)")
    ap.add_argument("--repeats", type=int, default=7, help="timed runs per figure (median; default 7)")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32], metavar="B", help="batch sizes")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2], metavar="T", help="thread counts")
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", aiaudio.UntrainedModelWarning)
        det = aiaudio.load_detector(args.model)
    fe = det.config.frontend
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    print(
        f"aiaudio {aiaudio.__version__} | Python {platform.python_version()} | torch {torch.__version__} | "
        f"onnxruntime {ort.__version__} | onnx {onnx.__version__} | onnxscript {onnxscript.__version__} | "
        f"{platform.machine()} | {os.cpu_count()} cores | load average {load}"
    )
    print(
        f"model: {det.model_dir} ({det.version}, {det.model.n_parameters():,} parameters; segments of "
        f"{fe.segment_s:g} s at {fe.sample_rate} Hz = {fe.segment_samples} samples)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        path = export_onnx(det, path=Path(tmp) / "model.onnx")
        export_s = time.perf_counter() - t0
        opset = {o.domain: o.version for o in onnx.load(str(path)).opset_import}.get("", "?")
        print(f"export: {export_s:.1f} s, {path.stat().st_size / 1000:.0f} kB, opset {opset}")
        sessions = {t: ort_session(path, t) for t in args.threads}
        x_all = music_like_segments(max(args.batches), fe.segment_samples, fe.sample_rate)
        shares = ort_op_shares(path, x_all[:8])
    print(f"\n== segment logits, ms per segment (median of {args.repeats} runs of >= {SEGMENTS_PER_RUN} segments) ==")
    print(f"  {'threads':>7s} {'batch':>5s}   {'torch':>8s}   {'onnxruntime':>11s}   {'ORT / torch':>11s}")
    worst = 0.0
    torch_threads = torch.get_num_threads()
    try:
        for threads in args.threads:
            torch.set_num_threads(threads)
            sess = sessions[threads]
            for b in args.batches:
                x = x_all[:b]
                run_torch = lambda a: det.segment_logits(a, batch_size=b)  # noqa: E731
                run_ort = lambda a: sess.run([OUTPUT_NAME], {INPUT_NAME: a})[0]  # noqa: E731
                worst = max(worst, float(np.abs(run_ort(x) - run_torch(x)).max()))
                ms_torch = median_ms_per_segment(run_torch, x, args.repeats)
                ms_ort = median_ms_per_segment(run_ort, x, args.repeats)
                print(f"  {threads:7d} {b:5d}   {ms_torch:8.2f}   {ms_ort:11.2f}   {ms_ort / ms_torch:10.2f}x")
    finally:
        torch.set_num_threads(torch_threads)
    print(f"\nmax |onnxruntime - torch| segment logit: {worst:.2e} (over the {max(args.batches)} segments, every setting)")
    print("\n== where onnxruntime's time goes (1 thread, batch 8; profiled, so slower than above) ==")
    for op, share, ms in shares[:6]:
        print(f"  {op:<14s} {100 * share:5.1f}%   {ms:6.2f} ms per segment")
    return 0


if __name__ == "__main__":
    sys.exit(main())
