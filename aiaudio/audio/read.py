"""Reading audio: :func:`audio_info`, :func:`load_audio`, :func:`load_middle` (a song's middle), :func:`stream_audio` (blocks, flat memory),
:func:`resample`, :func:`to_mono`, :func:`is_silent`.
"""

from __future__ import annotations

import math
from typing import Callable, Iterator

import numpy as np
import soxr

from ..errors import AudioLoadError
from ._common import AudioInfo, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, PathOrFile, SILENCE_DBFS, check_sample_rate
from .decoders import _open_reader


def audio_info(path_or_file: PathOrFile) -> AudioInfo:
    """Read a file's sample rate, channel count and duration from its header.

    Parameters
    ----------
    path_or_file : str, os.PathLike or binary file object
        The audio file.

    Returns
    -------
    AudioInfo

    Raises
    ------
    AudioLoadError
        If the file is missing, empty or not decodable audio.
    """
    r = _open_reader(path_or_file)
    try:
        return AudioInfo(r.sr, r.channels, r.duration_s, r.name, r.format)
    finally:
        r.close()


def resample(y: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample along the last axis with soxr (high quality).

    Parameters
    ----------
    y : np.ndarray
        Samples, shape ``(samples,)`` or ``(channels, samples)``.
    orig_sr, target_sr : int
        Sample rates in Hz.

    Returns
    -------
    np.ndarray
        ``float32`` samples at ``target_sr``, same leading shape.
    """
    if orig_sr == target_sr:
        return np.asarray(y, dtype=np.float32)
    if orig_sr <= 0 or target_sr <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_sr} -> {target_sr}")
    y = np.asarray(y, dtype=np.float32)
    if y.shape[-1] == 0:
        return y
    if y.ndim == 1:
        return soxr.resample(y, orig_sr, target_sr, quality="HQ").astype(np.float32, copy=False)
    out = soxr.resample(np.ascontiguousarray(y.T), orig_sr, target_sr, quality="HQ")
    return np.ascontiguousarray(np.asarray(out, dtype=np.float32).reshape(-1, y.shape[0]).T)


def to_mono(y: np.ndarray) -> np.ndarray:
    """Down-mix ``(channels, samples)`` to ``(1, samples)`` by the plain mean of all channels.

    Every channel gets equal weight (an LFE channel of a 5.1 file too); this keeps
    a mono file unchanged and a stereo file at ``(L + R) / 2``.
    """
    y = np.asarray(y, dtype=np.float32)
    if y.ndim == 1:
        return y[None, :]
    if y.shape[0] == 1:
        return y
    if y.shape[0] == 2:  # (L + R) / 2: the same value as the mean, without its reduction over a short axis
        out = np.add(y[0], y[1])
        out *= np.float32(0.5)
        return out[None, :]
    return y.mean(axis=0, keepdims=True, dtype=np.float32)


def is_silent(y: np.ndarray, threshold_dbfs: float = SILENCE_DBFS) -> bool:
    """True when the RMS level of ``y`` is below ``threshold_dbfs`` (dB re full scale)."""
    a = np.asarray(y, dtype=np.float64)
    if a.size == 0:
        return True
    rms = math.sqrt(float(np.mean(a * a)))
    return rms <= 10 ** (threshold_dbfs / 20)


class AudioStream:
    """An open audio file read block by block; memory stays flat in file length.

    Use :func:`stream_audio` to make one. Iterating yields ``float32`` arrays of shape
    ``(channels, n)`` at the output rate :attr:`sr`, each ``block_s`` seconds long
    except the last. Use as a context manager, or call :meth:`close`.

    Attributes
    ----------
    sr : int
        Sample rate (Hz) of the yielded blocks.
    native_sr : int
        Sample rate (Hz) of the file.
    channels : int
        Channels of the yielded blocks (1 with ``mono=True``).
    duration_s : float or None
        Duration (s) stated by the file header, if any.
    path : str
        The file's description, for messages.
    truncated : bool
        After iterating: reading stopped at ``duration`` although the file holds more.

    Raises
    ------
    AudioLoadError
        As :func:`stream_audio`.
    """

    def __init__(
        self,
        source: PathOrFile,
        sr: int | None = None,
        mono: bool = False,
        block_s: float = 30.0,
        offset: float = 0.0,
        duration: float | None = None,
    ):
        if block_s <= 0:
            raise ValueError(f"block_s must be positive, got {block_s}")
        if offset < 0:
            raise ValueError(f"offset must be >= 0 s, got {offset}")
        if duration is not None and duration <= 0:
            raise ValueError(f"duration must be positive, got {duration}")
        if sr is not None:
            sr = check_sample_rate(sr)
        self._r = _open_reader(source)
        self.path = self._r.desc
        self.native_sr = self._r.sr
        if not MIN_SAMPLE_RATE <= self.native_sr <= MAX_SAMPLE_RATE:
            self._r.close()
            raise AudioLoadError(
                f"{self.path}: the file declares a sample rate of {self.native_sr} Hz; aiaudio reads "
                f"{MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz. The header is damaged or the file is not "
                "ordinary audio: re-export it at a standard rate (e.g. 44100 Hz).",
                path=self.path, reason="bad_sample_rate",
            )
        self.sr = sr if sr is not None else self.native_sr
        self.mono = mono
        self.channels = 1 if mono else self._r.channels
        self.duration_s = self._r.duration_s
        self.decoder = self._r.name
        self.format = self._r.format
        self._block_native = max(1, int(round(block_s * self.native_sr)))
        self._skip = int(round(offset * self.native_sr))
        self._limit = None if duration is None else int(round(duration * self.native_sr))
        self._iterated = False
        #: True once reading stopped at ``duration`` with more audio left in the file.
        self.truncated = False
        # called with every native-rate block (before down-mixing), e.g. to keep the start
        self._tap: Callable[[np.ndarray], None] | None = None

    def __enter__(self) -> "AudioStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._r.close()

    def __iter__(self) -> Iterator[np.ndarray]:
        if self._iterated:
            raise RuntimeError("an AudioStream can be iterated once; open a new one with stream_audio()")
        self._iterated = True
        return self._blocks()

    def _native_blocks(self) -> Iterator[np.ndarray]:
        skip = self._skip - self._r.seek_frames(self._skip) if self._skip else 0
        remaining = self._limit
        for blk in self._r.blocks(self._block_native):
            if skip:
                if blk.shape[1] <= skip:
                    skip -= blk.shape[1]
                    continue
                blk = blk[:, skip:]
                skip = 0
            if remaining is not None:
                if remaining <= 0:
                    self.truncated = blk.shape[1] > 0
                    return
                if blk.shape[1] > remaining:
                    self.truncated = True
                blk = blk[:, :remaining]
                remaining -= blk.shape[1]
            yield blk

    def _blocks(self) -> Iterator[np.ndarray]:
        rs = None
        if self.sr != self.native_sr:
            rs = soxr.ResampleStream(self.native_sr, self.sr, self.channels, dtype="float32", quality="HQ")
        total = 0
        pending: np.ndarray | None = None
        for blk in self._native_blocks():
            n_bad = blk.size - int(np.count_nonzero(np.isfinite(blk)))
            if n_bad:
                raise AudioLoadError(
                    f"{self.path}: {n_bad} samples near {total / self.native_sr:.1f} s are NaN or "
                    "infinite; the file is damaged. Re-export it from the source.",
                    path=self.path, reason="nonfinite",
                )
            total += blk.shape[1]
            if self._tap is not None:
                blk = np.ascontiguousarray(blk)  # what it keeps outlives the decoder's buffer; rows contiguous
                self._tap(blk)
            if self.mono:
                blk = to_mono(blk)
            if rs is not None:
                out = rs.resample_chunk(np.ascontiguousarray(blk.T), last=False)
                blk = np.ascontiguousarray(np.asarray(out, dtype=np.float32).reshape(-1, self.channels).T)
            # yield with one block of delay so the resampler's tail joins the last block
            if pending is not None and pending.shape[1]:
                yield pending
            pending = np.ascontiguousarray(blk)  # a no-op unless a reader gave a view (native rate, all channels)
        if total == 0:
            raise AudioLoadError(
                f"{self.path}: the file decodes to zero audio samples (empty or truncated). "
                "Re-export or re-download it.",
                path=self.path, reason="empty",
            )
        if rs is not None:
            tail = rs.resample_chunk(np.zeros((0, self.channels), dtype=np.float32), last=True)
            tail = np.asarray(tail, dtype=np.float32).reshape(-1, self.channels).T
            pending = tail if pending is None else np.concatenate([pending, tail], axis=1)
        if pending is not None and pending.shape[1]:
            yield np.ascontiguousarray(pending)


def stream_audio(
    path_or_file: PathOrFile,
    sr: int | None = None,
    mono: bool = False,
    block_s: float = 30.0,
    offset: float = 0.0,
    duration: float | None = None,
) -> AudioStream:
    """Open an audio file for reading in blocks of ``block_s`` seconds.

    Parameters
    ----------
    path_or_file : str, os.PathLike or binary file object
        The audio file.
    sr : int, optional
        Output sample rate in Hz (``MIN_SAMPLE_RATE`` to ``MAX_SAMPLE_RATE``); ``None``
        keeps the file's rate. Resampling is streamed (soxr), so blocks join without seams.
    mono : bool
        Down-mix to one channel (plain mean of all channels, see :func:`to_mono`).
    block_s : float
        Block length in seconds (at the file's rate; the last block may be shorter).
    offset : float
        Start reading this many seconds into the file.
    duration : float, optional
        Read at most this many seconds.

    Returns
    -------
    AudioStream
        Iterate it for ``float32`` blocks of shape ``(channels, n)``.

    Raises
    ------
    AudioLoadError
        When the file cannot be opened (at call time), declares a sample rate outside
        ``MIN_SAMPLE_RATE``-``MAX_SAMPLE_RATE`` (``reason="bad_sample_rate"``, at call
        time), or is found damaged while reading. :class:`~aiaudio.InvalidInputError`
        (a subclass) for an ``sr`` that is not a whole number of Hz in that range.
    """
    return AudioStream(path_or_file, sr=sr, mono=mono, block_s=block_s, offset=offset, duration=duration)


def load_audio(
    path_or_file: PathOrFile,
    sr: int | None = None,
    mono: bool = False,
    offset: float = 0.0,
    duration: float | None = None,
) -> tuple[np.ndarray, int]:
    """Decode an audio file into memory.

    Parameters
    ----------
    path_or_file : str, os.PathLike or binary file object
        WAV (8/16/24/32-bit integer, 32/64-bit float), FLAC, OGG/Vorbis, Opus, MP3,
        AAC/M4A, and whatever else libsndfile or FFmpeg can decode.
    sr : int, optional
        Target sample rate in Hz; ``None`` (default) keeps the native rate.
    mono : bool
        Down-mix to one channel by the plain mean of all channels.
    offset : float
        Start this many seconds into the file.
    duration : float, optional
        Read at most this many seconds.

    Returns
    -------
    y : np.ndarray
        ``float32`` samples, shape ``(channels, samples)`` (``(1, samples)`` with ``mono=True``).
    sr : int
        Sample rate of ``y`` in Hz.

    Raises
    ------
    AudioLoadError
        Missing file, directory, empty or zero-length file, truncated or corrupt
        data, non-audio content, NaN or infinite samples, a sample rate outside
        ``MIN_SAMPLE_RATE``-``MAX_SAMPLE_RATE`` (1 kHz-768 kHz). The message names the
        file and the cause. Silence is *not* an error (see :func:`is_silent`).
    """
    block_s = 60.0 if duration is None else max(0.05, min(60.0, duration))  # short reads decode little
    with stream_audio(path_or_file, sr=sr, mono=mono, block_s=block_s, offset=offset, duration=duration) as st:
        blocks = list(st)
        out_sr = st.sr
        ch = st.channels
    y = np.concatenate(blocks, axis=1) if len(blocks) > 1 else blocks[0]
    assert y.shape[0] == ch
    return np.ascontiguousarray(y, dtype=np.float32), out_sr


def load_middle(
    path_or_file: PathOrFile,
    seconds: float,
    sr: int | None = None,
    mono: bool = False,
    duration_s: float | None = None,
) -> tuple[np.ndarray, int]:
    """Decode the middle ``seconds`` of a file (all of it when it is shorter).

    The excerpt starts at ``max(0, duration / 2 - seconds / 2)``: the one rule of the
    evaluation's excerpts (``aiaudio evaluate --excerpt-s``), the accuracy pins and the
    scripts that read a song's middle, so they read the same samples.

    Parameters
    ----------
    path_or_file : str, os.PathLike or binary file object
        The audio file, as for :func:`load_audio`.
    seconds : float
        Excerpt length in seconds (> 0).
    sr : int, optional
        Target sample rate in Hz; ``None`` (default) keeps the native rate.
    mono : bool
        Down-mix to one channel by the plain mean of all channels.
    duration_s : float, optional
        The file's duration in seconds when already known (a manifest's); ``None`` reads
        it from the header (:func:`audio_info`). A file whose header states no length (a
        WAV streamed to a pipe) is decoded whole and its middle kept.

    Returns
    -------
    y : np.ndarray
        ``float32`` samples, shape ``(channels, samples)``, at most ``seconds`` long.
    sr : int
        Sample rate of ``y`` in Hz.

    Raises
    ------
    AudioLoadError
        As :func:`load_audio`.
    ValueError
        If ``seconds`` is not a positive finite number.
    """
    if not (isinstance(seconds, (int, float)) and math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"seconds must be a positive number of seconds, got {seconds!r}")
    dur = duration_s if duration_s is not None else audio_info(path_or_file).duration_s
    if dur is None:
        y, out_sr = load_audio(path_or_file, sr=sr, mono=mono)
        n = int(round(seconds * out_sr))
        if y.shape[1] > n:
            start = (y.shape[1] - n) // 2
            y = np.ascontiguousarray(y[:, start : start + n])
        return y, out_sr
    return load_audio(path_or_file, sr=sr, mono=mono, offset=max(0.0, dur / 2 - seconds / 2), duration=seconds)
