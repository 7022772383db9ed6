#!/usr/bin/env python
"""Extract the files of a sources manifest from local git repositories, and verify them.

``../shared/data/sources/manifest.csv`` lists audio files in public GitHub repositories:
``source_repo`` (``owner/name``), ``ref`` (a commit), ``source_path`` (the file in that
commit) and ``path`` (where the file goes in the cache), with the ``duration_s``,
``sample_rate`` and ``channels`` FFprobe read when it was listed. Given a folder of local
copies of those repositories, this script writes each file to ``OUT/<path>`` (streamed
from ``git cat-file --batch``; no work tree is checked out) and checks it:

* it decodes (its first seconds through :func:`aiaudio.audio.load_audio`; for WAV, FLAC,
  Ogg, Opus and M4A the last seconds after a seek, which must reach the duration the
  container states; MP3s, whose stated duration is only an estimate where they have no
  length header, are decoded whole with the same loader),
* its duration is within ``--tolerance`` (default 0.5 s) of the manifest's,
* its sample rate and channel count are the manifest's.

Repositories are found under ``--repos DIR`` in any of these layouts (bare or not):
``DIR/owner+name/repo[/.git]`` (the ``fetch`` tool's mirrors), ``DIR/owner+name``,
``DIR/owner/name[.git]`` and ``DIR/name[.git]`` (``git clone``). ``--clone`` clones what
is not there from GitHub (``git clone --bare`` into ``DIR/owner/name.git``); where the
network does not allow it, each repository fails with a message and the run goes on.

The run is idempotent and resumable: a file is written under a temporary name and renamed
when complete; ``OUT/index.jsonl`` records every verified file (size, git blob id, SHA-256,
what was read from it), and a later run skips files whose size and modification time
still match their entry. What is missing (no repository, no such commit or path, a blob
the mirror lacks) or differs from the manifest is reported and the run goes on:
``OUT/fetch_report.csv`` (one row per manifest row) and ``OUT/fetch_report.json``
(counts, per repository) are rewritten at the end, and a summary is printed.

Usage::

    python scripts/fetch_sources.py --manifest ../shared/data/sources/manifest.csv \\
        --repos /path/to/mirrors --out ~/.cache/aiaudio/sources [--jobs 1] [--clone]

Exit status: 0 when every row is there and verified, 1 when some are missing or differ,
2 for a usage error. See docs/training_data.md.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Sequence

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

from aiaudio.audio import audio_info, load_audio, stream_audio  # noqa: E402
from aiaudio.errors import AudioLoadError  # noqa: E402


def _shared_data() -> Path:
    """``../shared/data`` next to the checkout (a worktree one level deeper finds it too)."""
    for up in (REPO.parent, REPO.parent.parent):
        if (up / "shared" / "data").is_dir():
            return (up / "shared" / "data").resolve()
    return (REPO.parent / "shared" / "data").resolve()


DEFAULT_MANIFEST = _shared_data() / "sources" / "manifest.csv"
DEFAULT_OUT = Path(os.environ.get("AIAUDIO_SOURCES", "~/.cache/aiaudio/sources")).expanduser()
DEFAULT_CLONE_URL = "https://github.com/{repo}.git"
INDEX = "index.jsonl"
REPORT_CSV = "fetch_report.csv"
REPORT_JSON = "fetch_report.json"
CHUNK = 1 << 20
HEAD_S = 5.0  # decoded from the start of each file
TAIL_S = 2.0  # and from its end: a truncated file fails here

#: Row statuses. ``ok`` = extracted now; ``present`` = there and verified before.
OK, PRESENT = "extracted", "present"
MISSING_STATUSES = ("missing_repo", "missing_ref", "missing_path", "clone_failed")
DIFFER_STATUSES = ("differs", "undecodable", "failed")

REPORT_COLUMNS = [
    "path", "source_repo", "source_path", "ref", "status", "reason", "size", "blob",
    "duration_manifest", "duration_file", "sample_rate_manifest", "sample_rate_file",
    "channels_manifest", "channels_file", "format",
]


# --------------------------------------------------------------------------- repositories


def is_git_dir(p: Path) -> bool:
    """True when ``p`` is a git directory (bare repository or ``.git``): ``HEAD`` and ``objects/``."""
    return p.is_dir() and (p / "HEAD").is_file() and (p / "objects").is_dir()


def _git_dir_of(p: Path) -> Path | None:
    if p.name.endswith(".part"):  # a mirror still being unpacked
        return None
    for cand in (p / "repo" / ".git", p / "repo", p / ".git", p):
        if is_git_dir(cand):
            return cand
    return None


def find_repo(repos: Path, repo: str) -> Path | None:
    """The git directory of ``owner/name`` under ``repos``, in any layout this script accepts.

    Tried in order: ``owner+name`` (the ``fetch`` tool's mirrors, with the git directory in
    ``repo/``, ``repo/.git`` or at the top), ``owner/name``, ``owner/name.git``, ``name``,
    ``name.git``; names match exactly first, then case-insensitively.
    """
    owner, _, name = repo.partition("/")
    cands = [repos / f"{owner}+{name}", repos / owner / name, repos / owner / f"{name}.git",
             repos / name, repos / f"{name}.git"]
    for c in cands:
        g = _git_dir_of(c)
        if g is not None:
            return g
    # case-insensitive: GitHub names are not case-sensitive, file systems are
    want = {f"{owner}+{name}".lower(), name.lower(), f"{name}.git".lower()}
    try:
        top = {d.name.lower(): d for d in repos.iterdir() if d.is_dir()}
    except OSError:
        return None
    for key in (f"{owner}+{name}".lower(), name.lower(), f"{name}.git".lower()):
        if key in top and key in want:
            g = _git_dir_of(top[key])
            if g is not None:
                return g
    if owner.lower() in top:
        sub = {d.name.lower(): d for d in top[owner.lower()].iterdir() if d.is_dir()}
        for key in (name.lower(), f"{name}.git".lower()):
            if key in sub:
                g = _git_dir_of(sub[key])
                if g is not None:
                    return g
    return None


def clone_repo(repos: Path, repo: str, url_template: str = DEFAULT_CLONE_URL, timeout: float = 600.0) -> tuple[Path | None, str]:
    """``git clone --bare`` ``repo`` into ``repos/owner/name.git``; returns (git dir or None, message)."""
    owner, _, name = repo.partition("/")
    dest = repos / owner / f"{name}.git"
    tmp = dest.with_name(dest.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    url = url_template.format(repo=repo, owner=owner, name=name)
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="true")
    try:
        r = subprocess.run(["git", "clone", "--bare", "--quiet", url, str(tmp)], capture_output=True, text=True,
                           timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        shutil.rmtree(tmp, ignore_errors=True)
        return None, f"git clone {url} gave no answer within {timeout:.0f} s (no network?)"
    if r.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        msg = (r.stderr or r.stdout).strip().splitlines()
        return None, f"git clone {url} failed: {msg[-1] if msg else f'exit {r.returncode}'}"
    os.replace(tmp, dest)
    return dest, f"cloned {url}"


class BlobReader:
    """A ``git cat-file --batch`` process: streams blobs ``REF:PATH`` of one repository."""

    def __init__(self, git_dir: Path):
        self.git_dir = git_dir
        self.proc = subprocess.Popen(
            ["git", "--git-dir", str(git_dir), "cat-file", "--batch"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )

    def open(self, spec: str) -> tuple[str, int] | str:
        """Ask for ``spec``; returns ``(blob id, size)`` (read the bytes with :meth:`copy_to`) or
        the reason it is not there (``'missing'``, ``'ambiguous'``, or the object's type)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        if "\n" in spec:
            return "missing"
        self.proc.stdin.write(spec.encode("utf-8", "surrogateescape") + b"\n")
        self.proc.stdin.flush()
        header = self.proc.stdout.readline().decode("utf-8", "replace").rstrip("\n")
        parts = header.split()
        if len(parts) == 3 and parts[1] == "blob":
            return parts[0], int(parts[2])
        if len(parts) == 3:  # a tree or commit: skip its bytes
            self._skip(int(parts[2]))
            return parts[1]
        return parts[-1] if parts else "missing"

    def copy_to(self, size: int, fh: IO[bytes], hashers: Sequence) -> None:
        """Copy the next ``size`` bytes (the blob :meth:`open` announced) into ``fh``."""
        assert self.proc.stdout is not None
        left = size
        failed: BaseException | None = None
        while left > 0:
            buf = self.proc.stdout.read(min(CHUNK, left))
            if not buf:
                raise OSError(f"git cat-file ended early in {self.git_dir}")
            left -= len(buf)
            if failed is not None:
                continue  # drain the rest: the next request must start at a header
            try:
                fh.write(buf)
            except OSError as e:
                failed = e
                continue
            for h in hashers:
                h.update(buf)
        self.proc.stdout.read(1)  # the newline after the content
        if failed is not None:
            raise failed

    def _skip(self, size: int) -> None:
        assert self.proc.stdout is not None
        left = size + 1
        while left > 0:
            buf = self.proc.stdout.read(min(CHUNK, left))
            if not buf:
                break
            left -= len(buf)

    def has_commit(self, ref: str) -> bool:
        r = subprocess.run(["git", "--git-dir", str(self.git_dir), "cat-file", "-e", f"{ref}^{{commit}}"],
                           capture_output=True)
        return r.returncode == 0

    def close(self) -> None:
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except Exception:  # pragma: no cover
            self.proc.kill()


def git_blob_id(path: Path) -> str:
    """The git blob id (SHA-1 of ``'blob <size>\\0' + content``) of a file, as ``git hash-object`` gives it."""
    h = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with path.open("rb") as fh:
        for buf in iter(lambda: fh.read(CHUNK), b""):
            h.update(buf)
    return h.hexdigest()


# --------------------------------------------------------------------------- verification


@dataclass
class Check:
    """What was read from one file, and how it compares with the manifest."""

    ok: bool
    reason: str = ""
    duration_s: float | None = None
    sample_rate: int | None = None
    channels: int | None = None
    format: str = ""
    decodable: bool = True


def _float(v: object) -> float | None:
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _int(v: object) -> int | None:
    f = _float(v)
    return int(round(f)) if f is not None else None


def _container_duration(path: Path) -> float | None:
    """The duration FFmpeg's demuxer states (what FFprobe prints), without decoding."""
    import av

    try:
        with av.open(str(path)) as c:
            if c.duration:
                return c.duration / 1e6
            s = c.streams.audio[0]
            if s.duration and s.time_base:
                return float(s.duration * s.time_base)
    except Exception:
        return None
    return None


def _decode_av(path: Path, from_s: float = 0.0) -> tuple[float | None, int]:
    """Decode with FFmpeg from ``from_s`` (a seek) to the end, skipping damaged packets as the
    ``ffmpeg`` tool does; returns ``(end time of the last frame or None, samples decoded)``."""
    import av

    end, n = None, 0
    with av.open(str(path)) as c:
        s = c.streams.audio[0]
        if from_s > 0 and s.time_base:
            c.seek(int(from_s / s.time_base), stream=s)
        for pkt in c.demux(s):
            try:
                frames = pkt.decode()
            except av.error.FFmpegError:  # a damaged packet: skip it, as ffmpeg does
                continue
            for fr in frames:
                n += fr.samples
                if fr.pts is not None and fr.time_base:
                    end = float(fr.pts * fr.time_base) + fr.samples / fr.sample_rate
    if from_s == 0 and n:  # a full decode: its length is the sample count
        sr = _sr_of(path)
        end = n / sr if sr else end
    return end, n


def _sr_of(path: Path) -> int | None:
    import av

    with av.open(str(path)) as c:
        return c.streams.audio[0].codec_context.sample_rate or None


def _decode_loader(path: Path) -> float:
    """Seconds of audio :func:`aiaudio.audio.stream_audio` (what training reads with) decodes."""
    n, sr = 0, None
    with stream_audio(path, block_s=30.0) as st:
        for blk in st:
            n += blk.shape[1]
        sr = st.sr
    if not n or not sr:
        raise AudioLoadError(f"{path}: no samples decoded", path=str(path), reason="empty")
    return n / sr


def verify_audio(path: Path, duration_s: float | None, sample_rate: int | None, channels: int | None,
                 tolerance_s: float = 0.5) -> Check:
    """Check that ``path`` decodes and has the stated duration, rate and channels.

    The header gives rate and channels, and the first :data:`HEAD_S` seconds are decoded.
    For WAV, FLAC, Ogg, Opus and M4A the container's duration (as FFprobe states it) is
    exact: the last seconds are decoded after a seek (FFmpeg) and must reach it. An MP3's
    stated duration is an estimate where the file has no length header (some files here
    state 20 s more or less than they hold), so MP3s are decoded whole with
    :func:`aiaudio.audio.stream_audio`, the loader training uses (about 0.3 s per 100 s of
    audio); so is any file whose end is not reached or whose stated duration disagrees
    with the manifest. The decoded length is then what counts, and a file that loader
    cannot decode to its end fails (the reason says what FFmpeg alone makes of it).
    """
    try:
        info = audio_info(path)
        head, _ = load_audio(path, duration=HEAD_S)
        if head.shape[1] == 0:
            raise AudioLoadError(f"{path}: no samples decoded", path=str(path), reason="empty")
        stated = _container_duration(path) or info.duration_s
        dur, how = stated, "stated"
        if stated is None or "MP3" in info.format.upper() or "mp3" in info.format:
            # an MP3's stated duration is an estimate unless a length header exists
            # (files here state up to 40 s more than they hold); decoding it is cheap
            dur, how = None, "decoded"
        elif stated > HEAD_S:
            end, _ = _decode_av(path, max(0.0, stated - TAIL_S - 1.0))
            if end is None or end < stated - tolerance_s:
                dur, how = None, "decoded"
        if dur is not None and duration_s is not None and abs(dur - duration_s) > tolerance_s:
            dur, how = None, "decoded"
        if dur is None:  # decode it whole, as training will: with aiaudio's own loader
            dur = _decode_loader(path)
    except (AudioLoadError, OSError, RuntimeError, ValueError, EOFError, IndexError) as e:
        why = f"aiaudio.audio does not decode it: {type(e).__name__}: {e}"
        try:
            end, n = _decode_av(path)
            if n and end:
                why += f" (FFmpeg alone decodes {end:.2f} s)"
        except Exception:
            pass
        return Check(False, why, decodable=False)
    problems = []
    if duration_s is not None and abs(dur - duration_s) > tolerance_s:
        extra = []
        if how == "decoded":
            try:
                ff, _ = _decode_av(path)
                if ff is not None and abs(ff - dur) > tolerance_s:
                    extra.append(f"FFmpeg decodes {ff:.2f} s")
            except Exception:
                pass
            if stated and abs(stated - dur) > tolerance_s:
                extra.append(f"the header states {stated:.2f} s")
        more = f" ({'; '.join(extra)})" if extra else ""
        problems.append(f"duration {dur:.2f} s {how}{more}, manifest {duration_s:.2f} s")
    if sample_rate is not None and info.sr != sample_rate:
        problems.append(f"sample rate {info.sr} Hz, manifest {sample_rate} Hz")
    if channels is not None and info.channels != channels:
        problems.append(f"{info.channels} channels, manifest {channels}")
    return Check(not problems, "; ".join(problems), round(float(dur), 3), int(info.sr), int(info.channels), info.format)


# --------------------------------------------------------------------------- index


class Index:
    """``OUT/index.jsonl``: one JSON line per verified file, appended as files are verified.

    The last line for a path wins; a line ``{"path": ..., "removed": true}`` forgets one.
    A killed run loses at most the line being written (a partial last line is ignored).
    """

    def __init__(self, out: Path):
        self.path = out / INDEX
        self.entries: dict[str, dict] = {}
        self._lock = threading.Lock()
        if self.path.is_file():
            for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    e = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if not isinstance(e, dict) or "path" not in e:
                    continue
                if e.get("removed"):
                    self.entries.pop(e["path"], None)
                else:
                    self.entries[e["path"]] = e

    def get(self, rel: str) -> dict | None:
        return self.entries.get(rel)

    def _append(self, e: dict) -> None:
        with self._lock:
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(e, ensure_ascii=False, sort_keys=True) + "\n")
                fh.flush()

    def add(self, e: dict) -> None:
        self.entries[e["path"]] = e
        self._append(e)

    def remove(self, rel: str) -> None:
        if self.entries.pop(rel, None) is not None:
            self._append({"path": rel, "removed": True})

    def compact(self) -> None:
        """Rewrite the index with one line per file (atomically)."""
        with self._lock:
            tmp = self.path.with_name(f".{INDEX}.tmp-{os.getpid()}")
            with tmp.open("w", encoding="utf-8") as fh:
                for rel in sorted(self.entries):
                    fh.write(json.dumps(self.entries[rel], ensure_ascii=False, sort_keys=True) + "\n")
            os.replace(tmp, self.path)


