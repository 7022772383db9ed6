"""The output of ``aiaudio score``: written to ``OUT.partial`` as rows come, locked against a second
run, resumable (``--resume``), and finished in one atomic step that signals do not cut short.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import threading
from typing import Any, Iterable, Sequence


from ..errors import ResumeError  # defined with the other typed errors
from .decode import PathLike
from .failures import row_is_final




class OutputPathError(ResumeError):
    """The output path cannot be written: a folder, a socket, a block device, in a missing
    folder, or in a folder this process may not write to. Raised before anything is scored."""


class OutputLockedError(OutputPathError):
    """Another run is writing the same output: it holds the lock on ``OUT.partial``.

    Attributes
    ----------
    pid : int or None
        The process holding the lock, where the system tells (``/proc/locks`` on Linux).
    """

    def __init__(self, message: str, pid: int | None = None):
        super().__init__(message)
        self.pid = pid


class HeldSignals:
    """Hold SIGINT and SIGTERM while a step that must not be cut short runs.

    Their handlers are swapped for one that only notes the signal; when the step ends, the
    old handlers come back and a noted signal is raised again (Ctrl-C then gives
    ``KeyboardInterrupt`` after the step, not in its middle). With ``redeliver=False`` it
    is not raised again and :attr:`caught` tells what came. Python runs signal handlers in
    the main thread only, so in another thread this does nothing.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, redeliver: bool = True):
        self.redeliver = redeliver
        self.caught: list[int] = []
        self._old: dict[int, Any] = {}

    def _note(self, signum: int, frame: Any) -> None:
        self.caught.append(signum)

    def __enter__(self) -> "HeldSignals":
        if threading.current_thread() is threading.main_thread():
            for s in self.SIGNALS:
                old = signal.getsignal(s)
                if old is None:  # a handler installed outside Python: leave it alone
                    continue
                signal.signal(s, self._note)
                self._old[s] = old
        return self

    def __exit__(self, *exc: object) -> None:
        for s, old in self._old.items():
            signal.signal(s, old)
        self._old.clear()
        if self.redeliver:
            for s in dict.fromkeys(self.caught):
                signal.raise_signal(s)


#: Descriptors holding an output's lock. A forked child (a decode worker) closes its copies
#: at once, so that the lock belongs to the run's own process and ends with it.
_LOCK_FDS: set[int] = set()


def _close_lock_fds_in_child() -> None:  # pragma: no cover - runs in forked children
    for fd in list(_LOCK_FDS):
        try:
            os.close(fd)
        except OSError:
            pass
    _LOCK_FDS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_lock_fds_in_child)


