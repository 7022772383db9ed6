"""Segment datasets (random training segments, the detector's fixed evaluation segments) and their loaders."""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import os
import warnings
from collections import OrderedDict
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.utils.data

from ...audio import AudioLoadError, audio_info, load_audio, resample, stream_audio, to_mono
from ...frontend import FrontendConfig, segment_starts
from .items import Item


def _duration_of(path: str) -> float:
    """Duration (s) from the header, or by decoding when the header does not say."""
    info = audio_info(path)
    if info.duration_s:
        return float(info.duration_s)
    y, sr = load_audio(path)
    return y.shape[1] / sr


def _read_window(path: str, offset: float, duration: float) -> tuple[np.ndarray, int]:
    """Decode ``duration`` seconds from ``offset`` at the native rate, in blocks no longer than the window.

    (:func:`load_audio` reads 60-second blocks, so a short window of a compressed file
    would cost a minute of decoding.)
    """
    with stream_audio(path, offset=offset, duration=duration, block_s=max(0.5, min(duration, 60.0))) as st:
        blocks = list(st)
        sr = st.sr
    if not blocks:
        raise AudioLoadError(f"{path}: nothing decoded at {offset:.1f} s", path=path, reason="empty")
    y = np.concatenate(blocks, axis=1) if len(blocks) > 1 else blocks[0]
    return np.ascontiguousarray(y, dtype=np.float32), sr


class _SharedEpoch:
    """An epoch counter that worker processes see change (shared memory when available)."""

    def __init__(self) -> None:
        try:
            self._v: Any = multiprocessing.get_context().RawValue("q", 0)
        except (OSError, ImportError):  # pragma: no cover - no shared memory
            self._v = None
        self._local = 0

    @property
    def value(self) -> int:
        return int(self._v.value) if self._v is not None else self._local

    @value.setter
    def value(self, v: int) -> None:
        if self._v is not None:
            self._v.value = int(v)
        self._local = int(v)

    def __getstate__(self) -> dict:
        # shared memory travels to worker processes as they start; anything else
        # (deepcopy, pickling to disk) gets a plain copy of the value
        spawning = multiprocessing.context.get_spawning_popen() is not None
        return {"_v": self._v if spawning else None, "_local": self.value}

    def __setstate__(self, state: dict) -> None:
        self._v = state["_v"]
        self._local = state["_local"]


