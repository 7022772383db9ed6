"""Score the same inputs with two code trees and check that the scores agree.

    python scripts/check_same_scores.py --old OLD_TREE [--new NEW_TREE] [--work DIR] [--tol 1e-6] PATH [PATH ...]

Each tree (a checkout of this repository; ``--new`` defaults to this one) scores every
PATH with ``python -m aiaudio score PATH --recursive --cues --format jsonl`` (the tree
on ``PYTHONPATH``, one decode process and one CNN thread, so the runs are
deterministic), and the rows are compared file by file: the same files, the same
errors, labels, verdicts, flags and reasons, and every number (``p_ai``, confidence,
duration, each cue) within ``--tol`` (absolute, or relative to the value where that is
larger than 1). An output already in ``--work`` is reused, so a second check against
the same old tree scores only the new one. Exit status 0 when everything agrees, 1
otherwise (the differences are listed).

For a refactoring that must not change behaviour (issue 14)::

    git worktree add /tmp/old <commit before the change>
    python scripts/make_examples.py /tmp/examples
    python scripts/check_same_scores.py --old /tmp/old /tmp/examples ../shared/data
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def score(tree: Path, target: str, out: Path) -> None:
    """Score ``target`` with the code in ``tree`` into ``out`` (JSON lines), unless ``out`` exists."""
    if out.is_file():
        return
    env = dict(os.environ, PYTHONPATH=str(tree))
    cmd = [sys.executable, "-m", "aiaudio", "score", target, "--recursive", "--cues", "--format", "jsonl",
           "--no-progress", "-j", "0", "--threads", "1", "-o", str(out)]
    print(f"[{tree}] {' '.join(cmd[2:])}", file=sys.stderr)
    subprocess.run(cmd, env=env, check=True, cwd=tree)


def read_rows(path: Path) -> dict[str, dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {r["path"]: r for r in rows}


def _close(a: Any, b: Any, tol: float) -> bool:
    if isinstance(a, bool) or isinstance(b, bool) or not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        if isinstance(a, list) and isinstance(b, list):
            return len(a) == len(b) and all(_close(x, y, tol) for x, y in zip(a, b))
        return a == b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


def compare(old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]], tol: float) -> list[str]:
    """The differences between two score outputs (an empty list when they agree)."""
    diffs: list[str] = []
    for p in sorted(set(old) ^ set(new)):
        diffs.append(f"{p}: only in the {'old' if p in old else 'new'} output")
    for p in sorted(set(old) & set(new)):
        a, b = old[p], new[p]
        for k in sorted(set(a) | set(b)):
            if k == "error":  # the message may be reworded; whether there is one may not
                if bool(a.get(k)) != bool(b.get(k)):
                    diffs.append(f"{p}: error {a.get(k)!r} -> {b.get(k)!r}")
            elif not _close(a.get(k), b.get(k), tol):
                diffs.append(f"{p}: {k} {a.get(k)!r} -> {b.get(k)!r}")
    return diffs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="+", metavar="PATH", help="audio files or folders (scored recursively)")
    ap.add_argument("--old", required=True, type=Path, help="the old code tree (repository root)")
    ap.add_argument("--new", type=Path, default=Path(__file__).resolve().parents[1], help="the new code tree (default: this one)")
    ap.add_argument("--work", type=Path, default=Path("same_scores"), help="where the outputs go (default: ./same_scores)")
    ap.add_argument("--tol", type=float, default=1e-6, help="tolerance of every number (default 1e-6)")
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    failed = False
    for target in args.paths:
        target = str(Path(target).resolve())
        key = hashlib.sha1(target.encode()).hexdigest()[:10]
        outs = {}
        for name, tree in (("old", args.old.resolve()), ("new", args.new.resolve())):
            outs[name] = args.work / f"{Path(target).name}-{key}-{name}.jsonl"
            score(tree, target, outs[name])
        old, new = read_rows(outs["old"]), read_rows(outs["new"])
        diffs = compare(old, new, args.tol)
        scored = sum(1 for r in old.values() if not r.get("error"))
        print(f"{target}: {len(old)} files ({scored} scored): "
              + ("same scores, cues and flags" if not diffs else f"{len(diffs)} differences"))
        for d in diffs[:50]:
            print("  " + d)
        failed |= bool(diffs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
