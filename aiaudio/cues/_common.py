"""The constants and input checks the cue families share."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..samples import check_rate_hz, validate_samples


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


_check_sr = check_rate_hz  # the name the detector imports


def _db(x: float, floor_db: float) -> float:
    """10*log10(x) (power ratio), never below ``floor_db``."""
    if not (x > 0) or not math.isfinite(x):
        return float(floor_db)
    return float(max(10.0 * math.log10(x), floor_db))


