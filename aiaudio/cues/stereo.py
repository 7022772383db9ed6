"""Stereo image cues: inter-channel correlation and side/mid energy ratio."""

from __future__ import annotations

import math

import numpy as np

from ._common import RATIO_FLOOR_DB, _as_2d


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


