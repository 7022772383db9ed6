"""``aiaudio catalog``: one verdict per song, album or artist over :mod:`aiaudio.catalog`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import AiaudioError
from ._common import _load_detector
from .output import RowWriter, _open_output
from .score import cmd_score


def cmd_catalog(args: argparse.Namespace) -> int:
    """``aiaudio catalog``: score the songs (``score``'s rows, resumable), then one verdict per group."""
    from ..catalog import CATALOG_COLUMNS, build_catalog, load_catalog_model, songs_from_rows
    from ..tags import parse_group_by

    try:
        parse_group_by(args.group_by)
    except ValueError as e:
        print(f"aiaudio catalog: {e}", file=sys.stderr)
        return 2
    songs_path = args.songs
    if not songs_path:
        base = args.output if args.output not in (None, "-") else "catalog.csv"
        songs_path = str(Path(base).with_suffix("")) + ".songs.jsonl"
    score_args = argparse.Namespace(
        paths=args.paths, output=songs_path, recursive=True, format="jsonl", no_progress=args.no_progress,
        model=args.model, cues=False, segments=True, batch_size=32, resume=args.resume, jobs=args.jobs,
        threads=args.threads, file_timeout=None,
    )
    rc = cmd_score(score_args)
    if rc != 0:
        return rc
    det = _load_detector(args, "catalog", "every verdict below is")
    if det is None:
        return 1
    try:
        with open(songs_path, encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh if line.strip()]
        cm = load_catalog_model(det.model_dir) if det.model_dir is not None else None
    except (OSError, ValueError, AiaudioError) as e:
        print(f"aiaudio catalog: {e}", file=sys.stderr)
        return 1
    from ..catalog import CatalogModel

    cat = build_catalog(
        songs_from_rows(rows, det.config, args.group_by), cm or CatalogModel(), det.config,
        model_version=det.version, group_by=args.group_by,
    )
    try:
        fh = _open_output(args.output)
        try:
            writer = RowWriter(fh, "csv", CATALOG_COLUMNS)
            for row in cat.rows():
                writer.write(row)
        finally:
            if fh is not sys.stdout:
                fh.close()
        if args.html:
            from ..catalog_report import write_catalog_html

            write_catalog_html(
                cat, args.html, title=args.title, threshold=det.config.threshold, uncertain_low=det.config.uncertain_low
            )
    except OSError as e:
        print(f"aiaudio catalog: cannot write output: {e}", file=sys.stderr)
        return 1
    tiers: dict[str, int] = {}
    for g in cat.groups:
        tiers[g.verdict] = tiers.get(g.verdict, 0) + 1
    summary = ", ".join(f"{n} {v}" for v, n in tiers.items())
    where = f" -> {args.output}" if args.output not in (None, "-") else ""
    html = f" and {args.html}" if args.html else ""
    print(f"aiaudio catalog: {len(cat.groups)} groups ({summary}); song rows in {songs_path}{where}{html}", file=sys.stderr)
    return 0


