"""Spectrum cues: the long-term spectrum, its cut-off frequency, the energy above 8 kHz, flatness in four bands."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.fft
import scipy.ndimage
import scipy.signal

from ..dsp import frames
from ._common import FLATNESS_BANDS, HF_EDGE_HZ, HF_FLOOR_DB, _MAX_KEPT_FRAMES, _as_2d, _check_sr, _db


@dataclass(frozen=True)
class LongTermSpectrum:
    """Long-term average power spectrum of a signal.

    Attributes
    ----------
    freqs : np.ndarray
        Bin centre frequencies, Hz, from 0 to sr/2.
    power : np.ndarray
        Mean power per bin over frames and channels (Hann window, arbitrary scale).
    frame_power : np.ndarray
        Per-frame power averaged over channels, shape ``(frames, bins)``, float32; for
        long signals only 1024 evenly spaced frames are kept (``power`` uses all).
    sr : float
        Sample rate, Hz.
    n_fft : int
        Frame length, samples.
    """

    freqs: np.ndarray = field(repr=False)
    power: np.ndarray = field(repr=False)
    frame_power: np.ndarray = field(repr=False)
    sr: float
    n_fft: int

    @property
    def df(self) -> float:
        """Bin spacing, Hz."""
        return self.sr / self.n_fft


def _ltas_nfft(sr: float, n: int) -> int:
    target = int(2 ** round(math.log2(max(sr * 0.37, 256))))  # ~0.37 s frames: 16384 at 44.1/48 kHz
    while target > 256 and target > n:
        target //= 2
    return max(256, target)


def long_term_spectrum(y: np.ndarray, sr: float, n_fft: int | None = None) -> LongTermSpectrum:
    """Long-term average power spectrum with a large FFT, averaged over time and channels.

    Parameters
    ----------
    y : np.ndarray
        Samples, ``(channels, samples)`` or ``(samples,)``.
    sr : float
        Sample rate, Hz.
    n_fft : int, optional
        Frame length. Default: the power of two nearest 0.37 s (16384 at 44.1 and 48 kHz,
        8192 at 16-24 kHz), halved until it fits the signal, at least 256 (shorter
        signals are zero-padded).

    Returns
    -------
    LongTermSpectrum

    Notes
    -----
    Hann-windowed frames; consecutive frames do not overlap when the signal holds at
    least 64 of them, else they overlap by half (short clips need the extra averages).
    """
    y = _as_2d(y)
    sr = _check_sr(sr)
    n = y.shape[1]
    if n_fft is None:
        n_fft = _ltas_nfft(sr, n)
    n_fft = int(n_fft)
    if n < n_fft:
        y = np.pad(y, ((0, 0), (0, n_fft - n)))
        n = n_fft
    hop = n_fft if (n // n_fft) >= 64 else n_fft // 2
    n_frames = 1 + (n - n_fft) // hop
    win = scipy.signal.get_window("hann", n_fft).astype(np.float32)
    # every frame enters the average; at most MAX_KEPT_FRAMES evenly spaced ones are kept
    keep_every = -(-n_frames // _MAX_KEPT_FRAMES)
    kept = np.arange(0, n_frames, keep_every)
    frame_power = np.zeros((len(kept), n_fft // 2 + 1), dtype=np.float32)
    total = np.zeros(n_fft // 2 + 1, dtype=np.float64)
    chunk = 256 - (256 % keep_every) if keep_every <= 256 else keep_every
    for c in range(y.shape[0]):
        x = np.ascontiguousarray(y[c], dtype=np.float32)
        fr = frames(x, n_fft, hop)
        for i in range(0, n_frames, chunk):  # chunked FFT: memory stays bounded
            X = scipy.fft.rfft(fr[i : i + chunk] * win, axis=-1, workers=1)
            pw = X.real**2 + X.imag**2
            total += pw.sum(axis=0, dtype=np.float64)
            frame_power[i // keep_every : i // keep_every + len(pw[::keep_every])] += pw[::keep_every]
    frame_power /= y.shape[0]
    power = total / (n_frames * y.shape[0])
    freqs = np.arange(n_fft // 2 + 1) * (sr / n_fft)
    return LongTermSpectrum(freqs, power, frame_power, sr, n_fft)


def _spectrum_db(power: np.ndarray) -> np.ndarray:
    ref = float(power.max()) if power.size else 0.0
    floor = max(ref * 1e-13, 1e-30)  # 130 dB below the strongest bin
    return 10.0 * np.log10(power + floor)


def _cutoff_from_ltas(spec: LongTermSpectrum, min_depth_db: float = 20.0, min_local_db: float = 15.0) -> float:
    freqs, power = spec.freqs, spec.power
    nyq = spec.sr / 2.0
    if power.max() <= 0:
        return float(nyq)
    # coarse spectrum: power averaged in bands of ~nyq/400 (55 Hz at 44.1 kHz)
    step = max(1, int(round((nyq / 400.0) / spec.df)))
    nb = len(power) // step
    if nb < 12:
        return float(nyq)
    pc = power[: nb * step].reshape(nb, step).mean(axis=1)
    fc = freqs[: nb * step].reshape(nb, step).mean(axis=1)
    sc = _spectrum_db(pc)
    bw = fc[1] - fc[0]
    ref_w = max(2, int(round(1000.0 / bw)))  # reference window: 1 kHz below f
    gap = max(1, int(round(100.0 / bw)))
    loc_w = max(2, int(round(500.0 / bw)))  # local windows: 100-600 Hz each side
    depth = np.full(nb, -np.inf)
    local = np.full(nb, -np.inf)
    lo_i = max(ref_w + gap, int(np.searchsorted(fc, 2000.0)))  # codec/resampler cliffs lie above 2 kHz
    for i in range(lo_i, nb - 3):
        above = sc[i + gap :]
        if above.size < 3:
            break
        # depth: level over the 1 kHz below vs the 95th percentile of everything above
        depth[i] = np.median(sc[i - gap - ref_w : i - gap]) - np.percentile(above, 95)
        # sharpness: level over 100-600 Hz below vs 100-600 Hz above
        local[i] = np.median(sc[i - gap - loc_w : i - gap]) - np.median(above[:loc_w])
    ok = (depth >= min_depth_db) & (local >= min_local_db)
    if not ok.any():
        return float(nyq)
    # the run of candidate positions with the deepest cliff
    idx = np.flatnonzero(ok)
    breaks = np.flatnonzero(np.diff(idx) > 1)
    starts = np.concatenate([[idx[0]], idx[breaks + 1]])
    ends = np.concatenate([idx[breaks], [idx[-1]]])
    best = max(range(len(starts)), key=lambda k: depth[starts[k] : ends[k] + 1].max())
    seg = slice(starts[best], ends[best] + 1)
    j = starts[best] + int(np.argmax(depth[seg]))
    ref = float(np.median(sc[j - gap - ref_w : j - gap]))
    mid = ref - min(10.0, depth[j] / 2.0)  # 10 dB below the level under the cliff
    f_a = fc[starts[best]] - 1000.0
    f_b = fc[ends[best]] + 500.0
    # refine: the highest frequency in [f_a, f_b] where the finely smoothed spectrum is
    # still above that level
    s = _spectrum_db(power)
    sm_w = max(3, int(round(60.0 / spec.df)))
    s = scipy.ndimage.uniform_filter1d(s, sm_w, mode="nearest")
    a = int(np.searchsorted(freqs, f_a))
    b = int(np.searchsorted(freqs, f_b)) + 1
    above_mid = np.flatnonzero(s[a:b] >= mid)
    if above_mid.size == 0:
        return float(fc[j])
    return float(min(freqs[a + above_mid[-1]], nyq))


def cutoff_frequency(y: np.ndarray, sr: float, *, spectrum: LongTermSpectrum | None = None) -> float:
    """Effective cut-off frequency: where the long-term spectrum falls off a cliff, Hz.

    Parameters
    ----------
    y : np.ndarray
        Samples, ``(channels, samples)`` or ``(samples,)``.
    sr : float
        Sample rate, Hz.
    spectrum : LongTermSpectrum, optional
        A precomputed :func:`long_term_spectrum` of ``y`` (saves time).

    Returns
    -------
    float
        Cut-off in Hz; ``sr / 2`` when no cliff is found (full band, or silence).

    Notes
    -----
    On a coarse long-term spectrum (bands of ``sr / 800``), a cliff at ``f`` means
    the median level over the 1 kHz below ``f`` exceeds the 95th percentile of the
    level over everything above ``f`` by at least 20 dB (nothing above comes back),
    and the median level 100-600 Hz below ``f`` exceeds the median level 100-600 Hz
    above it by at least 15 dB (the fall is sharp). Among the runs of such
    ``f`` (above 2 kHz: the low-pass filters of codecs and resamplers lie there, the
    natural roll-off of a bass-heavy mix may not), the deepest is kept; the cut-off is the highest frequency,
    from 1 kHz below that run to 500 Hz above it, where the spectrum smoothed over
    60 Hz is still within 10 dB of the level below the cliff (the -10 dB point of the
    low-pass; stop-band notches and ripple do not move it). Low-pass filters of codecs and resamplers (MP3 at 16-19 kHz,
    8 kHz for 16 kHz audio resampled up) show as cliffs; the gentle roll-off of music
    does not.
    """
    if spectrum is None:
        spectrum = long_term_spectrum(y, sr)
    return _cutoff_from_ltas(spectrum)


def hf_energy_ratio_db(y: np.ndarray, sr: float, *, spectrum: LongTermSpectrum | None = None) -> float:
    """Share of the energy above 8 kHz, in dB re the total energy.

    Parameters
    ----------
    y : np.ndarray
        Samples, ``(channels, samples)`` or ``(samples,)``.
    sr : float
        Sample rate, Hz.
    spectrum : LongTermSpectrum, optional
        A precomputed :func:`long_term_spectrum` of ``y``.

    Returns
    -------
    float
        ``10*log10(E(f >= 8 kHz) / E(all))`` from the long-term spectrum (DC excluded);
        -120 dB when there is no energy above 8 kHz (e.g. audio sampled at 16 kHz or
        less) or no energy at all.
    """
    if spectrum is None:
        spectrum = long_term_spectrum(y, sr)
    p = spectrum.power[1:]
    tot = float(p.sum())
    hi = float(p[spectrum.freqs[1:] >= HF_EDGE_HZ].sum())
    if tot <= 0 or spectrum.sr / 2.0 <= HF_EDGE_HZ:
        return HF_FLOOR_DB
    return _db(hi / tot, HF_FLOOR_DB)


def spectral_flatness_bands(
    y: np.ndarray, sr: float, *, spectrum: LongTermSpectrum | None = None
) -> dict[str, float]:
    """Spectral flatness (Wiener entropy) per band, dB.

    Parameters
    ----------
    y : np.ndarray
        Samples, ``(channels, samples)`` or ``(samples,)``.
    sr : float
        Sample rate, Hz.
    spectrum : LongTermSpectrum, optional
        A precomputed :func:`long_term_spectrum` of ``y``.

    Returns
    -------
    dict
        ``{"low": dB, "mid": dB, "high": dB, "air": dB}`` for the bands of
        :data:`FLATNESS_BANDS` (50-500 Hz, 0.5-4 kHz, 4-8 kHz, 8-16 kHz).

    Notes
    -----
    Per frame of the long-term spectrum (~0.37 s, power averaged over channels), the
    flatness of a band is the geometric over the arithmetic mean of its bin powers;
    the cue is ``10*log10`` of the median over the frames whose band energy is within
    60 dB of the loudest frame's. 0 dB is a perfectly flat (noise-like) band; the
    periodogram of white noise reads about -2.5 dB; tonal bands read -20 dB and lower.
    A band that lies above ``sr / 2`` (or below 2 bins wide) or holds no energy reads
    0.0 dB (the flatness of an empty, constant floor).
    """
    if spectrum is None:
        spectrum = long_term_spectrum(y, sr)
    out: dict[str, float] = {}
    fp = spectrum.frame_power
    nyq = spectrum.sr / 2.0
    for name, (lo, hi) in FLATNESS_BANDS.items():
        hi_c = min(hi, nyq * 0.98)
        a = int(np.searchsorted(spectrum.freqs, lo))
        b = int(np.searchsorted(spectrum.freqs, hi_c))
        if b - a < 2:
            out[name] = 0.0
            continue
        band = fp[:, a:b].astype(np.float64)
        e = band.mean(axis=1)
        emax = float(e.max())
        if emax <= 0:
            out[name] = 0.0
            continue
        keep = e >= emax * 1e-6
        band = band[keep]
        e = e[keep]
        floor = emax * 1e-12
        gm = np.exp(np.mean(np.log(band + floor), axis=1))
        flat = gm / (e + floor)
        out[name] = float(min(10.0 * math.log10(max(float(np.median(flat)), 1e-12)), 0.0))
    return out


