#!/usr/bin/env python
"""aiaudio against the simplest peer, on the same folder, in one run.

The peer is a *fakeprint + logistic regression* detector, written here from its published
recipe (no weights): decode, down-mix, resample to 44.1 kHz, one long-window STFT
(16384-sample Hann frames, no overlap), the mean log power spectrum over time minus its
smooth envelope (a running minimum then a running mean over 65 bins: what is left are the
narrow spectral peaks that neural upsamplers leave), the 1-16 kHz part as features, and a
scikit-learn ``LogisticRegression`` fitted on clips this benchmark makes (music-like clips,
half of them through a zero-stuffing 4x upsampler that leaves such peaks). Its accuracy
is not the point; its cost per file is that of the real thing.

In one run, on the same folder of ``--clips`` generated 30 s MP3 clips (44.1 kHz stereo,
cached in ``--workdir``), each the median of ``--repeats`` runs:

``decode-only``
    every file decoded at its native rate (:func:`aiaudio.stream_audio`), one process per core.
``peer``
    the fakeprint detector end to end (decode ... predict_proba), one process per core.
``aiaudio score DIR``
    the command, end to end in a fresh process (start-up included), with the ONNX backend
    (the default; no torch imported) and with ``AIAUDIO_BACKEND=torch`` (the former path).
``score_files``
    :func:`aiaudio.batch.score_files` in the benchmark's process (no start-up), with the CNN in
    the decode workers (the ONNX backend's default) and in the main process.
``score_on_dask``
    :func:`aiaudio.cluster.score_on_dask` on a ``LocalCluster`` of one worker process per core
    (warm: the workers have loaded the model), when dask.distributed is installed.
``where the time goes``
    one core, ms per second of audio, per stage of aiaudio's ONNX path.
``long file``
    ``aiaudio score LONG -o OUT`` on one ``--long-min``-minute FLAC: the peak summed RSS and
    PSS of its process tree (memory must stay flat in the file's length).

It prints real-time factors (seconds of audio per second of wall time), the ratios to
decoding, tracks a day, and checks that both backends wrote the same scores (within 1e-4).
A benchmark, not a test: numbers depend on the machine and its load, printed with them.

Usage::

    python benchmarks/bench_peer.py [--clips 100] [--repeats 3] [--model DIR]
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing as mp
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import aiaudio  # noqa: E402
from bench_scoring import CLIP_S, decode_all, _decode_native, load, make_folder, median_time, music_like, run_with_peak_memory  # noqa: E402

PEER_SR = 44100
PEER_NFFT = 16384
PEER_BAND_HZ = (1000.0, 16000.0)
ENVELOPE_BINS = 65


# --------------------------------------------------------------------------- the peer


def fakeprint(y: np.ndarray, sr: int = PEER_SR) -> np.ndarray:
    """Fakeprint of mono samples at 44.1 kHz: mean log spectrum minus its smooth envelope, 1-16 kHz."""
    from scipy import fft as sfft
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    n = max(1, y.shape[0] // PEER_NFFT)
    if y.shape[0] < PEER_NFFT:
        y = np.pad(y, (0, PEER_NFFT - y.shape[0]))
    frames = y[: n * PEER_NFFT].reshape(n, PEER_NFFT) * np.hanning(PEER_NFFT).astype(np.float32)
    spec = sfft.rfft(frames, axis=1)
    logp = np.log10(np.mean(spec.real**2 + spec.imag**2, axis=0) + 1e-12)
    envelope = uniform_filter1d(minimum_filter1d(logp, ENVELOPE_BINS), ENVELOPE_BINS)
    lo, hi = (int(f / (sr / PEER_NFFT)) for f in PEER_BAND_HZ)
    return (logp - envelope)[lo:hi].astype(np.float32)


def peer_features(path: str) -> np.ndarray:
    """Decode, down-mix, resample to 44.1 kHz (soxr), fakeprint."""
    y, _ = aiaudio.load_audio(path, sr=PEER_SR, mono=True)
    return fakeprint(np.asarray(y, dtype=np.float32).reshape(-1))


def _upsampled(y: np.ndarray) -> np.ndarray:
    """A crude neural-vocoder stand-in: keep every 4th sample, zero-stuff back, a short smoothing filter."""
    z = np.zeros_like(y)
    z[..., ::4] = 4 * y[..., ::4]
    k = np.array([0.25, 0.5, 0.75, 1.0, 0.75, 0.5, 0.25], dtype=np.float32) / 4
    return np.apply_along_axis(lambda c: np.convolve(c, k, mode="same"), -1, z).astype(np.float32)


def fit_peer(n: int = 16, seconds: float = 10.0):
    """The peer's logistic regression, fitted on ``n`` generated clips (half upsampled)."""
    from sklearn.linear_model import LogisticRegression

    X, t = [], []
    for i in range(n):
        y = music_like(seconds, PEER_SR, seed=500 + i).mean(axis=0)
        fake = i % 2 == 1
        X.append(fakeprint(_upsampled(y) if fake else y))
        t.append(int(fake))
    return LogisticRegression(max_iter=2000, C=1.0).fit(np.stack(X), np.asarray(t))


