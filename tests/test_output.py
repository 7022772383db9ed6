"""The output side of folder scoring: OUT is complete or resumable, whatever happens to it.

Ctrl-C while OUT is finished, -o on a device / pipe / link / folder, two runs on one OUT,
file names that are not UTF-8 or hold \\r, \\n, commas and quotes, and a disk that fills.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import soundfile as sf
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from aiaudio import batch as pipeline
from aiaudio.cli import SCORE_COLUMNS, RowWriter, collect_inputs, main
from aiaudio.frontend import FrontendConfig
from aiaudio.model import AIMusicNet, ArchConfig, ModelConfig, save_model
from aiaudio.batch import OutputLockedError, ResumableOutput, ResumeError

from conftest import music_like

REPO = Path(__file__).resolve().parents[1]
TEXT = {"encoding": "utf-8", "errors": "surrogateescape", "newline": ""}

#: File names a folder may hold: not UTF-8, carriage return, newline, comma and quotes, plain.
ODD_NAMES = [b"bad\xff\xfe.wav", b"cr\rname.wav", b"nl\nname.wav", b'co,"q".wav', b"latin1_\xe9t\xe9.wav", "caf\u00e9.wav".encode(), b"plain.wav"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    fe = FrontendConfig(segment_s=2.0, segment_hop_s=2.0, min_duration_s=1.0, time_pool=4)
    model = AIMusicNet(ModelConfig(name="tiny", trained=True, frontend=fe, arch=ArchConfig(channels=(4, 8, 8), hidden=8)))
    return save_model(model, tmp_path_factory.mktemp("tiny-model"))


def _write_wav(path: bytes | str, seed: int) -> None:
    sf.write(path if isinstance(path, bytes) else os.fsencode(path), music_like(2.5, 16000, 1, seed=seed).T, 16000)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("songs")
    for i in range(6):
        _write_wav(str(root / f"song{i}.wav"), i)
    return root


@pytest.fixture(scope="module")
def odd_folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("odd-names")
    for i, name in enumerate(ODD_NAMES):
        _write_wav(os.fsencode(root) + b"/" + name, i)
    return root


def _args(model_dir: Path, *extra: str) -> list[str]:
    return ["--model", str(model_dir), "--batch-size", "1", "--no-progress", *extra]


def _rows(path: Path, fmt: str) -> list[dict]:
    with open(path, **TEXT) as fh:
        if fmt == "csv":
            return list(csv.DictReader(fh))
        return [json.loads(line) for line in fh.read().split("\n") if line]


def _reference(folder: Path, model_dir: Path, tmp_path: Path, fmt: str, *extra: str) -> bytes:
    ref = tmp_path / f"reference.{fmt}"
    assert main(["score", str(folder), "-o", str(ref), *_args(model_dir, "--jobs", "0", *extra)]) == 0
    return ref.read_bytes()


def _leftovers(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir() if p.name.endswith((".tmp", ".partial")))


class _CountDecodes:
    """Counts the files decoded in this process (``--jobs 0``); can raise Ctrl-C at the n-th."""

    def __init__(self, monkeypatch, interrupt_at: int | None = None, action=None):
        self.paths: list[str] = []
        self.interrupt_at = interrupt_at
        self.action = action
        real = pipeline.decode._model_rate_input

        def counting(audio, *a, **k):
            self.paths.append(str(audio))
            if self.action is not None:
                self.action(len(self.paths))
            if self.interrupt_at is not None and len(self.paths) == self.interrupt_at:
                raise KeyboardInterrupt
            return real(audio, *a, **k)

        monkeypatch.setattr(pipeline.decode, "_model_rate_input", counting)


# --------------------------------------------------------------------------- Ctrl-C while finishing


FINISH_POINTS = ["read", "fsync", "before-replace", "after-replace", "before-remove", "after-remove"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("point", FINISH_POINTS)
def test_a_signal_while_out_is_finished_leaves_it_complete_or_resumable(folder, model_dir, tmp_path, monkeypatch, point, sig) -> None:
    """Ctrl-C (or SIGTERM) at any point of the finishing step: either OUT is complete, no
    partial is left and the exit status is 0, or there is no OUT, the partial is complete
    and resumable and the status is 130 (143); never both, never a stray OUT.tmp."""
    want = _reference(folder, model_dir, tmp_path, "csv")
    out = tmp_path / "out.csv"
    partial = Path(str(out) + ".partial")
    sent: list[str] = []
    real = {name: getattr(os, name) for name in ("fsync", "replace", "remove")}
    real_read = ResumableOutput._read_rows

    def hit(where: str) -> None:
        if where == point and not sent:
            sent.append(where)
            os.kill(os.getpid(), sig)

    def read_rows(self, file):
        if file == str(partial):
            hit("read")
        return real_read(self, file)

    def fsync(fd):
        real["fsync"](fd)
        if os.readlink(f"/proc/self/fd/{fd}") == str(out) + ".tmp":
            hit("fsync")

    def replace(src, dst, *a, **k):
        if os.fspath(dst) == str(out):
            hit("before-replace")
        real["replace"](src, dst, *a, **k)
        if os.fspath(dst) == str(out):
            hit("after-replace")

    def remove(p, *a, **k):
        if os.fspath(p) == str(partial):
            hit("before-remove")
        real["remove"](p, *a, **k)
        if os.fspath(p) == str(partial):
            hit("after-remove")

    class Killed(Exception):
        pass

    def on_term(signum, frame):  # were SIGTERM to reach the test's own handler, fail (not die)
        raise Killed("SIGTERM reached the caller's handler")

    monkeypatch.setattr(ResumableOutput, "_read_rows", read_rows)
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(os, "remove", remove)
    old_term = signal.signal(signal.SIGTERM, on_term)
    try:
        rc = main(["score", str(folder), "-o", str(out), *_args(model_dir, "--jobs", "0")])
    finally:
        signal.signal(signal.SIGTERM, old_term)
    assert sent == [point], "the signal was not sent where the test meant to"
    assert _leftovers(tmp_path) == ([] if rc == 0 else ["out.csv.partial"])
    if rc == 0:
        assert out.read_bytes() == want
    else:
        assert rc == (130 if sig == signal.SIGINT else 143)
        assert not out.exists()
        monkeypatch.undo()
        assert main(["score", str(folder), "-o", str(out), "--resume", *_args(model_dir, "--jobs", "0")]) == 0
        assert out.read_bytes() == want


# --------------------------------------------------------------------------- where OUT is


def test_output_to_a_device_writes_through_and_leaves_the_device(folder, model_dir, tmp_path, capsys) -> None:
    dev = tmp_path / "null"
    os.mknod(dev, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # a private /dev/null
    link = tmp_path / "stdout-like"
    link.symlink_to(dev)  # as /dev/stdout is a link
    for target in (dev, link):
        assert main(["score", str(folder), "-o", str(target), *_args(model_dir)]) == 0
        assert stat.S_ISCHR(os.stat(dev, follow_symlinks=False).st_mode), "the device node was replaced"
        assert link.is_symlink() and os.readlink(link) == str(dev)
        assert _leftovers(tmp_path) == []
    # a device that refuses the rows (a private /dev/full): one message, exit 1, the device stays
    full = tmp_path / "full"
    os.mknod(full, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
    capsys.readouterr()
    for cmd in (["score", str(folder), *_args(model_dir)], ["cues", str(folder), "--no-progress"]):
        assert main([*cmd, "-o", str(full)]) == 1
        err = capsys.readouterr().err
        assert err.count(f"cannot write {full}: No space left on device") == 1 and "Traceback" not in err, err
        assert stat.S_ISCHR(os.lstat(full).st_mode)
    # there is nothing to resume on a device: said before any work
    assert main(["score", str(folder), "-o", str(dev), "--resume", *_args(model_dir)]) == 2
    assert "--resume needs a regular file" in capsys.readouterr().err
    assert stat.S_ISCHR(os.stat(dev).st_mode)


def test_output_to_a_named_pipe_streams_the_rows_through_it(folder, model_dir, tmp_path) -> None:
    fifo = tmp_path / "rows.fifo"
    os.mkfifo(fifo)
    # the reading end, open before the run (so the run's open does not wait for a reader);
    # the rows (a few hundred bytes) fit in the pipe's buffer until they are read below
    rd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert main(["score", str(folder), "-o", str(fifo), *_args(model_dir, "--jobs", "1")]) == 0
        chunks = []
        while True:
            try:
                chunk = os.read(rd, 65536)
            except BlockingIOError:  # a writer still has the pipe open: the run did not close it
                pytest.fail("the pipe is still open for writing after the run")
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(rd)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode), "the pipe was replaced"
    rows = list(csv.DictReader(io.StringIO(b"".join(chunks).decode())))
    assert sorted(r["path"] for r in rows) == collect_inputs([str(folder)])  # in order of completion
    assert _leftovers(tmp_path) == []


def test_output_through_a_symlink_writes_its_target_and_keeps_the_link(folder, model_dir, tmp_path) -> None:
    want = _reference(folder, model_dir, tmp_path, "csv")
    real = tmp_path / "runs" / "scores.csv"
    real.parent.mkdir()
    real.write_text("an older run\n")
    link = tmp_path / "latest.csv"
    link.symlink_to(os.path.relpath(real, tmp_path))
    assert main(["score", str(folder), "-o", str(link), *_args(model_dir, "--jobs", "0")]) == 0
    assert link.is_symlink() and real.read_bytes() == want
    assert _leftovers(tmp_path) == [] and _leftovers(real.parent) == []
    # a link to a file not there yet: the file is made, the link stays
    dangling = tmp_path / "next.csv"
    dangling.symlink_to(real.parent / "next-target.csv")
    assert main(["score", str(folder), "-o", str(dangling), *_args(model_dir, "--jobs", "0")]) == 0
    assert dangling.is_symlink() and (real.parent / "next-target.csv").read_bytes() == want
    assert _leftovers(real.parent) == []


@pytest.mark.parametrize("kind", ["folder", "missing-folder", "not-writable", "socket", "block-device", "socket-cues", "folder-cues"])
def test_an_output_that_cannot_be_written_is_refused_before_scoring(folder, model_dir, tmp_path, monkeypatch, capsys, kind) -> None:
    calls: list[str] = []
    real_score_files = pipeline.score_files

    def spy(*a, **k):
        calls.append("score_files")
        return real_score_files(*a, **k)

    monkeypatch.setattr(pipeline, "score_files", spy)
    out = tmp_path / "out"
    if kind.startswith("folder"):
        out.mkdir()
    elif kind == "missing-folder":
        out = tmp_path / "no" / "such" / "out.csv"
    elif kind == "not-writable":  # tests run as root, who may write anywhere: the system is made to say no
        (tmp_path / "ro").mkdir()
        out = tmp_path / "ro" / "out.csv"
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, **k: False if os.fspath(p) == str(out.parent) and mode & os.W_OK else real_access(p, mode, **k))
    elif kind.startswith("socket"):
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(out))
        s.close()
    else:
        os.mknod(out, 0o600 | stat.S_IFBLK, os.makedev(7, 200))  # a loop device node nobody uses
    if kind.endswith("-cues"):
        rc = main(["cues", str(folder), "-o", str(out), "--no-progress"])
    else:
        rc = main(["score", str(folder), "-o", str(out), *_args(model_dir)])
    err = capsys.readouterr().err
    assert rc == 2 and calls == []
    words = {
        "folder": "is a folder", "missing-folder": "does not exist", "not-writable": "no permission to create files in",
        "socket": "is a socket", "block-device": "block device",
    }
    assert words[kind.split("-cues")[0]] in err and "Traceback" not in err
    assert not Path(str(out) + ".partial").exists() and not Path(str(out) + ".tmp").exists()
    if kind == "block-device":
        assert stat.S_ISBLK(os.lstat(out).st_mode)
    if kind == "missing-folder":
        assert not (tmp_path / "no").exists()


# --------------------------------------------------------------------------- one run per OUT


def test_a_second_run_on_the_same_output_refuses_and_the_first_completes_intact(folder, model_dir, tmp_path, monkeypatch) -> None:
    want = _reference(folder, model_dir, tmp_path, "csv")
    out = tmp_path / "out.csv"
    second: list[tuple[int, str]] = []

    def second_run(n_decoded: int) -> None:  # while the first run is at its third file
        if n_decoded == 3 and not second:
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                rc = main(["score", str(folder), "-o", str(out), *_args(model_dir, "--jobs", "0")])
            second.append((rc, err.getvalue()))

    _CountDecodes(monkeypatch, action=second_run)
    assert main(["score", str(folder), "-o", str(out), *_args(model_dir, "--jobs", "0")]) == 0
    (rc, err), = second
    assert rc == 2
    assert f"another run (process {os.getpid()}) is writing {out}" in err
    assert out.read_bytes() == want  # the first run's rows, all of them, nothing foreign
    assert _leftovers(tmp_path) == []


def test_a_run_started_while_another_holds_the_output_refuses_and_names_it(folder, model_dir, tmp_path) -> None:
    out = tmp_path / "out.jsonl"
    cols = ["path", "p_ai"]
    first = ResumableOutput(out, "jsonl", cols)
    fh = first.open()  # the first run: in this process, holding the lock
    fh.write('{"path": "x.wav", "p_ai": 0.5}\n')
    fh.flush()
    before = Path(first.partial).read_bytes()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run(
        [sys.executable, "-m", "aiaudio", "score", str(folder), "-o", str(out), *_args(model_dir)],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 2, r.stderr
    assert f"another run (process {os.getpid()}) is writing {out}" in r.stderr
    assert Path(first.partial).read_bytes() == before
    with pytest.raises(OutputLockedError) as e:  # the library says the same
        ResumableOutput(out, "jsonl", cols, resume=True).open()
    assert e.value.pid == os.getpid() and isinstance(e.value, ResumeError)
    fh.close()
    first.finish()
    assert _rows(out, "jsonl") == [{"path": "x.wav", "p_ai": 0.5}] and _leftovers(tmp_path) == []
    # the lock ends with the run: the next one goes ahead
    assert main(["score", str(folder), "-o", str(out), *_args(model_dir)]) == 0
    assert len(_rows(out, "jsonl")) == 6


def test_a_forked_child_does_not_hold_the_lock(tmp_path) -> None:
    ro = ResumableOutput(tmp_path / "o.csv", "csv", ["path"])
    ro.open().close()
    fd = ro._lock_fd
    assert fd is not None
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os._exit(0 if not os.path.exists(f"/proc/self/fd/{fd}") else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "a decode worker would keep OUT locked after the run"
    ro.close()


# --------------------------------------------------------------------------- file names


@pytest.mark.parametrize("jobs", ["0", "1"])
@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_every_file_name_gets_its_row_written_exactly(odd_folder, model_dir, tmp_path, fmt, jobs) -> None:
    out = tmp_path / f"out.{fmt}"
    assert main(["score", str(odd_folder), "-o", str(out), *_args(model_dir, "--jobs", jobs)]) == 0
    rows = _rows(out, fmt)
    names = sorted(os.fsencode(odd_folder) + b"/" + n for n in ODD_NAMES)
    assert [os.fsencode(r["path"]) for r in rows] == names  # every name, its exact bytes, input order
    assert all(r["error"] in ("", None) and r["label"] for r in rows)
    if fmt == "jsonl":
        out.read_bytes().decode("utf-8")  # valid UTF-8: the odd bytes are \udcXX escapes
        assert "\\udcff\\udcfe" in out.read_text()


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_resume_with_odd_names_scores_nothing_twice_and_loses_nothing(odd_folder, model_dir, tmp_path, monkeypatch, capsys, fmt) -> None:
    want = _reference(odd_folder, model_dir, tmp_path, fmt)
    out = tmp_path / f"out.{fmt}"
    cmd = ["score", str(odd_folder), "-o", str(out), *_args(model_dir, "--jobs", "0")]
    first = _CountDecodes(monkeypatch, interrupt_at=len(ODD_NAMES) - 1)  # Ctrl-C at the next to last file
    assert main(cmd) == 130
    assert not out.exists()
    interrupted = first.paths[-1]
    monkeypatch.undo()
    rest = _CountDecodes(monkeypatch)
    assert main([*cmd, "--resume"]) == 0
    assert f"{len(ODD_NAMES) - 2} rows kept" in capsys.readouterr().err
    assert sorted(rest.paths) == sorted([interrupted, collect_inputs([str(odd_folder)])[-1]])
    assert out.read_bytes() == want


def test_cues_and_explain_write_a_name_that_is_not_utf8(odd_folder, model_dir, tmp_path) -> None:
    bad = os.fsdecode(os.fsencode(odd_folder) + b"/bad\xff\xfe.wav")
    out = tmp_path / "cues.csv"
    assert main(["cues", str(odd_folder), "-o", str(out), "--no-progress"]) == 0
    rows = _rows(out, "csv")
    assert [r["path"] for r in rows] == collect_inputs([str(odd_folder)]) and all(r["error"] == "" for r in rows)
    js = tmp_path / "explain.json"
    assert main(["explain", bad, "--model", str(model_dir), "--no-interventions", "--no-saliency", "--json", str(js)]) == 0
    assert json.loads(js.read_bytes().decode("utf-8"))["path"] == bad
    # standard output that refuses undecodable names (a UTF-8 locale without UTF-8 mode)
    env = dict(os.environ, PYTHONIOENCODING="utf-8:strict", PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    for args in (["cues", bad, "--no-progress"], ["score", bad, "--model", str(model_dir), "--no-progress"]):
        r = subprocess.run([sys.executable, "-m", "aiaudio", *args], env=env, capture_output=True, timeout=300)
        assert r.returncode == 0, r.stderr.decode(errors="replace")
        assert os.fsencode(bad) in r.stdout


_names = st.lists(
    st.binary(min_size=1, max_size=12).filter(lambda b: b"\0" not in b).map(lambda b: os.fsdecode(b"/d/" + b.replace(b"/", b"_"))),
    min_size=1, max_size=8, unique=True,
)


@settings(max_examples=60, deadline=None)
@given(names=_names, fmt=st.sampled_from(["csv", "jsonl"]))
def test_any_name_written_by_the_row_writer_is_read_back_by_resume(names, fmt) -> None:
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "o." + fmt)
        ro = ResumableOutput(out, fmt, SCORE_COLUMNS)
        fh = ro.open()
        w = RowWriter(fh, fmt, SCORE_COLUMNS, header=ro.fresh)
        for i, n in enumerate(names):
            w.write({"path": n, "p_ai": i / 10, "label": "ai", "error": "bad, \"file\"\r\n" if i % 2 else "", "flags": []})
        fh.close()
        ro.close()
        again = ResumableOutput(out, fmt, SCORE_COLUMNS, resume=True)
        again.open().close()
        assert again.done == set(names) and again.dropped == 0
        again.finish(order=names)
        assert [r["path"] for r in _rows(Path(out), fmt)] == names


# --------------------------------------------------------------------------- a disk that fills


def test_a_full_disk_while_scoring_gives_one_message_and_a_resumable_partial(folder, model_dir, tmp_path) -> None:
    """The real write path, made to fail: a file-size limit (RLIMIT_FSIZE, SIGXFSZ ignored)
    lets OUT.partial take the header and about one row, then writing fails (EFBIG), as a full
    disk fails with ENOSPC."""
    want = _reference(folder, model_dir, tmp_path, "csv")
    out = tmp_path / "out.csv"
    limit = len(",".join(SCORE_COLUMNS)) + 1 + 150
    script = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))\n"
        "from aiaudio.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run(
        [sys.executable, "-c", script, "score", str(folder), "-o", str(out), *_args(model_dir, "--jobs", "1")],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr and r.stderr.count("cannot write") == 1, r.stderr
    assert f"cannot write {out}.partial: File too large" in r.stderr and "--resume" in r.stderr
    assert not out.exists() and _leftovers(tmp_path) == ["out.csv.partial"]
    assert main(["score", str(folder), "-o", str(out), "--resume", *_args(model_dir, "--jobs", "0")]) == 0
    assert out.read_bytes() == want


def test_a_full_disk_while_finishing_keeps_every_row_in_the_partial(folder, model_dir, tmp_path, monkeypatch, capsys) -> None:
    want = _reference(folder, model_dir, tmp_path, "jsonl")
    out = tmp_path / "out.jsonl"
    real_fsync = os.fsync

    def full(fd):
        if os.readlink(f"/proc/self/fd/{fd}") == f"{out}.tmp":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", full)
    cmd = ["score", str(folder), "-o", str(out), *_args(model_dir, "--jobs", "0")]
    assert main(cmd) == 1
    err = capsys.readouterr().err
    assert err.count("cannot write") == 1 and "No space left on device" in err and "--resume" in err
    assert not out.exists() and _leftovers(tmp_path) == ["out.jsonl.partial"]
    monkeypatch.setattr(os, "fsync", real_fsync)
    rescored = _CountDecodes(monkeypatch)
    assert main([*cmd, "--resume"]) == 0
    assert rescored.paths == [] and out.read_bytes() == want
