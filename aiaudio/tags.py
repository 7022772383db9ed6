"""Read the tags of audio files (ID3, Vorbis comments, MP4 atoms) and group files by them.

>>> from aiaudio.tags import read_tags, group_key
>>> read_tags("song.mp3")                          # doctest: +SKIP
{'artist': 'Reason Moon', 'album': 'A Thousand Plateaus', 'title': 'Blue Hour', ...}
>>> group_key("music/Reason Moon/song.mp3", "artist")   # doctest: +SKIP
('Reason Moon', 'tag')

Tags are read with `mutagen <https://mutagen.readthedocs.io>`_ in its "easy" mode, which
gives the same lower-case keys (``artist``, ``albumartist``, ``album``, ``title``, ``genre``,
``date``, ...) for ID3 (MP3), Vorbis comments (FLAC, Ogg Vorbis, Opus) and MP4 atoms (M4A).
A file without tags, or one mutagen cannot read, has no tags: grouping then falls back to
its folder.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["GROUP_BY_CHOICES", "read_tags", "group_key", "parse_group_by"]

#: Ways to group files: by a tag (falling back to folders) or by folder.
GROUP_BY_CHOICES = ("artist", "album", "folder", "tag:FIELD")


def read_tags(path: str | os.PathLike[str]) -> dict[str, str]:
    """The tags of one file, as ``{lower-case key: first value}``.

    Parameters
    ----------
    path : path
        An audio file.

    Returns
    -------
    dict
        Empty when the file has no tags or mutagen cannot read it (tags are a hint for
        grouping, never a reason to fail). Values are stripped strings; empty values are
        left out. Besides mutagen's easy keys, raw keys of Vorbis comments and ID3
        ``TXXX`` frames are kept (lower-case) so that ``tag:FIELD`` can name any field.
    """
    try:
        import mutagen
    except ImportError as e:  # pragma: no cover - a declared dependency
        from .errors import MissingDependencyError

        raise MissingDependencyError("reading tags needs mutagen: pip install mutagen") from e
    out: dict[str, str] = {}
    try:
        easy = mutagen.File(os.fspath(path), easy=True)
    except Exception:  # mutagen raises its own errors and plain OSErrors on bad files
        easy = None
    if easy is not None and easy.tags is not None:
        for k, v in easy.tags.items():
            val = _first(v)
            if val:
                out.setdefault(str(k).lower(), val)
    try:  # raw frames too: ID3 TXXX descriptions, MP4 freeform atoms, any Vorbis comment
        raw = mutagen.File(os.fspath(path))
    except Exception:
        raw = None
    if raw is not None and raw.tags is not None:
        for k, v in _raw_items(raw.tags):
            if v:
                out.setdefault(k, v)
    return out


def _first(v: object) -> str:
    if isinstance(v, (list, tuple)):
        v = v[0] if v else ""
    if isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    return str(v).strip()


def _raw_items(tags: object) -> list[tuple[str, str]]:
    items: list[tuple[str, str]] = []
    try:
        pairs = list(tags.items())  # type: ignore[attr-defined]
    except Exception:
        return items
    for k, v in pairs:
        key = str(k)
        if key.startswith("TXXX:"):
            key = key[5:]
        elif key.startswith("----:"):  # MP4 freeform: ----:com.apple.iTunes:NAME
            key = key.rsplit(":", 1)[-1]
        elif key.startswith("COMM"):
            key = "comment"
        val = getattr(v, "text", v)
        items.append((key.lower(), _first(val)))
    return items


def parse_group_by(group_by: str) -> tuple[str, str | None]:
    """Check a ``--group-by`` value: ``("artist"|"album"|"folder", None)`` or ``("tag", FIELD)``.

    Raises
    ------
    ValueError
        For any other value, naming the choices.
    """
    if group_by in ("artist", "album", "folder"):
        return group_by, None
    if group_by.startswith("tag:") and len(group_by) > 4:
        return "tag", group_by[4:].strip().lower()
    raise ValueError(f"unknown grouping {group_by!r}; choose artist, album, folder or tag:FIELD (e.g. tag:label)")


def _folder(path: str | os.PathLike[str]) -> str:
    p = Path(path).resolve().parent
    return p.name or str(p)


def group_key(path: str | os.PathLike[str], group_by: str = "artist", tags: dict[str, str] | None = None) -> tuple[str, str]:
    """The group a file belongs to, and where it came from (``"tag"`` or ``"folder"``).

    Parameters
    ----------
    path : path
        The audio file.
    group_by : str
        ``"artist"`` (album artist, else artist tag), ``"album"`` (album tag, prefixed by
        the album artist or artist when there is one), ``"folder"`` (the file's folder), or
        ``"tag:FIELD"`` (any tag). A file without the tag is grouped by its folder.
    tags : dict, optional
        The file's tags when already read (else :func:`read_tags` reads them).

    Returns
    -------
    (str, str)
        The group name and ``"tag"`` or ``"folder"``.
    """
    kind, field = parse_group_by(group_by)
    if kind == "folder":
        return _folder(path), "folder"
    t = read_tags(path) if tags is None else tags
    artist = t.get("albumartist") or t.get("artist") or ""
    if kind == "artist":
        value = artist
    elif kind == "album":
        album = t.get("album", "")
        value = f"{artist} / {album}" if album and artist else album
    else:
        value = t.get(field or "", "")
    if value:
        return value, "tag"
    return _folder(path), "folder"
