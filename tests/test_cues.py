"""Known-answer tests of aiaudio.cues on signals made here (no data files, seeded, fast)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.signal
import scipy.special
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiaudio import cues

SR = 44100


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def sine(freq: float, amp: float, seconds: float, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def two_level_noise(seconds_per_level: float = 10.0, n_levels: int = 6, low_db: float = -35.0,
                    high_db: float = -15.0, sr: int = SR, seed: int = 0) -> np.ndarray:
    """White noise alternating between two RMS levels (dBFS), one level per segment."""
    seg = int(seconds_per_level * sr)
    x = rng(seed).standard_normal(seg * n_levels)
    gains = np.repeat([10 ** ((high_db if i % 2 == 0 else low_db) / 20) for i in range(n_levels)], seg)
    return (x * gains).astype(np.float32)


def block_compressor(x: np.ndarray, threshold_db: float, ratio: float, block: int = 4410) -> np.ndarray:
    """A static compressor with a gain held per 100 ms block (no attack/release smoothing).

    Above ``threshold_db`` (block RMS, dBFS) the output level rises 1/ratio dB per input dB.
    """
    n = (len(x) // block) * block
    b = x[:n].reshape(-1, block).astype(np.float64)
    level = 10 * np.log10(np.mean(b * b, axis=1) + 1e-20)
    gain_db = -(1 - 1 / ratio) * np.maximum(level - threshold_db, 0.0)
    return (b * 10 ** (gain_db[:, None] / 20)).reshape(-1).astype(np.float32)


# --------------------------------------------------------------------------- loudness


@pytest.mark.parametrize("sr", [44100, 48000])
def test_sine_1k_minus20dbfs_loudness_mono_and_stereo(sr):
    # BS.1770-4: a 0 dBFS 1 kHz sine in one channel reads -3.01 LKFS (the -0.691 offset
    # cancels the K-weighting gain at 1 kHz). So -20 dBFS (peak 0.1) reads -23.01 LUFS in
    # one channel, and +3.01 LU more (-20.0) when both stereo channels carry it.
    s = sine(1000.0, 0.1, 10.0, sr)
    assert cues.integrated_loudness(s, sr) == pytest.approx(-23.01, abs=0.1)
    assert cues.integrated_loudness(np.stack([s, s]), sr) == pytest.approx(-20.0, abs=0.1)


def test_integrated_loudness_matches_pyloudnorm():
    import pyloudnorm

    r = rng(1)
    x = two_level_noise(3.0, 4, seed=1)
    y = np.stack([x, 0.5 * np.roll(x, 1000) + 0.01 * r.standard_normal(len(x)).astype(np.float32)])
    ours = cues.integrated_loudness(y, SR)
    ref = pyloudnorm.Meter(SR).integrated_loudness(y.T.astype(np.float64))
    assert ours == pytest.approx(ref, abs=0.01)


def test_loudness_range_of_two_level_signal():
    # 10 s segments at -15 and -35 dBFS: the 10th and 95th percentiles of the short-term
    # loudness fall on the two plateaus, 20 LU apart.
    x = two_level_noise()
    assert cues.loudness_range(x, SR) == pytest.approx(20.0, abs=0.3)


def test_compressor_lowers_loudness_range_and_crest_factor_by_expected_amount():
    x = two_level_noise()  # plateaus at -15 and -35 dBFS RMS
    ratio, thr = 4.0, -45.0  # both plateaus above threshold: level gap 20 dB -> 20 / 4 = 5 dB
    y = block_compressor(x, thr, ratio)
    lra_in, lra_out = cues.loudness_range(x, SR), cues.loudness_range(y, SR)
    assert lra_out == pytest.approx(lra_in / ratio, abs=0.3)
    assert lra_in - lra_out == pytest.approx(15.0, abs=0.4)

    # crest factor: the peak sits in a loud segment, whose gain is g_hi; the RMS mixes both
    # plateaus with gains g_hi and g_lo. Expected change from the static curve:
    g_hi = -(1 - 1 / ratio) * (-15.0 - thr)
    g_lo = -(1 - 1 / ratio) * (-35.0 - thr)
    p_hi, p_lo = 10 ** (-15.0 / 10), 10 ** (-35.0 / 10)
    rms_in = 10 * math.log10((p_hi + p_lo) / 2)
    rms_out = 10 * math.log10((p_hi * 10 ** (g_hi / 10) + p_lo * 10 ** (g_lo / 10)) / 2)
    expected_drop = (rms_out - rms_in) - g_hi  # crest_in - crest_out (= 1.15 dB here)
    c_in, c_out = cues.crest_factor_db(x), cues.crest_factor_db(y)
    assert c_in - c_out == pytest.approx(expected_drop, abs=0.25)
    assert expected_drop > 1.0
    # the short-term loudness spread shrinks by the ratio as well
    assert cues.loudness_stats(y, SR).short_term_std_lu == pytest.approx(
        cues.loudness_stats(x, SR).short_term_std_lu / ratio, rel=0.1
    )


def test_limiter_crest_factor_matches_clipped_gaussian():
    # A brick-wall limiter (hard clip at c * sigma) on Gaussian noise: the crest factor is
    # c / sqrt(E[min(x^2, c^2)]) with E[min(x^2, c^2)] = erf(c/√2) - c·√(2/π)·e^(-c²/2) + c²·erfc(c/√2).
    sigma, c = 0.1, 2.0
    x = (sigma * rng(2).standard_normal(20 * SR)).astype(np.float32)
    y = np.clip(x, -c * sigma, c * sigma)
    ms = (
        scipy.special.erf(c / math.sqrt(2))
        - c * math.sqrt(2 / math.pi) * math.exp(-c * c / 2)
        + c * c * scipy.special.erfc(c / math.sqrt(2))
    )
    expected = 20 * math.log10(c) - 10 * math.log10(ms)
    assert cues.crest_factor_db(y) == pytest.approx(expected, abs=0.05)
    assert cues.crest_factor_db(x) - cues.crest_factor_db(y) > 6.0
    # ... and the limiter's flat tops count as clipped samples: P(|x| > 2 sigma) = 4.55 %
    assert cues.clipped_sample_pct(y) == pytest.approx(100 * scipy.special.erfc(c / math.sqrt(2)), rel=0.05)
    assert cues.clipped_sample_pct(x) == 0.0


def test_crest_factor_sine_and_square():
    assert cues.crest_factor_db(sine(1000.0, 0.5, 1.0)) == pytest.approx(20 * math.log10(math.sqrt(2)), abs=0.01)
    sq = np.sign(sine(441.0, 1.0, 1.0) + 1e-9) * 0.3
    assert cues.crest_factor_db(sq) == pytest.approx(0.0, abs=0.01)


def test_true_peak_and_plr():
    # a sine at fs/4 sampled 45 degrees off its peaks: sample peak 0.707, true peak 1.0
    n = np.arange(SR)
    x = 0.5 * np.sin(2 * np.pi * n / 4 + np.pi / 4)
    assert 20 * math.log10(np.abs(x).max()) == pytest.approx(-9.03, abs=0.01)
    assert cues.true_peak_dbtp(x, SR) == pytest.approx(-6.02, abs=0.1)
    s = sine(1000.0, 0.1, 5.0)
    plr = cues.peak_to_loudness_ratio_db(s, SR)
    assert plr == pytest.approx(-20.0 - (-23.01), abs=0.15)


def test_silence_loudness_floor():
    z = np.zeros((2, SR), dtype=np.float32)
    st = cues.loudness_stats(z, SR)
    assert st.integrated_lufs == cues.LOUDNESS_FLOOR_LUFS
    assert st.lra_lu == 0.0


# --------------------------------------------------------------------------- spectrum


def test_cutoff_of_noise_lowpassed_at_11k_within_5_percent():
    x = rng(3).standard_normal(10 * SR)
    h = scipy.signal.firwin(1023, 11000, fs=SR)  # a resampler-like steep low-pass
    y = scipy.signal.fftconvolve(x, h, mode="same").astype(np.float32) * 0.1
    assert cues.cutoff_frequency(y, SR) == pytest.approx(11000, rel=0.05)
    sos = scipy.signal.ellip(10, 0.1, 90, 11000, fs=SR, output="sos")  # elliptic, with notches
    y2 = scipy.signal.sosfilt(sos, x).astype(np.float32) * 0.1
    assert cues.cutoff_frequency(y2, SR) == pytest.approx(11000, rel=0.05)
    # still found on a 1 s clip, and in stereo
    assert cues.cutoff_frequency(np.stack([y[:SR], y[SR : 2 * SR]]), SR) == pytest.approx(11000, rel=0.05)


def test_cutoff_full_band_and_resampled():
    x = (0.1 * rng(4).standard_normal(5 * SR)).astype(np.float32)
    assert cues.cutoff_frequency(x, SR) == SR / 2
    import soxr

    x16 = soxr.resample(x, SR, 16000)
    back = soxr.resample(x16, 16000, SR)
    assert cues.cutoff_frequency(back, SR) == pytest.approx(8000 * 0.95, rel=0.05)
    assert cues.cutoff_frequency(np.zeros(SR, np.float32), SR) == SR / 2


def test_hf_energy_ratio_white_noise():
    x = (0.1 * rng(5).standard_normal(5 * SR)).astype(np.float32)
    # white noise: (22050 - 8000) / 22050 of the energy lies above 8 kHz
    assert cues.hf_energy_ratio_db(x, SR) == pytest.approx(10 * math.log10(14050 / 22050), abs=0.1)
    assert cues.hf_energy_ratio_db(x[:16000], 16000) == cues.HF_FLOOR_DB


def test_flatness_noise_vs_tones():
    x = (0.1 * rng(6).standard_normal(5 * SR)).astype(np.float32)
    fl = cues.spectral_flatness_bands(x, SR)
    # periodogram of white noise: E[log chi2_2/2] = -gamma -> flatness e^-gamma = -2.51 dB
    for band in ("mid", "high", "air"):
        assert fl[band] == pytest.approx(-2.51, abs=0.3)
    tones = sum(sine(f, 0.1, 5.0) for f in (220, 1100, 2500, 5000, 9000))
    ft = cues.spectral_flatness_bands(tones + 1e-4 * x, SR)
    assert all(ft[b] < -20 for b in ("low", "mid", "high", "air"))


# --------------------------------------------------------------------------- upsampler peaks


def _zero_insert_x4(z: np.ndarray, taps: int = 8) -> np.ndarray:
    """Transposed-convolution style x4 upsampling: zero insertion, then a short FIR."""
    u = np.zeros(len(z) * 4)
    u[::4] = z
    h = scipy.signal.firwin(taps, 0.25) * 4
    return np.convolve(u, h, mode="same")


def test_upsampler_single_stage_peak_at_intermediate_rate():
    # ReLU'd white noise (activations have a DC component) at SR/4, zero-inserted x4 with an
    # 8-tap filter: the DC is imaged at multiples of the intermediate rate SR/4 = 11025 Hz.
    # (Zero-mean white noise would stay white: the peaks are images of the DC.)
    r = rng(7)
    y = _zero_insert_x4(np.maximum(r.standard_normal(10 * SR // 4), 0.0))
    res = cues.upsampler_peaks(y, SR)
    assert np.min(np.abs(res.peak_freqs - SR / 4)) < 2 * SR / 16384
    assert res.strength_db > 10.0
    plain = cues.upsampler_peaks(r.standard_normal(10 * SR), SR)
    assert plain.strength_db < 3.0
    i = int(np.argmin(np.abs(res.freqs - SR / 4)))
    assert res.residual_db[i] > 15.0  # the residual spectrum shows it (for plotting)


def test_upsampler_cascade_peaks_are_periodic():
    # Two x4 zero-insertion stages with 8-tap filters, new biased broadband content at each
    # stage (like decoder layers): peaks at multiples of the first intermediate rate SR/16.
    r = rng(8)
    n0 = 10 * SR // 16
    u1 = _zero_insert_x4(np.maximum(r.standard_normal(n0), 0.0)) + np.maximum(r.standard_normal(n0 * 4), 0.0)
    y = _zero_insert_x4(u1) + 0.5 * np.maximum(r.standard_normal(n0 * 16), 0.0)
    res = cues.upsampler_peaks(y.astype(np.float32), SR)
    base = SR / 16  # 2756.25 Hz
    ratio = res.period_hz / base
    assert abs(ratio - round(ratio)) < 0.01 and round(ratio) in (1, 2)
    assert len(res.peak_freqs) >= 2
    k = res.peak_freqs / base
    assert np.all(np.abs(k - np.round(k)) * base < 3 * SR / 16384)  # every peak on a multiple
    noise_scores = [cues.upsampler_peaks(r.standard_normal(10 * SR), SR).periodicity for _ in range(3)]
    assert res.periodicity > 8.0
    assert res.periodicity > 2.0 * max(noise_scores)


# --------------------------------------------------------------------------- shimmer


def test_shimmer_steady_vs_fluttering_partials():
    sr = 22050
    t = np.arange(8 * sr) / sr
    steady = sum(0.05 * np.sin(2 * np.pi * f * t) for f in (2500, 3700, 5100, 6300))
    r = rng(9)
    # the same partials with frame-rate level flutter (4 dB rms) and a random-walk phase
    # (1.5 rad rms per 256-sample hop)
    hops = len(t) // 256 + 2
    flutter = np.repeat(10 ** (r.normal(0, 4, size=(4, hops)) / 20), 256, axis=1)[:, : len(t)]
    walk = np.cumsum(r.normal(0, 1.5, size=(4, hops)), axis=1)
    phase = np.array([np.interp(np.arange(len(t)) / 256, np.arange(hops), w) for w in walk])
    shaky = sum(
        0.05 * flutter[i] * np.sin(2 * np.pi * f * t + phase[i]) for i, f in enumerate((2500, 3700, 5100, 6300))
    )
    a = cues.shimmer(steady.astype(np.float32), sr)
    b = cues.shimmer(shaky.astype(np.float32), sr)
    assert a.n_partial_frames > 100
    assert a.shimmer_db < 0.5 and a.phase_incoherence < 0.05
    assert b.shimmer_db > 2.0 and b.shimmer_db > 5 * a.shimmer_db
    assert b.phase_incoherence > 0.3
    assert a.analysed_s == pytest.approx(8.0)  # shorter than 3 x 4 s: analysed whole
    long = cues.shimmer(np.tile(steady, 4).astype(np.float32), sr)
    assert long.analysed_s == pytest.approx(12.0)  # 3 excerpts of 4 s
    assert long.shimmer_db < 0.5


def test_shimmer_neutral_without_partials():
    assert cues.shimmer(np.zeros(SR, np.float32), SR) == cues.ShimmerResult(0.0, 0.0, 0, 1.0)
    low = cues.shimmer(sine(440.0, 0.3, 2.0, 8000), 8000)  # nothing at 2-3.8 kHz
    assert low.shimmer_db == 0.0 and low.phase_incoherence == 0.0


# --------------------------------------------------------------------------- stereo


def test_stereo_correlation_and_side_mid():
    x = (0.1 * rng(10).standard_normal(2 * SR)).astype(np.float32)
    w = (0.1 * rng(11).standard_normal(2 * SR)).astype(np.float32)
    assert cues.stereo_correlation(np.stack([x, x])) == pytest.approx(1.0)
    assert cues.stereo_correlation(np.stack([x, -x])) == pytest.approx(-1.0)
    assert abs(cues.stereo_correlation(np.stack([x, w]))) < 0.01
    assert cues.side_mid_ratio_db(np.stack([x, x])) == cues.RATIO_FLOOR_DB
    assert cues.side_mid_ratio_db(np.stack([x, w])) == pytest.approx(0.0, abs=0.1)
    assert cues.side_mid_ratio_db(np.stack([x, -x])) == -cues.RATIO_FLOOR_DB
    # side = mid / 2 -> -6.02 dB: L = 1.5 m, R = 0.5 m
    assert cues.side_mid_ratio_db(np.stack([1.5 * x, 0.5 * x])) == pytest.approx(-6.02, abs=0.01)
    # mono: neutral values
    assert cues.stereo_correlation(x) == 1.0
    assert cues.side_mid_ratio_db(x[None, :]) == cues.RATIO_FLOOR_DB


# --------------------------------------------------------------------------- extract_cues


def _check_all_finite(c: dict[str, float]) -> None:
    assert list(c) == list(cues.CUE_NAMES)
    for k, v in c.items():
        assert isinstance(v, float), k
        assert math.isfinite(v), (k, v)


@pytest.mark.parametrize(
    "make",
    [
        lambda: (np.zeros((2, SR), np.float32), SR),  # silence
        lambda: ((0.1 * rng(12).standard_normal(SR)).astype(np.float32), SR),  # 1 s mono
        lambda: ((0.1 * rng(13).standard_normal((2, 3 * 8000))).astype(np.float32), 8000),  # 8 kHz
        lambda: ((0.1 * rng(14).standard_normal((2, 5 * 48000))).astype(np.float32), 48000),
        lambda: ((rng(15).integers(-2000, 2000, size=(2, 16000))).astype(np.int16), 16000),  # PCM
        lambda: (np.full(100, 0.5, np.float32), SR),  # DC, 100 samples
        lambda: (np.ones(1, np.float32), SR),  # one sample
    ],
)
def test_extract_cues_finite_on_edge_cases(make):
    y, sr = make()
    _check_all_finite(cues.extract_cues(y, sr))


def test_extract_cues_matches_single_functions():
    r = rng(16)
    x = two_level_noise(2.0, 4, seed=16)
    y = np.stack([x, 0.7 * x + 0.05 * r.standard_normal(len(x)).astype(np.float32)])
    c = cues.extract_cues(y, SR)
    assert c["integrated_loudness_lufs"] == pytest.approx(cues.integrated_loudness(y, SR))
    assert c["loudness_range_lu"] == pytest.approx(cues.loudness_range(y, SR))
    assert c["crest_factor_db"] == pytest.approx(cues.crest_factor_db(y))
    assert c["cutoff_hz"] == pytest.approx(cues.cutoff_frequency(y, SR))
    assert c["stereo_correlation"] == pytest.approx(cues.stereo_correlation(y))
    assert c["side_mid_ratio_db"] == pytest.approx(cues.side_mid_ratio_db(y))
    assert c["shimmer_db"] == pytest.approx(cues.shimmer(y, SR).shimmer_db)
    assert c["upsampler_periodicity_z"] == pytest.approx(cues.upsampler_peaks(y, SR).periodicity)
    assert c["peak_to_loudness_db"] == pytest.approx(cues.peak_to_loudness_ratio_db(y, SR))


def test_extract_cues_rejects_invalid_input():
    with pytest.raises(ValueError):
        cues.extract_cues(np.zeros(0, np.float32), SR)
    with pytest.raises(ValueError):
        cues.extract_cues(np.array([0.0, np.nan]), SR)
    with pytest.raises(ValueError):
        cues.extract_cues(np.zeros((1, 2, 3)), SR)
    with pytest.raises(ValueError):
        cues.extract_cues(np.zeros(100), 0)


def test_cue_info_table_complete():
    assert set(cues.CUE_INFO) == set(cues.CUE_NAMES)
    for name, info in cues.CUE_INFO.items():
        assert name == name.lower() and " " not in name
        assert info.unit and info.description and info.group


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    n_ch=st.integers(1, 2),
    n=st.integers(1, 6000),
    sr=st.sampled_from([8000, 16000, 22050, 44100, 48000]),
    amp=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**16),
    kind=st.sampled_from(["noise", "sparse", "const", "square"]),
)
def test_extract_cues_property_finite(n_ch, n, sr, amp, seed, kind):
    r = np.random.default_rng(seed)
    if kind == "noise":
        y = r.uniform(-1, 1, size=(n_ch, n))
    elif kind == "sparse":
        y = np.zeros((n_ch, n))
        y[:, r.integers(0, n, size=3)] = 1.0
    elif kind == "const":
        y = np.ones((n_ch, n))
    else:
        y = np.sign(np.sin(np.arange(n) / 3.0))[None, :].repeat(n_ch, axis=0)
    _check_all_finite(cues.extract_cues((amp * y).astype(np.float32), sr))


# --------------------------------------------------------------------------- human ranges


def test_percentile_of_reads_the_packaged_ranges():
    ranges = cues.human_ranges()
    assert set(ranges["cues"]) >= set(cues.CUE_NAMES) - {"upsampler_period_hz"}
    for name, entry in ranges["cues"].items():
        pct = entry["percentiles"]
        vals = [pct[p] for p in sorted(pct, key=float)]
        assert vals == sorted(vals), name
        lo, hi = vals[0], vals[-1]
        assert cues.percentile_of(name, lo - 1.0) == 0.0
        assert cues.percentile_of(name, hi + 1.0) == 100.0
        # the human median reads 50 (the mid-rank of the stored percentiles that tie with it)
        med = pct["50"]
        tied = [float(p) for p, v in pct.items() if v == med]
        assert cues.percentile_of(name, med) == pytest.approx((min(tied) + max(tied)) / 2), name
        if tied == [50.0]:
            assert cues.percentile_of(name, med) == pytest.approx(50.0), name
    assert math.isnan(cues.percentile_of("crest_factor_db", float("nan")))
    with pytest.raises(KeyError):
        cues.percentile_of("no_such_cue", 1.0)


def test_percentile_of_interpolates(monkeypatch):
    fake = {"meta": {}, "cues": {"x": {"n": 100, "percentiles": {
        "0": 0.0, "1": 0.0, "5": 0.0, "10": 0.0, "25": 1.0, "50": 2.0, "75": 3.0, "90": 4.0,
        "95": 5.0, "99": 6.0, "100": 10.0}}}}
    monkeypatch.setattr(cues.ranges, "human_ranges", lambda: fake)  # where percentile_of looks it up
    assert cues.percentile_of("x", 2.0) == pytest.approx(50.0)
    assert cues.percentile_of("x", 2.5) == pytest.approx(62.5)
    assert cues.percentile_of("x", 0.0) == pytest.approx(5.0)  # ties at 0: mid-rank of 0..10
    assert cues.percentile_of("x", 8.0) == pytest.approx(99.5)


def test_cues_check_samples_as_scoring_does() -> None:
    # one sample check (aiaudio.audio.validate_samples) for scoring and the cues: the same typed error
    from aiaudio.audio import validate_samples
    from aiaudio.errors import AudioLoadError

    bad = np.array([0.0, np.nan, 0.5])
    with pytest.raises(AudioLoadError, match="NaN or infinite") as from_cues:
        cues.extract_cues(bad, SR)
    with pytest.raises(AudioLoadError, match="NaN or infinite") as from_scoring:
        validate_samples(bad)
    assert from_cues.value.reason == from_scoring.value.reason == "nonfinite"
    # the cues keep double precision
    assert cues._as_2d(np.zeros(4, np.float64)).dtype == np.float64
