"""aiaudio: tell AI-generated music from human-made music.

>>> import aiaudio
>>> s = aiaudio.score("song.mp3")          # doctest: +SKIP
>>> s.p_ai, s.label, s.segments[:2]        # doctest: +SKIP

The public API is what this module exports; everything else is an implementation detail.

``aiaudio.explain`` is the function (:func:`aiaudio.detector.explain`); the module of the same
name is imported with ``from aiaudio.explain import Explanation`` (or
``importlib.import_module("aiaudio.explain")``) and never replaces the function here.
"""

import sys as _sys
import types as _types

from ._version import __version__
from .audio import audio_info, load_audio, stream_audio
from .detector import Detector, Score, SegmentScore, UntrainedModelWarning, explain, load_detector, score
from .errors import AiaudioError, AudioLoadError, ClipTooShortError, MissingDependencyError, ModelLoadError
from .errors import InvalidInputError
from .audio import BeyondFullScaleWarning

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
    "BatchScorer",
    "Detector",
    "Score",
    "SegmentScore",
    "UntrainedModelWarning",
    "BeyondFullScaleWarning",
    "AiaudioError",
    "AudioLoadError",
    "ClipTooShortError",
    "InvalidInputError",
    "ModelLoadError",
    "MissingDependencyError",
]


class _Package(_types.ModuleType):
    """The ``aiaudio`` package object: keeps the public function ``aiaudio.explain``.

    Importing a submodule sets it as an attribute of its package, so the first import of
    :mod:`aiaudio.explain` (done lazily by the first explanation) would replace the function
    ``aiaudio.explain`` with the module and the second call would fail. The submodule stays
    in ``sys.modules``; only that one assignment is refused. (Importing the submodule here,
    eagerly, would keep the function too but add scipy's import to ``import aiaudio``.)
    """

    def __setattr__(self, name: str, value: object) -> None:
        if name == "explain" and isinstance(value, _types.ModuleType):
            return
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package


def __getattr__(name: str):
    # aiaudio.extract_cues is imported on first use: the cue module needs scipy.signal,
    # which would add most of a second to `import aiaudio` (cold start).
    if name == "extract_cues":
        from .cues import extract_cues

        return extract_cues
    if name == "BatchScorer":  # the picklable scorer for clusters (aiaudio.cluster)
        from .cluster import BatchScorer

        return BatchScorer
    if name == "score_catalog":  # imported on first use, like extract_cues
        from .catalog import score_catalog

        return score_catalog
    raise AttributeError(f"module 'aiaudio' has no attribute {name!r}")
