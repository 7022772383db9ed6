"""Every wrong input gets a clear, typed answer; every file costs a bounded amount of memory.

Streamed WAVs (sizes left at 0xFFFFFFFF by a writer on a pipe), implausible sample rates,
the input checks of ``Detector.score`` / ``aiaudio.score`` / ``explain``, float input at
integer scale, and the ``max_analysis_s`` bound of the cue and explanation paths.
"""

from __future__ import annotations

import importlib
import io
import math
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import aiaudio
import aiaudio.audio
import aiaudio.detector
from aiaudio.audio import (
    MAX_ANALYSIS_S,
    MAX_SAMPLE_RATE,
    MIN_SAMPLE_RATE,
    BeyondFullScaleWarning,
    load_audio,
    stream_audio,
    validate_samples,
)
from aiaudio.cues import extract_cues, file_cues
from aiaudio.detector import Detector
from aiaudio.errors import AudioLoadError, InvalidInputError
from aiaudio.model import AIMusicNet, ModelConfig

from conftest import music_like

TINY_FE = dict(sample_rate=8000, n_fft=256, hop_length=128, fmax_hz=4000.0, segment_s=2.0, segment_hop_s=2.0, min_duration_s=1.0)


@pytest.fixture(scope="module")
def tiny() -> Detector:
    """A small random detector (8 kHz, 2 s segments): fast, and enough to check input handling."""
    cfg = ModelConfig.from_dict(
        {"format_version": 1, "name": "tiny", "version": "0.0.1", "trained": False, "frontend": TINY_FE,
         "arch": dict(channels=[4, 8], hidden=8, dropout=0.0)}
    )
    torch.manual_seed(0)
    return Detector(AIMusicNet(cfg), batch_size=16)


@pytest.fixture(autouse=True)
def _quiet_untrained():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", aiaudio.UntrainedModelWarning)
        yield


def _tone_and_silence(path: Path, minutes: float, sr: int = 1000) -> None:
    """A long, cheap file: minutes of a 110 Hz tone and of silence in turn, written block by block."""
    n_min = int(round(60 * sr))
    t = np.arange(n_min) / sr
    tone = (0.25 * np.sin(2 * np.pi * 110 * t)).astype(np.float32)
    with sf.SoundFile(path, "w", samplerate=sr, channels=1, subtype="PCM_16", format="FLAC") as f:
        whole, part = divmod(minutes, 1)
        for m in range(int(whole)):
            f.write(tone if m % 2 == 0 else np.zeros_like(tone))
        if part:
            f.write(tone[: int(round(part * n_min))])


# ------------------------------------------------------------------ WAV written to a pipe


class _PipeSink(io.RawIOBase):
    """A write-only, unseekable sink: what ffmpeg sees when it writes `-f wav -` to a pipe."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def write(self, b) -> int:  # type: ignore[override]
        self.data += bytes(b)
        return len(b)


def _ffmpeg_wav_to_pipe(y: np.ndarray, sr: int) -> bytes:
    """FFmpeg's own WAV muxer (through PyAV) writing to an unseekable output."""
    import av

    sink = _PipeSink()
    c = av.open(sink, mode="w", format="wav")
    stream = c.add_stream("pcm_s16le", rate=sr, layout="stereo")
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(y, dtype=np.float32), format="fltp", layout="stereo")
    frame.sample_rate, frame.pts = sr, 0
    for pkt in stream.encode(frame):
        c.mux(pkt)
    for pkt in stream.encode(None):
        c.mux(pkt)
    c.close()
    return bytes(sink.data)


def test_wav_that_ffmpeg_wrote_to_a_pipe_reads_whole(tmp_path: Path, tiny: Detector) -> None:
    y = music_like(3.0, 44100, 2)
    data = _ffmpeg_wav_to_pipe(y, 44100)
    assert data[4:8] == b"\xff\xff\xff\xff"  # the RIFF size it could not go back to fill in
    i = data.find(b"data")
    assert data[i + 4 : i + 8] == b"\xff\xff\xff\xff"
    p = tmp_path / "piped.wav"
    p.write_bytes(data)
    out, sr = load_audio(p)
    assert sr == 44100 and out.shape == (2, 3 * 44100)
    np.testing.assert_allclose(out, y, atol=1.5 / 32768)
    s = tiny.score(p)
    assert s.duration_s == pytest.approx(3.0, abs=1e-3)


