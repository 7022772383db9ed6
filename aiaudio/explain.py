"""Why a track scored as it did: explanations that are measured on the model itself.

>>> import aiaudio
>>> det = aiaudio.load_detector()
>>> ex = det.explain("song.mp3")            # doctest: +SKIP
>>> print(ex.summary)                        # doctest: +SKIP
>>> ex.plot("song.png"); ex.to_dict()        # doctest: +SKIP

An :class:`Explanation` holds five kinds of evidence. Every number in it is a
measurement on the detector that produced the score; nothing is a story told after
the fact.

Timeline
    The calibrated ``p_ai`` of every segment the detector scored (the segments of
    :meth:`aiaudio.Detector.score`, captured from the very forward passes that made the
    score). The song logit is the mean of the segment logits, and ``p_ai`` is that
    logit through the model's Platt calibration: exactly the score
    ``det.score(...)`` returns.

Cue evidence and measured effects
    The CNN never sees the cue vector (cues cost too much for scoring at 100x real
    time), so a cue's "effect on this score" cannot be read off a weight. It is
    measured instead: for each cue group a small, documented audio intervention moves
    that cue (toward the median of human music where that can be done cleanly), the
    intervened audio is scored again by the same detector, and the change of ``p_ai``
    is reported together with the cue's value before and after (proof that the
    intervention did what it says) and any other cue it moved (what it did not leave
    alone). Interventions run on one excerpt of at most ``intervention_s`` seconds
    (the stretch whose own score is closest to the whole song's), to bound the cost.
    Where no clean intervention exists, the effect is reported as *not measured*, with
    the reason. The interventions are listed in :data:`INTERVENTIONS`:

    ``loudness``
        A plain gain that brings the integrated loudness to the human median
        (a -6 dB probe when it is already within 1 dB of it).
    ``dynamics``
        Crest factor below the human median (a compressed master): a downward expander
        (1:r below the 90th percentile of the 10 ms RMS envelope, at most 18 dB of
        gain reduction); above it: :func:`aiaudio.augment.compress` (r:1 from d dB
        below the peak). Of r in 1.05-3 (d in 1-18 dB, r in 1.5-3), the setting whose
        crest factor lands closest to the human median is used (measured on the excerpt
        itself). Not measured within 0.5 dB of it.
    ``bandwidth``
        Cut-off above the human median: low-pass (:func:`aiaudio.augment.lowpass`) at
        the human median cut-off (toward it). A cut-off at or below the median cannot
        be extended without inventing content, so the sensitivity is probed the other
        way, a low-pass at 0.75 x the cut-off, and reported as moving away.
    ``upsampler_peaks``
        The narrow peaks detected in the residual spectrum
        (:func:`aiaudio.cues.upsampler_peaks`) are notched out: an STFT of the same
        resolution as the long-term spectrum (hop a quarter of a frame), every frame's
        magnitude multiplied, only at the bins of each peak, by the inverse of the
        peak's height over the residual's median (spectral-domain smoothing of the
        long-term residual); phases kept. Not measured when no peak was detected.
    ``shimmer``
        Temporal smoothing of the magnitudes of harmonic-dominated partials at 2-8 kHz:
        STFT of ~46 ms frames (11.6 ms hop, the resolution of the shimmer cue), the
        harmonic mask of the cue's HPSS (median filters over 17 frames / 17 bins,
        harmonic >= 2 x percussive) computed on the mid channel, and there the
        magnitude replaced by its running mean over 5 frames (58 ms); percussive and
        out-of-band bins untouched, phases kept. The same gains go to every channel.
    ``stereo``
        The channels replaced by their mean (mono), and separately swapped; the larger
        change of the two is the effect. Not measured for mono input.

    Spectral flatness (the texture of the music itself) and clipping (restoring
    clipped peaks would invent audio) have no clean intervention: not measured.

Time-frequency evidence (occlusion)
    Which bands and moments drove the CNN: for a set of segments spread over the
    track, each frequency band x time block patch of the model's own input (the
    front end's normalised log spectrogram) is replaced by the neutral value 0, the
    spectrogram's mean after the front end's mean normalisation (a flat,
    structureless patch), and the CNN is run again; the map holds ``logit(original) -
    logit(patch flattened)``: > 0 where the patch's content pushed the segment toward
    "AI", < 0 where it pushed toward "human". Why occlusion: it is model-agnostic and
    faithful (it *is* the change of the actual decision when the evidence is removed);
    it is cheap for this small CNN (one forward pass per patch, a bounded number of
    passes: ``max_occlusion_passes``); and it needs no gradient baseline. Integrated
    gradients would need a baseline spectrogram, and for a mean-normalised log spectrum
    none is neutral (silence is -100 dB after the floor, zero is "every bin at the mean
    level"); its attributions also depend on the path through the CNN's ReLUs and max
    pools, which makes them harder to read as "what happens if this is removed".

Upsampler-peak residual spectrum
    The long-term log spectrum minus its lower envelope in the cue's upper band, with
    the detected peaks marked (:func:`aiaudio.cues.upsampler_peaks`), and the top of
    the model's input marked where it falls in the band.

Summary
    One plain-language paragraph built only from the values above: the verdict, the
    timeline, the strongest measured effects, saliency, cues outside the human range,
    what would lower confidence (short clip, re-encoding, band limits) and, when the
    score is near the threshold or nothing measured moved it much, a sentence saying
    the evidence is weak.

Cost
    Decoding, one scoring pass, the cues (0.5-0.9 s per 3 minutes), the occlusion
    passes (``max_occlusion_passes`` CNN passes at most) and, per intervention, the
    signal processing, cues and scoring of one excerpt. See the ``timings`` field.
"""

from __future__ import annotations

import json
import math
import os
import textwrap
import time
import warnings
from dataclasses import dataclass, field, is_dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import scipy.ndimage
import scipy.signal
import torch

from .audio import PathOrFile, load_audio, resample, to_mono, validate_samples
from .cues import CUE_INFO, CUE_NAMES, LOUDNESS_FLOOR_LUFS, PeakResult, extract_cues, human_ranges, percentile_of, upsampler_peaks
from .frontend import segment_starts

__all__ = [
    "CueEvidence",
    "Effect",
    "Explanation",
    "INTERVENTIONS",
    "Intervention",
    "PeakSpectrum",
    "Saliency",
    "TimelinePoint",
    "explain",
    "neutralise",
]

