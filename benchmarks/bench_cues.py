#!/usr/bin/env python
"""Time aiaudio.cues.extract_cues on a synthetic 3-minute stereo 44.1 kHz track.

Target (issue 3): under 2 s on one CPU core. The track mixes harmonic tones with
vibrato, a drum-like noise burst pattern, a stereo-decorrelated noise bed and a slow
loudness envelope, so every code path does real work (partials for the shimmer
analysis, peaks for the true-peak search, dynamics for the loudness range).

Usage::

    python benchmarks/bench_cues.py [--seconds 180] [--repeats 5]

Prints the median wall time of ``extract_cues`` over the repeats, the per-group
breakdown of the median run, and the machine load. BLAS/FFT thread pools are pinned
to one thread so the figure is a one-core figure.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from aiaudio.cues import extract_cues  # noqa: E402


def synthetic_track(seconds: float = 180.0, sr: int = 44100, seed: int = 0) -> np.ndarray:
    """A deterministic music-like stereo signal, float32 (2, n)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n, dtype=np.float64) / sr
    y = np.zeros((2, n))
    # chords of harmonic tones with vibrato, changing every 2 s
    roots = 110.0 * 2 ** (rng.integers(0, 12, size=int(seconds / 2) + 1) / 12)
    f0 = np.repeat(roots, 2 * sr)[:n] * (1 + 0.004 * np.sin(2 * np.pi * 5.5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    for h in range(1, 25):
        amp = 0.2 / h
        y[0] += amp * np.sin(h * phase)
        y[1] += amp * np.sin(h * phase + 0.3 * h)
    # percussive noise bursts on a 120 bpm grid
    env = np.exp(-((t % 0.5) / 0.03))
    y += 0.3 * env * rng.standard_normal((2, n))
    # decorrelated noise bed and slow loudness envelope
    y += 0.01 * rng.standard_normal((2, n))
    y *= 0.5 + 0.4 * np.sin(2 * np.pi * t / 40.0)
    y *= 0.9 / np.abs(y).max()
    return y.astype(np.float32)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=180.0)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    try:
        import threadpoolctl

        threadpoolctl.threadpool_limits(1)
    except ImportError:
        pass
    try:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    except (AttributeError, OSError):
        pass

    sr = 44100
    y = synthetic_track(args.seconds, sr)
    extract_cues(y[:, : 5 * sr], sr)  # warm-up: imports, filter design, FFT plans
    runs = []
    for _ in range(args.repeats):
        tm: dict[str, float] = {}
        t0 = time.perf_counter()
        extract_cues(y, sr, timings=tm)
        runs.append((time.perf_counter() - t0, tm))
    runs.sort(key=lambda r: r[0])
    med_t, med_tm = runs[len(runs) // 2]
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"extract_cues on {args.seconds:g} s stereo {sr} Hz ({y.nbytes / 1e6:.0f} MB float32), "
          f"{args.repeats} runs on one core")
    print(f"  median {med_t:.3f} s   min {runs[0][0]:.3f} s   max {runs[-1][0]:.3f} s   "
          f"({args.seconds / med_t:.0f}x real time)   target < 2 s: {'PASS' if med_t < 2.0 else 'MISS'}")
    print("  breakdown of the median run:")
    for k, v in med_tm.items():
        print(f"    {k:<16} {v:6.3f} s  {100 * v / med_t:5.1f} %")
    print(f"  load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {platform.processor() or platform.machine()}, "
          f"python {platform.python_version()}, numpy {np.__version__}, stdev {statistics.pstdev([r[0] for r in runs]):.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