def _pcm_wav(tmp_path: Path) -> tuple[bytes, np.ndarray]:
    y = music_like(2.0, 16000, 2)
    p = tmp_path / "plain.wav"
    sf.write(p, y.T, 16000, subtype="PCM_16")
    ref, _ = load_audio(p)
    return p.read_bytes(), ref


@pytest.mark.parametrize(
    "riff,data_size",
    [(0xFFFFFFFF, 0xFFFFFFFF), (None, 0xFFFFFFFF), (0xFFFFFFFF, 0x7FFFFFFF), (0, 0)],
    ids=["both-ffffffff", "data-ffffffff", "data-7fffffff", "both-zero"],
)
@pytest.mark.parametrize("odd_tail", [False, True])
def test_streamed_wav_size_placeholders_read_to_the_end(tmp_path: Path, riff, data_size, odd_tail: bool) -> None:
    raw, ref = _pcm_wav(tmp_path)
    b = bytearray(raw)
    i = b.find(b"data")
    if riff is not None:
        b[4:8] = riff.to_bytes(4, "little")
    b[i + 4 : i + 8] = data_size.to_bytes(4, "little")
    if odd_tail:
        b += b"\x01"  # a stray byte after the last whole frame (a pipe cut between two writes)
    p = tmp_path / "streamed.wav"
    p.write_bytes(bytes(b))
    out, sr = load_audio(p)
    assert sr == 16000
    np.testing.assert_array_equal(out, ref)


def test_a_wav_truncated_behind_a_real_size_is_still_refused(tmp_path: Path) -> None:
    raw, _ = _pcm_wav(tmp_path)
    p = tmp_path / "cut.wav"
    p.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(AudioLoadError) as ei:
        load_audio(p)
    assert ei.value.reason == "corrupt"


# ------------------------------------------------------------------ implausible sample rates


def test_a_wav_at_1_hz_is_refused_before_anything_is_decoded_or_resampled(tmp_path: Path, monkeypatch, tiny: Detector) -> None:
    p = tmp_path / "one_hz.wav"
    sf.write(p, (np.random.default_rng(0).standard_normal(40_000) * 3000).astype(np.int16), 1)  # 80 kB, "11 hours"
    assert p.stat().st_size < 81_000

    def no_resampling(*a, **k):
        raise AssertionError("resampling started for a file with an implausible rate")

    monkeypatch.setattr(aiaudio.audio.read.soxr, "ResampleStream", no_resampling)
    monkeypatch.setattr(aiaudio.audio.read.soxr, "resample", no_resampling)
    for call in (lambda: load_audio(p), lambda: load_audio(p, sr=16000), lambda: stream_audio(p), lambda: tiny.score(p)):
        with pytest.raises(AudioLoadError) as ei:
            call()
        assert ei.value.reason == "bad_sample_rate"
        assert "1 Hz" in str(ei.value) and "one_hz.wav" in str(ei.value)


@pytest.mark.parametrize("rate,ok", [(999, False), (MIN_SAMPLE_RATE, True), (MAX_SAMPLE_RATE, True), (MAX_SAMPLE_RATE + 1, False)])
def test_file_sample_rate_bounds(tmp_path: Path, rate: int, ok: bool) -> None:
    p = tmp_path / "x.wav"
    sf.write(p, np.zeros(4000, dtype=np.int16), rate)
    if ok:
        y, sr = load_audio(p)
        assert sr == rate and y.shape == (1, 4000)
    else:
        with pytest.raises(AudioLoadError, match="sample rate") as ei:
            load_audio(p)
        assert ei.value.reason == "bad_sample_rate"


@pytest.mark.parametrize("sr", [44.1, 0, -1, 999, 10**7, float("nan"), "16000", True])
def test_target_rate_of_the_reader_is_checked(tmp_path: Path, sr) -> None:
    p = tmp_path / "x.wav"
    sf.write(p, np.zeros(4000, dtype=np.int16), 8000)
    with pytest.raises(InvalidInputError, match="sample rate"):
        load_audio(p, sr=sr)


# ------------------------------------------------------------------ score(): input checks