#: Value a patch of the front-end spectrogram is set to when occluded: the spectrogram's
#: mean (the front end subtracts it), i.e. a flat patch at the segment's mean level.
OCCLUSION_FILL = 0.0
#: |delta p_ai| below which an intervention is said to have "no effect" in the summary.
SMALL_EFFECT = 0.01
#: |mean delta logit| below which a saliency band is not named in the summary.
SMALL_SALIENCY = 0.05
LOSSY_EXTENSIONS = (".mp3", ".m4a", ".aac", ".ogg", ".opus", ".wma", ".webm", ".mp2")


# --------------------------------------------------------------------------- data types


@dataclass(frozen=True)
class TimelinePoint:
    """Score of one segment: position (s), calibrated ``p_ai`` and raw ``logit``."""

    start_s: float
    end_s: float
    p_ai: float
    logit: float


@dataclass
class CueEvidence:
    """One cue of the whole track, placed among human tracks.

    Attributes
    ----------
    name, group, unit : str
        As in :data:`aiaudio.cues.CUE_INFO`.
    value : float
        The cue on the whole track.
    percentile : float
        Its percentile among the human reference tracks (0-100, see
        :func:`aiaudio.cues.percentile_of`).
    human_median : float
        The median of the human reference tracks.
    intervention : str or None
        Name of the :class:`Effect` that measured this cue's effect on the score, or
        ``None`` when it was not measured (``not_measured_reason`` says why).
    not_measured_reason : str
    hint : str
        What else moves this cue (from ``CUE_INFO``): read it before reading the value as evidence.
    """

    name: str
    group: str
    unit: str
    value: float
    percentile: float
    human_median: float
    intervention: str | None = None
    not_measured_reason: str = ""
    hint: str = ""


@dataclass
class Effect:
    """What one intervention did to the audio, its cues and the score.

    Attributes
    ----------
    name : str
        Key of :data:`INTERVENTIONS`.
    group : str
        Cue group it acts on.
    cues : list of str
        The cues it is meant to move (the first is the primary one).
    measured : bool
        False when the intervention could not be made cleanly; ``reason`` says why
        and every number is NaN.
    operation : str
        What was done, with its parameters.
    reason : str
        Why it was not measured (empty when measured).
    excerpt_start_s, excerpt_end_s : float
        The stretch of the track the intervention was measured on.
    p_ai_before, p_ai_after : float
        Score of the excerpt before and after the intervention (same detector).
    delta_p_ai : float
        ``p_ai_after - p_ai_before`` (> 0: the intervention raised the score).
    logit_before, logit_after : float
    cue_before, cue_after : dict
        The intervention's own cues on the excerpt, before and after.
    direction : str
        How the primary cue moved relative to the human median:
        ``"toward_human_median"``, ``"away_from_human_median"`` or ``"unchanged"``.
    side_effects : dict
        Other cues that moved by more than a quarter of their human inter-quartile
        range: ``{name: [before, after]}`` (what the intervention did not leave alone).
    variants : list of dict
        For interventions with several versions (stereo: mono and swap): each one's
        ``label``, ``p_ai_after`` and ``delta_p_ai``.
    """

    name: str
    group: str
    cues: list[str]
    measured: bool
    operation: str = ""
    reason: str = ""
    excerpt_start_s: float = float("nan")
    excerpt_end_s: float = float("nan")
    p_ai_before: float = float("nan")
    p_ai_after: float = float("nan")
    delta_p_ai: float = float("nan")
    logit_before: float = float("nan")
    logit_after: float = float("nan")
    cue_before: dict[str, float] = field(default_factory=dict)
    cue_after: dict[str, float] = field(default_factory=dict)
    direction: str = ""
    side_effects: dict[str, list[float]] = field(default_factory=dict)
    variants: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Saliency:
    """Occlusion map over frequency bands x time (see the module docs).

    Attributes
    ----------
    method : str
        ``"occlusion"``.
    fill_value : float
        What an occluded patch of the normalised log spectrogram is set to (0: its mean).
    band_edges_hz : list of float
        ``n_bands + 1`` edges of the frequency bands, Hz.
    col_start_s, col_end_s : list of float
        Time span of every column of ``delta_logit`` in the track (s): one column per
        time block of each analysed segment.
    segment_index : list of int
        Index (into the timeline) of the segment each column belongs to.
    delta_logit : np.ndarray
        ``(n_bands, n_columns)``: segment logit minus the logit with that patch
        flattened. > 0: the patch pushed toward "AI"; < 0: toward "human".
    n_passes : int
        CNN forward passes it took.
    seconds : float
        Wall time it took.
    """

    method: str
    fill_value: float
    band_edges_hz: list[float]
    col_start_s: list[float]
    col_end_s: list[float]
    segment_index: list[int]
    delta_logit: np.ndarray
    n_passes: int
    seconds: float

    @property
    def band_importance(self) -> np.ndarray:
        """Mean ``delta_logit`` of each band over the analysed columns."""
        return self.delta_logit.mean(axis=1) if self.delta_logit.size else np.zeros(len(self.band_edges_hz) - 1)


@dataclass
class PeakSpectrum:
    """The upsampler-peak residual spectrum of the whole track, in the cue's band.

    Attributes
    ----------
    freqs_hz, residual_db : np.ndarray
        Residual spectrum (long-term log spectrum minus its lower envelope), dB.
    band_hz : tuple of float
        The analysed band.
    peak_freqs_hz, peak_heights_db : np.ndarray
        Detected peaks and their height above the residual's median.
    median_db : float
        Median of the residual in the band.
    strength_db, periodicity_z, period_hz : float
        The cues ``upsampler_peak_db``, ``upsampler_periodicity_z``, ``upsampler_period_hz``.
    model_top_hz : float
        Highest frequency the model's input contains.
    """

    freqs_hz: np.ndarray
    residual_db: np.ndarray
    band_hz: tuple[float, float]
    peak_freqs_hz: np.ndarray
    peak_heights_db: np.ndarray
    median_db: float
    strength_db: float
    periodicity_z: float
    period_hz: float
    model_top_hz: float


