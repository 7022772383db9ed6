"""Interpretable cues: small pure functions, numpy in, floats out.

Every function takes samples ``y`` as a float array of shape ``(channels, samples)``
or ``(samples,)`` (mono) and, where it matters, the sample rate ``sr`` in Hz. Each
one can be used alone; :func:`extract_cues` computes all of them at once, sharing
the expensive intermediate steps (K-weighting, the long-term spectrum), and returns
a ``dict`` with the stable names listed in :data:`CUE_INFO` (the same table is in
``docs/cues.md``).

Cue groups
----------
* **Dynamics and compression** -- integrated loudness (ITU-R BS.1770-4), loudness
  range (EBU Tech 3342), true peak, peak-to-loudness ratio, crest factor, spread of
  the short-term and momentary loudness, clipped samples.
* **Spectrum** -- effective cut-off frequency (the "cliff" of the long-term
  spectrum), energy above 8 kHz, spectral flatness in four bands.
* **Upsampler peaks** -- the long-term average log spectrum minus its lower envelope
  in the upper band, with a peak-strength and a comb-periodicity score (the spectral
  peaks left by transposed-convolution upsampling in neural decoders, after Afchar
  et al., "A Fourier explanation of AI-music artifacts", ISMIR 2025; this is an
  independent implementation).
* **Shimmer** -- frame-to-frame level instability and phase incoherence of the
  harmonic partials between 2 and 8 kHz.
* **Stereo image** -- inter-channel correlation and side/mid energy ratio.

Conventions
-----------
* Values are finite floats for any valid input (non-empty, finite samples): silence,
  clips of a fraction of a second, mono, 8 kHz audio. Where a quantity cannot be
  measured, a documented neutral or floor value is returned instead of NaN (see each
  function's *Notes*).
* Loudness uses the K-weighting filters of :mod:`pyloudnorm` (its BS.1770-4 filter
  design) and a vectorised implementation of the BS.1770-4 gating and of the EBU
  Tech 3342 loudness-range statistic (the loops in pyloudnorm cost about 1.3 s on a
  3-minute track; this costs about 0.15 s, mostly the filtering, and agrees with
  ``pyloudnorm.Meter.integrated_loudness`` to within 0.01 LU, see the tests).
* Cues describe; they do not decide. Loudness, cut-off and high-band energy also
  describe human mastering and lossy encoding (see ``docs/cues.md``).
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import scipy.fft
import scipy.ndimage
import scipy.signal
import soxr

from .audio import MAX_ANALYSIS_S
from .dsp import harmonic_mask
from .samples import validate_samples

__all__ = [
    "CUE_INFO",
    "CUE_NAMES",
    "CueInfo",
    "LongTermSpectrum",
    "PeakResult",
    "ShimmerResult",
    "LoudnessStats",
    "extract_cues",
    "file_cues",
    "percentile_of",
    "human_ranges",
    "integrated_loudness",
    "loudness_range",
    "loudness_stats",
    "true_peak_dbtp",
    "peak_to_loudness_ratio_db",
    "crest_factor_db",
    "clipped_sample_pct",
    "long_term_spectrum",
    "cutoff_frequency",
    "hf_energy_ratio_db",
    "spectral_flatness_bands",
    "upsampler_peaks",
    "shimmer",
    "stereo_correlation",
    "side_mid_ratio_db",
]

# --------------------------------------------------------------------------- constants

#: Floor of every loudness value (LUFS): the BS.1770-4 absolute gate. Silence reads -70.
LOUDNESS_FLOOR_LUFS = -70.0
#: Floor (dB) for level ratios whose numerator is zero (e.g. side/mid of a mono track).
RATIO_FLOOR_DB = -60.0
#: Floor (dB) for the high-band energy ratio when the band holds no energy at all.
HF_FLOOR_DB = -120.0
#: Lower edge of the "high band" of :func:`hf_energy_ratio_db`, Hz.
HF_EDGE_HZ = 8000.0
#: Bands of :func:`spectral_flatness_bands`: name -> (low Hz, high Hz).
FLATNESS_BANDS: dict[str, tuple[float, float]] = {
    "low": (50.0, 500.0),
    "mid": (500.0, 4000.0),
    "high": (4000.0, 8000.0),
    "air": (8000.0, 16000.0),
}
#: Rate (Hz) at which :func:`shimmer` analyses its excerpts.
SHIMMER_SR = 22050
#: Band (Hz) in which :func:`shimmer` looks at partials.
SHIMMER_BAND_HZ = (2000.0, 8000.0)
#: Number and length (s) of the excerpts :func:`shimmer` analyses, spread over the track.
SHIMMER_EXCERPTS = 3
SHIMMER_EXCERPT_S = 4.0

_EPS = 1e-20
_MAX_KEPT_FRAMES = 1024  # per-frame spectra kept by long_term_spectrum (memory bound)


# --------------------------------------------------------------------------- input


def _as_2d(y: Any) -> np.ndarray:
    """Return ``y`` as a float array ``(channels, samples)``; validate it.

    :func:`aiaudio.audio.validate_samples` (1-D input is mono, integers scaled by their
    full scale), keeping ``float64`` samples at double precision and any layout. Raises
    :class:`~aiaudio.AudioLoadError` (a ``ValueError``) on empty, non-finite, non-numeric
    or more than 2-D input.
    """
    return validate_samples(y, keep_float64=True, check_layout=False)


def _check_sr(sr: float) -> float:
    sr = float(sr)
    if not math.isfinite(sr) or sr <= 0:
        raise ValueError(f"sample rate must be a positive number of Hz, got {sr}")
    return sr


def _db(x: float, floor_db: float) -> float:
    """10*log10(x) (power ratio), never below ``floor_db``."""
    if not (x > 0) or not math.isfinite(x):
        return float(floor_db)
    return float(max(10.0 * math.log10(x), floor_db))


# --------------------------------------------------------------------------- loudness


@lru_cache(maxsize=16)
def _k_weighting_sos(sr: float) -> np.ndarray:
    """Second-order sections of the BS.1770-4 K-weighting filter, from pyloudnorm."""
    import pyloudnorm  # imported lazily: only the loudness cues need it

    meter = pyloudnorm.Meter(sr)  # default filter_class="K-weighting"
    filters = getattr(meter, "_filters", None)
    if not filters:  # pragma: no cover - guards against a pyloudnorm refactor
        raise RuntimeError("pyloudnorm.Meter exposes no K-weighting filters; update aiaudio.cues")
    rows = []
    gain = 1.0
    for f in filters.values():
        b = np.asarray(f.b, dtype=np.float64)
        a = np.asarray(f.a, dtype=np.float64)
        rows.append(np.concatenate([b / a[0], a / a[0]]))
        gain *= float(getattr(f, "passband_gain", 1.0))
    sos = np.array(rows)
    sos[0, :3] *= gain
    return sos


def _channel_gains(n_ch: int) -> np.ndarray:
    # BS.1770-4 channel weights: L, R, C = 1.0; Ls, Rs = 1.41 (pyloudnorm's ordering). Extra
    # channels beyond five get 1.0.
    g = np.ones(n_ch)
    g[3:5] = 1.41
    return g


@dataclass(frozen=True)
class LoudnessStats:
    """Loudness measures of one signal (see :func:`loudness_stats`).

    Attributes
    ----------
    integrated_lufs : float
        Integrated loudness, LUFS (ITU-R BS.1770-4, gated). -70 for silence.
    lra_lu : float
        Loudness range, LU (EBU Tech 3342). 0 for clips shorter than 3 s.
    short_term_std_lu : float
        Standard deviation of the gated short-term loudness (3 s windows, 10 Hz), LU.
    momentary_std_lu : float
        Standard deviation of the gated momentary loudness (400 ms windows, 10 Hz), LU.
    short_term_lufs : np.ndarray
        The short-term loudness series (3 s windows every 100 ms), LUFS, ungated.
    """

    integrated_lufs: float
    lra_lu: float
    short_term_std_lu: float
    momentary_std_lu: float
    short_term_lufs: np.ndarray = field(repr=False)


def _hop_energies(y: np.ndarray, sr: float) -> tuple[np.ndarray, int]:
    """K-weight ``y`` and sum its squares over consecutive 100 ms hops.

    Returns ``(energies (channels, hops), hop_samples)``.
    """
    sos = _k_weighting_sos(sr)
    n = y.shape[1]
    hop = min(max(1, int(round(0.1 * sr))), n)  # a clip under 100 ms is one (short) hop
    out = np.empty((y.shape[0], max(1, n // hop)), dtype=np.float64)
    for c in range(y.shape[0]):
        z = scipy.signal.sosfilt(sos, y[c].astype(np.float64, copy=False))
        m = (n // hop) * hop
        zz = z[:m].reshape(-1, hop)
        out[c] = np.einsum("ij,ij->i", zz, zz)
    return out, hop


def _block_loudness(hop_e: np.ndarray, hop: int, hops_per_block: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean squares ``z`` (channels, blocks) and loudness ``l`` (blocks,) of sliding blocks.

    Blocks are ``hops_per_block`` hops long and advance by one hop. A signal shorter
    than one block gives a single block over all of it.
    """
    n_ch, n_h = hop_e.shape
    if n_h >= hops_per_block:
        cs = np.concatenate([np.zeros((n_ch, 1)), np.cumsum(hop_e, axis=1)], axis=1)
        z = (cs[:, hops_per_block:] - cs[:, :-hops_per_block]) / (hops_per_block * hop)
    else:
        z = hop_e.sum(axis=1, keepdims=True) / (n_h * hop)
    z = np.maximum(z, 0.0)  # cumsum differences can be -1e-18
    g = _channel_gains(n_ch)
    with np.errstate(divide="ignore"):
        l = -0.691 + 10.0 * np.log10(np.maximum((g[:, None] * z).sum(axis=0), _EPS * 1e-10))
    return z, l


