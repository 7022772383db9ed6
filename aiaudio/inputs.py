"""Any input opened for scoring: a path, bytes, a binary file object or an array, as mono blocks at the model rate.

The one place that turns what a user passes into samples: :meth:`aiaudio.Detector.score`,
the folder pipeline (through :func:`aiaudio.detector.model_rate_input`) and the
explanations (:func:`aiaudio.explain.explain`) all open their input here, so they read it
the same way and refuse the same things with the same errors.
"""

from __future__ import annotations

import io
import math
import os
import warnings
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import numpy as np

from .audio import MAX_ANALYSIS_S, BeyondFullScaleWarning, PathOrFile, check_sample_rate, resample, stream_audio, to_mono, validate_samples
from .errors import AudioLoadError, ClipTooShortError, InvalidInputError
from .frontend import FrontendConfig, iter_segments

__all__ = [
    "SCORE_BLOCK_S", "InputHead", "StreamTotals", "check_max_analysis_s", "counted_segments", "model_rate_input",
    "open_input", "too_short_error", "warn_beyond_full_scale",
]

#: Block length (s) in which files are decoded and resampled for scoring. :meth:`Detector.score`
#: and the folder pipeline read files the same way, so their scores agree.
SCORE_BLOCK_S = 30.0


def _closing(stream) -> Iterator[np.ndarray]:
    with stream:
        for blk in stream:
            yield blk[0]


def _then(blocks: Iterable[np.ndarray], fn) -> Iterator[np.ndarray]:
    """``blocks``, then ``fn()`` once they are exhausted."""
    yield from blocks
    fn()


def warn_beyond_full_scale(desc: str, peak: float, stacklevel: int = 2) -> None:
    """Warn that the input ``desc`` peaks at ``peak``, far above full scale (flag ``beyond_full_scale``).

    Parameters
    ----------
    desc : str
        The input, for the message.
    peak : float
        Its largest absolute sample.
    stacklevel : int
        As :func:`warnings.warn`, counted from the caller of this function.

    Warns
    -----
    aiaudio.audio.BeyondFullScaleWarning
        Always.
    """
    warnings.warn(
        f"aiaudio: {desc} peaks at {peak:.4g}, far above full scale (1.0): are these integer PCM values "
        "stored as floats? The score ignores gain, but 'silent' and the level cues (loudness, peaks, "
        "clipping) assume full scale 1.0: divide by 32768 (int16) or pass the integer array itself. "
        "Flagged 'beyond_full_scale'.",
        BeyondFullScaleWarning,
        stacklevel=stacklevel + 1,
    )


def check_max_analysis_s(max_s: float | None) -> float | None:
    """``max_s`` as a float, checked to be a positive, finite number of seconds (``None`` stays ``None``).

    Parameters
    ----------
    max_s : float or None
        The longest stretch (s) of an input that is analysed; ``None``: all of it.

    Returns
    -------
    float or None

    Raises
    ------
    ValueError
        ``max_s`` is not a positive, finite number nor ``None``.
    """
    if max_s is None:
        return None
    try:
        v = float(max_s)
    except (TypeError, ValueError):
        v = math.nan
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"max_analysis_s must be a positive number of seconds or None, got {max_s!r}")
    return v


class InputHead:
    """The first ``max_s`` seconds of an input's native samples (all channels), kept while it is read.

    Memory is bounded by ``max_s`` (``None``: keep everything); :attr:`truncated` tells
    whether anything was left out.
    """

    def __init__(self, sr: int, max_s: float | None):
        self.sr = int(sr)
        self.limit = None if max_s is None else max(1, int(round(max_s * self.sr)))
        self._parts: list[np.ndarray] = []
        self.n = 0
        self.truncated = False

    def add(self, blk: np.ndarray, copy: bool = True) -> None:
        if self.limit is not None:
            room = self.limit - self.n
            if room <= 0:
                self.truncated = self.truncated or blk.shape[1] > 0
                return
            if blk.shape[1] > room:
                blk = blk[:, :room].copy() if copy else blk[:, :room]  # a copy lets the rest of the block go
                self.truncated = True
        self._parts.append(blk)
        self.n += blk.shape[1]

    def samples(self) -> np.ndarray:
        """The kept samples, ``(channels, n)`` float32."""
        if len(self._parts) != 1:
            self._parts = [np.concatenate(self._parts, axis=1)]
        return self._parts[0]