@dataclass
class Explanation:
    """Why one input scored as it did. Made by :func:`explain`; see the module docs.

    Attributes
    ----------
    p_ai, logit, label, confidence : as in :class:`aiaudio.Score` (the same values).
    threshold, uncertain_low, uncertain_high : float
        The model's decision points.
    timeline : list of TimelinePoint
        Every scored segment; ``calibrate(mean(logits)) == p_ai``.
    cues : list of CueEvidence
    effects : list of Effect
        One per intervention in :data:`INTERVENTIONS` (measured or not).
    saliency : Saliency or None
    peaks : PeakSpectrum or None
    summary : str
        One plain-language paragraph.
    flags : list of str
        From the score (``silent``, ``shorter_than_segment``, ``untrained_model``).
    timings : dict
        Seconds per stage and in total.
    """

    path: str | None
    model_version: str
    model_trained: bool
    p_ai: float
    logit: float
    label: str
    confidence: float
    threshold: float
    uncertain_low: float
    uncertain_high: float
    duration_s: float
    sample_rate: int
    channels: int
    model_sample_rate: int
    model_band_hz: tuple[float, float]
    segment_s: float
    flags: list[str]
    timeline: list[TimelinePoint]
    cues: list[CueEvidence] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    saliency: Saliency | None = None
    peaks: PeakSpectrum | None = None
    summary: str = ""
    timings: dict[str, float] = field(default_factory=dict)

    # ------------------------------------------------------------ access
    def effect(self, name: str) -> Effect:
        """The :class:`Effect` of intervention ``name``."""
        for e in self.effects:
            if e.name == name:
                return e
        raise KeyError(f"no effect {name!r}; have {[e.name for e in self.effects]}")

    def strongest_effect(self) -> Effect | None:
        """The measured effect with the largest ``|delta_p_ai|`` (None if none was measured)."""
        m = [e for e in self.effects if e.measured and math.isfinite(e.delta_p_ai)]
        return max(m, key=lambda e: abs(e.delta_p_ai)) if m else None

    def cue(self, name: str) -> CueEvidence:
        for c in self.cues:
            if c.name == name:
                return c
        raise KeyError(name)

    def __repr__(self) -> str:
        return (
            f"Explanation(p_ai={self.p_ai:.3f}, label={self.label!r}, segments={len(self.timeline)}, "
            f"effects={sum(e.measured for e in self.effects)}/{len(self.effects)} measured, "
            f"saliency={'yes' if self.saliency is not None else 'no'})"
        )

    # ------------------------------------------------------------ export
    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary of every field (arrays as lists, NaN/inf as ``None``)."""
        d = _jsonable(self)
        if self.saliency is not None:
            d["saliency"]["band_importance"] = _jsonable(self.saliency.band_importance)
        return d

    def to_json(self, path: str | os.PathLike[str] | None = None, indent: int | None = 1) -> str:
        """The :meth:`to_dict` as JSON text; also written to ``path`` when given."""
        from ._outfiles import json_dumps  # a file name that is not UTF-8 as \udcXX escapes

        text = json_dumps(self.to_dict(), indent=indent, allow_nan=False)
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text + "\n", encoding="utf-8")
        return text

    def plot(self, path: str | os.PathLike[str], *, dpi: int = 100) -> Path:
        """Draw the explanation on one PNG page (matplotlib) and write it to ``path``.

        Panels: the timeline (segment ``p_ai`` with the threshold), the occlusion map
        (frequency x time), the cue table (value, human percentile) next to the
        measured effects (bar chart of delta ``p_ai``), the residual spectrum with the
        detected peaks, and the summary.
        """
        return _plot(self, Path(path), dpi=dpi)


def _jsonable(v: Any) -> Any:
    if is_dataclass(v) and not isinstance(v, type):
        return {f: _jsonable(getattr(v, f)) for f in v.__dataclass_fields__}
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.ndarray):  # spectra and maps: 5 significant digits are plenty
        if v.dtype.kind == "f":
            return [_jsonable(x) for x in v.tolist()] if v.ndim > 1 else [float(f"{x:.5g}") if math.isfinite(x) else None for x in v.tolist()]
        return _jsonable(v.tolist())
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


# --------------------------------------------------------------------------- human reference


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


def _stft(y: np.ndarray, sr: int, n_fft: int) -> tuple[np.ndarray, int]:
    hop = n_fft // 4
    _, _, X = scipy.signal.stft(y, fs=sr, window="hann", nperseg=n_fft, noverlap=n_fft - hop, axis=-1)
    return X, hop


def _istft(X: np.ndarray, sr: int, n_fft: int, n: int) -> np.ndarray:
    hop = n_fft // 4
    _, out = scipy.signal.istft(X, fs=sr, window="hann", nperseg=n_fft, noverlap=n_fft - hop)
    out = np.asarray(out, dtype=np.float32)
    if out.shape[-1] >= n:
        return out[..., :n]
    return np.pad(out, [(0, 0)] * (out.ndim - 1) + [(0, n - out.shape[-1])])


def _loudness_apply(y: np.ndarray, sr: int, ctx: _Context):
    from .augment import gain

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


def _dynamics_apply(y: np.ndarray, sr: int, ctx: _Context):
    from .augment import compress
    from .cues import crest_factor_db

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
    from .augment import lowpass

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


def smooth_partials(y: np.ndarray, sr: int, band_hz: tuple[float, float] = (2000.0, 8000.0), frames: int = 5) -> np.ndarray:
    """Temporal smoothing of harmonic partial magnitudes in ``band_hz`` (the shimmer intervention).

    See the module docs (``shimmer``). Returns ``float32`` samples of the same shape.
    """
    y2 = np.asarray(y, dtype=np.float32)
    one_d = y2.ndim == 1
    y2 = y2[None, :] if one_d else y2
    n_fft = int(2 ** round(math.log2(0.0464 * sr)))
    X, _ = _stft(y2, sr, n_fft)
    df = sr / n_fft
    lo = int(math.floor(band_hz[0] / df))
    hi = int(math.ceil(min(band_hz[1], 0.95 * sr / 2) / df)) + 1
    m0, m1 = max(0, lo - 8), min(X.shape[1], hi + 8)
    mid = np.abs(X.mean(axis=0)[m0:m1])  # (bins, frames)
    H = scipy.ndimage.median_filter(mid, size=(1, 17), mode="nearest")
    P = scipy.ndimage.median_filter(mid, size=(17, 1), mode="nearest")
    harm = H >= 2.0 * P
    sm = scipy.ndimage.uniform_filter1d(mid, frames, axis=1, mode="nearest")
    g = np.where(harm, np.clip(sm / np.maximum(mid, 1e-12), 0.25, 4.0), 1.0)
    g[: lo - m0] = 1.0
    g[hi - m0 :] = 1.0
    X[:, m0:m1] *= g.astype(np.float32)[None]
    out = _istft(X, sr, n_fft, y2.shape[-1])
    return out[0] if one_d else out


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


# --------------------------------------------------------------------------- the explanation


def _mono_at_model_rate(y: np.ndarray, sr: int, model_sr: int) -> np.ndarray:
    return resample(to_mono(y)[0], int(sr), model_sr)


def _segment_at(mono: np.ndarray, s0: int, L: int) -> np.ndarray:
    seg = mono[s0 : s0 + L]
    if seg.shape[0] < L:
        seg = np.pad(seg, (0, L - seg.shape[0]), mode="wrap")
    return np.ascontiguousarray(seg, dtype=np.float32)


def _quiet_score(det, y: np.ndarray, sr: int):
    from .detector import UntrainedModelWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrainedModelWarning)
        return det.score(y, sr)


def _score_with_logits(det, y: np.ndarray, sr: int):
    """``det.score(y, sr)`` and the raw logits of its segments (carried by the score itself)."""
    s = _quiet_score(det, y, sr)
    return s, np.array([g.logit for g in s.segments], dtype=np.float64)


def _inference_parts(det) -> tuple[torch.nn.Module, torch.nn.Module]:
    """Front end and CNN that compute the detector's logits: its CPU-tuned copy when it has one."""
    get = getattr(det, "_inference_net", None)
    if callable(get):
        try:
            net = get()
            if isinstance(getattr(net, "frontend", None), torch.nn.Module) and isinstance(getattr(net, "cnn", None), torch.nn.Module):
                return net.frontend, net.cnn
        except Exception:  # pragma: no cover - fall back to the plain model
            pass
    return det.model.frontend, det.model.cnn


