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
        gain reduction); above it: :func:`aiaudio.training.augment.compress` (r:1 from d dB
        below the peak). Of r in 1.05-3 (d in 1-18 dB, r in 1.5-3), the setting whose
        crest factor lands closest to the human median is used (measured on the excerpt
        itself). Not measured within 0.5 dB of it.
    ``bandwidth``
        Cut-off above the human median: low-pass (:func:`aiaudio.training.augment.lowpass`) at
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

Time-frequency evidence (occlusion), compared with human music and checked on the audio
    Which bands and moments drove the CNN: for a set of segments spread over the
    track, each frequency band x time block patch of the model's own input (the
    front end's normalised log spectrogram) is replaced by a baseline that keeps the
    band's usual level, and the CNN is run again; the map holds ``logit(original) -
    logit(patch replaced)``: > 0 where the patch's content pushed the segment toward
    "AI", < 0 where it pushed toward "human". The baseline is the **human reference
    spectrum** (the mean over human reference tracks of the normalised log spectrum,
    per bin, constant in time; :class:`SaliencyReference`). Setting a patch to 0, the
    spectrogram's mean, would cut the bass band by ~30 dB or lift the top band by as
    much: the map would show the effect of that distortion on every track alike.

    The same attribution, run on the human reference tracks, gives each band's usual
    importance (its 5th, 50th and 95th percentiles): a band is a *candidate* only when
    this track's importance lies outside that range (above the 95th percentile: toward
    "AI"; below the 5th: toward "human") by at least :data:`SMALL_SALIENCY` from the
    median. Each candidate is then **checked on the audio**: the band is filtered out of
    the excerpt (:func:`filter_band`: elliptic high-pass, low-pass or band-stop) and the
    excerpt is scored again. The summary names a band only when the check moves ``p_ai``
    by at least :data:`BAND_CHECK_MIN` in the stated direction (down for an "AI" band, up
    for a "human" one); otherwise it says no band stands out. A model without a
    reference (a newly trained one: build it with :func:`build_saliency_reference`)
    gets a map against each patch's own mean level, and no band named.

    Why occlusion: it is model-agnostic and faithful (it *is* the change of the actual
    decision when the evidence is removed); it is cheap for this small CNN (one forward
    pass per patch, a bounded number of passes: ``max_occlusion_passes``). Integrated
    gradients would need a baseline spectrogram as well, and its attributions depend on
    the path through the CNN's ReLUs and max pools, which makes them harder to read as
    "what happens if this is removed".

Upsampler-peak residual spectrum
    The long-term log spectrum minus its lower envelope in the cue's upper band, with
    the detected peaks marked (:func:`aiaudio.cues.upsampler_peaks`), and the top of
    the model's input marked where it falls in the band.

Summary
    Two layers, built only from the values above. First 1-3 plain sentences
    (``headline``): the verdict (:class:`aiaudio.Score`'s ``verdict``, ``Likely AI``,
    ``Needs review`` or ``No AI signal found``) with its confidence and reason, the
    strongest *measured* reason (a named band, or an intervention that moved ``p_ai`` by
    at least :data:`BAND_CHECK_MIN` toward the verdict), where to listen. Then the
    technical detail (``details``): the timeline, saliency and its band check, the
    measured effects, cues outside the human range (with plain-language names and units,
    :data:`CUE_LABELS`; a cue is called evidence only when its own intervention moved
    ``p_ai`` by :data:`BAND_CHECK_MIN` or more), what lowers confidence (short clip,
    re-encoding, band limits) and, when the score is near the threshold or nothing
    measured moved it much, a sentence saying the evidence is weak.

Memory and long files
    The score and the timeline always cover the whole input (scoring is streamed).
    The cues, the saliency, the interventions and the peak spectrum need the samples in
    memory: they analyse the first ``max_analysis_s`` seconds (default
    :data:`aiaudio.audio.MAX_ANALYSIS_S`, 10 minutes), so memory stays bounded however
    long the file is (a 2-hour file read whole took 7.7 GB). A longer input is flagged
    ``analysis_truncated``, :attr:`Explanation.analysed_s` says how much was analysed,
    and the summary says so.

Cost
    Decoding, one scoring pass, the cues (0.5-0.9 s per 3 minutes), the occlusion
    passes (``max_occlusion_passes`` CNN passes at most), one scoring of the excerpt per
    checked band (at most 5) and, per intervention, the
    signal processing, cues and scoring of one excerpt. See the ``timings`` field.
