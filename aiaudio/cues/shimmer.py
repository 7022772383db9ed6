"""Shimmer: frame-to-frame level instability and phase incoherence of the partials between 2 and 8 kHz."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.fft
import scipy.ndimage
import scipy.signal
import soxr

from ..dsp import frames, harmonic_mask
from ._common import SHIMMER_BAND_HZ, SHIMMER_EXCERPTS, SHIMMER_EXCERPT_S, SHIMMER_SR, _as_2d, _check_sr


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
        X = scipy.fft.rfft(frames(ex, n_fft, hop) * win, axis=-1, workers=1)
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


