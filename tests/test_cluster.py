"""aiaudio.cluster: the batch scorer pickles, and a local Dask cluster of 2 worker processes
gives the scores `aiaudio score` gives."""

from __future__ import annotations

import csv
import pickle
from pathlib import Path

import pytest

import aiaudio
from aiaudio.audio import write_audio
from aiaudio.cli import main
from aiaudio.cluster import ROW_FIELDS, BatchScorer, score_on_dask

from conftest import music_like


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("cluster")
    for i, (sec, sr, ch) in enumerate([(9.0, 44100, 2), (5.0, 22050, 1), (13.0, 48000, 2), (6.0, 16000, 1)]):
        write_audio(d / f"f{i}.flac", music_like(sec, sr, ch, seed=i), sr)
    (d / "bad.wav").write_text("not audio")
    return d


def _cli_scores(folder: Path, out: Path) -> dict[str, float]:
    assert main(["score", str(folder), "-o", str(out), "-j", "0", "--no-progress"]) == 0
    return {Path(r["path"]).name: r for r in csv.DictReader(out.open(newline=""))}


def test_the_scorer_pickles_small_and_scores_bytes_and_paths(folder: Path) -> None:
    s = BatchScorer()
    blob = pickle.dumps(s)
    assert len(blob) < 1000
    s2 = pickle.loads(blob)
    path = folder / "f0.flac"
    a, b = s2.score_path(path), s2.score_bytes(path.read_bytes(), name="f0.flac")
    assert set(ROW_FIELDS) <= set(a) and a["error"] == "" and a["path"] == str(path) and b["path"] == "f0.flac"
    assert a["p_ai"] == pytest.approx(b["p_ai"], abs=1e-9) and 0.0 <= a["p_ai"] <= 1.0
    bad = s2.score_path(folder / "bad.wav")
    assert bad["error"] and bad["p_ai"] is None
    assert aiaudio.BatchScorer is BatchScorer


def test_a_local_dask_cluster_of_two_workers_gives_the_scores_of_aiaudio_score(folder: Path, tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    want = _cli_scores(folder, tmp_path / "s.csv")
    paths = sorted(str(p) for p in folder.iterdir())
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            assert len(client.scheduler_info()["workers"]) == 2
            rows = score_on_dask(client, paths, BatchScorer(), chunk=2)
            pids = set(client.run(lambda: __import__("os").getpid()).values())
    assert len(pids) == 2
    assert [r["path"] for r in rows] == paths
    for r in rows:
        w = want[Path(r["path"]).name]
        if w["error"]:
            assert r["error"] and r["p_ai"] is None
            continue
        assert r["error"] == ""
        assert r["p_ai"] == pytest.approx(float(w["p_ai"]), abs=1e-5)
        assert r["label"] == w["label"] and r["verdict"] == w["verdict"]


def test_the_scorer_sets_its_process_allocator_once_and_only_when_asked() -> None:
    """BatchScorer(keep_freed_memory=True), the default, tunes the allocator of the process it
    scores in (as aiaudio's decode workers do), once; False leaves it alone."""
    import os
    import subprocess
    import sys
    import textwrap

    assert pickle.loads(pickle.dumps(BatchScorer(keep_freed_memory=False))).keep_freed_memory is False
    code = textwrap.dedent("""
        import aiaudio.batch.resources as r
        calls = []
        r.keep_freed_memory = lambda: calls.append(1) or True
        from aiaudio.cluster import BatchScorer
        BatchScorer(keep_freed_memory=False).detector()
        assert calls == [], calls
        BatchScorer().detector()                 # the same detector, now with the allocator set
        assert calls == [1], calls
        BatchScorer(backend="onnx").detector()   # another detector; the allocator is set already
        assert calls == [1], calls
    """)
    repo = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=str(repo)), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-1500:]


def test_a_worker_without_the_cues_extra_fails_its_task_instead_of_one_error_row_per_file(folder: Path, monkeypatch) -> None:
    import aiaudio.errors

    real = aiaudio.errors.installed
    monkeypatch.setattr(aiaudio.errors, "installed", lambda name: name != "pyloudnorm" and real(name))
    with pytest.raises(aiaudio.MissingDependencyError, match=r'BatchScorer\(cues=True\) needs pyloudnorm.*aiaudio\[cues\]'):
        BatchScorer(cues=True).score_paths([folder / "f0.flac", folder / "bad.wav"])
    rows = BatchScorer().score_paths([folder / "f0.flac", folder / "bad.wav"])  # without cues it still scores
    assert rows[0]["error"] == "" and rows[0]["p_ai"] is not None and rows[1]["error"]