@pytest.mark.parametrize("sr", [44.1, 0, -1, -44100, 999, 768_001, float("nan"), float("inf"), "44100", True, [44100]])
def test_score_refuses_a_bad_sample_rate(tiny: Detector, sr) -> None:
    y = music_like(3.0, 16000, 1)
    with pytest.raises(InvalidInputError) as ei:
        tiny.score(y, sr=sr)
    e = ei.value
    assert isinstance(e, AudioLoadError) and isinstance(e, ValueError) and isinstance(e, TypeError)
    assert e.reason == "sample_rate" and "sample rate" in str(e)
    assert repr(sr) in str(e) or str(int(sr)) in str(e)


def test_score_takes_integral_rates_of_any_numeric_type(tiny: Detector) -> None:
    y = music_like(3.0, 16000, 1)
    ref = tiny.score(y, sr=16000)
    for sr in (16000.0, np.int64(16000), np.float32(16000), np.uint16(16000)):
        assert tiny.score(y, sr=sr).p_ai == ref.p_ai


def test_array_without_rate_is_a_typed_error(tiny: Detector) -> None:
    with pytest.raises(InvalidInputError, match="sample rate"):
        tiny.score(np.zeros(16000, dtype=np.float32))


@pytest.mark.parametrize("container", [list, tuple])
def test_a_list_of_paths_points_to_score_files(tmp_path: Path, tiny: Detector, container) -> None:
    paths = []
    for k in range(2):
        p = tmp_path / f"{k}.wav"
        sf.write(p, music_like(3.0, 16000, 1).T, 16000)
        paths.append(p if k else str(p))
    for sr in (None, 16000):
        with pytest.raises(InvalidInputError, match="score_files") as ei:
            tiny.score(container(paths), sr=sr)
        assert ei.value.reason == "wrong_type"


def test_bytes_and_binary_file_objects_are_read_as_files(tmp_path: Path, tiny: Detector) -> None:
    p = tmp_path / "x.flac"
    sf.write(p, music_like(4.0, 22050, 2).T, 22050)
    ref = tiny.score(p)
    data = p.read_bytes()
    for audio in (data, bytearray(data), memoryview(data), io.BytesIO(data)):
        s = tiny.score(audio)
        assert s.p_ai == ref.p_ai and s.duration_s == ref.duration_s
    assert tiny.score(data).path is None
    with open(p, "rb") as fh:
        assert tiny.score(fh).p_ai == ref.p_ai
    with open(p, "r", encoding="latin-1") as fh, pytest.raises(InvalidInputError, match="binary mode"):
        tiny.score(fh)
    with pytest.raises(AudioLoadError) as ei:
        tiny.score(b"")
    assert ei.value.reason == "empty" and "empty" in str(ei.value)
    with pytest.raises(AudioLoadError) as ei:
        tiny.score(b"not audio at all" * 10)
    assert ei.value.reason == "not_audio"


@pytest.mark.parametrize("audio_kind", ["path", "bytes", "file"])
def test_sr_with_a_file_is_refused_not_ignored(tmp_path: Path, tiny: Detector, audio_kind: str) -> None:
    p = tmp_path / "x.wav"
    sf.write(p, music_like(3.0, 44100, 1).T, 44100)
    audio = {"path": p, "bytes": p.read_bytes(), "file": io.BytesIO(p.read_bytes())}[audio_kind]
    for sr in (44100, 16000):  # also when it equals the file's own rate: sr belongs to arrays only
        with pytest.raises(InvalidInputError, match="sr=") as ei:
            tiny.score(audio, sr=sr)
        assert ei.value.reason == "sample_rate" and "array" in str(ei.value)


@pytest.mark.parametrize("shape", [(0,), (1, 0), (2, 0), (0, 2), (5, 0), (0, 0)])
def test_an_empty_array_says_empty(tiny: Detector, shape) -> None:
    with pytest.raises(AudioLoadError) as ei:
        tiny.score(np.zeros(shape, dtype=np.float32), sr=16000)
    assert ei.value.reason == "empty" and "empty" in str(ei.value)
    with pytest.raises(AudioLoadError, match="empty"):
        tiny.score([], sr=16000)


