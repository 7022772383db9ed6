"""What every part of the audio package shares: the limits (rates, full scale, analysis length), the
types of input, :class:`AudioInfo`, the check of a path before it is opened.
"""

from __future__ import annotations

import os
import stat
import math
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Union

import numpy as np

from ..errors import AudioLoadError, InvalidInputError


PathOrFile = Union[str, "os.PathLike[str]", IO[bytes]]

#: File name extensions that folder scanning treats as audio (lower case, with dot).
AUDIO_EXTENSIONS = frozenset(
    {
        ".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac",
        ".mp4", ".webm", ".mka", ".aif", ".aiff", ".aifc", ".au", ".caf", ".wma", ".w64",
    }
)

#: Level (dBFS, RMS over the whole signal) below which audio counts as silent.
SILENCE_DBFS = -70.0

#: Lowest sample rate (Hz) read or accepted. Real recordings start at 4-8 kHz; below
#: 1 kHz a rate is a damaged header or a wrong argument, not audio.
MIN_SAMPLE_RATE = 1000
#: Highest sample rate (Hz) read or accepted: 768 kHz, the top DXD/PCM rate of audio interfaces.
MAX_SAMPLE_RATE = 768_000

#: Peak level (linear, full scale = 1.0) above which float samples count as not scaled to
#: full scale: 2.0 is +6 dBFS. Float masters may overshoot 1.0 by a dB or two; integer PCM
#: values stored as floats (int16 scale) reach thousands. Such input is scored (the model
#: ignores gain) but flagged ``beyond_full_scale`` with a :class:`BeyondFullScaleWarning`,
#: because the level-based results (``silent``, loudness, peaks, clipping) assume 1.0.
FULL_SCALE_LIMIT = 2.0

#: Default for ``max_analysis_s``: the longest stretch (s) from the start of an input that
#: the in-memory analyses (cues, :func:`aiaudio.explain`) decode and analyse. Scoring
#: itself is streamed and always covers the whole input. Ten minutes of 48 kHz stereo are
#: 230 MB of samples; a 2-hour file read whole would take 7.7 GB.
MAX_ANALYSIS_S = 600.0


class BeyondFullScaleWarning(UserWarning):
    """Float samples peak far above full scale (> :data:`FULL_SCALE_LIMIT`): probably PCM
    integers stored as floats. Divide by 32768 (int16) or pass the integer array itself."""


def check_sample_rate(sr: object, *, what: str = "sr") -> int:
    """Check a sample rate given by the caller and return it as ``int``.

    Parameters
    ----------
    sr : int
        An integer number of Hz (an integral float such as ``44100.0`` is accepted) in
        ``[MIN_SAMPLE_RATE, MAX_SAMPLE_RATE]``.
    what : str
        Its name in the message.

    Returns
    -------
    int

    Raises
    ------
    InvalidInputError
        ``sr`` is not a whole number of Hz, or is outside the range (``reason="sample_rate"``).
    """
    ok_type = isinstance(sr, (int, np.integer, float, np.floating)) and not isinstance(sr, (bool, np.bool_))
    value = float(sr) if ok_type else math.nan  # type: ignore[arg-type]
    if not ok_type or not math.isfinite(value) or value != math.floor(value):
        raise InvalidInputError(
            f"{what}={sr!r}: a sample rate must be a whole number of Hz, e.g. {what}=44100.",
            path="<array>", reason="sample_rate",
        )
    if not MIN_SAMPLE_RATE <= value <= MAX_SAMPLE_RATE:
        raise InvalidInputError(
            f"{what}={int(value)}: a sample rate must be between {MIN_SAMPLE_RATE} and {MAX_SAMPLE_RATE} Hz "
            f"(e.g. {what}=44100).",
            path="<array>", reason="sample_rate",
        )
    return int(value)


@dataclass(frozen=True)
class AudioInfo:
    """What a file holds, read from its header without decoding it all.

    Attributes
    ----------
    sr : int
        Native sample rate in Hz.
    channels : int
        Number of channels.
    duration_s : float or None
        Duration in seconds, when the container states it.
    decoder : str
        ``"soundfile"`` or ``"av"``: which backend reads this file.
    format : str
        Container / codec as the backend names it (e.g. ``"WAV/PCM_16"``, ``"mov,mp4,m4a/aac"``).
    """

    sr: int
    channels: int
    duration_s: float | None
    decoder: str
    format: str


def _describe(source: PathOrFile) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    name = getattr(source, "name", None)
    return name if isinstance(name, str) else "<file object>"


#: Names of the special files :func:`_check_path` refuses (reason ``special_file``).
_SPECIAL_KINDS = (
    (stat.S_ISFIFO, "FIFO (named pipe)"), (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket"),
)


def _check_path(source: PathOrFile) -> str:
    """Check a path exists, is a regular file and is not empty; return its description."""
    desc = _describe(source)
    if isinstance(source, (str, os.PathLike)):
        p = Path(source)
        if not p.exists():
            raise AudioLoadError(
                f"{desc}: file not found. Check the path (relative paths are taken from {os.getcwd()}).",
                path=desc, reason="missing",
            )
        if p.is_dir():
            raise AudioLoadError(
                f"{desc}: is a directory, not an audio file. Pass a file, or use "
                "`aiaudio score DIR` to score every audio file in a folder.",
                path=desc, reason="directory",
            )
        try:
            st = p.stat()
        except OSError as e:  # pragma: no cover - permission races
            raise AudioLoadError(f"{desc}: cannot read the file ({e}).", path=desc, reason="unreadable") from e
        size = st.st_size
        if not stat.S_ISREG(st.st_mode):  # never opened: reading a FIFO blocks, a device never ends
            kind = next((k for test, k in _SPECIAL_KINDS if test(st.st_mode)), "special file")
            raise AudioLoadError(
                f"{desc}: is a {kind}, not a regular file; it was not opened. Pass an audio file.",
                path=desc, reason="special_file",
            )
        if size == 0:
            raise AudioLoadError(
                f"{desc}: the file is empty (0 bytes). Re-export or re-download it.",
                path=desc, reason="empty",
            )
        if not os.access(p, os.R_OK):
            raise AudioLoadError(
                f"{desc}: permission denied. Make the file readable.", path=desc, reason="unreadable"
            )
    else:
        if not hasattr(source, "read"):
            raise TypeError(
                f"expected a path or a binary file object, got {type(source).__name__}"
            )
    return desc


def _rewind(source: PathOrFile) -> None:
    if not isinstance(source, (str, os.PathLike)):
        try:
            source.seek(0)
        except Exception:  # pragma: no cover - unseekable streams
            pass


