"""An :class:`Item` (one audio file, its label, generator, group, source) and the readers of item lists:
folders, CSV manifests, the SONICS and FakeMusicCaps layouts, :func:`load_items` for all four.
"""

from __future__ import annotations

import csv
import math
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any


from ...files import audio_entries


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
            p = Path(os.path.expanduser(rel))  # "~/..." is the reader's home: a manifest that travels between machines
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


