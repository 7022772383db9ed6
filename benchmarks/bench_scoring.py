#!/usr/bin/env python
"""Folder scoring against decoding alone, memory on a one-hour file, and cold start: in one run.

Targets (docs/DESIGN.md, issue 6), on 2 CPU cores:

* scoring a folder costs at most 1.5x decoding it alone;
* at least 100x real time;
* peak memory under 1 GB on a 60-minute file (flat in file length);
* cold start (``import aiaudio`` + model load) under 2 s.

What it does
------------
It makes a folder of music-like test files (cached in ``--workdir``): ``--clips`` files of
30 s, 44.1 kHz stereo, as MP3 128 kbps by default (``--format``; ``--distinct`` different
signals, copied to reach the count, because LAME is slow), and one ``--long-min``-minute
44.1 kHz stereo FLAC. Then, each timing the median of ``--repeats`` runs:

``decode-only``
    every clip decoded to samples at its native rate, exactly as scoring reads it
    (:func:`aiaudio.stream_audio`, 30 s blocks), with nothing else done; once in one process
    and once with one process per core (the honest baseline: scoring uses every core too).
``decode + resample``
    the same plus the down-mix to mono and the 16 kHz resampling scoring needs.
``full scoring``
    :func:`aiaudio.batch.score_files` with its automatic split of the cores, in a warm
    process; plus one end-to-end ``aiaudio score DIR -o OUT`` (cold start included).
``where the time goes``
    one core, per second of audio: decode, down-mix + resample, segmenting, STFT front end,
    CNN; the CNN cost per segment for the fast inference path and the plain model.
``60-minute file``
    ``aiaudio score LONG -o OUT`` in a fresh process; the peak of the summed RSS (and PSS,
    which splits pages shared by the forked workers) of its whole process tree.
``cold start``
    ``python -c "import aiaudio; aiaudio.load_detector(MODEL)"`` in a fresh process.

The model: ``--model DIR``, by default a model with ``configs/default.json``'s front end
and architecture and random weights (speed does not depend on the weights). This is a
benchmark, not a test: numbers depend on the machine and its load, printed with them.

Usage::

    python benchmarks/bench_scoring.py [--clips 200] [--long-min 60] [--repeats 3] [--model DIR]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import aiaudio  # noqa: E402
from aiaudio.audio import encode_audio, stream_audio  # noqa: E402
from aiaudio.batch import PipelineStats, plan_resources, score_files, usable_cpus  # noqa: E402

CLIP_S = 30.0
SR = 44100


# --------------------------------------------------------------------------- test material


def music_like(seconds: float, sr: int = SR, seed: int = 0, t0: float = 0.0) -> np.ndarray:
    """Deterministic music-like stereo float32 (2, n): chords with vibrato, drum-like noise, a noise bed."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sr))
    t = t0 + np.arange(n, dtype=np.float64) / sr
    roots = 110.0 * 2 ** (rng.integers(0, 12, size=int((t0 + seconds) / 2) + 2) / 12)
    f0 = roots[(t // 2).astype(int)] * (1 + 0.004 * np.sin(2 * np.pi * 5.5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    y = np.zeros((2, n))
    for h in range(1, 16):
        y[0] += 0.2 / h * np.sin(h * phase)
        y[1] += 0.2 / h * np.sin(h * phase + 0.3 * h)
    y += 0.3 * np.exp(-((t % 0.5) / 0.03)) * rng.standard_normal((2, n))
    y += 0.01 * rng.standard_normal((2, n))
    y *= 0.9 / max(1e-9, np.abs(y).max())
    return y.astype(np.float32)


def make_folder(workdir: Path, n_clips: int, distinct: int, fmt: str, long_min: float) -> tuple[list[Path], Path]:
    clips_dir = workdir / f"clips_{fmt}_{n_clips}"
    src_dir = workdir / f"sources_{fmt}"
    clips_dir.mkdir(parents=True, exist_ok=True)
    src_dir.mkdir(parents=True, exist_ok=True)
    sources = []
    for i in range(min(distinct, n_clips)):
        p = src_dir / f"src{i:02d}.{fmt}"
        if not p.exists():
            y = music_like(CLIP_S, SR, seed=i)
            if fmt in ("mp3", "m4a", "opus"):
                data = encode_audio(y, SR, fmt, 128_000, options={"compression_level": "9"} if fmt == "mp3" else None)
                tmp = p.with_suffix(".tmp")
                tmp.write_bytes(data)
                tmp.replace(p)
            else:
                import soundfile as sf

                sf.write(str(p.with_suffix(".tmp" + p.suffix)), y.T, SR)
                p.with_suffix(".tmp" + p.suffix).replace(p)
        sources.append(p)
    clips = []
    for i in range(n_clips):
        p = clips_dir / f"clip{i:04d}.{fmt}"
        if not p.exists():
            shutil.copyfile(sources[i % len(sources)], p)
        clips.append(p)
    long = workdir / f"long_{long_min:g}min.flac"
    if not long.exists():
        import soundfile as sf

        tmp = workdir / "long.tmp.flac"
        with sf.SoundFile(str(tmp), "w", samplerate=SR, channels=2, format="FLAC") as f:
            block = 60.0
            for k in range(int(np.ceil(long_min * 60 / block))):
                sec = min(block, long_min * 60 - k * block)
                f.write(music_like(sec, SR, seed=1000 + k, t0=k * block).T)
        tmp.replace(long)
    return clips, long


def default_model(workdir: Path) -> Path:
    """configs/default.json's front end and architecture, random weights (seed 0)."""
    import torch

    from aiaudio.frontend import FrontendConfig
    from aiaudio.model import AIMusicNet, ArchConfig, ModelConfig, save_model

    d = workdir / "model_default_config"
    if (d / "config.json").exists():
        return d
    cfg = json.loads((REPO / "configs" / "default.json").read_text())
    torch.manual_seed(0)
    m = AIMusicNet(
        ModelConfig(name="bench-random", frontend=FrontendConfig(**cfg["frontend"]), arch=ArchConfig(**cfg["arch"]))
    )
    save_model(m, d)
    return d


# --------------------------------------------------------------------------- helpers


def load() -> str:
    try:
        return "load average %.2f %.2f %.2f" % os.getloadavg()
    except OSError:  # pragma: no cover
        return "load average n/a"


def _cpu() -> float:
    """CPU seconds (user + system) of this process and its reaped children."""
    import resource

    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def median_time(fn: Callable[[], object], repeats: int, cpu: list[float] | None = None) -> tuple[float, list[float]]:
    """Median wall time of ``fn`` over ``repeats`` runs (and, into ``cpu``, the median CPU time)."""
    ts, cs = [], []
    for _ in range(repeats):
        c0 = _cpu()
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
        cs.append(_cpu() - c0)
    if cpu is not None:
        cpu.append(statistics.median(cs))
    return statistics.median(ts), ts


def _decode(path: str, sr: int | None, mono: bool) -> int:
    n = 0
    with stream_audio(path, sr=sr, mono=mono, block_s=30.0) as st:
        for b in st:
            n += b.shape[1]
    return n


def _decode_native(path: str) -> int:
    return _decode(path, None, False)


def _decode_16k(path: str) -> int:
    return _decode(path, 16000, True)


def decode_all(paths: Sequence[str], fn: Callable[[str], int], procs: int) -> None:
    if procs <= 1:
        for p in paths:
            fn(p)
        return
    ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    with ctx.Pool(procs) as pool:
        for _ in pool.imap_unordered(fn, paths, chunksize=4):
            pass


def score_all(det, paths: Sequence[str], stats: PipelineStats | None = None, **kw) -> None:
    n_err = 0
    for _, r in score_files(det, paths, stats=stats, **kw):
        n_err += isinstance(r, Exception)
    if n_err:
        raise RuntimeError(f"{n_err} files failed to score")


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as fh:
                    todo += [int(c) for c in fh.read().split()]
        except OSError:
            pass
    return out


def _mem_kb(pid: int) -> tuple[int, int]:
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def run_with_peak_memory(cmd: list[str]) -> tuple[float, float, float, float, int]:
    """Run ``cmd``; return (wall s, peak summed RSS MB, peak summed PSS MB, peak main RSS MB, rc)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak_rss = peak_pss = peak_main = 0
    while p.poll() is None:
        tot_rss = tot_pss = 0
        for q in _tree(p.pid):
            r, s = _mem_kb(q)
            tot_rss += r
            tot_pss += s
            if q == p.pid:
                peak_main = max(peak_main, r)
        peak_rss, peak_pss = max(peak_rss, tot_rss), max(peak_pss, tot_pss)
        time.sleep(0.02)
    wall = time.perf_counter() - t0
    err = p.stderr.read().decode(errors="replace") if p.stderr else ""
    if p.returncode:
        print(err, file=sys.stderr)
    return wall, peak_rss / 1024, peak_pss / 1024, peak_main / 1024, p.returncode


# --------------------------------------------------------------------------- profile


def profile(det, paths: Sequence[str], n_files: int) -> dict[str, float]:
    """Seconds per second of audio, one core, for each stage."""
    import torch

    from aiaudio.detector import StreamTotals, counted_segments
    from aiaudio.audio import to_mono
    import soxr

    fe = det.config.frontend
    torch.set_num_threads(1)
    t = dict(decode=0.0, mono_resample=0.0, segment=0.0, stft=0.0, cnn=0.0)
    audio_s = 0.0
    net = det._inference_net()
    for p in paths[:n_files]:
        t0 = time.perf_counter()
        blocks = list(stream_audio(str(p), block_s=30.0))
        t1 = time.perf_counter()
        with stream_audio(str(p), block_s=30.0) as st:
            native = st.native_sr
        rs = soxr.ResampleStream(native, fe.sample_rate, 1, dtype="float32", quality="HQ")
        mono = [rs.resample_chunk(np.ascontiguousarray(to_mono(b)[0]), last=i == len(blocks) - 1) for i, b in enumerate(blocks)]
        t2 = time.perf_counter()
        segs = np.stack([s for _, s in counted_segments(mono, fe, StreamTotals())])
        t3 = time.perf_counter()
        x = torch.from_numpy(segs)
        with torch.inference_mode():
            spec = net.spectrogram(x)
            t4 = time.perf_counter()
            net.cnn(spec)
        t5 = time.perf_counter()
        t["decode"] += t1 - t0
        t["mono_resample"] += t2 - t1
        t["segment"] += t3 - t2
        t["stft"] += t4 - t3
        t["cnn"] += t5 - t4
        audio_s += sum(b.shape[1] for b in blocks) / native
    return {k: v / audio_s for k, v in t.items()}


def cnn_cost(det, batch_sizes: Sequence[int], repeats: int = 5) -> dict[str, dict[int, float]]:
    """Milliseconds per segment, one thread: fast inference copy vs plain model."""
    import torch

    torch.set_num_threads(1)
    fe = det.config.frontend
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((max(batch_sizes), fe.segment_samples)).astype(np.float32) * 0.1)
    out: dict[str, dict[int, float]] = {"fast": {}, "plain": {}}
    for name, net in (("fast", det._inference_net()), ("plain", det.model)):
        with torch.inference_mode():
            for bs in batch_sizes:
                net(x[:bs])
                ts = []
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    net(x[:bs])
                    ts.append(time.perf_counter() - t0)
                out[name][bs] = 1000 * statistics.median(ts) / bs
    return out


def alternatives(det, batch: int = 8, repeats: int = 5) -> list[tuple[str, float]]:
    """Seconds of CNN + STFT per second of audio (fast inference path, 1 thread) for candidate models."""
    import dataclasses

    import torch

    from aiaudio.detector import Detector
    from aiaudio.model import AIMusicNet, ModelConfig

    torch.set_num_threads(1)
    fe0, arch0 = det.config.frontend, det.config.arch
    half = tuple(max(1, c // 2) for c in arch0.channels)
    cands = [
        ("this model", fe0, arch0),
        (f"channels {list(half)}", fe0, dataclasses.replace(arch0, channels=half)),
        ("hop 512, time_pool 2 (same map, half the FFTs)", dataclasses.replace(fe0, hop_length=512, time_pool=max(1, fe0.time_pool // 2)), arch0),
        ("n_fft 512 (257 bins)", dataclasses.replace(fe0, n_fft=512), arch0),
        (f"n_fft 512 + channels {list(half)}", dataclasses.replace(fe0, n_fft=512), dataclasses.replace(arch0, channels=half)),
        (f"segment_hop_s {2 * fe0.segment_s:g} (score every other segment)", dataclasses.replace(fe0, segment_hop_s=2 * fe0.segment_s), arch0),
        (f"hop {fe0.n_fft} = n_fft (configs/fast_frontend.json)", dataclasses.replace(fe0, hop_length=fe0.n_fft), arch0),
    ]
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((batch, fe0.segment_samples)).astype(np.float32) * 0.1)
    out = []
    for name, fe, arch in cands:
        try:
            d = Detector(AIMusicNet(ModelConfig(frontend=fe, arch=arch)))
        except ValueError as e:
            print(f"  {name}: not buildable ({e})")
            continue
        net = d._inference_net()
        xs = x[:, : fe.segment_samples]
        with torch.inference_mode():
            net(xs)
            ts = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                net(xs)
                ts.append(time.perf_counter() - t0)
        out.append((name, statistics.median(ts) / batch / fe.segment_hop_s))
    return out


# --------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", type=int, default=200, help="number of 30-s clips (default 200)")
    ap.add_argument("--distinct", type=int, default=10, help="different signals among the clips (default 10)")
    ap.add_argument("--format", default="mp3", choices=["mp3", "flac", "wav", "ogg", "m4a"], help="clip format")
    ap.add_argument("--long-min", type=float, default=60.0, help="length of the long file in minutes (default 60)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per timing; medians are reported (default 3)")
    ap.add_argument("--model", metavar="DIR", help="model directory (default: configs/default.json, random weights)")
    ap.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "aiaudio-bench"), help="where test files are cached")
    ap.add_argument("--sweep", action="store_true", help="also time other worker counts, backends and batch sizes")
    ap.add_argument("--batch-alt", type=int, default=8, help=argparse.SUPPRESS)
    args = ap.parse_args()
    warnings.simplefilter("ignore", aiaudio.UntrainedModelWarning)

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    import torch

    ncpu = usable_cpus()
    print(f"aiaudio {aiaudio.__version__} | Python {platform.python_version()} | torch {torch.__version__} | "
          f"{platform.machine()} | {ncpu} usable cores (os.cpu_count {os.cpu_count()})")
    print(f"start: {load()}")
    t0 = time.perf_counter()
    clips, long = make_folder(workdir, args.clips, args.distinct, args.format, args.long_min)
    model_dir = Path(args.model) if args.model else default_model(workdir)
    print(f"material: {len(clips)} x {CLIP_S:g} s {args.format} 44.1 kHz stereo ({args.distinct} distinct signals), "
          f"{long.name} ({long.stat().st_size / 1e6:.0f} MB); ready in {time.perf_counter() - t0:.1f} s")
    det = aiaudio.load_detector(model_dir)
    fe = det.config.frontend
    print(f"model: {model_dir} ({det.version}, {det.model.n_parameters():,} parameters; front end n_fft {fe.n_fft}, "
          f"hop {fe.hop_length}, time_pool {fe.time_pool}, {fe.n_bins}x{fe.n_frames} map; channels {list(det.config.arch.channels)})")
    paths = [str(p) for p in clips]
    audio_s = len(paths) * CLIP_S
    res = plan_resources()
    print(f"automatic split: {res.decode_workers} decode worker process(es) + {res.torch_threads} CNN thread(s); "
          f"batch size {det.batch_size}")
    R = args.repeats

    # warm-up: page cache, lazy imports, the inference copy
    decode_all(paths[:4], _decode_native, 1)
    score_all(det, paths[:4])

    print("\n== folder of clips (median of %d runs) ==" % R)
    cpu: list[float] = []
    dec1, _ = median_time(lambda: decode_all(paths, _decode_native, 1), R, cpu)
    decn, _ = median_time(lambda: decode_all(paths, _decode_native, ncpu), R, cpu)
    rs1, _ = median_time(lambda: decode_all(paths, _decode_16k, 1), R, cpu)
    rsn, _ = median_time(lambda: decode_all(paths, _decode_16k, ncpu), R, cpu)
    stats = PipelineStats()
    full, full_runs = median_time(lambda: score_all(det, paths, stats=stats), R, cpu)
    names = [
        "decode-only, native rate, 1 process",
        f"decode-only, native rate, {ncpu} processes",
        "decode + mono + resample to 16 kHz, 1 process",
        f"decode + mono + resample to 16 kHz, {ncpu} processes",
        f"full scoring (pipeline: {res.decode_workers} decode + {res.torch_threads} CNN thread)",
    ]
    print(f"  {'':<62s} {'wall':>7s}   {'x real time':>11s}   {'CPU':>7s}   {'x real time per CPU-s':>21s}")
    for name, t, c in zip(names, (dec1, decn, rs1, rsn, full), cpu):
        print(f"  {name:<62s} {t:6.2f}s   {audio_s / t:10.0f}x   {c:6.2f}s   {audio_s / c:20.0f}x")
    dec_cpu, full_cpu = cpu[1], cpu[4]
    per = 1.0 / max(1, R)
    print(f"  full scoring runs: {', '.join(f'{x:.2f}' for x in full_runs)} s; main process per run: CNN "
          f"{stats.cnn_s * per:.2f} s, waiting for audio {stats.wait_s * per:.2f} s, {stats.batches // max(1, R)} batches")
    print(f"  ratio full / decode-only ({ncpu} processes), wall: {full / decn:.2f}x   CPU: {full_cpu / dec_cpu:.2f}x   (target <= 1.5x)")
    print(f"  ratio full / decode-only (1 process), wall:        {full / dec1:.2f}x")
    print(f"  ratio full / decode+resample ({ncpu} processes), wall: {full / rsn:.2f}x   CPU: {full_cpu / cpu[3]:.2f}x")
    print(f"  full scoring: {audio_s / full:.0f}x real time on {ncpu} cores, {audio_s / full / ncpu:.0f}x per core "
          f"(target >= 100x on 2 cores)")

    # end-to-end CLI (cold start included)
    out_csv = workdir / "bench_out.csv"
    cli_wall, cli_rss, cli_pss, _, rc = run_with_peak_memory(
        [sys.executable, "-m", "aiaudio", "score", str(clips[0].parent), "-o", str(out_csv),
         "--model", str(model_dir), "--no-progress"]
    )
    n_rows = max(0, len(out_csv.read_text().splitlines()) - 1) if out_csv.exists() else 0
    print(f"  `aiaudio score DIR -o OUT` end to end: {cli_wall:.2f} s ({n_rows} rows, rc {rc}; "
          f"{audio_s / cli_wall:.0f}x real time incl. start-up), peak RSS {cli_rss:.0f} MB / PSS {cli_pss:.0f} MB")

    if args.sweep:
        print("\n== variants (median of %d runs) ==" % R)
        variants = [
            ("jobs 0 (decode in main thread)", dict(jobs=0)),
            ("jobs 1, process", dict(jobs=1)),
            ("jobs 2, process", dict(jobs=2)),
            ("jobs 1, thread", dict(jobs=1, backend="thread")),
            ("jobs 2, thread", dict(jobs=2, backend="thread")),
            ("jobs 1, process, 2 CNN threads", dict(jobs=1, torch_threads=2)),
            ("jobs 1, process, batch 8", dict(jobs=1, batch_size=8)),
            ("jobs 1, process, batch 64", dict(jobs=1, batch_size=64)),
        ]
        for name, kw in variants:
            t, _ = median_time(lambda: score_all(det, paths, **kw), R)
            print(f"  {name:<40s} {t:7.2f} s   {full and t / decn:5.2f}x decode-only   {audio_s / t:6.0f}x real time")

    print("\n== where the time goes (one core, ms per second of audio) ==")
    prof = profile(det, paths, min(len(paths), 20))
    tot = sum(prof.values())
    for k, v in prof.items():
        print(f"  {k:<16s} {1000 * v:6.2f} ms/s   {100 * v / tot:5.1f}%")
    print(f"  {'total':<16s} {1000 * tot:6.2f} ms/s   -> {1 / tot:.0f}x real time per core if nothing overlapped")
    floor = 1 + (prof["mono_resample"] + prof["stft"]) / prof["decode"]
    print(f"  resampling + STFT alone cost {floor - 1:.2f}x the decoding: with this front end, full / decode-only "
          f"cannot go below {floor:.2f}x even with a free CNN and perfect overlap")
    cost = cnn_cost(det, (1, 8, 32))
    seg_s = fe.segment_hop_s
    for name, d in cost.items():
        print(f"  CNN incl. STFT, {name:<5s} path, 1 thread: " + ", ".join(f"batch {b}: {ms:.2f} ms/segment" for b, ms in d.items())
              + f"  (= {min(d.values()) / seg_s:.2f} ms per second of audio)")

    print("\n== what would close the gap: CNN + STFT cost of other front ends / widths (random weights, 1 thread) ==")
    other = dec1 and (prof["mono_resample"] + prof["segment"])
    for name, cost_s in alternatives(det, args.batch_alt):
        projected = (prof["decode"] + other + cost_s) / prof["decode"]
        print(f"  {name:<58s} {1000 * cost_s:5.2f} ms per s of audio -> work / decode-only work {projected:4.2f}x")

    print(f"\n== {args.long_min:g}-minute file, `aiaudio score LONG -o OUT` in a fresh process ==")
    out_long = workdir / "bench_long.csv"
    wall, rss, pss, main_rss, rc = run_with_peak_memory(
        [sys.executable, "-m", "aiaudio", "score", str(long), "-o", str(out_long), "--model", str(model_dir), "--no-progress"]
    )
    print(f"  wall {wall:.1f} s ({args.long_min * 60 / wall:.0f}x real time incl. start-up), rc {rc}")
    print(f"  peak memory of the process tree: RSS {rss:.0f} MB (main process {main_rss:.0f} MB), "
          f"PSS {pss:.0f} MB (target < 1024 MB)")

    print("\n== cold start (fresh process, median of 5) ==")
    code = f"import aiaudio; aiaudio.load_detector({str(model_dir)!r})"
    cold = {}
    for name, argv in (
        ("python -c pass", ["-c", "pass"]),
        ("import torch", ["-c", "import torch"]),
        ("import aiaudio", ["-c", "import aiaudio"]),
        ("import aiaudio + load model", ["-W", "ignore", "-c", code]),
    ):
        c: list[float] = []
        w, _ = median_time(lambda: subprocess.run([sys.executable, *argv], check=True), 5, c)
        cold[name] = (w, c[0])
    print("  " + " | ".join(f"{k} {w:.2f} s (CPU {c:.2f} s)" for k, (w, c) in cold.items()))
    print(f"  cold start (import aiaudio + load model): {cold['import aiaudio + load model'][0]:.2f} s wall (target < 2 s); "
          f"import torch is {cold['import torch'][0] / cold['import aiaudio + load model'][0]:.0%} of it")
    print(f"\nend: {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
