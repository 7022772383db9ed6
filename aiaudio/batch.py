"""Score many files fast: decoding in worker processes overlapped with batched CNN inference.

>>> import aiaudio
>>> from aiaudio.batch import score_files
>>> det = aiaudio.load_detector()
>>> for path, result in score_files(det, ["a.mp3", "b.flac"]):     # doctest: +SKIP
...     print(path, result.p_ai if isinstance(result, aiaudio.Score) else f"error: {result}")

How it works
------------
::

    decode workers (processes)                          main process
    --------------------------                          ------------
    take (index, path) from its task pipe               hands out paths, 2 per worker
    stream_audio(path, 16 kHz mono, 30 s blocks)
    -> cut into segments (iter_segments)
    -> send chunks of <= 8 segments  ---- pipe ---->    gathers segments of any files into
       (blocks while the main process has not              batches of ``batch_size``; runs the CNN
       read the previous chunk)                          (torch, ``torch_threads`` threads) as soon
    -> "end" (sample count, energy) or "err"             as a batch is full or no chunk is waiting;
                                                         a file is finished when its last segment
                                                         is scored -> yield (path, Score)

Each worker has its own pair of pipes; a pipe holds at most one message in flight, so a
worker stops decoding while the main process is behind. Audio in flight is therefore bounded
by ``workers x (one 30 s decode block + 2 chunks)`` plus one batch in the main process,
whatever the length of the files: a one-hour file streams through in 32-second chunks.

Decoding runs in processes (``backend="process"``, the default) because decoders and the
resampler hold the GIL for part of their work, and because a decoder that crashes on a
damaged file (a segmentation fault in FFmpeg or libsndfile) then takes down only its worker:
the file gets an error row, a fresh worker takes over, and the run goes on. The same
happens to a file that runs out of time (``file_timeout``: its worker is killed), and to
the file of a worker killed from outside (by the out-of-memory killer, say), which is not
blamed for it. Workers keep no signal handler of the main process (SIGTERM ends one at once,
Ctrl-C is left to the main process) and die with it, however it ends. Threads
(``backend="thread"``) and no workers at all (``jobs=0``, decoding in the main thread) are
there for measurements and for platforms where processes are costly.

Results are the same as :meth:`aiaudio.Detector.score` gives for each file (within float
rounding, well under 1e-5), whatever the batch size, worker count or backend: both read
files with the same block size, cut and count with the same code, and finish with the same
:meth:`~aiaudio.Detector.make_score`.

Order of results
----------------
Results come **in order of completion**, not in input order: a short file may overtake a
long one. Every input gives exactly one result. With ``jobs=0`` the order is the input order.
"""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import sys
import threading
import time
import warnings
from collections import deque
from dataclasses import dataclass, field
from multiprocessing import connection as mp_connection
from typing import Any, Iterable, Iterator, Sequence, Union

import numpy as np

from .audio import AudioLoadError
from .detector import Detector, Score, StreamTotals, UntrainedModelWarning, counted_segments, model_rate_input, too_short_error
from .frontend import FrontendConfig

__all__ = [
    "DecoderCrashError",
    "FILE_TIMEOUT_BASE_S",
    "FILE_TIMEOUT_PER_MB_S",
    "FileTimeoutError",
    "PipelineStats",
    "RETRYABLE_REASONS",
    "Resources",
    "plan_resources",
    "WorkerKilledError",
    "file_time_limit",
    "row_is_final",
    "score_files",
    "usable_cpus",
]

PathLike = Union[str, "os.PathLike[str]"]

#: Segments per message from a decode worker (8 x 4 s at 16 kHz = 2 MB).
CHUNK_SEGMENTS = 8
#: Files handed to each worker ahead of time, so it never waits for the main process.
PREFETCH = 2
#: Share of the cores given to CNN inference when the cores are split automatically
#: (measured with the default model: the STFT and CNN cost about 0.4 of decoding an MP3
#: and resampling it, per second of audio).
CNN_SHARE = 0.4
#: Most torch threads chosen automatically (intra-op scaling of this small CNN flattens out).
MAX_TORCH_THREADS = 8


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


# --------------------------------------------------------------------------- resources


def usable_cpus() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Resources:
    """How a scoring run uses the machine.

    Attributes
    ----------
    decode_workers : int
        Decode workers; 0 decodes in the main thread, between CNN batches.
    torch_threads : int
        Intra-op threads of the CNN in the main process.
    backend : str
        ``"process"`` or ``"thread"``: what a decode worker is.
    """

    decode_workers: int
    torch_threads: int
    backend: str = "process"


def plan_resources(
    jobs: int | None = None,
    torch_threads: int | None = None,
    backend: str = "process",
    n_cpus: int | None = None,
) -> Resources:
    """Split the cores between decode workers and CNN threads.

    With ``n`` usable cores, the CNN gets ``t = round(0.4 n)`` threads (at least 1, at most 8)
    and decoding ``n - t + 1`` worker processes: one core is shared by the CNN and a decoder,
    because the CNN waits for audio part of the time and a decoder waits whenever the CNN is
    behind (a worker holds at most one message in flight). 2 decode workers + 1 CNN thread on
    2 cores, 3 + 2 on 4, 6 + 3 on 8, 11 + 6 on 16, 25 + 8 on 32. One core: decoding in the
    main thread. On 2 cores (``benchmarks/bench_scoring.py --sweep``) 2 workers + 1 thread
    score a folder 10-20% faster than 1 + 1, which leaves the CNN waiting for audio.

    Parameters
    ----------
    jobs : int, optional
        Decode workers; ``None`` to choose, 0 for none (decode in the main thread).
    torch_threads : int, optional
        CNN threads; ``None`` to choose.
    backend : str
        ``"process"`` (default) or ``"thread"``.
    n_cpus : int, optional
        Cores to plan for (default :func:`usable_cpus`).

    Returns
    -------
    Resources
    """
    if backend not in ("process", "thread"):
        raise ValueError(f"backend must be 'process' or 'thread', got {backend!r}")
    n = int(n_cpus) if n_cpus else usable_cpus()
    if jobs is not None and int(jobs) < 0:
        raise ValueError(f"jobs must be >= 0, got {jobs}")
    if torch_threads is not None and int(torch_threads) < 1:
        raise ValueError(f"torch_threads must be >= 1, got {torch_threads}")
    tt = int(torch_threads) if torch_threads else max(1, min(MAX_TORCH_THREADS, round(CNN_SHARE * n)))
    if jobs is None:
        jobs = 0 if n <= 1 else max(1, n - tt + 1)
    return Resources(decode_workers=int(jobs), torch_threads=tt, backend=backend)


