"""``scripts/family_table.py``: the per-family tables of an evaluation, AI and human families."""

from __future__ import annotations

import csv
import importlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _table():
    if str(ROOT / "scripts") not in sys.path:
        sys.path.insert(0, str(ROOT / "scripts"))
    return importlib.import_module("family_table").table


def test_human_families_show_which_human_songs_are_flagged(tmp_path):
    # 2 AI songs of one family; human songs of two families, one of them flagged, one uncertain
    rows = [("a1.wav", 1, "suno", 0.95), ("a2.wav", 1, "suno", 0.40),
            ("c1.wav", 0, "human-commercial", 0.10), ("c2.wav", 0, "human-commercial", 0.80),
            ("r1.wav", 0, "human-reference", 0.93), ("r2.wav", 0, "human-reference", 0.20)]
    with (tmp_path / "test.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "label", "generator", "group", "source", "duration_s", "family"])
        for name, lab, fam, _ in rows:
            w.writerow([name, "ai" if lab else "human", "g", name, "s", "10", fam])
    ev = tmp_path / "eval"
    ev.mkdir()
    with (ev / "scores.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "label", "p_ai_original"])
        for name, lab, _, p in rows:
            w.writerow([str(tmp_path / name), lab, repr(p)])
    (ev / "metrics.json").write_text(json.dumps({"model_version": "m@1", "data": ["test.csv"], "threshold": 0.9,
                                                  "uncertain_band": [0.7, 0.9]}))
    text = _table()(ev, tmp_path / "test.csv")
    lines = text.splitlines()
    assert "25.0% of 4 human songs flagged" in lines[0] and "50.0% of 2 AI songs" in lines[0]
    assert "| suno | 2 | 0.750 | 0.750 | 50.0% | 0.675 |" in lines
    assert "| human-commercial | 2 | 0.0% (0) | 50.0% | 0.450 |" in lines
    assert "| human-reference | 2 | 50.0% (1) | 0.0% | 0.565 |" in lines
    text = _table()(ev, tmp_path / "test.csv", without=("human-reference",))
    second = text.splitlines()[1]
    assert second.startswith("Without human-reference: 4 songs, AUC 0.750")
    assert "0.0% of 2 human songs flagged" in second and "50.0% of 2 AI songs" in second
