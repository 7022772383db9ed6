"""Upsampler peaks: the spectral peaks left by transposed-convolution upsampling in neural decoders."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.fft
import scipy.ndimage
import scipy.signal

from .spectrum import LongTermSpectrum, _cutoff_from_ltas, _spectrum_db, long_term_spectrum


@dataclass(frozen=True)
class PeakResult:
    """Residual spectrum and peak scores of :func:`upsampler_peaks`.

    Attributes
    ----------
    freqs : np.ndarray
        Frequencies of ``residual_db``, Hz (the whole spectrum, 0 to sr/2).
    residual_db : np.ndarray
        Long-term average log spectrum minus its lower envelope, dB (>= about 0).
        Plot it over ``band_hz``.
    band_hz : tuple of float
        The analysed upper band ``(low, high)``, Hz.
    peak_freqs : np.ndarray
        Frequencies of the prominent narrow peaks found in the band, Hz.
    strength_db : float
        Mean height of the (up to) 5 most prominent peaks above the residual's median
        in the band, dB. 0.0 when the band is too narrow.
    periodicity : float
        Comb score of evenly spaced peaks at multiples of ``period_hz`` (a z-score:
        about 2-4 for peak-free spectra, far higher for a comb of peaks).
    period_hz : float
        The best comb period, Hz (0.0 when the band is too narrow).
    """

    freqs: np.ndarray = field(repr=False)
    residual_db: np.ndarray = field(repr=False)
    band_hz: tuple[float, float]
    peak_freqs: np.ndarray
    strength_db: float
    periodicity: float
    period_hz: float


def _lower_envelope(s: np.ndarray, width: int) -> np.ndarray:
    env = scipy.ndimage.minimum_filter1d(s, width, mode="nearest")
    return scipy.ndimage.uniform_filter1d(env, width, mode="nearest")


def upsampler_peaks(
    y: np.ndarray,
    sr: float,
    *,
    spectrum: LongTermSpectrum | None = None,
    cutoff_hz: float | None = None,
    band_hz: tuple[float, float] | None = None,
    min_period_hz: float = 100.0,
) -> PeakResult:
    """Narrow, evenly spaced peaks in the upper band of the long-term spectrum.

    Transposed-convolution (zero-insertion) upsampling inside a neural decoder
    replicates low-frequency content, including the DC of biased activations, to the
    multiples of each intermediate sampling rate; averaged over a whole track, these
    images stand out of the music as narrow peaks at fixed frequencies (Afchar et al.,
    ISMIR 2025). This is an independent implementation of that analysis.

    Parameters
    ----------
    y : np.ndarray
        Samples, ``(channels, samples)`` or ``(samples,)``.
    sr : float
        Sample rate, Hz.
    spectrum : LongTermSpectrum, optional
        A precomputed :func:`long_term_spectrum` of ``y``.
    cutoff_hz : float, optional
        The effective cut-off (:func:`cutoff_frequency`); computed when not given.
    band_hz : (float, float), optional
        Band to analyse, Hz. Default: from ``max(1 kHz, 0.2 * sr / 2)`` (4.4 kHz at
        44.1 kHz) to ``min(0.98 * sr / 2, cutoff_hz - 200 Hz)``.
    min_period_hz : float
        Shortest comb period tried, Hz.

    Returns
    -------
    PeakResult

    Notes
    -----
    1. ``S(f)``: 10*log10 of the long-term average power spectrum (bins of ~2.7 Hz at
       44.1 kHz, averaged over frames and channels).
    2. Lower envelope: a running minimum of ``S`` over 300 Hz, smoothed by a running
       mean over 300 Hz; residual ``R = S - envelope``.
    3. In the band, ``R`` is centred on its median and divided by its robust spread
       (1.4826 * MAD), then a running maximum over 5 bins absorbs the bin-grid offset.
    4. Comb: for periods ``P`` from ``min_period_hz`` to a third of the band width, on
       a geometric grid whose step moves the highest tooth by at most one bin, the
       score is ``(mean at k*P - mean at (k+1/2)*P) / sqrt(2 / n_teeth)`` over the teeth
       in the band, on the max-filtered residual standardised to zero mean and unit
       variance. ``periodicity`` is the highest score, ``period_hz`` its period.
       Sub-multiples and multiples of the true period score lower by design.
    5. Peaks: local maxima of ``R`` at least 6 robust spreads and 1.5 dB above the
       median; ``strength_db`` averages the heights above the median of the 5 highest.

    Harmonic music also has evenly spaced partials; over a whole track they smear
    (notes change), while decoder images stay at fixed frequencies. Short clips have
    noisier spectra (fewer frames) and hence slightly higher scores.
    """
    if spectrum is None:
        spectrum = long_term_spectrum(y, sr)
    nyq = spectrum.sr / 2.0
    freqs = spectrum.freqs
    df = spectrum.df
    if cutoff_hz is None:
        cutoff_hz = _cutoff_from_ltas(spectrum)
    s = _spectrum_db(spectrum.power)
    width = max(3, int(round(300.0 / df)))
    resid = s - _lower_envelope(s, width)
    if band_hz is None:
        lo = max(1000.0, 0.2 * nyq)
        hi = min(0.98 * nyq, float(cutoff_hz) - 200.0)
    else:
        lo, hi = (float(band_hz[0]), float(min(band_hz[1], nyq)))
    a = int(np.searchsorted(freqs, lo))
    b = int(np.searchsorted(freqs, hi, side="right"))
    empty = PeakResult(freqs, resid, (float(lo), float(max(hi, lo))), np.zeros(0), 0.0, 0.0, 0.0)
    if b - a < 32 or spectrum.power.max() <= 0:
        return empty
    r = resid[a:b]
    med = float(np.median(r))
    mad = float(np.median(np.abs(r - med))) * 1.4826
    spread = max(mad, 1e-3)
    rn = (r - med) / spread

    # peaks
    pk, props = scipy.signal.find_peaks(rn, height=6.0, distance=max(1, int(round(20.0 / df))))
    heights = r[pk] - med
    keep = heights >= 1.5
    pk, heights = pk[keep], heights[keep]
    peak_freqs = freqs[a + pk]
    strength = float(np.mean(np.sort(heights)[-5:])) if heights.size else 0.0
    if heights.size == 0:
        # no prominent peak: report the typical top of the residual instead of nothing
        strength = float(max(np.percentile(r, 99.5) - med, 0.0))

    # comb
    m = scipy.ndimage.maximum_filter1d(rn, 5, mode="nearest")
    sd = float(np.std(m)) or 1.0
    m = (m - float(np.mean(m))) / sd
    f_lo, f_hi = freqs[a], freqs[b - 1]
    p_min = max(min_period_hz, 8 * df)
    p_max = (f_hi - f_lo) / 3.0
    best_z, best_p = 0.0, 0.0
    if p_max > p_min:
        periods = []
        p = p_min
        while p <= p_max:
            periods.append(p)
            p += max(df * p / f_hi, 1e-3)  # highest tooth moves by <= 1 bin per step
        periods_a = np.asarray(periods)
        zs = np.empty(len(periods_a))
        for i0 in range(0, len(periods_a), 64):
            P = periods_a[i0 : i0 + 64, None]
            ks = np.arange(1, int(math.floor(f_hi / float(P[0, 0]))) + 2)
            on_f = ks[None, :] * P
            off_f = (ks[None, :] + 0.5) * P
            on_ok = (on_f >= f_lo) & (on_f <= f_hi)
            off_ok = (off_f >= f_lo) & (off_f <= f_hi)
            on_i = np.clip(np.rint(on_f / df).astype(np.int64) - a, 0, len(m) - 1)
            off_i = np.clip(np.rint(off_f / df).astype(np.int64) - a, 0, len(m) - 1)
            n_on = on_ok.sum(axis=1)
            n_off = off_ok.sum(axis=1)
            on_mean = np.where(on_ok, m[on_i], 0.0).sum(axis=1) / np.maximum(n_on, 1)
            off_mean = np.where(off_ok, m[off_i], 0.0).sum(axis=1) / np.maximum(n_off, 1)
            n_eff = np.minimum(n_on, n_off)
            z = (on_mean - off_mean) / np.sqrt(2.0 / np.maximum(n_eff, 1))
            z[n_eff < 2] = 0.0
            zs[i0 : i0 + 64] = z
        j = int(np.argmax(zs))
        best_z, best_p = float(max(zs[j], 0.0)), float(periods_a[j])
        if best_z <= 0:
            best_p = 0.0
    return PeakResult(freqs, resid, (float(f_lo), float(f_hi)), peak_freqs, strength, best_z, best_p)