@dataclass
class PipelineStats:
    """What a run did, filled in while it runs (pass one to :func:`score_files`).

    Attributes
    ----------
    resources : Resources or None
        Workers and threads used.
    files, segments, batches : int
        Files finished, segments scored, CNN forward calls.
    cnn_s : float
        Seconds the main process spent in the CNN.
    wait_s : float
        Seconds the main process waited for decoded audio with nothing to score.
    peak_pending_segments : int
        Most segments held by the main process at once (received, not yet scored).
    max_chunk_segments : int
        Largest chunk of segments a worker sent.
    worker_restarts : int
        Decode workers replaced after dying or being stopped (a time-out).
    timeouts : int
        Files given up after their time limit.
    """

    resources: Resources | None = None
    files: int = 0
    segments: int = 0
    batches: int = 0
    cnn_s: float = 0.0
    wait_s: float = 0.0
    peak_pending_segments: int = 0
    max_chunk_segments: int = 0
    worker_restarts: int = 0
    timeouts: int = 0


# --------------------------------------------------------------------------- decode side


#: Test hook, for the interruption tests only (unset in normal use, and then costs one
#: ``os.environ`` look-up per file): a decoder that reaches a file whose name is
#: ``$AIAUDIO_TEST_HANG`` hangs there, as a decoder stuck in C code does: it writes its pid to
#: ``$AIAUDIO_TEST_HANG_MARKER`` (when set) and waits until that file is removed (for ever
#: when it is not set), with the signals that have a Python handler held off (a handler
#: written in Python cannot run while C code loops). See tests/test_pipeline.py.
TEST_HANG_ENV = "AIAUDIO_TEST_HANG"


def _test_hang(path: str) -> None:
    """The :data:`TEST_HANG_ENV` test hook: hang on the chosen file (see there)."""
    name = os.environ.get(TEST_HANG_ENV)
    if not name or os.path.basename(path) != name:
        return
    marker = os.environ.get(TEST_HANG_ENV + "_MARKER")
    handled = {s for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP) if callable(signal.getsignal(s))}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, handled)
    try:
        if marker:
            with open(marker + ".tmp", "w") as fh:
                fh.write(str(os.getpid()))
            os.replace(marker + ".tmp", marker)
        while marker is None or os.path.exists(marker):
            time.sleep(0.01)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


#: What the decode workers open a file with (a module name of its own, so a test can patch it).
_model_rate_input = model_rate_input


def _file_messages(idx: int, path: str, fe: FrontendConfig, cues: bool, chunk_segments: int) -> Iterator[tuple]:
    """Messages a decode worker sends for one file: ``start`` (its size), ``seg`` chunks, then ``end`` or ``err``."""
    try:
        try:
            size: int | None = os.stat(path).st_size
        except OSError:  # the decoder says why
            size = None
        yield ("start", idx, size)
        _test_hang(path)
        blocks, _, desc, cue_values = _model_rate_input(path, None, fe, cues)
        totals = StreamTotals()
        starts: list[int] = []
        segs: list[np.ndarray] = []
        for s0, seg in counted_segments(blocks, fe, totals):
            starts.append(s0)
            segs.append(seg)
            if len(segs) == chunk_segments:
                yield ("seg", idx, np.asarray(starts, dtype=np.int64), np.stack(segs))
                starts, segs = [], []
        if totals.samples < fe.min_samples:
            raise too_short_error(totals.samples, fe, desc)
        if segs:
            yield ("seg", idx, np.asarray(starts, dtype=np.int64), np.stack(segs))
        yield ("end", idx, totals.samples, totals.sumsq, cue_values)
    except Exception as e:  # one bad file never stops the run: it becomes that file's result
        yield ("err", idx, e)


#: Longest decoder log kept per file (characters).
_MAX_DECODER_LOG = 2000


class _StderrCapture:
    """Catch what C libraries (libmpg123, FFmpeg) write to file descriptor 2, one file at a time.

    A damaged MP3 frame makes libmpg123 print lines such as ``part2_3_length ... too
    large``; instead of reaching the terminal unattributed, they travel with that file's
    result (flag ``decoder_messages``). File descriptor 2 belongs to the whole process: a
    decode worker *process*, or the main process when it decodes itself (``jobs=0``),
    redirects it only while it decodes (:func:`_captured_messages`), so that whatever else
    it writes (the progress bar) still shows; thread workers never touch it.
    """

    def __init__(self) -> None:
        import tempfile

        self._file = tempfile.TemporaryFile()
        self._saved = os.dup(2)
        self._active = False  # created paused

    def resume(self) -> None:
        """Send file descriptor 2 to the capture file."""
        if not self._active:
            sys.stderr.flush()
            os.dup2(self._file.fileno(), 2)
            self._active = True

    def pause(self) -> None:
        """Give file descriptor 2 back to where it pointed before."""
        if self._active:
            sys.stderr.flush()
            os.dup2(self._saved, 2)
            self._active = False

    def take(self) -> str:
        """What was written since the last call (at most :data:`_MAX_DECODER_LOG` characters)."""
        sys.stderr.flush()
        self._file.seek(0)
        text = self._file.read(_MAX_DECODER_LOG * 4).decode("utf-8", "replace")
        self._file.seek(0)
        self._file.truncate()
        return text.strip()[:_MAX_DECODER_LOG]

    def close(self) -> None:
        self.pause()
        os.close(self._saved)
        self._file.close()


def _captured_messages(messages: Iterator[tuple], cap: _StderrCapture) -> Iterator[tuple]:
    """The messages of one file, decoded with file descriptor 2 captured; its log joins ``end``.

    The capture is paused whenever a message is handed on, so whatever the consumer writes
    (a progress bar) reaches the terminal.
    """
    cap.take()  # drop anything printed between files
    while True:
        cap.resume()
        try:
            msg = next(messages)
        except StopIteration:
            return
        finally:
            cap.pause()
        if msg[0] == "end":
            msg = (*msg, cap.take())
        yield msg


