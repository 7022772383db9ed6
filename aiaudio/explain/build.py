""":func:`explain`: scores the input once, then measures the cues, the interventions' effects, the
saliency and the band checks, and builds the :class:`~aiaudio.explain.Explanation`.
"""

from __future__ import annotations

import time

import numpy as np

from ..audio import MAX_ANALYSIS_S, PathOrFile
from ..cues import CUE_INFO, CUE_NAMES, percentile_of, upsampler_peaks
from . import attribution
from .attribution import _band_checks, _excerpt_window, _mono_at_model_rate, _occlusion, _peak_spectrum, _quiet_score, _run_intervention, load_saliency_reference
from .interventions import INTERVENTIONS, _Context, _NOT_MEASURED, human_median
from .summary import _headline, _summary
from .types import CueEvidence, Explanation, SaliencyReference, TimelinePoint


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
    from ..inputs import check_max_analysis_s, open_input, warn_beyond_full_scale

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
        cue_values = attribution._cue_values(y, sr_native)  # (one name to patch in tests)
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
        from ..detector import confidence_for

        ex.confidence = confidence_for(  # as det.score(audio, cues=True): the cut-off is known now
            score.p_ai, c.threshold, n_segments=len(timeline), cutoff_hz=cue_values.get("cutoff_hz"), model_top_hz=hi_hz
        )

        if interventions and k_in:
            t0 = time.perf_counter()
            if base is None:
                base = _quiet_score(detector, y_ex, sr_native)
            cues_before = attribution._cue_values(y_ex, sr_native)
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


