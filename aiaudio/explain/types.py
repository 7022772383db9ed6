"""What an explanation holds: the data classes (timeline, cue evidence, effects, saliency, band checks,
peak spectrum, the explanation itself) and the thresholds the summary uses.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._outfiles import jsonable as _jsonable


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
        from .._outfiles import json_dumps  # a file name that is not UTF-8 as \udcXX escapes

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
        from .plot import _plot  # matplotlib is imported on the first plot only

        return _plot(self, Path(path), dpi=dpi)


