"""The folder-scoring pipeline: same scores as Detector.score, bounded memory, safe resume."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import aiaudio
from aiaudio import batch as pipeline
from aiaudio.audio import write_audio
from aiaudio.cli import main
from aiaudio.frontend import FrontendConfig
from aiaudio.model import AIMusicNet, ArchConfig, ModelConfig, save_model
from aiaudio.batch import DecoderCrashError, PipelineStats, ResumableOutput, ResumeError, plan_resources, score_files

from conftest import music_like

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def fast_model(tmp_path_factory) -> Path:
    """A small random model with the shipped front end's layout (time pooling), 2-s segments."""
    torch.manual_seed(0)
    fe = FrontendConfig(segment_s=2.0, segment_hop_s=2.0, min_duration_s=1.0, time_pool=4)
    model = AIMusicNet(ModelConfig(name="tiny", trained=True, frontend=fe, arch=ArchConfig(channels=(4, 8, 8), hidden=8)))
    for m in model.modules():  # non-trivial batch-norm statistics, so folding them is tested
        if isinstance(m, torch.nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return save_model(model, tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="module")
def det(fast_model: Path) -> aiaudio.Detector:
    return aiaudio.load_detector(fast_model)


@pytest.fixture(scope="module")
def onnx_det(fast_model: Path, tmp_path_factory) -> aiaudio.Detector:
    """The same small model, scoring with the ONNX backend (its ``model.onnx`` exported here)."""
    pytest.importorskip("onnxscript")
    import shutil

    from aiaudio.export import export_model_onnx

    d = tmp_path_factory.mktemp("tiny-onnx") / "m"
    shutil.copytree(fast_model, d)
    export_model_onnx(d)
    det = aiaudio.load_detector(d, backend="onnx")
    assert det.backend == "onnx"
    return det


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[str]:
    """Files of several formats, rates, channel counts and lengths, plus two bad ones."""
    root = tmp_path_factory.mktemp("clips")
    specs = [  # (seconds, rate, channels, extension)
        (3.0, 44100, 2, "flac"), (1.5, 16000, 1, "wav"), (11.3, 48000, 2, "ogg"), (7.0, 22050, 1, "mp3"),
        (2.0, 44100, 1, "wav"), (25.0, 32000, 2, "flac"), (4.2, 8000, 1, "wav"),
    ]
    out = []
    for i, (sec, sr, ch, ext) in enumerate(specs):
        p = root / f"clip{i}.{ext}"
        write_audio(p, music_like(sec, sr, ch, seed=i), sr)
        out.append(str(p))
    (root / "bad.wav").write_text("not audio")
    sf.write(root / "short.wav", music_like(0.5, 16000, 1).T, 16000)
    return out + [str(root / "bad.wav"), str(root / "short.wav")]


def _by_path(results) -> dict:
    out = {}
    for path, r in results:
        assert path not in out, f"{path} came twice"
        out[path] = r
    return out


# --------------------------------------------------------------------------- same scores


def _detector_results(det, paths) -> dict:
    """What Detector.score gives for each path: its Score, or the AudioLoadError it raises."""
    ref = {}
    for p in paths:
        try:
            ref[p] = det.score(p)
        except aiaudio.AudioLoadError as e:
            ref[p] = e
    return ref


def test_pipeline_matches_detector_score_for_any_batch_size_and_worker_count(det, clips) -> None:
    ref = _detector_results(det, clips)
    for bs in (1, 7, 64):
        for jobs in (0, 1, 2):
            got = _by_path(score_files(det, clips, jobs=jobs, batch_size=bs))
            assert set(got) == set(clips), (bs, jobs)
            for p in clips:
                r, want = got[p], ref[p]
                if isinstance(want, Exception):
                    assert type(r) is type(want) and str(r) == str(want), (bs, jobs, p, r)
                    continue
                assert isinstance(r, aiaudio.Score), (bs, jobs, p, r)
                assert abs(r.p_ai - want.p_ai) < 1e-5 and abs(r.logit - want.logit) < 1e-5
                assert len(r.segments) == len(want.segments)
                for a, b in zip(r.segments, want.segments):
                    assert a.start_s == b.start_s and a.end_s == b.end_s and abs(a.p_ai - b.p_ai) < 1e-5
                assert (r.label, r.flags, r.duration_s, r.path) == (want.label, want.flags, want.duration_s, want.path)


def test_cnn_in_the_workers_gives_the_scores_of_the_main_process_cnn_and_of_detector_score(onnx_det, clips) -> None:
    """With the ONNX backend the decode workers run the CNN themselves (the default for
    process workers): same scores, segments and errors as the CNN in the main process and as
    Detector.score, for one and two workers and chunks of any size."""
    det = onnx_det
    ref = _detector_results(det, clips)
    for jobs, chunk, in_workers in ((1, 8, True), (2, 3, True), (2, 8, None), (2, 8, False)):
        stats = PipelineStats()
        got = _by_path(score_files(det, clips, jobs=jobs, chunk_segments=chunk, cnn_in_workers=in_workers, stats=stats))
        assert stats.resources.cnn_in_workers is (in_workers is not False), (jobs, chunk, in_workers)
        assert set(got) == set(clips)
        for p in clips:
            r, want = got[p], ref[p]
            if isinstance(want, Exception):
                assert type(r) is type(want) and str(r) == str(want), (jobs, p, r)
                continue
            assert isinstance(r, aiaudio.Score), (jobs, p, r)
            assert abs(r.p_ai - want.p_ai) < 1e-6 and abs(r.logit - want.logit) < 1e-6, (jobs, chunk, p)
            assert [(a.start_s, a.end_s) for a in r.segments] == [(b.start_s, b.end_s) for b in want.segments]
            assert max(abs(a.p_ai - b.p_ai) for a, b in zip(r.segments, want.segments)) < 1e-6
            assert (r.label, r.flags, r.duration_s) == (want.label, want.flags, want.duration_s)
        n_segments = sum(len(r.segments) for r in ref.values() if isinstance(r, aiaudio.Score))
        assert stats.segments == n_segments and stats.max_chunk_segments <= chunk
        assert stats.cnn_s > 0


def test_cnn_in_workers_is_for_process_workers_on_the_onnx_backend(det, onnx_det, clips) -> None:
    stats = PipelineStats()
    got = _by_path(score_files(onnx_det, clips[:2], jobs=1, backend="thread", stats=stats))
    assert not stats.resources.cnn_in_workers and all(isinstance(r, aiaudio.Score) for r in got.values())
    stats = PipelineStats()
    list(score_files(det, clips[:2], jobs=1, stats=stats))  # the torch backend: the main process runs the CNN
    assert not stats.resources.cnn_in_workers
    with pytest.raises(ValueError, match="cnn_in_workers"):
        score_files(onnx_det, clips, backend="thread", cnn_in_workers=True)
    with pytest.raises(ValueError, match="cnn_in_workers"):
        score_files(det, clips, cnn_in_workers=True)


def test_thread_backend_and_cues_match(det, clips) -> None:
    good = clips[:4]
    ref = {p: det.score(p, cues=True) for p in good}
    got = _by_path(score_files(det, good, jobs=2, backend="thread", batch_size=5, cues=True))
    for p in good:
        assert abs(got[p].p_ai - ref[p].p_ai) < 1e-5
        assert got[p].cues.keys() == ref[p].cues.keys()
        for k, v in ref[p].cues.items():
            assert got[p].cues[k] == pytest.approx(v, rel=1e-9, abs=1e-12, nan_ok=True), k


def test_inference_copy_matches_the_plain_model_and_follows_weight_changes(det) -> None:
    x = music_like(8.0, 16000, 1, seed=3).reshape(4, -1)
    fast = det.segment_logits(x)
    with torch.inference_mode():
        plain = det.model(torch.from_numpy(x)).double().numpy()
    np.testing.assert_allclose(fast, plain, atol=1e-5)
    # hooks see every pass: the plain model runs while one is registered
    seen = []
    h = det.model.register_forward_hook(lambda m, i, o: seen.append(o.shape[0]))
    try:
        det.segment_logits(x, batch_size=3)
    finally:
        h.remove()
    assert seen == [3, 1]
    # changed weights are picked up
    w = det.model.cnn.head[-1].bias
    with torch.no_grad():
        w += 1.0
    try:
        np.testing.assert_allclose(det.segment_logits(x), fast + 1.0, atol=1e-5)
    finally:
        with torch.no_grad():
            w -= 1.0


# --------------------------------------------------------------------------- memory and robustness


def _noise_wav(path: Path, minutes: int, sr: int = 16000) -> Path:
    rng = np.random.default_rng(0)
    with sf.SoundFile(path, "w", samplerate=sr, channels=1, subtype="PCM_16") as f:
        for _ in range(minutes * 2):
            f.write((0.1 * rng.standard_normal(30 * sr)).astype(np.float32))
    return path


def test_long_file_streams_in_bounded_chunks(det, tmp_path: Path) -> None:
    short, long = _noise_wav(tmp_path / "short.wav", 2), _noise_wav(tmp_path / "long.wav", 10)
    whole_bytes = 10 * 60 * 16000 * 4  # the long file decoded as float32
    for jobs in (0, 1):
        peaks = []
        for p, minutes in ((short, 2), (long, 10)):
            stats = PipelineStats()
            tracemalloc.start()
            try:
                (_, r), = list(score_files(det, [p], jobs=jobs, batch_size=4, chunk_segments=3, stats=stats))
                peaks.append(tracemalloc.get_traced_memory()[1])
            finally:
                tracemalloc.stop()
            assert isinstance(r, aiaudio.Score) and r.duration_s == pytest.approx(minutes * 60)
            assert len(r.segments) == minutes * 60 // 2 == stats.segments
            assert stats.max_chunk_segments <= 3
            assert stats.peak_pending_segments <= 4 + 3 - 1  # one batch plus one chunk
        # memory in this process does not grow with the file's length (numpy buffers are traced)
        assert peaks[1] < 1.25 * peaks[0] + 1e6, (jobs, peaks)
        assert peaks[1] < whole_bytes / 2, (jobs, peaks)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork-based worker crash simulation")
@pytest.mark.parametrize("which", ["det", "onnx_det"])  # the CNN in the main process / in the workers
def test_a_crashing_decoder_gives_one_error_row_and_the_run_goes_on(which, clips, tmp_path: Path, monkeypatch, request) -> None:
    det = request.getfixturevalue(which)
    crash = tmp_path / "crash.wav"
    write_audio(crash, music_like(3.0, 16000, 1), 16000)
    real = pipeline.decode._model_rate_input

    def exploding(audio, *a, **k):  # a decoder that segfaults on one file
        if str(audio).endswith("crash.wav"):
            import faulthandler
            import resource

            faulthandler.disable()  # (pytest's would print this worker's stack)
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file
            os.kill(os.getpid(), signal.SIGSEGV)
        return real(audio, *a, **k)

    monkeypatch.setattr(pipeline.decode, "_model_rate_input", exploding)  # workers are forked: they see it
    paths = clips[:3] + [str(crash)] + clips[3:5]
    stats = PipelineStats()
    got = _by_path(score_files(det, paths, jobs=1, stats=stats))
    assert set(got) == set(paths)
    assert type(got[str(crash)]) is DecoderCrashError and "crash.wav" in str(got[str(crash)])
    assert got[str(crash)].reason == "decoder_crash" and "probably damaged" in str(got[str(crash)])
    assert all(isinstance(got[p], aiaudio.Score) for p in paths if p != str(crash))
    assert stats.worker_restarts == 1


@pytest.mark.parametrize("jobs", [1, 0])
def test_what_a_decoder_prints_travels_with_its_file(det, clips, tmp_path: Path, monkeypatch, capfd, jobs: int) -> None:
    """A C library complaining on file descriptor 2 (as libmpg123 does about a damaged MP3
    frame) flags that file's score instead of reaching the terminal unattributed, whether
    a worker process or the main process (``jobs=0``) decodes it."""
    noisy = tmp_path / "noisy.wav"
    write_audio(noisy, music_like(3.0, 16000, 1), 16000)
    real = pipeline.decode._model_rate_input

    def complaining(audio, *a, **k):
        if str(audio).endswith("noisy.wav"):
            os.write(2, b"[layer3.c] error: part2_3_length too large\n")  # straight to fd 2, like C code
        return real(audio, *a, **k)

    monkeypatch.setattr(pipeline.decode, "_model_rate_input", complaining)  # workers are forked: they see it
    paths = clips[:2] + [str(noisy)] + clips[2:4]
    expected = det.score(str(noisy)).p_ai  # reference score (Detector.score is not patched)
    capfd.readouterr()
    got = {}
    for path, result in score_files(det, paths, jobs=jobs):
        got[path] = result
        sys.stderr.write(f"progress {len(got)}\n")  # what the caller writes between results still shows
    captured = capfd.readouterr().err
    assert "part2_3_length" not in captured
    assert f"progress {len(paths)}" in captured
    s = got[str(noisy)]
    assert s.flags == ["decoder_messages"] and "part2_3_length too large" in s.decoder_log
    assert s.p_ai == pytest.approx(expected, abs=1e-5)  # the score itself is unchanged
    for p in paths:
        if p != str(noisy) and isinstance(got[p], aiaudio.Score):
            assert "decoder_messages" not in got[p].flags and got[p].decoder_log == ""
    sys.stderr.write("")  # the main process's standard error still works
    os.write(2, b"after\n")
    assert "after" in capfd.readouterr().err


def test_plan_resources() -> None:
    assert plan_resources(n_cpus=1) == pipeline.Resources(0, 1)
    assert plan_resources(n_cpus=2) == pipeline.Resources(2, 1)
    assert plan_resources(n_cpus=16) == pipeline.Resources(11, 6)
    assert plan_resources(n_cpus=64).torch_threads == pipeline.MAX_TORCH_THREADS
    assert plan_resources(jobs=3, torch_threads=2, backend="thread", n_cpus=2) == pipeline.Resources(3, 2, "thread")
    # workers that run the CNN themselves: one per core (decoding in the main thread on one core)
    assert plan_resources(n_cpus=4, cnn_in_workers=True) == pipeline.Resources(4, 2, cnn_in_workers=True)
    assert plan_resources(n_cpus=1, cnn_in_workers=True) == pipeline.Resources(0, 1)  # the main thread does it all
    assert plan_resources(jobs=3, n_cpus=16, cnn_in_workers=True).decode_workers == 3
    with pytest.raises(ValueError):
        plan_resources(jobs=-1)
    with pytest.raises(ValueError):
        plan_resources(backend="gpu")


# --------------------------------------------------------------------------- resumable output


def test_resumable_output_keeps_complete_rows_and_drops_a_torn_one(tmp_path: Path) -> None:
    cols = ["path", "p_ai", "error"]
    out = tmp_path / "o.csv"
    partial = tmp_path / "o.csv.partial"
    partial.write_text(
        'path,p_ai,error\n'
        'a.wav,0.5,\n'
        '"b\nnewline, and comma.wav",,"bad ""file""\nsecond line"\n'
        'a.wav,0.7,\n'  # a duplicate never counts twice
        'c.wav,0.2'  # torn by a kill: no newline
    )
    ro = ResumableOutput(out, "csv", cols, resume=True)
    fh = ro.open()
    assert ro.done == {"a.wav", "b\nnewline, and comma.wav"} and ro.dropped == 2 and not ro.fresh
    fh.write("c.wav,0.25,\n")
    fh.close()
    ro.finish(order=["c.wav", "a.wav", "b\nnewline, and comma.wav"])
    assert not partial.exists()
    rows = list(csv.DictReader(out.open(newline="")))
    assert [r["path"] for r in rows] == ["c.wav", "a.wav", "b\nnewline, and comma.wav"]
    assert rows[1]["p_ai"] == "0.5" and rows[2]["error"] == 'bad "file"\nsecond line'
    # columns of another run: refuse rather than mix
    partial.write_text("path,p_ai,error,cue_x\n")
    with pytest.raises(ResumeError):
        ResumableOutput(out, "csv", cols, resume=True).open()
    # jsonl: a torn last line is dropped
    j = tmp_path / "o.jsonl"
    Path(str(j) + ".partial").write_text('{"path": "a", "p_ai": 0.5}\n{"path": "b", "p_')
    ro = ResumableOutput(j, "jsonl", cols, resume=True)
    ro.open().close()
    assert ro.done == {"a"} and ro.dropped == 1


def _run_cli(args: list[str], env: dict | None = None, **kw) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
    return subprocess.Popen(
        [sys.executable, "-m", "aiaudio", *args], cwd=REPO, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw,
    )


def _rows(path: Path, fmt: str) -> list[dict]:
    if fmt == "csv":
        return list(csv.DictReader(path.open(newline="")))
    return [json.loads(line) for line in path.read_text().splitlines()]


def _count_rows(path: Path, fmt: str) -> int:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return 0
    return max(0, text.count("\n") - (fmt == "csv"))


def _wait_until(condition, what: str, limit_s: float = 240.0) -> None:
    """Poll ``condition`` until it holds (a bounded wait for another process, not a timing)."""
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        time.sleep(0.01)


def _hang_env(name: str, marker: Path | None = None) -> dict:
    """Environment for a run whose decoder hangs on the file ``name`` (see pipeline.TEST_HANG_ENV)."""
    env = {pipeline.TEST_HANG_ENV: name}
    if marker is not None:
        env[pipeline.TEST_HANG_ENV + "_MARKER"] = str(marker)
    return env


#: The folder below, in the order a run takes it: broken.wav, song00.flac ... song11.flac.
N_SONGS = 12
HANG_AT, ROWS_BEFORE_HANG = "song06.flac", 7


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("folder")
    for i in range(N_SONGS):
        write_audio(root / f"song{i:02d}.flac", music_like(6.0, 44100, 2, seed=i), 44100)
    (root / "broken.wav").write_text("not audio")
    return root


@pytest.mark.parametrize("fmt,sig", [("csv", signal.SIGKILL), ("jsonl", signal.SIGINT)])
def test_killed_run_resumes_to_exactly_the_rows_of_an_uninterrupted_run(folder, fast_model, tmp_path: Path, fmt, sig) -> None:
    """The run is interrupted at a chosen point: its one decoder hangs on HANG_AT (test hook)
    once every file before it has its row, so the signal always lands mid-run."""
    common = ["--model", str(fast_model), "--batch-size", "1", "--jobs", "1", "--format", fmt, "--no-progress"]
    ref = tmp_path / f"ref.{fmt}"
    assert main(["score", str(folder), "-o", str(ref), *common]) == 0  # uninterrupted, in this process

    out = tmp_path / f"out.{fmt}"
    partial = Path(str(out) + ".partial")
    marker = tmp_path / "hanging"
    p = _run_cli(["score", str(folder), "-o", str(out), "--file-timeout", "0", *common], env=_hang_env(HANG_AT, marker))
    try:
        _wait_until(
            lambda: p.poll() is not None or (marker.exists() and _count_rows(partial, fmt) >= ROWS_BEFORE_HANG),
            "the decoder to reach the hanging file",
        )
        assert p.poll() is None, "the run ended before it could be interrupted: " + p.stderr.read()
        assert _count_rows(partial, fmt) == ROWS_BEFORE_HANG  # every file before the hanging one, none after
        p.send_signal(sig)
        p.wait(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
        marker.unlink(missing_ok=True)  # releases a decoder left hanging, whatever happened
        _, err = p.communicate(timeout=60)  # (a decoder left alive holds the pipes open)
    assert not out.exists(), "OUT must not exist before the run completes"
    assert _count_rows(partial, fmt) == ROWS_BEFORE_HANG
    if sig == signal.SIGINT:
        assert p.returncode == 130 and "--resume" in err
        assert "Traceback" not in err
    else:
        assert p.returncode == -signal.SIGKILL

    r = _run_cli(["score", str(folder), "-o", str(out), "--resume", *common])
    _, err = r.communicate(timeout=300)
    assert r.returncode == 0, err
    assert "resuming" in err and not partial.exists()
    got, want = _rows(out, fmt), _rows(ref, fmt)
    assert len(got) == len({row["path"] for row in got}) == N_SONGS + 1  # no duplicates, none lost
    assert got == want  # same rows, same (input) order, same values
    assert out.read_bytes() == ref.read_bytes()


def test_cli_replaces_a_stale_partial_without_resume_and_writes_input_order(det, fast_model, clips, tmp_path: Path, capsys) -> None:
    out = tmp_path / "s.csv"
    Path(str(out) + ".partial").write_text("path,stale\nx,1\n")
    assert main(["score", *clips, "-o", str(out), "--model", str(fast_model), "--jobs", "2"]) == 0
    err = capsys.readouterr().err
    assert "replacing the unfinished" in err
    rows = _rows(out, "csv")
    assert [r["path"] for r in rows] == clips  # OUT is in input order, whatever order files finished in
    assert not Path(str(out) + ".partial").exists()
    # resuming a finished output adds nothing and changes nothing
    before = out.read_bytes()
    assert main(["score", *clips, "-o", str(out), "--model", str(fast_model), "--resume"]) == 0
    assert out.read_bytes() == before
    assert main(["score", *clips, "--model", str(fast_model), "--resume"]) == 2  # stdout cannot resume


# --------------------------------------------------------------------------- workers and signals


def _alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie, dead but not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _children(pid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = int(Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                out.append(int(d))
    return out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigkill_of_the_main_process_leaves_no_worker_alive(folder, fast_model, tmp_path: Path) -> None:
    """A worker stuck in its decoder (test hook: no Python signal handler can run) still dies
    with the main process: the death signal is SIGKILL, not a handler inherited from the CLI."""
    marker = tmp_path / "hanging"
    p = _run_cli(
        ["score", str(folder), "-o", str(tmp_path / "o.csv"), "--model", str(fast_model), "--jobs", "2", "--no-progress",
         "--file-timeout", "0"],
        env=_hang_env(HANG_AT, marker),
    )
    try:
        _wait_until(lambda: p.poll() is not None or marker.exists(), "the decoder to reach the hanging file")
        assert p.poll() is None, p.stderr.read()
        stuck = int(marker.read_text())
        workers = _children(p.pid)  # the stuck one, and the other while it still has files
        assert stuck in workers
        p.kill()
        p.wait(timeout=60)
        _wait_until(lambda: not any(_alive(w) for w in workers), "the workers to end", limit_s=10.0)
    finally:
        if p.poll() is None:
            p.kill()
        marker.unlink(missing_ok=True)  # releases a worker left hanging
        _, err = p.communicate(timeout=60)
    assert "Traceback" not in err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork-based workers")
def test_workers_end_silently_on_sigterm_and_ignore_ctrl_c(det, clips, capfd) -> None:
    """Workers do not inherit the main process's handlers (the CLI turns SIGTERM into an
    exception, which printed a traceback in each worker and kept a stuck one alive)."""
    old = signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        w = pipeline.decode._Worker("process", det.config.frontend, False, 8)
    finally:
        signal.signal(signal.SIGTERM, old)
    try:
        def decode_one(i: int) -> None:
            w.send((i, clips[0]))
            while True:
                _, msg = w.results.recv()
                if msg[0] in ("end", "err"):
                    assert msg[0] == "end" and msg[1] == i
                    return

        decode_one(0)  # the worker is up and has set itself up
        os.kill(w.proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group
        decode_one(1)  # still there, still working
        os.kill(w.proc.pid, signal.SIGTERM)
        w.proc.join(30)
        assert w.proc.exitcode == -signal.SIGTERM
    finally:
        w.close(timeout=1.0)
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork-based worker kill simulation")
def test_a_worker_killed_from_outside_is_not_blamed_on_its_file(det, clips, tmp_path: Path, monkeypatch) -> None:
    """SIGKILL (what the out-of-memory killer sends) says nothing about the file: the row says
    the worker was killed, with a reason that --resume retries."""
    victim = tmp_path / "victim.wav"
    write_audio(victim, music_like(3.0, 16000, 1), 16000)
    real = pipeline.decode._model_rate_input

    def oom_killed(audio, *a, **k):
        if str(audio).endswith("victim.wav"):
            os.kill(os.getpid(), signal.SIGKILL)
        return real(audio, *a, **k)

    monkeypatch.setattr(pipeline.decode, "_model_rate_input", oom_killed)  # workers are forked: they see it
    paths = clips[:2] + [str(victim)] + clips[2:4]
    stats = PipelineStats()
    got = _by_path(score_files(det, paths, jobs=1, stats=stats))
    e = got[str(victim)]
    assert isinstance(e, pipeline.WorkerKilledError) and not isinstance(e, DecoderCrashError)
    assert e.reason == "worker_killed" and e.signum == signal.SIGKILL
    assert "killed (SIGKILL, signal 9" in str(e) and "out of memory" in str(e) and "probably damaged" not in str(e)
    assert all(isinstance(got[p], aiaudio.Score) for p in paths if p != str(victim))
    assert stats.worker_restarts == 1
    assert not pipeline.row_is_final({"path": "x", "reason": e.reason})


def test_row_is_final() -> None:
    assert pipeline.RETRYABLE_REASONS == {"timeout", "worker_killed"}
    assert not pipeline.row_is_final({"reason": "timeout"}) and not pipeline.row_is_final({"reason": "worker_killed"})
    for reason in ("", None, "corrupt", "decoder_crash", "special_file", "too_short"):
        assert pipeline.row_is_final({"reason": reason})
    assert pipeline.row_is_final({"path": "a.wav"})  # rows of older runs have no reason column


# --------------------------------------------------------------------------- hanging and special inputs


def test_time_limit_scales_with_the_file_size_and_can_be_set() -> None:
    assert pipeline.file_time_limit(None) == pipeline.file_time_limit(0) == pipeline.FILE_TIMEOUT_BASE_S
    assert pipeline.file_time_limit(5_000_000) == pipeline.FILE_TIMEOUT_BASE_S + 5 * pipeline.FILE_TIMEOUT_PER_MB_S
    assert pipeline.file_time_limit(10**9) > pipeline.file_time_limit(10**8) > pipeline.file_time_limit(10**6)
    assert pipeline.file_time_limit(10**9, file_timeout=3.0) == 3.0


@pytest.mark.parametrize("bad", [0, -1.0, float("nan")])
def test_file_timeout_must_be_positive(det, clips, bad) -> None:
    with pytest.raises(ValueError, match="file_timeout"):
        score_files(det, clips[:1], file_timeout=bad)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_special_files_are_named_and_never_opened(tmp_path: Path) -> None:
    """A FIFO read as a file blocks (or reads as empty): it is refused for what it is, unopened."""
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    for call in (aiaudio.load_audio, lambda p: next(aiaudio.audio.stream_audio(p))):
        with pytest.raises(aiaudio.AudioLoadError) as ei:
            call(fifo)
        assert ei.value.reason == "special_file" and "FIFO (named pipe)" in str(ei.value) and "pipe.wav" in str(ei.value)
    with pytest.raises(aiaudio.AudioLoadError, match="character device") as ei:
        aiaudio.load_audio("/dev/null")
    assert ei.value.reason == "special_file"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_folder_lists_what_is_named_like_audio_but_is_no_file(tmp_path: Path) -> None:
    from aiaudio.cli import collect_inputs

    root = tmp_path / "music"
    root.mkdir()
    write_audio(root / "good.wav", music_like(2.0, 16000, 1), 16000)
    os.mkfifo(root / "pipe.mp3")
    (root / "album.flac").mkdir()
    (root / "gone.ogg").symlink_to(root / "nowhere.ogg")
    (root / ".hidden.wav").mkdir()
    (root / "notes.txt").write_text("not audio")
    want = sorted(str(root / n) for n in ("good.wav", "pipe.mp3", "album.flac", "gone.ogg"))
    assert collect_inputs([str(root)]) == want
    out = tmp_path / "o.csv"
    assert main(["score", str(root), "-o", str(out), "--jobs", "1", "--no-progress"]) == 0
    rows = {Path(r["path"]).name: r for r in _rows(out, "csv")}
    assert rows["good.wav"]["error"] == "" and rows["good.wav"]["reason"] == ""
    assert rows["pipe.mp3"]["reason"] == "special_file" and "FIFO" in rows["pipe.mp3"]["error"]
    assert rows["album.flac"]["reason"] == "directory"
    assert rows["gone.ogg"]["reason"] == "missing"


@pytest.mark.skipif(not sys.platform.startswith("linux") or not hasattr(os, "mkfifo"), reason="fork-based workers, FIFOs")
def test_a_folder_with_a_fifo_and_a_hanging_decoder_finishes_with_every_row(fast_model, tmp_path: Path) -> None:
    """A FIFO, a good file and a file whose decoder never returns (test hook): three rows, in
    bounded time; the stuck worker is stopped and replaced."""
    root = tmp_path / "music"
    root.mkdir()
    for name in ("a_good.wav", "b_hangs.wav", "c_good.flac"):
        write_audio(root / name, music_like(3.0, 16000, 1), 16000)
    os.mkfifo(root / "d_pipe.wav")
    marker = tmp_path / "hanging"
    out = tmp_path / "o.csv"
    p = _run_cli(
        ["score", str(root), "-o", str(out), "--model", str(fast_model), "--jobs", "1", "--file-timeout", "4", "--no-progress"],
        env=_hang_env("b_hangs.wav", marker),
    )
    try:
        _, err = p.communicate(timeout=120)
        stuck = int(marker.read_text())
    finally:
        if p.poll() is None:
            p.kill()
        marker.unlink(missing_ok=True)
        p.communicate()
    assert p.returncode == 0, err
    rows = {Path(r["path"]).name: r for r in _rows(out, "csv")}
    assert set(rows) == {"a_good.wav", "b_hangs.wav", "c_good.flac", "d_pipe.wav"}
    assert rows["a_good.wav"]["error"] == rows["c_good.flac"]["error"] == ""
    assert rows["b_hangs.wav"]["reason"] == "timeout" and "gave up after 4 s" in rows["b_hangs.wav"]["error"]
    assert rows["d_pipe.wav"]["reason"] == "special_file" and "FIFO" in rows["d_pipe.wav"]["error"]
    assert not _alive(stuck)
    assert "4 files, 2 scored, 2 errors" in err and "--resume scores them again" in err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork-based workers")
def test_a_hanging_decoder_is_stopped_after_its_time_limit(det, clips, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv(pipeline.TEST_HANG_ENV, Path(clips[1]).name)
    paths = clips[:4]
    stats = PipelineStats()
    got = _by_path(score_files(det, paths, jobs=1, file_timeout=3.0, stats=stats))
    e = got[clips[1]]
    assert isinstance(e, pipeline.FileTimeoutError) and e.reason == "timeout" and e.limit_s == 3.0
    assert all(isinstance(got[p], aiaudio.Score) for p in paths if p != clips[1])
    assert stats.timeouts == 1 and stats.worker_restarts == 1  # files were left: a new worker took them


# --------------------------------------------------------------------------- resume: model, retries


def _other_model(tmp_path: Path) -> Path:
    torch.manual_seed(1)
    fe = FrontendConfig(segment_s=2.0, segment_hop_s=2.0, min_duration_s=1.0, time_pool=4)
    cfg = ModelConfig(name="other", trained=True, frontend=fe, arch=ArchConfig(channels=(4, 8, 8), hidden=8))
    return save_model(AIMusicNet(cfg), tmp_path / "other-model")


def test_resume_with_another_model_is_refused(fast_model, clips, tmp_path: Path, capsys) -> None:
    out = tmp_path / "s.csv"
    assert main(["score", *clips[:3], "-o", str(out), "--model", str(fast_model), "--jobs", "1"]) == 0
    before = out.read_bytes()
    other = _other_model(tmp_path)
    capsys.readouterr()
    rc = main(["score", *clips[:5], "-o", str(out), "--model", str(other), "--jobs", "1", "--resume"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "tiny@" in err and "other@" in err and "same --model" in err
    assert out.read_bytes() == before  # nothing mixed in
    # the same model resumes
    assert main(["score", *clips[:5], "-o", str(out), "--model", str(fast_model), "--jobs", "1", "--resume"]) == 0
    assert len(_rows(out, "csv")) == 5


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_resume_scores_timed_out_and_killed_files_again(fast_model, clips, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"s.{fmt}"
    paths = clips[:3]
    args = ["score", *paths, "-o", str(out), "--model", str(fast_model), "--jobs", "1", "--format", fmt]
    assert main(args) == 0
    want = _rows(out, fmt)
    rows = [dict(r) for r in want]
    for r, reason in zip(rows[:2], ("timeout", "worker_killed")):  # as a run that lost them leaves them
        r.update(p_ai="", label="", confidence="", duration_s="", flags="", error=f"{r['path']}: lost", reason=reason)
    with out.open("w", newline="") as fh:
        if fmt == "csv":
            w = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
            w.writeheader()
            w.writerows(rows)
        else:
            fh.writelines(json.dumps(r) + "\n" for r in rows)
    assert main([*args, "--resume"]) == 0
    got = _rows(out, fmt)
    assert [r["path"] for r in got] == [r["path"] for r in want]
    for g, w in zip(got, want):  # JSON lines keep every digit: another batch of segments moves p_ai by ~1e-9
        assert {k: v for k, v in g.items() if k not in ("p_ai", "confidence")} == {
            k: v for k, v in w.items() if k not in ("p_ai", "confidence")
        }
        assert float(g["p_ai"]) == pytest.approx(float(w["p_ai"]), abs=1e-6)
        assert float(g["confidence"]) == pytest.approx(float(w["confidence"]), abs=1e-6)


@pytest.mark.parametrize("bad", ["-1", "nan"])
def test_cli_refuses_a_negative_file_timeout(clips, bad: str, capsys) -> None:
    assert main(["score", clips[0], "--file-timeout", bad]) == 2
    assert "--file-timeout must be >= 0" in capsys.readouterr().err


@pytest.mark.skipif(not sys.platform.startswith("linux") or __import__("platform").libc_ver()[0] != "glibc", reason="glibc mallopt")
def test_keep_freed_memory_is_taken_by_glibc_and_left_to_the_caller() -> None:
    """The allocator setting of decode workers and `aiaudio score` is accepted by glibc, and
    importing aiaudio and loading a model never applies it to the importing program."""
    assert pipeline.keep_freed_memory() is True
    code = (  # mallopt is reached through ctypes.CDLL(None): record every such handle's mallopt
        "import ctypes\n"
        "called = []\n"
        "real = ctypes.CDLL\n"
        "class Watched(real):\n"
        "    def __getattr__(self, name):\n"
        "        if name == 'mallopt':\n"
        "            called.append(name)\n"
        "        return super().__getattr__(name)\n"
        "ctypes.CDLL = Watched\n"
        "import aiaudio\n"
        "det = aiaudio.load_detector()\n"
        "import aiaudio.batch.resources as r\n"
        "assert not called, called\n"
        "assert r.keep_freed_memory() and called == ['mallopt'], called  # the watch sees a call\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-1000:]