"""

from __future__ import annotations

import json
import math
import os
import textwrap
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import scipy.ndimage
import scipy.signal
import torch

from .audio import MAX_ANALYSIS_S, PathOrFile, resample, to_mono, validate_samples
from ._outfiles import jsonable as _jsonable
from .cues import CUE_INFO, CUE_NAMES, LOUDNESS_FLOOR_LUFS, PeakResult, checked_cues, extract_cues, human_ranges, percentile_of, upsampler_peaks
from .dsp import compress, expand, gain, lowpass, smooth_partials, true_runs
from .dsp import istft as _istft
from .dsp import stft as _stft
from .frontend import segment_starts
from .samples import check_rate_hz

__all__ = [
    "CueEvidence",
    "Effect",
    "Explanation",
    "INTERVENTIONS",
    "Intervention",
    "PeakSpectrum",
    "BandCheck",
    "Saliency",
    "SaliencyReference",
    "TimelinePoint",
    "CUE_LABELS",
    "build_saliency_reference",
    "cue_label",
    "explain",
    "filter_band",
    "load_saliency_reference",
    "model_fingerprint",
    "neutralise",
]

#: |delta p_ai| below which an intervention is said to have "no effect" in the summary.
SMALL_EFFECT = 0.01
#: |band importance - human median| (mean delta logit) below which a saliency band is not a candidate.
SMALL_SALIENCY = 0.05
#: Least |delta p_ai| that filtering a band out of the audio must cause, in the direction the
#: occlusion states, for the summary to name that band.
BAND_CHECK_MIN = 0.05
#: File name of a model's saliency reference inside its model directory (see :class:`SaliencyReference`).
SALIENCY_REFERENCE_NAME = "saliency_reference.json"
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
class SaliencyReference:
    """What the occlusion attribution gives on human reference tracks, for one model.

    Built by :func:`build_saliency_reference` (for the shipped model:
    ``scripts/build_saliency_reference.py``) and found by :func:`load_saliency_reference`.

    Attributes
    ----------
    fingerprint : str
        :func:`model_fingerprint` of the model it was measured on (a reference is only
        used for that very model).
    model_version : str
    fill_profile : np.ndarray
        ``(n_bins,)``: the mean over the human tracks (all frames of all segments) of the
        front end's normalised log spectrogram, per bin: the occlusion baseline.
    n_bands, n_time_blocks : int
        The occlusion grid the importances were measured with.
    band_edges_hz : list of float
    importance_median, importance_p5, importance_p95 : np.ndarray
        ``(n_bands,)``: percentiles over the human tracks of each band's importance
        (:attr:`Saliency.band_importance`).
    n_tracks : int
    meta : dict
        Sources, command, date.
    """

    fingerprint: str
    model_version: str
    fill_profile: np.ndarray
    n_bands: int
    n_time_blocks: int
    band_edges_hz: list[float]
    importance_median: np.ndarray
    importance_p5: np.ndarray
    importance_p95: np.ndarray
    n_tracks: int
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary (what :meth:`save` writes)."""
        return _jsonable(self)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the reference as JSON to ``path``."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")
        return p

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SaliencyReference":
        arr = lambda k: np.asarray(d[k], dtype=np.float64)  # noqa: E731
        return cls(
            str(d["fingerprint"]), str(d.get("model_version", "")), arr("fill_profile"), int(d["n_bands"]),
            int(d["n_time_blocks"]), [float(x) for x in d["band_edges_hz"]], arr("importance_median"),
            arr("importance_p5"), arr("importance_p95"), int(d["n_tracks"]), dict(d.get("meta", {})),
        )


@dataclass
class BandCheck:
    """Filtering one frequency band out of the audio and scoring it again.

    Attributes
    ----------
    band : int
        Index into :attr:`Saliency.band_edges_hz`.
    lo_hz, hi_hz : float
        The band.
    side : str
        ``"ai"``: the occlusion says this band pushes toward "AI" more than on human
        reference tracks, so filtering it out should lower ``p_ai``; ``"human"``: the
        reverse.
    importance, human_median : float
        The band's importance on this track and its median over the human reference tracks.
    operation : str
        The filter that was applied.
    p_ai_before, p_ai_after, delta_p_ai : float
        Score of the excerpt before and after filtering.
    agrees : bool
        ``delta_p_ai <= -BAND_CHECK_MIN`` for an ``"ai"`` band, ``>= +BAND_CHECK_MIN`` for a
        ``"human"`` one: the attribution and the audio agree.
    """

    band: int
    lo_hz: float
    hi_hz: float
    side: str
    importance: float
    human_median: float
    operation: str
    p_ai_before: float
    p_ai_after: float
    delta_p_ai: float
    agrees: bool


