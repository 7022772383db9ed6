"""The one check of sample arrays: what every array input (scoring, cues, explanations) goes through.

:func:`validate_samples` is re-exported by :mod:`aiaudio.audio`, where it is documented.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import AudioLoadError

__all__ = ["validate_samples", "check_rate_hz"]


def _short(e: BaseException) -> str:
    strerror = getattr(e, "strerror", None)
    s = (strerror if isinstance(strerror, str) and strerror else str(e)).strip() or type(e).__name__
    return s if len(s) < 200 else s[:197] + "..."


def validate_samples(y: np.ndarray, *, path: str = "<array>", keep_float64: bool = False, check_layout: bool = True) -> np.ndarray:
    """Check an array is usable audio and return it as ``float32 (channels, samples)``.

    A 1-D array is taken as mono. Integer PCM is scaled by its full scale: signed
    types by ``2 ** (bits - 1)`` (int16 ``-32768`` -> ``-1.0``, ``16384`` -> ``0.5``),
    unsigned types as offset binary around ``2 ** (bits - 1)`` (uint8 ``128`` -> ``0.0``,
    ``0`` -> ``-1.0``, the layout of 8-bit WAV); booleans become 0.0 / 1.0. Float
    samples are kept as they are (see :data:`FULL_SCALE_LIMIT` for float input at
    integer scale).

    Parameters
    ----------
    y : np.ndarray
        Samples, ``(samples,)`` or ``(channels, samples)``.
    path : str
        What the samples are, for the messages.
    keep_float64 : bool
        Keep ``float64`` samples as they are (other floats become ``float64``), for the
        cues, which measure at double precision; default: ``float32``.
    check_layout : bool
        Refuse a ``(samples, channels)`` layout (more rows than columns, at most 16 columns).

    Raises
    ------
    AudioLoadError
        Empty input (``reason="empty"``), non-numeric or complex samples, more than
        2 dimensions, a ``(samples, channels)`` layout, NaN / infinite samples.
    """
    try:
        a = np.asarray(y)
    except Exception as e:
        raise AudioLoadError(f"{path}: not an array of samples ({_short(e)}).", path=path, reason="not_audio") from e
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
        raise AudioLoadError(
            f"{path}: samples must be numbers, got dtype {a.dtype}.", path=path, reason="not_audio"
        )
    if np.iscomplexobj(a):
        raise AudioLoadError(f"{path}: samples must be real, got complex values.", path=path, reason="not_audio")
    if a.size == 0 and a.ndim <= 2:  # (0, n) too: no channels
        raise AudioLoadError(
            f"{path}: the array is empty (shape {a.shape}): there are no samples to analyse.",
            path=path, reason="empty",
        )
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2:
        raise AudioLoadError(
            f"{path}: expected samples of shape (samples,) or (channels, samples), got {a.shape}.",
            path=path, reason="not_audio",
        )
    if check_layout and a.shape[0] > a.shape[1] and a.shape[1] <= 16:
        raise AudioLoadError(
            f"{path}: shape {a.shape} looks like (samples, channels); aiaudio takes channels first: "
            "pass `y.T`.",
            path=path, reason="not_audio",
        )
    if np.issubdtype(a.dtype, np.unsignedinteger):
        half = float(2 ** (8 * a.dtype.itemsize - 1))
        a = (a.astype(np.float32) - np.float32(half)) / np.float32(half)
    elif np.issubdtype(a.dtype, np.integer):
        a = a.astype(np.float32) / np.float32(2 ** (8 * a.dtype.itemsize - 1))
    elif keep_float64 and a.dtype == np.bool_:
        a = a.astype(np.float32)
    elif keep_float64:
        if a.dtype not in (np.float32, np.float64):
            a = a.astype(np.float64)
    else:
        with np.errstate(over="ignore", invalid="ignore"):  # values beyond float32 become inf: caught below
            a = a.astype(np.float32, copy=False)
    n_bad = int(a.size - np.count_nonzero(np.isfinite(a)))
    if n_bad:
        raise AudioLoadError(
            f"{path}: {n_bad} of {a.size} samples are NaN or infinite; the audio is damaged. "
            "Re-export it from the source.",
            path=path, reason="nonfinite",
        )
    return a


def check_rate_hz(sr: float) -> float:
    """``sr`` as a float, checked to be a positive, finite number of Hz (the cues' check).

    Looser than :func:`aiaudio.audio.check_sample_rate` (a whole number of Hz in a plausible
    range, for the rate a caller gives with an array): the cue functions take any rate.

    Parameters
    ----------
    sr : float
        A sample rate, Hz.

    Returns
    -------
    float
        ``float(sr)``.

    Raises
    ------
    ValueError
        ``sr`` is not a positive, finite number.
    """
    sr = float(sr)
    if not math.isfinite(sr) or sr <= 0:
        raise ValueError(f"sample rate must be a positive number of Hz, got {sr}")
    return sr
