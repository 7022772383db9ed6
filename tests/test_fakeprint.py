"""The full-band fingerprint: periodic peaks stand out, a missing band is unknown (zero)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import butter, sosfilt

from aiaudio.fakeprint import FakeprintConfig, analyse, band_limit, fakeprint

SR = 44100
CFG = FakeprintConfig()


def _noise(seconds: float = 20.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = rng.standard_normal(int(seconds * SR)).astype(np.float32)
    # a falling spectrum like music's: pink-ish by a one-pole low-pass
    return (sosfilt(butter(1, 2000, fs=SR, output="sos"), y) * 0.3).astype(np.float32)


def _with_comb(y: np.ndarray, spacing_hz: float, level: float = 0.02) -> np.ndarray:
    t = np.arange(y.shape[0]) / SR
    comb = sum(np.sin(2 * np.pi * k * spacing_hz * t) for k in range(1, int(20000 // spacing_hz) + 1))
    return (y + level * comb).astype(np.float32)


def test_periodic_peaks_of_an_upsampler_stand_out_at_their_frequencies():
    y = _noise()
    res0, m0 = fakeprint(y, SR)
    spacing = SR / 16  # stride-16 upsampler: peaks every 2756.25 Hz
    res1, m1 = fakeprint(_with_comb(y, spacing), SR)
    f = CFG.freqs_hz
    near = np.zeros(f.shape, bool)
    for k in range(1, int(20000 // spacing) + 1):
        near |= np.abs(f - k * spacing) < 15
    assert m1.sum() > 0.9 * m1.size  # full band known
    assert res1[near & (m1 > 0)].mean() > 6.0  # peaks several dB over the envelope
    assert abs(res1[~near & (m1 > 0)].mean() - res0[~near & (m0 > 0)].mean()) < 0.5  # elsewhere unchanged
    assert res0[near].mean() < 2.0


def test_a_low_passed_file_is_unknown_above_its_cut_off_never_evidence():
    y = _with_comb(_noise(), SR / 16)
    spec = np.fft.rfft(y)  # a brick-wall cut-off, as an MP3 encoder's
    spec[np.fft.rfftfreq(y.shape[0], 1 / SR) > 8000] = 0
    lp = np.fft.irfft(spec, n=y.shape[0]).astype(np.float32)
    res, mask = fakeprint(lp, SR)
    f = CFG.freqs_hz
    assert mask[f > 8500].sum() == 0
    assert np.all(res[f > 8500] == 0.0)
    assert mask[(f > 1500) & (f < 7000)].min() == 1.0


def test_a_file_at_16_khz_is_unknown_above_8_khz():
    y = _noise(10.0)
    from aiaudio.audio import resample

    y16 = resample(y, SR, 16000)
    res, mask = fakeprint(y16, 16000)
    f = CFG.freqs_hz
    assert mask[f >= 8000].sum() == 0 and np.all(res[f >= 8000] == 0)
    assert mask[f < 7000].mean() > 0.9


def test_silence_and_stereo_and_determinism():
    res, mask = fakeprint(np.zeros(SR * 3, np.float32), SR)
    assert res.shape == mask.shape == (CFG.n_out,)
    assert not res.any() and not mask.any()
    y = _noise(5.0)
    a = fakeprint(np.stack([y, y]), SR)
    b = fakeprint(y, SR)
    np.testing.assert_allclose(a[0], b[0], atol=1e-5)
    np.testing.assert_array_equal(fakeprint(y, SR)[0], b[0])


@pytest.mark.parametrize("cut", [4000.0, 12000.0])
def test_band_limit_zeroes_above_the_cut(cut):
    r = np.ones(CFG.n_out, np.float32)
    v = band_limit(r, cut)
    above = CFG.freqs_hz >= cut
    assert v.shape == (CFG.n_out,)
    assert not v[above].any() and v[~above].all()


def test_band_limit_takes_one_cut_off_per_fingerprint():
    r = np.ones((2, CFG.n_out), np.float32)
    v = band_limit(r, np.array([4000.0, 12000.0]))
    for row, cut in zip(v, (4000.0, 12000.0)):
        above = CFG.freqs_hz >= cut
        assert not row[above].any() and row[~above].all()


def test_analyse_gives_the_fingerprint_and_the_bandwidth_of_one_stft():
    y = _noise(5.0)
    spec = np.fft.rfft(y)
    spec[np.fft.rfftfreq(y.shape[0], 1 / SR) > 8000] = 0
    lp = np.fft.irfft(spec, n=y.shape[0]).astype(np.float32)
    res, mask, bw = analyse(lp, SR)
    r2, m2 = fakeprint(lp, SR)
    np.testing.assert_array_equal(res, r2)
    np.testing.assert_array_equal(mask, m2)
    assert 7500 < bw < 8600
    assert analyse(np.zeros(SR, np.float32), SR)[2] == 0.0
