"""How aiaudio writes its output files (score and cue rows, explanations).

Text is UTF-8. A file name that is not valid UTF-8 reaches Python as a ``str`` with lone
surrogates in place of the bytes that do not decode (:func:`os.fsdecode`); it is written
exactly: byte for byte in CSV (``errors="surrogateescape"``), and as ``\\udcXX`` escapes in
JSON, which :func:`json.loads` turns back into the same ``str`` (so :func:`os.fsencode`
gives the original bytes). CSV fields holding a comma, a quote, ``\\r`` or ``\\n`` are quoted.

Output paths: a regular file (or a new one in an existing folder) is written whole; a
character device or a named pipe (``/dev/null``, ``/dev/stdout``, a FIFO) is written
through, never replaced; a symbolic link is followed, so the link stays a link. A folder,
a socket, a block device or a missing folder is refused before any work starts.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import stat
from dataclasses import is_dataclass
from typing import Any, Sequence

import numpy as np

__all__ = ["TEXT_FILE", "csv_line", "json_dumps", "jsonable", "output_target"]

#: Keyword arguments of :func:`open` for aiaudio's text outputs and for reading them back.
TEXT_FILE: dict[str, Any] = {"encoding": "utf-8", "errors": "surrogateescape", "newline": ""}

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def json_dumps(obj: Any, **kwargs: Any) -> str:
    """:func:`json.dumps` (non-ASCII kept as is) with lone surrogates written as ``\\uXXXX``.

    The text is then valid UTF-8 whatever the file names in ``obj``, and
    :func:`json.loads` gives back the same strings.
    """
    text = json.dumps(obj, ensure_ascii=False, **kwargs)
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def csv_line(fields: Sequence[Any]) -> str:
    """One CSV record, ending in ``"\\n"``, as :mod:`csv` writes it.

    Every field holding the delimiter, a quote, ``\\r`` or ``\\n`` is quoted (the csv
    writer quotes only the characters of its line terminator, so ``\\r`` would otherwise
    go out bare and end the record for every reader).
    """
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerow(fields)
    return buf.getvalue()[:-2] + "\n"


def output_target(path: str) -> tuple[str, str]:
    """How to write the output ``path``.

    Returns
    -------
    kind : str
        ``"file"`` (write the whole file and move it into place: a regular file, or none
        yet), ``"stream"`` (write through: a character device or a named pipe) or
        ``"refuse"``.
    detail : str
        For ``"file"``: the path to write (a symbolic link's target, so that the link stays);
        for ``"stream"``: what the path is (e.g. ``"character device"``); for ``"refuse"``:
        the message for the user.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as e:  # a loop of symbolic links, a name too long, a folder we may not enter
        return "refuse", f"cannot use {path} as the output: {e.strerror}; choose another -o"
    if st is None or stat.S_ISREG(st.st_mode):
        target = os.path.realpath(path) if os.path.islink(path) else path
        folder = os.path.dirname(os.path.abspath(target))
        if not os.path.isdir(folder):
            return "refuse", f"cannot write {path}: the folder {folder} does not exist (create it first, or choose another -o)"
        if not os.access(folder, os.W_OK):
            return "refuse", f"cannot write {path}: no permission to create files in {folder} (choose another -o)"
        return "file", target
    if stat.S_ISDIR(st.st_mode):
        return "refuse", f"{path} is a folder; give a file to write, e.g. -o {os.path.join(path, 'scores.csv')}"
    if stat.S_ISCHR(st.st_mode):
        return "stream", "character device"
    if stat.S_ISFIFO(st.st_mode):
        return "stream", "named pipe"
    if stat.S_ISBLK(st.st_mode):
        return "refuse", f"{path} is a block device (a disk or a partition); aiaudio does not write onto it; choose another -o"
    if stat.S_ISSOCK(st.st_mode):
        return "refuse", f"{path} is a socket; aiaudio cannot write to it; choose another -o"
    return "refuse", f"{path} is not a regular file; choose another -o"  # pragma: no cover - doors, whiteouts


def jsonable(v: Any) -> Any:
    """``v`` as plain JSON values: NaN and infinities become ``None``, dataclasses and numpy
    values plain dicts, lists and numbers (float arrays with 5 significant digits), dict keys strings."""
    if is_dataclass(v) and not isinstance(v, type):
        return {f: jsonable(getattr(v, f)) for f in v.__dataclass_fields__}
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, np.ndarray):  # spectra and maps: 5 significant digits are plenty
        if v.dtype.kind == "f":
            return [jsonable(x) for x in v.tolist()] if v.ndim > 1 else [float(f"{x:.5g}") if math.isfinite(x) else None for x in v.tolist()]
        return jsonable(v.tolist())
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v
