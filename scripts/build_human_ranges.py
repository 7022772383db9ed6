#!/usr/bin/env python
"""Build aiaudio/assets/human_ranges.json: percentiles of every cue over human music.

Sources (whatever of them is present):

* ``../shared/data/human/**`` -- the human clips of the development share (its
  ``manifest.csv``, label ``human``);
* Debian's freely licensed game music, installed with ``apt-get``:
  ``wesnoth-1.16-music``, ``drascula-music``, ``singularity-music``,
  ``fretsonfire-songs-muldjord``, ``fretsonfire-songs-sectoid``, ``asc-music``.
  Frets on Fire songs are mixed from their stems (song + guitar [+ rhythm], summed
  and scaled to a peak of 1.0 when the sum exceeds full scale);
  drascula ships the same 31 tracks once per language: files are de-duplicated by
  content hash.

Each track is analysed on its middle ``--max-seconds`` (default 60 s) at its native
rate with :func:`aiaudio.cues.extract_cues`. Rows are cached in
``~/.cache/aiaudio/cues/human_<cue-version>.csv`` (the version is a hash of
``aiaudio/cues/``), so an interrupted run resumes where it stopped and a re-run is
instant; a change to the cue code starts a fresh cache.

Usage::

    nice -n 10 python scripts/build_human_ranges.py [--install-debian] [--data ../shared/data]

``--install-debian`` runs ``apt-get update`` and installs the packages (root only);
a package that fails is skipped and the JSON records what was used.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import hashlib
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Iterable

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from aiaudio import cues  # noqa: E402
from aiaudio.audio import audio_info, load_audio  # noqa: E402
from aiaudio.errors import AudioLoadError  # noqa: E402

DEFAULT_DATA = (REPO / ".." / "shared" / "data").resolve()
OUT_JSON = REPO / "aiaudio" / "assets" / "human_ranges.json"
CACHE_DIR = Path(os.environ.get("AIAUDIO_CACHE", Path.home() / ".cache" / "aiaudio")) / "cues"
PERCENTILES = (0, 1, 5, 10, 25, 50, 75, 90, 95, 99, 100)

DEBIAN_PACKAGES = {
    "wesnoth-1.16-music": ["/usr/share/games/wesnoth/1.16/data/core/music"],
    "drascula-music": ["/usr/share/scummvm/drascula"],
    "singularity-music": ["/usr/share/games/singularity/music"],
    "fretsonfire-songs-muldjord": ["/usr/share/games/fretsonfire/data/songs/muldjord"],
    "fretsonfire-songs-sectoid": ["/usr/share/games/fretsonfire/data/songs/sectoid"],
    "asc-music": ["/usr/share/games/asc/music"],
}
AUDIO_EXT = {".ogg", ".mp3", ".flac", ".wav", ".opus"}
STEM_NAMES = ("song.ogg", "guitar.ogg", "rhythm.ogg", "drums.ogg")


# --------------------------------------------------------------------------- shared helpers


def cue_version() -> str:
    """Short hash of the *code* of the cue package aiaudio/cues/: cached rows are only reused
    for the same cue code. Docstrings, comments, the ``CUE_INFO`` table (``info.py``), the
    human-range readers (``ranges.py``) and the re-exports (``__init__.py``) do not enter the hash."""
    import ast

    dumps = []
    for path in sorted((REPO / "aiaudio" / "cues").glob("*.py")):
        if path.name in ("__init__.py", "info.py", "ranges.py"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            b = getattr(node, "body", None)
            if isinstance(b, list) and b and isinstance(b[0], ast.Expr) and isinstance(
                getattr(b[0], "value", None), ast.Constant
            ) and isinstance(b[0].value.value, str):
                node.body = b[1:] or [ast.Pass()]
        dumps.append(path.name + "\n" + ast.dump(tree))
    return hashlib.sha1("\n".join(dumps).encode("utf-8")).hexdigest()[:10]


def load_excerpt(paths: str | Path | list, max_s: float | None = 60.0) -> tuple[np.ndarray, int]:
    """Decode the middle ``max_s`` seconds of a file (or the sum of several stems).

    Parameters
    ----------
    paths : path or list of paths
        One file, or stems of one song to mix by summing (same rate expected).
    max_s : float or None
        Excerpt length, seconds; None reads everything.
    """
    if not isinstance(paths, (list, tuple)):
        paths = [paths]
    mix: np.ndarray | None = None
    sr0 = None
    for p in paths:
        info = audio_info(p)
        dur = info.duration_s
        if max_s is not None and dur is not None and dur > max_s:
            y, sr = load_audio(p, offset=(dur - max_s) / 2.0, duration=max_s)
        else:
            y, sr = load_audio(p, duration=max_s)
        if sr0 is None:
            sr0 = sr
        elif sr != sr0:
            from aiaudio.audio import resample

            y = resample(y, sr, sr0)
        if mix is None:
            mix = y
        else:
            n = max(mix.shape[1], y.shape[1])
            ch = max(mix.shape[0], y.shape[0])
            out = np.zeros((ch, n), np.float32)
            out[:, : mix.shape[1]] += mix  # a mono stem (1, n) broadcasts to every channel
            out[:, : y.shape[1]] += y
            mix = out
    assert mix is not None and sr0 is not None
    if len(paths) > 1:
        peak = float(np.abs(mix).max())
        if peak > 1.0:  # summed stems: bring an over back to full scale, as a mix-down would
            mix = mix / peak
    return mix, sr0


class CueCache:
    """Append-only CSV of cue rows keyed by ``key``; resumable."""

    def __init__(self, path: Path, extra_fields: Iterable[str] = ()):
        self.path = path
        self.fields = ["key", *extra_fields, "sr", "channels", "seconds", "error", *cues.CUE_NAMES]
        self.rows: dict[str, dict[str, str]] = {}
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            with path.open(newline="") as f:
                for row in csv.DictReader(f):
                    if row.get("key"):
                        self.rows[row["key"]] = row
        self._new = not path.exists() or path.stat().st_size == 0

    def __contains__(self, key: str) -> bool:
        return key in self.rows

    def add(self, row: dict) -> None:
        row = {k: row.get(k, "") for k in self.fields}
        with self.path.open("a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.fields)
            if self._new:
                w.writeheader()
                self._new = False
            w.writerow(row)
            f.flush()
            os.fsync(f.fileno())
        self.rows[row["key"]] = {k: str(v) for k, v in row.items()}


def analyse(paths, max_s: float | None) -> dict:
    """Cue row for one track (or stems of one track); ``error`` set on failure."""
    try:
        y, sr = load_excerpt(paths, max_s)
        c = cues.extract_cues(y, sr)
        return {"sr": sr, "channels": y.shape[0], "seconds": round(y.shape[1] / sr, 3), "error": "", **c}
    except (AudioLoadError, ValueError, RuntimeError) as e:  # one bad file: one error row
        return {"error": f"{type(e).__name__}: {e}"[:300]}


def file_hash(path: Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------- sources


def shared_human(data: Path) -> list[tuple[str, str, list[Path]]]:
    """(source, id, paths) of the human clips listed in the share's manifest."""
    man = data / "manifest.csv"
    if not man.exists():
        print(f"[info] {man} not found: skipping the shared development data", file=sys.stderr)
        return []
    out = []
    with man.open(newline="") as f:
        for row in csv.DictReader(f):
            if row["label"] != "human":
                continue
            p = data / row["path"]
            if p.exists():
                out.append((f"share:{Path(row['path']).parts[1]}", row["path"], [p]))
    return out


