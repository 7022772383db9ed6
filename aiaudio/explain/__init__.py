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
        gain reduction); above it: :func:`aiaudio.dsp.compress` (r:1 from d dB
        below the peak). Of r in 1.05-3 (d in 1-18 dB, r in 1.5-3), the setting whose
        crest factor lands closest to the human median is used (measured on the excerpt
        itself). Not measured within 0.5 dB of it.
    ``bandwidth``
        Cut-off above the human median: low-pass (:func:`aiaudio.dsp.lowpass`) at
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

Modules
-------
This package re-exports the public names of its modules (``from aiaudio.explain import
Explanation``).

- :mod:`aiaudio.explain.types`: the data classes an explanation is made of
- :mod:`aiaudio.explain.interventions`: one small, documented audio change per cue group (DSP from :mod:`aiaudio.dsp`)
- :mod:`aiaudio.explain.attribution`: occlusion saliency, the saliency reference, band checks, the interventions' effects
- :mod:`aiaudio.explain.build`: :func:`explain`, which measures all of it and builds the :class:`Explanation`
- :mod:`aiaudio.explain.summary`: the summary text (headline, reasons, one paragraph a reader can check)
- :mod:`aiaudio.explain.plot`: the figure (matplotlib, the ``plot`` extra)
- :mod:`aiaudio.explain.labels`: how the summary and the plot name cues, interventions, times and frequencies
"""

from .types import BAND_CHECK_MIN, BandCheck, CueEvidence, Effect, Explanation, LOSSY_EXTENSIONS, PeakSpectrum, SALIENCY_REFERENCE_NAME, SMALL_EFFECT, SMALL_SALIENCY, Saliency, SaliencyReference, TimelinePoint  # noqa: F401
from .interventions import INTERVENTIONS, Intervention, human_median, neutralise  # noqa: F401
from .attribution import build_saliency_reference, filter_band, load_saliency_reference, model_fingerprint
from .build import explain
from .labels import CUE_LABELS, cue_label

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