@pytest.mark.parametrize("thing", [None, 3.5, {"y": [0.0]}, object()])
def test_things_that_are_not_audio_are_typed_errors(tiny: Detector, thing) -> None:
    with pytest.raises(InvalidInputError, match="cannot score"):
        tiny.score(thing, sr=16000)


def test_float_input_at_int16_scale_is_flagged_and_warned(tiny: Detector) -> None:
    y = music_like(4.0, 16000, 2)  # peak 0.5
    ref = tiny.score(y, sr=16000, cues=True)
    assert "beyond_full_scale" not in ref.flags
    with pytest.warns(BeyondFullScaleWarning, match="full scale"):
        s = tiny.score(y * 32768, sr=16000, cues=True)
    assert "beyond_full_scale" in s.flags
    assert s.p_ai == pytest.approx(ref.p_ai, abs=1e-4)  # the score itself ignores gain
    # ... but the level cues do not, and the score says so next to them
    assert s.cues["integrated_loudness_lufs"] > ref.cues["integrated_loudness_lufs"] + 80
    # a float master a little over full scale is not flagged
    with warnings.catch_warnings():
        warnings.simplefilter("error", BeyondFullScaleWarning)
        assert "beyond_full_scale" not in tiny.score(y * 3.0, sr=16000).flags  # peak 1.5
    with pytest.warns(BeyondFullScaleWarning):
        extract_cues(y * 32768, 16000)


def test_beyond_full_scale_float_files_are_flagged_too(tmp_path: Path, tiny: Detector) -> None:
    p = tmp_path / "f.wav"
    sf.write(p, (music_like(3.0, 16000, 1) * 32768).T, 16000, subtype="FLOAT")
    with pytest.warns(BeyondFullScaleWarning):
        assert "beyond_full_scale" in tiny.score(p).flags
    values, flags = file_cues(p)
    assert flags == ["beyond_full_scale"] and math.isfinite(values["crest_factor_db"])


@pytest.mark.parametrize("dtype", [np.int16, np.int32])
def test_integer_arrays_are_scaled_by_their_full_scale(tiny: Detector, dtype) -> None:
    y = music_like(4.0, 16000, 2)
    full = float(2 ** (8 * np.dtype(dtype).itemsize - 1))
    ints = np.round(y * (full - 1)).astype(dtype)
    a = tiny.score(ints, sr=16000)
    b = tiny.score(ints.astype(np.float64) / full, sr=16000)
    assert "beyond_full_scale" not in a.flags
    assert a.p_ai == pytest.approx(b.p_ai, abs=1e-5)


def test_unsigned_pcm_is_offset_binary() -> None:
    np.testing.assert_allclose(validate_samples(np.array([0, 128, 255], dtype=np.uint8))[0], [-1.0, 0.0, 127 / 128])
    np.testing.assert_allclose(validate_samples(np.array([0, 32768, 65535], dtype=np.uint16))[0], [-1.0, 0.0, 32767 / 32768])
    np.testing.assert_allclose(validate_samples(np.array([-32768, 0, 16384], dtype=np.int16))[0], [-1.0, 0.0, 0.5])
    # extract_cues scales integers the same way: uint8 silence (all 128) reads as silence
    assert extract_cues(np.full(8000, 128, dtype=np.uint8), 8000)["integrated_loudness_lufs"] == -70.0


def test_the_shortcut_and_explain_check_inputs_alike(tmp_path: Path, tiny: Detector) -> None:
    from aiaudio.explain import explain

    p = tmp_path / "x.wav"
    sf.write(p, music_like(3.0, 16000, 1).T, 16000)
    with pytest.raises(InvalidInputError, match="sr="):
        aiaudio.score(str(p), 16000)
    with pytest.raises(InvalidInputError, match="score_files"):
        aiaudio.score([str(p), str(p)])
    with pytest.raises(InvalidInputError, match="sample rate"):
        aiaudio.score(music_like(3.0, 16000, 1), sr=44.1)
    with pytest.raises(InvalidInputError, match="sample rate"):
        explain(tiny, music_like(3.0, 16000, 1), 0, saliency=False, interventions=False)
    with pytest.raises(InvalidInputError, match="sr="):
        explain(tiny, p, 16000)
    ex = explain(tiny, p.read_bytes(), saliency=False, interventions=False)
    assert ex.p_ai == tiny.score(p).p_ai


