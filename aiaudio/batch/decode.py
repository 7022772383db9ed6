"""The decode side: workers (processes or threads) that stream, resample and cut files into segments
and send them to the main process, with their decoders' messages captured per file.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time
from collections import deque
from typing import Any, Iterator, Union

import numpy as np

from ..detector import StreamTotals, counted_segments, model_rate_input, too_short_error
from ..frontend import FrontendConfig
from .resources import keep_freed_memory


PathLike = Union[str, "os.PathLike[str]"]

#: Segments per message from a decode worker (8 x 4 s at 16 kHz = 2 MB).
CHUNK_SEGMENTS = 8
#: Files handed to each worker ahead of time, so it never waits for the main process.
PREFETCH = 2


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


def _file_messages(
    idx: int, path: str, fe: FrontendConfig, cues: bool, chunk_segments: int, cnn: Any = None
) -> Iterator[tuple]:
    """Messages a decode worker sends for one file: ``start`` (its size), ``seg`` chunks, then ``end`` or ``err``.

    With ``cnn`` (a backend of :mod:`aiaudio.runtime` that this worker runs with one thread),
    each chunk is scored here and goes as ``lgt`` (its starts, logits and CNN seconds) instead
    of ``seg`` (its samples).
    """

    def chunk(starts: list[int], segs: list[np.ndarray]) -> tuple:
        x = np.stack(segs)
        if cnn is None:
            return ("seg", idx, np.asarray(starts, dtype=np.int64), x)
        t0 = time.perf_counter()
        logits = cnn.segment_logits(x, len(segs))
        return ("lgt", idx, np.asarray(starts, dtype=np.int64), logits, time.perf_counter() - t0)

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
                yield chunk(starts, segs)
                starts, segs = [], []
        if totals.samples < fe.min_samples:
            raise too_short_error(totals.samples, fe, desc)
        if segs:
            yield chunk(starts, segs)
        yield ("end", idx, totals.samples, totals.sumsq, cue_values)
    except Exception as e:  # one bad file never stops the run: it becomes that file's result
        yield ("err", idx, e)


#: Longest decoder log kept per file (characters).
_MAX_DECODER_LOG = 2000


class StderrCapture:
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


def _captured_messages(messages: Iterator[tuple], cap: StderrCapture) -> Iterator[tuple]:
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
    task_conn: Any, result_conn: Any, fe: FrontendConfig, cues: bool, chunk_segments: int, capture: bool = False,
    cnn: Any = None,
) -> None:
    """Decode the files named on ``task_conn`` until ``None`` (or the pipe closes).

    Each message goes with the time it was sent (``(time.monotonic(), message)``), from
    which the main process counts how long the decoder works on a file, not counting the
    time it waits for the main process to take a message. With ``capture``, what the
    decoding libraries print to standard error while a file is decoded is attached to that
    file's ``end`` message instead of reaching the terminal.
    """
    cap = StderrCapture() if capture else None
    try:
        while True:
            task = task_conn.recv()
            if task is None:
                break
            idx, path = task
            msgs = _file_messages(idx, path, fe, cues, chunk_segments, cnn)
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
    task_conn: Any, result_conn: Any, fe: FrontendConfig, cues: bool, chunk_segments: int, parent_pid: int,
    cnn: Any = None,
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
    keep_freed_memory()
    if cnn is None:
        _worker_loop(task_conn, result_conn, fe, cues, chunk_segments, capture=True)
        return
    cnn = cnn.copy()  # sessions of its own, none inherited from the main process
    with cnn.threads(1):
        _worker_loop(task_conn, result_conn, fe, cues, chunk_segments, capture=True, cnn=cnn)


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

    def __init__(self, backend: str, fe: FrontendConfig, cues: bool, chunk_segments: int, cnn: Any = None):
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
                args=(t_recv, r_send, fe, cues, chunk_segments, os.getpid(), cnn),
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


