"""Interpretable cues: small pure functions, numpy in, floats out.

Every function takes samples ``y`` as a float array of shape ``(channels, samples)``
or ``(samples,)`` (mono) and, where it matters, the sample rate ``sr`` in Hz. Each
one can be used alone; :func:`extract_cues` computes all of them at once, sharing
the expensive intermediate steps (K-weighting, the long-term spectrum), and returns
a ``dict`` with the stable names listed in :data:`CUE_INFO` (the same table is in
``docs/cues.md``).

Cue groups
----------
* **Dynamics and compression** -- integrated loudness (ITU-R BS.1770-4), loudness
  range (EBU Tech 3342), true peak, peak-to-loudness ratio, crest factor, spread of
  the short-term and momentary loudness, clipped samples.
* **Spectrum** -- effective cut-off frequency (the "cliff" of the long-term
  spectrum), energy above 8 kHz, spectral flatness in four bands.
* **Upsampler peaks** -- the long-term average log spectrum minus its lower envelope
  in the upper band, with a peak-strength and a comb-periodicity score (the spectral
  peaks left by transposed-convolution upsampling in neural decoders, after Afchar
  et al., "A Fourier explanation of AI-music artifacts", ISMIR 2025; this is an
  independent implementation).
* **Shimmer** -- frame-to-frame level instability and phase incoherence of the
  harmonic partials between 2 and 8 kHz.
* **Stereo image** -- inter-channel correlation and side/mid energy ratio.

Conventions
-----------
* Values are finite floats for any valid input (non-empty, finite samples): silence,
  clips of a fraction of a second, mono, 8 kHz audio. Where a quantity cannot be
  measured, a documented neutral or floor value is returned instead of NaN (see each
  function's *Notes*).
* Loudness uses the K-weighting filters of :mod:`pyloudnorm` (its BS.1770-4 filter
  design) and a vectorised implementation of the BS.1770-4 gating and of the EBU
  Tech 3342 loudness-range statistic (the loops in pyloudnorm cost about 1.3 s on a
  3-minute track; this costs about 0.15 s, mostly the filtering, and agrees with
  ``pyloudnorm.Meter.integrated_loudness`` to within 0.01 LU, see the tests).
* Cues describe; they do not decide. Loudness, cut-off and high-band energy also
  describe human mastering and lossy encoding (see ``docs/cues.md``).

Modules
-------
One module per cue family, the table of cues and the human reference ranges; this package
re-exports their public names (``from aiaudio.cues import extract_cues``).

- :mod:`aiaudio.cues.loudness`: integrated loudness (ITU-R BS.1770-4), loudness range (EBU Tech 3342), loudness spread
- :mod:`aiaudio.cues.peaks`: peak cues: true peak, peak-to-loudness ratio, crest factor, clipped samples
- :mod:`aiaudio.cues.spectrum`: spectrum cues: the long-term spectrum, its cut-off frequency, the energy above 8 kHz, flatness in four bands
- :mod:`aiaudio.cues.upsampler`: upsampler peaks: the spectral peaks left by transposed-convolution upsampling in neural decoders
- :mod:`aiaudio.cues.shimmer`: shimmer: frame-to-frame level instability and phase incoherence of the partials between 2 and 8 kHz
- :mod:`aiaudio.cues.stereo`: stereo image cues: inter-channel correlation and side/mid energy ratio
- :mod:`aiaudio.cues.info`: the table of cues: unit, group, description and direction hint of each
- :mod:`aiaudio.cues.extract`: every cue at once: :func:`extract_cues` (samples), :func:`file_cues` (a file), sharing the expensive steps
- :mod:`aiaudio.cues.ranges`: the human reference ranges of the cues (``assets/human_ranges.json``) and percentiles in them
"""

from ..errors import CUES_MODULES, require_extra

require_extra(CUES_MODULES, "cues", "the interpretable cues (aiaudio.cues)")


from ._common import FLATNESS_BANDS, HF_EDGE_HZ, HF_FLOOR_DB, LOUDNESS_FLOOR_LUFS, RATIO_FLOOR_DB, SHIMMER_BAND_HZ, SHIMMER_EXCERPTS, SHIMMER_EXCERPT_S, SHIMMER_SR  # noqa: F401  (the constants, as before)
from .loudness import LoudnessStats, integrated_loudness, loudness_range, loudness_stats
from .peaks import clipped_sample_pct, crest_factor_db, peak_to_loudness_ratio_db, true_peak_dbtp
from .spectrum import LongTermSpectrum, cutoff_frequency, hf_energy_ratio_db, long_term_spectrum, spectral_flatness_bands
from .upsampler import PeakResult, upsampler_peaks
from .shimmer import ShimmerResult, shimmer
from .stereo import side_mid_ratio_db, stereo_correlation
from .info import CUE_INFO, CUE_NAMES, CueInfo
from .extract import checked_cues, extract_cues, file_cues
from .ranges import human_ranges, percentile_of

# for the detector, which imports these three names from here
from ._common import _as_2d, _check_sr  # noqa: F401
from .extract import checked_cues as _all_cues  # noqa: F401

__all__ = [
    "CUE_INFO",
    "CUE_NAMES",
    "CueInfo",
    "LongTermSpectrum",
    "PeakResult",
    "ShimmerResult",
    "LoudnessStats",
    "extract_cues",
    "file_cues",
    "checked_cues",
    "percentile_of",
    "human_ranges",
    "integrated_loudness",
    "loudness_range",
    "loudness_stats",
    "true_peak_dbtp",
    "peak_to_loudness_ratio_db",
    "crest_factor_db",
    "clipped_sample_pct",
    "long_term_spectrum",
    "cutoff_frequency",
    "hf_energy_ratio_db",
    "spectral_flatness_bands",
    "upsampler_peaks",
    "shimmer",
    "stereo_correlation",
    "side_mid_ratio_db",
]