# ------------------------------------------------------------------ property tests

_DTYPES = [np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.bool_, np.complex64]
_GOOD_RATES = st.one_of(
    st.sampled_from([8000, 11025, 16000, 16000.0, np.int32(12000), np.uint16(8000)]),
    st.integers(MIN_SAMPLE_RATE, 24_000),
)
_BAD_RATES = st.one_of(
    st.integers(-10, 2_000_000),
    st.sampled_from([44.1, 0, -1, None, True, "44100", float("nan"), float("inf"), [44100]]),
    st.floats(allow_nan=True, allow_infinity=True),
)
_RATES = st.one_of(_GOOD_RATES, _GOOD_RATES, _BAD_RATES)  # good rates about two times in three


def _elements(dt):
    if np.issubdtype(dt, np.floating):  # any float, or music-like values, or int16 scale
        return st.one_of(st.none(), st.just(st.floats(-1, 1, width=16)), st.just(st.floats(-40000, 40000, width=16)))
    return st.none()


_ARRAYS = st.sampled_from(_DTYPES).flatmap(
    lambda dt: _elements(dt).flatmap(
        lambda el: hnp.arrays(
            dtype=dt,
            shape=st.one_of(
                hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6),
                st.tuples(st.integers(1, 3), st.integers(0, 40000)),
                st.tuples(st.integers(1, 2), st.integers(12000, 40000)),
                st.tuples(st.integers(0, 40000)),
                st.tuples(st.integers(12000, 40000)),
                st.tuples(st.integers(0, 40000), st.integers(1, 3)),
            ),
            elements=el,
            fill=None,
        )
    )
)


def _score_or_typed_error(det: Detector, audio, sr) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", BeyondFullScaleWarning)
            s = det.score(audio, sr=sr)
    except AudioLoadError as e:  # the documented family (ClipTooShortError, InvalidInputError included)
        assert str(e) and isinstance(e.reason, str)
        event(f"{type(e).__name__}: {e.reason}")
        return
    event("Score")
    assert isinstance(s, aiaudio.Score)
    assert math.isfinite(s.p_ai) and math.isfinite(s.logit) and s.segments
    assert s.label in ("ai", "human", "uncertain")


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(arr=_ARRAYS, sr=_RATES)
def test_arbitrary_arrays_and_rates_give_a_score_or_a_typed_error(tiny: Detector, arr: np.ndarray, sr) -> None:
    _score_or_typed_error(tiny, arr, sr)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(
    audio=st.one_of(
        st.binary(max_size=2048),
        st.lists(st.text(max_size=8), min_size=1, max_size=3),
        st.lists(st.floats(width=32), max_size=50),
        st.text(max_size=20).map(lambda t: "/nonexistent/" + t.replace("\x00", "")),
        st.none(),
        st.integers(),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    ),
    sr=_RATES,
)
def test_arbitrary_objects_give_a_score_or_a_typed_error(tiny: Detector, audio, sr) -> None:
    _score_or_typed_error(tiny, audio, sr)


# ------------------------------------------------------------------ bounded memory: cues and explain