def _agrees(entry: dict, row: "Row", tolerance_s: float) -> bool:
    """What the index read still agrees with the manifest row (it may have been corrected since)."""
    d = entry.get("duration_s")
    if row.duration_s is not None and (d is None or abs(d - row.duration_s) > tolerance_s):
        return False
    if row.sample_rate is not None and entry.get("sample_rate") != row.sample_rate:
        return False
    return row.channels is None or entry.get("channels") == row.channels


def still_matches(entry: dict | None, dest: Path) -> bool:
    """True when ``dest`` is the file ``entry`` verified: same size and modification time."""
    if not entry:
        return False
    try:
        st = dest.stat()
    except OSError:
        return False
    return st.st_size == entry.get("size") and st.st_mtime_ns == entry.get("mtime_ns")


# --------------------------------------------------------------------------- work


@dataclass
class Row:
    """One manifest row, the fields this script uses."""

    path: str
    repo: str
    source_path: str
    ref: str
    duration_s: float | None
    sample_rate: int | None
    channels: int | None

    @classmethod
    def from_dict(cls, r: dict) -> "Row":
        return cls(r["path"].strip(), r["source_repo"].strip(), r["source_path"], r["ref"].strip(),
                   _float(r.get("duration_s")), _int(r.get("sample_rate")), _int(r.get("channels")))


