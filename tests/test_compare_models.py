"""``scripts/compare_models.py``: two model folders, the same splits and weights or not.

A rerun of the recipe writes its model where the user says (``runs/x/model``), the shipped
one lives at ``models/default``: their split files name the same files by different relative
paths, and the comparison must see through that.
"""

from __future__ import annotations

import csv
import importlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("safetensors")
from safetensors.numpy import save_file  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FIELDS = ["path", "label", "group"]


def _compare():
    if str(ROOT / "scripts") not in sys.path:
        sys.path.insert(0, str(ROOT / "scripts"))
    return importlib.import_module("compare_models")


def _model(folder: Path, sides: dict[str, list[tuple[Path | str, str, str]]], weight: float = 0.5) -> Path:
    """A model folder whose split rows name ``sides``' files relative to its ``splits/`` folder."""
    (folder / "splits").mkdir(parents=True)
    for side, rows in sides.items():
        with (folder / "splits" / f"{side}.csv").open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(FIELDS)
            for path, label, group in rows:
                rel = path if isinstance(path, str) else os.path.relpath(path, folder / "splits")
                w.writerow([rel, label, group])
    (folder / "config.json").write_text(json.dumps({"threshold": 0.8, "calibration": {"a": 1.0, "b": 0.0}}))
    save_file({"w": np.full((2, 3), weight, dtype=np.float32)}, str(folder / "model.safetensors"))
    return folder


@pytest.fixture()
def files(tmp_path):
    shared = tmp_path / "shared" / "data"
    shared.mkdir(parents=True)
    return [shared / f"{n}.flac" for n in ("a", "b", "c")]


def test_the_same_files_named_from_folders_at_different_depths_are_the_same_split(tmp_path, files, capsys):
    sides = {"train": [(files[0], "human", "g0"), ("~/.cache/aiaudio/x.flac", "ai", "g1")],
             "test": [(files[1], "ai", "g2"), (files[2], "human", "g3")]}
    a = _model(tmp_path / "models" / "default", sides)
    b = _model(tmp_path / "runs" / "clean" / "model", sides)
    a_text = (a / "splits" / "train.csv").read_text()
    assert a_text != (b / "splits" / "train.csv").read_text()  # the relative paths differ as text
    assert _compare().main([str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "splits/train.csv: 2 / 2 rows, 0 on one side only" in out
    assert "identical splits and weights" in out


def test_a_file_on_another_side_or_other_weights_differ(tmp_path, files, capsys):
    a = _model(tmp_path / "models" / "default",
               {"train": [(files[0], "human", "g0")], "test": [(files[1], "ai", "g1"), (files[2], "ai", "g2")]})
    b = _model(tmp_path / "runs" / "clean" / "model",
               {"train": [(files[0], "human", "g0"), (files[2], "ai", "g2")], "test": [(files[1], "ai", "g1")]})
    assert _compare().main([str(a), str(b)]) == 1
    out = capsys.readouterr().out
    assert "splits/train.csv: 1 / 2 rows, 1 on one side only" in out
    assert "splits/test.csv: 2 / 1 rows, 1 on one side only" in out

    c = _model(tmp_path / "runs" / "other" / "model",
               {"train": [(files[0], "human", "g0")], "test": [(files[1], "ai", "g1"), (files[2], "ai", "g2")]},
               weight=0.75)
    assert _compare().main([str(a), str(c)]) == 1
    out = capsys.readouterr().out
    assert "0 on one side only" in out and "1 differ, largest |difference| 0.25" in out
