"""Scoring on a cluster: a picklable batch scorer, and a recipe for Dask.

:class:`BatchScorer` holds only its options (model folder, backend, cues), so it pickles
to a few hundred bytes and travels to any worker process of any engine (Dask, Ray,
Spark, ``multiprocessing``); each worker process loads the model once, on first use,
and keeps it. Every call returns plain dictionaries, one per input, with the columns of
``aiaudio score`` (``path``, ``p_ai``, ``label``, ``verdict``, ``confidence``,
``duration_s``, ``flags``, ``model_version``, ``error``): a file that cannot be scored
gives a row with ``error`` set, never an exception that would fail the whole task. A worker
that cannot score at all (``cues=True`` without the ``cues`` extra) raises
:class:`~aiaudio.MissingDependencyError` on its first call instead of filling every row
with the same error.

>>> from aiaudio.cluster import BatchScorer
>>> scorer = BatchScorer()                          # the shipped model, ONNX backend
>>> scorer.score_paths(["a.mp3", "b.flac"])         # doctest: +SKIP
>>> scorer.score_bytes(open("a.mp3", "rb").read(), name="a.mp3")  # doctest: +SKIP

On Dask (``pip install "aiaudio[cluster]"``; see ``docs/cluster.md``)::

    from dask.distributed import Client, LocalCluster
    from aiaudio.cluster import BatchScorer, score_on_dask

    client = Client(LocalCluster(n_workers=2, threads_per_worker=1))   # or Client("tcp://scheduler:8786")
    rows = score_on_dask(client, paths, BatchScorer())                 # one dict per path, in order

Each task scores a chunk of paths (``chunk`` files) with one CNN thread; run one worker
process per core with ``threads_per_worker=1``. The scores equal ``aiaudio score``'s
(tested on a local cluster of 2 workers).
"""

from __future__ import annotations

import os
import threading
import warnings
from typing import Any, Iterable, Sequence

__all__ = ["BatchScorer", "score_on_dask", "ROW_FIELDS"]

#: The keys of every row, as the columns of ``aiaudio score`` (without the cues).
ROW_FIELDS = ("path", "p_ai", "label", "verdict", "confidence", "duration_s", "flags", "model_version", "error")

_DETECTORS: dict[tuple, Any] = {}
_LOCK = threading.Lock()
_TUNED: list[bool] = []  # non-empty once this process's allocator was set (keep_freed_memory)


class BatchScorer:
    """Scores files, bytes or paths, in any process; picklable (it carries only its options).

    Parameters
    ----------
    model : path, optional
        Model folder, as the workers see it; ``None``: the model shipped with the
        installed aiaudio (the same on every worker with the same aiaudio version).
    backend : {"auto", "onnx", "torch"}, optional
        As for :func:`aiaudio.load_detector`.
    threads : int
        CNN threads per call (1: one worker process per core does the rest).
    cues : bool
        Also compute the interpretable cues (``cue_*`` keys; slower).
    keep_freed_memory : bool
        The first time this process scores with such a scorer, let its allocator keep freed buffers
        (:func:`aiaudio.batch.keep_freed_memory`, glibc only), as aiaudio's own decode
        workers do: on a local Dask cluster of 2 workers it scored 1.8x faster
        (``benchmarks/bench_peer.py`` times both). ``False`` leaves the process's allocator as it is
        (use that where the scorer runs inside a program that cares).
    """

    def __init__(
        self, model: str | os.PathLike[str] | None = None, *, backend: str | None = None, threads: int = 1, cues: bool = False,
        keep_freed_memory: bool = True,
    ):
        self.model = None if model is None else os.fspath(model)
        self.backend = backend
        self.threads = max(1, int(threads))
        self.cues = bool(cues)
        self.keep_freed_memory = bool(keep_freed_memory)

    def __repr__(self) -> str:
        return (f"BatchScorer(model={self.model!r}, backend={self.backend!r}, threads={self.threads}, cues={self.cues}, "
                f"keep_freed_memory={self.keep_freed_memory})")

    def detector(self) -> Any:
        """This process's detector for these options (loaded on first use, then kept).

        Raises
        ------
        MissingDependencyError
            ``cues=True`` and this process lacks scipy or pyloudnorm (the ``cues`` extra):
            a setup problem of the worker, not of any file, so the task fails.
        """
        if self.cues:
            from .errors import CUES_MODULES, require_extra

            require_extra(CUES_MODULES, "cues", "BatchScorer(cues=True)")
        key = (self.model, self.backend)
        with _LOCK:
            if self.keep_freed_memory and not _TUNED:
                from .batch import resources

                _TUNED.append(resources.keep_freed_memory())
            det = _DETECTORS.get(key)
            if det is None:
                from .detector import load_detector

                det = _DETECTORS[key] = load_detector(self.model, backend=self.backend)
        return det

    def _row(self, audio: Any, name: str | None) -> dict[str, Any]:
        from .errors import AiaudioError

        det = self.detector()  # a worker that cannot score raises here, before any row
        row: dict[str, Any] = dict.fromkeys(ROW_FIELDS, None)
        row.update(path=name, model_version=det.version, error="", flags=[])
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with det.threads(self.threads):
                    s = det.score(audio, cues=self.cues)
        except (AiaudioError, OSError, ValueError) as e:
            row["error"] = str(e)
            return row
        row.update(
            p_ai=s.p_ai, label=s.label, verdict=s.verdict, confidence=s.confidence, duration_s=s.duration_s, flags=list(s.flags)
        )
        if self.cues:
            row.update({f"cue_{k}": v for k, v in s.cues.items()})
        return row

    def score_path(self, path: str | os.PathLike[str]) -> dict[str, Any]:
        """The row of one file."""
        return self._row(os.fspath(path), os.fspath(path))

    def score_bytes(self, data: bytes, name: str | None = None) -> dict[str, Any]:
        """The row of one file's bytes (e.g. read from object storage); ``name`` goes into ``path``."""
        return self._row(bytes(data), name)

    def score_paths(self, paths: Iterable[str | os.PathLike[str]]) -> list[dict[str, Any]]:
        """Rows of many files, in order."""
        return [self.score_path(p) for p in paths]

    def score_items(self, items: Iterable[tuple[str, bytes]]) -> list[dict[str, Any]]:
        """Rows of ``(name, bytes)`` pairs, in order (the shape of ``dask.bag.read_bytes``-style inputs)."""
        return [self.score_bytes(data, name) for name, data in items]

    __call__ = score_paths


def score_on_dask(client: Any, paths: Sequence[str | os.PathLike[str]], scorer: BatchScorer | None = None, *, chunk: int = 8) -> list[dict[str, Any]]:
    """Score ``paths`` on a Dask cluster: one task per ``chunk`` paths, rows back in order.

    Parameters
    ----------
    client : dask.distributed.Client
        A client of the cluster (the workers must see the paths: a shared file system,
        or pass bytes with :meth:`BatchScorer.score_items`).
    paths : sequence of path
    scorer : BatchScorer, optional
        Default: ``BatchScorer()`` (the shipped model).
    chunk : int
        Files per task (a few: enough to amortise the task overhead, few enough to spread).

    Returns
    -------
    list of dict
        One row per path (see :data:`ROW_FIELDS`), in the order of ``paths``.
    """
    scorer = scorer or BatchScorer()
    items = [os.fspath(p) for p in paths]
    chunks = [items[i : i + chunk] for i in range(0, len(items), max(1, int(chunk)))]
    futures = client.map(scorer.score_paths, chunks, pure=False)
    return [row for part in client.gather(futures) for row in part]
