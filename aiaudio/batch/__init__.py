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

With the ONNX backend (the default, :mod:`aiaudio.runtime`) and process workers, each
worker also runs the CNN, one thread, on every chunk it cuts, and sends the chunk's logits
instead of its samples (``cnn_in_workers``): one worker per core, no audio through the
pipes, and the main process only hands out paths and finishes scores (on 2 cores about
10% faster than the split above: ``benchmarks/bench_peer.py`` times both). The torch
backend keeps its CNN in the main process (torch's thread pools do not survive a fork safely).

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

Modules
-------
- :mod:`aiaudio.batch.run`: :func:`score_files`, the main side (batches across files, results)
- :mod:`aiaudio.batch.decode`: the decode workers
- :mod:`aiaudio.batch.failures`: the errors of one file, time limits, what ``--resume`` retries
- :mod:`aiaudio.batch.resources`: cores split between decoding and the CNN; the run's counters
- :mod:`aiaudio.batch.output`: the resumable output file of ``aiaudio score``
"""

from .failures import DecoderCrashError, FILE_TIMEOUT_BASE_S, FILE_TIMEOUT_PER_MB_S, FileTimeoutError, RETRYABLE_REASONS, WorkerKilledError, file_time_limit, row_is_final
from .resources import CNN_SHARE, MAX_TORCH_THREADS, PipelineStats, Resources, keep_freed_memory, plan_resources, usable_cpus  # noqa: F401
from .decode import CHUNK_SEGMENTS, PREFETCH, StderrCapture, TEST_HANG_ENV  # noqa: F401
from .run import score_files
from .output import HeldSignals, OutputLockedError, OutputPathError, ResumableOutput, ResumeError

__all__ = [
    "DecoderCrashError",
    "FILE_TIMEOUT_BASE_S",
    "FILE_TIMEOUT_PER_MB_S",
    "FileTimeoutError",
    "PipelineStats",
    "RETRYABLE_REASONS",
    "Resources",
    "plan_resources",
    "keep_freed_memory",
    "WorkerKilledError",
    "file_time_limit",
    "row_is_final",
    "score_files",
    "usable_cpus",
    "ResumableOutput",
    "OutputPathError",
    "OutputLockedError",
    "ResumeError",
    "HeldSignals",
    "StderrCapture",
]