def peer_score(clf, paths: Sequence[str], procs: int) -> np.ndarray:
    """p(AI) of every file: features in ``procs`` processes, then the linear model."""
    if procs <= 1:
        feats = [peer_features(p) for p in paths]
    else:
        ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        with ctx.Pool(procs) as pool:
            feats = pool.map(peer_features, paths, chunksize=4)
    return clf.predict_proba(np.stack(feats))[:, 1]


# --------------------------------------------------------------------------- aiaudio


#: ``python -c`` code that runs the CLI as a plain ``pip install aiaudio`` has it: scipy,
#: pyloudnorm, PyAV and torch cannot be imported (the front end's FFT is numpy's)
_PLAIN_CLI = """
import importlib.abc, sys
class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("scipy", "pyloudnorm", "av", "torch"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, NotInstalled())
from aiaudio.cli import main
sys.exit(main(sys.argv[1:]))
"""


def cli_score(folder: Path, out: Path, model: str | None, backend: str, plain: bool = False) -> float:
    """``aiaudio score DIR -o OUT`` in a fresh process (``plain``: as a plain install runs it); its wall time."""
    out.unlink(missing_ok=True)
    entry = ["-c", _PLAIN_CLI] if plain else ["-m", "aiaudio"]
    cmd = [sys.executable, *entry, "score", str(folder), "-o", str(out), "--no-progress"]
    if model:
        cmd += ["--model", model]
    env = dict(os.environ, AIAUDIO_BACKEND=backend, PYTHONPATH=str(REPO))
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def read_scores(path: Path) -> dict[str, float]:
    return {Path(r["path"]).name: float(r["p_ai"]) for r in csv.DictReader(path.open(newline="")) if r["p_ai"]}


