"""Signal processing shared by the explanations and the training augmentation.

Gain, EQ (biquads), a feed-forward compressor and a downward expander, a steep
low-pass, a Hann STFT and its inverse, and the temporal smoothing of harmonic
partials. Pure functions on ``float32`` samples (``(channels, samples)`` or
``(samples,)``) at a sample rate in Hz; no randomness, no training dependency:
:mod:`aiaudio.explain` (interventions) and :mod:`aiaudio.training.augment` (training, the
robustness suite) both use them.
"""

from __future__ import annotations

import functools
import math
from typing import Literal, NamedTuple, Sequence

import numpy as np

from .errors import require_extra

require_extra(("scipy",), "cues", "aiaudio.dsp (the cues' filters and spectra)")

import scipy.ndimage  # noqa: E402
import scipy.signal  # noqa: E402
from scipy.ndimage import maximum_filter1d, uniform_filter1d  # noqa: E402

__all__ = ["EQBand", "compress", "eq", "expand", "gain", "harmonic_mask", "istft", "lowpass", "smooth_partials", "frames", "stft", "true_runs"]


def _as2d(y: np.ndarray) -> np.ndarray:
    """``float32 (channels, samples)``; a 1-D array is taken as mono."""
    a = np.asarray(y, dtype=np.float32)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2:
        raise ValueError(f"expected samples of shape (samples,) or (channels, samples), got {a.shape}")
    return a


# --------------------------------------------------------------------------- band limits


def lowpass(y: np.ndarray, sr: int, cutoff_hz: float, order: int = 8) -> np.ndarray:
    """Steep zero-phase low-pass filter.

    An elliptic (Cauer) filter of ``order`` poles, 0.05 dB pass-band ripple and
    80 dB stop-band attenuation (:func:`scipy.signal.ellip`), applied forward and
    backward (:func:`scipy.signal.sosfiltfilt`), so there is no phase shift and the
    attenuation in dB doubles. With the default order the response is flat within
    0.1 dB up to ``cutoff_hz`` and more than 80 dB down from about 1.06 x ``cutoff_hz``:
    about as steep as the anti-alias filter of a resampler or the low-pass of an
    MP3 encoder.

    Parameters
    ----------
    y : np.ndarray
        Samples, ``(channels, samples)`` or ``(samples,)``.
    sr : int
        Sample rate (Hz).
    cutoff_hz : float
        Pass-band edge (Hz). At or above ``sr / 2`` the input is returned unchanged.
    order : int
        Filter order (poles); lower is gentler.

    Returns
    -------
    np.ndarray
        ``float32``, same shape.
    """
    y = np.asarray(y, dtype=np.float32)
    if cutoff_hz <= 0:
        raise ValueError(f"cutoff_hz must be positive, got {cutoff_hz}")
    if cutoff_hz >= 0.999 * sr / 2 or y.shape[-1] == 0:
        return y.copy()
    sos = _ellip_sos(int(order), float(cutoff_hz), int(sr))
    if y.shape[-1] <= 3 * (2 * len(sos) + 1):  # too short for the edge padding of filtfilt
        return scipy.signal.sosfilt(sos, y, axis=-1).astype(np.float32)
    return scipy.signal.sosfiltfilt(sos, y, axis=-1).astype(np.float32)


@functools.lru_cache(maxsize=128)
def _ellip_sos(order: int, cutoff_hz: float, sr: int) -> np.ndarray:
    return scipy.signal.ellip(order, 0.05, 80.0, cutoff_hz, btype="low", fs=sr, output="sos")


# --------------------------------------------------------------------------- level, EQ, dynamics


def gain(y: np.ndarray, db: float) -> np.ndarray:
    """Scale by ``db`` decibels (amplitude factor ``10 ** (db / 20)``); no clipping."""
    return (np.asarray(y, dtype=np.float32) * np.float32(10.0 ** (db / 20.0))).astype(np.float32)


class EQBand(NamedTuple):
    """One equaliser band (RBJ "Audio EQ Cookbook" biquad).

    Attributes
    ----------
    kind : {'peak', 'lowshelf', 'highshelf'}
    freq_hz : float
        Centre frequency (peak) or corner frequency (shelves), Hz.
    gain_db : float
        Boost (> 0) or cut (< 0) in dB at the centre / on the shelf.
    q : float
        Quality factor; for shelves 0.707 gives the steepest slope without overshoot.
    """

    kind: str
    freq_hz: float
    gain_db: float
    q: float = 0.707