def _worker_loop(
    task_conn: Any, result_conn: Any, fe: FrontendConfig, cues: bool, chunk_segments: int, capture: bool = False
) -> None:
    """Decode the files named on ``task_conn`` until ``None`` (or the pipe closes).

    Each message goes with the time it was sent (``(time.monotonic(), message)``), from
    which the main process counts how long the decoder works on a file, not counting the
    time it waits for the main process to take a message. With ``capture``, what the
    decoding libraries print to standard error while a file is decoded is attached to that
    file's ``end`` message instead of reaching the terminal.
    """
    cap = _StderrCapture() if capture else None
    try:
        while True:
            task = task_conn.recv()
            if task is None:
                break
            idx, path = task
            msgs = _file_messages(idx, path, fe, cues, chunk_segments)
            for msg in msgs if cap is None else _captured_messages(msgs, cap):
                if msg[0] == "err":
                    msg = ("err", idx, _portable(msg[2]))
                result_conn.send((time.monotonic(), msg))
        result_conn.send((time.monotonic(), ("bye",)))
    except (EOFError, OSError):  # the main process went away or closed the run
        pass
    finally:
        if cap is not None:
            cap.close()


#: Main-process ends of worker pipes; a forked worker closes its copies first thing, so
#: that a worker notices the main process dying (its pipes reach end-of-file).
_PARENT_ENDS: set[Any] = set()


#: Signals whose handlers a decode worker process resets (and that are held off while one is forked).
_WORKER_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _die_with_parent(parent_pid: int) -> None:
    """Make this worker process end when the main process ``parent_pid`` ends, even by SIGKILL.

    On Linux the kernel sends SIGKILL at the parent's death (``PR_SET_PDEATHSIG``): no handler,
    mask or decoder stuck in C code can keep a worker alive through it. Elsewhere, and as a
    second line, a watchdog thread checks once a second that the parent is still there.
    """
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except Exception:  # pragma: no cover
            pass

    def watch() -> None:
        while True:
            if os.getppid() != parent_pid:  # the main process died (we were re-parented)
                os._exit(1)
            time.sleep(1.0)

    if os.getppid() != parent_pid:  # it died before the death signal was armed
        os._exit(1)
    threading.Thread(target=watch, daemon=True, name="aiaudio-parent-watch").start()


def _process_main(
    task_conn: Any, result_conn: Any, fe: FrontendConfig, cues: bool, chunk_segments: int, parent_pid: int
) -> None:
    for c in list(_PARENT_ENDS):
        try:
            c.close()
        except OSError:  # pragma: no cover
            pass
    _PARENT_ENDS.clear()
    # Handlers of the main process (the command line turns SIGTERM into an exception) have no
    # business here: SIGTERM ends a worker at once and silently, Ctrl-C is the main process's.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _WORKER_SIGNALS)  # held off while forking
    _die_with_parent(parent_pid)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    _worker_loop(task_conn, result_conn, fe, cues, chunk_segments, capture=True)


def _portable(e: BaseException) -> BaseException:
    """``e`` if it survives pickling (with its attributes), else a plain stand-in."""
    import pickle

    try:
        pickle.loads(pickle.dumps(e))
        return e
    except Exception:
        return RuntimeError(f"{type(e).__name__}: {e}")


class _Worker:
    """One decode worker (process or thread) and the main process's ends of its pipes."""

    def __init__(self, backend: str, fe: FrontendConfig, cues: bool, chunk_segments: int):
        import multiprocessing as mp

        self.assigned: deque[int] = deque()
        self.said_bye = False
        self.closed_tasks = False
        # the clock of the file being decoded (assigned[0]): seconds of decoding counted so far,
        # since when the clock runs (the last message taken), and the file's limit
        self.used = 0.0
        self.clock_from = time.monotonic()
        self.limit = math.inf
        if backend == "process":
            ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() and sys.platform != "darwin" else "spawn")
            t_recv, t_send = ctx.Pipe(duplex=False)
            r_recv, r_send = ctx.Pipe(duplex=False)
            _PARENT_ENDS.update((t_send, r_recv))
            self.proc: Any = ctx.Process(
                target=_process_main,
                args=(t_recv, r_send, fe, cues, chunk_segments, os.getpid()),
                daemon=True,
                name="aiaudio-decode",
            )
            # a signal arriving while the worker is forked would run the main process's handler
            # in the worker: hold them off until the worker has reset its handlers
            held = signal.pthread_sigmask(signal.SIG_BLOCK, _WORKER_SIGNALS) if hasattr(signal, "pthread_sigmask") else None
            try:
                self.proc.start()
            finally:
                if held is not None:
                    signal.pthread_sigmask(signal.SIG_SETMASK, held)
            t_recv.close()
            r_send.close()
            self.sentinel: Any = self.proc.sentinel
        else:
            t_recv, t_send = mp.Pipe(duplex=False)
            r_recv, r_send = mp.Pipe(duplex=False)
            self.proc = threading.Thread(
                target=_thread_main, args=(t_recv, r_send, fe, cues, chunk_segments), daemon=True, name="aiaudio-decode"
            )
            self.proc.start()
            self.sentinel = None
        self.tasks = t_send
        self.results = r_recv

    def send(self, task: tuple[int, str] | None) -> None:
        # Book the file first: if the worker has just died, the send fails (BrokenPipeError),
        # and a file booked to it is put back in line when it is retired, not lost.
        if task is None:
            self.closed_tasks = True
        else:
            self.assigned.append(task[0])
        self.tasks.send(task)

    @property
    def exitcode(self) -> int | None:
        return getattr(self.proc, "exitcode", None)

    def deadline(self) -> float:
        """When the file being decoded runs out of time (``inf`` when the worker holds none)."""
        return self.clock_from + self.limit - self.used if self.assigned else math.inf

    def kill(self) -> None:
        """Stop a process worker at once (a decoder that hangs may ignore anything gentler).

        A thread cannot be stopped: it is left to end on its own (daemon) once its pipes close.
        """
        if not isinstance(self.proc, threading.Thread) and self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5.0)

    def close(self, timeout: float = 2.0) -> None:
        """Stop the worker: no more tasks, then wait a little, then terminate."""
        try:
            if not self.closed_tasks:
                self.tasks.send(None)
                self.closed_tasks = True
        except (OSError, ValueError):
            pass
        for c in (self.tasks, self.results):
            _PARENT_ENDS.discard(c)
        try:
            self.tasks.close()
        except OSError:  # pragma: no cover
            pass
        # a worker blocked writing a chunk needs its reader gone to notice the end
        try:
            self.results.close()
        except OSError:  # pragma: no cover
            pass
        self.proc.join(timeout)
        if isinstance(self.proc, threading.Thread):
            return
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(timeout)
        if self.proc.is_alive():  # pragma: no cover - a decoder stuck in C code ignoring SIGTERM
            self.proc.kill()
            self.proc.join(timeout)


