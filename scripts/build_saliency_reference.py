#!/usr/bin/env python
"""Build the shipped model's saliency reference: the occlusion attribution on human music.

    nice -n 10 python scripts/build_saliency_reference.py [--data ../shared/data] [--model DIR]

For the human clips of the development share (``manifest.csv``, label ``human``), in
path order, every fourth one (index 0, 4, 8, ...) is held out (for checks such as
``scripts/band_check_table.py``); the others are decoded (middle ``--max-seconds``, default
60 s, native rate) and passed to :func:`aiaudio.explain.build_saliency_reference` with the
default occlusion grid. The result goes to ``aiaudio/assets/saliency_<fingerprint>.json``
(or ``--out``): :func:`aiaudio.explain.load_saliency_reference` finds it there for exactly
this model (same weights and front end); a retrained model needs a new one.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from aiaudio import load_detector  # noqa: E402
from aiaudio.audio import audio_info, load_audio  # noqa: E402
from aiaudio.errors import AudioLoadError  # noqa: E402
from aiaudio.explain import build_saliency_reference, model_fingerprint  # noqa: E402

DEFAULT_DATA = (REPO / ".." / "shared" / "data").resolve()


def human_split(data: Path) -> tuple[list[str], list[str]]:
    """(reference, held-out) relative paths of the share's human clips: every fourth one is held out."""
    with open(data / "manifest.csv", newline="", encoding="utf-8") as fh:
        paths = sorted(r["path"] for r in csv.DictReader(fh) if r["label"] == "human")
    return [p for i, p in enumerate(paths) if i % 4], [p for i, p in enumerate(paths) if i % 4 == 0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--model", default=None, help="model directory (default: the shipped model)")
    ap.add_argument("--max-seconds", type=float, default=60.0)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    det = load_detector(args.model)
    ref_paths, held = human_split(args.data)
    tracks, used = [], []
    for rel in ref_paths:
        f = args.data / rel
        try:
            d = audio_info(f).duration_s
            off = max(0.0, (d - args.max_seconds) / 2)
            y, sr = load_audio(f, offset=off, duration=args.max_seconds)
        except AudioLoadError as e:
            print(f"skip {rel}: {e}", file=sys.stderr)
            continue
        if y.shape[1] < det.config.frontend.min_samples * sr // det.sample_rate:
            print(f"skip {rel}: shorter than the model's minimum", file=sys.stderr)
            continue
        tracks.append((y, sr))
        used.append(rel)
    meta = {
        "description": "Occlusion band importance of this model on human music (aiaudio.explain.SaliencyReference).",
        "source": "human clips of the development share (manifest.csv label human), every fourth held out",
        "tracks": used,
        "held_out": held,
        "excerpt": f"middle {args.max_seconds:g} s, native sample rate",
        "command": "python scripts/build_saliency_reference.py",
        "date": _dt.date.today().isoformat(),
    }
    ref = build_saliency_reference(det, tracks, meta=meta)
    out = args.out or REPO / "aiaudio" / "assets" / f"saliency_{model_fingerprint(det)}.json"
    ref.save(out)
    print(f"{len(used)} human tracks -> {out}")
    for j in range(ref.n_bands):
        print(
            f"  {ref.band_edges_hz[j]:6.0f}-{ref.band_edges_hz[j + 1]:5.0f} Hz: median {ref.importance_median[j]:+.3f}, "
            f"5-95 % {ref.importance_p5[j]:+.3f} .. {ref.importance_p95[j]:+.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
