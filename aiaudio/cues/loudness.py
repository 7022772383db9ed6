"""Loudness cues: integrated loudness (ITU-R BS.1770-4), loudness range (EBU Tech 3342), the spread of
short-term and momentary loudness.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import scipy.fft
import scipy.ndimage
import scipy.signal

from ._common import LOUDNESS_FLOOR_LUFS, _EPS, _as_2d, _check_sr


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


