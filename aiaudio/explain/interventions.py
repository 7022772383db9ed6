"""The measured effects' interventions: one small, documented audio change per cue group (the DSP is
:mod:`aiaudio.dsp`), toward the median of human music where that can be done cleanly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..cues import LOUDNESS_FLOOR_LUFS, PeakResult, extract_cues, human_ranges, upsampler_peaks
from ..dsp import compress, expand, gain, lowpass, smooth_partials
from ..dsp import istft as _istft
from ..dsp import stft as _stft
from .labels import _hz_list


def _pcts(name: str) -> dict[str, float]:
    return {k: float(x) for k, x in human_ranges()["cues"][name]["percentiles"].items()}


def human_median(name: str) -> float:
    """Median of cue ``name`` over the human reference tracks."""
    return _pcts(name)["50"]


def _iqr(name: str) -> float:
    p = _pcts(name)
    return max(p["75"] - p["25"], 1e-6)


# --------------------------------------------------------------------------- interventions


@dataclass
class _Context:
    """What an intervention may need besides the audio: the whole track's cues and peaks."""

    cues: dict[str, float]
    peaks: PeakResult | None


@dataclass(frozen=True)
class Intervention:
    """One cue intervention (see the module docs).

    ``apply(y, sr, ctx)`` returns ``(variants, reason)``: a list of
    ``(label, audio, operation)`` or, when it cannot be made cleanly, ``([], reason)``.
    """

    name: str
    group: str
    cues: tuple[str, ...]
    description: str
    apply: Callable[[np.ndarray, int, _Context], "tuple[list[tuple[str, np.ndarray, str]], str]"]


def _loudness_apply(y: np.ndarray, sr: int, ctx: _Context):
    lufs = ctx.cues["integrated_loudness_lufs"]
    if lufs <= LOUDNESS_FLOOR_LUFS + 1:
        return [], "the track is silent: there is no loudness to change"
    target = human_median("integrated_loudness_lufs")
    g = target - lufs
    if abs(g) < 1.0:
        g = -6.0
        op = f"gain -6.0 dB (a probe: the loudness {lufs:.1f} LUFS is already within 1 dB of the human median {target:.1f})"
    else:
        op = f"gain {g:+.1f} dB, from {lufs:.1f} LUFS to the human median {target:.1f} LUFS"
    return [("gain", gain(y, g), op)], ""


def _dynamics_apply(y: np.ndarray, sr: int, ctx: _Context):
    from ..cues import crest_factor_db

    if ctx.cues["integrated_loudness_lufs"] <= LOUDNESS_FLOOR_LUFS + 1:
        return [], "the track is silent: there are no dynamics to change"
    c = crest_factor_db(y)
    med = human_median("crest_factor_db")
    if abs(c - med) < 0.5:
        return [], f"the crest factor ({c:.1f} dB) is already within 0.5 dB of the human median ({med:.1f} dB)"
    peak_db = 20 * math.log10(max(float(np.abs(y).max()), 1e-9))
    # the gentlest setting whose crest factor comes closest to the human median
    if c < med:
        cands = [((r,), expand(y, sr, ratio=r)) for r in (1.05, 1.1, 1.2, 1.35, 1.5, 2.0, 3.0)]
    else:
        settings = ((1.0, 1.5), (2.0, 1.5), (3.0, 2.0), (4.0, 3.0), (6.0, 3.0), (9.0, 3.0), (12.0, 3.0), (18.0, 3.0))
        cands = [((d, r), compress(y, sr, threshold_db=peak_db - d, ratio=r)) for d, r in settings]
    k, y2 = min(cands, key=lambda kv: abs(crest_factor_db(kv[1]) - med))
    if c < med:
        op = (
            f"downward expansion 1:{k[0]:g} below the 90th-percentile level (crest factor {c:.1f} dB, below the "
            f"human median {med:.1f} dB: more compressed than usual)"
        )
        return [("expand", y2, op)], ""
    op = (
        f"compression {k[1]:g}:1 from {peak_db - k[0]:.1f} dBFS, {k[0]:g} dB under the peak (crest factor {c:.1f} dB, "
        f"above the human median {med:.1f} dB: less compressed than usual)"
    )
    return [("compress", y2, op)], ""