@dataclass
class Saliency:
    """Occlusion map over frequency bands x time, and the check of its strongest bands (see the module docs).

    Attributes
    ----------
    method : str
        ``"occlusion"``.
    baseline : str
        What an occluded patch is replaced by: ``"human_reference_spectrum"`` (the mean
        normalised log spectrum of human reference tracks, per bin, constant in time) or,
        when the model has no :class:`SaliencyReference`, ``"band_level"`` (the patch's
        own mean level, flat).
    band_edges_hz : list of float
        ``n_bands + 1`` edges of the frequency bands, Hz.
    col_start_s, col_end_s : list of float
        Time span of every column of ``delta_logit`` in the track (s): one column per
        time block of each analysed segment.
    segment_index : list of int
        Index (into the timeline) of the segment each column belongs to.
    delta_logit : np.ndarray
        ``(n_bands, n_columns)``: segment logit minus the logit with that patch
        replaced by the baseline. > 0: the patch pushed toward "AI"; < 0: toward "human".
    n_passes : int
        CNN forward passes it took.
    seconds : float
        Wall time it took.
    human_median, human_p5, human_p95 : np.ndarray or None
        ``(n_bands,)``: the same attribution's band importance over human reference
        tracks (from the model's :class:`SaliencyReference`); ``None`` without one.
    reference_note : str
        Why there is no reference comparison (empty when there is one).
    checks : list of BandCheck
        The candidate bands (importance outside the human 5-95 % range), each filtered out
        of the audio and rescored.
    ai_band, human_band : int or None
        The band named as evidence for "AI" (resp. "human"): the strongest candidate whose
        check agrees; ``None``: no band stands out.
    """

    method: str
    baseline: str
    band_edges_hz: list[float]
    col_start_s: list[float]
    col_end_s: list[float]
    segment_index: list[int]
    delta_logit: np.ndarray
    n_passes: int
    seconds: float
    human_median: np.ndarray | None = None
    human_p5: np.ndarray | None = None
    human_p95: np.ndarray | None = None
    reference_note: str = ""
    checks: list[BandCheck] = field(default_factory=list)
    ai_band: int | None = None
    human_band: int | None = None

    @property
    def band_importance(self) -> np.ndarray:
        """Mean ``delta_logit`` of each band over the analysed columns."""
        return self.delta_logit.mean(axis=1) if self.delta_logit.size else np.zeros(len(self.band_edges_hz) - 1)

    @property
    def relative_importance(self) -> np.ndarray | None:
        """``band_importance`` minus its median over human reference tracks (``None`` without a reference)."""
        return None if self.human_median is None else self.band_importance - self.human_median

    def check(self, band: int) -> BandCheck | None:
        """The :class:`BandCheck` of ``band``, if it was checked."""
        return next((c for c in self.checks if c.band == band), None)


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
    verdict, reason : str
        As in :class:`aiaudio.Score`: the tier and the sentence that justifies it.
    listen_start_s, listen_end_s : float
        The most AI-like stretch, to listen to.
    headline : str
        The first layer of the summary: 1-3 plain sentences (verdict, strongest measured
        reason, where to listen).
    details : str
        The second layer: the technical detail (timeline, saliency, effects, cues, caveats).
    summary : str
        ``headline``, a blank line, then ``"Details: "`` and ``details``.
    flags : list of str
        From the score (``silent``, ``shorter_than_segment``, ``untrained_model``,
        ``beyond_full_scale``), and ``analysis_truncated`` when the cues, saliency and
        interventions describe only the first ``analysed_s`` seconds of a longer input.
    timings : dict
        Seconds per stage and in total.
    analysed_s : float
        Seconds from the start of the input that the cues, saliency, interventions and
        peak spectrum analysed (at most ``max_analysis_s``; the timeline covers all).
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
    verdict: str = ""
    reason: str = ""
    listen_start_s: float = 0.0
    listen_end_s: float = 0.0
    headline: str = ""
    details: str = ""
    summary: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    analysed_s: float = float("nan")

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
            d["saliency"]["relative_importance"] = _jsonable(self.saliency.relative_importance)
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

        Raises
        ------
        MissingDependencyError
            When matplotlib is not installed (``pip install "aiaudio[plot]"``).
        """
        return _plot(self, Path(path), dpi=dpi)


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


# --------------------------------------------------------------------------- the explanation


def _cue_values(y: np.ndarray, sr: int) -> dict[str, float]:
    """:func:`extract_cues` without its level warning (the explanation warns once and flags it)."""
    return checked_cues(validate_samples(y, keep_float64=True, check_layout=False), check_rate_hz(sr))


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


def _inference_parts(det) -> tuple[torch.nn.Module, torch.nn.Module]:
    """Front end and CNN that compute the detector's logits: its CPU-tuned copy when it has one."""
    return det.inference_parts()


def _occlusion(
    det,
    mono: np.ndarray,
    starts: Sequence[int],
    logits: np.ndarray,
    n_bands: int,
    n_blocks: int,
    max_passes: int,
    fill_profile: np.ndarray | None = None,
) -> Saliency:
    """Occlusion map of the segments of ``mono`` (see the module docs).

    ``fill_profile`` (per front-end bin) is what an occluded patch becomes; ``None``: the
    patch's own mean level.
    """
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
        fill = None
        if fill_profile is not None:
            if len(fill_profile) != F:
                raise ValueError(f"the fill profile has {len(fill_profile)} bins; the model's spectrogram {F}")
            fill = torch.as_tensor(np.asarray(fill_profile, dtype=np.float32))[:, None]
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
                    if fill is None:
                        batch[m, 0, f0:f1, a0:a1] = spec[j, 0, f0:f1, a0:a1].mean()
                    else:
                        batch[m, 0, f0:f1, a0:a1] = fill[f0:f1]
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
    baseline = "band_level" if fill is None else "human_reference_spectrum"
    return Saliency("occlusion", baseline, edges, cs, ce, si, delta, passes, time.perf_counter() - t0)


# --------------------------------------------------------------------------- saliency reference


def model_fingerprint(det) -> str:
    """SHA-256 (hex, 16 characters) of a detector's front-end settings and every weight and buffer.

    A :class:`SaliencyReference` is used only for the model with the same fingerprint.
    """
    import hashlib

    h = hashlib.sha256(json.dumps(det.config.frontend.to_dict(), sort_keys=True).encode())
    for name, t in sorted(det.model.state_dict().items()):
        h.update(name.encode())
        h.update(np.ascontiguousarray(t.detach().cpu().numpy()).tobytes())
    return h.hexdigest()[:16]