def debian_installed(install: bool) -> dict[str, str]:
    """Package -> version of the Debian music packages present (installing them first
    when ``install``); failures are reported and skipped."""
    if install:
        subprocess.run(["apt-get", "update", "-q"], check=False)
        for pkg in DEBIAN_PACKAGES:
            r = subprocess.run(
                ["apt-get", "install", "-y", "-q", pkg],
                env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, check=False,
            )
            if r.returncode != 0:
                print(f"[warn] apt-get install {pkg} failed (rc {r.returncode}); continuing", file=sys.stderr)
    versions = {}
    for pkg in DEBIAN_PACKAGES:
        r = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status} ${Version}", pkg], capture_output=True, text=True, check=False
        )
        if r.returncode == 0 and r.stdout.startswith("install ok installed"):
            versions[pkg] = r.stdout.split()[-1]
    return versions


def debian_tracks(packages: dict[str, str]) -> list[tuple[str, str, list[Path]]]:
    out = []
    seen: set[str] = set()
    for pkg in packages:
        for root in DEBIAN_PACKAGES[pkg]:
            rootp = Path(root)
            if not rootp.exists():
                continue
            if pkg.startswith("fretsonfire"):
                for song in sorted(p for p in rootp.iterdir() if p.is_dir()):
                    stems = [song / n for n in STEM_NAMES if (song / n).exists()]
                    if stems:
                        out.append((f"debian:{pkg}", str(song), stems))
                continue
            for p in sorted(rootp.rglob("*")):
                if p.suffix.lower() in AUDIO_EXT and p.is_file():
                    h = file_hash(p)
                    if h in seen:  # drascula: one copy per language
                        continue
                    seen.add(h)
                    out.append((f"debian:{pkg}", str(p), [p]))
    return out


