#!/usr/bin/env python
"""What ``pip install aiaudio`` costs and gives: a fresh virtual environment, no torch.

Run with an interpreter that has aiaudio's ``train`` extra (torch), from the checkout::

    python benchmarks/bench_install.py [--extras full] [--workdir DIR] [--keep]

It creates a virtual environment in ``--workdir``, runs ``pip install CHECKOUT`` there (or
``CHECKOUT[EXTRAS]``; the package's own dependencies only, from the configured index), and prints:

- every installed distribution with its size on disk (the files its RECORD lists) and the
  size of its wheel (``pip download --no-deps`` of the same version; pip's cache serves it),
  and the totals without aiaudio itself;
- whether torch, librosa or numba came along (they must not);
- ``aiaudio score`` in the fresh environment on a few clips this script generates, against the
  torch backend of this interpreter on the same clips (largest ``|p_ai|`` difference; must be
  below 1e-4);
- the cold start there: ``python -c "import aiaudio; aiaudio.load_detector()"``, median of 5.

A benchmark, not a test: sizes depend on the platform's wheels, times on the machine.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

_SIZES = r"""
import json, importlib.metadata as md
out = []
for d in md.distributions():
    n = 0
    for f in d.files or ():
        try:
            n += f.locate().stat().st_size
        except OSError:
            pass
    out.append((d.metadata["Name"], d.version, n))
print(json.dumps(out))
"""


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", default=None, help="where the environment goes (default: a temporary folder)")
    ap.add_argument("--keep", action="store_true", help="keep the environment afterwards")
    ap.add_argument("--extras", default="", help="install CHECKOUT[EXTRAS] instead (e.g. full, cues, formats)")
    args = ap.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="aiaudio-install-"))
    env_dir = work / "venv"
    if env_dir.exists():
        shutil.rmtree(env_dir)
    work.mkdir(parents=True, exist_ok=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    py = str(env_dir / ("Scripts" if os.name == "nt" else "bin") / "python")
    base = {d[0].lower() for d in json.loads(_run([py, "-I", "-c", _SIZES]).stdout)}  # pip, setuptools
    t0 = time.perf_counter()
    target = f"{REPO}[{args.extras}]" if args.extras else str(REPO)
    _run([py, "-m", "pip", "install", "--quiet", target])
    shown = f"{REPO.name}[{args.extras}]" if args.extras else REPO.name
    print(f"pip install {shown} (fresh venv, {sys.platform}, Python {sys.version.split()[0]}): {time.perf_counter() - t0:.0f} s")

    dists = [d for d in json.loads(_run([py, "-I", "-c", _SIZES]).stdout) if d[0].lower() not in base]
    wheels = work / "wheels"
    wheels.mkdir(exist_ok=True)
    print(f"\n  {'distribution':<26s} {'version':<12s} {'installed':>10s} {'wheel':>9s}")
    tot_inst = tot_wheel = 0
    for name, version, size in sorted(dists, key=lambda d: -d[2]):
        wheel_mb = float("nan")
        if name.lower() != "aiaudio":
            before = set(wheels.iterdir())
            r = subprocess.run(
                [py, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:", "-d", str(wheels), f"{name}=={version}"],
                capture_output=True, text=True,
            )
            new = set(wheels.iterdir()) - before
            if r.returncode == 0 and new:
                wheel_mb = sum(p.stat().st_size for p in new) / 1e6
                tot_wheel += sum(p.stat().st_size for p in new)
            tot_inst += size
        print(f"  {name:<26s} {version:<12s} {size / 1e6:8.1f} MB {wheel_mb:6.1f} MB")
    print(f"  {'dependencies (without aiaudio)':<39s} {tot_inst / 1e6:8.1f} MB {tot_wheel / 1e6:6.1f} MB")
    print(f"  wheels of the dependencies: {tot_wheel / 1e6:.1f} MB (goal <= 60 MB); installed {tot_inst / 1e6:.1f} MB")
    fft = _run([py, "-c", "from aiaudio.frontend import fft_backend; from aiaudio.audio import ffmpeg_available; "
                          "print(fft_backend(), ffmpeg_available())"], cwd=work).stdout.split()
    print(f"  front end's FFT there: {fft[0]}; FFmpeg (PyAV) there: {fft[1]}")
    heavy = sorted(d[0] for d in dists if d[0].lower() in ("torch", "librosa", "numba", "llvmlite", "torchaudio"))
    print(f"  torch / librosa / numba installed: {', '.join(heavy) if heavy else 'none'}")

    # scores in the fresh environment against the torch backend here
    import numpy as np

    import aiaudio
    from aiaudio.audio import write_audio

    clips = work / "clips"
    clips.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(4):
        t = np.arange(int(12 * 44100)) / 44100
        y = 0.2 * np.sin(2 * np.pi * (110 * (i + 1)) * t) * (1 + 0.5 * np.sin(2 * np.pi * 0.5 * t)) + 0.02 * rng.standard_normal(t.size)
        # FLAC and MP3 (libsndfile reads both; this interpreter's FFmpeg writes the MP3s)
        write_audio(clips / f"clip{i}.{'flac' if i % 2 else 'mp3'}", np.stack([y, np.roll(y, 100)]).astype(np.float32), 44100)
    out = work / "scores.csv"
    out.unlink(missing_ok=True)
    cli = env_dir / "bin" / "aiaudio"
    r = subprocess.run([str(cli), "score", str(clips), "-o", str(out), "--no-progress"], capture_output=True, text=True, cwd=work)
    print(f"\n`aiaudio score` in the fresh environment: exit {r.returncode}; {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ''}")
    fresh = {Path(row["path"]).name: float(row["p_ai"]) for row in csv.DictReader(out.open(newline=""))}
    det = aiaudio.load_detector(backend="torch")
    ref = {p.name: det.score(str(p)).p_ai for p in sorted(clips.iterdir())}
    diff = max(abs(fresh[k] - ref[k]) for k in ref) if fresh.keys() == ref.keys() else float("nan")
    print(f"  {len(fresh)} clips; largest |p_ai| difference to the torch backend here: {diff:.1e} (must be < 1e-4)")
    code = "import sys, aiaudio; aiaudio.load_detector(); assert 'torch' not in sys.modules"
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        _run([py, "-c", code], cwd=work)
        times.append(time.perf_counter() - t0)
    print(f"cold start (import aiaudio + load_detector, fresh process, median of 5): {statistics.median(times):.2f} s (goal <= 0.5 s)")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