def _bandwidth_apply(y: np.ndarray, sr: int, ctx: _Context):
    cut = ctx.cues["cutoff_hz"]
    med = human_median("cutoff_hz")
    if cut > med + 250 and med < 0.999 * sr / 2:
        op = f"low-pass at the human median cut-off {med:.0f} Hz (the track's cut-off is {cut:.0f} Hz)"
        return [("lowpass", lowpass(y, sr, med), op)], ""
    f = 0.75 * cut
    if f < 1000:
        return [], f"the cut-off ({cut:.0f} Hz) is too low to probe"
    op = (
        f"low-pass at {f:.0f} Hz, 0.75 x the cut-off {cut:.0f} Hz (a band-limited track cannot be extended "
        "toward the human median without inventing content, so the sensitivity is probed the other way)"
    )
    return [("lowpass", lowpass(y, sr, f), op)], ""


def _notch_gains(pk: PeakResult, max_half_width: int = 8) -> np.ndarray:
    """Per-bin gains (on ``pk.freqs``) that bring every detected peak down to the residual's median."""
    freqs, r = pk.freqs, pk.residual_db
    a = int(np.searchsorted(freqs, pk.band_hz[0]))
    b = int(np.searchsorted(freqs, pk.band_hz[1], side="right"))
    med = float(np.median(r[a:b])) if b > a else 0.0
    g_db = np.zeros(freqs.shape[0])
    for f0 in np.asarray(pk.peak_freqs, dtype=float):
        i = int(np.argmin(np.abs(freqs - f0)))
        lo = i
        while lo - 1 >= max(0, i - max_half_width) and r[lo - 1] - med > 1.0:
            lo -= 1
        hi = i
        while hi + 1 <= min(len(r) - 1, i + max_half_width) and r[hi + 1] - med > 1.0:
            hi += 1
        sl = slice(lo, hi + 1)
        g_db[sl] = np.minimum(g_db[sl], -np.clip(r[sl] - med, 0.0, 40.0))
    return 10.0 ** (g_db / 20.0)


def _peaks_apply(y: np.ndarray, sr: int, ctx: _Context):
    pk = ctx.peaks
    if pk is None:
        pk = upsampler_peaks(y, sr)
    if pk.peak_freqs.size == 0:
        return [], f"no narrow peaks were detected in {pk.band_hz[0]:.0f}-{pk.band_hz[1]:.0f} Hz: nothing to remove"
    n_fft = 2 * (len(pk.freqs) - 1)
    gains = _notch_gains(pk)
    X, _ = _stft(y, sr, n_fft)
    X = X * gains.astype(np.float32)[:, None]
    out = _istft(X, sr, n_fft, y.shape[-1])
    op = (
        f"notched out the {pk.peak_freqs.size} detected peaks ({_hz_list(pk.peak_freqs)}) in every STFT frame "
        f"({n_fft}-point frames), bringing each down to the residual's median"
    )
    return [("notch", out, op)], ""


def _shimmer_apply(y: np.ndarray, sr: int, ctx: _Context):
    if sr / 2 < 4000:
        return [], f"the sample rate ({sr} Hz) leaves too little of the 2-8 kHz band"
    s = ctx.cues["shimmer_db"]
    if s <= 0:
        return [], "no harmonic partials were found at 2-8 kHz: nothing to smooth"
    op = "smoothed the magnitudes of harmonic partials at 2-8 kHz over 5 frames (58 ms), phases kept"
    return [("smooth", smooth_partials(y, sr), op)], ""


