"""load_audio / stream_audio: every format and bit depth, every bad input, property tests."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import aiaudio
from aiaudio.audio import (
    AudioLoadError,
    audio_info,
    encode_audio,
    is_silent,
    load_audio,
    load_middle,
    resample,
    stream_audio,
    to_mono,
    validate_samples,
    write_audio,
)

from conftest import music_like

SR = 44100


def _snr_db(ref: np.ndarray, test: np.ndarray) -> float:
    n = min(ref.shape[-1], test.shape[-1])
    err = ref[..., :n] - test[..., :n]
    return 10 * np.log10(np.sum(ref[..., :n] ** 2) / max(np.sum(err**2), 1e-20))


# ------------------------------------------------------------------ lossless formats, exact


@pytest.mark.parametrize(
    "fmt,subtype,tol",
    [
        ("WAV", "PCM_U8", 1 / 64),
        ("WAV", "PCM_16", 1 / 2**14),
        ("WAV", "PCM_24", 1 / 2**22),
        ("WAV", "PCM_32", 1 / 2**30),
        ("WAV", "FLOAT", 1e-7),
        ("WAV", "DOUBLE", 1e-7),
        ("FLAC", "PCM_16", 1 / 2**14),
        ("FLAC", "PCM_24", 1 / 2**22),
        ("AIFF", "PCM_16", 1 / 2**14),
    ],
)
def test_lossless_formats_roundtrip(tmp_path: Path, fmt: str, subtype: str, tol: float) -> None:
    y = music_like(1.5, SR, 2)
    p = tmp_path / f"x.{fmt.lower()}"
    sf.write(p, y.T, SR, format=fmt, subtype=subtype)
    out, sr = load_audio(p)
    assert sr == SR
    assert out.dtype == np.float32
    assert out.shape == y.shape  # channels first
    assert np.max(np.abs(out - y)) <= tol


# ------------------------------------------------------------------ lossy formats, by SNR


@pytest.mark.parametrize(
    "ext,decoder,min_snr",
    [
        ("ogg", "soundfile", 10),  # Vorbis
        ("opus", "soundfile", 10),  # Opus in Ogg
        ("mp3", "soundfile", 10),
        ("m4a", "av", 10),  # AAC in MP4: libsndfile cannot, FFmpeg does
        ("aac", "av", 10),  # raw ADTS AAC
        ("webm", "av", 10),  # Opus in WebM
    ],
)
def test_lossy_formats_decode(tmp_path: Path, ext: str, decoder: str, min_snr: float) -> None:
    y = music_like(2.0, SR, 2)
    p = tmp_path / f"x.{ext}"
    if ext == "ogg":
        sf.write(p, y.T, SR, format="OGG", subtype="VORBIS")
    else:
        write_audio(p, y, SR, bitrate=128_000)
    info = audio_info(p)
    assert info.decoder == decoder
    out, sr = load_audio(p, sr=SR)
    assert sr == SR and out.shape[0] == 2 and out.dtype == np.float32
    # codecs add delay/padding: align by full cross-correlation on channel 0 before comparing
    from scipy import signal

    c = signal.correlate(out[0], y[0], mode="full", method="fft")
    lag = int(signal.correlation_lags(out.shape[1], y.shape[1], mode="full")[np.argmax(c)])
    assert abs(lag) < 0.05 * SR
    shifted = out[:, lag:] if lag >= 0 else np.pad(out, ((0, 0), (-lag, 0)))
    n = min(shifted.shape[1], y.shape[1])
    aligned = shifted[:, :n]
    assert _snr_db(y[:, :n], aligned) > min_snr
    assert abs(out.shape[1] - y.shape[1]) < 0.1 * SR  # length within 100 ms of the original


def test_an_m4a_named_mp3_is_read_by_ffmpeg_from_its_first_byte(tmp_path: Path, monkeypatch) -> None:
    """libsndfile picks its MP3 reader by the name too, and mpg123 resyncs on AAC bytes that look like
    MPEG frames: such a file "opened" as MPEG layer I with a made-up length, read whole only because
    FFmpeg took over at the damage, and a read from its middle gave no samples (one song of the
    sources collection). A 440 Hz tone at 64 kbit/s does the same."""
    t = np.arange(10 * 44100) / 44100
    y = np.tile(0.5 * np.sin(2 * np.pi * 440 * t), (2, 1)).astype(np.float32)
    p = tmp_path / "song.mp3"
    p.write_bytes(encode_audio(y, 44100, "m4a", bitrate=64000))
    info = audio_info(p)
    assert info.decoder == "av" and info.format.startswith("mov,mp4") and info.duration_s == pytest.approx(10.0, abs=0.05)
    whole, sr = load_audio(p)
    mid, _ = load_middle(p, 2.0)
    assert mid.shape == (2, 88200)
    start = int(round((info.duration_s / 2 - 1.0) * sr))
    np.testing.assert_allclose(mid, whole[:, start : start + 88200], atol=1e-6)
    with open(p, "rb") as fh:  # a file object too, its position kept
        fh.seek(5)
        assert audio_info(fh).decoder == "av"
    # without FFmpeg the error says what the file is and what to install
    import aiaudio.audio.decoders as dec

    monkeypatch.setattr(dec, "ffmpeg_available", lambda: False)
    with pytest.raises(AudioLoadError) as e:
        audio_info(p)
    assert e.value.reason == "needs_ffmpeg" and "MP4/M4A" in str(e.value)


def test_file_object_input(tmp_path: Path) -> None:
    y = music_like(1.0, SR, 1)
    buf = io.BytesIO()
    sf.write(buf, y.T, SR, format="FLAC")
    buf.seek(0)
    out, sr = load_audio(buf)
    assert sr == SR and np.max(np.abs(out - y)) < 1e-4
    m4a = io.BytesIO(encode_audio(y, SR, "m4a"))
    out2, sr2 = load_audio(m4a)
    assert sr2 == SR and out2.shape[0] == 1


# ------------------------------------------------------------------ rates, channels, resampling


@pytest.mark.parametrize("sr", [8000, 11025, 16000, 22050, 32000, 44100, 48000, 96000])
def test_any_sample_rate_and_resampling(tmp_path: Path, sr: int) -> None:
    t = np.arange(sr) / sr
    y = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)[None, :]
    p = tmp_path / "x.wav"
    sf.write(p, y.T, sr, subtype="FLOAT")
    native, nsr = load_audio(p)
    assert nsr == sr and native.shape == (1, sr)
    out, osr = load_audio(p, sr=22050)
    assert osr == 22050
    assert abs(out.shape[1] - 22050) <= 1
    # the 1 kHz tone survives at the new rate with its amplitude
    spec = np.abs(np.fft.rfft(out[0, 1000:-1000] * np.hanning(out.shape[1] - 2000)))
    freqs = np.fft.rfftfreq(out.shape[1] - 2000, 1 / 22050)
    assert abs(freqs[np.argmax(spec)] - 1000) < 3
    assert abs(np.sqrt(np.mean(out[0, 1000:-1000] ** 2)) - 0.5 / np.sqrt(2)) < 0.01


@pytest.mark.parametrize("channels", [1, 2, 6])
def test_channels_and_downmix(tmp_path: Path, channels: int) -> None:
    rng = np.random.default_rng(channels)
    y = (0.2 * rng.standard_normal((channels, 8000))).astype(np.float32)
    p = tmp_path / "x.wav"
    sf.write(p, y.T, 16000, subtype="FLOAT")
    out, _ = load_audio(p)
    assert out.shape == (channels, 8000)
    mono, _ = load_audio(p, mono=True)
    assert mono.shape == (1, 8000)
    # documented down-mix: the plain mean of all channels
    np.testing.assert_allclose(mono[0], y.mean(axis=0), atol=1e-6)


def test_offset_and_duration(tmp_path: Path) -> None:
    y = music_like(3.0, 16000, 1)
    p = tmp_path / "x.flac"
    sf.write(p, y.T, 16000, subtype="PCM_24")
    out, _ = load_audio(p, offset=1.0, duration=0.5)
    assert out.shape == (1, 8000)
    np.testing.assert_allclose(out[0], y[0, 16000:24000], atol=1e-6)


def test_load_middle_reads_the_middle_of_the_file(tmp_path: Path, monkeypatch) -> None:
    y = music_like(3.0, 16000, 2)
    p = tmp_path / "x.flac"
    sf.write(p, y.T, 16000, subtype="PCM_24")
    mid, sr = load_middle(p, 1.0)  # 3 s: starts at 1.0 s
    assert sr == 16000 and mid.shape == (2, 16000)
    np.testing.assert_allclose(mid, y[:, 16000:32000], atol=1e-6)
    whole, _ = load_middle(p, 5.0)  # longer than the file: all of it
    np.testing.assert_allclose(whole, y, atol=1e-6)
    told, _ = load_middle(p, 1.0, duration_s=2.0)  # a known duration (a manifest's) is not read again
    np.testing.assert_allclose(told, y[:, 8000:24000], atol=1e-6)
    mono8k, sr8k = load_middle(p, 1.0, sr=8000, mono=True)
    assert sr8k == 8000 and mono8k.shape == (1, 8000)
    np.testing.assert_array_equal(mono8k, load_audio(p, sr=8000, mono=True, offset=1.0, duration=1.0)[0])
    # a header that states no length: decoded whole, the same middle kept
    import aiaudio.audio.read as read

    import dataclasses

    unknown = dataclasses.replace(audio_info(p), duration_s=None)
    monkeypatch.setattr(read, "audio_info", lambda f: unknown)
    np.testing.assert_array_equal(load_middle(p, 1.0)[0], mid)
    for bad in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            load_middle(p, bad)


def test_stream_blocks_join_to_load_and_stay_bounded(tmp_path: Path) -> None:
    y = music_like(10.0, SR, 2)
    p = tmp_path / "long.flac"
    sf.write(p, y.T, SR, subtype="PCM_24")
    whole, _ = load_audio(p, sr=16000)
    with stream_audio(p, sr=16000, block_s=1.0) as st:
        blocks = list(st)
        assert st.sr == 16000 and st.native_sr == SR and st.channels == 2
    # memory is bounded by the block size: no block is much more than 1 s at the output rate
    assert max(b.shape[1] for b in blocks) <= 16000 + 512  # + the resampler tail on the last block
    assert len(blocks) >= 9
    joined = np.concatenate(blocks, axis=1)
    np.testing.assert_array_equal(joined, whole)
    # streamed resampling equals one-shot resampling away from the very ends
    native, _ = load_audio(p)
    ref = resample(native, SR, 16000)
    assert abs(ref.shape[1] - joined.shape[1]) <= 1
    np.testing.assert_allclose(joined[:, 100:-100], ref[:, 100 : joined.shape[1] - 100], atol=2e-3)


def test_stream_can_only_be_iterated_once(tmp_path: Path) -> None:
    p = tmp_path / "x.wav"
    sf.write(p, music_like(1.0, 8000, 1).T, 8000)
    st = stream_audio(p)
    list(st)
    with pytest.raises(RuntimeError):
        list(st)
    st.close()


# ------------------------------------------------------------------ bad inputs


def _expect(path_or_file, reason: str, fragment: str) -> AudioLoadError:
    with pytest.raises(AudioLoadError) as ei:
        load_audio(path_or_file)
    assert ei.value.reason == reason, str(ei.value)
    assert fragment.lower() in str(ei.value).lower()
    return ei.value


def test_missing_file(tmp_path: Path) -> None:
    e = _expect(tmp_path / "nope.wav", "missing", "not found")
    assert "nope.wav" in str(e)


def test_directory(tmp_path: Path) -> None:
    _expect(tmp_path, "directory", "is a directory")


def test_empty_file(tmp_path: Path) -> None:
    p = tmp_path / "empty.mp3"
    p.write_bytes(b"")
    e = _expect(p, "empty", "empty")
    assert "empty.mp3" in str(e)


def test_zero_length_wav(tmp_path: Path) -> None:
    p = tmp_path / "zero.wav"
    sf.write(p, np.zeros((0, 2), dtype=np.float32), SR)
    _expect(p, "empty", "zero audio samples")


@pytest.mark.parametrize("ext", ["wav", "flac", "mp3", "ogg", "opus", "m4a"])
def test_truncated_file(tmp_path: Path, ext: str) -> None:
    y = music_like(3.0, SR, 2)
    full = tmp_path / f"full.{ext}"
    write_audio(full, y, SR)
    data = full.read_bytes()
    p = tmp_path / f"cut.{ext}"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioLoadError) as ei:
        load_audio(p)
    assert ei.value.reason in ("corrupt", "not_audio")
    assert "cut." + ext in str(ei.value)


@pytest.mark.parametrize("ext", ["flac", "mp3", "ogg", "opus", "m4a"])
def test_corrupt_middle(tmp_path: Path, ext: str) -> None:
    y = music_like(3.0, SR, 2)
    p = tmp_path / f"x.{ext}"
    write_audio(p, y, SR)
    data = bytearray(p.read_bytes())
    rng = np.random.default_rng(1)
    i = len(data) // 3
    data[i : i + 2000] = rng.integers(0, 256, 2000, dtype=np.uint8).tobytes()
    p.write_bytes(bytes(data))
    with pytest.raises(AudioLoadError) as ei:
        load_audio(p)
    assert ei.value.reason in ("corrupt", "not_audio")


@pytest.mark.parametrize(
    "content",
    [
        b"This is plain text, not audio at all.\n" * 20,
        b"\x89PNG\r\n\x1a\n" + bytes(300),
        b"RIFF\x24\x00\x00\x00WAVEjunkjunkjunk" + bytes(100),
    ],
    ids=["text", "png", "broken-riff"],
)
def test_non_audio_renamed_wav(tmp_path: Path, content: bytes) -> None:
    p = tmp_path / "song.wav"
    p.write_bytes(content)
    with pytest.raises(AudioLoadError) as ei:
        load_audio(p)
    assert "song.wav" in str(ei.value)
    assert ei.value.reason in ("not_audio", "corrupt", "empty")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_samples_in_float_wav(tmp_path: Path, bad: float) -> None:
    y = music_like(1.0, 8000, 2).astype(np.float64)
    y[1, 4000] = bad
    p = tmp_path / "x.wav"
    sf.write(p, y.T, 8000, subtype="DOUBLE")
    _expect(p, "nonfinite", "nan or infinite")


def test_silence_loads_and_is_flagged(tmp_path: Path) -> None:
    p = tmp_path / "silence.wav"
    sf.write(p, np.zeros((SR * 3, 2), dtype=np.float32), SR)
    y, sr = load_audio(p)  # silence is not an error
    assert y.shape == (2, SR * 3)
    assert is_silent(y)
    assert not is_silent(music_like(1.0))


def test_validate_samples_rejects_bad_arrays() -> None:
    with pytest.raises(AudioLoadError):
        validate_samples(np.zeros(0))
    with pytest.raises(AudioLoadError):
        validate_samples(np.zeros((2, 3, 4)))
    with pytest.raises(AudioLoadError):
        validate_samples(np.array([0.0, np.nan]))
    with pytest.raises(AudioLoadError):
        validate_samples(np.array(["a", "b"]))
    with pytest.raises(AudioLoadError, match="channels first"):
        validate_samples(np.zeros((1000, 2)))
    ints = validate_samples(np.array([0, 16384, -32768], dtype=np.int16))
    np.testing.assert_allclose(ints[0], [0, 0.5, -1.0])


def test_to_mono_and_resample_shapes() -> None:
    y = music_like(0.5, 16000, 2)
    assert to_mono(y).shape == (1, 8000)
    assert to_mono(y[0]).shape == (1, 8000)
    assert resample(y, 16000, 8000).shape == (2, 4000)
    assert resample(y[0], 16000, 48000).shape == (24000,)


@pytest.mark.parametrize("sr, mono", [(None, False), (None, True), (16000, True), (16000, False), (44100, False)])
def test_stream_blocks_are_contiguous_float32_whatever_the_reader(tmp_path: Path, sr, mono) -> None:
    """libsndfile's reader hands out views of its interleaved frames; what a stream yields (and
    what it keeps for the cues) is contiguous float32 (channels, n), equal to the whole file."""
    y = music_like(3.3, 44100, 2, seed=4)
    p = tmp_path / "s.flac"
    write_audio(p, y, 44100)
    whole, rate = load_audio(p, sr=sr, mono=mono)
    with stream_audio(p, sr=sr, mono=mono, block_s=1.0) as st:
        kept = []
        st._tap = kept.append
        blocks = list(st)
    assert all(b.dtype == np.float32 and b.flags.c_contiguous and b.ndim == 2 for b in blocks)
    assert all(k.flags.c_contiguous for k in kept) and sum(k.shape[1] for k in kept) == y.shape[1]
    np.testing.assert_array_equal(np.concatenate(blocks, axis=1), whole)
    assert blocks[0].shape[0] == (1 if mono else 2)


@settings(max_examples=100, deadline=None)
@given(
    y=hnp.arrays(np.float32, st.tuples(st.just(2), st.integers(1, 300)),
                 elements=st.floats(-4.0, 4.0, width=32, allow_nan=False)),
    strided=st.booleans(),
)
def test_stereo_down_mix_is_exactly_the_mean(y: np.ndarray, strided: bool) -> None:
    """to_mono's (L + R) * 0.5 for two channels gives the float32 mean bit for bit, also on a
    transposed view of interleaved frames (what libsndfile's reader yields)."""
    if strided:
        y = np.ascontiguousarray(y.T).T
    got = to_mono(y)
    assert got.shape == (1, y.shape[1]) and got.dtype == np.float32
    np.testing.assert_array_equal(got, y.mean(axis=0, keepdims=True, dtype=np.float32))


# ------------------------------------------------------------------ property tests


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(min_size=0, max_size=4096))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    try:
        y, sr = load_audio(io.BytesIO(data))
    except AudioLoadError:
        return
    assert y.dtype == np.float32 and y.ndim == 2 and y.shape[1] > 0 and sr > 0
    assert np.all(np.isfinite(y))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(min_size=1, max_size=2048), prefix=st.sampled_from([b"RIFF", b"fLaC", b"OggS", b"ID3", b"\xff\xfb"]))
