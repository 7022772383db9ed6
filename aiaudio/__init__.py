"""aiaudio: tell AI-generated music from human-made music.

>>> import aiaudio
>>> s = aiaudio.score("song.mp3")          # doctest: +SKIP
>>> s.p_ai, s.label, s.segments[:2]        # doctest: +SKIP

The public API is what this module exports; everything else is an implementation detail.
"""

from ._version import __version__
from .audio import audio_info, load_audio, stream_audio
from .detector import Detector, Score, SegmentScore, UntrainedModelWarning, explain, load_detector, score
from .errors import AiaudioError, AudioLoadError, ClipTooShortError, MissingDependencyError, ModelLoadError

__all__ = [
    "__version__",
    "load_audio",
    "stream_audio",
    "audio_info",
    "extract_cues",
    "load_detector",
    "score",
    "explain",
    "score_catalog",
    "Detector",
    "Score",
    "SegmentScore",
    "UntrainedModelWarning",
    "AiaudioError",
    "AudioLoadError",
    "ClipTooShortError",
    "ModelLoadError",
    "MissingDependencyError",
]


def __getattr__(name: str):
    # aiaudio.extract_cues is imported on first use: the cue module needs scipy.signal,
    # which would add most of a second to `import aiaudio` (cold start).
    if name == "extract_cues":
        from .cues import extract_cues

        return extract_cues
    if name == "score_catalog":  # imported on first use, like extract_cues
        from .catalog import score_catalog

        return score_catalog
    raise AttributeError(f"module 'aiaudio' has no attribute {name!r}")