def _gated_integrated(z: np.ndarray, l: np.ndarray) -> float:
    """BS.1770-4 two-stage gating on 400 ms blocks; LUFS, floored at -70."""
    g = _channel_gains(z.shape[0])
    abs_gate = l >= LOUDNESS_FLOOR_LUFS
    if not abs_gate.any():
        return LOUDNESS_FLOOR_LUFS
    rel = -0.691 + 10.0 * math.log10(max(float((g * z[:, abs_gate].mean(axis=1)).sum()), 1e-300)) - 10.0
    gate = abs_gate & (l > rel)
    if not gate.any():
        return LOUDNESS_FLOOR_LUFS
    val = -0.691 + 10.0 * math.log10(max(float((g * z[:, gate].mean(axis=1)).sum()), 1e-300))
    return float(max(val, LOUDNESS_FLOOR_LUFS))


def _gated_short_term(l: np.ndarray, rel_gate_lu: float) -> np.ndarray:
    """Tech 3342 gating of a loudness series: absolute -70 LUFS, then relative gate."""
    v = l[l >= LOUDNESS_FLOOR_LUFS]
    if v.size == 0:
        return v
    ref = 10.0 * math.log10(float(np.mean(10.0 ** (v / 10.0))))
    return v[v >= ref + rel_gate_lu]


def _loudness_from_hops(hop_e: np.ndarray, hop: int) -> LoudnessStats:
    z_m, l_m = _block_loudness(hop_e, hop, 4)  # 400 ms momentary blocks, 75 % overlap
    il = _gated_integrated(z_m, l_m)
    n_h = hop_e.shape[1]
    _, l_s = _block_loudness(hop_e, hop, 30)  # 3 s short-term blocks, 10 Hz
    if n_h >= 30:
        st = _gated_short_term(l_s, -20.0)
        lra = float(np.percentile(st, 95) - np.percentile(st, 10)) if st.size else 0.0
        st_std = float(np.std(st)) if st.size else 0.0
    else:
        lra, st_std = 0.0, 0.0
    if n_h >= 4:
        mo = _gated_short_term(l_m, -20.0)
        mo_std = float(np.std(mo)) if mo.size > 1 else 0.0
    else:
        mo_std = 0.0
    return LoudnessStats(il, lra, st_std, mo_std, np.maximum(l_s, LOUDNESS_FLOOR_LUFS - 50))


