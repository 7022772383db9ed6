""":func:`score_files`: hands files to the decode workers, batches their segments across files for the
CNN, finishes each file's score, and replaces workers that die or run out of time.
"""

from __future__ import annotations

import math
import os
import threading
import time
import warnings
from collections import deque
from dataclasses import dataclass, field
from multiprocessing import connection as mp_connection
from typing import Any, Iterable, Iterator

import numpy as np

from ..detector import Detector, Score, UntrainedModelWarning
from .decode import CHUNK_SEGMENTS, PREFETCH, PathLike, StderrCapture, _Worker, _captured_messages, _file_messages
from .failures import FileTimeoutError, _death_error, file_time_limit
from .resources import PipelineStats, Resources, plan_resources


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
    cnn_in_workers: bool | None = None,
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
    cnn_in_workers : bool, optional
        Run the CNN in the decode worker processes, one thread each, on each chunk of
        ``chunk_segments`` segments as it is cut (only logits travel back), instead of in this
        process on batches of ``batch_size``. ``None`` (default): when the detector scores
        with the ONNX backend and the workers are processes. Scores are the same either way
        (within float rounding); on 2 cores it is the faster split
        (``benchmarks/bench_peer.py``), as no samples cross the pipes and every core decodes.

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

    Raises
    ------
    MissingDependencyError
        ``cues=True`` without scipy and pyloudnorm (the ``cues`` extra), before any work.

    Notes
    -----
    Closing the generator (or an exception such as ``KeyboardInterrupt`` inside it) stops
    and reaps the workers. The untrained-model warning is given once per run, not per file.
    """
    paths = [os.fspath(p) for p in paths]
    if cues:
        from ..errors import CUES_MODULES, require_extra

        require_extra(CUES_MODULES, "cues", "score_files(..., cues=True)")  # once, not one error per file
    if cnn_in_workers is None:
        cnn_in_workers = backend == "process" and detector.backend == "onnx"
    elif cnn_in_workers and (backend != "process" or detector.backend != "onnx"):
        raise ValueError(
            "cnn_in_workers needs process workers and a detector on the ONNX backend "
            f"(backend={backend!r}, detector backend {detector.backend!r})"
        )
    res = plan_resources(jobs, torch_threads, backend, cnn_in_workers=bool(cnn_in_workers))
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
    run = _Run(det, paths, bs, cues, chunk_segments, st, file_timeout, cnn_in_workers=res.cnn_in_workers)
    with det.threads(res.torch_threads):  # torch or onnxruntime threads (the backend's)
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
        file_timeout: float | None, cnn_in_workers: bool = False,
    ) -> None:
        self.det, self.paths, self.bs, self.cues, self.chunk_segments = det, paths, bs, cues, chunk_segments
        self.st, self.file_timeout = st, file_timeout
        self.fe = det.config.frontend
        self.cnn: Any = None  # the backend the workers run, when they run the CNN
        if cnn_in_workers:
            self.cnn = det._active()
            self.cnn.preload()
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
        elif kind == "lgt":  # a chunk the worker scored itself
            _, idx, starts, logits, cnn_s = msg
            f = self.files.get(idx)
            if f is None:
                return
            st = self.st
            st.max_chunk_segments = max(st.max_chunk_segments, len(logits))
            st.cnn_s += float(cnn_s)
            st.batches += 1
            st.segments += len(logits)
            f.starts.extend(int(s0) for s0 in starts.tolist())
            f.logits.extend(float(lg) for lg in logits.tolist())
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
        cap = StderrCapture()
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
        w = _Worker(backend, self.fe, self.cues, self.chunk_segments, cnn=self.cnn)  # cnn only with process workers (score_files checks)
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