_BYTES_TYPES = (bytes, bytearray, memoryview)


def _file_source(audio: Any, sr: Any) -> tuple[PathOrFile, str | None, str] | None:
    """``(source, path, description)`` when ``audio`` is a file (path, bytes, binary file object), else None.

    A file states its own rate, so ``sr`` must not be given with one.
    """
    if isinstance(audio, _BYTES_TYPES):
        data = bytes(audio)
        if not data:
            raise AudioLoadError(
                "<bytes>: the bytes are empty (0 bytes): there is no audio file in them.", path="<bytes>", reason="empty"
            )
        source: PathOrFile = io.BytesIO(data)
        path, desc = None, "<bytes>"
    elif isinstance(audio, (str, os.PathLike)):
        desc = os.fspath(audio)
        desc = desc if isinstance(desc, str) else os.fsdecode(desc)
        source, path = audio, desc
    elif hasattr(audio, "read"):
        if isinstance(audio, io.TextIOBase):
            raise InvalidInputError(
                f"{getattr(audio, 'name', '<file object>')}: a text-mode file object; open audio files in binary mode: "
                "open(path, 'rb'), or pass the path itself.",
                path="<file object>", reason="wrong_type",
            )
        name = getattr(audio, "name", None)
        source, path, desc = audio, (name if isinstance(name, str) else None), (name if isinstance(name, str) else "<file object>")
    else:
        return None
    if sr is not None:
        raise InvalidInputError(
            f"{desc}: sr={sr!r} was given with a file; sr is the sample rate of an array input only. A file "
            "states its own rate (and is resampled to the model's rate anyway): drop sr, or decode the file "
            "yourself and pass the array with its rate.",
            path=desc, reason="sample_rate",
        )
    return source, path, desc


def _array_samples(audio: Any, sr: Any) -> tuple[np.ndarray, int]:
    """Validated ``float32 (channels, samples)`` and the checked rate of an array input."""
    if isinstance(audio, (list, tuple)) and any(isinstance(x, (str, os.PathLike, *_BYTES_TYPES)) for x in audio):
        raise InvalidInputError(
            f"got a {type(audio).__name__} of {len(audio)} paths; score() takes one input. Score many files with "
            "aiaudio.batch.score_files(detector, paths) (parallel, one result per file) or `aiaudio score DIR`.",
            path="<array>", reason="wrong_type",
        )
    if not isinstance(audio, (np.ndarray, list, tuple)) and not hasattr(audio, "__array__"):
        raise InvalidInputError(
            f"cannot score a {type(audio).__name__}: pass a path, the file's bytes, a binary file object, or "
            "samples as a numpy array with sr=.",
            path="<array>", reason="wrong_type",
        )
    if sr is None:
        raise InvalidInputError(
            "scoring an array needs its sample rate: det.score(y, sr=44100)", path="<array>", reason="sample_rate"
        )
    rate = check_sample_rate(sr)
    return validate_samples(audio), rate


def open_input(
    audio: Any, sr: Any, fe: FrontendConfig, keep_s: float | None, keep: bool
) -> tuple[Iterable[np.ndarray], str | None, str, InputHead | None]:
    """Any input as mono blocks at the model rate (lazy for files), its path and description.

    With ``keep``, also a :class:`InputHead` holding the input's first ``keep_s`` seconds at
    its own rate, all channels; for a file it fills while the blocks are read.

    Parameters
    ----------
    audio, sr
        As for :meth:`aiaudio.Detector.score`: a path, bytes, a binary file object, or
        samples with their rate ``sr`` (``None`` for a file).
    fe : FrontendConfig
        The model's front end (its rate).
    keep_s : float or None
        How much of the input the head keeps (s); ``None``: all of it.
    keep : bool
        Keep the head.

    Returns
    -------
    blocks : iterable of np.ndarray
        Mono ``float32`` blocks at the model rate (a lazy stream for files).
    path : str or None
        The file's path (``None`` for arrays and unnamed file objects).
    description : str
        The input, for messages.
    head : InputHead or None
        The kept head, when ``keep``.

    Raises
    ------
    aiaudio.AudioLoadError
        Empty bytes, or samples that are not usable audio.
    aiaudio.InvalidInputError
        ``sr`` with a file, a missing ``sr`` with an array, a list of paths, an object
        that is not audio, a text-mode file object.
    """
    src = _file_source(audio, sr)
    if src is None:
        y, rate = _array_samples(audio, sr)
        head = None
        if keep:
            head = InputHead(rate, keep_s)
            head.add(y, copy=False)
        return [resample(to_mono(y)[0], rate, fe.sample_rate)], None, "<array>", head
    source, path, desc = src
    stream = stream_audio(source, sr=fe.sample_rate, mono=True, block_s=SCORE_BLOCK_S)
    head = None
    if keep:
        head = InputHead(stream.native_sr, keep_s)
        stream._tap = head.add
    return _closing(stream), path, desc, head