def test_arbitrary_bytes_behind_magic_numbers_never_crash(data: bytes, prefix: bytes) -> None:
    try:
        y, _ = load_audio(io.BytesIO(prefix + data))
    except AudioLoadError:
        return
    assert y.ndim == 2 and np.all(np.isfinite(y))


@settings(max_examples=100, deadline=None)
@given(
    arr=hnp.arrays(
        dtype=st.sampled_from([np.float32, np.float64, np.int16, np.int32, np.uint8, np.bool_]),
        shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=40),
        elements=None,
    )
)
def test_arbitrary_arrays_validate_or_raise_audio_load_error(arr: np.ndarray) -> None:
    try:
        out = validate_samples(arr)
    except AudioLoadError:
        return
    assert out.dtype == np.float32 and out.ndim == 2 and out.size > 0
    assert np.all(np.isfinite(out))


def test_errors_are_value_errors_and_aiaudio_errors() -> None:
    assert issubclass(AudioLoadError, ValueError)
    assert issubclass(AudioLoadError, aiaudio.AiaudioError)
    assert issubclass(aiaudio.ClipTooShortError, AudioLoadError)


def _load_outcome(path: Path) -> tuple[str, str]:
    """("ok", "") or (reason, message) of ``load_audio(path)``."""
    try:
        load_audio(path)
    except AudioLoadError as e:
        return e.reason, str(e)
    return "ok", ""


def _as_nobody(paths: list[Path]) -> list[tuple[str, str]]:
    """:func:`_load_outcome` of each path in a forked child that has dropped root for ``nobody``."""
    import json
    import pwd

    nobody = pwd.getpwnam("nobody")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns into pytest
        code = 1
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            os.write(w, json.dumps([_load_outcome(p) for p in paths]).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as fh:
        data = fh.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the unprivileged child failed"
    return [tuple(o) for o in json.loads(data)]


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX permissions")
def test_permission_denied() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:  # not under pytest's private (0700) base folder
        d = Path(tmp)
        d.chmod(0o755)
        p, readable = d / "x.wav", d / "ok.wav"
        for q in (p, readable):
            sf.write(q, music_like(0.5, 8000, 1).T, 8000)
        p.chmod(0)
        # root reads any file: drop to `nobody` in a child process to meet the permission check
        got = _as_nobody([p, readable]) if os.geteuid() == 0 else [_load_outcome(p), _load_outcome(readable)]
    (reason, message), control = got
    assert control == ("ok", "")  # the folder is reachable: only the file's mode stops the read
    assert reason == "unreadable" and "permission" in message.lower() and "x.wav" in message


# ------------------------------------------------------------------ MP3 without a length header, damaged frames


def _mp3_bytes(y: np.ndarray, sr: int, xing: bool = True, bitrate: int = 128_000) -> bytes:
    """CBR MP3 (LAME) made with PyAV; ``xing=False`` leaves out the Xing/Info length header."""
    import av

    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp3", options={} if xing else {"write_xing": "0"}) as c:
        st = c.add_stream("libmp3lame", rate=sr, layout="stereo")
        st.bit_rate = bitrate
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(y), format="fltp", layout="stereo")
        frame.sample_rate = sr
        frame.pts = 0
        for pkt in [*st.encode(frame), *st.encode(None)]:
            c.mux(pkt)
    return buf.getvalue()


def _id3v2(payload_bytes: int) -> bytes:
    """An ID3v2.3 tag holding one PRIV frame of ``payload_bytes`` (as cover art would)."""
    body = b"aiaudio-test\x00" + bytes(np.random.default_rng(3).integers(0, 256, payload_bytes, dtype=np.uint8))
    frame = b"PRIV" + len(body).to_bytes(4, "big") + b"\x00\x00" + body
    n = len(frame)
    syncsafe = bytes([(n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F])
    return b"ID3\x03\x00\x00" + syncsafe + frame


def _strip_id3v2(data: bytes) -> bytes:
    if data[:3] != b"ID3":
        return data
    s = data[6:10]
    return data[10 + ((s[0] << 21) | (s[1] << 14) | (s[2] << 7) | s[3]) :]


def test_mp3_without_length_header_and_large_tag_loads_whole(tmp_path: Path) -> None:
    # Commercial MP3s: CBR, no Xing/Info header, 100-500 kB of ID3v2 cover art. libsndfile
    # estimates the length from the file size, tag included (here ~12 s for 5 s of audio);
    # the file is complete and FFmpeg reads exactly what it holds.
    y = music_like(5.0, SR, 2)
    p = tmp_path / "cover_art.mp3"
    p.write_bytes(_id3v2(120_000) + _strip_id3v2(_mp3_bytes(y, SR, xing=False)))
    assert sf.info(str(p)).duration > 7.0  # the overstated estimate this test is about
    out, sr = load_audio(p)
    assert sr == SR and out.shape[0] == 2
    assert abs(out.shape[1] / SR - 5.0) < 0.1
    assert _snr_db(y, out[:, 1105:]) > 10 or _snr_db(y, out) > 10  # LAME delays by ~1105 samples


def test_mp3_without_length_header_read_past_libsndfile_estimate(tmp_path: Path) -> None:
    # VBR without a length header (Suno files here): libsndfile takes the length from the
    # first frame's bitrate (here 320k: ~1.5 s) and reads no further; the file holds 5 s.
    y = music_like(5.0, SR, 2)
    loud = _strip_id3v2(_mp3_bytes(y[:, : SR], SR, xing=False, bitrate=320_000))
    rest = _strip_id3v2(_mp3_bytes(y[:, SR:], SR, xing=False, bitrate=64_000))
    p = tmp_path / "vbr_no_header.mp3"
    p.write_bytes(loud + rest)
    assert sf.info(str(p)).duration < 3.0  # the understated estimate this test is about
    out, sr = load_audio(p)
    assert abs(out.shape[1] / SR - 5.0) < 0.15
    assert np.sqrt(np.mean(out[:, -SR:] ** 2)) > 0.05  # the last second is there


def test_mp3_with_a_length_header_is_read_once(tmp_path: Path, monkeypatch) -> None:
    # A Xing/Info frame count is the file's own length: libsndfile reads to it, and no second
    # pass counts FFmpeg's packets (it cost ~17% of an MP3's decoding time); without the
    # header the count still runs (the test above).
    import aiaudio.audio.decoders as dec

    calls: list[int] = []
    real = dec._mp3_holds_more
    monkeypatch.setattr(dec, "_mp3_holds_more", lambda src, n: calls.append(n) or real(src, n))
    y = music_like(3.0, SR, 2)
    with_header, without = tmp_path / "info.mp3", tmp_path / "no_info.mp3"
    with_header.write_bytes(_mp3_bytes(y, SR, xing=True))
    # VBR without a header, as above: libsndfile stops at its estimate, the count finds the rest
    without.write_bytes(_strip_id3v2(_mp3_bytes(y[:, :SR], SR, xing=False, bitrate=320_000))
                        + _strip_id3v2(_mp3_bytes(y[:, SR:], SR, xing=False, bitrate=64_000)))
    a, _ = load_audio(with_header)
    assert calls == [] and abs(a.shape[1] / SR - 3.0) < 0.1
    b, _ = load_audio(without)
    assert len(calls) == 1 and abs(b.shape[1] / SR - 3.0) < 0.15


def test_mp3_with_damaged_frames_loads(tmp_path: Path) -> None:
    # libmpg123 gives up when it finds no frame header within 1024 bytes ("Giving up
    # resync", "Unspecified internal error"); FFmpeg skips the damaged frames and decodes
    # the rest, as the ffmpeg command does. 1500 bytes are 4 frames (0.1 s) of 10 s.
    y = music_like(10.0, SR, 2)
    data = bytearray(_mp3_bytes(y, SR))
    i = len(data) // 2
    data[i : i + 1500] = np.random.default_rng(1).integers(0, 256, 1500, dtype=np.uint8).tobytes()
    p = tmp_path / "bad_frames.mp3"
    p.write_bytes(bytes(data))
    with pytest.raises(RuntimeError):  # what libsndfile alone makes of it
        sf.read(str(p))
    out, sr = load_audio(p)
    assert abs(out.shape[1] / SR - 10.0) < 0.2  # the damaged frames (26 ms each) are lost
    # the audio after the damaged frame is there, not silence
    assert np.sqrt(np.mean(out[:, -SR:] ** 2)) > 0.05


def test_mp3_length_header_still_detects_truncation(tmp_path: Path) -> None:
    # a CBR MP3 whose Info header states 5 s, cut after 3 s: both decoders read 3 s
    y = music_like(5.0, SR, 2)
    data = _mp3_bytes(y, SR)
    p = tmp_path / "cut_clean.mp3"
    p.write_bytes(data[: int(len(data) * 0.6)])
    with pytest.raises(AudioLoadError) as ei:
        load_audio(p)
    assert ei.value.reason == "corrupt"
    assert "length header" in str(ei.value) or "truncated" in str(ei.value)
