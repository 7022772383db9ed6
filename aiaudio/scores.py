"""The verdict on one input: :class:`Score`, :class:`SegmentScore`, the label, the verdict in words and the confidence.

Pure functions and data classes over a song's logits and the model config; :mod:`aiaudio.detector`
makes a :class:`Score` with :meth:`~aiaudio.Detector.make_score`.

Label
    ``"uncertain"`` when ``uncertain_low <= p_ai < uncertain_high``, else
    ``"ai"`` when ``p_ai >= threshold``, else ``"human"`` (values in the model config).
Verdict
    The label in words a person can act on (:data:`VERDICTS`): ``"Likely AI"`` (label
    ``ai``), ``"Needs review"`` (label ``uncertain``, and any score of a silent input or
    of an untrained model) and ``"No AI signal found"`` (label ``human``). ``reason`` is
    the one sentence that justifies it; ``listen_start_s``-``listen_end_s`` the stretch to
    listen to: the most AI-like segment with its neighbours that also score at or above
    the threshold (at most 8 segments).
Confidence
    How sure the verdict is, 0..1; a surer verdict always has a higher number. It is the
    calibrated probability that the score is on the right side of the threshold
    (``p_ai`` for "Likely AI", ``1 - p_ai`` otherwise: monotonic in ``|p_ai - threshold|``
    on each side), times a reliability factor: ``sqrt(n / 8)`` for a clip of
    ``n < 8`` segments (under about 30 s); and, when the cues were computed, x 0.5 for
    band-limited audio (cut-off below the top of the model's input) or x 0.8 for a
    cut-off below 16 kHz (lossy coding at a low bit rate, or resampling). See
    :func:`confidence_for`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

from .modelconfig import ModelConfig

__all__ = ["LABELS", "VERDICTS", "VERDICT_OF_LABEL", "Score", "SegmentScore", "UntrainedModelWarning", "confidence_for"]


LABELS = ("ai", "human", "uncertain")
#: The verdict tiers (see the module docs), from surest "AI" to "no AI signal".
VERDICTS = ("Likely AI", "Needs review", "No AI signal found")
#: The verdict tier of each label.
VERDICT_OF_LABEL = {"ai": "Likely AI", "uncertain": "Needs review", "human": "No AI signal found"}
#: Segments under which a clip counts as short for :func:`confidence_for` (8 x 4 s: about 30 s).
FULL_CONFIDENCE_SEGMENTS = 8
#: Cut-off (Hz) under which audio counts as lossy-coded at a low bit rate or resampled.
LOSSY_CUTOFF_HZ = 16000.0


def confidence_for(
    p_ai: float,
    threshold: float,
    *,
    n_segments: int = FULL_CONFIDENCE_SEGMENTS,
    cutoff_hz: float | None = None,
    model_top_hz: float | None = None,
) -> float:
    """Confidence of a verdict (see the module docs).

    Parameters
    ----------
    p_ai : float
        Calibrated probability.
    threshold : float
        The model's threshold.
    n_segments : int
        Segments the score rests on; fewer than :data:`FULL_CONFIDENCE_SEGMENTS` lower it.
    cutoff_hz : float, optional
        The audio's spectral cut-off (the ``cutoff_hz`` cue), when known.
    model_top_hz : float, optional
        Highest frequency the model's input holds; a cut-off under it lowers the confidence most.

    Returns
    -------
    float
        In [0, 1].
    """
    p = min(1.0, max(0.0, float(p_ai)))
    base = p if p >= threshold else 1.0 - p
    r = math.sqrt(min(1.0, max(1, int(n_segments)) / FULL_CONFIDENCE_SEGMENTS))
    if cutoff_hz is not None and math.isfinite(cutoff_hz):
        if model_top_hz is not None and cutoff_hz < model_top_hz - 100.0:
            r *= 0.5
        elif cutoff_hz < LOSSY_CUTOFF_HZ:
            r *= 0.8
    return float(base * r)


def _listen_range(segments: Sequence["SegmentScore"], threshold: float, max_segments: int = 8) -> tuple[float, float]:
    """The most AI-like segment and its neighbours at or above the threshold (at most ``max_segments``)."""
    if not segments:
        return 0.0, 0.0
    ps = [g.p_ai for g in segments]
    j = max(range(len(ps)), key=lambda i: (ps[i], -i))
    a = b = j
    while b - a + 1 < max_segments:
        left = ps[a - 1] if a > 0 and ps[a - 1] >= threshold else -1.0
        right = ps[b + 1] if b + 1 < len(ps) and ps[b + 1] >= threshold else -1.0
        if left < 0 and right < 0:
            break
        if right >= left:
            b += 1
        else:
            a -= 1
    return segments[a].start_s, segments[b].end_s


def _mmss(t: float) -> str:
    s = int(round(max(0.0, float(t))))
    return f"{s // 60}:{s % 60:02d}"


def _verdict(label: str, p: float, c: ModelConfig, flags: Sequence[str], listen: tuple[float, float], n_seg: int) -> tuple[str, str]:
    """Verdict and the sentence that justifies it."""
    where = f"{_mmss(listen[0])}-{_mmss(listen[1])}"
    if "untrained_model" in flags:
        return "Needs review", "The model is an untrained placeholder: its score means nothing."
    if "silent" in flags:
        return "Needs review", "The audio is silent: there is nothing to judge."
    v = VERDICT_OF_LABEL[label]
    short = f" It rests on only {n_seg} segment{'s' if n_seg != 1 else ''}." if n_seg < FULL_CONFIDENCE_SEGMENTS else ""
    if v == "Likely AI":
        why = f"p_ai {p:.2f} is at or above the model's threshold {c.threshold:.2f}; the most AI-like stretch is {where}."
    elif v == "Needs review":
        why = (
            f"p_ai {p:.2f} lies in the model's uncertain band ({c.uncertain_low:.2f}-{c.uncertain_high:.2f}): "
            f"listen to {where}, its most AI-like stretch."
        )
    else:
        why = (
            f"p_ai {p:.2f} is below the model's uncertain band (from {c.uncertain_low:.2f}); "
            f"its most AI-like stretch is {where}."
        )
    return v, why + short


class UntrainedModelWarning(UserWarning):
    """The model in use is a placeholder (``"trained": false``): its scores mean nothing."""


@dataclass(frozen=True)
class SegmentScore:
    """Score of one segment of a song.

    Attributes
    ----------
    start_s, end_s : float
        Position of the segment in the input (s).
    p_ai : float
        Calibrated probability that this segment is AI-generated.
    logit : float
        The CNN's raw logit for the segment (the song logit is their mean).
    """

    start_s: float
    end_s: float
    p_ai: float
    logit: float = float("nan")


@dataclass
class Score:
    """The verdict on one input.

    Attributes
    ----------
    p_ai : float
        Calibrated probability that the input is AI-generated, in [0, 1].
    label : str
        ``"ai"``, ``"human"`` or ``"uncertain"`` (see module docs).
    confidence : float
        How sure the verdict is, 0..1: a surer verdict always has a higher number (see module docs).
    duration_s : float
        Duration of the scored audio (s).
    segments : list of SegmentScore
        Per-segment scores over the input, in time order.
    cues : dict
        Interpretable cues (:func:`aiaudio.cues.extract_cues`) when asked for, else empty.
    flags : list of str
        Conditions that weaken the verdict: ``"silent"``, ``"shorter_than_segment"``,
        ``"untrained_model"``; ``"decoder_messages"`` when the decoding library
        reported damage while reading the file (see ``decoder_log``);
        ``"beyond_full_scale"`` when the samples peak above
        :data:`~aiaudio.audio.FULL_SCALE_LIMIT` (2.0, +6 dBFS), e.g. int16 values passed
        as floats: the score ignores gain, but ``silent`` and the level cues (loudness,
        peaks, clipping) are then wrong (a :class:`~aiaudio.audio.BeyondFullScaleWarning`
        says so too; :meth:`Detector.score` sets it, the folder pipeline does not check);
        ``"cues_truncated"`` when ``cues`` describe only the first ``max_analysis_s``
        seconds of a longer input (the score covers all of it).
    model_version : str
        ``name@version`` of the model that scored.
    path : str or None
        The input file, when a file was scored.
    logit : float
        The song logit: mean of the raw segment logits, before calibration.
    decoder_log : str
        What the decoding library (libmpg123, FFmpeg) printed while reading the file, when
        folder scoring decoded it in a worker process (at most 2000 characters); else empty.
    verdict : str
        ``"Likely AI"``, ``"Needs review"`` or ``"No AI signal found"`` (see module docs).
    reason : str
        One sentence that justifies the verdict, with where to listen.
    listen_start_s, listen_end_s : float
        The most AI-like stretch of the input (s).
    """

    p_ai: float
    label: str
    confidence: float
    duration_s: float
    segments: list[SegmentScore] = field(default_factory=list)
    cues: dict[str, float] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    model_version: str = ""
    path: str | None = None
    logit: float = float("nan")
    decoder_log: str = ""
    verdict: str = ""
    reason: str = ""
    listen_start_s: float = 0.0
    listen_end_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary of every field."""
        d = asdict(self)
        d["segments"] = [asdict(s) for s in self.segments]
        return d

    def __repr__(self) -> str:
        extra = f", flags={self.flags}" if self.flags else ""
        return (
            f"Score(p_ai={self.p_ai:.3f}, label={self.label!r}, verdict={self.verdict!r}, confidence={self.confidence:.2f}, "
            f"duration_s={self.duration_s:.1f}, segments={len(self.segments)}{extra})"
        )