class TrainSegments(torch.utils.data.Dataset):
    """Random training segments: ``segments_per_item`` draws from each item per epoch.

    Example ``i`` is a draw from item ``i // segments_per_item``. Its randomness comes
    from ``numpy.random.default_rng([seed, epoch, i])`` alone, so an epoch is the same
    whatever the number of workers or the order of access. For each draw:

    1. a window ``read_s`` long starts at a random offset; only it is decoded, at the
       file's own rate (durations come from ``Item.duration_s`` or the file header, and
       are cached);
    2. ``augment(y, sr, rng)`` runs on it (native rate, all channels);
    3. it is down-mixed to mono, resampled to ``frontend.sample_rate``, and a random
       ``frontend.segment_samples`` long stretch is cut from it (shorter audio is
       repeated to fill the segment, as :func:`aiaudio.frontend.segment_audio` does).

    A file that fails to decode does not stop the epoch: the draw is replaced by one
    from another item (chosen by the same generator), a warning is given once per file,
    and the file is counted in :attr:`failures` (per process: with worker processes
    each worker keeps its own count) and not tried again by this process. An error in
    the augmentation is warned about and the draw kept un-augmented.

    Parameters
    ----------
    items : sequence of Item
    frontend : FrontendConfig
        Model rate and segment length.
    segments_per_item : int
        Draws per item per epoch; ``len(self) == len(items) * segments_per_item``.
    augment : callable, optional
        ``augment(y, sr, rng) -> (y, sr)``, e.g. an :class:`aiaudio.training.augment.Augmenter`.
    seed : int
        Base seed.
    max_read_s : float, optional
        Length (s) of the window decoded (and augmented) per draw. Default
        ``1.1 * segment_s + 0.25``: room for a tempo change of up to 10 % and for filter
        edges; a faster tempo change leaves a window shorter than a segment, which is
        then filled by repetition.

    Attributes
    ----------
    failures : dict of str to str
        Files that failed to decode in this process, with the reason.
    """

    def __init__(
        self,
        items: Sequence[Item],
        frontend: FrontendConfig,
        segments_per_item: int = 8,
        augment: Callable[[np.ndarray, int, np.random.Generator], tuple[np.ndarray, int]] | None = None,
        seed: int = 0,
        max_read_s: float | None = None,
    ):
        if not items:
            raise ValueError("TrainSegments needs at least one item")
        if segments_per_item < 1:
            raise ValueError(f"segments_per_item must be >= 1, got {segments_per_item}")
        self.items = list(items)
        self.frontend = frontend
        self.segments_per_item = int(segments_per_item)
        self.augment = augment
        self.seed = int(seed)
        self.read_s = float(max_read_s) if max_read_s else 1.1 * frontend.segment_s + 0.25
        if self.read_s < frontend.segment_s:
            raise ValueError(f"max_read_s ({self.read_s} s) is shorter than a segment ({frontend.segment_s} s)")
        self._epoch = _SharedEpoch()
        self._durations: dict[int, float] = {k: it.duration_s for k, it in enumerate(self.items) if it.duration_s}
        self.failures: dict[str, str] = {}
        self._warned_augment = False

    def __len__(self) -> int:
        return len(self.items) * self.segments_per_item

    @property
    def epoch(self) -> int:
        return self._epoch.value

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose draws ``__getitem__`` returns (call before iterating a loader)."""
        self._epoch.value = int(epoch)

    def labels(self) -> np.ndarray:
        """Label of every example (``float32``, one per index), e.g. for a weighted sampler."""
        return np.repeat(np.array([it.label for it in self.items], dtype=np.float32), self.segments_per_item)

    def _duration(self, k: int) -> float:
        d = self._durations.get(k)
        if d is None:
            d = _duration_of(self.items[k].path)
            self._durations[k] = d
        return d

    def _draw(self, k: int, rng: np.random.Generator) -> np.ndarray:
        it = self.items[k]
        dur = self._duration(k)
        if dur > self.read_s:
            offset = float(rng.uniform(0.0, dur - self.read_s))
            y, sr = _read_window(it.path, offset, self.read_s)
        else:
            y, sr = load_audio(it.path)
        if self.augment is not None:
            try:
                y, sr = self.augment(y, sr, rng)
            except Exception as e:  # keep the epoch going; say so once
                if not self._warned_augment:
                    warnings.warn(f"augmentation failed on {it.path} ({type(e).__name__}: {e}); using the draw un-augmented", RuntimeWarning, stacklevel=2)
                    self._warned_augment = True
        x = resample(to_mono(y)[0], int(sr), self.frontend.sample_rate)
        L = self.frontend.segment_samples
        if x.shape[0] == 0:
            raise AudioLoadError(f"{it.path}: no samples in the window read", path=it.path, reason="empty")
        if x.shape[0] > L:
            s = int(rng.integers(0, x.shape[0] - L + 1))
            x = x[s : s + L]
        elif x.shape[0] < L:
            x = np.pad(x, (0, L - x.shape[0]), mode="wrap")
        if not np.all(np.isfinite(x)):
            raise AudioLoadError(f"{it.path}: non-finite samples after processing", path=it.path, reason="nonfinite")
        return np.ascontiguousarray(x, dtype=np.float32)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= i < len(self):
            raise IndexError(i)
        rng = np.random.default_rng([self.seed, self.epoch, int(i)])
        k = int(i) // self.segments_per_item
        for _ in range(20):
            path = self.items[k].path
            if path not in self.failures:
                try:
                    x = self._draw(k, rng)
                    return torch.from_numpy(x), torch.tensor(float(self.items[k].label), dtype=torch.float32)
                except (AudioLoadError, OSError, RuntimeError, ValueError, EOFError) as e:
                    self.failures[path] = f"{type(e).__name__}: {e}"
                    warnings.warn(f"skipping {path}: {e}", RuntimeWarning, stacklevel=2)
            k = int(rng.integers(len(self.items)))
        raise RuntimeError(
            f"20 files in a row failed to load (last: {self.items[k].path}); check the dataset: "
            f"{len(self.failures)} failures so far."
        )


class EvalSegments(torch.utils.data.Dataset):
    """Fixed evaluation segments: each item cut as the detector cuts it.

    The segments of an item are those of :func:`aiaudio.frontend.segment_audio` on its
    mono audio at the model rate, evenly subsampled to at most ``max_segments_per_item``
    (``numpy.linspace`` over the segment indices, rounded). ``transform(y, sr)`` (a
    robustness condition) runs on the whole decoded item at its native rate first.

    The layout (how many segments each item has) is planned at construction from the
    items' durations (``Item.duration_s`` or the file header). When the decoded length
    differs (inexact headers, a tempo-changing transform), the planned slots are mapped
    evenly onto the segments the audio really has. Items whose header cannot be read get
    no segments (listed in :attr:`failed`); a file that cannot be decoded later yields
    NaN segments, so its song score comes out NaN rather than wrong.

    Decoded items are cached per process (the ``cache_items`` most recent, segments
    only), so reading an item's segments in order decodes it once.

    Parameters
    ----------
    items : sequence of Item
    frontend : FrontendConfig
    max_segments_per_item : int, optional
        Cap on segments per item; ``None`` keeps all.
    transform : callable, optional
        ``transform(y, sr) -> (y, sr)`` on ``(channels, samples)`` at the native rate.
    cache_items : int
        Items kept decoded per process.

    Attributes
    ----------
    item_index : np.ndarray
        ``int64``, the item of each segment (for per-song aggregation).
    segment_rank : np.ndarray
        ``int64``, the segment's position within its item (0, 1, ...).
    counts : np.ndarray
        Segments per item (0 for failed items).
    failed : dict of int to str
        Items without segments and why.
    """

    def __init__(
        self,
        items: Sequence[Item],
        frontend: FrontendConfig,
        max_segments_per_item: int | None = 16,
        transform: Callable[[np.ndarray, int], tuple[np.ndarray, int]] | None = None,
        cache_items: int = 2,
    ):
        if max_segments_per_item is not None and max_segments_per_item < 1:
            raise ValueError(f"max_segments_per_item must be >= 1 or None, got {max_segments_per_item}")
        self.items = list(items)
        self.frontend = frontend
        self.max_segments = max_segments_per_item
        self.transform = transform
        self.cache_items = max(1, int(cache_items))
        self.failed: dict[int, str] = {}
        counts = np.zeros(len(self.items), dtype=np.int64)
        for k, it in enumerate(self.items):
            try:
                dur = it.duration_s or _duration_of(it.path)
            except (AudioLoadError, OSError, RuntimeError, ValueError) as e:
                self.failed[k] = f"{type(e).__name__}: {e}"
                continue
            n = int(round(dur * frontend.sample_rate))
            counts[k] = self._n_kept(len(segment_starts(max(n, 1), frontend)))
        if self.failed:
            warnings.warn(f"{len(self.failed)} of {len(self.items)} items could not be read and get no segments", RuntimeWarning, stacklevel=2)
        self.counts = counts
        self.item_index = np.repeat(np.arange(len(self.items), dtype=np.int64), counts)
        self.segment_rank = np.concatenate([np.arange(c, dtype=np.int64) for c in counts]) if len(counts) else np.zeros(0, np.int64)
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()

    def _n_kept(self, n_segments: int) -> int:
        return n_segments if self.max_segments is None else min(n_segments, self.max_segments)

    def __len__(self) -> int:
        return int(self.item_index.shape[0])

    def labels(self) -> np.ndarray:
        """Label of every item (``int64``)."""
        return np.array([it.label for it in self.items], dtype=np.int64)

    def _pick(self, n_segments: int) -> np.ndarray:
        """Indices of the segments kept out of ``n_segments`` (evenly spread)."""
        m = self._n_kept(n_segments)
        if m == n_segments:
            return np.arange(n_segments)
        return np.round(np.linspace(0, n_segments - 1, m)).astype(np.int64)

    def _segments(self, k: int) -> np.ndarray:
        """The planned ``(counts[k], segment_samples)`` segments of item ``k``."""
        cached = self._cache.get(k)
        if cached is not None:
            self._cache.move_to_end(k)
            return cached
        it = self.items[k]
        fe = self.frontend
        L = fe.segment_samples
        try:
            if self.transform is None:
                y, _ = load_audio(it.path, sr=fe.sample_rate, mono=True)
                x = y[0]
            else:
                y, sr = load_audio(it.path)
                y, sr = self.transform(y, sr)
                x = resample(to_mono(np.asarray(y, dtype=np.float32))[0], int(sr), fe.sample_rate)
            if x.shape[0] == 0:
                raise AudioLoadError(f"{it.path}: no samples", path=it.path, reason="empty")
            starts = segment_starts(x.shape[0], fe)
            chosen = self._pick(len(starts))
            want = int(self.counts[k])
            if len(chosen) != want:  # decoded length differs from the plan: spread the slots evenly
                chosen = chosen[np.round(np.linspace(0, len(chosen) - 1, want)).astype(np.int64)]
            if x.shape[0] < L:
                seg = np.pad(x, (0, L - x.shape[0]), mode="wrap")[None, :]
                segs = np.repeat(seg, want, axis=0)
            else:
                segs = np.stack([x[starts[c] : starts[c] + L] for c in chosen])
            segs = np.ascontiguousarray(segs, dtype=np.float32)
        except Exception as e:  # NaN segments -> NaN song score: visible, never silently wrong
            warnings.warn(f"{it.path}: could not be decoded for evaluation ({type(e).__name__}: {e}); its score will be NaN", RuntimeWarning, stacklevel=2)
            segs = np.full((int(self.counts[k]), L), np.nan, dtype=np.float32)
        self._cache[k] = segs
        while len(self._cache) > self.cache_items:
            self._cache.popitem(last=False)
        return segs

    def __getitem__(self, j: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        if not 0 <= j < len(self):
            raise IndexError(j)
        k = int(self.item_index[j])
        seg = self._segments(k)[int(self.segment_rank[j])]
        return torch.from_numpy(seg.copy()), torch.tensor(float(self.items[k].label), dtype=torch.float32), k


# --------------------------------------------------------------------------- loaders


def _worker_init(worker_id: int) -> None:
    info = torch.utils.data.get_worker_info()
    base = info.seed if info is not None else worker_id
    np.random.seed((base + worker_id) % 2**32)
    import random

    random.seed(base + worker_id)
    torch.set_num_threads(1)  # decoding workers must not fight the training process for cores


def make_loader(
    dataset: torch.utils.data.Dataset,
    batch_size: int,
    shuffle: bool,
    num_workers: int | None = None,
    seed: int = 0,
    **kwargs: Any,
) -> torch.utils.data.DataLoader:
    """A :class:`torch.utils.data.DataLoader` that decodes and augments in worker processes.

    Parameters
    ----------
    dataset : Dataset
        E.g. :class:`TrainSegments` or :class:`EvalSegments`.
    batch_size : int
    shuffle : bool
        Shuffle with a generator seeded by ``seed`` (the same order for the same seed).
    num_workers : int, optional
        Worker processes; default ``min(4, cpu count - 1)``; 0 decodes in this process.
    seed : int
        Seeds the shuffling generator and, through it, each worker's ``numpy`` /
        ``random`` state (``TrainSegments`` does not depend on those: its draws are
        seeded by index and epoch).
    **kwargs
        Passed on to ``DataLoader`` (e.g. ``sampler``, ``drop_last``).

    Returns
    -------
    DataLoader
        With persistent workers (when there are any) and one-thread workers.
    """
    if num_workers is None:
        num_workers = max(0, min(4, (os.cpu_count() or 1) - 1))
    g = torch.Generator()
    g.manual_seed(int(seed))
    opts: dict[str, Any] = dict(
        batch_size=batch_size,
        shuffle=shuffle if "sampler" not in kwargs and "batch_sampler" not in kwargs else False,
        num_workers=int(num_workers),
        generator=g,
        worker_init_fn=_worker_init if num_workers > 0 else None,
        persistent_workers=num_workers > 0,
    )
    if num_workers > 0:
        opts["prefetch_factor"] = 2
    opts.update(kwargs)
    if "batch_sampler" in kwargs:  # it fixes the batches itself
        for k in ("batch_size", "shuffle", "drop_last", "sampler"):
            opts.pop(k, None)
    return torch.utils.data.DataLoader(dataset, **opts)
