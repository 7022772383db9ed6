"""What a plain `pip install aiaudio` (numpy, onnxruntime, soundfile, soxr, tqdm, mutagen) does.

Without scipy, pyloudnorm and PyAV (the ``cues`` and ``formats`` extras) and without torch,
scoring works and gives the full install's scores; what needs an extra says which one, before
any work. Decoding without FFmpeg is tested in this process (the check is one function); the
whole plain install in a child interpreter where those packages cannot be imported.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import aiaudio
import aiaudio.audio.decoders as dec
from aiaudio import AudioLoadError, MissingDependencyError, load_audio
from aiaudio.audio import encode_audio, write_audio
from aiaudio.frontend import fft_backend, spectrogram
from conftest import music_like, python_without

from test_audio import _mp3_bytes

REPO = Path(__file__).resolve().parents[1]
SR = 44100
#: what a plain install lacks (the extras, torch and what only training uses)
NOT_IN_A_PLAIN_INSTALL = ("torch", "scipy", "pyloudnorm", "av", "librosa", "numba", "sklearn", "matplotlib", "safetensors")


@pytest.fixture
def no_ffmpeg(monkeypatch) -> None:
    """Decoding and writing as without PyAV (the check every FFmpeg path goes through)."""
    monkeypatch.setattr(dec, "ffmpeg_available", lambda: False)
    monkeypatch.setitem(sys.modules, "av", None)


def test_without_ffmpeg_libsndfile_formats_load_the_same(tmp_path: Path, no_ffmpeg) -> None:
    y = music_like(3.0, SR, 2, seed=2)
    for ext in ("wav", "flac", "ogg"):
        p = tmp_path / f"a.{ext}"
        sf.write(str(p), y.T, SR)
        out, sr = load_audio(p)
        assert sr == SR and out.shape == (2, 3 * SR)


def test_without_ffmpeg_m4a_and_text_files_say_what_to_install(tmp_path: Path, monkeypatch) -> None:
    m4a = tmp_path / "bass.m4a"
    m4a.write_bytes(encode_audio(music_like(2.5, SR, 2), SR, "m4a", 128_000))  # PyAV is here: make one
    text = tmp_path / "not_audio.wav"
    text.write_text("not audio\n")
    assert load_audio(m4a)[0].shape[0] == 2  # with FFmpeg it reads
    monkeypatch.setattr(dec, "ffmpeg_available", lambda: False)
    for p in (m4a, text):
        with pytest.raises(AudioLoadError) as ei:
            load_audio(p)
        assert ei.value.reason == "needs_ffmpeg"
        assert 'pip install "aiaudio[formats]"' in str(ei.value) and "libsndfile" in str(ei.value)


def test_without_ffmpeg_a_damaged_mp3_is_an_error_that_names_the_extra(tmp_path: Path, monkeypatch) -> None:
    y = music_like(10.0, SR, 2)
    data = bytearray(_mp3_bytes(y, SR))  # made with PyAV, which this process has
    i = len(data) // 2
    data[i : i + 1500] = np.random.default_rng(1).integers(0, 256, 1500, dtype=np.uint8).tobytes()
    p = tmp_path / "bad_frames.mp3"
    p.write_bytes(bytes(data))
    monkeypatch.setattr(dec, "ffmpeg_available", lambda: False)
    with pytest.raises(AudioLoadError) as ei:
        load_audio(p)  # with FFmpeg it loads (test_audio.test_mp3_with_damaged_frames_loads)
    assert ei.value.reason == "corrupt" and 'aiaudio[formats]' in str(ei.value)
    assert "damaged frame" in str(ei.value)


def test_without_ffmpeg_mp3_is_written_by_libsndfile_at_the_bit_rate(tmp_path: Path, no_ffmpeg) -> None:
    y = music_like(6.0, SR, 2, seed=4)
    for kbps in (64, 128, 192):
        p = tmp_path / f"x{kbps}.mp3"
        write_audio(p, y, SR, bitrate=kbps * 1000)
        info = sf.info(str(p))
        assert info.format == "MP3" and info.samplerate == SR and info.channels == 2
        rate = p.stat().st_size * 8 / 6.0 / 1000
        assert abs(rate - kbps) < 0.12 * kbps, (kbps, rate)  # constant bit rate, as asked
        out, _ = load_audio(p)
        assert abs(out.shape[1] / SR - 6.0) < 0.1
    with pytest.raises(MissingDependencyError, match=r'aiaudio\[formats\]'):
        write_audio(tmp_path / "x.m4a", y, SR)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numpy_fft_front_end_equals_scipy_fft(dtype) -> None:
    pytest.importorskip("scipy")
    cfg = aiaudio.load_detector().config.frontend
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((5, int(cfg.segment_s * cfg.sample_rate))) * np.linspace(0.01, 0.5, 5)[:, None]).astype(np.float32)
    x[2, : x.shape[1] // 2] = 0.0  # a half-silent segment: bins at the floor
    ref = spectrogram(x, cfg, dtype=np.float64, fft="scipy")
    a = spectrogram(x, cfg, dtype=dtype, fft="scipy")
    b = spectrogram(x, cfg, dtype=dtype, fft="numpy")
    assert b.dtype == a.dtype == np.dtype(dtype) and b.shape == a.shape
    tol = 1e-10 if dtype == np.float64 else 1e-5
    assert np.abs(b - ref).max() < tol
    assert np.abs(a - ref).max() < tol
    assert fft_backend() == "scipy" and fft_backend("numpy") == "numpy"
    with pytest.raises(ValueError, match="fft must be"):
        fft_backend("fftw")


def test_catalog_chance_probability_without_scipy_equals_scipy() -> None:
    from scipy.stats import binom

    from aiaudio.catalog.verdicts import _binom_sf, _binom_sf_exact

    for n in (1, 2, 5, 17, 60, 400):
        for p in (1e-4, 0.01, 0.05, 0.3, 0.9):
            for k in sorted({1, min(2, n), n // 3 + 1, n // 2 + 1, n}):
                want = float(binom.sf(k - 1, n, p))
                got = _binom_sf_exact(k, n, p)
                assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-300), (k, n, p, got, want)
                assert _binom_sf(k, n, p) == pytest.approx(want, rel=1e-12, abs=1e-300)
    assert _binom_sf(0, 5, 0.1) == 1.0 and _binom_sf(6, 5, 0.1) == 0.0


def _plain_python(code: str, *args: str) -> subprocess.CompletedProcess:
    """Run ``code`` where what a plain install lacks cannot be imported."""
    return python_without(NOT_IN_A_PLAIN_INSTALL, code, *args)


def test_plain_install_scores_as_the_full_one_and_names_the_extras(tmp_path: Path) -> None:
    # the README's example clips, made as README command 1 makes them after a plain install
    clips = tmp_path / "clips"
    r = _plain_python("import runpy; sys.argv = ['make_examples.py', sys.argv[1]]; runpy.run_path('scripts/make_examples.py', run_name='__main__')",
                      str(clips))
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'bass.m4a not written' in r.stdout and not (clips / "bass.m4a").exists()
    assert sorted(p.name for p in clips.iterdir()) == ["chords.wav", "chords_griffinlim.flac", "drums.mp3", "not_audio.wav", "pad_16k.ogg", "short.wav"]
    m4a = clips / "bass.m4a"
    m4a.write_bytes(encode_audio(music_like(3.0, SR, 2), SR, "m4a", 128_000))  # this process has PyAV
    files = sorted(str(p) for p in clips.iterdir() if p.suffix in (".wav", ".flac", ".mp3", ".ogg") and p.name not in ("short.wav", "not_audio.wav"))
    det = aiaudio.load_detector(backend="torch")
    want = {f: det.score(f).p_ai for f in files}
    r = _plain_python(
        """
        import io, json, contextlib
        import aiaudio
        from aiaudio.cli import main
        from aiaudio.frontend import fft_backend
        out = {"fft": fft_backend()}
        det = aiaudio.load_detector()
        out["backend"] = det.backend
        out["scores"] = {f: det.score(f).p_ai for f in sys.argv[2:]}
        out["rc"] = main(["score", sys.argv[1], "-o", sys.argv[1] + "/../s.csv", "--no-progress", "-j", "2"])
        try:
            det.score(sys.argv[2], cues=True)
        except aiaudio.MissingDependencyError as e:
            out["cues"] = str(e)
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            out["rc_cues"] = main(["cues", sys.argv[2]])
            out["rc_explain"] = main(["explain", sys.argv[2]])
            out["rc_catalog"] = main(["catalog", sys.argv[1], "-o", sys.argv[1] + "/../c.csv", "--no-progress", "-j", "0"])
        out["stderr"] = err.getvalue()
        out["loaded"] = sorted({m.split(".")[0] for m in sys.modules} & set(BLOCKED))
        print(json.dumps(out))
        """,
        str(clips), *files,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["fft"] == "numpy" and got["backend"] == "onnx" and got["loaded"] == []
    for f in files:
        assert abs(got["scores"][f] - want[f]) < 1e-4, f  # the torch path's scores, within the 1e-4
    assert got["rc"] in (0, 1)  # error rows (too short, not audio, M4A without FFmpeg), the rest scored
    import csv

    rows = {Path(row["path"]).name: row for row in csv.DictReader(open(tmp_path / "s.csv", newline=""))}
    assert len(rows) == 7
    for f in files:
        assert abs(float(rows[Path(f).name]["p_ai"]) - want[f]) < 1e-4
    assert rows["bass.m4a"]["reason"] == "needs_ffmpeg" and 'aiaudio[formats]' in rows["bass.m4a"]["error"]
    assert rows["short.wav"]["reason"] == "too_short"
    assert 'pip install "aiaudio[cues]"' in got["cues"]
    assert got["rc_cues"] == 2 and got["rc_explain"] == 2 and got["rc_catalog"] in (0, 1)
    assert 'aiaudio cues needs scipy, pyloudnorm' in got["stderr"] and 'pip install "aiaudio[train]"' in got["stderr"]
    assert (tmp_path / "c.csv").stat().st_size > 0
