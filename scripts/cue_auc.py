#!/usr/bin/env python
"""How well does each cue alone separate AI from human music, before and after MP3?

For every file of ``../shared/data/manifest.csv`` the middle ``--max-seconds``
(default 60 s) is analysed with :func:`aiaudio.cues.extract_cues` at its native
rate, then the same excerpt is encoded to MP3 at ``--kbps`` (default 128 kbps CBR,
libmp3lame through PyAV, native rate and channels), decoded, and analysed again.
Both classes are re-encoded, so a cue that only tracks "which codec / bandwidth
the file came in" loses its power after re-encoding.

Prints a markdown table (and writes it to ``-o``): per cue, the median over human
and over AI files, and the single-feature ROC-AUC (scikit-learn ``roc_auc_score``,
AI = positive class, the raw cue value as the score) on

* ``all``: every file, as published;
* ``mp3``: every file after MP3 re-encoding;
* ``>=44k``: only files published at 44.1 or 48 kHz (both classes), as published --
  removes most of the sample-rate / bandwidth confound;
* ``pairs``: only ``deezer-fma-real`` against its own reconstructions
  (``deezer-*``): same songs, same MP3 container; content and codec held fixed.

AUC > 0.5: AI files have higher values; < 0.5: lower; |AUC - 0.5| is the strength.

Rows are cached in ``~/.cache/aiaudio/cues/auc_<cue-version>_<N>s_<kbps>k.csv``;
re-runs only compute what is missing (the version changes with the cue code).

Usage::

    nice -n 10 python scripts/cue_auc.py -o cue_auc.md [--csv rows.csv]
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_human_ranges import CACHE_DIR, DEFAULT_DATA, CueCache, cue_version, load_excerpt  # noqa: E402

from aiaudio import cues  # noqa: E402
from aiaudio.audio import load_audio  # noqa: E402
from aiaudio.errors import AudioLoadError  # noqa: E402


def mp3_roundtrip(y: np.ndarray, sr: int, kbps: int = 128) -> tuple[np.ndarray, int]:
    """Encode ``y`` (channels, samples) to MP3 CBR ``kbps`` with libmp3lame, decode it."""
    import av

    layout = "stereo" if y.shape[0] >= 2 else "mono"
    y = np.ascontiguousarray(y[:2] if y.shape[0] >= 2 else y[:1], dtype=np.float32)
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp3") as c:
        s = c.add_stream("libmp3lame", rate=sr, layout=layout)
        s.bit_rate = kbps * 1000
        fr = av.AudioFrame.from_ndarray(y, format="fltp", layout=layout)
        fr.sample_rate = sr
        for p in s.encode(fr):
            c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    buf.seek(0)
    return load_audio(buf)


def _row(y: np.ndarray, sr: int) -> dict:
    return {"sr": sr, "channels": y.shape[0], "seconds": round(y.shape[1] / sr, 3), "error": "",
            **cues.extract_cues(y, sr)}


def compute(data: Path, max_s: float, kbps: int) -> tuple[list[dict], CueCache]:
    from tqdm import tqdm

    man = data / "manifest.csv"
    if not man.exists():
        raise SystemExit(f"{man} not found: this script needs the shared development data")
    with man.open(newline="") as f:
        files = list(csv.DictReader(f))
    cache = CueCache(
        CACHE_DIR / f"auc_{cue_version()}_{int(max_s)}s_{kbps}k.csv",
        extra_fields=["variant", "path", "label", "generator", "folder", "native_sr"],
    )
    todo = [r for r in files if f"mp3:{r['path']}" not in cache or f"orig:{r['path']}" not in cache]
    print(f"{len(files)} files, {len(files) - len(todo)} cached in {cache.path}", file=sys.stderr)
    for r in tqdm(todo, desc="cues orig+mp3", unit="file"):
        meta = {"path": r["path"], "label": r["label"], "generator": r["generator"],
                "folder": Path(r["path"]).parts[1], "native_sr": r["sample_rate"]}
        try:
            y, sr = load_excerpt(data / r["path"], max_s)
            orig = _row(y, sr)
            z, zr = mp3_roundtrip(y, sr, kbps)
            mp3 = _row(z, zr)
        except (AudioLoadError, ValueError, RuntimeError, OSError) as e:
            orig = mp3 = {"error": f"{type(e).__name__}: {e}"[:300]}
        cache.add({"key": f"orig:{r['path']}", "variant": "orig", **meta, **orig})
        cache.add({"key": f"mp3:{r['path']}", "variant": "mp3", **meta, **mp3})
    rows = [cache.rows[k] for r in files for k in (f"orig:{r['path']}", f"mp3:{r['path']}") if k in cache.rows]
    return rows, cache


def auc(rows: list[dict], name: str) -> float:
    from sklearn.metrics import roc_auc_score

    y = np.array([1 if r["label"] == "ai" else 0 for r in rows])
    if len(set(y)) < 2:
        return float("nan")
    x = np.array([float(r[name]) for r in rows])
    return float(roc_auc_score(y, x))


def fmt(v: float) -> str:
    if not np.isfinite(v):
        return "n/a"
    a = abs(v)
    if a >= 1000:
        return f"{v:.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    if a == 0:
        return "0"
    return f"{v:.3f}"


def table(rows: list[dict], kbps: int) -> str:
    ok = [r for r in rows if not r.get("error")]
    orig = [r for r in ok if r["variant"] == "orig"]
    mp3 = [r for r in ok if r["variant"] == "mp3"]
    wide = [r for r in orig if int(r["native_sr"]) >= 44100]
    pairs = [r for r in orig if r["folder"].startswith("deezer-")]

    def n(rs, lab):
        return sum(r["label"] == lab for r in rs)

    lines = [
        f"Files: all {n(orig, 'human')} human / {n(orig, 'ai')} AI; "
        f">=44k {n(wide, 'human')} / {n(wide, 'ai')}; pairs {n(pairs, 'human')} / {n(pairs, 'ai')}. "
        f"Middle 60 s of each file at its native rate; MP3 = libmp3lame CBR {kbps} kbps round trip of the same excerpt.",
        "AUC: ROC-AUC of the cue alone, AI = positive (> 0.5: AI higher, < 0.5: AI lower; 0.5 = chance).",
        "",
        "| cue | unit | median human | median AI | AUC all | median human MP3 | median AI MP3 | AUC MP3 | AUC >=44k | AUC pairs |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in cues.CUE_NAMES:
        def med(rs, lab):
            v = [float(r[name]) for r in rs if r["label"] == lab]
            return float(np.median(v)) if v else float("nan")

        lines.append(
            f"| `{name}` | {cues.CUE_INFO[name].unit} | {fmt(med(orig, 'human'))} | {fmt(med(orig, 'ai'))} | "
            f"{auc(orig, name):.2f} | {fmt(med(mp3, 'human'))} | {fmt(med(mp3, 'ai'))} | {auc(mp3, name):.2f} | "
            f"{auc(wide, name):.2f} | {auc(pairs, name):.2f} |"
        )
    errs = [r for r in rows if r.get("error")]
    if errs:
        lines.append("")
        lines.append(f"{len(errs) // 2} files failed: " + "; ".join(f"{r['path']}: {r['error']}" for r in errs[::2]))
    return "\n".join(lines) + "\n"


BY_FOLDER_CUES = (
    "shimmer_db", "phase_incoherence", "flatness_mid_db", "flatness_high_db",
    "upsampler_periodicity_z", "upsampler_peak_db", "cutoff_hz", "integrated_loudness_lufs",
)


def table_by_folder(rows: list[dict]) -> str:
    """AUC per AI folder (as published / after MP3): each ``deezer-*`` reconstruction
    folder against ``deezer-fma-real`` (its own source songs), every other folder
    against all human files."""
    ok = [r for r in rows if not r.get("error")]
    lines = [
        "AUC per AI folder, as published / after MP3 (deezer-* against deezer-fma-real, the same 7 songs; "
        "others against all human files):",
        "",
        "| AI folder | n | " + " | ".join(f"`{c}`" for c in BY_FOLDER_CUES) + " |",
        "|---|---|" + "---|" * len(BY_FOLDER_CUES),
    ]
    for folder in sorted({r["folder"] for r in ok if r["label"] == "ai"}):
        cells = []
        for name in BY_FOLDER_CUES:
            vals = []
            for var in ("orig", "mp3"):
                rs = [r for r in ok if r["variant"] == var]
                ai = [r for r in rs if r["folder"] == folder]
                ref = [r for r in rs if (r["folder"] == "deezer-fma-real" if folder.startswith("deezer-")
                                         else r["label"] == "human")]
                vals.append(f"{auc(ai + ref, name):.2f}")
            cells.append(" / ".join(vals))
        n_ai = sum(1 for r in ok if r["variant"] == "orig" and r["folder"] == folder)
        lines.append(f"| {folder} | {n_ai} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--max-seconds", type=float, default=60.0)
    ap.add_argument("--kbps", type=int, default=128)
    ap.add_argument("-o", "--output", type=Path, help="write the markdown table here")
    ap.add_argument("--csv", type=Path, help="also write every per-file cue row here")
    args = ap.parse_args(argv)
    rows, cache = compute(args.data, args.max_seconds, args.kbps)
    md = table(rows, args.kbps) + "\n" + table_by_folder(rows)
    print(md)
    if args.output:
        args.output.write_text(md, encoding="utf-8")
    if args.csv:
        with args.csv.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cache.fields)
            w.writeheader()
            w.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
