"""aiaudio: tell AI-generated music from human-made music.

>>> import aiaudio
>>> s = aiaudio.score("song.mp3")          # doctest: +SKIP
>>> s.p_ai, s.label, s.segments[:2]        # doctest: +SKIP

The public API is what this module exports; everything else is an implementation detail.
"""

from ._version import __version__
from .audio import audio_info, load_audio, stream_audio
from .detector import Detector, Score, SegmentScore, UntrainedModelWarning, load_detector, score
from .errors import AiaudioError, AudioLoadError, ClipTooShortError, ModelLoadError

__all__ = [
    "__version__",
    "load_audio",
    "stream_audio",
    "audio_info",
    "load_detector",
    "score",
    "Detector",
    "Score",
    "SegmentScore",
    "UntrainedModelWarning",
    "AiaudioError",
    "AudioLoadError",
    "ClipTooShortError",
    "ModelLoadError",
]
