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
"""

from __future__ import annotations

import csv
import fnmatch
import math
import multiprocessing
import multiprocessing.context
import os
import re
import warnings
from collections import Counter, OrderedDict, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
import torch.utils.data

from ..audio import AudioLoadError, audio_info, load_audio, resample, stream_audio, to_mono
from ..files import audio_entries
from ..frontend import FrontendConfig, segment_starts

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

AI, HUMAN = 1, 0


@dataclass(frozen=True)
class Item:
    """One audio file of a dataset.

    Attributes
    ----------
    path : str
        Absolute path of the audio file.
    label : int
        1 = AI-generated, 0 = human-made.
    generator : str
        What made it, e.g. ``"suno-v5"``, ``"musicgen_medium"``; ``"human"`` for human music.
    group : str
        Source-track id: a track and everything made from it share it, so a split keeps
        them on one side.
    source : str
        Dataset or folder it came from (for per-source tables).
    duration_s : float or None
        Duration in seconds when known (filled lazily by the segment datasets otherwise).
    family : str
        Generator family (``"suno"``, ``"musicgen"``, ``"codec-reconstruction"``, ...; for
        human items e.g. ``"human-commercial"``), when the manifest says; ``hold_out``
        takes ``family:NAME`` patterns, and :func:`split_by_group` stratifies by it.
    role : str
        ``"eval"``: evaluation only (e.g. AI over a real recording); splits never put it in
        training. ``""`` or ``"train"``: usable for training.
    probable : bool
        The label rests on indirect evidence (report such items separately).
    vocals : str
        ``"yes"`` / ``"no"`` / ``"unknown"`` / ``""`` (not stated).
    """

    path: str
    label: int
    generator: str
    group: str
    source: str = ""
    duration_s: float | None = None
    family: str = ""
    role: str = ""
    probable: bool = False
    vocals: str = ""


# --------------------------------------------------------------------------- helpers


def _audio_files(folder: Path) -> list[Path]:
    """Audio files under ``folder`` (recursive, hidden files and folders skipped), in walk order."""
    return [p for p in audio_entries(folder) if p.is_file()]


def _subdir(root: Path, name: str) -> Path | None:
    """``root/name`` matched case-insensitively, or None."""
    if not root.is_dir():
        return None
    for d in sorted(root.iterdir()):
        if d.is_dir() and d.name.lower() == name.lower():
            return d
    return None


_LABELS = {
    "ai": AI, "fake": AI, "1": AI, "generated": AI, "synthetic": AI, "true": AI,
    "human": HUMAN, "real": HUMAN, "0": HUMAN, "false": HUMAN,
}


def _parse_label(value: Any, where: str) -> int:
    key = str(value).strip().lower()
    if key.endswith(".0"):
        key = key[:-2]
    if key not in _LABELS:
        raise ValueError(
            f"{where}: label {value!r} is not understood; use 'ai' or 'human' (or 1 / 0)."
        )
    return _LABELS[key]


def _float_or_none(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) and v > 0 else None


def _yes(value: str) -> bool:
    return value.strip().lower() in ("yes", "true", "1", "y")


def _clean_generator(name: str) -> str:
    """Drop a trailing parenthetical note: ``'suno-v5 (96kbps re-encode)'`` -> ``'suno-v5'``."""
    return re.sub(r"\s*\([^()]*\)\s*$", "", name.strip()) or name.strip()


# --------------------------------------------------------------------------- sources


def from_folder(root: str | os.PathLike[str]) -> list[Item]:
    """Items of a folder laid out as ``ai/`` and ``human/``.

    Layout::

        root/ai/<generator>/**/*.wav|mp3|flac|...     label 1, generator = <generator>
        root/ai/*.wav                                 label 1, generator 'ai'
        root/human/<source>/**/*...                   label 0, generator 'human'
        root/human/*.wav                              label 0, generator 'human'

    Folder names match case-insensitively. ``source`` is the first subfolder (``'ai'`` /
    ``'human'`` for files directly under them); ``group`` is the file name without its
    extension, so reconstructions named like their source track (Deezer's layout) share
    a group with it. Give groups explicitly with a CSV manifest when names collide.

    Raises
    ------
    ValueError
        If ``root`` has neither an ``ai/`` nor a ``human/`` folder.
    """
    root = Path(root)
    items: list[Item] = []
    found = False
    for name, label in (("ai", AI), ("human", HUMAN)):
        d = _subdir(root, name)
        if d is None:
            continue
        found = True
        for p in _audio_files(d):
            rel = p.relative_to(d)
            sub = rel.parts[0] if len(rel.parts) > 1 else name
            generator = sub if label == AI else "human"
            items.append(Item(os.path.abspath(p), label, generator, p.stem, sub))
    if not found:
        raise ValueError(f"{root}: expected an 'ai/' and/or a 'human/' folder with audio files in it.")
    return items


def from_manifest(csv_path: str | os.PathLike[str], root: str | os.PathLike[str] | None = None) -> list[Item]:
    """Items of a CSV manifest.

    Columns (header required; extra columns are ignored):

    ``path``
        Audio file; relative paths are taken from ``root``, or else from the CSV's folder.
    ``label``
        ``ai`` / ``human`` (also ``fake`` / ``real``, ``1`` / ``0``).
    ``generator`` (optional)
        Default: ``'human'`` for human items; for AI items the source folder's name. A
        trailing note in parentheses is dropped (``'suno-v5 (96kbps re-encode)'`` -> ``'suno-v5'``).
    ``group`` (optional)
        Default: the file name without extension (so ``ai/deezer-lac2/000002.mp3`` and
        ``human/deezer-fma-real/000002.mp3`` share group ``000002``).
    ``source`` (optional)
        Default: the first folder of the path, skipping a leading ``ai/`` or ``human/``
        folder (``ai/acestep-demo/x.opus`` -> ``acestep-demo``); the CSV's name for files
        at the top level.
    ``duration_s`` or ``duration`` (optional)
        Seconds.
    ``family``, ``role``, ``probable``, ``has_vocals`` (optional)
        See :class:`Item`. ``probable`` is true for ``yes`` / ``true`` / ``1``. Without a
        ``role``, a row with ``part_human`` = ``yes`` gets role ``"eval"``.

    Raises
    ------
    ValueError
        Missing columns, or a label that is not understood (with the row number).
    """
    csv_path = Path(csv_path)
    base = Path(root) if root is not None else csv_path.parent
    items: list[Item] = []
    with csv_path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        cols = {c.strip().lower(): c for c in (reader.fieldnames or [])}
        missing = [c for c in ("path", "label") if c not in cols]
        if missing:
            raise ValueError(
                f"{csv_path}: missing column(s) {missing}; a manifest needs a header with at least "
                f"'path,label' (optional: generator, group, source, duration_s). Found: {reader.fieldnames}"
            )

        def get(row: dict, key: str) -> str:
            c = cols.get(key)
            return (row.get(c) or "").strip() if c else ""

        for i, row in enumerate(reader, start=2):
            rel = get(row, "path")
            if not rel:
                continue
            label = _parse_label(get(row, "label"), f"{csv_path}, line {i}")
            p = Path(rel)
            full = p if p.is_absolute() else base / p
            parts = Path(rel.replace("\\", "/")).parts if not p.is_absolute() else ()
            folders = list(parts[:-1])
            if folders and folders[0].lower() in ("ai", "human"):
                folders = folders[1:]
            source = get(row, "source") or (folders[0] if folders else (p.parent.name if p.is_absolute() else csv_path.stem))
            generator = get(row, "generator")
            generator = _clean_generator(generator) if generator else ("human" if label == HUMAN else (source or "ai"))
            group = get(row, "group") or p.stem
            duration = _float_or_none(get(row, "duration_s") or get(row, "duration"))
            role = get(row, "role").lower() or ("eval" if _yes(get(row, "part_human")) else "")
            items.append(Item(os.path.abspath(full), label, generator, group, source, duration,
                              family=get(row, "family"), role=role, probable=_yes(get(row, "probable")),
                              vocals=get(row, "has_vocals").lower()))
    return items


def _find_sonics_root(root: Path) -> Path | None:
    for cand in (root, root / "dataset", root / "sonics"):
        if (cand / "fake_songs.csv").is_file() or (cand / "real_songs.csv").is_file():
            return cand
        if _subdir(cand, "fake_songs") is not None and _subdir(cand, "real_songs") is not None:
            return cand
    return None


def from_sonics(root: str | os.PathLike[str]) -> list[Item]:
    """Items of the SONICS dataset (Rahman et al., ICLR 2025; ``awsaf49/sonics`` on Hugging Face).

    Layout (after unzipping ``fake_songs/part_*.zip``; files may sit in subfolders)::

        root/fake_songs.csv   root/fake_songs/<filename>.mp3     AI (Suno, Udio)
        root/real_songs.csv   root/real_songs/<filename>.mp3     human (YouTube downloads)

    Columns used (the rest, e.g. ``split``, ``lyrics_features``, ``genre``, are ignored):

    - ``filename``: the file name without (or with) extension, e.g. ``fake_22147_suno_0``;
    - ``algorithm`` (fake): the generator, e.g. ``chirp-v3.5`` (Suno) or ``udio-130``;
      lower-cased. Missing -> parsed from the file name (``suno`` / ``udio``);
    - ``id``: the song / prompt id. Fake songs with the same id (``fake_<id>_suno_0`` and
      ``_1``: two generations from one prompt) share group ``sonics-fake-<id>``; real
      songs get ``sonics-real-<id>`` (``youtube_id``, else the file name, when no id);
    - ``duration`` (s), when present.

    Rows whose audio file is missing (real songs must be fetched from YouTube; not all
    survive) are skipped with one warning. Without the CSVs, the folders are scanned and
    generator and id parsed from ``fake_<id>_<generator>_<n>`` names. Labels: every fake
    song (full / mostly / half fake) is 1, every real song 0. ``source`` is ``'sonics'``.
    """
    base = _find_sonics_root(Path(root))
    if base is None:
        raise ValueError(f"{root}: not a SONICS folder (expected fake_songs.csv / real_songs.csv or fake_songs/ and real_songs/).")
    items: list[Item] = []
    for kind, label in (("fake", AI), ("real", HUMAN)):
        folder = _subdir(base, f"{kind}_songs")
        index: dict[str, Path] = {}
        if folder is not None:
            for p in _audio_files(folder):
                index.setdefault(p.stem, p)
                index.setdefault(p.name, p)
        table = base / f"{kind}_songs.csv"
        if table.is_file():
            missing = 0
            with table.open(newline="", encoding="utf-8-sig") as fh:
                for row in csv.DictReader(fh):
                    name = (row.get("filename") or "").strip()
                    p = index.get(name) or index.get(Path(name).stem)
                    if p is None:
                        missing += 1
                        continue
                    sid = (row.get("id") or "").strip()
                    if label == AI:
                        gen = (row.get("algorithm") or "").strip().lower() or _sonics_name(p.stem)[0]
                        group = f"sonics-fake-{sid or _sonics_name(p.stem)[1]}"
                    else:
                        gen = "human"
                        group = f"sonics-real-{sid or (row.get('youtube_id') or '').strip() or p.stem}"
                    items.append(Item(os.path.abspath(p), label, gen, group, "sonics", _float_or_none(row.get("duration"))))
            if missing:
                warnings.warn(
                    f"{table}: {missing} rows have no audio file under {folder or base / f'{kind}_songs'}; skipped.",
                    stacklevel=2,
                )
        else:
            for p in sorted(set(index.values())):
                if label == AI:
                    gen, sid = _sonics_name(p.stem)
                    items.append(Item(os.path.abspath(p), AI, gen, f"sonics-fake-{sid}", "sonics"))
                else:
                    items.append(Item(os.path.abspath(p), HUMAN, "human", f"sonics-real-{p.stem}", "sonics"))
    return items


def _sonics_name(stem: str) -> tuple[str, str]:
    """``fake_22147_suno_0`` -> (``'suno'``, ``'22147'``); unknown patterns -> (``'sonics'``, stem)."""
    m = re.match(r"^fake_(\d+)_([A-Za-z0-9.\-]+?)(?:_\d+)?$", stem)
    return (m.group(2).lower(), m.group(1)) if m else ("sonics", stem)


#: Text-to-music folders of FakeMusicCaps (v1 on Zenodo); other folders count as generators too.
FAKEMUSICCAPS_MODELS = ("MusicGen_medium", "musicldm", "audioldm2", "stable_audio_open", "mustango")


def _find_fmc_root(root: Path) -> Path | None:
    known = {m.lower() for m in FAKEMUSICCAPS_MODELS}
    for cand in (root, root / "FakeMusicCaps"):
        if cand.is_dir():
            names = {d.name.lower() for d in cand.iterdir() if d.is_dir()}
            if len(names & known) >= 2:
                return cand
    return None


def _musiccaps_id(stem: str) -> str:
    """The YouTube id of a MusicCaps-named file: ``'[-0Gj8-vB1q4]-[30-40]'`` or ``'-0Gj8-vB1q4'`` -> ``'-0Gj8-vB1q4'``."""
    m = re.match(r"^\[([^\]]+)\]", stem)
    return m.group(1) if m else stem


def from_fakemusiccaps(root: str | os.PathLike[str]) -> list[Item]:
    """Items of FakeMusicCaps (Comanducci, Bestagini & Tubaro 2024; Zenodo record 13732524).

    Layout (the Zenodo archive unpacks to ``FakeMusicCaps/``; either level may be given)::

        root/MusicGen_medium/<ytid>.wav        AI, one folder per text-to-music model:
        root/musicldm/<ytid>.wav               MusicGen_medium, musicldm, audioldm2,
        root/audioldm2/...                     stable_audio_open, mustango (10 s, 16 kHz mono)
        root/MusicCaps/<ytid>.wav              human: the real MusicCaps clips (optional;
                                               they are not in the archive, fetch them yourself)

    Each fake is generated from the caption of the MusicCaps clip whose YouTube id names
    the file, so ``group = 'musiccaps-<ytid>'`` keeps a real clip and all fakes of its
    caption together (file names like ``[ytid]-[30-40].wav`` are understood too).
    ``generator`` is the folder name lower-cased; any other folder than ``MusicCaps``
    counts as a generator (later versions add models). ``source`` is ``'fakemusiccaps'``.
    """
    base = _find_fmc_root(Path(root))
    if base is None:
        raise ValueError(
            f"{root}: not a FakeMusicCaps folder (expected at least two of the model folders "
            f"{', '.join(FAKEMUSICCAPS_MODELS)})."
        )
    items: list[Item] = []
    for d in sorted(x for x in base.iterdir() if x.is_dir() and not x.name.startswith(".")):
        real = d.name.lower() == "musiccaps"
        for p in _audio_files(d):
            group = f"musiccaps-{_musiccaps_id(p.stem)}"
            if real:
                items.append(Item(os.path.abspath(p), HUMAN, "human", group, "fakemusiccaps"))
            else:
                items.append(Item(os.path.abspath(p), AI, d.name.lower(), group, "fakemusiccaps"))
    return items


def load_items(spec: str | os.PathLike[str]) -> list[Item]:
    """Items from a dataset given by path, its kind recognised from what is there.

    In this order:

    1. a ``.csv`` file: a manifest (:func:`from_manifest`);
    2. a folder with ``manifest.csv``: that manifest (it carries more than folder names);
    3. a folder with ``fake_songs.csv`` / ``real_songs.csv`` or ``fake_songs/`` + ``real_songs/``: SONICS;
    4. a folder with two or more FakeMusicCaps model folders (``MusicGen_medium/``, ``musicldm/``, ...);
    5. a folder with ``ai/`` and/or ``human/``: :func:`from_folder`.

    Raises
    ------
    ValueError
        If the path is none of these (the message lists what was expected).
    FileNotFoundError
        If the path does not exist.
    """
    p = Path(spec).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"{spec}: no such file or folder.")
    if p.is_file():
        if p.suffix.lower() == ".csv":
            return from_manifest(p)
        raise ValueError(f"{spec}: a dataset file must be a CSV manifest (path,label[,generator,group,source]).")
    if (p / "manifest.csv").is_file():
        return from_manifest(p / "manifest.csv")
    if _find_sonics_root(p) is not None:
        return from_sonics(p)
    if _find_fmc_root(p) is not None:
        return from_fakemusiccaps(p)
    if _subdir(p, "ai") is not None or _subdir(p, "human") is not None:
        return from_folder(p)
    raise ValueError(
        f"{spec}: cannot tell what dataset this is. Expected one of: a CSV manifest "
        "(path,label[,generator,group,source]); a folder with manifest.csv; a folder with "
        "ai/ and human/ subfolders; a SONICS folder (fake_songs.csv, real_songs.csv, "
        "fake_songs/, real_songs/); a FakeMusicCaps folder (MusicGen_medium/, musicldm/, "
        "audioldm2/, stable_audio_open/, mustango/, MusicCaps/)."
    )


# --------------------------------------------------------------------------- splits


def _groups(items: Sequence[Item]) -> dict[str, list[int]]:
    g: dict[str, list[int]] = defaultdict(list)
    for i, it in enumerate(items):
        g[it.group].append(i)
    return g


def split_by_group(
    items: Sequence[Item],
    val_frac: float = 0.15,
    test_frac: float = 0.15,
    seed: int = 0,
    stratify: bool = True,
) -> dict[str, list[Item]]:
    """Split items into train / validation / test so that no group is in two splits.

    Groups are shuffled with ``seed`` and dealt out per stratum: test first until it
    holds ``test_frac`` of the stratum's items, then validation, the rest to training
    (a stratum always keeps at least one group for training). With ``stratify`` the
    strata are the groups' label mix (AI only, human only, both) crossed with their most
    common generator (for human-only groups: their source); strata of fewer than three
    groups are pooled by label mix. So every split gets both labels, and most generators
    and sources, whenever there are groups enough; small strata give validation and test
    one group each, so their shares can exceed ``val_frac`` / ``test_frac``. Where items
    carry a ``family`` (see :class:`Item`), it takes the generator's (AI) or the source's
    (human) place in the strata, so e.g. commercial human releases are dealt out as one
    stratum and reach every split.

    A group that holds an evaluation-only item (``role == "eval"``: AI mixed over a real
    recording, say) goes to test whole, as the first part of its stratum's test share:
    such items never train, and their group-mates (the real recording they were made
    from) stay on their side.

    Parameters
    ----------
    items : sequence of Item
    val_frac, test_frac : float
        Shares of items (approximately: whole groups move) for validation and test.
    seed : int
        Shuffling seed; the same items and seed give the same split.
    stratify : bool
        Balance label mix and generators across the splits.

    Returns
    -------
    dict
        ``{'train': [...], 'val': [...], 'test': [...]}``, each in the input order.
    """
    if not (0 <= val_frac < 1 and 0 <= test_frac < 1 and val_frac + test_frac < 1):
        raise ValueError(f"need 0 <= val_frac, test_frac and val_frac + test_frac < 1; got {val_frac}, {test_frac}")
    groups = _groups(items)
    eval_groups = {g for g, idx in groups.items() if any(items[i].role == "eval" for i in idx)}
    keys: dict[str, tuple] = {}
    for g, idx in groups.items():
        labels = tuple(sorted({items[i].label for i in idx}))
        if stratify:  # AI and mixed groups by family or generator, human groups by family or source
            gens = Counter((items[i].family or items[i].generator) if labels != (HUMAN,)
                           else (items[i].family or items[i].source or "human") for i in idx)
            top = sorted(gens.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
            keys[g] = (labels, top)
        else:
            keys[g] = ((), "")
    if stratify:  # pool small strata by label mix
        sizes = Counter(keys.values())
        keys = {g: (k if sizes[k] >= 3 else (k[0], "*")) for g, k in keys.items()}
    strata: dict[tuple, list[str]] = defaultdict(list)
    for g in sorted(keys):
        strata[keys[g]].append(g)
    rng = np.random.default_rng(seed)
    where: dict[str, str] = {g: "test" for g in eval_groups}
    for key in sorted(strata, key=repr):
        total = sum(len(groups[g]) for g in strata[key])
        target = {"test": test_frac * total, "val": val_frac * total}
        # groups with evaluation-only items are test's first share of their stratum
        have = {"test": sum(len(groups[g]) for g in strata[key] if g in eval_groups), "val": 0}
        gs = [g for g in strata[key] if g not in eval_groups]
        if not gs:
            continue
        order = rng.permutation(len(gs))
        left = len(gs)
        for j in order:
            g = gs[j]
            dest = "train"
            if left > 1:  # keep at least one group of the stratum for training
                for name in ("test", "val"):
                    if have[name] < target[name] and target[name] > 0:
                        dest = name
                        break
            if dest != "train":
                have[dest] += len(groups[g])
            where[g] = dest
            left -= 1
    out: dict[str, list[Item]] = {"train": [], "val": [], "test": []}
    for it in items:
        out[where[it.group]].append(it)
    return out


def hold_out(
    items: Sequence[Item], generators: Iterable[str], drop_shared: bool = False
) -> tuple[list[Item], list[Item]]:
    """Take every item of some generators out, for a leave-generators-out test.

    Parameters
    ----------
    items : sequence of Item
    generators : iterable of str
        Generator names or shell patterns (``'udio*'``, ``'*-reconstruction'``), matched
        case-sensitively with :func:`fnmatch.fnmatchcase`. A pattern ``'family:NAME'``
        matches the items' ``family`` instead (``'family:suno'``, ``'family:codec-*'``):
        a whole family or service. Its groups leave the rest entirely, as with
        ``drop_shared`` (a demo page that compares several models is one group: the
        other models' items of it are dropped, so no group is on both sides).
    drop_shared : bool
        Also drop (from both lists) items of *other* generators that share a group with a
        held-out item: e.g. the other reconstructions of the same source tracks.

    Returns
    -------
    rest : list of Item
        Everything else.
    held : list of Item
        Items of those generators, plus the human items of their groups (so the source
        track of a held-out reconstruction cannot leak into training).
    """
    pats = [g for g in generators]
    if not pats:
        return list(items), []
    fam_pats = [p[len("family:"):] for p in pats if p.startswith("family:")]
    gen_pats = [p for p in pats if not p.startswith("family:")]
    drop_shared = drop_shared or bool(fam_pats)

    def match(it: Item) -> bool:
        return (any(fnmatch.fnmatchcase(it.generator, p) for p in gen_pats)
                or (bool(it.family) and any(fnmatch.fnmatchcase(it.family, p) for p in fam_pats)))

    matched = [match(it) for it in items]
    held_groups = {it.group for it, m in zip(items, matched) if m}
    rest, held = [], []
    for it, m in zip(items, matched):
        if m or (it.label == HUMAN and it.group in held_groups):
            held.append(it)
        elif drop_shared and it.group in held_groups:
            continue
        else:
            rest.append(it)
    return rest, held


def leave_one_family_out(
    items: Sequence[Item],
    families: Iterable[str] | None = None,
    val_frac: float = 0.15,
    test_frac: float = 0.15,
    seed: int = 0,
) -> dict[str, dict[str, list[Item]]]:
    """Folds that each hold out one generator family (or service) whole.

    For each family ``F``: :func:`hold_out` with ``'family:F'`` (F's items, the human items
    of their groups, and no other item of those groups anywhere), then
    :func:`split_by_group` on the rest. A fold is evaluated on ``holdout`` + ``test``
    (``scripts/leave_one_out.py`` does this): the AUC of F against the human test items
    says how the detector does on a family it never saw.

    Parameters
    ----------
    items : sequence of Item
        Items with ``family`` set (e.g. from a manifest with a ``family`` column).
    families : iterable of str, optional
        Families (or ``fnmatch`` patterns) to hold out, one per fold; default every family
        of an AI item.
    val_frac, test_frac, seed
        For :func:`split_by_group`.

    Returns
    -------
    dict
        ``{family: {'train': [...], 'val': [...], 'test': [...], 'holdout': [...]}}``.

    Raises
    ------
    ValueError
        If no item has a family.
    """
    items = list(items)
    if families is None:
        families = sorted({it.family for it in items if it.label == AI and it.family})
    families = list(families)
    if not families:
        raise ValueError("no item has a family; use a manifest with a 'family' column, or hold out generators with hold_out()")
    folds: dict[str, dict[str, list[Item]]] = {}
    for fam in families:
        rest, held = hold_out(items, [f"family:{fam}"])
        sp = split_by_group(rest, val_frac=val_frac, test_frac=test_frac, seed=seed)
        folds[fam] = {**sp, "holdout": held}
    return folds


def summarize(items: Sequence[Item]) -> str:
    """Counts (and minutes, where durations are known) per label, generator and source.

    Returns
    -------
    str
        A small text table, for printing.
    """
    items = list(items)
    if not items:
        return "0 items"

    def minutes(its: list[Item]) -> str:
        d = [it.duration_s for it in its if it.duration_s]
        if not d:
            return ""
        s = f"{sum(d) / 60:.1f} min"
        return s if len(d) == len(its) else s + f" ({len(d)} known)"

    def block(title: str, key: Callable[[Item], str]) -> list[str]:
        by: dict[str, list[Item]] = defaultdict(list)
        for it in items:
            by[key(it)].append(it)
        width = max(len(k) for k in by)
        rows = [f"  by {title}:"]
        for k in sorted(by, key=lambda k: (-len(by[k]), k)):
            its = by[k]
            n_ai = sum(it.label == AI for it in its)
            lab = "ai" if n_ai == len(its) else "human" if n_ai == 0 else f"{n_ai} ai / {len(its) - n_ai} human"
            m = minutes(its)
            rows.append(f"    {k:<{width}}  {len(its):5d}  {lab}" + (f"  {m}" if m else ""))
        return rows

    n_ai = sum(it.label == AI for it in items)
    groups = len({it.group for it in items})
    lines = [f"{len(items)} items ({n_ai} ai, {len(items) - n_ai} human), {groups} groups" + (f", {minutes(items)}" if minutes(items) else "")]
    if any(it.family for it in items):
        lines += block("family", lambda it: it.family or "-")
    lines += block("generator", lambda it: it.generator)
    lines += block("source", lambda it: it.source or "-")
    flags = {"evaluation only (role eval)": sum(it.role == "eval" for it in items),
             "probable label": sum(it.probable for it in items)}
    if any(flags.values()):
        lines.append("  flagged: " + ", ".join(f"{v} {k}" for k, v in flags.items() if v))
    return "\n".join(lines)


# --------------------------------------------------------------------------- segment datasets


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
