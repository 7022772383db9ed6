"""Tests of scripts/fetch_sources.py on tiny git repositories made here (no network, no ../shared)."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from aiaudio.audio import encode_audio
from conftest import music_like

_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "fetch_sources.py"

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


@pytest.fixture(scope="module")
def fs():
    spec = importlib.util.spec_from_file_location("fetch_sources", _SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["fetch_sources"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def _git(*args: str, cwd: Path | None = None) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.org", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@example.org", GIT_CONFIG_NOSYSTEM="1", HOME=str(cwd or "."))
    r = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=env, check=True)
    return r.stdout.strip()


@pytest.fixture(scope="module")
def origin(tmp_path_factory):
    """A work-tree repository with two commits: a WAV and a FLAC at the first, a changed FLAC at the second."""
    root = tmp_path_factory.mktemp("origin")
    work = root / "work"
    (work / "audio").mkdir(parents=True)
    sf.write(str(work / "audio" / "a.wav"), music_like(2.0, 16000, 1, seed=1).T, 16000, subtype="PCM_16")
    sf.write(str(work / "audio" / "b c.flac"), music_like(3.0, 22050, 2, seed=2).T, 22050)
    _git("init", "-q", "-b", "main", cwd=work)
    _git("add", ".", cwd=work)
    _git("commit", "-q", "-m", "one", cwd=work)
    first = _git("rev-parse", "HEAD", cwd=work)
    sf.write(str(work / "audio" / "b c.flac"), music_like(1.0, 22050, 2, seed=3).T, 22050)  # changed later
    _git("commit", "-q", "-am", "two", cwd=work)
    bare = root / "bare.git"
    _git("clone", "-q", "--bare", str(work), str(bare), cwd=root)
    return {"work": work, "bare": bare, "ref": first}


def _manifest(path: Path, ref: str) -> Path:
    rows = [
        # path, repo, source_path, duration, rate, channels
        ("x/ai/s/a.wav", "alice/tiny", "audio/a.wav", 2.0, 16000, 1),
        ("x/human/s/b.flac", "alice/tiny", "audio/b c.flac", 3.0, 22050, 2),  # the first commit's 3 s version
        ("x/ai/s/wrong.wav", "alice/tiny", "audio/a.wav", 9.0, 16000, 1),  # wrong duration
        ("x/ai/s/gone.wav", "alice/tiny", "audio/nope.wav", 2.0, 16000, 1),  # no such path
        ("x/ai/t/elsewhere.wav", "bob/absent", "a.wav", 2.0, 16000, 1),  # no such repository
    ]
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "label", "source_repo", "source_path", "ref", "duration_s", "sample_rate", "channels"])
        for p, repo, sp, d, sr, ch in rows:
            w.writerow([p, "ai", repo, sp, ref, d, sr, ch])
    return path


def _layout(kind: str, tmp: Path, origin: dict) -> Path:
    repos = tmp / "repos"
    if kind == "mirror":  # the fetch tool: DIR/owner+name/repo (bare)
        (repos / "alice+tiny").mkdir(parents=True)
        shutil.copytree(origin["bare"], repos / "alice+tiny" / "repo")
    elif kind == "clone":  # git clone: DIR/owner/name with a work tree
        (repos / "alice").mkdir(parents=True)
        _git("clone", "-q", str(origin["bare"]), str(repos / "alice" / "tiny"), cwd=tmp)
    else:  # git clone --bare DIR/name.git
        repos.mkdir(parents=True)
        shutil.copytree(origin["bare"], repos / "tiny.git")
    return repos


def _report(out: Path) -> dict[str, dict]:
    return {r["path"]: r for r in csv.DictReader((out / "fetch_report.csv").open())}


@pytest.mark.parametrize("kind", ["mirror", "clone", "bare-name"])
def test_extracts_verifies_and_reports(fs, tmp_path, origin, kind):
    repos = _layout(kind, tmp_path, origin)
    out = tmp_path / "out"
    rows = fs.read_manifest(_manifest(tmp_path / "m.csv", origin["ref"]))
    s = fs.fetch_sources(rows, repos, out, progress=False)
    assert (s["extracted"], s["already_there"], s["missing"], s["differing"]) == (2, 0, 2, 1)
    rep = _report(out)
    assert rep["x/ai/s/a.wav"]["status"] == "extracted"
    assert rep["x/human/s/b.flac"]["status"] == "extracted"
    assert rep["x/ai/s/wrong.wav"]["status"] == "differs" and "duration" in rep["x/ai/s/wrong.wav"]["reason"]
    assert rep["x/ai/s/gone.wav"]["status"] == "missing_path"
    assert rep["x/ai/t/elsewhere.wav"]["status"] == "missing_repo"
    # bytes as committed at that commit (not the later version), under the manifest's path
    want = subprocess.run(["git", "--git-dir", str(origin["bare"]), "cat-file", "blob", f"{origin['ref']}:audio/b c.flac"],
                          capture_output=True, check=True).stdout
    assert (out / "x/human/s/b.flac").read_bytes() == want
    assert sf.info(str(out / "x/human/s/b.flac")).duration == pytest.approx(3.0, abs=0.01)
    assert not (out / "x/ai/s/gone.wav").exists()
    # the index lists the verified files only, with size and hashes
    idx = [json.loads(line) for line in (out / "index.jsonl").read_text().splitlines()]
    assert {e["path"] for e in idx} == {"x/ai/s/a.wav", "x/human/s/b.flac"}
    e = next(e for e in idx if e["path"] == "x/human/s/b.flac")
    assert e["size"] == len(want) and e["blob"] == fs.git_blob_id(out / "x/human/s/b.flac")
    assert (e["sample_rate"], e["channels"]) == (22050, 2)
    js = json.loads((out / "fetch_report.json").read_text())
    assert js["repos_missing"] == ["bob/absent"] and js["missing"] == 2


def test_idempotent_and_resumable(fs, tmp_path, origin):
    repos = _layout("mirror", tmp_path, origin)
    out = tmp_path / "out"
    rows = fs.read_manifest(_manifest(tmp_path / "m.csv", origin["ref"]))
    fs.fetch_sources(rows, repos, out, progress=False)
    a, b = out / "x/ai/s/a.wav", out / "x/human/s/b.flac"
    mt = {p: p.stat().st_mtime_ns for p in (a, b)}

    # second run: nothing extracted, nothing rewritten; works even without the repository
    shutil.rmtree(repos / "alice+tiny")
    s = fs.fetch_sources(rows, repos, out, progress=False)
    assert (s["extracted"], s["already_there"]) == (0, 2)
    assert {p: p.stat().st_mtime_ns for p in (a, b)} == mt
    repos = _layout("mirror", tmp_path / "again", origin)
    s = fs.fetch_sources(rows, repos, out, progress=False, recheck=True)  # verified again, not copied again
    assert (s["extracted"], s["already_there"], s["differing"]) == (0, 2, 1)
    assert {p: p.stat().st_mtime_ns for p in (a, b)} == mt

    # resume: a file lost, a temporary file of a killed run, a file damaged in place
    a.unlink()
    (b.parent / ".b.flac.part-99-1").write_bytes(b"half")
    data = bytearray(b.read_bytes())
    data[-100:] = b"\0" * 100
    b.write_bytes(bytes(data))
    s = fs.fetch_sources(rows, repos, out, progress=False)
    assert (s["extracted"], s["already_there"], s["differing"]) == (2, 0, 1)
    assert a.is_file() and not list(out.rglob(".*.part-*"))
    assert fs.git_blob_id(b) == _report(out)["x/human/s/b.flac"]["blob"]  # the damaged copy was replaced

    # a lost index: files already there are recognised by their blob id, not copied again
    (out / "index.jsonl").unlink()
    mt = {p: p.stat().st_mtime_ns for p in (a, b)}
    s = fs.fetch_sources(rows, repos, out, progress=False)
    assert (s["extracted"], s["already_there"]) == (0, 2)
    assert {p: p.stat().st_mtime_ns for p in (a, b)} == mt


def test_clone_when_missing_and_failure_goes_on(fs, tmp_path, origin):
    out = tmp_path / "out"
    rows = fs.read_manifest(_manifest(tmp_path / "m.csv", origin["ref"]))
    repos = tmp_path / "repos"
    repos.mkdir()
    # a URL template that reaches the test's repository for alice/tiny and nothing for bob/absent
    url = f"file://{origin['bare'].parent}/{{owner}}-{{name}}.git"
    shutil.copytree(origin["bare"], origin["bare"].parent / "alice-tiny.git", dirs_exist_ok=True)
    s = fs.fetch_sources(rows, repos, out, clone=True, clone_url=url, progress=False)
    assert s["extracted"] == 2
    assert fs.find_repo(repos, "alice/tiny") == repos / "alice" / "tiny.git"
    rep = _report(out)
    assert rep["x/ai/t/elsewhere.wav"]["status"] == "clone_failed"
    assert "git clone" in rep["x/ai/t/elsewhere.wav"]["reason"]
    assert not (repos / "bob" / "absent.git").exists() and not (repos / "bob" / "absent.git.part").exists()


def test_undecodable_file_and_wrong_rate(fs, tmp_path):
    work = tmp_path / "w"
    work.mkdir()
    (work / "junk.mp3").write_bytes(b"this is not audio" * 100)
    sf.write(str(work / "r.wav"), music_like(1.0, 8000, 1).T, 8000)
    (work / "s.mp3").write_bytes(encode_audio(music_like(4.0, 44100, 2), 44100, "mp3"))
    (work / "s.m4a").write_bytes(encode_audio(music_like(12.0, 44100, 2), 44100, "m4a"))
    sf.write(str(work / "long.flac"), music_like(12.0, 22050, 1).T, 22050)
    data = (work / "long.flac").read_bytes()
    (work / "cut.flac").write_bytes(data[: len(data) // 2])  # header says 12 s, half the frames are there
    _git("init", "-q", cwd=work)
    _git("add", ".", cwd=work)
    _git("commit", "-q", "-m", "x", cwd=work)
    ref = _git("rev-parse", "HEAD", cwd=work)
    m = tmp_path / "m.csv"
    with m.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "source_repo", "source_path", "ref", "duration_s", "sample_rate", "channels"])
        w.writerow(["junk.mp3", "o/w", "junk.mp3", ref, 1, 44100, 2])
        w.writerow(["r.wav", "o/w", "r.wav", ref, 1.0, 16000, 2])
        w.writerow(["bad-ref.wav", "o/w", "r.wav", "0" * 40, 1.0, 8000, 1])
        w.writerow(["s.mp3", "o/w", "s.mp3", ref, 4.0, 44100, 2])
        w.writerow(["s.m4a", "o/w", "s.m4a", ref, 12.0, 44100, 2])
        w.writerow(["long.flac", "o/w", "long.flac", ref, 12.0, 22050, 1])
        w.writerow(["cut.flac", "o/w", "cut.flac", ref, 12.0, 22050, 1])
    repos = tmp_path / "repos"
    (repos / "o").mkdir(parents=True)
    os.rename(work, repos / "o" / "w")
    out = tmp_path / "out"
    s = fs.fetch_sources(fs.read_manifest(m), repos, out, progress=False)
    rep = _report(out)
    assert rep["junk.mp3"]["status"] == "undecodable"
    assert rep["r.wav"]["status"] == "differs"
    assert "sample rate 8000" in rep["r.wav"]["reason"] and "1 channels" in rep["r.wav"]["reason"]
    assert rep["bad-ref.wav"]["status"] == "missing_ref"
    assert {rep[p]["status"] for p in ("s.mp3", "s.m4a", "long.flac")} == {"extracted"}
    assert float(rep["s.mp3"]["duration_file"]) == pytest.approx(4.0, abs=0.1)  # decoded whole
    # a truncated file: the seek to its end finds nothing there, the whole decode is short
    assert rep["cut.flac"]["status"] in ("differs", "undecodable")
    if rep["cut.flac"]["status"] == "differs":
        assert float(rep["cut.flac"]["duration_file"]) < 9.0
    assert s["differing"] == 3 and s["missing"] == 1 and s["extracted"] == 3
    idx = {json.loads(line)["path"] for line in (out / "index.jsonl").read_text().splitlines()}
    assert idx == {"s.mp3", "s.m4a", "long.flac"}


def test_manifest_errors(fs, tmp_path):
    m = tmp_path / "m.csv"
    m.write_text("path,source_repo\nx,y\n")
    with pytest.raises(ValueError, match="missing column"):
        fs.read_manifest(m)
    m.write_text("path,source_repo,source_path,ref\n../x,a/b,p,r\n")
    with pytest.raises(ValueError, match="inside the output folder"):
        fs.read_manifest(m)
    m.write_text("path,source_repo,source_path,ref\nx,a/b,p,r\nx,a/b,q,r\n")
    with pytest.raises(ValueError, match="twice"):
        fs.read_manifest(m)


def test_main_exit_status_and_summary(fs, tmp_path, origin, capsys):
    repos = _layout("mirror", tmp_path, origin)
    m = _manifest(tmp_path / "m.csv", origin["ref"])
    rc = fs.main(["--manifest", str(m), "--repos", str(repos), "--out", str(tmp_path / "o"), "--no-progress"])
    text = capsys.readouterr().out
    assert rc == 1  # some rows are missing or differ
    assert "2 extracted, 0 already there, 2 missing, 1 differing" in text
    rc = fs.main(["--manifest", str(m), "--repos", str(repos), "--out", str(tmp_path / "o"), "--no-progress",
                  "--repo", "alice/tiny", "--jobs", "2"])
    assert "0 extracted, 2 already there" in capsys.readouterr().out


def test_long_names_and_a_failed_file_do_not_break_the_stream(fs, tmp_path, origin):
    """A name near the file system's limit still extracts (short temporary name), and a file that
    cannot be written does not leave git's stream mid-blob for the next one."""
    repos = _layout("mirror", tmp_path, origin)
    long = "x/ai/s/" + "n" * 240 + ".wav"
    blocked = tmp_path / "out" / "x" / "ai" / "blocked"
    blocked.mkdir(parents=True)
    (blocked / "a.wav").mkdir()  # a folder where the file should go: the write fails
    m = tmp_path / "m.csv"
    with m.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "source_repo", "source_path", "ref", "duration_s", "sample_rate", "channels"])
        w.writerow([long, "alice/tiny", "audio/a.wav", origin["ref"], 2.0, 16000, 1])
        w.writerow(["x/ai/blocked/a.wav", "alice/tiny", "audio/a.wav", origin["ref"], 2.0, 16000, 1])
        w.writerow(["x/human/s/b.flac", "alice/tiny", "audio/b c.flac", origin["ref"], 3.0, 22050, 2])
    s = fs.fetch_sources(fs.read_manifest(m), repos, tmp_path / "out", progress=False)
    rep = _report(tmp_path / "out")
    assert rep[long]["status"] == "extracted"
    assert rep["x/ai/blocked/a.wav"]["status"] == "failed"
    assert rep["x/human/s/b.flac"]["status"] == "extracted"  # the stream was still in step
    assert s["extracted"] == 2 and s["differing"] == 1


def test_a_corrected_manifest_is_checked_again(fs, tmp_path, origin):
    """A verified file is checked again when the manifest's duration, rate or channels change."""
    repos = _layout("mirror", tmp_path, origin)
    out = tmp_path / "out"
    rows = fs.read_manifest(_manifest(tmp_path / "m.csv", origin["ref"]))
    fs.fetch_sources(rows, repos, out, progress=False)
    a = next(r for r in rows if r.path == "x/ai/s/a.wav")
    a.duration_s = 5.0
    s = fs.fetch_sources(rows, repos, out, progress=False)
    assert _report(out)["x/ai/s/a.wav"]["status"] == "differs" and s["already_there"] == 1
