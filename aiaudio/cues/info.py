"""The table of cues: each cue's unit, group, description and direction hint (the same table is in
``docs/cues.md``).
"""

from __future__ import annotations

from dataclasses import dataclass




@dataclass(frozen=True)
class CueInfo:
    """One row of the cue table.

    Attributes
    ----------
    unit : str
        Unit of the value.
    group : str
        ``dynamics``, ``spectrum``, ``upsampler``, ``shimmer`` or ``stereo``.
    description : str
        What is measured, in one sentence.
    direction_hint : str
        How the value tends to move for AI-generated audio on the development data,
        and what else moves it (a hint for explanations, not a rule).
    """

    unit: str
    group: str
    description: str
    direction_hint: str


CUE_INFO: dict[str, CueInfo] = {
    "integrated_loudness_lufs": CueInfo(
        "LUFS", "dynamics",
        "Integrated loudness, ITU-R BS.1770-4 (K-weighting from pyloudnorm, gated); -70 for silence.",
        "Mastering choice. AI files were louder on the dev share (AUC 0.66) but not on content-matched pairs (0.40).",
    ),
    "loudness_range_lu": CueInfo(
        "LU", "dynamics",
        "Loudness range, EBU Tech 3342: 95th minus 10th percentile of gated short-term loudness; 0 under 3 s.",
        "Low for heavily compressed audio, human or AI; no separation on the dev share (AUC 0.53); falls with clip length.",
    ),
    "true_peak_dbtp": CueInfo(
        "dBTP", "dynamics",
        "True peak, 4x oversampled (soxr), over all channels; -120 for silence.",
        "Mastering choice; near 0 dBTP for loud masters, human or AI.",
    ),
    "peak_to_loudness_db": CueInfo(
        "dB", "dynamics",
        "Peak-to-loudness ratio: true peak (dBTP) minus integrated loudness (LUFS); 0 for silence.",
        "Low (< 8 dB) for heavily limited audio, human or AI; weak on the dev share (AUC 0.44).",
    ),
    "crest_factor_db": CueInfo(
        "dB", "dynamics",
        "Sample peak over RMS, all channels together; 0 for silence.",
        "Low for compressed/limited audio, human or AI; weak on the dev share (AUC 0.42).",
    ),
    "short_term_loudness_std_lu": CueInfo(
        "LU", "dynamics",
        "Standard deviation of the gated short-term loudness (3 s windows, 10 Hz); 0 under 3 s.",
        "Low for compressed audio; no separation on the dev share (AUC 0.52); falls with clip length.",
    ),
    "momentary_loudness_std_lu": CueInfo(
        "LU", "dynamics",
        "Standard deviation of the gated momentary loudness (400 ms windows, 10 Hz).",
        "Low for dense, compressed audio; slightly lower for AI on the dev share (AUC 0.41).",
    ),
    "clipped_sample_pct": CueInfo(
        "%", "dynamics",
        "Share of samples in flat runs (>= 3 equal samples) within 0.2 dB of the channel peak.",
        "High for clipped masters; lossy decoding hides it; no separation on the dev share.",
    ),
    "cutoff_hz": CueInfo(
        "Hz", "spectrum",
        "Effective cut-off: -10 dB point of the deepest sharp cliff (>= 20 dB) of the long-term spectrum; sr/2 if none.",
        "Low for band-limited audio: sample rate and lossy codec (MP3 128 kbps ~16-17 kHz). Confounded: no separation on content-matched pairs (AUC 0.45).",
    ),
    "hf_energy_ratio_db": CueInfo(
        "dB", "spectrum",
        "Energy above 8 kHz relative to the total, from the long-term spectrum; -120 if none.",
        "Low for band-limited or dark audio; confounded by sample rate, codec and content.",
    ),
    "flatness_low_db": CueInfo(
        "dB", "spectrum",
        "Spectral flatness 50-500 Hz: median over ~0.37 s frames of geometric/arithmetic mean power.",
        "Higher (noisier bass) for AI on the dev share (AUC 0.67), partly content.",
    ),
    "flatness_mid_db": CueInfo(
        "dB", "spectrum",
        "Spectral flatness 0.5-4 kHz (as flatness_low_db).",
        "Higher (more noise-like mids) for AI on the dev share (AUC 0.70, 0.69 after MP3).",
    ),
    "flatness_high_db": CueInfo(
        "dB", "spectrum",
        "Spectral flatness 4-8 kHz (as flatness_low_db); 0 if the band is empty or above sr/2.",
        "Higher (noise-like 4-8 kHz) for AI on the dev share (0.65; 0.79 at 44.1/48 kHz); MP3 coding changes it (0.56).",
    ),
    "flatness_air_db": CueInfo(
        "dB", "spectrum",
        "Spectral flatness 8-16 kHz (as flatness_low_db); 0 if the band is empty or above sr/2.",
        "Reads 0 for band-limited audio; confounded by sample rate and codec.",
    ),
    "upsampler_peak_db": CueInfo(
        "dB", "upsampler",
        "Mean height above the median of the 5 most prominent narrow peaks of the residual spectrum (upper band).",
        "Narrow peaks also come from tonal music: human instrumental tracks read higher (AUC 0.33); not an AI cue on its own.",
    ),
    "upsampler_periodicity_z": CueInfo(
        "z", "upsampler",
        "Comb score of evenly spaced peaks in the residual spectrum (z-score, ~2-4 without a comb).",
        "High for transposed-conv decoders (Encodec, Musika, LAC vs their source: AUC 0.71-1.0, survives MP3); chance for other generators.",
    ),
    "upsampler_period_hz": CueInfo(
        "Hz", "upsampler",
        "Spacing of the best comb of peaks (0 if the band is too narrow); a label more than a score.",
        "Compare with the intermediate rates of known decoders; not a score.",
    ),
    "shimmer_db": CueInfo(
        "dB", "shimmer",
        "Mean |frame-to-frame level change| of harmonic partials at 2-8 kHz (HPSS; 3 x 4 s excerpts at 22.05 kHz).",
        "Higher for AI on the dev share (AUC 0.75, 0.75 after MP3, 0.78 at 44.1/48 kHz): the most robust cue here.",
    ),
    "phase_incoherence": CueInfo(
        "0-1", "shimmer",
        "Mean |phase acceleration|/pi of those partials over three non-overlapping frames 46 ms apart (0 steady, 0.5 random).",
        "Higher for AI on the dev share (AUC 0.76, 0.77 after MP3), but near chance on content-matched pairs (0.55).",
    ),
    "stereo_correlation": CueInfo(
        "-1..1", "stereo",
        "Pearson correlation of L and R; 1 for mono.",
        "Near 1 for mono or narrow mixes; on the dev share it mostly tracks mono human test clips (confounded).",
    ),
    "side_mid_ratio_db": CueInfo(
        "dB", "stereo",
        "Side over mid energy, S=(L-R)/2, M=(L+R)/2; -60 for mono.",
        "Low (-60) for mono; on the dev share it mostly tracks mono human test clips (confounded).",
    ),
}

#: The names :func:`extract_cues` returns, in table order.
CUE_NAMES: tuple[str, ...] = tuple(CUE_INFO)


