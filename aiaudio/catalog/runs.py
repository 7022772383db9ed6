"""A catalogue run: rows of ``aiaudio score`` (or files scored here) grouped, combined and written."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from .combination import CatalogModel, load_catalog_model
from .verdicts import GroupVerdict, SongEntry, group_verdict, song_tier

if TYPE_CHECKING:
    from ..detector import Detector
    from ..model import ModelConfig


@dataclass
class Catalog:
    """A catalogue run: one verdict per group, and every song.

    Attributes
    ----------
    groups : list of GroupVerdict
        Sorted by combined ``p_ai``, highest first.
    songs : list of SongEntry
        Every input, in input order.
    model : CatalogModel
        The combination used.
    model_version : str
        The song model.
    group_by : str
    """

    groups: list[GroupVerdict]
    songs: list[SongEntry]
    model: CatalogModel
    model_version: str = ""
    group_by: str = "artist"

    def rows(self) -> list[dict[str, Any]]:
        """One flat row per group (the CSV of ``aiaudio catalog``)."""
        return [group_row(g) for g in self.groups]


#: Columns of the catalogue CSV.
CATALOG_COLUMNS = [
    "group", "n_songs", "n_errors", "verdict", "p_ai", "p_low", "p_high",
    "n_likely_ai", "n_needs_review", "n_no_ai_signal", "top_songs", "deciding_songs",
    "minority", "reason", "spread", "grouped_by",
]


def _fmt_ranges(r: Sequence[tuple[float, float]]) -> str:
    def mmss(t: float) -> str:
        s = int(round(t))
        return f"{s // 60}:{s % 60:02d}"

    return ",".join(f"{mmss(a)}-{mmss(b)}" for a, b in r)


def group_row(g: GroupVerdict) -> dict[str, Any]:
    """A :class:`GroupVerdict` as one flat CSV row."""
    return {
        "group": g.name,
        "n_songs": g.n_songs,
        "n_errors": g.n_errors,
        "verdict": g.verdict,
        "p_ai": g.p_ai,
        "p_low": g.p_low,
        "p_high": g.p_high,
        "n_likely_ai": g.counts.get("Likely AI", 0),
        "n_needs_review": g.counts.get("Needs review", 0),
        "n_no_ai_signal": g.counts.get("No AI signal found", 0),
        "top_songs": "; ".join(
            f"{Path(s['path']).name} ({s['p_ai']:.2f}{' @ ' + _fmt_ranges(s['ranges']) if s['ranges'] else ''})" for s in g.top_songs
        ),
        "deciding_songs": "; ".join(f"{Path(s['path']).name} ({s['share']:+.0%})" for s in g.deciding),
        "minority": "; ".join(Path(p).name for p in g.minority),
        "reason": g.reason,
        "spread": g.spread,
        "grouped_by": g.grouped_by,
    }


def songs_from_rows(
    rows: Iterable[Mapping[str, Any]], config: "ModelConfig", group_by: str = "artist"
) -> list[SongEntry]:
    """Song entries from rows of ``aiaudio score`` (CSV or JSON lines, ``--segments`` for timelines).

    The group of each song comes from its tags (``group_by``), else its folder.

    Raises
    ------
    MissingDependencyError
        When grouping by tag and mutagen is not installed.
    """
    from ..errors import MissingDependencyError
    from ..tags import group_key, parse_group_by, read_tags

    by_folder = parse_group_by(group_by)[0] == "folder"
    out: list[SongEntry] = []
    for r in rows:
        path = str(r["path"])
        err = str(r.get("error") or "")
        p = r.get("p_ai")
        p = float(p) if p not in (None, "") else float("nan")
        try:
            tags = read_tags(path) if os.path.exists(path) else {}
        except MissingDependencyError:
            if not by_folder:  # grouping by tag needs the tag reader; by folder, tags only add titles
                raise
            tags = {}
        group, src = group_key(path, group_by, tags=tags)
        segs = [(float(a), float(b), float(q)) for a, b, q in (r.get("segments") or [])]
        flags = r.get("flags") or []
        if isinstance(flags, str):
            flags = [f for f in flags.split(";") if f]
        verdict = "" if err or not math.isfinite(p) else song_tier(p, config)
        keep = {k: tags[k] for k in ("artist", "albumartist", "album", "title") if k in tags}
        out.append(SongEntry(path, group, src, p, verdict, segs, err, list(flags), keep))
    return out


def build_catalog(songs: Sequence[SongEntry], cm: CatalogModel, config: "ModelConfig", *, model_version: str = "", group_by: str = "artist") -> Catalog:
    """Group song entries and give every group its verdict."""
    by: dict[str, list[SongEntry]] = {}
    for s in songs:
        by.setdefault(s.group, []).append(s)
    groups = [group_verdict(name, ss, cm, config) for name, ss in by.items()]
    groups.sort(key=lambda g: (-(g.p_ai if math.isfinite(g.p_ai) else -1.0), g.name))
    return Catalog(groups, list(songs), cm, model_version, group_by)


def _score_to_row(path: str, result: Any) -> dict[str, Any]:
    from ..detector import Score

    if isinstance(result, Score):
        return {
            "path": path, "p_ai": result.p_ai, "error": "", "flags": result.flags,
            "segments": [(g.start_s, g.end_s, g.p_ai) for g in result.segments],
        }
    msg = str(result) if hasattr(result, "__str__") else repr(result)
    return {"path": path, "p_ai": None, "error": msg or type(result).__name__, "flags": []}


def score_catalog(
    paths: Sequence[str | os.PathLike[str]],
    *,
    group_by: str = "artist",
    model: str | os.PathLike[str] | None = None,
    detector: "Detector | None" = None,
    recursive: bool = True,
    scores: Iterable[Mapping[str, Any]] | None = None,
    jobs: int | None = None,
    torch_threads: int | None = None,
) -> Catalog:
    """Score files and folders and give a verdict per catalogue (artist, album, folder, tag).

    Parameters
    ----------
    paths : sequence of path
        Audio files and folders (folders are searched recursively unless ``recursive`` is false).
    group_by : str
        ``"artist"``, ``"album"``, ``"folder"`` or ``"tag:FIELD"``; files without the tag are
        grouped by their folder (see :func:`aiaudio.tags.group_key`).
    model : path, optional
        Song model directory (default: the shipped model); its ``catalog.json`` holds the
        fitted combination.
    detector : Detector, optional
        An already loaded detector (``model`` is then ignored).
    recursive : bool
    scores : iterable of dict, optional
        Rows already written by ``aiaudio score`` (``path``, ``p_ai``, ``error``, optional
        ``segments``) to use instead of scoring: files found in them are not scored again.
    jobs, torch_threads : int, optional
        See :func:`aiaudio.batch.score_files`.

    Returns
    -------
    Catalog

    Raises
    ------
    ValueError
        For an unknown ``group_by``.
    ModelLoadError
        When the model (or its catalogue combination) cannot be loaded.
    """
    import warnings

    from ..files import collect_inputs
    from ..detector import UntrainedModelWarning, load_detector
    from ..tags import parse_group_by

    parse_group_by(group_by)
    det = detector if detector is not None else load_detector(model)
    cm = load_catalog_model(det.model_dir) if det.model_dir is not None else CatalogModel()
    files = collect_inputs([os.fspath(p) for p in paths], recursive=recursive)
    rows: dict[str, dict[str, Any]] = {}
    for r in scores or ():
        rows[str(r["path"])] = dict(r)
    todo = [f for f in files if f not in rows]
    if todo:
        from ..batch import score_files

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UntrainedModelWarning)
            for path, result in score_files(det, todo, jobs=jobs, torch_threads=torch_threads):
                rows[path] = _score_to_row(path, result)
    ordered = [rows[f] for f in files] if files else list(rows.values())
    songs = songs_from_rows(ordered, det.config, group_by)
    return build_catalog(songs, cm, det.config, model_version=det.version, group_by=group_by)
