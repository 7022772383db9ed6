"""Typed errors raised by aiaudio.

Every error message names the thing that failed and says what to do about it.
"""

from __future__ import annotations

import importlib.util
from typing import Sequence

__all__ = [
    "AiaudioError",
    "AudioLoadError",
    "ClipTooShortError",
    "MissingDependencyError",
    "ModelLoadError",
    "ResumeError",
    "ScoresFormatError",
    "installed",
    "require_extra",
]


class AiaudioError(Exception):
    """Base class of every error aiaudio raises on purpose."""


class AudioLoadError(AiaudioError, ValueError):
    """An audio input could not be decoded or is unusable.

    Attributes
    ----------
    path : str or None
        The file (or ``"<array>"`` / ``"<file object>"``) the error is about.
    reason : str
        A short machine-friendly cause, e.g. ``"missing"``, ``"empty"``,
        ``"corrupt"``, ``"not_audio"``, ``"nonfinite"``, ``"too_short"``.
    """

    def __init__(self, message: str, *, path: str | None = None, reason: str = "unreadable"):
        super().__init__(message)
        self.path = path
        self.reason = reason


class ClipTooShortError(AudioLoadError):
    """The audio is shorter than the model needs to score it."""

    def __init__(self, message: str, *, path: str | None = None):
        super().__init__(message, path=path, reason="too_short")


class InvalidInputError(AudioLoadError, TypeError):
    """An argument of ``score`` / ``explain`` is of the wrong kind or out of range.

    Raised for a missing, non-integer or implausible ``sr``, an ``sr`` given with a
    file, a list of paths (use :func:`aiaudio.batch.score_files`) or an object that
    is neither audio nor a file. It is an :class:`AudioLoadError` (so a ``ValueError``)
    and also a ``TypeError``, which is what these calls raised before. ``reason`` is
    ``"sample_rate"`` or ``"wrong_type"``.
    """


__all__.append("InvalidInputError")  # kept apart from the list above so parallel edits merge


class ModelLoadError(AiaudioError, RuntimeError):
    """A model directory or file is missing, malformed, or of an unsupported version."""


class MissingDependencyError(AiaudioError, ImportError):
    """An optional feature needs packages that are not installed.

    The message names the missing packages and the ``pip install`` command (the
    package's optional extra) that adds them.
    """


class ResumeError(AiaudioError, ValueError):
    """An unfinished output cannot be continued (e.g. its columns differ from this run's).

    Raised by :class:`aiaudio.batch.ResumableOutput` (``aiaudio score --resume``).
    """


class ScoresFormatError(AiaudioError, ValueError):
    """A file given as ``aiaudio score`` output is not one (binary, other columns, bad JSON).

    Raised by :func:`aiaudio.report.read_scores`.
    """


def installed(name: str) -> bool:
    """Whether the top-level module ``name`` can be imported, looked up without importing it
    (False for a broken or half-removed installation, or one an import hook refuses)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def require_extra(modules: Sequence[str], extra: str, what: str) -> None:
    """Raise :class:`MissingDependencyError` when any of ``modules`` is not installed.

    Parameters
    ----------
    modules : sequence of str
        Top-level module names (``"librosa"``, ``"sklearn"``), looked up without importing them.
    extra : str
        The optional extra of aiaudio that installs them (``"train"``, ``"plot"``).
    what : str
        The feature that needs them, for the message (``"aiaudio train"``).

    Raises
    ------
    MissingDependencyError
        Naming the missing modules and the command ``pip install "aiaudio[<extra>]"``.
    """
    missing = [name for name in modules if not installed(name)]
    if missing:
        names = [_PIP_NAMES.get(m, m) for m in missing]
        raise MissingDependencyError(
            f"{what} needs {', '.join(names)}, which {'is' if len(names) == 1 else 'are'} not installed: "
            f'pip install "aiaudio[{extra}]"'
        )


#: What the interpretable cues need (the ``cues`` extra): explanations, reports and
#: ``score(..., cues=True)`` compute them.
CUES_MODULES = ("scipy", "pyloudnorm")

#: What explanations need (the ``train`` extra brings all of it): torch for the saliency
#: maps' gradients, and the cues.
EXPLAIN_MODULES = ("torch", "scipy", "pyloudnorm")

#: Distribution names of modules whose import name differs.
_PIP_NAMES = {"sklearn": "scikit-learn"}
