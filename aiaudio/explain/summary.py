"""The summary text of an explanation: the headline, the reasons, one paragraph a reader can check."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..dsp import true_runs
from .labels import _SHORT_OP, _band, _dur, _hz, _mmss, _num, cue_label
from .types import BAND_CHECK_MIN, CueEvidence, Explanation, LOSSY_EXTENSIONS, SMALL_EFFECT, Saliency


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