def _occlusion(
    det,
    mono: np.ndarray,
    starts: Sequence[int],
    logits: np.ndarray,
    n_bands: int,
    n_blocks: int,
    max_passes: int,
) -> Saliency:
    t0 = time.perf_counter()
    fe = det.config.frontend
    L = fe.segment_samples
    n = len(starts)
    per_seg = n_bands * n_blocks + 1
    k = int(min(n, max(1, max_passes // per_seg)))
    idx = sorted(set(np.round(np.linspace(0, n - 1, k)).astype(int).tolist()))
    top = int(np.argmax(logits))
    if top not in idx:  # always look inside the most AI-like segment
        idx[int(np.argmin([abs(i - top) for i in idx]))] = top
        idx = sorted(set(idx))
    x = torch.from_numpy(np.stack([_segment_at(mono, int(starts[i]), L) for i in idx]))
    frontend, cnn = _inference_parts(det)
    passes = 0
    with torch.inference_mode():
        spec = frontend(x).contiguous(memory_format=torch.channels_last)
        F, T = int(spec.shape[2]), int(spec.shape[3])
        n_bands = min(n_bands, F)
        n_blocks = min(n_blocks, T)
        fb = [(int(a[0]), int(a[-1]) + 1) for a in np.array_split(np.arange(F), n_bands)]
        tb = [(int(a[0]), int(a[-1]) + 1) for a in np.array_split(np.arange(T), n_blocks)]
        delta = np.zeros((n_bands, len(idx) * n_blocks))
        for j in range(len(idx)):
            batch = spec[j : j + 1].repeat(1 + n_bands * n_blocks, 1, 1, 1).clone()
            m = 1
            for f0, f1 in fb:
                for a0, a1 in tb:
                    batch[m, 0, f0:f1, a0:a1] = OCCLUSION_FILL
                    m += 1
            out = []
            for i0 in range(0, batch.shape[0], det.batch_size):
                out.append(cnn(batch[i0 : i0 + det.batch_size]).double().numpy().reshape(-1))
            lg = np.concatenate(out)
            passes += lg.shape[0]
            delta[:, j * n_blocks : (j + 1) * n_blocks] = (lg[0] - lg[1:]).reshape(n_bands, n_blocks)
    lo_bin = fe.bin_range[0]
    df = fe.sample_rate / fe.n_fft
    edges = [(lo_bin + f0) * df for f0, _ in fb] + [(lo_bin + fb[-1][1] - 1) * df]
    col_hop = fe.hop_length * fe.time_pool
    cs, ce, si = [], [], []
    for j, i in enumerate(idx):
        s0 = int(starts[i]) / fe.sample_rate
        for a0, a1 in tb:
            cs.append(s0 + a0 * col_hop / fe.sample_rate)
            ce.append(s0 + ((a1 - 1) * col_hop + fe.n_fft + (fe.time_pool - 1) * fe.hop_length) / fe.sample_rate)
            si.append(i)
    return Saliency("occlusion", OCCLUSION_FILL, edges, cs, ce, si, delta, passes, time.perf_counter() - t0)


def _excerpt_window(timeline: list[TimelinePoint], song_logit: float, fe, duration_s: float, max_s: float | None) -> tuple[int, int]:
    """Segments [i, j) of the excerpt of at most ``max_s`` whose mean logit is closest to the song's."""
    n = len(timeline)
    if max_s is None or duration_s <= max_s or n <= 1:
        return 0, n
    hop = fe.segment_hop_s
    k = max(1, int((max_s - fe.segment_s) // hop) + 1)
    k = min(k, n)
    lg = np.array([t.logit for t in timeline])
    c = np.concatenate([[0.0], np.cumsum(lg)])
    means = (c[k:] - c[:-k]) / k
    best = int(np.argmin(np.abs(means - song_logit)))
    return best, best + k


def _direction(name: str, before: float, after: float) -> str:
    tol = 0.02 * _iqr(name)
    if not (math.isfinite(before) and math.isfinite(after)) or abs(after - before) <= tol:
        return "unchanged"
    med = human_median(name)
    return "toward_human_median" if abs(after - med) < abs(before - med) else "away_from_human_median"


def _run_intervention(det, iv: Intervention, y_ex: np.ndarray, sr: int, ctx: _Context, base, cues_before: dict[str, float], t_ex: tuple[float, float]) -> Effect:
    eff = Effect(iv.name, iv.group, list(iv.cues), measured=False, excerpt_start_s=t_ex[0], excerpt_end_s=t_ex[1])
    try:
        variants, reason = iv.apply(y_ex, sr, ctx)
    except Exception as e:  # an intervention that fails is reported, never invented
        variants, reason = [], f"the intervention failed ({type(e).__name__}: {e})"
    if not variants:
        eff.reason = reason
        return eff
    best = None
    for label, y2, op in variants:
        s2 = _quiet_score(det, y2, sr)
        d = s2.p_ai - base.p_ai
        eff.variants.append({"label": label, "operation": op, "p_ai_after": s2.p_ai, "logit_after": s2.logit, "delta_p_ai": d})
        if best is None or abs(d) > abs(best[0]):
            best = (d, label, y2, op, s2)
    d, label, y2, op, s2 = best
    cues_after = extract_cues(y2, sr)
    eff.measured = True
    eff.operation = op if len(variants) == 1 else "; ".join(v["operation"] for v in eff.variants) + f" (reported: {label})"
    eff.p_ai_before, eff.logit_before = base.p_ai, base.logit
    eff.p_ai_after, eff.logit_after = s2.p_ai, s2.logit
    eff.delta_p_ai = s2.p_ai - base.p_ai
    eff.cue_before = {c: cues_before[c] for c in iv.cues}
    eff.cue_after = {c: cues_after[c] for c in iv.cues}
    eff.direction = _direction(iv.cues[0], cues_before[iv.cues[0]], cues_after[iv.cues[0]])
    for c in CUE_NAMES:
        if c in iv.cues or c == "upsampler_period_hz":
            continue
        if abs(cues_after[c] - cues_before[c]) > 0.25 * _iqr(c):
            eff.side_effects[c] = [cues_before[c], cues_after[c]]
    return eff


def _peak_spectrum(pk: PeakResult, model_top_hz: float) -> PeakSpectrum:
    a = int(np.searchsorted(pk.freqs, pk.band_hz[0]))
    b = int(np.searchsorted(pk.freqs, pk.band_hz[1], side="right"))
    r = pk.residual_db[a:b]
    med = float(np.median(r)) if r.size else 0.0
    pf = np.asarray(pk.peak_freqs, dtype=float)
    heights = np.array([pk.residual_db[int(np.argmin(np.abs(pk.freqs - f)))] - med for f in pf]) if pf.size else np.zeros(0)
    return PeakSpectrum(
        np.asarray(pk.freqs[a:b], dtype=np.float64), np.asarray(r, dtype=np.float64), tuple(pk.band_hz), pf, heights,
        med, pk.strength_db, pk.periodicity, pk.period_hz, model_top_hz,
    )


def explain(
    detector,
    audio: PathOrFile | np.ndarray,
    sr: int | None = None,
    *,
    cues: bool = True,
    interventions: bool = True,
    saliency: bool = True,
    intervention_s: float | None = 30.0,
    occlusion_bands: int = 16,
    occlusion_time_blocks: int = 1,
    max_occlusion_passes: int = 192,
) -> Explanation:
    """Explain the score ``detector`` gives ``audio``: timeline, cue effects, saliency, peaks, summary.

    Parameters
    ----------
    detector : aiaudio.Detector
    audio : path, binary file object, or np.ndarray
        As for :meth:`aiaudio.Detector.score`. The whole input is decoded into memory.
    sr : int, optional
        Sample rate of an array input (required then).
    cues : bool
        Compute the cues, their human percentiles and the upsampler-peak spectrum.
    interventions : bool
        Measure each cue intervention's effect on the score (needs ``cues``).
    saliency : bool
        Compute the occlusion map.
    intervention_s : float or None
        Longest excerpt (s) the interventions are measured on (the stretch whose own
        score is closest to the song's); ``None``: the whole track.
    occlusion_bands, occlusion_time_blocks : int
        Frequency bands, and time blocks per segment, of the occlusion grid.
    max_occlusion_passes : int
        At most this many CNN passes for the occlusion map: segments spread evenly over
        the track (always including the most AI-like one) are analysed until it is spent.

    Returns
    -------
    Explanation
        ``p_ai``, ``logit``, ``label`` and ``confidence`` equal those of
        ``detector.score(audio, sr)``.

    Raises
    ------
    AudioLoadError
        As :meth:`aiaudio.Detector.score`.
    """
    t_all = time.perf_counter()
    timings: dict[str, float] = {}
    fe = detector.config.frontend
    t0 = time.perf_counter()
    if isinstance(audio, np.ndarray) or (not isinstance(audio, (str, os.PathLike)) and not hasattr(audio, "read")):
        if sr is None:
            raise TypeError("explaining an array needs its sample rate: explain(det, y, sr=44100)")
        y = validate_samples(audio)
        sr_native = int(sr)
        path = None
    else:
        y, sr_native = load_audio(audio)
        path = os.fspath(audio) if isinstance(audio, (str, os.PathLike)) else getattr(audio, "name", None)
        path = path if isinstance(path, str) else None
    timings["decode_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    score, logits = _score_with_logits(detector, y, sr_native)
    timings["score_s"] = time.perf_counter() - t0
    timeline = [TimelinePoint(s.start_s, s.end_s, s.p_ai, float(lg)) for s, lg in zip(score.segments, logits)]
    c = detector.config
    lo_hz = fe.bin_range[0] * fe.sample_rate / fe.n_fft
    hi_hz = (fe.bin_range[1] - 1) * fe.sample_rate / fe.n_fft
    ex = Explanation(
        path=path,
        model_version=detector.version,
        model_trained=bool(c.trained),
        p_ai=score.p_ai,
        logit=score.logit,
        label=score.label,
        confidence=score.confidence,
        threshold=c.threshold,
        uncertain_low=c.uncertain_low,
        uncertain_high=c.uncertain_high,
        duration_s=score.duration_s,
        sample_rate=sr_native,
        channels=int(y.shape[0]),
        model_sample_rate=fe.sample_rate,
        model_band_hz=(lo_hz, hi_hz),
        segment_s=fe.segment_s,
        flags=list(score.flags),
        timeline=timeline,
    )

    mono = None
    if saliency:
        mono = _mono_at_model_rate(y, sr_native, fe.sample_rate)
        starts = segment_starts(mono.shape[0], fe)
        ex.saliency = _occlusion(detector, mono, starts, logits, int(occlusion_bands), int(occlusion_time_blocks), int(max_occlusion_passes))
        timings["saliency_s"] = ex.saliency.seconds
    del mono

    if cues:
        t0 = time.perf_counter()
        cue_values = extract_cues(y, sr_native)
        pk = upsampler_peaks(y, sr_native)
        ex.peaks = _peak_spectrum(pk, hi_hz)
        covered = {cn: iv.name for iv in INTERVENTIONS.values() for cn in iv.cues}
        for name in CUE_NAMES:
            info = CUE_INFO[name]
            ex.cues.append(
                CueEvidence(
                    name, info.group, info.unit, cue_values[name], percentile_of(name, cue_values[name]),
                    human_median(name), covered.get(name), _NOT_MEASURED.get(name, ""), info.direction_hint,
                )
            )
        timings["cues_s"] = time.perf_counter() - t0

        if interventions:
            t0 = time.perf_counter()
            i0, i1 = _excerpt_window(timeline, score.logit, fe, score.duration_s, intervention_s)
            a = int(round(timeline[i0].start_s * sr_native))
            b = int(round(timeline[i1 - 1].end_s * sr_native)) if i1 < len(timeline) else y.shape[1]
            y_ex = np.ascontiguousarray(y[:, a:b])
            t_ex = (a / sr_native, b / sr_native)
            base = _quiet_score(detector, y_ex, sr_native)
            cues_before = extract_cues(y_ex, sr_native)
            ctx = _Context(cue_values, pk)
            for iv in INTERVENTIONS.values():
                ex.effects.append(_run_intervention(detector, iv, y_ex, sr_native, ctx, base, cues_before, t_ex))
            for cv in ex.cues:
                if cv.intervention is not None:
                    e = ex.effect(cv.intervention)
                    if not e.measured:
                        cv.not_measured_reason = e.reason
            timings["interventions_s"] = time.perf_counter() - t0
        else:
            for cv in ex.cues:
                cv.intervention = None
                cv.not_measured_reason = cv.not_measured_reason or "interventions were not run"

    timings["total_s"] = time.perf_counter() - t_all
    ex.timings = timings
    ex.summary = _summary(ex)
    return ex


# --------------------------------------------------------------------------- summary


def _mmss(t: float) -> str:
    s = int(round(max(0.0, float(t))))
    return f"{s // 60}:{s % 60:02d}"


def _dur(t: float) -> str:
    return f"{t:.1f} s" if t < 10 else f"{t:.0f} s"


def _hz(f: float) -> str:
    return f"{f / 1000:.1f} kHz" if f >= 1000 else f"{f:.0f} Hz"


def _hz_list(fs: Sequence[float], k: int = 6) -> str:
    fs = list(fs)
    s = ", ".join(f"{f:.0f}" for f in fs[:k])
    return s + (f" Hz and {len(fs) - k} more" if len(fs) > k else " Hz")


def _band(edges: Sequence[float], i: int) -> str:
    return f"{edges[i] / 1000:.1f}-{edges[i + 1] / 1000:.1f} kHz"


_SHORT_OP = {
    "loudness": "changing the loudness",
    "dynamics": "changing the dynamics",
    "bandwidth": "low-passing",
    "upsampler_peaks": "removing the narrow spectral peaks",
    "shimmer": "smoothing the high partials (shimmer)",
    "stereo": "mono-ising or swapping the channels",
}


def _runs(idx: Sequence[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for i in idx:
        if out and i == out[-1][1] + 1:
            out[-1] = (out[-1][0], i)
        else:
            out.append((i, i))
    return out


def _summary(ex: Explanation) -> str:
    s: list[str] = []
    t = ex.threshold
    s.append(
        f"The model {ex.model_version} gives this {_dur(ex.duration_s)} track p_ai = {ex.p_ai:.2f}: label "
        f"\"{ex.label}\", confidence {ex.confidence:.2f} (threshold {t:.2f})."
    )
    if not ex.model_trained:
        s.append(
            "This model is an UNTRAINED placeholder with random weights: its score and every effect below "
            "describe that random network, not where the track came from."
        )
    if "silent" in ex.flags:
        s.append("The audio is silent (below -70 dBFS), so the score means nothing.")
    tl = ex.timeline
    if len(tl) > 1:
        ps = np.array([p.p_ai for p in tl])
        j = int(np.argmax(ps))
        s.append(
            f"Its {len(tl)} segments of {ex.segment_s:g} s range from p_ai {ps.min():.2f} to {ps.max():.2f}; the most "
            f"AI-like is {_mmss(tl[j].start_s)}-{_mmss(tl[j].end_s)}."
        )
        above = [i for i, p in enumerate(ps) if p >= t]
        if above and ex.p_ai < t:
            spans = ", ".join(f"{_mmss(tl[a].start_s)}-{_mmss(tl[b].end_s)}" for a, b in _runs(above)[:4])
            s.append(
                f"{len(above)} of {len(tl)} segments score at or above the threshold although the whole track does "
                f"not ({spans}): listen to that part."
            )
        elif ex.p_ai >= t and len(above) < len(tl):
            s.append(f"{len(tl) - len(above)} of {len(tl)} segments score below the threshold.")
    elif tl:
        s.append(f"It was scored as a single segment of {ex.segment_s:g} s.")
    sal = ex.saliency
    if sal is not None and sal.delta_logit.size:
        bi = sal.band_importance
        parts = []
        jp, jn = int(np.argmax(bi)), int(np.argmin(bi))
        if bi[jp] > SMALL_SALIENCY:
            parts.append(f"its evidence for \"AI\" came most from {_band(sal.band_edges_hz, jp)} (mean {bi[jp]:+.2f} logit)")
        if bi[jn] < -SMALL_SALIENCY:
            parts.append(f"its evidence for \"human\" from {_band(sal.band_edges_hz, jn)} ({bi[jn]:+.2f})")
        n_seg = len(set(sal.segment_index))
        segs = f"{n_seg} segment{'s' if n_seg != 1 else ''}"
        if parts:
            s.append(
                f"Flattening one frequency band of the model's spectrogram at a time (occlusion, {segs}) "
                "shows that " + " and ".join(parts) + "."
            )
        else:
            s.append(
                f"Flattening any one frequency band of the model's spectrogram (occlusion, {segs}) moved "
                f"the segment logits by less than {SMALL_SALIENCY} on average: no single band carries the decision."
            )
    meas = [e for e in ex.effects if e.measured]
    if meas:
        e0 = meas[0]
        where = (
            "the whole track"
            if e0.excerpt_start_s <= 0.01 and e0.excerpt_end_s >= ex.duration_s - 0.01
            else f"the excerpt {_mmss(e0.excerpt_start_s)}-{_mmss(e0.excerpt_end_s)}"
        )
        big = sorted([e for e in meas if abs(e.delta_p_ai) >= SMALL_EFFECT], key=lambda e: -abs(e.delta_p_ai))
        small = [e for e in meas if abs(e.delta_p_ai) < SMALL_EFFECT]
        txt = f"Intervening on the audio of {where} (p_ai {e0.p_ai_before:.2f}) and scoring it again: "
        bits = []
        for e in big[:3]:
            dirn = {"toward_human_median": ", toward the human median", "away_from_human_median": ", away from the human median"}.get(e.direction, "")
            side = f" (it also moved {', '.join(list(e.side_effects)[:3])})" if e.side_effects else ""
            bits.append(f"{_SHORT_OP[e.name]}{dirn} {'raised' if e.delta_p_ai > 0 else 'lowered'} it by {abs(e.delta_p_ai):.2f}{side}")
        if small:
            bits.append(", ".join(_SHORT_OP[e.name] for e in small) + f" changed it by less than {SMALL_EFFECT}")
        s.append(txt + "; ".join(bits) + ".")
        notes = []
        for name, tol, note in (
            ("loudness", 1e-3, "the model normalises gain, so loudness itself has no effect (measured)"),
            ("stereo", 1e-6, "the model hears a mono down-mix, so the stereo image has no effect (measured)"),
        ):
            try:
                e = ex.effect(name)
            except KeyError:
                continue
            if e.measured and abs(e.delta_p_ai) < tol:
                notes.append(note)
        if notes:
            s.append(notes[0][0].upper() + notes[0][1:] + ("; " + "; ".join(notes[1:]) if notes[1:] else "") + ".")
    nm = [e for e in ex.effects if not e.measured]
    if nm:
        s.append("Not measured: " + "; ".join(f"{e.name} ({e.reason})" for e in nm) + ".")
    if ex.cues:
        odd = [c for c in ex.cues if c.name != "upsampler_period_hz" and (c.percentile <= 5 or c.percentile >= 95)]
        odd.sort(key=lambda c: -abs(c.percentile - 50))
        if odd:
            txt = []
            for c in odd[:3]:
                unit = "" if c.unit in ("0-1", "-1..1", "z") else f" {c.unit}"
                if c.percentile >= 100:
                    where = "above every human reference track"
                elif c.percentile <= 0:
                    where = "below every human reference track"
                elif c.percentile >= 95:
                    where = f"higher than {c.percentile:.0f}% of human reference tracks"
                else:
                    where = f"lower than {100 - c.percentile:.0f}% of human reference tracks"
                txt.append(f"{c.name} {c.value:.3g}{unit} ({where})")
            s.append(
                "Outside the usual human range: " + "; ".join(txt) + ". These describe the recording; they bear on "
                "this score only as far as the measured effects above show."
            )
    # what would lower confidence
    caveats = []
    if ex.duration_s < 30:
        caveats.append(f"it rests on only {_dur(ex.duration_s)} of audio ({len(ex.timeline)} segment{'s' if len(ex.timeline) != 1 else ''})")
    if "shorter_than_segment" in ex.flags:
        caveats.append("it is shorter than one segment and was wrapped around to fill it")
    cut = next((c.value for c in ex.cues if c.name == "cutoff_hz"), None)
    if cut is not None:
        if cut < ex.model_band_hz[1] - 100:
            caveats.append(f"its spectrum ends at {_hz(cut)}, below the top of the model's input ({_hz(ex.model_band_hz[1])})")
        elif ex.sample_rate >= 32000 and 10500 <= cut <= 20500:
            caveats.append(f"its spectrum stops sharply at {_hz(cut)}, a sign of lossy coding or resampling")
    if ex.path and ex.path.lower().endswith(LOSSY_EXTENSIONS):
        caveats.append(f"it is a lossy-coded file ({Path(ex.path).suffix.lstrip('.').upper()})")
    gen = (
        "Confidence should be lower for short clips (under about 30 s), heavily re-encoded files (e.g. MP3 at "
        "64 kbps) and band-limited audio (nothing above 8 kHz)"
    )
    s.append(gen + ("; for this track: " + "; ".join(caveats) + "." if caveats else "; none of these applies to this track."))
    # weak evidence
    weak = []
    if abs(ex.p_ai - t) < 0.1:
        weak.append("p_ai is within 0.1 of the threshold")
    if ex.label == "uncertain":
        weak.append("the score lies in the model's uncertain band")
    effs = [abs(e.delta_p_ai) for e in meas]
    if meas and max(effs) < 0.02:
        weak.append("no intervention moved p_ai by 0.02 or more")
    if sal is not None and sal.delta_logit.size and float(np.max(np.abs(sal.band_importance))) < SMALL_SALIENCY:
        weak.append("no frequency band stands out")
    if not ex.model_trained:
        weak.append("the model is untrained")
    if weak:
        s.append("The evidence is weak: " + "; ".join(weak) + ".")
    return " ".join(s)


# --------------------------------------------------------------------------- plot


def _num(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 1000 else f"{v:.4g}"


def _plot(ex: Explanation, path: Path, dpi: int = 100) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 18.5))
    FigureCanvasAgg(fig)
    gs = fig.add_gridspec(5, 2, height_ratios=[1.0, 1.5, 2.5, 1.35, 1.25], width_ratios=[1.25, 1.0], hspace=0.55, wspace=0.3, left=0.07, right=0.97, top=0.95, bottom=0.02)
    name = Path(ex.path).name if ex.path else "<array>"
    fig.suptitle(
        f"{name}: p_ai {ex.p_ai:.2f} ({ex.label}, confidence {ex.confidence:.2f})  -  model {ex.model_version}"
        + ("  [UNTRAINED placeholder]" if not ex.model_trained else ""),
        fontsize=13, fontweight="bold",
    )

    # timeline
    ax = fig.add_subplot(gs[0, :])
    ax.axhspan(ex.uncertain_low, ex.uncertain_high, color="0.9", zorder=0, label="uncertain band")
    if ex.timeline:
        ax.bar(
            [p.start_s for p in ex.timeline], [p.p_ai for p in ex.timeline], width=[p.end_s - p.start_s for p in ex.timeline],
            align="edge", color=["tab:red" if p.p_ai >= ex.threshold else "tab:blue" for p in ex.timeline],
            alpha=0.55, edgecolor="white", linewidth=0.5,
        )
    ax.axhline(ex.threshold, color="k", lw=1.2, label=f"threshold {ex.threshold:.2f}")
    ax.axhline(ex.p_ai, color="tab:purple", lw=1.2, ls="--", label=f"song p_ai {ex.p_ai:.2f}")
    meas = [e for e in ex.effects if e.measured]
    if meas:
        ax.axvspan(meas[0].excerpt_start_s, meas[0].excerpt_end_s, ymin=0.0, ymax=0.04, color="tab:green", label="excerpt used for interventions")
    ax.set_xlim(0, max(ex.duration_s, 1e-3))
    ax.set_ylim(0, 1)
    ax.set_ylabel("p_ai")
    ax.set_xlabel("time (s)")
    ax.set_title(f"Timeline: p_ai of each {ex.segment_s:g} s segment (red: at or above the threshold)", fontsize=11, loc="left")
    ax.legend(loc="upper right", fontsize=8, ncol=4, framealpha=0.9)

    # occlusion map
    ax = fig.add_subplot(gs[1, :])
    sal = ex.saliency
    if sal is not None and sal.delta_logit.size:
        v = float(np.max(np.abs(sal.delta_logit))) or 1e-6
        norm = TwoSlopeNorm(vmin=-v, vcenter=0.0, vmax=v)
        edges = np.asarray(sal.band_edges_hz)
        im = None
        for j in range(sal.delta_logit.shape[1]):
            im = ax.imshow(
                sal.delta_logit[:, j : j + 1], extent=[sal.col_start_s[j], sal.col_end_s[j], edges[0], edges[-1]],
                origin="lower", aspect="auto", cmap="RdBu_r", norm=norm, interpolation="nearest",
            )
        ax.set_xlim(0, max(ex.duration_s, 1e-3))
        ax.set_ylim(edges[0], edges[-1])
        cb = fig.colorbar(im, ax=ax, pad=0.01, fraction=0.03)
        cb.set_label("Δ segment logit", fontsize=8)
        ax.set_title(
            f"Occlusion: drop of the segment logit when a {np.diff(edges).mean():.0f} Hz band is flattened "
            f"(red: toward AI, blue: toward human; {len(set(sal.segment_index))} segments, blank: not analysed)",
            fontsize=11, loc="left",
        )
    else:
        ax.text(0.5, 0.5, "occlusion map not computed", ha="center", va="center", transform=ax.transAxes)
        ax.set_title("Occlusion", fontsize=11, loc="left")
    ax.set_ylabel("frequency (Hz)")
    ax.set_xlabel("time (s)")

    # cue table
    ax = fig.add_subplot(gs[2, 0])
    ax.axis("off")
    if ex.cues:
        rows = []
        colours = []
        for c in ex.cues:
            eff = "-"
            if c.intervention:
                e = ex.effect(c.intervention) if any(x.name == c.intervention for x in ex.effects) else None
                eff = f"{c.intervention}" if e is None or e.measured else "n/m"
            else:
                eff = "n/m"
            rows.append([c.name, _num(c.value), c.unit, f"{c.percentile:.0f}", _num(c.human_median), eff])
            colours.append(["w", "w", "w", "#f4c7c3" if (c.percentile <= 5 or c.percentile >= 95) else "w", "w", "w"])
        tab = ax.table(
            cellText=rows, cellColours=colours, colLabels=["cue", "value", "unit", "pct", "human", "effect"],
            bbox=[0.0, 0.0, 1.0, 1.0], cellLoc="left", colLoc="left", colWidths=[0.43, 0.14, 0.08, 0.06, 0.13, 0.16],
        )
        tab.auto_set_font_size(False)
        tab.set_fontsize(7.5)
        ax.set_title(
            "Cues of the whole track. pct: percentile among human reference tracks\n(red: outside 5-95); "
            "human: their median; effect: the intervention\nthat measured it (n/m: not measured)",
            fontsize=10, loc="left",
        )
    else:
        ax.text(0.5, 0.5, "cues not computed", ha="center", va="center", transform=ax.transAxes)

    # effects
    ax = fig.add_subplot(gs[2, 1])
    if ex.effects:
        names = [e.name for e in ex.effects][::-1]
        vals = [e.delta_p_ai if e.measured else 0.0 for e in ex.effects][::-1]
        cols = ["tab:red" if v > 0 else "tab:blue" for v in vals]
        y = np.arange(len(names))
        ax.barh(y, vals, color=cols, alpha=0.8)
        ax.axvline(0, color="k", lw=0.8)
        lim = max(0.05, max(abs(v) for v in vals) * 1.35)
        ax.set_xlim(-lim, lim)
        ax.set_yticks(y)
        ax.set_yticklabels(names, fontsize=9)
        for yi, e in zip(y, ex.effects[::-1]):
            if e.measured:
                prim = e.cues[0]
                txt = f"Δ {e.delta_p_ai:+.3f}  ({prim}: {_num(e.cue_before[prim])} → {_num(e.cue_after[prim])})"
            else:
                txt = "not measured: " + textwrap.shorten(e.reason, 70)
            ax.text(0.02, yi + 0.3, txt, transform=ax.get_yaxis_transform(), fontsize=7.5, va="center")
        e0 = meas[0] if meas else None
        sub = f"\non the excerpt {e0.excerpt_start_s:.0f}-{e0.excerpt_end_s:.0f} s (p_ai {e0.p_ai_before:.2f} before)" if e0 else ""
        ax.set_title("Measured effects: Δ p_ai after each intervention" + sub, fontsize=10, loc="left")
        ax.set_xlabel("Δ p_ai (red: raised the score, blue: lowered it)")
    else:
        ax.axis("off")
        ax.text(0.5, 0.5, "interventions not run", ha="center", va="center", transform=ax.transAxes)

    # residual spectrum
    ax = fig.add_subplot(gs[3, :])
    pk = ex.peaks
    if pk is not None and pk.freqs_hz.size:
        ax.plot(pk.freqs_hz, pk.residual_db, lw=0.6, color="0.25", label="residual (long-term spectrum minus lower envelope)")
        ax.axhline(pk.median_db, color="tab:green", lw=0.8, ls=":", label="median")
        if pk.peak_freqs_hz.size:
            ax.plot(pk.peak_freqs_hz, pk.median_db + pk.peak_heights_db, "v", color="tab:red", ms=7, label=f"{pk.peak_freqs_hz.size} detected peaks")
        if pk.band_hz[0] < pk.model_top_hz < pk.band_hz[1]:
            ax.axvline(pk.model_top_hz, color="tab:purple", ls="--", lw=1, label=f"top of the model's input ({pk.model_top_hz:.0f} Hz)")
        ax.set_xlim(pk.freqs_hz[0], pk.freqs_hz[-1])
        ax.legend(loc="upper right", fontsize=8, ncol=2)
        ax.set_title(
            f"Upsampler-peak residual spectrum: strength {pk.strength_db:.1f} dB, comb z {pk.periodicity_z:.1f}"
            + (f" at {pk.period_hz:.0f} Hz spacing" if pk.period_hz > 0 else ""),
            fontsize=11, loc="left",
        )
    else:
        ax.text(0.5, 0.5, "residual spectrum not computed", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("dB")

    # summary
    ax = fig.add_subplot(gs[4, :])
    ax.axis("off")
    ax.set_title("Summary", fontsize=11, loc="left")
    ax.text(0.0, 1.0, textwrap.fill(ex.summary, 165), transform=ax.transAxes, fontsize=8.6, va="top", ha="left", wrap=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(str(path), dpi=dpi)
    return path
