"""Datasets for training and evaluation: item lists, leak-free splits, segment datasets.

An :class:`Item` is one audio file with its label (1 = AI, 0 = human), generator,
group and source. Item lists come from

- a folder with ``ai/`` and ``human/`` subfolders (:func:`from_folder`),
- a CSV manifest ``path,label[,generator,group,source,duration_s]`` (:func:`from_manifest`),
- the published layouts of SONICS (:func:`from_sonics`) and FakeMusicCaps
  (:func:`from_fakemusiccaps`),

or :func:`load_items`, which recognises all four. The ``group`` ties a source track
to everything made from it (a song and its codec reconstructions, a MusicCaps clip
and the fakes generated from its caption): :func:`split_by_group` never puts one
group on two sides of a split, and :func:`hold_out` removes whole generators.

:class:`TrainSegments` draws random segments (decoding only a short window of each
file), :class:`EvalSegments` cuts every item into the same fixed segments the
detector scores; :func:`make_loader` runs either in worker processes.

>>> from aiaudio.training.data import load_items, split_by_group, summarize   # doctest: +SKIP
>>> items = load_items("my_music/")                                   # doctest: +SKIP
>>> splits = split_by_group(items, seed=0)                            # doctest: +SKIP
>>> print(summarize(splits["train"]))                                 # doctest: +SKIP

Modules: :mod:`~aiaudio.training.data.items` (items and their readers),
:mod:`~aiaudio.training.data.splits` (splits and summaries), :mod:`~aiaudio.training.data.segments`
(segment datasets and loaders); this package re-exports their public names.
"""

from .items import AI, FAKEMUSICCAPS_MODELS, HUMAN, Item, from_fakemusiccaps, from_folder, from_manifest, from_sonics, load_items  # noqa: F401
from .splits import hold_out, leave_one_family_out, split_by_group, summarize
from .segments import EvalSegments, TrainSegments, make_loader

__all__ = [
    "EvalSegments",
    "Item",
    "TrainSegments",
    "from_fakemusiccaps",
    "from_folder",
    "from_manifest",
    "from_sonics",
    "hold_out",
    "leave_one_family_out",
    "load_items",
    "make_loader",
    "split_by_group",
    "summarize",
]