@pytest.fixture(scope="module")
def two_hours(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("long") / "two_hours.flac"
    _tone_and_silence(p, 120)  # 7.2 M samples at 1 kHz, about 2 MB of FLAC
    return p


def test_file_cues_of_a_two_hour_file_stay_within_max_analysis_s(two_hours: Path) -> None:
    whole_samples_bytes = 120 * 60 * 1000 * 4  # float32: what holding the file alone would take
    tracemalloc.start()
    try:
        values, flags = file_cues(two_hours)  # default: the first MAX_ANALYSIS_S seconds
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert flags == ["cues_truncated"]
    assert peak < 0.6 * whole_samples_bytes, f"peak {peak / 1e6:.1f} MB"
    head, _ = load_audio(two_hours, duration=MAX_ANALYSIS_S)
    assert values == extract_cues(head, 1000)  # exactly the cues of the first 10 minutes
    short_values, short_flags = file_cues(two_hours, max_analysis_s=60)
    assert short_flags == ["cues_truncated"] and short_values == extract_cues(head[:, :60_000], 1000)


def test_cues_command_flags_files_longer_than_the_cap(two_hours: Path, tmp_path: Path) -> None:
    import csv

    from aiaudio.cli import main

    out = tmp_path / "c.csv"
    assert main(["cues", str(two_hours), "--max-analysis-s", "60", "-o", str(out)]) == 0
    row = next(csv.DictReader(out.open()))
    assert row["error"] == "" and row["flags"] == "cues_truncated"


@pytest.fixture(scope="module")
def ninety_s(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("mid") / "ninety.flac"
    _tone_and_silence(p, 1.5)
    return p


def test_score_with_cues_reads_at_most_max_analysis_s_into_memory(ninety_s: Path, tiny: Detector, monkeypatch) -> None:
    seen: list[tuple[int, ...]] = []
    import aiaudio.inputs

    real = aiaudio.inputs._cues

    def spy(y, sr):
        seen.append((y.shape, sr))
        return real(y, sr)

    monkeypatch.setattr(aiaudio.inputs, "_cues", spy)
    plain = tiny.score(ninety_s)
    capped = tiny.score(ninety_s, cues=True, max_analysis_s=20)
    assert seen == [((1, 20_000), 1000)]
    assert "cues_truncated" in capped.flags and "cues_truncated" not in plain.flags
    assert capped.p_ai == plain.p_ai and capped.duration_s == pytest.approx(90.0, abs=1e-3)  # the score covers it all
    head, _ = load_audio(ninety_s, duration=20)
    assert capped.cues == extract_cues(head, 1000)
    whole = tiny.score(ninety_s, cues=True, max_analysis_s=None)
    assert seen[-1] == ((1, 90_000), 1000) and "cues_truncated" not in whole.flags
    assert whole.cues == extract_cues(load_audio(ninety_s)[0], 1000)
    default = tiny.score(ninety_s, cues=True)  # 90 s < MAX_ANALYSIS_S: all of it
    assert default.cues == whole.cues and "cues_truncated" not in default.flags
    with pytest.raises(ValueError, match="max_analysis_s"):
        tiny.score(ninety_s, cues=True, max_analysis_s=0)


def test_explain_analyses_at_most_max_analysis_s_and_says_so(ninety_s: Path, tiny: Detector, monkeypatch) -> None:
    xm = importlib.import_module("aiaudio.explain")  # `import aiaudio.explain as xm` gives the function

    xa = importlib.import_module("aiaudio.explain.attribution")  # where every cue measurement of an explanation goes

    seen: list[int] = []
    real = xa._cue_values
    monkeypatch.setattr(xa, "_cue_values", lambda y, sr: seen.append(np.asarray(y).shape[-1]) or real(y, sr))
    ex = xm.explain(tiny, ninety_s, max_analysis_s=20, intervention_s=10, max_occlusion_passes=40)
    assert seen and max(seen) <= 20_000  # no cue ever saw more than the first 20 s
    assert ex.analysed_s == pytest.approx(20.0) and "analysis_truncated" in ex.flags
    ref = tiny.score(ninety_s)
    assert ex.p_ai == ref.p_ai and len(ex.timeline) == len(ref.segments) == 45  # the score covers all 90 s
    assert ex.saliency is not None and max(ex.saliency.col_end_s) <= 20.0 + 1e-6
    assert all(e.excerpt_end_s <= 20.0 + 1e-6 for e in ex.effects if e.measured)
    assert any(e.measured for e in ex.effects)
    assert "first 20 s" in ex.summary
    assert ex.to_dict()["analysed_s"] == pytest.approx(20.0)
    full = xm.explain(tiny, ninety_s, max_analysis_s=None, saliency=False, interventions=False)
    assert full.analysed_s == pytest.approx(90.0) and "analysis_truncated" not in full.flags


def test_a_good_wav_in_a_folder_named_truncated_loads(tmp_path: Path) -> None:
    """libsndfile's log starts with the file's name: words in the path are no sign of damage."""
    d = tmp_path / "truncated, should be too large"
    d.mkdir()
    p = d / "song.wav"
    y = music_like(1.0, 16000, 1)
    sf.write(p, y.T, 16000, subtype="FLOAT")
    out, _ = load_audio(p)
    np.testing.assert_array_equal(out, y)
