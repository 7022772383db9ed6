"""The `aiaudio` command end to end."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from aiaudio.audio import write_audio
from aiaudio.cli import SCORE_COLUMNS, collect_inputs, main

from conftest import music_like


def _mixed_folder(root: Path) -> tuple[list[str], list[str]]:
    """20 files: 14 good in 7 formats, 6 bad. Returns (good names, bad names)."""
    root.mkdir(parents=True, exist_ok=True)
    good, bad = [], []
    exts = ["wav", "flac", "ogg", "mp3", "m4a", "opus", "webm"]
    for i in range(14):
        ext = exts[i % len(exts)]
        name = f"good_{i:02d}.{ext}"
        sr = [44100, 48000, 22050, 16000][i % 4]
        write_audio(root / name, music_like(3.0 + 0.5 * (i % 3), sr, 1 + i % 2, seed=i), sr)
        good.append(name)
    (root / "bad_empty.mp3").write_bytes(b"")
    (root / "bad_text.wav").write_text("not audio\n" * 50)
    full = (root / good[0]).read_bytes()
    (root / "bad_truncated.wav").write_bytes(full[: len(full) // 3])
    sf.write(root / "bad_short.wav", music_like(0.5, 16000, 1).T, 16000)
    nan = music_like(3.0, 16000, 1).astype(np.float64)
    nan[0, 100] = np.nan
    sf.write(root / "bad_nan.wav", nan.T, 16000, subtype="DOUBLE")
    (root / "bad_png.flac").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(500))
    bad = ["bad_empty.mp3", "bad_text.wav", "bad_truncated.wav", "bad_short.wav", "bad_nan.wav", "bad_png.flac"]
    (root / "notes.txt").write_text("ignored: not an audio extension")
    (root / ".hidden.wav").write_text("ignored: hidden")
    return good, bad


def test_score_folder_of_twenty_mixed_files(tmp_path: Path, capsys) -> None:
    good, bad = _mixed_folder(tmp_path / "music")
    out = tmp_path / "out.csv"
    rc = main(["score", str(tmp_path / "music"), "-o", str(out)])
    assert rc == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 20
    assert list(rows[0].keys()) == SCORE_COLUMNS
    by_name = {Path(r["path"]).name: r for r in rows}
    assert set(by_name) == set(good) | set(bad)
    for name in good:
        r = by_name[name]
        assert r["error"] == "", (name, r["error"])
        assert 0.0 <= float(r["p_ai"]) <= 1.0
        assert r["label"] in ("ai", "human", "uncertain")
        assert r["verdict"] in ("Likely AI", "Needs review", "No AI signal found")
        assert float(r["duration_s"]) > 2.5
    for name in bad:
        r = by_name[name]
        assert r["error"], name
        assert name in r["error"]  # the message names the file
        assert r["p_ai"] == "" and r["label"] == "" and r["verdict"] == ""
    assert "too_short" not in by_name["bad_short.wav"]["error"] and "at least" in by_name["bad_short.wav"]["error"]
    assert "NaN" in by_name["bad_nan.wav"]["error"]
    err = capsys.readouterr().err
    assert "20 files, 14 scored, 6 errors" in err


def test_jsonl_output_with_segments(tmp_path: Path) -> None:
    p = tmp_path / "a.flac"
    write_audio(p, music_like(9.0, 44100, 2), 44100)
    out = tmp_path / "out.jsonl"
    assert main(["score", str(p), "-o", str(out), "--segments"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 1
    r = rows[0]
    assert r["error"] == "" and len(r["segments"]) == 3
    assert all(len(seg) == 3 for seg in r["segments"])


def test_recursive_and_explicit_files(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    write_audio(tmp_path / "a" / "top.wav", music_like(3.0, 16000, 1), 16000)
    write_audio(tmp_path / "a" / "b" / "deep.flac", music_like(3.0, 16000, 1), 16000)
    (tmp_path / "a" / "odd.name").write_bytes(b"x")
    assert [Path(p).name for p in collect_inputs([str(tmp_path / "a")])] == ["top.wav"]
    assert sorted(Path(p).name for p in collect_inputs([str(tmp_path / "a")], recursive=True)) == ["deep.flac", "top.wav"]
    # a file named explicitly is always scored, whatever its extension
    assert [Path(p).name for p in collect_inputs([str(tmp_path / "a" / "odd.name")])] == ["odd.name"]


def test_exit_status_when_nothing_can_run(tmp_path: Path, capsys) -> None:
    assert main(["score", str(tmp_path / "does-not-exist")]) == 2
    (tmp_path / "empty").mkdir()
    assert main(["score", str(tmp_path / "empty")]) == 2
    assert "no audio files" in capsys.readouterr().err
    write_audio(tmp_path / "x.wav", music_like(3.0, 16000, 1), 16000)
    assert main(["score", str(tmp_path / "x.wav"), "--model", str(tmp_path / "no-model")]) == 1
    assert main([]) == 2


def test_stdout_output(tmp_path: Path, capsys) -> None:
    write_audio(tmp_path / "x.wav", music_like(3.0, 16000, 1), 16000)
    assert main(["score", str(tmp_path / "x.wav")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == ",".join(SCORE_COLUMNS) and len(out) == 2


def test_console_entry_point_version_and_help() -> None:
    r = subprocess.run([sys.executable, "-m", "aiaudio", "--version"], capture_output=True, text=True, check=True)
    import aiaudio

    assert r.stdout.strip() == f"aiaudio {aiaudio.__version__}"
    r = subprocess.run([sys.executable, "-m", "aiaudio", "score", "--help"], capture_output=True, text=True, check=True)
    assert "--recursive" in r.stdout and "--format" in r.stdout and "path,p_ai,label" in r.stdout


def test_cues_command(tmp_path: Path) -> None:
    from aiaudio.cues import CUE_NAMES

    write_audio(tmp_path / "a.flac", music_like(4.0, 44100, 2), 44100)
    (tmp_path / "b.wav").write_text("not audio")
    out = tmp_path / "cues.csv"
    assert main(["cues", str(tmp_path), "-o", str(out)]) == 0
    rows = {Path(r["path"]).name: r for r in csv.DictReader(out.open())}
    assert list(next(iter(rows.values())).keys()) == ["path", *CUE_NAMES, "error"]
    good = rows["a.flac"]
    assert good["error"] == ""
    assert all(np.isfinite(float(good[k])) for k in CUE_NAMES)
    assert -40 < float(good["integrated_loudness_lufs"]) < 0
    assert rows["b.wav"]["error"] and rows["b.wav"]["integrated_loudness_lufs"] == ""


def test_score_with_cue_columns(tmp_path: Path) -> None:
    write_audio(tmp_path / "a.wav", music_like(4.0, 22050, 2), 22050)
    out = tmp_path / "s.csv"
    assert main(["score", str(tmp_path / "a.wav"), "--cues", "-o", str(out)]) == 0
    row = next(csv.DictReader(out.open()))
    assert row["error"] == "" and float(row["cue_stereo_correlation"]) <= 1.0