@dataclass
class Result:
    row: Row
    status: str
    reason: str = ""
    size: int | None = None
    blob: str = ""
    check: Check | None = None


def read_manifest(path: Path) -> list[Row]:
    """The rows of a sources manifest (columns ``path, source_repo, source_path, ref``; the
    ``duration_s, sample_rate, channels`` to check against are optional).

    Raises
    ------
    ValueError
        When a needed column is missing or two rows name the same ``path``.
    """
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        need = {"path", "source_repo", "source_path", "ref"}
        missing = need - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: missing column(s) {sorted(missing)}; a sources manifest needs "
                             f"{sorted(need)} (see ../shared/data/sources/README.md)")
        rows = [Row.from_dict(r) for r in reader if (r.get("path") or "").strip()]
    seen: set[str] = set()
    for r in rows:
        if r.path in seen:
            raise ValueError(f"{path}: path {r.path!r} appears twice; every row needs its own path")
        if Path(r.path).is_absolute() or ".." in Path(r.path).parts:
            raise ValueError(f"{path}: path {r.path!r} must be relative and stay inside the output folder")
        seen.add(r.path)
    return rows


def _verify_entry(row: Row, dest: Path, blob: str, size: int, sha256: str, chk: Check) -> dict:
    st = dest.stat()
    return {"path": row.path, "source_repo": row.repo, "source_path": row.source_path, "ref": row.ref,
            "size": size, "mtime_ns": st.st_mtime_ns, "blob": blob, "sha256": sha256,
            "duration_s": chk.duration_s, "sample_rate": chk.sample_rate, "channels": chk.channels,
            "format": chk.format, "verified": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for buf in iter(lambda: fh.read(CHUNK), b""):
            h.update(buf)
    return h.hexdigest()


def process_repo(repo: str, rows: Sequence[Row], git_dir: Path | None, out: Path, index: Index,
                 tolerance_s: float = 0.5, missing_status: str = "missing_repo", missing_reason: str = "",
                 tick: Callable[[Result], None] = lambda r: None, recheck: bool = False) -> list[Result]:
    """Extract and verify the rows of one repository; never raises for a single file."""
    results: list[Result] = []

    def done(res: Result) -> None:
        results.append(res)
        tick(res)

    # files verified before and untouched since need no repository at all
    todo = []
    for row in rows:
        dest = out / row.path
        e = index.get(row.path)
        if (not recheck and still_matches(e, dest) and e.get("ref") == row.ref and e.get("source_path") == row.source_path
                and _agrees(e, row, tolerance_s)):
            done(Result(row, PRESENT, size=e["size"], blob=e.get("blob", ""),
                        check=Check(True, "", e.get("duration_s"), e.get("sample_rate"), e.get("channels"), e.get("format", ""))))
        else:
            todo.append(row)
    if not todo:
        return results
    if git_dir is None:
        for row in todo:
            done(Result(row, missing_status, missing_reason or f"repository {repo} not found"))
        return results
    reader = BlobReader(git_dir)
    try:
        commit_ok: dict[str, bool] = {}
        for row in todo:
            try:
                done(_one(reader, row, out, index, tolerance_s, commit_ok))
            except Exception as e:  # one bad file must not stop the run
                done(Result(row, "failed", f"{type(e).__name__}: {e}"))
                reader.close()  # it may be mid-blob: start a fresh one
                reader = BlobReader(git_dir)
    finally:
        reader.close()
    return results


def _one(reader: BlobReader, row: Row, out: Path, index: Index, tolerance_s: float, commit_ok: dict[str, bool]) -> Result:
    dest = out / row.path
    if row.ref not in commit_ok:
        commit_ok[row.ref] = reader.has_commit(row.ref)
    if not commit_ok[row.ref]:
        return Result(row, "missing_ref", f"commit {row.ref} is not in {reader.git_dir} (an older or shallow copy?)")
    got = reader.open(f"{row.ref}:{row.source_path}")
    if isinstance(got, str):
        why = {"missing": "no such path at that commit, or the mirror lacks the blob (snapshots leave large files out)"}
        return Result(row, "missing_path", f"{row.source_path} at {row.ref[:12]}: {why.get(got, got)}")
    blob, size = got
    hashers: list = []
    if dest.is_file() and dest.stat().st_size == size and git_blob_id(dest) == blob:
        reader._skip(size)  # the bytes are already there (an index that was lost, a copy from elsewhere)
        sha = _sha256(dest)
        status = PRESENT
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
        # a short temporary name: the final one may be near the file system's limit
        tag = hashlib.sha1(dest.name.encode("utf-8", "surrogateescape")).hexdigest()[:16]
        tmp = dest.with_name(f".{tag}.part-{os.getpid()}-{threading.get_ident()}")
        sh, s1 = hashlib.sha256(), hashlib.sha1(f"blob {size}\0".encode())
        hashers = [sh, s1]
        try:
            with tmp.open("wb") as fh:
                reader.copy_to(size, fh, hashers)
            if s1.hexdigest() != blob:
                raise OSError(f"content of {row.source_path} does not hash to its blob id {blob}")
            os.replace(tmp, dest)
        finally:
            if tmp.exists():
                tmp.unlink()
        sha = sh.hexdigest()
        status = OK
    chk = verify_audio(dest, row.duration_s, row.sample_rate, row.channels, tolerance_s)
    if not chk.ok:
        index.remove(row.path)
        return Result(row, "differs" if chk.decodable else "undecodable", chk.reason, size, blob, chk)
    index.add(_verify_entry(row, dest, blob, size, sha, chk))
    return Result(row, status, "", size, blob, chk)


def clean_temps(out: Path) -> int:
    """Remove temporary files a killed run left (``.NAME.part-*``)."""
    n = 0
    for p in out.rglob(".*.part-*"):
        try:
            p.unlink()
            n += 1
        except OSError:
            pass
    return n


def write_reports(out: Path, results: Sequence[Result], extra: dict) -> dict:
    """Write ``fetch_report.csv`` and ``fetch_report.json``; returns the JSON summary."""
    rows = sorted(results, key=lambda r: r.row.path)
    tmp = out / f".{REPORT_CSV}.tmp"
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=REPORT_COLUMNS, lineterminator="\n")
        w.writeheader()
        for r in rows:
            c = r.check
            w.writerow({
                "path": r.row.path, "source_repo": r.row.repo, "source_path": r.row.source_path, "ref": r.row.ref,
                "status": r.status, "reason": r.reason, "size": r.size if r.size is not None else "", "blob": r.blob,
                "duration_manifest": r.row.duration_s if r.row.duration_s is not None else "",
                "duration_file": c.duration_s if c and c.duration_s is not None else "",
                "sample_rate_manifest": r.row.sample_rate or "", "sample_rate_file": (c.sample_rate or "") if c else "",
                "channels_manifest": r.row.channels or "", "channels_file": (c.channels or "") if c else "",
                "format": c.format if c else "",
            })
    os.replace(tmp, out / REPORT_CSV)
    counts: dict[str, int] = {}
    per_repo: dict[str, dict[str, int]] = {}
    for r in rows:
        counts[r.status] = counts.get(r.status, 0) + 1
        d = per_repo.setdefault(r.row.repo, {})
        d[r.status] = d.get(r.status, 0) + 1
    summary = {
        "rows": len(rows),
        "extracted": counts.get(OK, 0),
        "already_there": counts.get(PRESENT, 0),
        "missing": sum(counts.get(s, 0) for s in MISSING_STATUSES),
        "differing": sum(counts.get(s, 0) for s in DIFFER_STATUSES),
        "by_status": dict(sorted(counts.items())),
        "repos": len(per_repo),
        "repos_complete": sum(1 for d in per_repo.values() if set(d) <= {OK, PRESENT}),
        "repos_missing": sorted(k for k, d in per_repo.items() if d.get("missing_repo") or d.get("clone_failed")),
        "per_repo": dict(sorted(per_repo.items())),
        "problems": [{"path": r.row.path, "status": r.status, "reason": r.reason}
                     for r in rows if r.status not in (OK, PRESENT) and r.status != "missing_repo"],
        **extra,
    }
    tmpj = out / f".{REPORT_JSON}.tmp"
    tmpj.write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmpj, out / REPORT_JSON)
    return summary