def loudness_stats(y: np.ndarray, sr: float) -> LoudnessStats:
    """Integrated loudness, loudness range and loudness spread in one pass.

    Parameters
    ----------
    y : np.ndarray
        Samples, ``(channels, samples)`` or ``(samples,)``; channel order L, R, C, Ls, Rs.
    sr : float
        Sample rate, Hz.

    Returns
    -------
    LoudnessStats

    Notes
    -----
    The signal is K-weighted with pyloudnorm's BS.1770-4 filters, then cut into
    100 ms hops (``round(0.1 * sr)`` samples; a trailing partial hop is dropped, as
    pyloudnorm drops a trailing partial block). Momentary blocks are 4 hops (400 ms,
    75 % overlap), short-term blocks 30 hops (3 s, advancing 100 ms).

    * Integrated loudness: BS.1770-4 gating (absolute -70 LUFS, relative -10 LU).
    * Loudness range (EBU Tech 3342): short-term loudness, gated at -70 LUFS and at
      -20 LU below the power mean of the absolutely gated blocks; LRA is the 95th minus
      the 10th percentile (linear interpolation). Unlike pyloudnorm, no 1.5 s of
      silence is appended (that would add decaying blocks at the end).
    * Spreads: standard deviation (LU) of the same gated short-term series, and of the
      momentary series gated the same way.

    Neutral values: silence gives -70 LUFS and 0 LU; clips shorter than 3 s have no
    complete short-term block and give LRA = short-term spread = 0 LU; clips shorter
    than 400 ms are measured as one block.
    """
    y = _as_2d(y)
    sr = _check_sr(sr)
    hop_e, hop = _hop_energies(y, sr)
    return _loudness_from_hops(hop_e, hop)


def integrated_loudness(y: np.ndarray, sr: float) -> float:
    """Integrated loudness (ITU-R BS.1770-4), LUFS.

    Parameters
    ----------
    y : np.ndarray
        Samples, ``(channels, samples)`` or ``(samples,)``.
    sr : float
        Sample rate, Hz.

    Returns
    -------
    float
        Loudness in LUFS (= LKFS). A 1 kHz sine of peak amplitude 0.1 (-20 dBFS)
        reads -23.0 LUFS in one channel and -20.0 LUFS in both channels of a stereo
        pair. Silence (everything below the -70 LUFS gate) reads -70.0.

    See Also
    --------
    loudness_stats : all loudness measures in one pass.
    """
    return loudness_stats(y, sr).integrated_lufs


def loudness_range(y: np.ndarray, sr: float) -> float:
    """Loudness range (EBU Tech 3342), LU: 95th minus 10th percentile of the gated
    short-term loudness. 0.0 for clips shorter than 3 s and for silence.

    Parameters
    ----------
    y : np.ndarray
        Samples, ``(channels, samples)`` or ``(samples,)``.
    sr : float
        Sample rate, Hz.

    Returns
    -------
    float
        LRA in LU.
    """
    return loudness_stats(y, sr).lra_lu


