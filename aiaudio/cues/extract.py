"""Every cue at once: :func:`extract_cues` (samples), :func:`file_cues` (a file), sharing the expensive steps."""

from __future__ import annotations

import math
import os
import time
import warnings
from typing import Any

import numpy as np

from ..audio import MAX_ANALYSIS_S
from ._common import RATIO_FLOOR_DB, _as_2d, _check_sr
from .info import CUE_NAMES
from .loudness import _hop_energies, _loudness_from_hops
from .peaks import _clipped, _crest, _plr, _true_peak
from .shimmer import shimmer
from .spectrum import _cutoff_from_ltas, hf_energy_ratio_db, long_term_spectrum, spectral_flatness_bands
from .stereo import _corr, _side_mid, _stereo_sums
from .upsampler import upsampler_peaks


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
        from ..audio import FULL_SCALE_LIMIT, BeyondFullScaleWarning

        warnings.warn(
            f"aiaudio.cues: the samples peak above {FULL_SCALE_LIMIT:g} (full scale is 1.0): are they integer "
            "PCM values stored as floats? Loudness, peak and clipping cues assume full scale 1.0; divide by "
            "32768 (int16) or pass the integer array itself.",
            BeyondFullScaleWarning,
            stacklevel=2,
        )
    return checked_cues(y, sr, timings)


def checked_cues(y: np.ndarray, sr: float, timings: dict[str, float] | None = None) -> dict[str, float]:
    """:func:`extract_cues` of checked input, without the level warning.

    For callers that checked the samples already (the explanations, the detector):
    ``y`` from :func:`aiaudio.samples.validate_samples` with ``keep_float64=True,
    check_layout=False``, ``sr`` from :func:`aiaudio.samples.check_rate_hz`.

    Parameters
    ----------
    y : np.ndarray
        Checked samples, ``(channels, samples)``.
    sr : float
        Checked sample rate, Hz.
    timings : dict, optional
        As :func:`extract_cues`.

    Returns
    -------
    dict of str to float
        As :func:`extract_cues`.
    """
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
    from ..audio import FULL_SCALE_LIMIT

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
    from ..audio import stream_audio

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
    return checked_cues(y, _check_sr(sr)), flags  # no warning: the flag says it


