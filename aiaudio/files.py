"""Finding audio files: the one folder walker, used by scoring, evaluation and training data.

Neither a CLI nor a training module: :func:`collect_inputs` is what ``aiaudio score`` and
:func:`aiaudio.training.evaluate.calibrate_on_human` expand their paths with, and
:func:`audio_entries` is what the data-set readers of :mod:`aiaudio.training.data` walk folders with.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, Sequence

from .audio import AUDIO_EXTENSIONS

__all__ = ["audio_entries", "collect_inputs"]


def _named_like_audio(name: str) -> bool:
    return not name.startswith(".") and Path(name).suffix.lower() in AUDIO_EXTENSIONS


def audio_entries(folder: str | os.PathLike[str], recursive: bool = True) -> Iterator[Path]:
    """The entries under ``folder`` named like audio, hidden files and folders skipped.

    Parameters
    ----------
    folder
        The folder to walk.
    recursive
        Walk the whole tree (symbolic links to folders are not followed); else only the
        top level.

    Yields
    ------
    Path
        ``folder / ...`` for each entry whose extension is one of
        :data:`aiaudio.audio.AUDIO_EXTENSIONS` and whose name (and every folder above it
        below ``folder``) does not start with a dot. Entries that are not regular files
        (a folder ``x.mp3/``, a FIFO, a broken link) are yielded too: callers that want
        only files check ``is_file()``. Order: per folder, its entries sorted by name, then
        its sub-folders, sorted, depth first.
    """
    top = Path(folder)
    if not recursive:
        with os.scandir(top) as it:
            names = sorted(e.name for e in it)
        for name in names:
            if _named_like_audio(name):
                yield top / name
        return
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames + dirnames):
            if _named_like_audio(name):
                yield Path(dirpath) / name


def collect_inputs(paths: Sequence[str], recursive: bool = False) -> list[str]:
    """Expand files and folders into the list of files to score, in a stable order.

    A file named on the command line is always kept (whatever its extension, so a
    bad file gets its error row); a folder contributes the entries whose extension is
    an audio one (:data:`aiaudio.audio.AUDIO_EXTENSIONS`), skipping hidden ones,
    from its top level or, with ``recursive``, from the whole tree. A path that does
    not exist is kept too, and gets an error row. So are entries named like audio that
    are not regular files (a folder ``x.mp3/``, a FIFO, a device, a socket, a broken
    link): they get an error row that says what they are, and are never opened.

    Parameters
    ----------
    paths
        Files and folders, as given on the command line.
    recursive
        Look into sub-folders of folders.

    Returns
    -------
    list of str
        The paths, each once: a folder's entries sorted as strings, in the order the
        folders were given.
    """
    out: list[str] = []
    seen: set[str] = set()

    def add(p: str) -> None:
        if p not in seen:
            seen.add(p)
            out.append(p)

    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for f in sorted(str(f) for f in audio_entries(p, recursive)):
                add(f)
        else:
            add(str(p))
    return out