def fetch_sources(
    rows: Sequence[Row],
    repos: Path,
    out: Path,
    clone: bool = False,
    jobs: int = 1,
    tolerance_s: float = 0.5,
    clone_url: str = DEFAULT_CLONE_URL,
    progress: bool = True,
    log: Callable[[str], None] = print,
    recheck: bool = False,
) -> dict:
    """Extract and verify every row; returns the summary written to ``fetch_report.json``.

    Parameters
    ----------
    rows : sequence of Row
        From :func:`read_manifest`.
    repos : Path
        Folder of local repositories (see :func:`find_repo` for the layouts).
    out : Path
        Output folder: files go to ``out / row.path``.
    clone : bool
        Clone repositories that are not under ``repos`` (into ``repos/owner/name.git``).
    jobs : int
        Repositories worked on at once (threads; git does the copying).
    tolerance_s : float
        Largest accepted difference between the file's duration and the manifest's.
    clone_url : str
        URL template for ``clone`` (``{repo}``, ``{owner}``, ``{name}``).
    progress : bool
        Show a tqdm progress bar (files).
    recheck : bool
        Verify files that the index lists again (their bytes are not copied again).
    """
    from tqdm import tqdm

    out.mkdir(parents=True, exist_ok=True)
    clean_temps(out)
    index = Index(out)
    by_repo: dict[str, list[Row]] = {}
    for r in rows:
        by_repo.setdefault(r.repo, []).append(r)
    results: list[Result] = []
    bar = tqdm(total=len(rows), unit="file", disable=not progress, dynamic_ncols=True,
               mininterval=0.5 if sys.stderr.isatty() else 30.0)
    lock = threading.Lock()
    clone_msgs: dict[str, str] = {}

    def tick(res: Result) -> None:
        with lock:
            bar.update(1)
            if res.status not in (OK, PRESENT, "missing_repo", "clone_failed"):
                bar.write(f"{res.status}: {res.row.path}: {res.reason}")

    def work(repo: str) -> list[Result]:
        g = find_repo(repos, repo)
        status, reason = "missing_repo", f"repository {repo} not found under {repos}"
        if g is None and clone:
            # only clone when some row of it still needs the repository
            need = any(not still_matches(index.get(r.path), out / r.path) for r in by_repo[repo])
            if need:
                g, msg = clone_repo(repos, repo, clone_url)
                clone_msgs[repo] = msg
                if g is None:
                    status, reason = "clone_failed", msg
                    with lock:
                        bar.write(f"{repo}: {msg}")
        return process_repo(repo, by_repo[repo], g, out, index, tolerance_s, status, reason, tick, recheck)

    t0 = time.time()
    try:
        if jobs <= 1:
            for repo in by_repo:
                results += work(repo)
        else:
            with ThreadPoolExecutor(max_workers=jobs) as ex:
                futs = [ex.submit(work, repo) for repo in by_repo]
                for f in as_completed(futs):
                    results += f.result()
    finally:
        bar.close()
    index.compact()
    summary = write_reports(out, results, {"seconds": round(time.time() - t0, 1),
                                           "repos_dir": str(repos), "clone": clone_msgs})
    return summary