def _flock(fd: int) -> None:
    """Take an exclusive advisory lock on ``fd`` without waiting (``BlockingIOError`` when held)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory locks
        return
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _lock_holder(fd: int) -> int | None:
    """The process holding a ``flock`` on the file open as ``fd``, from ``/proc/locks``, or None."""
    try:
        st = os.fstat(fd)
        with open("/proc/locks", encoding="ascii", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    exact = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    by_inode: list[int] = []
    for line in lines:  # "1: FLOCK  ADVISORY  WRITE 14878 fe:00:2146840 0 EOF" ("->" marks a waiter)
        parts = line.split()
        if len(parts) < 6 or parts[1] != "FLOCK" or not parts[4].isdigit():
            continue
        if parts[5] == exact:
            return int(parts[4])
        if parts[5].rsplit(":", 1)[-1] == str(st.st_ino):
            by_inode.append(int(parts[4]))
    return by_inode[0] if len(set(by_inode)) == 1 else None


def _csv_records(text: str) -> tuple[list[str], str]:
    """Split CSV text into complete records (each ending in a newline outside quotes).

    Returns the records (with their newline) and the torn remainder (a last record cut
    short, or ``""``). Quotes are tracked the way :mod:`csv` writes them (``""`` inside a
    quoted field is an escaped quote), so a newline inside a quoted field does not end a record.
    """
    records: list[str] = []
    start = 0
    in_quotes = False
    for i, ch in enumerate(text):
        if ch == '"':
            in_quotes = not in_quotes
        elif ch == "\n" and not in_quotes:
            records.append(text[start : i + 1])
            start = i + 1
    return records, text[start:]


def _row_key(record: str, fmt: str, key_index: int, n_columns: int) -> str | None:
    """The key (path) of one complete record, or ``None`` when the record is not a valid row."""
    if fmt == "csv":
        import csv

        try:
            fields = next(csv.reader([record.rstrip("\n")]))
        except (csv.Error, StopIteration):
            return None
        if len(fields) != n_columns:
            return None
        return fields[key_index]
    import json

    try:
        row = json.loads(record)
    except ValueError:
        return None
    if not isinstance(row, dict) or not isinstance(row.get("path"), str):
        return None
    return row["path"]


class ResumableOutput:
    """A results file that is never half-written and can be resumed after an interruption.

    Rows go to ``OUT.partial`` while a run lasts (each row flushed as soon as it is written);
    :meth:`finish` rewrites them to ``OUT`` in input order and removes the partial file, so
    ``OUT`` only ever holds a complete run. After a Ctrl-C, a kill or a full disk, a run with
    ``resume=True`` keeps the complete rows of the partial file (a row cut short is
    dropped), skips their paths and appends the rest: no row is lost or duplicated.

    One run at a time: :meth:`open` takes an advisory lock on ``OUT.partial``
    (:func:`fcntl.flock`) that lasts until :meth:`finish` or :meth:`close` (or the end of the
    process); a second run on the same ``OUT`` gets :class:`OutputLockedError`.

    Where ``OUT`` is a symbolic link, its target is written (and ``OUT.partial`` lies next
    to the target), so the link stays. A character device or a named pipe (``/dev/null``,
    ``/dev/stdout``, a FIFO) is written through as rows come, in order of completion, like
    standard output: no partial file, no lock, no resume (:attr:`streaming`). Text is UTF-8;
    file names that are not valid UTF-8 are kept exact (see :mod:`aiaudio._outfiles`).

    Parameters
    ----------
    path : path
        The final output file.
    fmt : str
        ``"csv"`` (first line: the header) or ``"jsonl"`` (one JSON object per line, with a
        ``"path"`` key).
    columns : list of str
        CSV columns (``"path"`` among them); checked against the header of a resumed file.
    resume : bool
        Continue ``OUT.partial`` (or, when there is none, add to a finished ``OUT``) instead
        of starting afresh.
    """

    SUFFIX = ".partial"

    def __init__(self, path: PathLike, fmt: str, columns: Sequence[str], resume: bool = False):
        if fmt not in ("csv", "jsonl"):
            raise ValueError(f"fmt must be 'csv' or 'jsonl', got {fmt!r}")
        self.path = os.fspath(path)
        #: The file :meth:`finish` writes (``path``, or the target of a symbolic link).
        self.target = self.path
        self.partial = self.path + self.SUFFIX
        self.fmt = fmt
        self.columns = list(columns)
        self.resume = resume
        self.done: set[str] = set()
        self.kept_rows = 0
        self.dropped: int = 0
        self.retried: int = 0  # rows of files that timed out or lost their worker, dropped to be scored again
        self.note: str | None = None
        self.fresh = True
        #: True when ``path`` is a device or a named pipe, written through (set by :meth:`open`).
        self.streaming = False
        self._lock_fd: int | None = None

    def _header(self) -> str:
        from .._outfiles import csv_line

        return csv_line(self.columns)

    def _read_rows(self, file: str) -> tuple[list[tuple[str, str]], int]:
        """Complete, valid ``(key, record)`` pairs of ``file`` (first of duplicates kept) and the count dropped."""
        from .._outfiles import TEXT_FILE

        with open(file, **TEXT_FILE) as fh:
            text = fh.read()
        if self.fmt == "csv":
            records, torn = _csv_records(text)
            if records:
                if records[0] != self._header():
                    got = records[0].rstrip("\n")
                    raise ResumeError(
                        f"{file} has the columns {got!r}, this run writes {','.join(self.columns)!r} "
                        "(was --cues given to one run and not the other?). Start afresh without --resume."
                    )
                records = records[1:]
        else:
            lines = text.split("\n")
            torn = lines.pop()  # "" when the file ends with a newline
            records = [line + "\n" for line in lines if line.strip()]
        key_index = self.columns.index("path") if "path" in self.columns else 0
        rows: list[tuple[str, str]] = []
        seen: set[str] = set()
        dropped = int(bool(torn.strip()))
        for rec in records:
            key = _row_key(rec, self.fmt, key_index, len(self.columns))
            if key is None or key in seen:
                dropped += 1
                continue
            seen.add(key)
            rows.append((key, rec))
        return rows, dropped

    def _record_dict(self, rec: str) -> dict[str, Any]:
        """One record of the output as a dict of its columns (``{}`` when it cannot be parsed)."""
        if self.fmt == "csv":
            fields = next(csv.reader([rec]), [])
            return dict(zip(self.columns, fields))
        try:
            obj = json.loads(rec)
        except ValueError:
            return {}
        return obj if isinstance(obj, dict) else {}

    def _write_records(self, fh: Any, records: Iterable[str]) -> None:
        if self.fmt == "csv":
            fh.write(self._header())
        for rec in records:
            fh.write(rec)
        fh.flush()
        os.fsync(fh.fileno())

    def _write_atomic(self, target: str, records: Iterable[str]) -> None:
        """Write ``target`` whole through ``target.tmp``; on any failure the temporary file goes."""
        from .._outfiles import TEXT_FILE

        tmp = target + ".tmp"
        try:
            with open(tmp, "w", **TEXT_FILE) as fh:
                self._write_records(fh, records)
            os.replace(tmp, target)
        except BaseException:
            try:
                os.remove(tmp)
            except OSError:
                pass
            raise

    def _lock(self) -> bool:
        """Open (or create) ``OUT.partial`` and lock it; True when this call created it."""
        while True:
            created = False
            try:
                fd = os.open(self.partial, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
                created = True
            except FileExistsError:
                try:
                    fd = os.open(self.partial, os.O_RDWR)
                except FileNotFoundError:  # removed meanwhile: another run has just finished
                    continue
            try:
                _flock(fd)
            except BlockingIOError:
                pid = _lock_holder(fd)
                os.close(fd)
                who = f"another run (process {pid})" if pid else "another run"
                raise OutputLockedError(
                    f"{who} is writing {self.path} (it holds the lock on {self.partial}); "
                    "wait until it ends or stop it, or write to another -o",
                    pid=pid,
                ) from None
            except BaseException:
                os.close(fd)
                raise
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.partial))
            except FileNotFoundError:
                same = False
            if same:
                self._lock_fd = fd
                _LOCK_FDS.add(fd)
                return created
            os.close(fd)  # the file was replaced or removed between opening and locking: again

    def _replace_partial(self, records: Iterable[str]) -> None:
        """Rewrite ``OUT.partial`` at once (through ``OUT.partial.tmp``), keeping it locked."""
        from .._outfiles import TEXT_FILE

        tmp = self.partial + ".tmp"
        with HeldSignals():
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o666)
            try:
                _flock(fd)  # free: taking it needs the lock on OUT.partial first, which we hold
                with os.fdopen(os.dup(fd), "w", **TEXT_FILE) as fh:
                    self._write_records(fh, records)
                os.replace(tmp, self.partial)
            except BaseException:
                os.close(fd)
                try:
                    os.remove(tmp)
                except OSError:
                    pass
                raise
            self.close()
            self._lock_fd = fd
            _LOCK_FDS.add(fd)

    def open(self) -> Any:
        """Check the output path, lock ``OUT.partial``, prepare it and open it for appending rows.

        Sets :attr:`done` (paths already in it), :attr:`fresh` (``True`` when the file is new
        and needs a CSV header), :attr:`kept_rows`, :attr:`dropped`, :attr:`note` (what
        happened to an earlier partial file, for the user) and :attr:`streaming`.

        Returns
        -------
        file object
            Text file open for appending (UTF-8, names kept exact, no newline translation).

        Raises
        ------
        OutputPathError
            When the path cannot be an output (a folder, a socket, a block device, a missing
            folder; ``resume`` with a device or pipe).
        OutputLockedError
            When another run holds the lock on ``OUT.partial``.
        ResumeError
            When the partial file's CSV header does not match :attr:`columns`.
        OSError
            When the files cannot be read or written.
        """
        from .._outfiles import TEXT_FILE, output_target

        kind, detail = output_target(self.path)
        if kind == "refuse":
            raise OutputPathError(detail)
        if kind == "stream":
            self.streaming, self.fresh = True, True
            if self.resume:
                raise OutputPathError(
                    f"--resume needs a regular file as the output; {self.path} is a {detail}, "
                    "written through as rows come"
                )
            try:
                return open(self.path, "w", **TEXT_FILE)
            except OSError as e:
                raise OutputPathError(f"cannot write {self.path}: {e.strerror or e}") from e
        if detail != self.path:  # a symbolic link: write its target, keep the link
            self.target = detail
            self.partial = detail + self.SUFFIX
        try:
            created = self._lock()
        except OSError as e:
            raise OutputPathError(f"cannot write {self.partial}: {e.strerror or e}; choose another -o") from e
        try:
            had_rows = not created and os.fstat(self._lock_fd).st_size > 0  # type: ignore[arg-type]
            base = None
            if self.resume:
                if had_rows:
                    base = self.partial
                elif os.path.isfile(self.target):
                    base = self.target
            if base is not None:
                rows, self.dropped = self._read_rows(base)
                # rows that are not final (a time-out, a worker killed from outside) are scored again
                final = [(k, rec) for k, rec in rows if row_is_final(self._record_dict(rec))]
                self.retried = len(rows) - len(final)
                rows = final
                self._replace_partial(rec for _, rec in rows)
                self.done = {k for k, _ in rows}
                self.kept_rows = len(rows)
                self.fresh = False
                what = "unfinished" if base == self.partial else "finished"
                self.note = (
                    f"resuming the {what} {base}: {len(rows)} rows kept"
                    + (f", {self.dropped} incomplete or invalid row(s) dropped" if self.dropped else "")
                    + (f", {self.retried} file(s) that timed out or lost their worker scored again" if self.retried else "")
                )
                return open(self.partial, "a", **TEXT_FILE)
            if had_rows:
                self.note = (
                    f"replacing the unfinished {self.partial} of an earlier run "
                    "(pass --resume to continue it instead)"
                )
            self.fresh = True
            return open(self.partial, "w", **TEXT_FILE)
        except BaseException:
            self.close()
            raise

    def finish(self, order: Sequence[str] = ()) -> None:
        """Write the complete ``OUT`` (rows in ``order``, others after them), remove the partial file, unlock.

        Call after the file returned by :meth:`open` is closed. SIGINT and SIGTERM are held
        while it runs: ``OUT`` is either complete with no partial file left, or untouched
        with the partial file as it was (and no ``OUT.tmp``); a Ctrl-C that came meanwhile
        takes effect when it returns. Nothing to do for a device or a pipe.
        """
        if self.streaming:
            return
        with HeldSignals():
            rows, _ = self._read_rows(self.partial)
            rank = {k: i for i, k in enumerate(order)}
            n = len(rank)
            ranked = sorted(range(len(rows)), key=lambda i: (rank.get(rows[i][0], n), i))
            self._write_atomic(self.target, (rows[i][1] for i in ranked))
            os.remove(self.partial)
            self.close()

    def close(self) -> None:
        """Release the lock on ``OUT.partial`` (:meth:`finish` does it); the partial file stays."""
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            _LOCK_FDS.discard(fd)
            try:
                os.close(fd)
            except OSError:  # pragma: no cover
                pass

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass
