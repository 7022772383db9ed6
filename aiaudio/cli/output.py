"""Where the commands write their rows: the CSV / JSON-lines writer, the output file or stdout, the progress bar."""

from __future__ import annotations

import math
import sys
from typing import IO, Any, Iterable

from ..errors import AiaudioError


SCORE_COLUMNS = ["path", "p_ai", "label", "verdict", "confidence", "duration_s", "error", "flags", "model_version", "reason"]


# --------------------------------------------------------------------------- output


class _RowWriteError(Exception):
    """Writing a row failed (``error``: the ``OSError``; a closed pipe is not one: see :class:`RowWriter`)."""

    def __init__(self, error: OSError):
        super().__init__(str(error))
        self.error = error


class RowWriter:
    """Writes result rows as CSV or JSON lines, flushing each one.

    A failed write raises :class:`_RowWriteError` (``BrokenPipeError`` as it is: the reader
    of a pipe went away, as with ``aiaudio score DIR | head``).

    File names are kept exact (see :mod:`aiaudio._outfiles`): CSV fields with a comma, a
    quote, ``\\r`` or ``\\n`` are quoted, and a name that is not valid UTF-8 goes out byte for
    byte in CSV (``fh`` must be open with ``errors="surrogateescape"``) and as ``\\udcXX``
    escapes in JSON.
    """

    def __init__(self, fh: IO[str], fmt: str, columns: list[str], header: bool = True):
        self.fh = fh
        self.fmt = fmt
        self.columns = columns
        if fmt == "csv" and header:  # no header when appending to a resumed file
            from .._outfiles import csv_line

            self._put(csv_line(columns))

    def write(self, row: dict[str, Any]) -> None:
        from .._outfiles import csv_line, json_dumps, jsonable

        if self.fmt == "csv":
            self._put(csv_line([_cell(row.get(k)) for k in self.columns]))
        else:
            self._put(json_dumps(jsonable(row)) + "\n")

    def _put(self, text: str) -> None:
        try:
            self.fh.write(text)
            self.fh.flush()
        except BrokenPipeError:
            raise
        except OSError as e:
            raise _RowWriteError(e) from e


def _cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.6g}"
    if isinstance(v, (list, tuple)):
        return ";".join(str(x) for x in v)
    return v


def _format_for(output: str | None, fmt: str | None) -> str:
    if fmt:
        return fmt
    if output and output.lower().endswith((".jsonl", ".ndjson")):
        return "jsonl"
    return "csv"


def _progress(items: list[str], enabled: bool, desc: str) -> Iterable[str]:
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="file", file=sys.stderr, dynamic_ncols=True)


def _stdout_for_rows() -> IO[str]:
    """Standard output, set to write file names that are not valid UTF-8 byte for byte."""
    out = sys.stdout
    if getattr(out, "errors", None) == "strict" and hasattr(out, "reconfigure"):
        try:
            out.reconfigure(errors="surrogateescape")
        except (AttributeError, ValueError, OSError):  # pragma: no cover - a replaced stream
            pass
    return out


def _open_output(output: str | None) -> IO[str]:
    """Standard output, or the file ``output`` opened for writing (a device or a pipe is written through).

    Raises ``ValueError`` (with the message for the user) when ``output`` cannot be an
    output: a folder, a socket, a block device, a missing folder.
    """
    from .._outfiles import TEXT_FILE, output_target

    if output in (None, "-"):
        return _stdout_for_rows()
    kind, detail = output_target(output)
    if kind == "refuse":
        raise ValueError(detail)
    return open(output, "w", **TEXT_FILE)


def _error_text(e: BaseException) -> str:
    if isinstance(e, AiaudioError):
        return str(e)
    return f"internal error ({type(e).__name__}: {e}); please report it with the file"