# --------------------------------------------------------------------------- main


def _sig(x: float) -> float:
    return float(f"{x:.6g}")


def build(rows: list[dict], meta: dict) -> dict:
    out_cues = {}
    for name in cues.CUE_NAMES:
        v = np.array([float(r[name]) for r in rows if r.get(name) not in (None, "")])
        v = v[np.isfinite(v)]
        if v.size == 0:
            continue
        out_cues[name] = {
            "n": int(v.size),
            "unit": cues.CUE_INFO[name].unit,
            "percentiles": {str(p): _sig(np.percentile(v, p)) for p in PERCENTILES},
        }
    by_source: dict[str, dict[str, float]] = {}
    for src in sorted({r["source"] for r in rows}):
        sub = [r for r in rows if r["source"] == src]
        by_source[src] = {"n": len(sub)}
        for name in cues.CUE_NAMES:
            by_source[src][name] = _sig(float(np.median([float(r[name]) for r in sub])))
    return {"meta": meta, "cues": out_cues, "median_by_source": by_source}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder (manifest.csv)")
    ap.add_argument("--max-seconds", type=float, default=60.0, help="analyse the middle N s of each track")
    ap.add_argument("--install-debian", action="store_true", help="apt-get install the Debian music first")
    ap.add_argument("-o", "--output", type=Path, default=OUT_JSON)
    ap.add_argument("--limit", type=int, default=0, help="analyse at most N tracks (smoke test)")
    args = ap.parse_args(argv)

    from tqdm import tqdm

    packages = debian_installed(args.install_debian)
    missing = [p for p in DEBIAN_PACKAGES if p not in packages]
    if missing:
        print(f"[info] Debian packages not installed (skipped): {', '.join(missing)}", file=sys.stderr)
    tracks = shared_human(args.data) + debian_tracks(packages)
    if args.limit:
        tracks = tracks[: args.limit]
    if not tracks:
        print("no human music found: nothing to build", file=sys.stderr)
        return 1
    ver = cue_version()
    cache = CueCache(CACHE_DIR / f"human_{ver}_{int(args.max_seconds)}s.csv", extra_fields=["source", "path"])
    todo = [t for t in tracks if t[1] not in cache]
    print(f"{len(tracks)} tracks, {len(tracks) - len(todo)} cached in {cache.path}", file=sys.stderr)
    for src, key, paths in tqdm(todo, desc="human cues", unit="track"):
        row = analyse(paths, args.max_seconds)
        cache.add({"key": key, "source": src, "path": ";".join(map(str, paths)), **row})

    keys = {t[1] for t in tracks}
    rows = [r for k, r in cache.rows.items() if k in keys and not r.get("error")]
    errors = [(k, r["error"]) for k, r in cache.rows.items() if k in keys and r.get("error")]
    for k, e in errors:
        print(f"[error] {k}: {e}", file=sys.stderr)
    sources: dict[str, int] = {}
    for r in rows:
        sources[r["source"]] = sources.get(r["source"], 0) + 1
    meta = {
        "description": "Percentiles of each aiaudio cue over human-made music (reference for explanations).",
        "n_tracks": len(rows),
        "n_errors": len(errors),
        "sources": sources,
        "debian_packages": packages,
        "debian_missing": missing,
        "excerpt": f"middle {args.max_seconds:g} s of each track, native sample rate",
        "seconds_analysed": round(sum(float(r["seconds"]) for r in rows), 1),
        "cue_version": ver,
        "date": _dt.date.today().isoformat(),
        "command": " ".join(["python scripts/build_human_ranges.py", *(argv if argv is not None else sys.argv[1:])]),
        "python": platform.python_version(),
        "percentiles": list(PERCENTILES),
    }
    out = build(rows, meta)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(out, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    print(f"wrote {args.output} ({args.output.stat().st_size} bytes, {len(rows)} tracks)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