def _thread_main(task_conn: Any, result_conn: Any, fe: FrontendConfig, cues: bool, chunk_segments: int) -> None:
    try:
        _worker_loop(task_conn, result_conn, fe, cues, chunk_segments)
    finally:
        for c in (task_conn, result_conn):
            try:
                c.close()
            except OSError:  # pragma: no cover
                pass


# --------------------------------------------------------------------------- main side


@dataclass
class _FileState:
    path: str
    starts: list[int] = field(default_factory=list)
    logits: list[float] = field(default_factory=list)
    pending: int = 0
    ended: bool = False
    total: int = 0
    sumsq: float = 0.0
    cues: dict[str, float] = field(default_factory=dict)
    decoder_log: str = ""


class _TorchThreads:
    """Set torch's intra-op thread count for a block, then restore it."""

    def __init__(self, n: int):
        self.n = n
        self.prev: int | None = None

    def __enter__(self) -> "_TorchThreads":
        import torch

        self.prev = torch.get_num_threads()
        if self.prev != self.n:
            torch.set_num_threads(self.n)
        return self

    def __exit__(self, *exc: object) -> None:
        import torch

        if self.prev is not None and torch.get_num_threads() != self.prev:
            torch.set_num_threads(self.prev)


def score_files(
    detector: Detector,
    paths: Iterable[PathLike],
    *,
    jobs: int | None = None,
    torch_threads: int | None = None,
    batch_size: int | None = None,
    backend: str = "process",
    cues: bool = False,
    chunk_segments: int = CHUNK_SEGMENTS,
    stats: PipelineStats | None = None,
    file_timeout: float | None = None,
) -> Iterator[tuple[str, Score | Exception]]:
    """Score many files, decoding in parallel with batched CNN inference.

    Parameters
    ----------
    detector : Detector
        The loaded model.
    paths : iterable of path
        Files to score; each gives exactly one result.
    jobs : int, optional
        Decode workers; ``None`` chooses from the cores (see :func:`plan_resources`),
        0 decodes in the main thread.
    torch_threads : int, optional
        CNN threads in this process while the run lasts (restored afterwards); ``None``
        chooses from the cores.
    batch_size : int, optional
        Segments per CNN forward pass (default ``detector.batch_size``). Batches mix
        segments of different files; scores do not depend on it.
    backend : str
        ``"process"`` (default) or ``"thread"`` decode workers.
    cues : bool
        Also compute the interpretable cues, on the first
        :data:`~aiaudio.audio.MAX_ANALYSIS_S` seconds of each file (kept while it is
        streamed, as :meth:`Detector.score` does with ``cues=True``; flag ``cues_truncated``).
    chunk_segments : int
        Segments per message from a worker (memory in flight scales with it).
    stats : PipelineStats, optional
        Filled in with counts and timings while the run goes.
    file_timeout : float, optional
        Seconds of decoding after which a file is given up: it gets a
        :class:`FileTimeoutError` (reason ``timeout``), its worker is killed and replaced,
        and the run goes on. ``None`` (default) scales the limit with the file's size
        (:func:`file_time_limit`: 60 s plus 10 s per MB); ``math.inf`` sets none. Counted is
        the time a worker decodes the file, not the time it waits for the CNN. Enforced by
        process workers; a thread worker that hangs is left behind (threads cannot be
        stopped), and with ``jobs=0`` no limit applies.

    Yields
    ------
    path : str
        The input, as given (``os.fspath``).
    result : Score or Exception
        The score, or the error that file gave (:class:`~aiaudio.AudioLoadError` and its
        subclasses for unreadable, damaged or too short files and for special files such
        as FIFOs, which are never opened; :class:`DecoderCrashError` when the decoder
        crashed on it; :class:`WorkerKilledError` when its worker was killed from outside,
        by the out-of-memory killer say; :class:`FileTimeoutError` when it ran out of
        time). Results come in order of completion.

    Notes
    -----
    Closing the generator (or an exception such as ``KeyboardInterrupt`` inside it) stops
    and reaps the workers. The untrained-model warning is given once per run, not per file.
    """
    paths = [os.fspath(p) for p in paths]
    res = plan_resources(jobs, torch_threads, backend)
    bs = detector.batch_size if batch_size is None else int(batch_size)
    if bs < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if int(chunk_segments) < 1:
        raise ValueError(f"chunk_segments must be >= 1, got {chunk_segments}")
    if file_timeout is not None and not float(file_timeout) > 0:
        raise ValueError(f"file_timeout must be > 0 seconds (math.inf for no limit), got {file_timeout}")
    st = stats if stats is not None else PipelineStats()
    st.resources = res
    return _run(detector, paths, res, bs, cues, int(chunk_segments), st, file_timeout)


def _run(
    det: Detector,
    paths: list[str],
    res: Resources,
    bs: int,
    cues: bool,
    chunk_segments: int,
    st: PipelineStats,
    file_timeout: float | None = None,
) -> Iterator[tuple[str, Score | Exception]]:
    if not paths:
        return
    if not det.config.trained:
        warnings.warn(
            f"aiaudio: the model {det.version} is an UNTRAINED placeholder; its scores are meaningless.",
            UntrainedModelWarning,
            stacklevel=3,
        )
    run = _Run(det, paths, bs, cues, chunk_segments, st, file_timeout)
    with _TorchThreads(res.torch_threads):
        if res.decode_workers == 0:
            yield from run.inline()
        else:
            yield from run.parallel(res)