@dataclass
class StreamTotals:
    """Running sample count and energy of a mono stream."""

    samples: int = 0
    sumsq: float = 0.0
    peak: float = 0.0

    @property
    def mean_square(self) -> float:
        return self.sumsq / max(self.samples, 1)


def counted_segments(
    blocks: Iterable[np.ndarray], fe: FrontendConfig, totals: StreamTotals
) -> Iterator[tuple[int, np.ndarray]]:
    """:func:`~aiaudio.frontend.iter_segments` over ``blocks``, counting samples and energy into ``totals``."""

    def counted() -> Iterator[np.ndarray]:
        for b in blocks:
            b = np.asarray(b, dtype=np.float32).reshape(-1)
            b64 = b.astype(np.float64)
            totals.samples += b.shape[0]
            totals.sumsq += float(np.einsum("i,i->", b64, b64))  # einsum: no BLAS threads in workers
            if b.shape[0]:
                totals.peak = max(totals.peak, float(np.max(np.abs(b))))
            yield b

    return iter_segments(counted(), fe)


def too_short_error(total: int, fe: FrontendConfig, path: str) -> ClipTooShortError:
    """The :class:`ClipTooShortError` for an input of ``total`` samples at the model rate."""
    return ClipTooShortError(
        f"{path}: {total / fe.sample_rate:.2f} s of audio; this model needs at least "
        f"{fe.min_duration_s:g} s. Score a longer excerpt.",
        path=path,
    )


def model_rate_input(
    audio: PathOrFile | np.ndarray, sr: int | None, fe: FrontendConfig, cues: bool,
    max_analysis_s: float | None = MAX_ANALYSIS_S,
) -> tuple[Iterable[np.ndarray], str | None, str, dict[str, float]]:
    """Turn any input into mono blocks at the model rate.

    Returns the blocks (a lazy stream for files), the path (``None`` for arrays and
    unnamed file objects), a description for messages, and the cues when asked for.
    Files are read once, streamed: the cues are computed on the first ``max_analysis_s``
    seconds, kept while the blocks go by, and fill the returned dict when the blocks
    are exhausted (memory stays bounded by ``max_analysis_s`` whatever the length).
    Shared by :meth:`Detector.score` and the decode workers of :mod:`aiaudio.batch`.

    Parameters
    ----------
    audio, sr
        As for :meth:`Detector.score`.
    fe : FrontendConfig
        The model's front end (its rate).
    cues : bool
        Compute the cues too.
    max_analysis_s : float or None
        Longest stretch (s) the cues read.

    Returns
    -------
    blocks : iterable of np.ndarray
        Mono ``float32`` blocks at the model rate.
    path : str or None
        The file's path.
    description : str
        The input, for messages.
    cues : dict
        The cues (filled once the blocks are exhausted; empty unless asked for).
    """
    cue_values: dict[str, float] = {}
    blocks, path, desc, head = open_input(audio, sr, fe, max_analysis_s, keep=cues)
    if head is None:
        return blocks, path, desc, cue_values

    def compute() -> None:
        cue_values.update(_cues(head.samples(), head.sr))

    if isinstance(blocks, list):  # an array: everything is at hand
        compute()
        return blocks, path, desc, cue_values
    return _then(blocks, compute), path, desc, cue_values


def _cues(y: np.ndarray, sr: int) -> dict[str, float]:
    # validated samples; no level warning here: the score's flag and warning say it
    from .cues import _all_cues, _as_2d, _check_sr

    return _all_cues(_as_2d(y), _check_sr(sr))
