"""What can happen to one file of a run: the errors of a crashed, killed or timed-out decoder, the time
limit of a file, and which error rows ``--resume`` retries.
"""

from __future__ import annotations

import math
import signal
from typing import Any


from ..audio import AudioLoadError


#: Time limit per file (see :func:`file_time_limit`): this many seconds ...
FILE_TIMEOUT_BASE_S = 60.0
#: ... plus this many seconds per megabyte of the file.
FILE_TIMEOUT_PER_MB_S = 10.0

#: Error reasons that say nothing final about the file itself: its worker was killed from
#: outside (``worker_killed``: the out-of-memory killer, a user), or it ran out of time
#: (``timeout``: a stalled network mount, a busy machine, or a decoder that hangs on it).
#: ``aiaudio score --resume`` scores the files of such rows again (a file that hangs every
#: time costs its time limit on each resume); every other error row is final.
RETRYABLE_REASONS = frozenset({"timeout", "worker_killed"})


def row_is_final(row: Any) -> bool:
    """Whether a row of ``aiaudio score`` output is final, or is to be scored again by ``--resume``.

    Parameters
    ----------
    row : mapping
        One row as read back (a CSV row as a dict of strings, or a JSON object); its
        ``reason`` column (empty for scored files) is what counts.

    Returns
    -------
    bool
        ``False`` when the row's ``reason`` is in :data:`RETRYABLE_REASONS`.
    """
    return (row.get("reason") or "") not in RETRYABLE_REASONS


class DecoderCrashError(AudioLoadError):
    """A decode worker died while reading this file (the decoder crashed on it)."""

    def __init__(self, message: str, *, path: str | None = None):
        super().__init__(message, path=path, reason="decoder_crash")


class WorkerKilledError(AudioLoadError):
    """The decode worker reading this file was killed from outside (reason ``worker_killed``).

    A signal such as SIGKILL (the out-of-memory killer's) says nothing about the file: it
    may well be fine, and ``aiaudio score --resume`` scores it again.

    Attributes
    ----------
    signum : int
        The signal that ended the worker.
    """

    def __init__(self, message: str, *, path: str | None = None, signum: int = 0):
        super().__init__(message, path=path, reason="worker_killed")
        self.signum = signum


class FileTimeoutError(AudioLoadError):
    """A file's decoder did not finish within the time limit (reason ``timeout``).

    Its worker was killed and replaced, and the run went on.

    Attributes
    ----------
    limit_s : float
        The limit that was reached, in seconds.
    """

    def __init__(self, message: str, *, path: str | None = None, limit_s: float = math.nan):
        super().__init__(message, path=path, reason="timeout")
        self.limit_s = limit_s


def file_time_limit(size_bytes: int | None, file_timeout: float | None = None) -> float:
    """Seconds of decoding a file may take before it is given up (see :func:`score_files`).

    Parameters
    ----------
    size_bytes : int or None
        The file's size; ``None`` when not known (yet).
    file_timeout : float, optional
        A fixed limit for every file (``math.inf``: none); ``None`` (default) for
        ``FILE_TIMEOUT_BASE_S + FILE_TIMEOUT_PER_MB_S`` per MB of the file: 60 s for a small
        file, about 110 s for a 5 MB MP3, 10 minutes for a 55 MB FLAC.

    Returns
    -------
    float
    """
    if file_timeout is not None:
        return float(file_timeout)
    return FILE_TIMEOUT_BASE_S + FILE_TIMEOUT_PER_MB_S * max(0, size_bytes or 0) / 1e6


#: Signals that mean the decoder itself crashed (rather than the worker being killed from outside).
_CRASH_SIGNALS = frozenset(
    getattr(signal, n) for n in ("SIGSEGV", "SIGBUS", "SIGILL", "SIGFPE", "SIGABRT", "SIGSYS", "SIGTRAP") if hasattr(signal, n)
)


def _death_error(path: str, exitcode: int | None) -> AudioLoadError:
    """The error of the file a worker was reading when it died with ``exitcode``."""
    if exitcode is not None and exitcode < 0 and -exitcode not in _CRASH_SIGNALS:
        signum = -exitcode
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
        why = (
            "perhaps the system ran out of memory: the out-of-memory killer sends SIGKILL"
            if signum == getattr(signal, "SIGKILL", 9)
            else "stopped from outside"
        )
        return WorkerKilledError(
            f"{path}: the decode worker reading this file was killed ({name}, signal {signum}; {why}); "
            "the file itself may be fine. Score it again (`aiaudio score --resume` retries it).",
            path=path,
            signum=signum,
        )
    return DecoderCrashError(
        f"{path}: the decoder crashed while reading this file (worker exit code {exitcode}); "
        "the file is probably damaged. Re-export or re-download it.",
        path=path,
    )