class _Run:
    """One run of :func:`score_files`: the files in flight, the CNN batch, the finished results.

    Decode workers (or the main thread, :meth:`inline`) send messages about each file
    (:meth:`handle`); segments wait in one batch across files (:meth:`run_batch`); a
    file is finished when it ended and every segment has its logit (:meth:`maybe_finish`).
    :meth:`parallel` keeps the workers fed, reads their pipes and replaces the ones that
    die or run out of time (:meth:`retire`).
    """

    def __init__(
        self, det: Detector, paths: list[str], bs: int, cues: bool, chunk_segments: int, st: PipelineStats,
        file_timeout: float | None,
    ) -> None:
        self.det, self.paths, self.bs, self.cues, self.chunk_segments = det, paths, bs, cues, chunk_segments
        self.st, self.file_timeout = st, file_timeout
        self.fe = det.config.frontend
        self.n = len(paths)
        self.todo: deque[int] = deque(range(self.n))
        self.files: dict[int, _FileState] = {}
        self.finished = 0
        self.batch_x: list[np.ndarray] = []
        self.batch_ref: list[tuple[int, int]] = []
        self.out: deque[tuple[str, Score | Exception]] = deque()
        self.workers: list[_Worker] = []

    # ----------------------------------------------------------------------- results

    def fail(self, idx: int, e: Exception) -> None:
        self.files.pop(idx, None)
        self.out.append((self.paths[idx], e))
        self.finished += 1

    def maybe_finish(self, idx: int) -> None:
        f = self.files.get(idx)
        if f is None or not f.ended or f.pending:
            return
        del self.files[idx]
        try:
            s = self.det.make_score(f.starts, np.asarray(f.logits), f.total, f.sumsq / max(f.total, 1), path=f.path, cues=f.cues)
        except Exception as e:  # pragma: no cover - defensive: one file never stops the run
            self.out.append((f.path, e))
        else:
            if f.decoder_log:
                s.flags.append("decoder_messages")
                s.decoder_log = f.decoder_log
            self.out.append((f.path, s))
        self.finished += 1

    def run_batch(self, k: int) -> None:
        st = self.st
        t0 = time.perf_counter()
        logits = self.det.segment_logits(np.stack(self.batch_x[:k]), batch_size=k)
        st.cnn_s += time.perf_counter() - t0
        st.batches += 1
        st.segments += k
        touched = set()
        for (idx, pos), lg in zip(self.batch_ref[:k], logits):
            f = self.files.get(idx)
            if f is None:  # the file failed meanwhile
                continue
            f.logits[pos] = float(lg)
            f.pending -= 1
            touched.add(idx)
        del self.batch_x[:k], self.batch_ref[:k]
        for idx in touched:
            self.maybe_finish(idx)

    def handle(self, msg: tuple) -> None:
        kind = msg[0]
        if kind == "seg":
            _, idx, starts, segs = msg
            f = self.files.get(idx)
            if f is None:
                return
            st = self.st
            st.max_chunk_segments = max(st.max_chunk_segments, len(segs))
            for s0, seg in zip(starts.tolist(), segs):
                f.starts.append(int(s0))
                f.logits.append(math.nan)
                f.pending += 1
                self.batch_x.append(seg)
                self.batch_ref.append((idx, len(f.logits) - 1))
            st.peak_pending_segments = max(st.peak_pending_segments, len(self.batch_x))
            while len(self.batch_x) >= self.bs:
                self.run_batch(self.bs)
        elif kind == "end":
            _, idx, total, sumsq, cue_values, *log = msg
            f = self.files.get(idx)
            if f is None:
                return
            f.ended, f.total, f.sumsq, f.cues = True, int(total), float(sumsq), dict(cue_values)
            f.decoder_log = log[0] if log else ""
            self.maybe_finish(idx)
        elif kind == "err":
            _, idx, e = msg
            if idx in self.files:
                self.fail(idx, e)

    def drain_out(self) -> Iterator[tuple[str, Score | Exception]]:
        while self.out:
            self.st.files += 1
            yield self.out.popleft()

    # ----------------------------------------------------------------------- decoding in this thread

    def inline(self) -> Iterator[tuple[str, Score | Exception]]:
        """Decode every file in the main thread (``jobs=0``)."""
        cap = _StderrCapture()
        try:
            for idx in range(self.n):
                self.files[idx] = _FileState(self.paths[idx])
                msgs = _file_messages(idx, self.paths[idx], self.fe, self.cues, self.chunk_segments)
                for msg in _captured_messages(msgs, cap):
                    self.handle(msg)
                    yield from self.drain_out()
            while self.batch_x:
                self.run_batch(min(self.bs, len(self.batch_x)))
                yield from self.drain_out()
        finally:
            cap.close()

    # ----------------------------------------------------------------------- decode workers

    def dispatch(self, w: _Worker) -> None:
        while len(w.assigned) < PREFETCH and self.todo:
            idx = self.todo.popleft()
            self.files[idx] = _FileState(self.paths[idx])
            w.send((idx, self.paths[idx]))
        if not self.todo and not w.closed_tasks:
            w.send(None)

    def start_worker(self, backend: str) -> _Worker:
        w = _Worker(backend, self.fe, self.cues, self.chunk_segments)
        w.limit = file_time_limit(None, self.file_timeout)
        self.workers.append(w)
        self.dispatch(w)
        return w

    def receive(self, w: _Worker, item: tuple) -> None:
        t_sent, msg = item
        now = time.monotonic()
        w.used += max(0.0, min(t_sent, now) - w.clock_from)  # decoding, not waiting for us
        w.clock_from = now
        kind = msg[0]
        if kind == "bye":
            w.said_bye = True
            return
        if kind == "start":
            if w.assigned and w.assigned[0] == msg[1]:
                w.limit = file_time_limit(msg[2], self.file_timeout)
            return
        if kind in ("end", "err"):
            try:
                w.assigned.remove(msg[1])
            except ValueError:  # pragma: no cover
                pass
            w.used, w.limit = 0.0, file_time_limit(None, self.file_timeout)  # the next file's clock
        self.handle(msg)
        if kind in ("end", "err"):
            self.dispatch(w)

    def retire(self, w: _Worker, backend: str, timed_out: int | None = None) -> None:
        """A worker's pipe closed, its process ended, or it was stopped because the file
        ``timed_out`` ran out of time: read what it sent, then account for it."""
        try:
            while w.results.poll():
                self.receive(w, w.results.recv())
        except Exception:  # end of the pipe, or a torn last message of a crashed worker
            pass
        self.workers.remove(w)
        code = w.exitcode
        if code is None and timed_out is None and not isinstance(w.proc, threading.Thread):
            # its pipe closed as it died, but the process may not be reaped yet: wait for its exit
            # status (how it died decides whom to blame), without stopping it ourselves
            w.proc.join(2.0)
            code = w.exitcode
        w.close(timeout=0.5)
        if w.said_bye and not w.assigned:
            return
        # the worker died: the file it was reading is to blame; the others it held go back in line
        if w.assigned and (timed_out is None or w.assigned[0] == timed_out):
            culprit = w.assigned.popleft()
            if culprit in self.files:
                path = self.paths[culprit]
                if timed_out is None:
                    self.fail(culprit, _death_error(path, code))
                else:
                    self.st.timeouts += 1
                    self.fail(
                        culprit,
                        FileTimeoutError(
                            f"{path}: gave up after {w.limit:.0f} s of decoding, the time limit for this file "
                            "(a pipe, a stalled network mount or a decoder that hangs does this); its decoder was "
                            "stopped. If the file is only slow, raise the limit (--file-timeout SECONDS, "
                            "score_files(file_timeout=...)); `aiaudio score --resume` retries it.",
                            path=path,
                            limit_s=w.limit,
                        ),
                    )
        if w.assigned:
            for idx in reversed(w.assigned):
                self.files.pop(idx, None)
                self.todo.appendleft(idx)
            w.assigned.clear()
        if self.finished < self.n and (self.todo or not self.workers):
            self.st.worker_restarts += 1
            self.start_worker(backend)

    def parallel(self, res: Resources) -> Iterator[tuple[str, Score | Exception]]:
        """Decode in ``res.decode_workers`` workers while the CNN scores what they send."""
        st, workers, backend = self.st, self.workers, res.backend
        try:
            for _ in range(min(res.decode_workers, self.n)):
                self.start_worker(backend)
            while self.finished < self.n:
                yield from self.drain_out()
                if self.finished >= self.n:
                    break
                by_obj: dict[Any, _Worker] = {}
                for w in workers:
                    by_obj[w.results] = w
                    if w.sentinel is not None:
                        by_obj[w.sentinel] = w
                t0 = time.perf_counter()
                due = min((w.deadline() for w in workers), default=math.inf)
                ready = mp_connection.wait(
                    list(by_obj), timeout=0 if self.batch_x else min(1.0, max(0.0, due - time.monotonic()))
                )
                if not ready and time.monotonic() >= due:
                    pass  # a file ran out of time: handled below
                elif not ready:
                    if self.batch_x:  # nothing decoded is waiting: score what we hold
                        self.run_batch(min(self.bs, len(self.batch_x)))
                    else:
                        st.wait_s += time.perf_counter() - t0
                        if not workers:  # pragma: no cover - defensive
                            raise RuntimeError("aiaudio.batch: no decode worker left and files unfinished")
                    continue
                if not self.batch_x:
                    st.wait_s += time.perf_counter() - t0
                gone: list[_Worker] = []
                for obj in ready:
                    w = by_obj[obj]
                    if w in gone:
                        continue
                    if obj is w.results:
                        try:
                            self.receive(w, w.results.recv())
                        except (EOFError, OSError):
                            gone.append(w)
                        except Exception:  # a torn message from a dying worker
                            gone.append(w)
                    else:
                        gone.append(w)
                for w in gone:
                    self.retire(w, backend)
                now = time.monotonic()
                for w in list(workers):  # a file that ran out of time: stop its worker, go on
                    if w.assigned and now >= w.deadline() and w not in gone:
                        try:
                            if w.results.poll():  # it did send something: take that first
                                continue
                        except (EOFError, OSError):
                            pass
                        culprit = w.assigned[0]
                        w.kill()
                        self.retire(w, backend, timed_out=culprit)
            yield from self.drain_out()
        finally:
            for w in workers:
                w.close(timeout=1.0 if self.finished >= self.n else 0.2)
            workers.clear()