def summary_line(s: dict) -> str:
    return (f"{s['rows']} files: {s['extracted']} extracted, {s['already_there']} already there, "
            f"{s['missing']} missing, {s['differing']} differing; repositories complete "
            f"{s['repos_complete']}/{s['repos']}, not found {len(s['repos_missing'])}")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST, help=f"sources manifest (default {DEFAULT_MANIFEST})")
    ap.add_argument("--repos", type=Path, required=True, help="folder of local git repositories (mirrors or clones)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT}; env AIAUDIO_SOURCES)")
    ap.add_argument("--clone", action="store_true", help="git clone --bare what is missing from GitHub into --repos")
    ap.add_argument("--clone-url", default=DEFAULT_CLONE_URL, help="URL template for --clone ({repo}, {owner}, {name})")
    ap.add_argument("--jobs", type=int, default=1, help="repositories at once (default 1)")
    ap.add_argument("--tolerance", type=float, default=0.5, help="accepted duration difference in seconds (default 0.5)")
    ap.add_argument("--repo", action="append", default=[], metavar="OWNER/NAME", help="only these repositories (repeatable)")
    ap.add_argument("--recheck", action="store_true", help="verify the files already there again (after a change of the checks)")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    try:
        rows = read_manifest(args.manifest.expanduser())
    except (OSError, ValueError) as e:
        print(f"cannot read the manifest: {e}", file=sys.stderr)
        return 2
    if args.repo:
        want = {r.lower() for r in args.repo}
        rows = [r for r in rows if r.repo.lower() in want]
    repos = args.repos.expanduser()
    if not repos.is_dir() and not args.clone:
        print(f"{repos} is not a folder; give the folder that holds the repositories (or --clone)", file=sys.stderr)
        return 2
    repos.mkdir(parents=True, exist_ok=True)
    out = args.out.expanduser().resolve()
    s = fetch_sources(rows, repos, out, clone=args.clone, jobs=args.jobs, tolerance_s=args.tolerance,
                      clone_url=args.clone_url, progress=not args.no_progress, recheck=args.recheck)
    print(summary_line(s))
    for k, v in s["by_status"].items():
        print(f"  {k}: {v}")
    if s["repos_missing"]:
        shown = ", ".join(s["repos_missing"][:10]) + (" ..." if len(s["repos_missing"]) > 10 else "")
        print(f"  repositories not found: {shown}")
    print(f"report: {out / REPORT_CSV}, {out / REPORT_JSON}; index: {out / INDEX}")
    return 0 if s["missing"] == 0 and s["differing"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