def profile_onnx(det, paths: Sequence[str]) -> dict[str, float]:
    """Seconds per second of audio, one core, for each stage of the ONNX path."""
    import soxr

    from aiaudio.audio import stream_audio, to_mono
    from aiaudio.detector import StreamTotals, counted_segments

    fe = det.config.frontend
    onnx = det._onnx
    t = dict(decode=0.0, mono_resample=0.0, segment=0.0, stft_numpy=0.0, cnn_onnxruntime=0.0)
    audio_s = 0.0
    with det.threads(1):
        sess = onnx._session()
        for p in paths:
            t0 = time.perf_counter()
            with stream_audio(str(p), block_s=30.0) as st:
                native = st.native_sr
                blocks = list(st)
            t1 = time.perf_counter()
            rs = soxr.ResampleStream(native, fe.sample_rate, 1, dtype="float32", quality="HQ")
            mono = [rs.resample_chunk(np.ascontiguousarray(to_mono(b)[0]), last=i == len(blocks) - 1) for i, b in enumerate(blocks)]
            t2 = time.perf_counter()
            segs = np.stack([s for _, s in counted_segments(mono, fe, StreamTotals())])
            t3 = time.perf_counter()
            spec = onnx.spectrogram(segs)
            t4 = time.perf_counter()
            sess.run(["logits"], {"spectrogram": spec})
            t5 = time.perf_counter()
            for k, dt in zip(t, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
                t[k] += dt
            audio_s += sum(b.shape[1] for b in blocks) / native
    return {k: v / audio_s for k, v in t.items()}


# --------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", type=int, default=100, help="number of 30-s MP3 clips (default 100)")
    ap.add_argument("--distinct", type=int, default=10, help="different signals among the clips (default 10)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per timing; medians are reported (default 3)")
    ap.add_argument("--model", metavar="DIR", help="model directory (default: the shipped model)")
    ap.add_argument("--long-min", type=float, default=60.0, help="length of the long file for the memory check, minutes (default 60; 0: none)")
    ap.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "aiaudio-bench"), help="where test files are cached")
    args = ap.parse_args()
    warnings.simplefilter("ignore", aiaudio.UntrainedModelWarning)
    from aiaudio.batch import usable_cpus

    ncpu = usable_cpus()
    import onnxruntime

    print(f"aiaudio {aiaudio.__version__} | Python {platform.python_version()} | onnxruntime {onnxruntime.__version__} | "
          f"{platform.machine()} | {ncpu} usable cores")
    print(f"start: {load()}")
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    clips, long = make_folder(workdir, args.clips, args.distinct, "mp3", args.long_min or 1.0)
    folder = clips[0].parent
    paths = [str(p) for p in clips]
    audio_s = len(paths) * CLIP_S
    det = aiaudio.load_detector(args.model)
    fe = det.config.frontend
    print(f"material: {len(paths)} x {CLIP_S:g} s MP3 128 kbps 44.1 kHz stereo = {audio_s / 60:.0f} min; "
          f"model {det.version} ({det.backend} backend), {fe.sample_rate} Hz, n_fft {fe.n_fft}, hop {fe.hop_length}")
    R = args.repeats
    clf = fit_peer()
    decode_all(paths[:4], _decode_native, 1)  # warm the page cache
    peer_score(clf, paths[:4], 1)

    rows: list[tuple[str, float]] = []
    dec, _ = median_time(lambda: decode_all(paths, _decode_native, ncpu), R)
    rows.append((f"decode-only, native rate, {ncpu} processes", dec))
    peer, _ = median_time(lambda: peer_score(clf, paths, ncpu), R)
    rows.append((f"peer: fakeprint + logistic regression, {ncpu} processes", peer))
    out_onnx, out_torch = workdir / "peer_onnx.csv", workdir / "peer_torch.csv"
    cli_onnx, _ = median_time(lambda: cli_score(folder, out_onnx, args.model, "onnx"), R)
    rows.append(("`aiaudio score DIR -o OUT`, ONNX backend (default), end to end", cli_onnx))
    out_plain = workdir / "peer_plain.csv"
    cli_plain, _ = median_time(lambda: cli_score(folder, out_plain, args.model, "onnx", plain=True), R)
    rows.append(("  the same as a plain install runs it (numpy.fft, no scipy/PyAV)", cli_plain))
    cli_torch, _ = median_time(lambda: cli_score(folder, out_torch, args.model, "torch"), R)
    rows.append(("`aiaudio score DIR -o OUT`, torch backend, end to end", cli_torch))

    from aiaudio.batch import score_files

    for in_workers, name in ((True, "CNN in the decode workers (the default)"), (False, "CNN in the main process")):
        t, _ = median_time(lambda: list(score_files(det, paths, cnn_in_workers=in_workers)), R)
        rows.append((f"score_files in this process, {name}", t))

    dask_t = None
    try:
        import distributed
    except ImportError:
        print("(dask.distributed not installed: no cluster row; pip install \"aiaudio[cluster]\")")
    else:
        from aiaudio.cluster import BatchScorer, score_on_dask

        with distributed.LocalCluster(n_workers=ncpu, threads_per_worker=1, processes=True, dashboard_address=None) as lc:
            with distributed.Client(lc) as client:
                plain = BatchScorer(args.model, keep_freed_memory=False)  # first: the setting cannot be undone
                score_on_dask(client, paths[: 2 * ncpu], plain, chunk=1)  # warm: each worker loads the model
                plain_t, _ = median_time(lambda: score_on_dask(client, paths, plain, chunk=8), R)
                scorer = BatchScorer(args.model)
                dask_t, _ = median_time(lambda: score_on_dask(client, paths, scorer, chunk=8), R)
        rows.append((f"aiaudio.cluster.score_on_dask, LocalCluster of {ncpu} workers (warm)", dask_t))
        rows.append(("  the same, BatchScorer(keep_freed_memory=False)", plain_t))

    print(f"\n== same folder, same run (median of {R}) ==")
    print(f"  {'':<66s} {'wall':>7s}   {'x real time':>11s}   {'/ decode-only':>13s}")
    for name, t in rows:
        print(f"  {name:<66s} {t:6.2f}s   {audio_s / t:10.0f}x   {t / dec:12.2f}x")
    a, b = read_scores(out_onnx), read_scores(out_torch)
    diff = max(abs(a[k] - b[k]) for k in a) if a and a.keys() == b.keys() else float("nan")
    print(f"  scores ONNX vs torch backend: {len(a)} files, largest |p_ai difference| {diff:.1e} (must be < 1e-4)")
    c = read_scores(out_plain)
    diff_plain = max(abs(a[k] - c[k]) for k in a) if a and a.keys() == c.keys() else float("nan")
    print(f"  scores plain install vs the default: largest |p_ai difference| {diff_plain:.1e} (must be < 1e-4)")
    print(f"  aiaudio (ONNX) / peer real-time factor: {peer / cli_onnx:.2f}  (goal >= 1); plain install: {peer / cli_plain:.2f}")
    print(f"  aiaudio (ONNX) end to end / decode-only: {cli_onnx / dec:.2f}x  (goal <= 2)")
    print(f"  ONNX backend vs torch backend, end to end: {cli_torch / cli_onnx:.2f}x faster")
    rtf = audio_s / cli_onnx
    print(f"  one {ncpu}-core machine, aiaudio score: {rtf * 86400 / CLIP_S:,.0f} 30-s clips a day, "
          f"{rtf * 86400 / 210:,.0f} 3.5-minute tracks a day")

    print("\n== where the time goes, ONNX path (one core, ms per second of audio) ==")
    prof = profile_onnx(det, paths[: min(len(paths), 20)])
    tot = sum(prof.values())
    for k, v in prof.items():
        print(f"  {k:<16s} {1000 * v:6.2f} ms/s   {100 * v / tot:5.1f}%")
    print(f"  {'total':<16s} {1000 * tot:6.2f} ms/s   -> {1 / tot:.0f}x real time per core")
    print("\n== cold start: python -c 'import aiaudio; aiaudio.load_detector()' in a fresh process (median of 5) ==")
    code = "import sys, aiaudio; d = aiaudio.load_detector({m!r}); assert d.backend == {b!r}; assert ('torch' in sys.modules) == {t}"
    for backend in ("onnx", "torch"):
        argv = [sys.executable, "-W", "ignore", "-c", code.format(m=args.model, b=backend, t=backend == "torch")]
        env = dict(os.environ, AIAUDIO_BACKEND=backend, PYTHONPATH=str(REPO))
        w, _ = median_time(lambda: subprocess.run(argv, check=True, env=env), 5)
        print(f"  {backend} backend: {w:.2f} s" + ("  (goal <= 0.5 s; torch not imported)" if backend == "onnx" else ""))
    if args.long_min:
        print(f"\n== {args.long_min:g}-minute file, `aiaudio score LONG -o OUT` in a fresh process ({det.backend} backend) ==")
        cmd = [sys.executable, "-m", "aiaudio", "score", str(long), "-o", str(workdir / "peer_long.csv"), "--no-progress"]
        wall, rss, pss, main_rss, rc = run_with_peak_memory(cmd + (["--model", args.model] if args.model else []))
        print(f"  wall {wall:.1f} s ({args.long_min * 60 / wall:.0f}x real time incl. start-up), rc {rc}")
        print(f"  peak memory of the process tree: RSS {rss:.0f} MB (main process {main_rss:.0f} MB), PSS {pss:.0f} MB (goal < 1024 MB)")
    print(f"\nend: {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