def _biquad(band: EQBand, sr: int) -> np.ndarray:
    """Second-order section ``[b0, b1, b2, 1, a1, a2]`` of an RBJ cookbook filter."""
    kind, f0, g, q = band.kind, float(band.freq_hz), float(band.gain_db), float(band.q)
    if not 0 < f0 < sr / 2:
        raise ValueError(f"EQ frequency {f0} Hz must lie in (0, {sr / 2}) Hz")
    if q <= 0:
        raise ValueError(f"EQ q must be positive, got {q}")
    A = 10.0 ** (g / 40.0)
    w0 = 2 * math.pi * f0 / sr
    cw, alpha = math.cos(w0), math.sin(w0) / (2 * q)
    if kind == "peak":
        b = [1 + alpha * A, -2 * cw, 1 - alpha * A]
        a = [1 + alpha / A, -2 * cw, 1 - alpha / A]
    elif kind in ("lowshelf", "highshelf"):
        s = 1 if kind == "lowshelf" else -1
        sq = 2 * math.sqrt(A) * alpha
        b = [
            A * ((A + 1) - s * (A - 1) * cw + sq),
            s * 2 * A * ((A - 1) - s * (A + 1) * cw),
            A * ((A + 1) - s * (A - 1) * cw - sq),
        ]
        a = [(A + 1) + s * (A - 1) * cw + sq, -s * 2 * ((A - 1) + s * (A + 1) * cw), (A + 1) + s * (A - 1) * cw - sq]
    else:
        raise ValueError(f"unknown EQ band kind {kind!r}; use 'peak', 'lowshelf' or 'highshelf'")
    return np.array([b[0] / a[0], b[1] / a[0], b[2] / a[0], 1.0, a[1] / a[0], a[2] / a[0]])


def eq(y: np.ndarray, sr: int, bands: Sequence[EQBand | tuple]) -> np.ndarray:
    """Parametric equaliser: a cascade of peaking and shelving biquads.

    The filters are causal (minimum phase, like an analogue or a typical plug-in
    equaliser), applied with :func:`scipy.signal.sosfilt`.

    Parameters
    ----------
    y : np.ndarray
        Samples, ``(channels, samples)`` or ``(samples,)``.
    sr : int
        Sample rate (Hz).
    bands : sequence of EQBand or (kind, freq_hz, gain_db[, q]) tuples
        E.g. ``[("lowshelf", 120, 3.0), ("peak", 2500, -4.0, 1.4)]``.

    Returns
    -------
    np.ndarray
        ``float32``, same shape.
    """
    y = np.asarray(y, dtype=np.float32)
    if not bands:
        return y.copy()
    sos = np.stack([_biquad(EQBand(*b), int(sr)) for b in bands])
    return scipy.signal.sosfilt(sos, y, axis=-1).astype(np.float32)


