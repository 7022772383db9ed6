"""Typed errors raised by aiaudio.

Every error message names the thing that failed and says what to do about it.
"""

from __future__ import annotations

__all__ = ["AiaudioError", "AudioLoadError", "ClipTooShortError", "MissingDependencyError", "ModelLoadError"]


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
    file, a list of paths (use :func:`aiaudio.pipeline.score_files`) or an object that
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