def load_saliency_reference(det) -> SaliencyReference | None:
    """The saliency reference of ``det``'s model, or ``None`` when it has none.

    Looked for in the model directory (``saliency_reference.json``), then among the
    package's assets (``aiaudio/assets/saliency_<fingerprint>.json``, where
    ``scripts/build_saliency_reference.py`` writes the shipped model's). A file whose
    fingerprint is not the model's (e.g. after retraining) is ignored.
    """
    from importlib import resources

    fp = model_fingerprint(det)
    texts = []
    md = getattr(det, "model_dir", None)
    if md is not None and (Path(md) / SALIENCY_REFERENCE_NAME).is_file():
        texts.append((Path(md) / SALIENCY_REFERENCE_NAME).read_text(encoding="utf-8"))
    try:
        texts.append(resources.files("aiaudio").joinpath("assets").joinpath(f"saliency_{fp}.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, OSError):
        pass
    for text in texts:
        try:
            ref = SaliencyReference.from_dict(json.loads(text))
        except (ValueError, KeyError, TypeError):
            continue
        if ref.fingerprint == fp:
            return ref
    return None


def _mean_spectrum(det, mono: np.ndarray, starts: Sequence[int]) -> tuple[np.ndarray, int]:
    """Sum over segments of the per-bin time mean of the front end's output, and the segment count."""
    fe = det.config.frontend
    frontend, _ = _inference_parts(det)
    tot, n = None, 0
    with torch.inference_mode():
        for i in range(0, len(starts), 8):
            x = torch.from_numpy(np.stack([_segment_at(mono, int(s0), fe.segment_samples) for s0 in starts[i : i + 8]]))
            m = frontend(x)[:, 0].mean(dim=2).double().numpy()  # (b, F)
            tot = m.sum(axis=0) if tot is None else tot + m.sum(axis=0)
            n += m.shape[0]
    return tot, n


def build_saliency_reference(
    det,
    tracks: Sequence[tuple[np.ndarray, int]],
    *,
    n_bands: int = 16,
    n_time_blocks: int = 1,
    max_occlusion_passes: int = 192,
    meta: dict[str, Any] | None = None,
) -> SaliencyReference:
    """Measure the occlusion attribution of ``det`` on human reference tracks.

    Parameters
    ----------
    det : aiaudio.Detector
    tracks : sequence of (samples, sample_rate)
        Human-made music (any rate, mono or not), e.g. excerpts of a minute.
    n_bands, n_time_blocks, max_occlusion_passes : int
        The occlusion grid and budget, as in :func:`explain` (its defaults).
    meta : dict, optional
        Provenance to keep in the reference.

    Returns
    -------
    SaliencyReference
        Two passes: the mean spectrum of all tracks (the occlusion baseline), then every
        track's band importance against that baseline, summarised by percentiles.
    """
    fe = det.config.frontend
    if not tracks:
        raise ValueError("build_saliency_reference needs at least one human track")
    monos = []
    tot, nseg = None, 0
    for y, sr in tracks:
        mono = _mono_at_model_rate(validate_samples(y), int(sr), fe.sample_rate)
        starts = segment_starts(mono.shape[0], fe)
        t, k = _mean_spectrum(det, mono, starts)
        tot = t if tot is None else tot + t
        nseg += k
        monos.append((mono, starts))
    fill = tot / nseg
    imps = []
    edges: list[float] = []
    for mono, starts in monos:
        lg = det.segment_logits(np.stack([_segment_at(mono, int(s0), fe.segment_samples) for s0 in starts]))
        sal = _occlusion(det, mono, starts, lg, n_bands, n_time_blocks, max_occlusion_passes, fill)
        imps.append(sal.band_importance)
        edges = sal.band_edges_hz
    imp = np.stack(imps)
    return SaliencyReference(
        model_fingerprint(det), det.version, fill, int(imp.shape[1]), int(n_time_blocks), list(edges),
        np.percentile(imp, 50, axis=0), np.percentile(imp, 5, axis=0), np.percentile(imp, 95, axis=0),
        len(tracks), dict(meta or {}, n_segments=nseg),
    )


def filter_band(y: np.ndarray, sr: int, lo_hz: float, hi_hz: float, order: int = 8) -> tuple[np.ndarray, str]:
    """Filter the band ``lo_hz``-``hi_hz`` out of ``y``: the band check's operation.

    An elliptic filter (:func:`scipy.signal.ellip`: 0.05 dB ripple, 80 dB stop band,
    ``order`` poles, applied forward and backward with :func:`scipy.signal.sosfiltfilt`):
    a high-pass at ``hi_hz`` when the band starts at 0 Hz, a low-pass at ``lo_hz`` when it
    reaches the top of the model's input (``hi_hz >= sr / 2`` or the caller's top), else a
    band-stop with the band as its edges.

    Returns
    -------
    samples : np.ndarray
        ``float32``, same shape.
    operation : str
        What was applied.
    """
    y = np.asarray(y, dtype=np.float32)
    nyq = sr / 2
    if lo_hz <= 1.0 and hi_hz < 0.999 * nyq:
        sos = scipy.signal.ellip(order, 0.05, 80, hi_hz, btype="highpass", output="sos", fs=sr)
        op = f"high-pass at {_hz(hi_hz)}"
    elif lo_hz > 1.0 and hi_hz >= 0.999 * nyq:
        if lo_hz >= 0.999 * nyq:
            return y.copy(), "nothing to filter: the band lies above the audio's Nyquist frequency"
        sos = scipy.signal.ellip(order, 0.05, 80, lo_hz, btype="lowpass", output="sos", fs=sr)
        op = f"low-pass at {_hz(lo_hz)}"
    elif lo_hz > 1.0:
        sos = scipy.signal.ellip(order // 2, 0.05, 80, [lo_hz, hi_hz], btype="bandstop", output="sos", fs=sr)
        op = f"band-stop {_hz(lo_hz)}-{_hz(hi_hz)}"
    else:
        raise ValueError(f"the band {lo_hz:.0f}-{hi_hz:.0f} Hz covers the whole spectrum at {sr} Hz")
    out = scipy.signal.sosfiltfilt(sos, y.astype(np.float64), axis=-1)
    return np.ascontiguousarray(out, dtype=np.float32), op + f" (elliptic, {order} poles, zero phase)"


def _band_checks(det, sal: Saliency, y_ex: np.ndarray, sr: int, base, model_top_hz: float, max_ai: int = 3, max_human: int = 2) -> None:
    """Fill ``sal.checks``, ``sal.ai_band`` and ``sal.human_band`` (see :class:`Saliency`)."""
    if sal.human_median is None or not sal.delta_logit.size:
        return
    bi = sal.band_importance
    rel = bi - sal.human_median
    ai = [int(j) for j in np.argsort(-rel) if bi[j] > sal.human_p95[j] and rel[j] >= SMALL_SALIENCY][:max_ai]
    hu = [int(j) for j in np.argsort(rel) if bi[j] < sal.human_p5[j] and rel[j] <= -SMALL_SALIENCY][:max_human]
    edges = sal.band_edges_hz
    for side, cands in (("ai", ai), ("human", hu)):
        for j in cands:
            lo, hi = float(edges[j]), float(edges[j + 1])
            hi_f = sr / 2 if hi >= model_top_hz - 1.0 else hi  # the top band: everything above it too
            y2, op = filter_band(y_ex, sr, lo, hi_f)
            s2 = _quiet_score(det, y2, sr)
            d = s2.p_ai - base.p_ai
            ok = d <= -BAND_CHECK_MIN if side == "ai" else d >= BAND_CHECK_MIN
            sal.checks.append(BandCheck(j, lo, hi, side, float(bi[j]), float(sal.human_median[j]), op, base.p_ai, s2.p_ai, d, bool(ok)))
            if ok and side == "ai" and sal.ai_band is None:
                sal.ai_band = j
            if ok and side == "human" and sal.human_band is None:
                sal.human_band = j


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
    cues_after = _cue_values(y2, sr)
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
    max_analysis_s: float | None = MAX_ANALYSIS_S,
    saliency_reference: SaliencyReference | None = None,
    band_check: bool = True,
) -> Explanation:
    """Explain the score ``detector`` gives ``audio``: timeline, cue effects, saliency, peaks, summary.

    Parameters
    ----------
    detector : aiaudio.Detector
    audio : path, bytes, binary file object, or np.ndarray
        As for :meth:`aiaudio.Detector.score`. The score is streamed over the whole
        input; only the first ``max_analysis_s`` seconds are held in memory.
    sr : int, optional
        Sample rate of an array input (required then; not allowed with a file).
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
    max_analysis_s : float or None
        Longest stretch (s) from the start that the cues, saliency, interventions and
        peak spectrum analyse (default :data:`aiaudio.audio.MAX_ANALYSIS_S`, 10 minutes;
        at least one segment); ``None``: the whole input, held in memory. A longer input
        is flagged ``analysis_truncated`` (see ``analysed_s``).
    saliency_reference : SaliencyReference, optional
        The occlusion baseline and the human band importances to compare with; default:
        the model's own (:func:`load_saliency_reference`). Without one, patches are
        replaced by their own mean level and no band is named.
    band_check : bool
        Filter each candidate band out of the excerpt's audio and score it again
        (:func:`filter_band`); a band is named only when that moves ``p_ai`` by at least
        :data:`BAND_CHECK_MIN` in the direction the occlusion states.

    Returns
    -------
    Explanation
        ``p_ai``, ``logit``, ``label``, ``verdict`` and ``confidence`` equal those of
        ``detector.score(audio, sr, cues=cues)``.

    Raises
    ------
    AudioLoadError
        As :meth:`aiaudio.Detector.score`.
    """
    from .inputs import check_max_analysis_s, open_input, warn_beyond_full_scale

    t_all = time.perf_counter()
    timings: dict[str, float] = {}
    fe = detector.config.frontend
    max_analysis_s = check_max_analysis_s(max_analysis_s)
    if max_analysis_s is not None and max_analysis_s < fe.segment_s:
        raise ValueError(f"max_analysis_s must be at least one segment ({fe.segment_s:g} s), got {max_analysis_s:g}")
    t0 = time.perf_counter()
    # one streamed pass: scores the whole input and keeps its first max_analysis_s seconds
    blocks, path, desc, head = open_input(audio, sr, fe, max_analysis_s, keep=True)
    starts_all, logits, totals = detector.score_blocks(blocks, desc)
    score = detector.make_score(starts_all, logits, totals.samples, totals.mean_square, path=path, peak=totals.peak)
    if "beyond_full_scale" in score.flags:
        warn_beyond_full_scale(desc, totals.peak)
    y, sr_native = head.samples(), head.sr
    truncated = head.truncated
    del head
    logits = np.array([g.logit for g in score.segments], dtype=np.float64)
    timings["decode_s"] = 0.0  # decoding is streamed together with scoring (see score_s)
    timings["score_s"] = time.perf_counter() - t0
    analysed_s = y.shape[1] / sr_native
    # the segments that lie inside the analysed stretch (all of them unless truncated)
    L = fe.segment_samples
    n_model = int(round(analysed_s * fe.sample_rate))
    k_in = len(starts_all) if not truncated else sum(1 for s0 in starts_all if s0 + L <= n_model)
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
        flags=list(score.flags) + (["analysis_truncated"] if truncated else []),
        timeline=timeline,
        analysed_s=analysed_s,
        verdict=score.verdict,
        reason=score.reason,
        listen_start_s=score.listen_start_s,
        listen_end_s=score.listen_end_s,
    )

    # the excerpt that the band check and the interventions filter and rescore, inside the analysed stretch
    y_ex = np.zeros((y.shape[0], 0), dtype=y.dtype)
    t_ex = (0.0, 0.0)
    if k_in:
        i0, i1 = _excerpt_window(timeline[:k_in], score.logit, fe, analysed_s if truncated else score.duration_s, intervention_s)
        a = int(round(timeline[i0].start_s * sr_native))
        b = int(round(timeline[i1 - 1].end_s * sr_native)) if (i1 < len(timeline) or truncated) else y.shape[1]
        b = min(b, y.shape[1])
        y_ex = np.ascontiguousarray(y[:, a:b])
        t_ex = (a / sr_native, b / sr_native)
    base = None

    if saliency and k_in:
        ref = saliency_reference if saliency_reference is not None else load_saliency_reference(detector)
        mono = _mono_at_model_rate(y, sr_native, fe.sample_rate)
        note = ""
        if ref is None:
            note = (
                "this model has no saliency reference (human reference tracks measured with the same attribution; "
                "build one with scripts/build_saliency_reference.py)"
            )
        elif ref.n_bands != int(occlusion_bands) or ref.n_time_blocks != int(occlusion_time_blocks):
            note = f"the saliency reference was measured on {ref.n_bands} bands x {ref.n_time_blocks} time blocks, not this grid"
        sal = _occlusion(
            detector, mono, starts_all[:k_in], logits[:k_in], int(occlusion_bands), int(occlusion_time_blocks), int(max_occlusion_passes),
            None if ref is None else ref.fill_profile,
        )
        del mono
        if ref is not None and not note:
            sal.human_median, sal.human_p5, sal.human_p95 = ref.importance_median, ref.importance_p5, ref.importance_p95
        sal.reference_note = note
        if band_check and not note:
            t0 = time.perf_counter()
            base = _quiet_score(detector, y_ex, sr_native)
            _band_checks(detector, sal, y_ex, sr_native, base, hi_hz)
            timings["band_check_s"] = time.perf_counter() - t0
        elif not note:
            sal.reference_note = "the band check (filtering a band out and scoring again) was not run"
        ex.saliency = sal
        timings["saliency_s"] = sal.seconds

    if cues:
        t0 = time.perf_counter()
        cue_values = _cue_values(y, sr_native)
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
        from .detector import confidence_for

        ex.confidence = confidence_for(  # as det.score(audio, cues=True): the cut-off is known now
            score.p_ai, c.threshold, n_segments=len(timeline), cutoff_hz=cue_values.get("cutoff_hz"), model_top_hz=hi_hz
        )

        if interventions and k_in:
            t0 = time.perf_counter()
            if base is None:
                base = _quiet_score(detector, y_ex, sr_native)
            cues_before = _cue_values(y_ex, sr_native)
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
    ex.headline, ex.details = _headline(ex), _summary(ex)
    ex.summary = ex.headline + "\n\nDetails: " + ex.details
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


#: Plain-language names of the cues (the summary and the plot show these with the unit).
CUE_LABELS: dict[str, str] = {
    "integrated_loudness_lufs": "loudness",
    "loudness_range_lu": "loudness range",
    "true_peak_dbtp": "true peak",
    "peak_to_loudness_db": "peak-to-loudness ratio",
    "crest_factor_db": "crest factor (peak over RMS)",
    "short_term_loudness_std_lu": "short-term loudness variation",
    "momentary_loudness_std_lu": "momentary loudness variation",
    "clipped_sample_pct": "clipped samples",
    "cutoff_hz": "highest frequency present (cut-off)",
    "hf_energy_ratio_db": "high-frequency energy",
    "flatness_low_db": "noisiness of the lows",
    "flatness_mid_db": "noisiness of the mids",
    "flatness_high_db": "noisiness of the highs",
    "flatness_air_db": "noisiness of the air band",
    "upsampler_peak_db": "narrow spectral peaks (upsampler trace)",
    "upsampler_periodicity_z": "evenly spaced spectral peaks (comb)",
    "upsampler_period_hz": "spacing of the spectral peaks",
    "shimmer_db": "level flutter of high partials (shimmer)",
    "phase_incoherence": "phase incoherence of high partials",
    "stereo_correlation": "left-right correlation",
    "side_mid_ratio_db": "stereo width (side over mid)",
}


def cue_label(name: str, unit: str = "") -> str:
    """``"plain label (unit)"`` for a cue (the unit left out when it has none worth saying)."""
    lab = CUE_LABELS.get(name, name.replace("_", " "))
    return lab if unit in ("", "0-1", "-1..1", "z") else f"{lab} ({unit})"


def _reasons(ex: Explanation) -> list[tuple[float, str]]:
    """Measured reasons (|delta p_ai| >= BAND_CHECK_MIN) that support the verdict's side, strongest first."""
    ai_side = ex.label != "human"
    out: list[tuple[float, str]] = []
    sal = ex.saliency
    j = sal.ai_band if (sal is not None and ai_side) else (sal.human_band if sal is not None else None)
    if j is not None:
        c = sal.check(j)
        out.append((
            abs(c.delta_p_ai),
            f"filtering {_band(sal.band_edges_hz, j)} out of the audio moves p_ai from {c.p_ai_before:.2f} to {c.p_ai_after:.2f}, "
            f"so that band pushed it toward \"{'AI' if c.delta_p_ai < 0 else 'human'}\"",
        ))
    for e in ex.effects:
        if not e.measured or abs(e.delta_p_ai) < BAND_CHECK_MIN or (e.delta_p_ai < 0) != ai_side:
            continue
        out.append((
            abs(e.delta_p_ai),
            f"{_SHORT_OP[e.name]} moves p_ai from {e.p_ai_before:.2f} to {e.p_ai_after:.2f}, "
            f"so that property pushed it toward \"{'AI' if e.delta_p_ai < 0 else 'human'}\"",
        ))
    return sorted(out, key=lambda x: -x[0])


def _headline(ex: Explanation) -> str:
    """1-3 plain sentences: the verdict, the strongest measured reason, where to listen."""
    s = [f"{ex.verdict or ex.label} (confidence {ex.confidence:.2f}). {ex.reason}".strip()]
    if not ex.model_trained or "silent" in ex.flags:
        return s[0]
    rs = _reasons(ex)
    if rs:
        s.append("Strongest measured reason: " + rs[0][1] + ".")
    elif ex.effects or ex.saliency is not None:
        s.append(f"No single measured property explains the score: nothing tried moved p_ai by {BAND_CHECK_MIN:g} or more toward this verdict.")
    return " ".join(s)


def _saliency_sentence(sal: Saliency) -> str:
    """What the occlusion and its band check say, in one or two sentences."""
    n_seg = len(set(sal.segment_index))
    segs = f"{n_seg} segment{'s' if n_seg != 1 else ''}"
    named = []
    for side, j in (("AI", sal.ai_band), ("human", sal.human_band)):
        if j is None:
            continue
        c = sal.check(j)
        named.append(
            f"{_band(sal.band_edges_hz, j)} pushes it toward \"{side}\" more than on human reference tracks "
            f"(occlusion {c.importance:+.2f} logit against a human median of {c.human_median:+.2f}), and filtering that "
            f"band out of the audio moves p_ai from {c.p_ai_before:.2f} to {c.p_ai_after:.2f}"
        )
    if named:
        return "Frequency bands: " + "; ".join(named) + f" ({segs} analysed)."
    if sal.human_median is None:
        return f"No band stands out: {sal.reference_note}, so the occlusion map ({segs}) is not compared with human music."
    if sal.checks:
        tried = ", ".join(
            f"{_band(sal.band_edges_hz, c.band)} (p_ai {c.p_ai_before:.2f} -> {c.p_ai_after:.2f})" for c in sal.checks[:3]
        )
        return (
            f"No band stands out: the occlusion ({segs}) points at bands outside the human range, but filtering them "
            f"out of the audio did not move p_ai by {BAND_CHECK_MIN:g} the way it says: {tried}."
        )
    return f"No band stands out: every band's occlusion effect ({segs}) lies within the range of human reference tracks."


def _summary(ex: Explanation) -> str:
    s: list[str] = []
    t = ex.threshold
    s.append(
        f"The model {ex.model_version} gives this {_dur(ex.duration_s)} track p_ai = {ex.p_ai:.2f}: label "
        f"\"{ex.label}\", confidence {ex.confidence:.2f} (threshold {t:.2f}, uncertain band "
        f"{ex.uncertain_low:.2f}-{ex.uncertain_high:.2f})."
    )
    if not ex.model_trained:
        s.append(
            "This model is an UNTRAINED placeholder with random weights: its score and every effect below "
            "describe that random network, not where the track came from."
        )
    if "silent" in ex.flags:
        s.append("The audio is silent (below -70 dBFS), so the score means nothing.")
    if "beyond_full_scale" in ex.flags:
        s.append(
            "The samples peak far above full scale (1.0), as integer PCM values passed as floats do: the score "
            "ignores gain, but the level cues (loudness, peaks, clipping) below are wrong; divide by 32768 (int16)."
        )
    if "analysis_truncated" in ex.flags:
        s.append(
            f"The score and timeline cover the whole {_dur(ex.duration_s)}; the cues, saliency and interventions "
            f"describe only its first {_dur(ex.analysed_s)} (max_analysis_s)."
        )
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
            spans = ", ".join(f"{_mmss(tl[a].start_s)}-{_mmss(tl[b - 1].end_s)}" for a, b in true_runs(ps >= t)[:4])
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
        s.append(_saliency_sentence(sal))
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
        def _is_evidence(c: CueEvidence) -> bool:
            e = next((x for x in ex.effects if x.name == c.intervention and x.measured), None)
            return e is not None and abs(e.delta_p_ai) >= BAND_CHECK_MIN

        odd.sort(key=lambda c: (not _is_evidence(c), -abs(c.percentile - 50)))
        if odd:
            txt = []
            for c in odd[:3]:
                if c.percentile >= 100:
                    where = "above every human reference track"
                elif c.percentile <= 0:
                    where = "below every human reference track"
                elif c.percentile >= 95:
                    where = f"higher than {c.percentile:.0f}% of human reference tracks"
                else:
                    where = f"lower than {100 - c.percentile:.0f}% of human reference tracks"
                e = next((x for x in ex.effects if x.name == c.intervention and x.measured), None)
                if e is None:
                    verdict = "its effect on this score was not measured, so it is not counted as evidence"
                elif abs(e.delta_p_ai) >= BAND_CHECK_MIN:
                    verdict = (
                        f"evidence for \"{'AI' if e.delta_p_ai < 0 else 'human'}\": {_SHORT_OP[e.name]} "
                        f"{'lowered' if e.delta_p_ai < 0 else 'raised'} p_ai by {abs(e.delta_p_ai):.2f}"
                    )
                else:
                    verdict = f"not evidence for this score: {_SHORT_OP[e.name]} moved p_ai by only {e.delta_p_ai:+.2f}"
                txt.append(f"{cue_label(c.name, c.unit)} {_num(c.value)} ({where}; {verdict})")
            s.append("Outside the usual human range: " + "; ".join(txt) + ".")
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
    if sal is not None and sal.delta_logit.size and sal.ai_band is None and sal.human_band is None and not _reasons(ex):
        weak.append("no frequency band stands out and no measured change moved p_ai by 0.05 toward the verdict")
    if not ex.model_trained:
        weak.append("the model is untrained")
    if weak:
        s.append("The evidence is weak: " + "; ".join(weak) + ".")
    return " ".join(s)


# --------------------------------------------------------------------------- plot


def _num(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 1000 else f"{v:.4g}"


def _plot(ex: Explanation, path: Path, dpi: int = 100) -> Path:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.colors import TwoSlopeNorm
        from matplotlib.figure import Figure
    except ImportError as e:  # matplotlib is the optional extra "plot"
        from .errors import MissingDependencyError

        raise MissingDependencyError(
            f'plotting an explanation needs matplotlib, which cannot be imported ({e}): pip install "aiaudio[plot]"'
        ) from e

    fig = Figure(figsize=(13, 18.5))
    FigureCanvasAgg(fig)
    gs = fig.add_gridspec(5, 2, height_ratios=[1.0, 1.5, 2.5, 1.35, 1.25], width_ratios=[1.25, 1.0], hspace=0.6, wspace=0.3, left=0.07, right=0.97, top=0.925, bottom=0.02)
    name = Path(ex.path).name if ex.path else "<array>"
    fig.suptitle(
        f"{name}: {ex.verdict or ex.label} (p_ai {ex.p_ai:.2f}, confidence {ex.confidence:.2f})  -  model {ex.model_version}"
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
    ax.axhline(ex.threshold, color="k", lw=2.0, zorder=5, label=f"threshold {ex.threshold:.2f}")
    ax.axhline(ex.p_ai, color="tab:purple", lw=1.4, ls="--", zorder=6, label=f"song p_ai {ex.p_ai:.2f}")
    if ex.listen_end_s > ex.listen_start_s:
        ax.axvspan(ex.listen_start_s, ex.listen_end_s, ymin=0.96, ymax=1.0, color="tab:orange", label="listen here (most AI-like)")
    meas = [e for e in ex.effects if e.measured]
    if meas:
        ax.axvspan(meas[0].excerpt_start_s, meas[0].excerpt_end_s, ymin=0.0, ymax=0.04, color="tab:green", label="excerpt used for interventions")
    ax.set_xlim(0, max(ex.duration_s, 1e-3))
    ax.set_ylim(0, 1.06)  # room above a threshold near 1, so its line is not the frame
    ax.set_ylabel("p_ai")
    ax.set_xlabel("time (s)")
    ax.set_title(f"Timeline: p_ai of each {ex.segment_s:g} s segment (red: at or above the threshold)", fontsize=11, loc="left", pad=22)
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), fontsize=8, ncol=5, frameon=False, borderaxespad=0.2)  # off the data

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
        base = "the human reference spectrum" if sal.baseline == "human_reference_spectrum" else "its own mean level"
        named = [f"{_band(sal.band_edges_hz, j)} toward {side} (checked on the audio)" for side, j in (("AI", sal.ai_band), ("human", sal.human_band)) if j is not None]
        ax.set_title(
            f"Occlusion: drop of the segment logit when a {np.diff(edges).mean():.0f} Hz band is replaced by {base} "
            f"(red: toward AI, blue: toward human; {len(set(sal.segment_index))} segments)\n"
            + ("Named: " + "; ".join(named) if named else "No band stands out (see the summary)"),
            fontsize=10.5, loc="left",
        )
        for j in (sal.ai_band, sal.human_band):
            if j is not None:
                ax.axhline(edges[j], color="k", lw=0.8, ls=":")
                ax.axhline(edges[j + 1], color="k", lw=0.8, ls=":")
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
            rows.append([CUE_LABELS.get(c.name, c.name), _num(c.value), c.unit, f"{c.percentile:.0f}", _num(c.human_median), eff])
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
        names = [textwrap.fill(_SHORT_OP.get(e.name, e.name), 22) for e in ex.effects][::-1]
        vals = [e.delta_p_ai if e.measured else 0.0 for e in ex.effects][::-1]
        cols = ["tab:red" if v > 0 else "tab:blue" for v in vals]
        y = np.arange(len(names))
        ax.barh(y, vals, color=cols, alpha=0.8)
        ax.axvline(0, color="k", lw=0.8)
        lim = max(0.05, max(abs(v) for v in vals) * 1.35)
        ax.set_xlim(-lim, lim)
        ax.set_yticks(y)
        ax.set_yticklabels(names, fontsize=8)
        for yi, e in zip(y, ex.effects[::-1]):
            if e.measured:
                prim = e.cues[0]
                txt = f"Δ {e.delta_p_ai:+.3f}  ({CUE_LABELS.get(prim, prim)}: {_num(e.cue_before[prim])} → {_num(e.cue_after[prim])})"
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
        ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize=8, ncol=4, frameon=False, borderaxespad=0.2)  # off the data
        ax.set_title(
            f"Upsampler-peak residual spectrum: strength {pk.strength_db:.1f} dB, comb z {pk.periodicity_z:.1f}"
            + (f" at {pk.period_hz:.0f} Hz spacing" if pk.period_hz > 0 else ""),
            fontsize=11, loc="left", pad=20,
        )
    else:
        ax.text(0.5, 0.5, "residual spectrum not computed", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("dB")

    # summary
    ax = fig.add_subplot(gs[4, :])
    ax.axis("off")
    ax.set_title("Summary", fontsize=11, loc="left")
    head = textwrap.fill(ex.headline or ex.summary, 140)
    ax.text(0.0, 1.0, head, transform=ax.transAxes, fontsize=9.5, fontweight="bold", va="top", ha="left")
    if ex.details:
        n_head = head.count("\n") + 1
        ax.text(0.0, 1.0 - 0.075 * (n_head + 0.6), textwrap.fill("Details: " + ex.details, 175), transform=ax.transAxes, fontsize=7.6, va="top", ha="left")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(str(path), dpi=dpi)
    return path
