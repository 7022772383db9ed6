#!/usr/bin/env python
"""Describe the training collection and measure its confounds, per class.

    python scripts/describe_training_data.py --data ~/.cache/aiaudio/sources [--manifest M]
                                             [--excerpt-seconds 30] [--markdown]

Reads the sources manifest and the files that ``scripts/fetch_sources.py`` extracted and
verified (``DATA/index.jsonl``), and prints (Markdown tables with ``--markdown``):

1. files, minutes, repositories and groups by label and family, with vocals, probable
   labels and evaluation-only (part-human) files;
2. durations per label; genres of the human songs (from the ``evidence`` column);
   licences as stated;
3. the confound table: for each class (``ai`` / ``human``, then each family) the share of
   files by sample rate, codec, channels and vocals, and the median integrated loudness
   (LUFS, ITU-R BS.1770 through :func:`aiaudio.cues.integrated_loudness`) and spectral
   cut-off (:func:`aiaudio.cues.cutoff_frequency`) of an excerpt of each file.

Loudness and cut-off are measured on ``--excerpt-seconds`` from the middle of each file at
its own rate and channels (decoded with :func:`aiaudio.audio.load_audio`); they are cached
in ``DATA/describe_cache.jsonl`` (keyed by the file's blob id), so a second run, or one after
more files were extracted, measures only what is new. Files that do not decode are counted
and named.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import csv
import json
import re
import statistics
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Callable, Iterable, Sequence

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from prepare_training_data import DEFAULT_SHARED, DEFAULT_SOURCES, read_index, source_rows  # noqa: E402

CACHE = "describe_cache.jsonl"


def codec_of(fmt: str, path: str) -> str:
    """A short codec name from a format string of :func:`aiaudio.audio.audio_info`."""
    f = fmt.lower()
    for key, name in (("mpeg_layer_iii", "mp3"), ("mp3", "mp3"), ("aac", "aac"), ("opus", "opus"),
                      ("vorbis", "vorbis"), ("flac", "flac"), ("pcm", "pcm (wav)"), ("float", "pcm (wav)")):
        if key in f:
            return name
    ext = Path(path).suffix.lower().lstrip(".")
    return {"m4a": "aac", "wav": "pcm (wav)", "ogg": "vorbis"}.get(ext, ext or "?")


def measure(path: str, duration_s: float | None, excerpt_s: float) -> dict:
    """Integrated loudness (LUFS) and cut-off (Hz) of ``excerpt_s`` from the middle of a file."""
    from aiaudio.audio import load_middle
    from aiaudio.cues import cutoff_frequency, integrated_loudness

    y, sr = load_middle(path, excerpt_s, duration_s=duration_s)
    return {"lufs": round(float(integrated_loudness(y, sr)), 2), "cutoff_hz": round(float(cutoff_frequency(y, sr)), 1),
            "measured_s": round(y.shape[1] / sr, 2), "excerpt_s": excerpt_s}


def load_cache(p: Path) -> dict[str, dict]:
    out: dict[str, dict] = {}
    if p.is_file():
        for line in p.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                e = json.loads(line)
                out[e["key"]] = e
            except (json.JSONDecodeError, KeyError, TypeError):
                continue
    return out


def collect(data: Path, manifest: Path, excerpt_s: float = 30.0, progress: bool = True,
            log: Callable[[str], None] = print) -> list[dict]:
    """One record per verified file: manifest fields, what the index read, and the measurements."""
    from tqdm import tqdm

    index = read_index(data)
    rows = source_rows(manifest, data)  # verified files only
    raw = {r["path"]: r for r in csv.DictReader(open(manifest, newline="", encoding="utf-8-sig"))}
    cache_path = data / CACHE
    cache = load_cache(cache_path)
    recs = []
    fh = cache_path.open("a", encoding="utf-8")
    try:
        for r in tqdm(rows, unit="file", disable=not progress, mininterval=1.0 if sys.stderr.isatty() else 30.0):
            rel = str(Path(r["path"]).relative_to(data.resolve()))
            e = index[rel]
            key = f"{rel}|{e.get('blob', '')}|{excerpt_s}"
            m = cache.get(key)
            if m is None:
                try:
                    m = {"key": key, **measure(r["path"], _f(e.get("duration_s")), excerpt_s)}
                except Exception as ex:  # counted and named, never silently dropped
                    m = {"key": key, "error": f"{type(ex).__name__}: {ex}"}
                fh.write(json.dumps(m) + "\n")
                fh.flush()
                cache[key] = m
            src = raw.get(rel, {})
            recs.append({**r, "rel": rel, "codec": codec_of(e.get("format", ""), rel),
                         "evidence": src.get("evidence", ""), "source_repo": src.get("source_repo", ""),
                         "lufs": m.get("lufs"), "cutoff_hz": m.get("cutoff_hz"), "error": m.get("error", "")})
    finally:
        fh.close()
    return recs


def _f(v) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


# --------------------------------------------------------------------------- tables


def table(header: Sequence[str], rows: Iterable[Sequence], md: bool) -> str:
    rows = [[str(c) for c in r] for r in rows]
    if md:
        out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        out += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(out)
    w = [max(len(str(h)), *(len(r[i]) for r in rows)) if rows else len(str(h)) for i, h in enumerate(header)]
    out = ["  ".join(str(h).ljust(w[i]) for i, h in enumerate(header))]
    out += ["  ".join(c.ljust(w[i]) for i, c in enumerate(r)) for r in rows]
    return "\n".join(out)


def _shares(values: list, top: int = 4) -> str:
    c = Counter(values)
    n = len(values)
    parts = [f"{k} {100 * v / n:.0f}%" for k, v in c.most_common(top)]
    rest = n - sum(v for _, v in c.most_common(top))
    if rest:
        parts.append(f"other {100 * rest / n:.0f}%")
    return ", ".join(parts)


def _median(xs: list) -> str:
    xs = [x for x in xs if x is not None]
    return f"{statistics.median(xs):.1f}" if xs else "-"


def _rate(sr) -> str:
    try:
        return f"{int(sr) / 1000:g}k"
    except (TypeError, ValueError):
        return "?"


def composition(recs: list[dict], md: bool) -> str:
    by = defaultdict(list)
    for r in recs:
        by[(r["label"], r["family"])].append(r)
    rows = []
    for (lab, fam), rs in sorted(by.items()):
        rows.append([lab, fam, len(rs), f"{sum(_f(r['duration_s']) or 0 for r in rs) / 60:.0f}",
                     len({r['source_repo'] for r in rs}), len({r['group'] for r in rs}),
                     sum(r["has_vocals"] == "yes" for r in rs), sum(r["probable"] == "yes" for r in rs),
                     sum(r["role"] == "eval" for r in rs)])
    rows.append(["all", "", len(recs), f"{sum(_f(r['duration_s']) or 0 for r in recs) / 60:.0f}",
                 len({r['source_repo'] for r in recs}), len({r['group'] for r in recs}),
                 sum(r["has_vocals"] == "yes" for r in recs), sum(r["probable"] == "yes" for r in recs),
                 sum(r["role"] == "eval" for r in recs)])
    return table(["label", "family", "files", "minutes", "repositories", "groups", "with vocals", "probable label",
                  "evaluation only (part human)"], rows, md)


def durations(recs: list[dict], md: bool) -> str:
    rows = []
    for lab in ("ai", "human"):
        d = sorted(_f(r["duration_s"]) or 0 for r in recs if r["label"] == lab)
        if not d:
            continue
        q = lambda p: d[min(len(d) - 1, int(p * len(d)))]  # noqa: E731
        rows.append([lab, len(d), f"{d[0]:.1f}", f"{q(0.25):.1f}", f"{statistics.median(d):.1f}", f"{q(0.75):.1f}", f"{d[-1]:.1f}"])
    return table(["label", "files", "min s", "25%", "median", "75%", "max s"], rows, md)


def genres(recs: list[dict], md: bool) -> str:
    c: Counter = Counter()
    for r in recs:
        if r["label"] != "human":
            continue
        m = re.search(r"genre ([^;|]+)", r["evidence"])
        c[m.group(1).strip() if m else "(not stated)"] += 1
    return table(["genre (human songs, from the evidence)", "files"], c.most_common(), md)


def licences(recs: list[dict], md: bool) -> str:
    c = Counter((r["label"], r["licence"] or "(empty)") for r in recs)
    return table(["label", "licence as stated", "files"], [[k[0], k[1], v] for k, v in sorted(c.items(), key=lambda kv: -kv[1])], md)


def confounds(recs: list[dict], md: bool, per_family: bool = True) -> str:
    classes: list[tuple[str, list[dict]]] = [(lab, [r for r in recs if r["label"] == lab]) for lab in ("ai", "human")]
    if per_family:
        fams = sorted({(r["label"], r["family"]) for r in recs})
        classes += [(f"{lab}: {fam}", [r for r in recs if r["family"] == fam]) for lab, fam in fams]
    rows = []
    for name, rs in classes:
        if not rs:
            continue
        rows.append([name, len(rs), _shares([_rate(r["sample_rate"]) for r in rs]), _shares([r["codec"] for r in rs]),
                     _shares([str(r["channels"]) + " ch" for r in rs], 2), _shares([r["has_vocals"] for r in rs], 3),
                     _median([r["lufs"] for r in rs]), _median([(r["cutoff_hz"] or 0) / 1000 if r["cutoff_hz"] is not None else None for r in rs]),
                     sum(1 for r in rs if r["lufs"] is not None)])
    return table(["class", "files", "sample rate", "codec", "channels", "vocals", "median LUFS", "median cut-off kHz",
                  "measured"], rows, md)


def cutoff_bands(recs: list[dict], md: bool) -> str:
    """Share of files by cut-off band, per label: the bandwidth confound in one line each."""
    bands = [(0, 8.5, "<= 8 kHz"), (8.5, 12.5, "8-12 kHz"), (12.5, 16.5, "12-16 kHz"), (16.5, 19.5, "16-19 kHz"),
             (19.5, 1e9, "> 19 kHz")]
    rows = []
    for lab in ("ai", "human"):
        cs = [(r["cutoff_hz"] or 0) / 1000 for r in recs if r["label"] == lab and r["cutoff_hz"] is not None]
        if not cs:
            continue
        rows.append([lab, len(cs)] + [f"{100 * sum(lo <= c < hi for c in cs) / len(cs):.0f}%" for lo, hi, _ in bands])
    return table(["label", "files"] + [b[2] for b in bands], rows, md)


def loudness_bands(recs: list[dict], md: bool) -> str:
    bands = [(-99, -20, "< -20"), (-20, -14, "-20..-14"), (-14, -10, "-14..-10"), (-10, -7, "-10..-7"), (-7, 99, "> -7")]
    rows = []
    for lab in ("ai", "human"):
        ls = [r["lufs"] for r in recs if r["label"] == lab and r["lufs"] is not None]
        if not ls:
            continue
        rows.append([lab, len(ls)] + [f"{100 * sum(lo <= x < hi for x in ls) / len(ls):.0f}%" for lo, hi, _ in bands])
    return table(["label", "files"] + [f"{b[2]} LUFS" for b in bands], rows, md)


def _items(recs: list[dict]) -> list:
    from aiaudio.training.data import Item

    return [Item(r["path"], 1 if r["label"] == "ai" else 0, r["generator"], r["group"], r["source"], _f(r["duration_s"]),
                 family=r["family"], role=r["role"], probable=r["probable"] == "yes", vocals=r["has_vocals"]) for r in recs]


def splits(recs: list[dict], md: bool, seed: int = 0) -> str:
    """The group split and the leave-one-family-out folds of these files (seed ``seed``)."""
    from aiaudio.training.data import leave_one_family_out, split_by_group

    items = _items(recs)
    sp = split_by_group(items, seed=seed)
    rows = [["group split", "-"] + [f"{len(sp[k])} ({sum(it.label for it in sp[k])} ai)" for k in ("train", "val", "test")]
            + ["-", sum(it.family == "human-commercial" for it in sp["test"]), sum(it.role == "eval" for it in sp["test"])]]
    for fam, f in leave_one_family_out(items, seed=seed).items():
        placed = sum(len(v) for v in f.values())
        side = f["test"] + f["holdout"]
        rows.append([f"without {fam}", sum(it.label for it in f["holdout"])]
                    + [f"{len(f[k])} ({sum(it.label for it in f[k])} ai)" for k in ("train", "val", "test")]
                    + [len(items) - placed, sum(it.family == "human-commercial" for it in side),
                       sum(it.role == "eval" for it in side)])
    return table(["split (seed 0)", "held-out AI files", "train", "val", "test", "dropped (other families of held-out groups)",
                  "commercial human songs on the test side", "evaluation-only files on the test side"], rows, md)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--data", type=Path, default=DEFAULT_SOURCES, help=f"extracted sources (default {DEFAULT_SOURCES})")
    ap.add_argument("--manifest", type=Path, default=DEFAULT_SHARED / "sources" / "manifest.csv")
    ap.add_argument("--excerpt-seconds", type=float, default=30.0, help="measured per file, from its middle (default 30)")
    ap.add_argument("--markdown", action="store_true", help="Markdown tables")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    data = args.data.expanduser()
    if not (data / "index.jsonl").is_file():
        print(f"{data}/index.jsonl not found: extract the sources first (scripts/fetch_sources.py --out {data})", file=sys.stderr)
        return 2
    recs = collect(data, args.manifest.expanduser(), args.excerpt_seconds, progress=not args.no_progress)
    n_manifest = sum(1 for _ in open(args.manifest.expanduser(), encoding="utf-8")) - 1
    md = args.markdown
    errors = [r for r in recs if r["error"]]
    print(f"{len(recs)} of {n_manifest} manifest files extracted and verified in {data}; loudness and cut-off "
          f"measured on {len(recs) - len(errors)} ({args.excerpt_seconds:g} s from the middle of each)\n")
    for title, fn in (("Composition", composition), ("Durations (s)", durations), ("Genres", genres),
                      ("Licences", licences), ("Confounds per class", confounds),
                      ("Cut-off per label", cutoff_bands), ("Loudness per label", loudness_bands),
                      ("Splits", splits)):
        print(f"## {title}\n" if md else f"== {title}")
        print(fn(recs, md))
        print()
    if errors:
        print(f"not measured ({len(errors)}):")
        for r in errors[:20]:
            print(f"  {r['rel']}: {r['error']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
