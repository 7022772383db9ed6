"""How the summary and the plot name things: the cues, the interventions, times, frequencies and numbers."""

from __future__ import annotations

from typing import Sequence


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


def _num(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 1000 else f"{v:.4g}"


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