def _stereo_apply(y: np.ndarray, sr: int, ctx: _Context):
    y2 = np.asarray(y, dtype=np.float32)
    if y2.ndim == 1 or y2.shape[0] < 2:
        return [], "the input is mono: there is no stereo image to change"
    mono = np.repeat(y2.mean(axis=0, keepdims=True), y2.shape[0], axis=0)
    swap = y2[[1, 0] + list(range(2, y2.shape[0]))]
    return [
        ("mono", mono, "replaced every channel by the mean of the channels (mono)"),
        ("swap", swap, "swapped the left and right channels"),
    ], ""


#: The cue interventions, in the order they are reported.
INTERVENTIONS: dict[str, Intervention] = {
    "loudness": Intervention(
        "loudness", "dynamics", ("integrated_loudness_lufs", "true_peak_dbtp"),
        "Plain gain to the human median loudness.", _loudness_apply,
    ),
    "dynamics": Intervention(
        "dynamics", "dynamics",
        ("crest_factor_db", "peak_to_loudness_db", "loudness_range_lu", "short_term_loudness_std_lu", "momentary_loudness_std_lu"),
        "Expansion of a compressed master (or compression of a dynamic one), toward the human median crest factor.",
        _dynamics_apply,
    ),
    "bandwidth": Intervention(
        "bandwidth", "spectrum", ("cutoff_hz", "hf_energy_ratio_db", "flatness_air_db"),
        "Low-pass at the human median cut-off, or below the track's own cut-off as a probe.", _bandwidth_apply,
    ),
    "upsampler_peaks": Intervention(
        "upsampler_peaks", "upsampler", ("upsampler_periodicity_z", "upsampler_peak_db", "upsampler_period_hz"),
        "Notch out the detected narrow peaks of the long-term residual spectrum.", _peaks_apply,
    ),
    "shimmer": Intervention(
        "shimmer", "shimmer", ("shimmer_db", "phase_incoherence"),
        "Temporal smoothing of harmonic partial magnitudes at 2-8 kHz.", _shimmer_apply,
    ),
    "stereo": Intervention(
        "stereo", "stereo", ("stereo_correlation", "side_mid_ratio_db"),
        "Mono-ise, and swap, the channels.", _stereo_apply,
    ),
}

_NOT_MEASURED = {
    "clipped_sample_pct": "no clean intervention: restoring clipped peaks would invent audio",
    "flatness_low_db": "no clean intervention: spectral flatness is the texture of the music itself",
    "flatness_mid_db": "no clean intervention: spectral flatness is the texture of the music itself",
    "flatness_high_db": "no clean intervention: spectral flatness is the texture of the music itself",
}


def neutralise(
    name: str,
    y: np.ndarray,
    sr: int,
    *,
    cues: dict[str, float] | None = None,
    peaks: PeakResult | None = None,
) -> tuple[list[tuple[str, np.ndarray, str]], str]:
    """Apply intervention ``name`` of :data:`INTERVENTIONS` to samples ``y`` at ``sr``.

    Parameters
    ----------
    name : str
        ``"loudness"``, ``"dynamics"``, ``"bandwidth"``, ``"upsampler_peaks"``, ``"shimmer"`` or ``"stereo"``.
    y : np.ndarray
        ``(channels, samples)`` or ``(samples,)``.
    sr : int
    cues, peaks : optional
        The whole track's cues and :class:`aiaudio.cues.PeakResult` that decide the
        parameters (computed from ``y`` when not given).

    Returns
    -------
    variants : list of (label, samples, operation)
        Empty when the intervention cannot be made cleanly.
    reason : str
        Why not, in that case.
    """
    if name not in INTERVENTIONS:
        raise KeyError(f"unknown intervention {name!r}; known: {list(INTERVENTIONS)}")
    y = np.asarray(y, dtype=np.float32)
    if cues is None:
        cues = extract_cues(y, sr)
    return INTERVENTIONS[name].apply(y, int(sr), _Context(cues, peaks))