# --------------------------------------------------------------------------- resumable output


from .errors import ResumeError  # noqa: E402  (defined with the other typed errors)


class OutputPathError(ResumeError):
    """The output path cannot be written: a folder, a socket, a block device, in a missing
    folder, or in a folder this process may not write to. Raised before anything is scored."""


class OutputLockedError(OutputPathError):
    """Another run is writing the same output: it holds the lock on ``OUT.partial``.

    Attributes
    ----------
    pid : int or None
        The process holding the lock, where the system tells (``/proc/locks`` on Linux).
    """

    def __init__(self, message: str, pid: int | None = None):
        super().__init__(message)
        self.pid = pid


class _HeldSignals:
    """Hold SIGINT and SIGTERM while a step that must not be cut short runs.

    Their handlers are swapped for one that only notes the signal; when the step ends, the
    old handlers come back and a noted signal is raised again (Ctrl-C then gives
    ``KeyboardInterrupt`` after the step, not in its middle). With ``redeliver=False`` it
    is not raised again and :attr:`caught` tells what came. Python runs signal handlers in
    the main thread only, so in another thread this does nothing.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, redeliver: bool = True):
        self.redeliver = redeliver
        self.caught: list[int] = []
        self._old: dict[int, Any] = {}

    def _note(self, signum: int, frame: Any) -> None:
        self.caught.append(signum)

    def __enter__(self) -> "_HeldSignals":
        if threading.current_thread() is threading.main_thread():
            for s in self.SIGNALS:
                old = signal.getsignal(s)
                if old is None:  # a handler installed outside Python: leave it alone
                    continue
                signal.signal(s, self._note)
                self._old[s] = old
        return self

    def __exit__(self, *exc: object) -> None:
        for s, old in self._old.items():
            signal.signal(s, old)
        self._old.clear()
        if self.redeliver:
            for s in dict.fromkeys(self.caught):
                signal.raise_signal(s)


#: Descriptors holding an output's lock. A forked child (a decode worker) closes its copies
#: at once, so that the lock belongs to the run's own process and ends with it.
_LOCK_FDS: set[int] = set()


def _close_lock_fds_in_child() -> None:  # pragma: no cover - runs in forked children
    for fd in list(_LOCK_FDS):
        try:
            os.close(fd)
        except OSError:
            pass
    _LOCK_FDS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_lock_fds_in_child)


def _flock(fd: int) -> None:
    """Take an exclusive advisory lock on ``fd`` without waiting (``BlockingIOError`` when held)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory locks
        return
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _lock_holder(fd: int) -> int | None:
    """The process holding a ``flock`` on the file open as ``fd``, from ``/proc/locks``, or None."""
    try:
        st = os.fstat(fd)
        with open("/proc/locks", encoding="ascii", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    exact = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    by_inode: list[int] = []
    for line in lines:  # "1: FLOCK  ADVISORY  WRITE 14878 fe:00:2146840 0 EOF" ("->" marks a waiter)
        parts = line.split()
        if len(parts) < 6 or parts[1] != "FLOCK" or not parts[4].isdigit():
            continue
        if parts[5] == exact:
            return int(parts[4])
        if parts[5].rsplit(":", 1)[-1] == str(st.st_ino):
            by_inode.append(int(parts[4]))
    return by_inode[0] if len(set(by_inode)) == 1 else None


def _csv_records(text: str) -> tuple[list[str], str]:
    """Split CSV text into complete records (each ending in a newline outside quotes).

    Returns the records (with their newline) and the torn remainder (a last record cut
    short, or ``""``). Quotes are tracked the way :mod:`csv` writes them (``""`` inside a
    quoted field is an escaped quote), so a newline inside a quoted field does not end a record.
    """
    records: list[str] = []
    start = 0
    in_quotes = False
    for i, ch in enumerate(text):
        if ch == '"':
            in_quotes = not in_quotes
        elif ch == "\n" and not in_quotes:
            records.append(text[start : i + 1])
            start = i + 1
    return records, text[start:]


def _row_key(record: str, fmt: str, key_index: int, n_columns: int) -> str | None:
    """The key (path) of one complete record, or ``None`` when the record is not a valid row."""
    if fmt == "csv":
        import csv

        try:
            fields = next(csv.reader([record.rstrip("\n")]))
        except (csv.Error, StopIteration):
            return None
        if len(fields) != n_columns:
            return None
        return fields[key_index]
    import json

    try:
        row = json.loads(record)
    except ValueError:
        return None
    if not isinstance(row, dict) or not isinstance(row.get("path"), str):
        return None
    return row["path"]


class ResumableOutput:
    """A results file that is never half-written and can be resumed after an interruption.

    Rows go to ``OUT.partial`` while a run lasts (each row flushed as soon as it is written);
    :meth:`finish` rewrites them to ``OUT`` in input order and removes the partial file, so
    ``OUT`` only ever holds a complete run. After a Ctrl-C, a kill or a full disk, a run with
    ``resume=True`` keeps the complete rows of the partial file (a row cut short is
    dropped), skips their paths and appends the rest: no row is lost or duplicated.

    One run at a time: :meth:`open` takes an advisory lock on ``OUT.partial``
    (:func:`fcntl.flock`) that lasts until :meth:`finish` or :meth:`close` (or the end of the
    process); a second run on the same ``OUT`` gets :class:`OutputLockedError`.

    Where ``OUT`` is a symbolic link, its target is written (and ``OUT.partial`` lies next
    to the target), so the link stays. A character device or a named pipe (``/dev/null``,
    ``/dev/stdout``, a FIFO) is written through as rows come, in order of completion, like
    standard output: no partial file, no lock, no resume (:attr:`streaming`). Text is UTF-8;
    file names that are not valid UTF-8 are kept exact (see :mod:`aiaudio._outfiles`).

    Parameters
    ----------
    path : path
        The final output file.
    fmt : str
        ``"csv"`` (first line: the header) or ``"jsonl"`` (one JSON object per line, with a
        ``"path"`` key).
    columns : list of str
        CSV columns (``"path"`` among them); checked against the header of a resumed file.
    resume : bool
        Continue ``OUT.partial`` (or, when there is none, add to a finished ``OUT``) instead
        of starting afresh.
    """

    SUFFIX = ".partial"

    def __init__(self, path: PathLike, fmt: str, columns: Sequence[str], resume: bool = False):
        if fmt not in ("csv", "jsonl"):
            raise ValueError(f"fmt must be 'csv' or 'jsonl', got {fmt!r}")
        self.path = os.fspath(path)
        #: The file :meth:`finish` writes (``path``, or the target of a symbolic link).
        self.target = self.path
        self.partial = self.path + self.SUFFIX
        self.fmt = fmt
        self.columns = list(columns)
        self.resume = resume
        self.done: set[str] = set()
        self.kept_rows = 0
        self.dropped: int = 0
        self.retried: int = 0  # rows of files that timed out or lost their worker, dropped to be scored again
        self.note: str | None = None
        self.fresh = True
        #: True when ``path`` is a device or a named pipe, written through (set by :meth:`open`).
        self.streaming = False
        self._lock_fd: int | None = None

    def _header(self) -> str:
        from ._outfiles import csv_line

        return csv_line(self.columns)

    def _read_rows(self, file: str) -> tuple[list[tuple[str, str]], int]:
        """Complete, valid ``(key, record)`` pairs of ``file`` (first of duplicates kept) and the count dropped."""
        from ._outfiles import TEXT_FILE

        with open(file, **TEXT_FILE) as fh:
            text = fh.read()
        if self.fmt == "csv":
            records, torn = _csv_records(text)
            if records:
                if records[0] != self._header():
                    got = records[0].rstrip("\n")
                    raise ResumeError(
                        f"{file} has the columns {got!r}, this run writes {','.join(self.columns)!r} "
                        "(was --cues given to one run and not the other?). Start afresh without --resume."
                    )
                records = records[1:]
        else:
            lines = text.split("\n")
            torn = lines.pop()  # "" when the file ends with a newline
            records = [line + "\n" for line in lines if line.strip()]
        key_index = self.columns.index("path") if "path" in self.columns else 0
        rows: list[tuple[str, str]] = []
        seen: set[str] = set()
        dropped = int(bool(torn.strip()))
        for rec in records:
            key = _row_key(rec, self.fmt, key_index, len(self.columns))
            if key is None or key in seen:
                dropped += 1
                continue
            seen.add(key)
            rows.append((key, rec))
        return rows, dropped

    def _record_dict(self, rec: str) -> dict[str, Any]:
        """One record of the output as a dict of its columns (``{}`` when it cannot be parsed)."""
        if self.fmt == "csv":
            fields = next(csv.reader([rec]), [])
            return dict(zip(self.columns, fields))
        try:
            obj = json.loads(rec)
        except ValueError:
            return {}
        return obj if isinstance(obj, dict) else {}

    def _write_records(self, fh: Any, records: Iterable[str]) -> None:
        if self.fmt == "csv":
            fh.write(self._header())
        for rec in records:
            fh.write(rec)
        fh.flush()
        os.fsync(fh.fileno())

    def _write_atomic(self, target: str, records: Iterable[str]) -> None:
        """Write ``target`` whole through ``target.tmp``; on any failure the temporary file goes."""
        from ._outfiles import TEXT_FILE

        tmp = target + ".tmp"
        try:
            with open(tmp, "w", **TEXT_FILE) as fh:
                self._write_records(fh, records)
            os.replace(tmp, target)
        except BaseException:
            try:
                os.remove(tmp)
            except OSError:
                pass
            raise

    def _lock(self) -> bool:
        """Open (or create) ``OUT.partial`` and lock it; True when this call created it."""
        while True:
            created = False
            try:
                fd = os.open(self.partial, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
                created = True
            except FileExistsError:
                try:
                    fd = os.open(self.partial, os.O_RDWR)
                except FileNotFoundError:  # removed meanwhile: another run has just finished
                    continue
            try:
                _flock(fd)
            except BlockingIOError:
                pid = _lock_holder(fd)
                os.close(fd)
                who = f"another run (process {pid})" if pid else "another run"
                raise OutputLockedError(
                    f"{who} is writing {self.path} (it holds the lock on {self.partial}); "
                    "wait until it ends or stop it, or write to another -o",
                    pid=pid,
                ) from None
            except BaseException:
                os.close(fd)
                raise
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.partial))
            except FileNotFoundError:
                same = False
            if same:
                self._lock_fd = fd
                _LOCK_FDS.add(fd)
                return created
            os.close(fd)  # the file was replaced or removed between opening and locking: again

    def _replace_partial(self, records: Iterable[str]) -> None:
        """Rewrite ``OUT.partial`` at once (through ``OUT.partial.tmp``), keeping it locked."""
        from ._outfiles import TEXT_FILE

        tmp = self.partial + ".tmp"
        with _HeldSignals():
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o666)
            try:
                _flock(fd)  # free: taking it needs the lock on OUT.partial first, which we hold
                with os.fdopen(os.dup(fd), "w", **TEXT_FILE) as fh:
                    self._write_records(fh, records)
                os.replace(tmp, self.partial)
            except BaseException:
                os.close(fd)
                try:
                    os.remove(tmp)
                except OSError:
                    pass
                raise
            self.close()
            self._lock_fd = fd
            _LOCK_FDS.add(fd)

    def open(self) -> Any:
        """Check the output path, lock ``OUT.partial``, prepare it and open it for appending rows.

        Sets :attr:`done` (paths already in it), :attr:`fresh` (``True`` when the file is new
        and needs a CSV header), :attr:`kept_rows`, :attr:`dropped`, :attr:`note` (what
        happened to an earlier partial file, for the user) and :attr:`streaming`.

        Returns
        -------
        file object
            Text file open for appending (UTF-8, names kept exact, no newline translation).

        Raises
        ------
        OutputPathError
            When the path cannot be an output (a folder, a socket, a block device, a missing
            folder; ``resume`` with a device or pipe).
        OutputLockedError
            When another run holds the lock on ``OUT.partial``.
        ResumeError
            When the partial file's CSV header does not match :attr:`columns`.
        OSError
            When the files cannot be read or written.
        """
        from ._outfiles import TEXT_FILE, output_target

        kind, detail = output_target(self.path)
        if kind == "refuse":
            raise OutputPathError(detail)
        if kind == "stream":
            self.streaming, self.fresh = True, True
            if self.resume:
                raise OutputPathError(
                    f"--resume needs a regular file as the output; {self.path} is a {detail}, "
                    "written through as rows come"
                )
            try:
                return open(self.path, "w", **TEXT_FILE)
            except OSError as e:
                raise OutputPathError(f"cannot write {self.path}: {e.strerror or e}") from e
        if detail != self.path:  # a symbolic link: write its target, keep the link
            self.target = detail
            self.partial = detail + self.SUFFIX
        try:
            created = self._lock()
        except OSError as e:
            raise OutputPathError(f"cannot write {self.partial}: {e.strerror or e}; choose another -o") from e
        try:
            had_rows = not created and os.fstat(self._lock_fd).st_size > 0  # type: ignore[arg-type]
            base = None
            if self.resume:
                if had_rows:
                    base = self.partial
                elif os.path.isfile(self.target):
                    base = self.target
            if base is not None:
                rows, self.dropped = self._read_rows(base)
                # rows that are not final (a time-out, a worker killed from outside) are scored again
                final = [(k, rec) for k, rec in rows if row_is_final(self._record_dict(rec))]
                self.retried = len(rows) - len(final)
                rows = final
                self._replace_partial(rec for _, rec in rows)
                self.done = {k for k, _ in rows}
                self.kept_rows = len(rows)
                self.fresh = False
                what = "unfinished" if base == self.partial else "finished"
                self.note = (
                    f"resuming the {what} {base}: {len(rows)} rows kept"
                    + (f", {self.dropped} incomplete or invalid row(s) dropped" if self.dropped else "")
                    + (f", {self.retried} file(s) that timed out or lost their worker scored again" if self.retried else "")
                )
                return open(self.partial, "a", **TEXT_FILE)
            if had_rows:
                self.note = (
                    f"replacing the unfinished {self.partial} of an earlier run "
                    "(pass --resume to continue it instead)"
                )
            self.fresh = True
            return open(self.partial, "w", **TEXT_FILE)
        except BaseException:
            self.close()
            raise

    def finish(self, order: Sequence[str] = ()) -> None:
        """Write the complete ``OUT`` (rows in ``order``, others after them), remove the partial file, unlock.

        Call after the file returned by :meth:`open` is closed. SIGINT and SIGTERM are held
        while it runs: ``OUT`` is either complete with no partial file left, or untouched
        with the partial file as it was (and no ``OUT.tmp``); a Ctrl-C that came meanwhile
        takes effect when it returns. Nothing to do for a device or a pipe.
        """
        if self.streaming:
            return
        with _HeldSignals():
            rows, _ = self._read_rows(self.partial)
            rank = {k: i for i, k in enumerate(order)}
            n = len(rank)
            ranked = sorted(range(len(rows)), key=lambda i: (rank.get(rows[i][0], n), i))
            self._write_atomic(self.target, (rows[i][1] for i in ranked))
            os.remove(self.partial)
            self.close()

    def close(self) -> None:
        """Release the lock on ``OUT.partial`` (:meth:`finish` does it); the partial file stays."""
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            _LOCK_FDS.discard(fd)
            try:
                os.close(fd)
            except OSError:  # pragma: no cover
                pass

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass
