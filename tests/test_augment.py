"""Augmentation transforms: known answers on synthetic signals (no files from ../shared)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

from aiaudio.training.augment import (
    ROBUSTNESS_TRANSFORMS,
    AugmentConfig,
    Augmenter,
    EQBand,
    add_noise,
    compress,
    eq,
    gain,
    lowpass,
    pitch_shift,
    reencode,
    resample_through,
    time_stretch,
)

from conftest import music_like


def white(seconds: float, sr: int, channels: int = 1, seed: int = 0, level: float = 0.1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (level * rng.standard_normal((channels, int(seconds * sr)))).astype(np.float32)


def sine(freq: float, seconds: float, sr: int, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def band_db(y: np.ndarray, ref: np.ndarray, sr: int, lo: float, hi: float = np.inf) -> float:
    """Energy of ``y`` in [lo, hi) Hz relative to that of ``ref`` there (dB), Welch spectra."""
    f, P = scipy.signal.welch(np.asarray(y).reshape(-1, np.asarray(y).shape[-1]).mean(0), sr, nperseg=4096)
    _, R = scipy.signal.welch(np.asarray(ref).reshape(-1, np.asarray(ref).shape[-1]).mean(0), sr, nperseg=4096)
    m = (f >= lo) & (f < hi)
    return float(10 * np.log10(P[m].sum() / R[m].sum()))


def peak_freq(y: np.ndarray, sr: int) -> float:
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y)), 8 * len(y)))
    return float(np.argmax(spec) * sr / (8 * len(y)))


def crest_db(y: np.ndarray) -> float:
    return float(20 * np.log10(np.abs(y).max() / np.sqrt(np.mean(np.square(y, dtype=np.float64)))))


# --------------------------------------------------------------------------- codecs


@pytest.mark.parametrize(
    "codec,bitrate",
    [("mp3", 64_000), ("mp3", 128_000), ("aac", 128_000), ("m4a", 128_000), ("opus", 64_000)],
)
def test_reencode_keeps_length_and_alignment(codec, bitrate):
    sr = 44100
    x = music_like(2.0, sr, channels=2)
    y, out_sr = reencode(x, sr, codec, bitrate)
    assert out_sr == sr
    assert y.shape == x.shape and y.dtype == np.float32
    # time-aligned: strong correlation at zero lag, and zero lag is the best lag
    for ch in range(2):
        assert np.corrcoef(x[ch], y[ch])[0, 1] > 0.9
    xc = scipy.signal.correlate(y[0], x[0], mode="full", method="fft")
    lags = scipy.signal.correlation_lags(len(y[0]), len(x[0]), mode="full")
    near = np.abs(lags) <= 2048
    assert lags[near][np.argmax(xc[near])] == 0


@pytest.mark.parametrize("sr", [16000, 22050, 32000])
def test_reencode_other_rates_and_fast(sr):
    x = music_like(1.0, sr, channels=1)
    for codec in ("mp3", "aac", "opus"):
        y, out_sr = reencode(x, sr, codec, 96_000, fast=True)
        assert out_sr == sr and y.shape == x.shape
        assert np.corrcoef(x[0], y[0])[0, 1] > 0.9


def test_mp3_64k_band_limits_like_lame():
    # Measured: LAME at 64 kbit/s puts its low-pass near 16.7 kHz for mono 44.1 kHz input
    # (near 11 kHz for stereo); white noise shows it plainly.
    sr = 44100
    x = white(3.0, sr)
    y, _ = reencode(x, sr, "mp3", 64_000)
    assert band_db(y, x, sr, 17500) < -40
    assert band_db(y, x, sr, 1000, 12000) > -1.5  # the band below passes


def test_reencode_rejects_unknown_codec():
    with pytest.raises(ValueError, match="unknown codec"):
        reencode(np.zeros((1, 1000), np.float32), 16000, "wma", 64_000)


# --------------------------------------------------------------------------- band limits


def test_lowpass_8k_is_steep_and_flat():
    sr = 44100
    x = white(3.0, sr)
    y = lowpass(x, sr, 8000)
    assert y.shape == x.shape and y.dtype == np.float32
    assert band_db(y, x, sr, 9000) < -40
    s = sine(1000, 1.0, sr)
    out = lowpass(s, sr, 8000)
    ratio_db = 20 * np.log10(np.std(out[2000:-2000]) / np.std(s[2000:-2000]))
    assert abs(ratio_db) < 0.5


def test_lowpass_above_nyquist_is_identity():
    x = white(0.5, 16000)
    np.testing.assert_array_equal(lowpass(x, 16000, 9000), x)


def test_resample_through_16k_removes_everything_above_8k():
    sr = 44100
    x = white(3.0, sr, channels=2)
    y = resample_through(x, sr, 16000)
    assert y.shape == x.shape
    assert band_db(y, x, sr, 8100) < -60
    assert band_db(y, x, sr, 500, 7000) > -0.5
    np.testing.assert_array_equal(resample_through(x, sr, 48000), x)


# --------------------------------------------------------------------------- level, EQ, dynamics


def test_gain_is_exact():
    x = music_like(0.5, 16000, channels=2)
    np.testing.assert_allclose(gain(x, -20.0), x * 0.1, rtol=1e-6)
    np.testing.assert_allclose(gain(x, 6.0206), x * 2.0, rtol=1e-4)
    assert gain(x, 3.0).dtype == np.float32


def test_eq_peak_and_shelves_known_gains():
    sr = 16000
    s1k = sine(1000, 1.0, sr)
    s7k = sine(7000, 1.0, sr)

    def change_db(y, ref):
        return 20 * np.log10(np.std(y[2000:]) / np.std(ref[2000:]))

    assert change_db(eq(s1k, sr, [EQBand("peak", 1000, 6.0, 1.0)]), s1k) == pytest.approx(6.0, abs=0.1)
    assert change_db(eq(s1k, sr, [("peak", 1000, -4.0, 2.0)]), s1k) == pytest.approx(-4.0, abs=0.1)
    assert change_db(eq(s7k, sr, [("highshelf", 1000, 6.0)]), s7k) == pytest.approx(6.0, abs=0.2)
    assert change_db(eq(s1k, sr, [("lowshelf", 100, 6.0)]), s1k) == pytest.approx(0.0, abs=0.2)
    with pytest.raises(ValueError, match="kind"):
        eq(s1k, sr, [("bandstop", 1000, 3.0)])


def _dynamic_signal(sr: int) -> np.ndarray:
    """A 200 Hz tone alternating 250 ms loud (peak 0.9) and 250 ms quiet (20 dB lower)."""
    t = np.arange(2 * sr) / sr
    env = np.where((t % 0.5) < 0.25, 1.0, 0.1)
    return (0.9 * env * np.sin(2 * np.pi * 200 * t)).astype(np.float32)


def test_compressor_reduces_dynamics():
    sr = 16000
    x = _dynamic_signal(sr)
    y = compress(x, sr, threshold_db=-20.0, ratio=4.0, attack_ms=2.0, release_ms=50.0)
    assert y.shape == x.shape and y.dtype == np.float32
    assert crest_db(y) < crest_db(x) - 0.3
    loud = (np.arange(x.size) / sr % 0.5) < 0.25

    def spread(z):  # level difference loud - quiet, skipping 60 ms after each change
        t = np.arange(z.size) / sr % 0.25
        ok = t > 0.06
        return 10 * np.log10(np.mean(z[loud & ok] ** 2) / np.mean(z[~loud & ok] ** 2))

    assert spread(x) == pytest.approx(20.0, abs=0.1)
    assert spread(y) < 8.0
    # make-up 'auto' keeps the RMS level
    assert np.sqrt(np.mean(y**2)) == pytest.approx(np.sqrt(np.mean(x**2)), rel=1e-3)


def test_limiter_holds_the_ceiling():
    sr = 16000
    x = _dynamic_signal(sr)
    y = compress(x, sr, threshold_db=-6.0, ratio=np.inf, attack_ms=1.0, release_ms=50.0, makeup=0.0, knee_db=0.0)
    assert 20 * np.log10(np.abs(y).max()) <= -6.0 + 0.05
    # nothing below the threshold is touched
    quiet = np.abs(x).max() * 0.1
    z = compress(x * 0.1, sr, threshold_db=20 * np.log10(quiet) + 10, ratio=4.0, makeup=0.0)
    np.testing.assert_allclose(z, x * 0.1, atol=1e-7)


# --------------------------------------------------------------------------- pitch, tempo, noise


def test_pitch_shift_octave_doubles_frequency():
    sr = 16000
    x = sine(440, 2.0, sr)
    y = pitch_shift(x, sr, 12.0)
    assert y.shape == x.shape
    assert peak_freq(y[4000:-4000], sr) == pytest.approx(880, rel=0.01)
    y2 = pitch_shift(x[None], sr, -1.0)
    assert y2.shape == (1, x.size)
    assert peak_freq(y2[0, 4000:-4000], sr) == pytest.approx(440 * 2 ** (-1 / 12), rel=0.01)


def test_time_stretch_shortens_and_keeps_pitch():
    sr = 16000
    x = sine(440, 2.0, sr)[None]
    y = time_stretch(x, sr, 1.05)
    assert y.shape == (1, round(x.shape[1] / 1.05))
    assert 1 - y.shape[1] / x.shape[1] == pytest.approx(0.0476, abs=0.001)
    assert peak_freq(y[0, 4000:-4000], sr) == pytest.approx(440, rel=0.01)
    assert time_stretch(x, sr, 0.95).shape[1] == round(x.shape[1] / 0.95)


@pytest.mark.parametrize("color", ["white", "pink"])
@pytest.mark.parametrize("snr", [10.0, 30.0])
def test_add_noise_gives_the_snr_asked(color, snr):
    x = music_like(1.0, 16000, channels=2)
    y = add_noise(x, snr, np.random.default_rng(3), color=color)
    n = y - x
    got = 10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean(n.astype(np.float64) ** 2))
    assert got == pytest.approx(snr, abs=0.5)
    np.testing.assert_array_equal(y, add_noise(x, snr, np.random.default_rng(3), color=color))
    silent = np.zeros((1, 100), np.float32)
    np.testing.assert_array_equal(add_noise(silent, snr, np.random.default_rng(0)), silent)


# --------------------------------------------------------------------------- robustness conditions


def test_robustness_transforms_names():
    assert list(ROBUSTNESS_TRANSFORMS) == [
        "original", "mp3_64k", "mp3_128k", "aac_128k", "opus_64k", "resample_16k", "resample_22k",
        "lowpass_8k", "pitch_+1", "pitch_-1", "tempo_+5%", "tempo_-5%", "gain_-10db", "noise_30db", "loud_limit",
    ]


def test_loud_limit_is_a_loud_brick_walled_master():
    sr = 22050
    x = 0.3 * music_like(3.0, sr, channels=2)
    y, _ = ROBUSTNESS_TRANSFORMS["loud_limit"](x, sr)
    rms = lambda z: float(np.sqrt(np.mean(np.square(z, dtype=np.float64))))  # noqa: E731
    assert float(np.max(np.abs(y))) <= 10 ** (-0.3 / 20) + 0.02  # the limiter's ceiling
    assert 20 * np.log10(rms(y) / rms(x)) > 6.0  # much louder
    crest = lambda z: 20 * np.log10(float(np.max(np.abs(z))) / rms(z))  # noqa: E731
    assert crest(y) < crest(x) - 3.0  # and squashed


@pytest.mark.parametrize("name", list(ROBUSTNESS_TRANSFORMS))
@pytest.mark.parametrize("channels", [1, 2])
def test_every_robustness_transform_is_finite_float32(name, channels):
    sr = 22050
    x = music_like(1.0, sr, channels=channels)
    y, out_sr = ROBUSTNESS_TRANSFORMS[name](x, sr)
    assert out_sr == sr
    assert y.dtype == np.float32 and y.ndim == 2 and y.shape[0] == channels
    assert np.all(np.isfinite(y))
    if not name.startswith("tempo"):
        assert y.shape == x.shape
    y2, _ = ROBUSTNESS_TRANSFORMS[name](x, sr)
    np.testing.assert_array_equal(y, y2)  # deterministic (noise has a fixed seed)


# --------------------------------------------------------------------------- random chain


def test_augmenter_is_deterministic():
    sr = 22050
    x = music_like(1.5, sr, channels=2)
    aug = Augmenter(AugmentConfig(p_codec=0.5, p_pitch=0.3, p_tempo=0.3))
    outs = []
    for seed in range(6):
        a, sr_a = aug(x, sr, np.random.default_rng(seed))
        b, _ = aug(x, sr, np.random.default_rng(seed))
        np.testing.assert_array_equal(a, b)
        assert sr_a == sr and a.dtype == np.float32 and np.all(np.isfinite(a))
        outs.append(a)
    # different seeds give different chains
    assert any(not np.array_equal(outs[0], o) or o.shape != outs[0].shape for o in outs[1:])


def test_training_draws_are_label_blind(tmp_path):
    """The same file labelled AI and labelled human gets the same augmented training draws; only y differs."""
    import torch

    from aiaudio.audio import write_audio
    from aiaudio.training.data import Item, TrainSegments
    from aiaudio.frontend import FrontendConfig

    path = tmp_path / "song.wav"
    write_audio(path, music_like(3.0, 22050, channels=2), 22050)
    fe = FrontendConfig(sample_rate=16000, segment_s=1.0, segment_hop_s=1.0, min_duration_s=0.5)
    aug = Augmenter(AugmentConfig(p_codec=0.0))

    def draws(label: int, augment):
        gen = "suno" if label else "human"
        ds = TrainSegments([Item(str(path), label, gen, "g", "s")], fe, segments_per_item=4, augment=augment, seed=4)
        return [ds[i] for i in range(len(ds))]

    as_ai, as_human, plain = draws(1, aug), draws(0, aug), draws(0, None)
    for (xa, ya), (xh, yh) in zip(as_ai, as_human):
        assert torch.equal(xa, xh) and (ya.item(), yh.item()) == (1.0, 0.0)
    assert any(not torch.equal(xa, xp) for (xa, _), (xp, _) in zip(as_ai, plain))  # the augmentation ran


def test_augmenter_plan_respects_probabilities():
    always = AugmentConfig(p_eq=1, p_compress=1, p_pitch=1, p_tempo=1, p_bandlimit=1, p_codec=1, p_noise=1, resample_share=0.0)
    names = [n for n, _ in Augmenter(always).plan(44100, np.random.default_rng(0))]
    assert names == ["eq", "compress", "pitch_shift", "time_stretch", "lowpass", "reencode", "gain", "add_noise"]
    never = AugmentConfig(p_eq=0, p_compress=0, p_pitch=0, p_tempo=0, p_bandlimit=0, p_codec=0, p_noise=0)
    assert [n for n, _ in Augmenter(never).plan(44100, np.random.default_rng(0))] == ["gain"]
    y, _ = Augmenter(never)(np.ones((2, 100), np.float32) * 0.1, 16000, np.random.default_rng(0))
    assert y.shape == (1, 100)  # mono by default


def test_augment_config_roundtrip_and_validation():
    cfg = AugmentConfig(p_codec=0.25, bitrates_kbps=(64, 128), mono=False)
    d = cfg.to_dict()
    assert d["bitrates_kbps"] == [64, 128]
    import json

    back = AugmentConfig.from_dict(json.loads(json.dumps(d)))
    assert back == cfg
    assert AugmentConfig.from_dict({}) == AugmentConfig()
    with pytest.raises(ValueError, match="unknown augmentation settings"):
        AugmentConfig.from_dict({"p_reverb": 0.5})
    with pytest.raises(ValueError, match="probability"):
        AugmentConfig(p_codec=1.5)
    with pytest.raises(ValueError, match="unknown codecs"):
        AugmentConfig(codecs=("wma",))