def compress(
    y: np.ndarray,
    sr: int,
    threshold_db: float = -20.0,
    ratio: float = 4.0,
    attack_ms: float = 5.0,
    release_ms: float = 100.0,
    makeup: float | Literal["auto"] = "auto",
    knee_db: float = 6.0,
) -> np.ndarray:
    """Feed-forward dynamic range compressor / limiter (vectorised, no per-sample loop).

    Level detection is linked across channels (the largest absolute sample of all
    channels); the envelope is a look-ahead peak detector in the manner of
    Giannoulis, Massberg & Reiss (2012), "Digital dynamic range compressor design":

    1. release: a peak follower with instant rise that decays exponentially with time
       constant ``release_ms`` (8.69 dB per ``release_ms``). In dB this is a running
       maximum of ``level[k] + k * decay`` (:func:`numpy.maximum.accumulate`);
    2. attack with look-ahead: the maximum of that envelope over the next ``attack_ms``
       (:func:`scipy.ndimage.maximum_filter1d`), averaged over the last ``attack_ms``
       (:func:`scipy.ndimage.uniform_filter1d`): the gain reduction ramps in over
       ``attack_ms`` and is complete when the peak arrives, so no transient overshoots
       (a look-ahead limiter with ``ratio=np.inf``);
    3. gain computer: above ``threshold_db`` the level is reduced by
       ``(1 - 1 / ratio)`` dB per dB, with a quadratic soft knee ``knee_db`` wide.

    Parameters
    ----------
    y : np.ndarray
        Samples, ``(channels, samples)`` or ``(samples,)``.
    sr : int
        Sample rate (Hz).
    threshold_db : float
        Threshold (dB re full scale, peak level).
    ratio : float
        Compression ratio (>= 1); ``np.inf`` makes a limiter.
    attack_ms, release_ms : float
        Attack and release time constants (ms).
    makeup : float or 'auto'
        Make-up gain in dB after compression; ``'auto'`` restores the input's RMS level.
    knee_db : float
        Width of the soft knee (dB); 0 for a hard knee.

    Returns
    -------
    np.ndarray
        ``float32``, same shape (not clipped).
    """
    y2 = _as2d(y)
    if ratio < 1:
        raise ValueError(f"ratio must be >= 1, got {ratio}")
    if attack_ms <= 0 or release_ms <= 0:
        raise ValueError("attack_ms and release_ms must be positive")
    n = y2.shape[1]
    if n == 0:
        return np.asarray(y, dtype=np.float32).copy()
    # The envelope runs on blocks of B samples (block peak), at most a quarter of the
    # attack time and 64 samples long; the gain is interpolated back to every sample.
    look = max(1, int(round(attack_ms * 1e-3 * sr)))
    B = int(max(1, min(64, look // 4)))
    nb = -(-n // B)
    peak = np.abs(y2).max(axis=0)
    if nb * B > n:
        peak = np.pad(peak, (0, nb * B - n))
    level = 20.0 * np.log10(np.maximum(peak.reshape(nb, B).max(axis=1).astype(np.float64), 1e-8))
    decay = B * 20.0 / math.log(10.0) / (release_ms * 1e-3 * sr)  # dB per block
    ramp = np.arange(nb, dtype=np.float64) * decay
    env = np.maximum.accumulate(level + ramp) - ramp
    look_b = -(-look // B)
    if look_b > 1:
        env = maximum_filter1d(env, look_b + 1, mode="nearest", origin=-((look_b + 1) // 2))  # max over [b, b + look_b]
        env = uniform_filter1d(env, look_b, mode="nearest", origin=(look_b - 1) // 2)  # mean over (b - look_b, b]
    slope = 1.0 if math.isinf(ratio) else 1.0 - 1.0 / ratio
    over = env - threshold_db
    if knee_db > 0:
        w = float(knee_db)
        gr = np.where(over >= w / 2, slope * over, slope * np.square(np.clip(over + w / 2, 0.0, None)) / (2 * w))
    else:
        gr = slope * np.maximum(over, 0.0)
    if B > 1:
        centres = np.arange(nb) * B + (B - 1) / 2
        gr = np.interp(np.arange(n, dtype=np.float64), centres, gr)
    g = np.exp(gr.astype(np.float32) * np.float32(-math.log(10.0) / 20.0))
    out = y2 * g
    if makeup == "auto":
        rin = float(np.sqrt(np.mean(np.square(y2, dtype=np.float64))))
        rout = float(np.sqrt(np.mean(np.square(out, dtype=np.float64))))
        if rout > 0:
            out = out * np.float32(rin / rout)
    else:
        out = out * np.float32(10.0 ** (float(makeup) / 20.0))
    out = out.astype(np.float32)
    return out[0] if np.asarray(y).ndim == 1 else out


def expand(y: np.ndarray, sr: int, ratio: float = 1.5, range_db: float = 18.0, ref_percentile: float = 90.0) -> np.ndarray:
    """Downward expander: below the ``ref_percentile`` level, each dB under it becomes ``ratio`` dB.

    Level: RMS of all channels over 10 ms blocks, smoothed over 50 ms; gain reduction at
    most ``range_db``, smoothed over 50 ms and interpolated to every sample. Raises the
    crest factor and the loudness range of a compressed master; peaks stay as they are.
    """
    y2 = np.asarray(y, dtype=np.float32)
    y2 = y2[None, :] if y2.ndim == 1 else y2
    n = y2.shape[1]
    B = max(1, int(round(0.01 * sr)))
    nb = -(-n // B)
    p = np.square(y2.astype(np.float64)).mean(axis=0)
    p = np.pad(p, (0, nb * B - n)).reshape(nb, B).mean(axis=1)
    p = scipy.ndimage.uniform_filter1d(p, 5, mode="nearest")
    lvl = 10 * np.log10(p + 1e-12)
    live = lvl > lvl.max() - 60
    ref = float(np.percentile(lvl[live], ref_percentile)) if live.any() else float(lvl.max())
    g = np.clip((ratio - 1.0) * np.minimum(lvl - ref, 0.0), -range_db, 0.0)
    g = scipy.ndimage.uniform_filter1d(g, 5, mode="nearest")
    g = np.interp(np.arange(n), np.arange(nb) * B + (B - 1) / 2, g)
    out = (y2 * (10.0 ** (g / 20.0)).astype(np.float32)).astype(np.float32)
    return out[0] if np.asarray(y).ndim == 1 else out


# --------------------------------------------------------------------------- STFT


def stft(y: np.ndarray, sr: int, n_fft: int) -> tuple[np.ndarray, int]:
    """Complex STFT of ``y`` along its last axis: Hann window of ``n_fft``, hop ``n_fft // 4`` (:func:`scipy.signal.stft`).

    Returns the spectrum ``(..., bins, frames)`` and the hop (samples).
    """
    hop = n_fft // 4
    _, _, X = scipy.signal.stft(y, fs=sr, window="hann", nperseg=n_fft, noverlap=n_fft - hop, axis=-1)
    return X, hop


def istft(X: np.ndarray, sr: int, n_fft: int, n: int) -> np.ndarray:
    """Inverse of :func:`stft`: ``float32`` samples, trimmed or zero-padded to ``n``."""
    hop = n_fft // 4
    _, out = scipy.signal.istft(X, fs=sr, window="hann", nperseg=n_fft, noverlap=n_fft - hop)
    out = np.asarray(out, dtype=np.float32)
    if out.shape[-1] >= n:
        return out[..., :n]
    return np.pad(out, [(0, 0)] * (out.ndim - 1) + [(0, n - out.shape[-1])])


def harmonic_mask(mag: np.ndarray, size: int = 17, margin: float = 2.0, mode: str = "nearest") -> np.ndarray:
    """Harmonic-percussive split of a magnitude spectrogram by median filtering (Fitzgerald 2010).

    Parameters
    ----------
    mag : np.ndarray
        Magnitudes ``(bins, frames)``.
    size : int
        Median filter length, along time for the harmonic part and along frequency for
        the percussive part.
    margin : float
        A bin is harmonic where its harmonic median is at least ``margin`` times its
        percussive median.
    mode : str
        Edge handling of :func:`scipy.ndimage.median_filter`.

    Returns
    -------
    np.ndarray
        ``bool``, the shape of ``mag``: True where the bin is harmonic.
    """
    H = scipy.ndimage.median_filter(mag, size=(1, size), mode=mode)
    P = scipy.ndimage.median_filter(mag, size=(size, 1), mode=mode)
    return H >= margin * P


def smooth_partials(y: np.ndarray, sr: int, band_hz: tuple[float, float] = (2000.0, 8000.0), frames: int = 5) -> np.ndarray:
    """Temporal smoothing of harmonic partial magnitudes in ``band_hz`` (the shimmer intervention).

    See :mod:`aiaudio.explain` (``shimmer``). Returns ``float32`` samples of the same shape.
    """
    y2 = np.asarray(y, dtype=np.float32)
    one_d = y2.ndim == 1
    y2 = y2[None, :] if one_d else y2
    n_fft = int(2 ** round(math.log2(0.0464 * sr)))
    X, _ = stft(y2, sr, n_fft)
    df = sr / n_fft
    lo = int(math.floor(band_hz[0] / df))
    hi = int(math.ceil(min(band_hz[1], 0.95 * sr / 2) / df)) + 1
    m0, m1 = max(0, lo - 8), min(X.shape[1], hi + 8)
    mid = np.abs(X.mean(axis=0)[m0:m1])  # (bins, frames)
    harm = harmonic_mask(mid, mode="nearest")
    sm = scipy.ndimage.uniform_filter1d(mid, frames, axis=1, mode="nearest")
    g = np.where(harm, np.clip(sm / np.maximum(mid, 1e-12), 0.25, 4.0), 1.0)
    g[: lo - m0] = 1.0
    g[hi - m0 :] = 1.0
    X[:, m0:m1] *= g.astype(np.float32)[None]
    out = istft(X, sr, n_fft, y2.shape[-1])
    return out[0] if one_d else out


def true_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """The runs of True in a 1-D mask, as ``[start, end)`` index ranges (``end`` excluded).

    Parameters
    ----------
    mask : np.ndarray
        A 1-D boolean array.

    Returns
    -------
    list of (int, int)
        ``(start, end)`` of each run, in order; ``[]`` when nothing is True.
        ``true_runs([0, 1, 1, 0, 1])`` is ``[(1, 3), (4, 5)]``.
    """
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) > 1)
    starts = np.concatenate([[idx[0]], idx[breaks + 1]])
    ends = np.concatenate([idx[breaks], [idx[-1]]]) + 1
    return [(s, e) for s, e in zip(starts, ends)]


def frames(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """The frames of a 1-D signal, ``(n_frames, n_fft)``, ``hop`` samples apart, without copying.

    The framing of the cues' own short-time spectra (:func:`aiaudio.cues.long_term_spectrum`,
    :func:`aiaudio.cues.shimmer`), which window and transform the frames in ``float32``
    chunks to bound memory: :func:`stft` is the one for analysis and resynthesis.

    Parameters
    ----------
    x : np.ndarray
        A 1-D signal, at least ``n_fft`` samples long.
    n_fft : int
        Frame length.
    hop : int
        Distance between frame starts; a partial last frame is dropped.

    Returns
    -------
    np.ndarray
        ``1 + (len(x) - n_fft) // hop`` frames: a reshape when ``hop == n_fft`` (and
        ``x`` is contiguous), else a read-only strided view.
    """
    n_frames = 1 + (x.shape[-1] - n_fft) // hop
    if hop == n_fft and x.flags.c_contiguous:
        return x[: n_frames * n_fft].reshape(n_frames, n_fft)
    return np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop][:n_frames]