# --------------------------------------------------------------------------- peaks


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[start, end)`` index ranges of the runs of True in a 1-D mask."""
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) > 1)
    starts = np.concatenate([[idx[0]], idx[breaks + 1]])
    ends = np.concatenate([idx[breaks], [idx[-1]]]) + 1
    return [(s, e) for s, e in zip(starts, ends)]


def true_peak_dbtp(y: np.ndarray, sr: float) -> float:
    """True peak (ITU-R BS.1770-4 Annex 2 style, 4x oversampling), dBTP.

    Parameters
    ----------
    y : np.ndarray
        Samples, ``(channels, samples)`` or ``(samples,)``, full scale = 1.0.
    sr : float
        Sample rate, Hz.

    Returns
    -------
    float
        Highest absolute value of the 4x oversampled signal over all channels, in dB
        re full scale; floored at -120 dBTP (silence).

    Notes
    -----
    Oversampling uses soxr (4x, "MQ" quality) instead of the 48-tap filter of the
    standard's annex; to save time only the 2048-sample blocks whose sample peak is
    within 3.1 dB of the channel's sample peak are oversampled (with 64 samples of
    context each side): a band-limited signal cannot exceed its sample peak between
    samples that are all more than 3 dB below it, except in contrived cases. Signals
    at 176.4 kHz or more are not oversampled.
    """
    y = _as_2d(y)
    sr = _check_sr(sr)
    return _true_peak(y, sr)


def _true_peak(y: np.ndarray, sr: float) -> float:
    block, pad = 2048, 64
    best = 0.0
    for c in range(y.shape[0]):
        x = y[c]
        n = x.shape[0]
        nb = -(-n // block)
        xp = np.zeros(nb * block, dtype=x.dtype)
        xp[:n] = x
        bpk = np.abs(xp.reshape(nb, block)).max(axis=1)
        spk = float(bpk.max())
        best = max(best, spk)
        if spk <= 0 or sr >= 176400:
            continue
        sel = bpk >= spk * 10 ** (-3.1 / 20)
        for b0, b1 in _runs(sel):
            s = max(0, b0 * block - pad)
            e = min(n, b1 * block + pad)
            seg = np.ascontiguousarray(x[s:e], dtype=np.float32)
            if seg.size < 4:
                continue
            up = soxr.resample(seg, 1, 4, quality="MQ")
            best = max(best, float(np.abs(up).max()))
    return _db(best * best, -120.0)


def peak_to_loudness_ratio_db(y: np.ndarray, sr: float) -> float:
    """Peak-to-loudness ratio (PLR, EBU R 128 s1), dB: true peak (dBTP) minus
    integrated loudness (LUFS).

    Parameters
    ----------
    y : np.ndarray
        Samples, ``(channels, samples)`` or ``(samples,)``.
    sr : float
        Sample rate, Hz.

    Returns
    -------
    float
        PLR in dB; low values (below ~8 dB) mean heavy limiting. Silence gives 0.0.
    """
    y = _as_2d(y)
    sr = _check_sr(sr)
    il = loudness_stats(y, sr).integrated_lufs
    return _plr(_true_peak(y, sr), il)


def _plr(tp_db: float, il: float) -> float:
    if tp_db <= -120.0:
        return 0.0
    return float(tp_db - il)


def crest_factor_db(y: np.ndarray) -> float:
    """Crest factor: sample peak over RMS, in dB, over all channels together.

    Parameters
    ----------
    y : np.ndarray
        Samples, ``(channels, samples)`` or ``(samples,)``.

    Returns
    -------
    float
        ``20*log10(max|y| / sqrt(mean(y**2)))``: 3.01 dB for a sine, 0 dB for a square
        wave, about 11-14 dB for Gaussian noise of a few seconds, 20 dB and more for
        dynamic acoustic recordings. Silence gives 0.0.
    """
    y = _as_2d(y)
    return _crest(y)


def _crest(y: np.ndarray) -> float:
    peak = float(np.max(np.abs(y)))
    ms = float(np.mean(np.square(y, dtype=np.float64)))
    if peak <= 0 or ms <= 0:
        return 0.0
    return float(max(20.0 * math.log10(peak) - 10.0 * math.log10(ms), 0.0))


def clipped_sample_pct(y: np.ndarray) -> float:
    """Share of samples that sit on a clipping ceiling, in percent.

    Parameters
    ----------
    y : np.ndarray
        Samples, ``(channels, samples)`` or ``(samples,)``.

    Returns
    -------
    float
        Percentage (0-100) of samples, over all channels, whose magnitude is within
        0.001 dB of that channel's sample peak, counted only in channels where at
        least 3 samples reach it (a peak reached once or twice is just the peak; a
        ceiling reached again and again is clipping or brick-wall limiting). Hard
        clipping of Gaussian noise at 2 sigma reads 4.55 %; a square wave reads 100 %.
        Channels whose peak is below 1e-4 count as unclipped.

    Notes
    -----
    Lossy coding smears flat tops (the decoder overshoots), so clipping that happened
    before MP3/AAC encoding is mostly invisible here; so is limiting to a true-peak
    ceiling that leaves sample values below it.
    """
    y = _as_2d(y)
    return _clipped(y)


def _clipped(y: np.ndarray) -> float:
    total = 0
    for c in range(y.shape[0]):
        ax = np.abs(y[c])
        peak = float(ax.max())
        if peak < 1e-4:
            continue
        cnt = int(np.count_nonzero(ax >= peak * (1.0 - 1.2e-4)))
        if cnt >= 3:
            total += cnt
    return float(100.0 * total / y.size)


# --------------------------------------------------------------------------- spectrum


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
        if hop == n_fft:
            frames = x[: n_frames * n_fft].reshape(n_frames, n_fft)
        else:
            frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop][:n_frames]
        for i in range(0, n_frames, chunk):  # chunked FFT: memory stays bounded
            X = scipy.fft.rfft(frames[i : i + chunk] * win, axis=-1, workers=1)
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


# --------------------------------------------------------------------------- upsampler peaks


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


# --------------------------------------------------------------------------- shimmer


@dataclass(frozen=True)
class ShimmerResult:
    """What :func:`shimmer` measured.

    Attributes
    ----------
    shimmer_db : float
        Mean absolute frame-to-frame level change of high-band harmonic partials, dB.
    phase_incoherence : float
        Mean absolute phase acceleration of those partials, divided by pi (0-1).
    n_partial_frames : int
        Number of (bin, frame) partial points that entered the measures.
    analysed_s : float
        Seconds of audio analysed.
    """

    shimmer_db: float
    phase_incoherence: float
    n_partial_frames: int
    analysed_s: float


def _excerpts(x: np.ndarray, sr: float, n_ex: int, ex_s: float) -> list[np.ndarray]:
    n = x.shape[-1]
    L = int(round(ex_s * sr))
    if n <= n_ex * L:
        return [x]
    centres = [(2 * i + 1) / (2 * n_ex) for i in range(n_ex)]
    out = []
    for c in centres:
        s = int(round(c * n - L / 2))
        s = min(max(s, 0), n - L)
        out.append(x[s : s + L])
    return out


def shimmer(
    y: np.ndarray,
    sr: float,
    *,
    n_excerpts: int = SHIMMER_EXCERPTS,
    excerpt_s: float = SHIMMER_EXCERPT_S,
    band_hz: tuple[float, float] = SHIMMER_BAND_HZ,
) -> ShimmerResult:
    """Instability of the high-band harmonic partials: level shimmer and phase incoherence.

    Parameters
    ----------
    y : np.ndarray
        Samples, ``(channels, samples)`` or ``(samples,)``.
    sr : float
        Sample rate, Hz.
    n_excerpts, excerpt_s : int, float
        Analyse ``n_excerpts`` excerpts of ``excerpt_s`` seconds centred at evenly
        spread positions of the track (default 3 x 4 s, centred at 1/6, 1/2 and 5/6 of
        it); shorter signals are analysed whole.
    band_hz : (float, float)
        Band of the partials, Hz (default 2-8 kHz, where vocal and instrument
        harmonics are still resolved); its top is limited to 0.95 * sr / 2.

    Returns
    -------
    ShimmerResult

    Notes
    -----
    Exactly what is measured:

    1. The channels are averaged (mid signal); each excerpt is resampled to
       22.05 kHz (soxr) and analysed with a 1024-point Hann STFT, hop 256
       (46 ms frames, 11.6 ms hop, 21.5 Hz bins).
    2. HPSS on the magnitudes in the band (plus an 8-bin margin): harmonic = median
       over 17 frames (197 ms) along time, percussive = median over 17 bins (366 Hz)
       along frequency.
    3. A *partial point* is a (bin, frame) in the band that is a local maximum of the
       magnitude over frequency, harmonic-dominated (harmonic >= 2 x percussive), and
       no more than 40 dB below the loudest bin of that frame's band and 70 dB below
       the loudest bin (any frequency) of the excerpt.
    4. **shimmer_db**: for each partial point that is followed by a partial point at
       the same bin +-1 in the next frame, the absolute level change
       ``|20*log10(max(|X[k-1..k+1, t+1]|)) - 20*log10(|X[k, t]|)|`` (capped at
       20 dB); the cue is the mean over those pairs, in dB.
    5. **phase_incoherence**: for each partial point whose bin is also a partial point
       4 frames (one frame length, 46 ms, so the frames do not overlap) before and
       after, the phase acceleration ``princarg(phi[k, t+4] - 2 phi[k, t] + phi[k, t-4])``
       of the STFT; the cue is ``mean(|.|) / pi``. A steady sinusoid gives 0 (its phase
       advances by the same amount every 46 ms), random phases give 0.5. Vibrato and
       glides raise it too.

    Signals with no partial points (silence, noise, audio with no content above
    2 kHz such as 4 kHz-band telephone audio) read 0.0 for both.
    """
    y = _as_2d(y)
    sr = _check_sr(sr)
    x = y.mean(axis=0) if y.shape[0] > 1 else y[0]
    hi = min(band_hz[1], 0.95 * sr / 2.0)
    lo = band_hz[0]
    total_s = 0.0
    sh_sum, sh_n = 0.0, 0
    ph_sum, ph_n = 0.0, 0
    if hi - lo < 500.0:
        return ShimmerResult(0.0, 0.0, 0, 0.0)
    n_fft, hop = 1024, 256
    df = SHIMMER_SR / n_fft
    k_lo = int(math.ceil(lo / df))
    k_hi = int(math.floor(hi / df))
    margin = 8
    r_lo = max(0, k_lo - margin)
    r_hi = min(n_fft // 2 + 1, k_hi + margin + 1)
    win = scipy.signal.get_window("hann", n_fft).astype(np.float32)
    for ex in _excerpts(x, sr, n_excerpts, excerpt_s):
        total_s += ex.shape[-1] / sr
        if sr != SHIMMER_SR:
            ex = soxr.resample(np.ascontiguousarray(ex, dtype=np.float32), sr, SHIMMER_SR, quality="MQ")
        ex = np.asarray(ex, dtype=np.float32)
        if ex.shape[0] < n_fft + 2 * hop:
            ex = np.pad(ex, (0, n_fft + 2 * hop - ex.shape[0]))
        frames = np.lib.stride_tricks.sliding_window_view(ex, n_fft)[::hop]
        X = scipy.fft.rfft(frames * win, axis=-1, workers=1)
        gmax = float(np.sqrt((X.real**2 + X.imag**2).max()))  # loudest bin of the excerpt
        if gmax <= 1e-6:  # below about -130 dBFS: silence
            continue
        X = X[:, r_lo:r_hi].T  # (bins, frames) in the band and its margin
        mag = np.abs(X)
        harm = harmonic_mask(mag, mode="reflect")
        b0, b1 = k_lo - r_lo, k_hi - r_lo + 1
        mb = mag[b0:b1]
        left = mag[b0 - 1 : b1 - 1] if b0 >= 1 else np.vstack([mb[:1], mb[:-1]])
        right = mag[b0 + 1 : b1 + 1] if b1 + 1 <= mag.shape[0] else np.vstack([mb[1:], mb[-1:]])
        frame_max = mb.max(axis=0, keepdims=True)
        partial = (
            (mb >= left)
            & (mb > right)
            & harm[b0:b1]
            & (mb >= frame_max * 10 ** (-40 / 20))
            & (mb >= gmax * 10 ** (-70 / 20))
        )
        if partial.shape[1] < 3:
            continue
        ldb = 20.0 * np.log10(mb + gmax * 1e-7)
        # shimmer: partial at t and a partial within +-1 bin at t+1
        pd = scipy.ndimage.maximum_filter1d(partial.astype(np.uint8), 3, axis=0).astype(bool)
        pair = partial[:, :-1] & pd[:, 1:]
        if pair.any():
            lmax_next = scipy.ndimage.maximum_filter1d(ldb, 3, axis=0)[:, 1:]
            d = np.minimum(np.abs(lmax_next - ldb[:, :-1])[pair], 20.0)
            sh_sum += float(d.sum())
            sh_n += int(d.size)
        # phase incoherence: same bin a partial at t-q, t, t+q, frames q hops apart not
        # overlapping (overlapping frames share samples, which smooths their phases)
        q = n_fft // hop
        if partial.shape[1] <= 2 * q:
            continue
        trip = partial[:, q:-q] & partial[:, : -2 * q] & partial[:, 2 * q :]
        if trip.any():
            ph = np.angle(X[b0:b1])
            acc = ph[:, 2 * q :] - 2.0 * ph[:, q:-q] + ph[:, : -2 * q]
            acc = np.angle(np.exp(1j * acc[trip]))
            ph_sum += float(np.abs(acc).sum() / math.pi)
            ph_n += int(acc.size)
    shim = sh_sum / sh_n if sh_n else 0.0
    inc = ph_sum / ph_n if ph_n else 0.0
    return ShimmerResult(float(shim), float(inc), int(sh_n), float(total_s))


# --------------------------------------------------------------------------- stereo


def _stereo_sums(y: np.ndarray) -> tuple[float, float, float, float, float, int]:
    """(sum L^2, sum R^2, sum L*R, mean L, mean R, n) in float64, in chunks."""
    L, R = y[0], y[1]
    n = L.shape[0]
    sll = srr = slr = sl = srs = 0.0
    step = 1 << 20
    for i in range(0, n, step):
        a = L[i : i + step].astype(np.float64)
        b = R[i : i + step].astype(np.float64)
        sll += float(np.dot(a, a))
        srr += float(np.dot(b, b))
        slr += float(np.dot(a, b))
        sl += float(a.sum())
        srs += float(b.sum())
    return sll, srr, slr, sl / n, srs / n, n


def stereo_correlation(y: np.ndarray) -> float:
    """Inter-channel (Pearson) correlation of the first two channels, -1 to 1.

    Parameters
    ----------
    y : np.ndarray
        Samples, ``(channels, samples)`` or ``(samples,)``.

    Returns
    -------
    float
        1.0 for identical channels and for mono input (neutral: no stereo image),
        -1.0 for a channel and its inverse, about 0 for independent channels. When
        only one of the two channels is silent, 0.0; when both are, 1.0.
    """
    y = _as_2d(y)
    if y.shape[0] < 2:
        return 1.0
    return _corr(_stereo_sums(y))


def _corr(s: tuple[float, float, float, float, float, int]) -> float:
    sll, srr, slr, ml, mr, n = s
    vl = sll / n - ml * ml
    vr = srr / n - mr * mr
    cov = slr / n - ml * mr
    tiny = 1e-20
    if vl <= tiny and vr <= tiny:
        return 1.0
    if vl <= tiny or vr <= tiny:
        return 0.0
    return float(np.clip(cov / math.sqrt(vl * vr), -1.0, 1.0))


def side_mid_ratio_db(y: np.ndarray) -> float:
    """Side over mid energy, dB: ``10*log10(sum(S^2) / sum(M^2))`` with
    ``M = (L + R) / 2`` and ``S = (L - R) / 2`` (first two channels).

    Parameters
    ----------
    y : np.ndarray
        Samples, ``(channels, samples)`` or ``(samples,)``.

    Returns
    -------
    float
        Ratio in dB, clipped to [-60, 60]. Mono input, identical channels and silence
        read -60.0 (the neutral "no side signal" value); independent channels of
        equal level read 0 dB; a polarity-inverted pair reads +60.
    """
    y = _as_2d(y)
    if y.shape[0] < 2:
        return RATIO_FLOOR_DB
    return _side_mid(_stereo_sums(y))


def _side_mid(s: tuple[float, float, float, float, float, int]) -> float:
    sll, srr, slr = s[0], s[1], s[2]
    e_mid = max((sll + srr + 2 * slr) / 4.0, 0.0)
    e_side = max((sll + srr - 2 * slr) / 4.0, 0.0)
    if e_side <= 1e-30:
        return RATIO_FLOOR_DB
    if e_mid <= 1e-30:
        return -RATIO_FLOOR_DB
    return float(np.clip(10.0 * math.log10(e_side / e_mid), RATIO_FLOOR_DB, -RATIO_FLOOR_DB))


# --------------------------------------------------------------------------- table of cues


@dataclass(frozen=True)
class CueInfo:
    """One row of the cue table.

    Attributes
    ----------
    unit : str
        Unit of the value.
    group : str
        ``dynamics``, ``spectrum``, ``upsampler``, ``shimmer`` or ``stereo``.
    description : str
        What is measured, in one sentence.
    direction_hint : str
        How the value tends to move for AI-generated audio on the development data,
        and what else moves it (a hint for explanations, not a rule).
    """

    unit: str
    group: str
    description: str
    direction_hint: str


CUE_INFO: dict[str, CueInfo] = {
    "integrated_loudness_lufs": CueInfo(
        "LUFS", "dynamics",
        "Integrated loudness, ITU-R BS.1770-4 (K-weighting from pyloudnorm, gated); -70 for silence.",
        "Mastering choice. AI files were louder on the dev share (AUC 0.66) but not on content-matched pairs (0.40).",
    ),
    "loudness_range_lu": CueInfo(
        "LU", "dynamics",
        "Loudness range, EBU Tech 3342: 95th minus 10th percentile of gated short-term loudness; 0 under 3 s.",
        "Low for heavily compressed audio, human or AI; no separation on the dev share (AUC 0.53); falls with clip length.",
    ),
    "true_peak_dbtp": CueInfo(
        "dBTP", "dynamics",
        "True peak, 4x oversampled (soxr), over all channels; -120 for silence.",
        "Mastering choice; near 0 dBTP for loud masters, human or AI.",
    ),
    "peak_to_loudness_db": CueInfo(
        "dB", "dynamics",
        "Peak-to-loudness ratio: true peak (dBTP) minus integrated loudness (LUFS); 0 for silence.",
        "Low (< 8 dB) for heavily limited audio, human or AI; weak on the dev share (AUC 0.44).",
    ),
    "crest_factor_db": CueInfo(
        "dB", "dynamics",
        "Sample peak over RMS, all channels together; 0 for silence.",
        "Low for compressed/limited audio, human or AI; weak on the dev share (AUC 0.42).",
    ),
    "short_term_loudness_std_lu": CueInfo(
        "LU", "dynamics",
        "Standard deviation of the gated short-term loudness (3 s windows, 10 Hz); 0 under 3 s.",
        "Low for compressed audio; no separation on the dev share (AUC 0.52); falls with clip length.",
    ),
    "momentary_loudness_std_lu": CueInfo(
        "LU", "dynamics",
        "Standard deviation of the gated momentary loudness (400 ms windows, 10 Hz).",
        "Low for dense, compressed audio; slightly lower for AI on the dev share (AUC 0.41).",
    ),
    "clipped_sample_pct": CueInfo(
        "%", "dynamics",
        "Share of samples in flat runs (>= 3 equal samples) within 0.2 dB of the channel peak.",
        "High for clipped masters; lossy decoding hides it; no separation on the dev share.",
    ),
    "cutoff_hz": CueInfo(
        "Hz", "spectrum",
        "Effective cut-off: -10 dB point of the deepest sharp cliff (>= 20 dB) of the long-term spectrum; sr/2 if none.",
        "Low for band-limited audio: sample rate and lossy codec (MP3 128 kbps ~16-17 kHz). Confounded: no separation on content-matched pairs (AUC 0.45).",
    ),
    "hf_energy_ratio_db": CueInfo(
        "dB", "spectrum",
        "Energy above 8 kHz relative to the total, from the long-term spectrum; -120 if none.",
        "Low for band-limited or dark audio; confounded by sample rate, codec and content.",
    ),
    "flatness_low_db": CueInfo(
        "dB", "spectrum",
        "Spectral flatness 50-500 Hz: median over ~0.37 s frames of geometric/arithmetic mean power.",
        "Higher (noisier bass) for AI on the dev share (AUC 0.67), partly content.",
    ),
    "flatness_mid_db": CueInfo(
        "dB", "spectrum",
        "Spectral flatness 0.5-4 kHz (as flatness_low_db).",
        "Higher (more noise-like mids) for AI on the dev share (AUC 0.70, 0.69 after MP3).",
    ),
    "flatness_high_db": CueInfo(
        "dB", "spectrum",
        "Spectral flatness 4-8 kHz (as flatness_low_db); 0 if the band is empty or above sr/2.",
        "Higher (noise-like 4-8 kHz) for AI on the dev share (0.65; 0.79 at 44.1/48 kHz); MP3 coding changes it (0.56).",
    ),
    "flatness_air_db": CueInfo(
        "dB", "spectrum",
        "Spectral flatness 8-16 kHz (as flatness_low_db); 0 if the band is empty or above sr/2.",
        "Reads 0 for band-limited audio; confounded by sample rate and codec.",
    ),
    "upsampler_peak_db": CueInfo(
        "dB", "upsampler",
        "Mean height above the median of the 5 most prominent narrow peaks of the residual spectrum (upper band).",
        "Narrow peaks also come from tonal music: human instrumental tracks read higher (AUC 0.33); not an AI cue on its own.",
    ),
    "upsampler_periodicity_z": CueInfo(
        "z", "upsampler",
        "Comb score of evenly spaced peaks in the residual spectrum (z-score, ~2-4 without a comb).",
        "High for transposed-conv decoders (Encodec, Musika, LAC vs their source: AUC 0.71-1.0, survives MP3); chance for other generators.",
    ),
    "upsampler_period_hz": CueInfo(
        "Hz", "upsampler",
        "Spacing of the best comb of peaks (0 if the band is too narrow); a label more than a score.",
        "Compare with the intermediate rates of known decoders; not a score.",
    ),
    "shimmer_db": CueInfo(
        "dB", "shimmer",
        "Mean |frame-to-frame level change| of harmonic partials at 2-8 kHz (HPSS; 3 x 4 s excerpts at 22.05 kHz).",
        "Higher for AI on the dev share (AUC 0.75, 0.75 after MP3, 0.78 at 44.1/48 kHz): the most robust cue here.",
    ),
    "phase_incoherence": CueInfo(
        "0-1", "shimmer",
        "Mean |phase acceleration|/pi of those partials over three non-overlapping frames 46 ms apart (0 steady, 0.5 random).",
        "Higher for AI on the dev share (AUC 0.76, 0.77 after MP3), but near chance on content-matched pairs (0.55).",
    ),
    "stereo_correlation": CueInfo(
        "-1..1", "stereo",
        "Pearson correlation of L and R; 1 for mono.",
        "Near 1 for mono or narrow mixes; on the dev share it mostly tracks mono human test clips (confounded).",
    ),
    "side_mid_ratio_db": CueInfo(
        "dB", "stereo",
        "Side over mid energy, S=(L-R)/2, M=(L+R)/2; -60 for mono.",
        "Low (-60) for mono; on the dev share it mostly tracks mono human test clips (confounded).",
    ),
}

#: The names :func:`extract_cues` returns, in table order.
CUE_NAMES: tuple[str, ...] = tuple(CUE_INFO)


# --------------------------------------------------------------------------- all cues


def extract_cues(
    y: np.ndarray,
    sr: float,
    *,
    timings: dict[str, float] | None = None,
) -> dict[str, float]:
    """Compute every cue of :data:`CUE_INFO` for one signal.

    Parameters
    ----------
    y : np.ndarray
        Samples, float (or integer PCM, scaled by its type's range), shape
        ``(channels, samples)`` or ``(samples,)`` for mono, full scale = 1.0. Use
        ``aiaudio.load_audio(path)`` to read a file in this layout.
    sr : float
        Sample rate, Hz (any rate; nothing is resampled except the shimmer excerpts).
    timings : dict, optional
        If given, filled with the seconds spent per cue group (for benchmarks).

    Returns
    -------
    dict of str to float
        ``{name: value}`` for every name in :data:`CUE_NAMES`, in that order. Values
        are finite floats for any non-empty, finite input.

    Raises
    ------
    ValueError
        Empty input, NaN/infinite samples, more than two dimensions, bad ``sr``.

    Warns
    -----
    aiaudio.audio.BeyondFullScaleWarning
        Float samples peak above :data:`aiaudio.audio.FULL_SCALE_LIMIT` (2.0): probably
        integer PCM values stored as floats. The level cues (loudness, true peak, crest,
        clipping, peak-to-loudness) then assume the wrong full scale.

    Notes
    -----
    Cost: about linear in length, 0.5-0.9 s for a 3-minute stereo 44.1 kHz track on one
    core (see ``benchmarks/bench_cues.py``); the shimmer analysis reads a bounded
    12 s of the track whatever its length.
    """
    y = _as_2d(y)
    sr = _check_sr(sr)
    if _beyond_full_scale(y):
        from .audio import FULL_SCALE_LIMIT, BeyondFullScaleWarning

        warnings.warn(
            f"aiaudio.cues: the samples peak above {FULL_SCALE_LIMIT:g} (full scale is 1.0): are they integer "
            "PCM values stored as floats? Loudness, peak and clipping cues assume full scale 1.0; divide by "
            "32768 (int16) or pass the integer array itself.",
            BeyondFullScaleWarning,
            stacklevel=2,
        )
    return _all_cues(y, sr, timings)


def _all_cues(y: np.ndarray, sr: float, timings: dict[str, float] | None = None) -> dict[str, float]:
    """:func:`extract_cues` of checked input (``_as_2d``, ``_check_sr``), without the level warning."""
    t = time.perf_counter
    tm: dict[str, float] = {}

    t0 = t()
    hop_e, hop = _hop_energies(y, sr)
    ls = _loudness_from_hops(hop_e, hop)
    tm["loudness"] = t() - t0

    t0 = t()
    tp = _true_peak(y, sr)
    crest = _crest(y)
    clip = _clipped(y)
    tm["peaks"] = t() - t0

    t0 = t()
    spec = long_term_spectrum(y, sr)
    tm["spectrum"] = t() - t0
    t0 = t()
    cut = _cutoff_from_ltas(spec)
    hf = hf_energy_ratio_db(y, sr, spectrum=spec)
    flat = spectral_flatness_bands(y, sr, spectrum=spec)
    tm["cutoff_flatness"] = t() - t0
    t0 = t()
    pk = upsampler_peaks(y, sr, spectrum=spec, cutoff_hz=cut)
    tm["upsampler"] = t() - t0

    t0 = t()
    sh = shimmer(y, sr)
    tm["shimmer"] = t() - t0

    t0 = t()
    if y.shape[0] >= 2:
        sums = _stereo_sums(y)
        corr, smr = _corr(sums), _side_mid(sums)
    else:
        corr, smr = 1.0, RATIO_FLOOR_DB
    tm["stereo"] = t() - t0

    out = {
        "integrated_loudness_lufs": ls.integrated_lufs,
        "loudness_range_lu": ls.lra_lu,
        "true_peak_dbtp": tp,
        "peak_to_loudness_db": _plr(tp, ls.integrated_lufs),
        "crest_factor_db": crest,
        "short_term_loudness_std_lu": ls.short_term_std_lu,
        "momentary_loudness_std_lu": ls.momentary_std_lu,
        "clipped_sample_pct": clip,
        "cutoff_hz": cut,
        "hf_energy_ratio_db": hf,
        "flatness_low_db": flat["low"],
        "flatness_mid_db": flat["mid"],
        "flatness_high_db": flat["high"],
        "flatness_air_db": flat["air"],
        "upsampler_peak_db": pk.strength_db,
        "upsampler_periodicity_z": pk.periodicity,
        "upsampler_period_hz": pk.period_hz,
        "shimmer_db": sh.shimmer_db,
        "phase_incoherence": sh.phase_incoherence,
        "stereo_correlation": corr,
        "side_mid_ratio_db": smr,
    }
    for k, v in out.items():
        v = float(v)
        out[k] = v if math.isfinite(v) else 0.0  # belt and braces; should not happen
    if timings is not None:
        timings.update(tm)
    return {k: out[k] for k in CUE_NAMES}


def _beyond_full_scale(y: np.ndarray) -> bool:
    """True when ``y`` peaks above :data:`aiaudio.audio.FULL_SCALE_LIMIT` (2.0, +6 dBFS)."""
    from .audio import FULL_SCALE_LIMIT

    a = np.asarray(y)
    return bool(a.size) and float(np.max(np.abs(a))) > FULL_SCALE_LIMIT


def file_cues(
    path_or_file: str | os.PathLike[str] | Any, *, max_analysis_s: float | None = MAX_ANALYSIS_S
) -> tuple[dict[str, float], list[str]]:
    """The cues of a file's first ``max_analysis_s`` seconds, and flags that qualify them.

    Parameters
    ----------
    path_or_file : path or binary file object
        Any file :func:`aiaudio.load_audio` reads.
    max_analysis_s : float or None
        Longest stretch (s) from the start that is decoded and analysed (default
        :data:`aiaudio.audio.MAX_ANALYSIS_S`, 10 minutes): memory is bounded by it, not
        by the file's length. ``None``: the whole file, in memory.

    Returns
    -------
    cues : dict of str to float
        As :func:`extract_cues`.
    flags : list of str
        ``"cues_truncated"`` when the file is longer than ``max_analysis_s`` (the cues
        describe its start only); ``"beyond_full_scale"`` when its samples peak above 2.0.

    Raises
    ------
    aiaudio.AudioLoadError
        The file cannot be decoded or is unusable.
    """
    from .audio import stream_audio

    max_s = None if max_analysis_s is None else float(max_analysis_s)
    if max_s is not None and not (math.isfinite(max_s) and max_s > 0):
        raise ValueError(f"max_analysis_s must be a positive number of seconds or None, got {max_analysis_s!r}")
    with stream_audio(path_or_file, duration=max_s, block_s=60.0 if max_s is None else min(60.0, max_s)) as st:
        blocks = list(st)
        sr, truncated = st.sr, st.truncated
    y = blocks[0] if len(blocks) == 1 else np.concatenate(blocks, axis=1)
    del blocks
    y = _as_2d(y)
    flags = (["cues_truncated"] if truncated else []) + (["beyond_full_scale"] if _beyond_full_scale(y) else [])
    return _all_cues(y, _check_sr(sr)), flags  # no warning: the flag says it


# --------------------------------------------------------------------------- human ranges


@lru_cache(maxsize=1)
def human_ranges() -> dict[str, Any]:
    """The reference percentiles of every cue over human music (``assets/human_ranges.json``).

    Returns
    -------
    dict
        ``{"meta": {...}, "cues": {name: {"n": int, "percentiles": {"0": v, "1": v, ...,
        "100": v}}}}``. Built by ``scripts/build_human_ranges.py``.
    """
    from importlib import resources

    try:
        text = resources.files("aiaudio").joinpath("assets").joinpath("human_ranges.json").read_text(encoding="utf-8")
    except (FileNotFoundError, OSError) as e:
        raise FileNotFoundError(
            "aiaudio/assets/human_ranges.json is missing; build it with scripts/build_human_ranges.py"
        ) from e
    return json.loads(text)


def percentile_of(name: str, value: float) -> float:
    """Percentile of ``value`` among the human reference tracks for cue ``name``.

    Parameters
    ----------
    name : str
        A cue name from :data:`CUE_NAMES`.
    value : float
        The cue's value for some track.

    Returns
    -------
    float
        0-100: the share (in percent) of human reference tracks with a lower value,
        counting ties as half (mid-rank), interpolated linearly between the stored
        percentiles (0, 1, 5, 10, 25, 50, 75, 90, 95, 99, 100). Values outside the
        human range read 0 or 100. NaN for a NaN value. A result of 3.0 for
        ``percentile_of("crest_factor_db", 6.1)`` reads "crest factor 6.1 dB, lower
        than 97 % of human tracks".

    Raises
    ------
    KeyError
        Unknown cue name.
    """
    cues = human_ranges()["cues"]
    if name not in cues:
        raise KeyError(f"no human reference range for cue {name!r}; known: {sorted(cues)}")
    v = float(value)
    if math.isnan(v):
        return float("nan")
    pct = cues[name]["percentiles"]
    ps = np.array([float(p) for p in pct])
    vs = np.array([float(pct[p]) for p in pct])
    order = np.lexsort((ps, vs))
    ps, vs = ps[order], vs[order]
    uv, first = np.unique(vs, return_index=True)
    last = np.r_[first[1:] - 1, len(vs) - 1]
    p_lo = np.interp(v, uv, ps[first])
    p_hi = np.interp(v, uv, ps[last])
    if v < uv[0]:
        return 0.0
    if v > uv[-1]:
        return 100.0
    return float((p_lo + p_hi) / 2.0)
