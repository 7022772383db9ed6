"""How a run splits the cores between decode workers and CNN threads, and what it counts while it goes."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass




#: Share of the cores given to CNN inference when the cores are split automatically
#: (measured with the default model: the STFT and CNN cost about 0.4 of decoding an MP3
#: and resampling it, per second of audio).
CNN_SHARE = 0.4
#: Most torch threads chosen automatically (intra-op scaling of this small CNN flattens out).
MAX_TORCH_THREADS = 8




#: glibc's ``mallopt`` parameters (malloc.h) and what :func:`keep_freed_memory` sets them to (bytes).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_KEEP_MMAP_BYTES, _KEEP_TRIM_BYTES = 32 << 20, 128 << 20


def keep_freed_memory() -> bool:
    """Let this process's allocator reuse the memory of large freed buffers (glibc only).

    Scoring allocates and frees buffers of 1-10 MB all the time (a decoded 30-s block, the
    STFT frames). glibc serves each with a fresh ``mmap`` and returns it on ``free``, so
    every buffer is page-faulted in again: on a 2-core machine that was about 700,000
    faults and 1.2 s of system time for 50 minutes of MP3, a tenth of the run. With the
    ``mmap`` threshold at 32 MB and the trim threshold at 128 MB, freed buffers stay in the
    heap for the next one. Called in decode workers (processes aiaudio owns) and by
    ``aiaudio score``, never on import: a program that imports aiaudio keeps its allocator.

    Returns
    -------
    bool
        Whether both settings were taken (False off glibc).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # pragma: no cover - musl and others without mallopt
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _KEEP_MMAP_BYTES)) and bool(mallopt(_M_TRIM_THRESHOLD, _KEEP_TRIM_BYTES))


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
    cnn_in_workers : bool
        The decode workers run the CNN too (one thread each); ``torch_threads`` is then
        what the main process would use for a CNN of its own (it runs none).
    """

    decode_workers: int
    torch_threads: int
    backend: str = "process"
    cnn_in_workers: bool = False


def plan_resources(
    jobs: int | None = None,
    torch_threads: int | None = None,
    backend: str = "process",
    n_cpus: int | None = None,
    cnn_in_workers: bool = False,
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
    cnn_in_workers : bool
        The workers run the CNN themselves: then ``n`` workers, one per core (decoding
        in the main thread on one core, as above).

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
        jobs = 0 if n <= 1 else (n if cnn_in_workers else max(1, n - tt + 1))
    in_workers = bool(cnn_in_workers) and int(jobs) > 0  # no workers: the main thread does everything
    return Resources(decode_workers=int(jobs), torch_threads=tt, backend=backend, cnn_in_workers=in_workers)


@dataclass
class PipelineStats:
    """What a run did, filled in while it runs (pass one to :func:`score_files`).

    Attributes
    ----------
    resources : Resources or None
        Workers and threads used.
    files, segments, batches : int
        Files finished, segments scored, CNN forward calls (in the main process, or the
        chunks the workers scored).
    cnn_s : float
        Seconds spent in the CNN: by the main process, or summed over the decode workers
        when they run it (``resources.cnn_in_workers``).
    wait_s : float
        Seconds the main process waited for decoded audio with nothing to score (with the
        CNN in the workers, nearly the whole run: the main process only collects logits).
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


