"""Packaging and the public API: every public function works more than once, the
dependencies a plain install gets are the ones inference uses, optional extras say how
to install them, and files aiaudio writes by hand read back with the csv module."""

from __future__ import annotations

import csv
import inspect
import json
import math
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

import aiaudio
from aiaudio.audio import write_audio
from aiaudio.errors import AiaudioError, MissingDependencyError

from conftest import music_like, python_without

REPO = Path(__file__).resolve().parents[1]

#: What `pip install aiaudio` must not need for scoring, cues, explanations and reports.
TRAINING_ONLY = ("librosa", "numba", "llvmlite", "sklearn", "matplotlib")


def _env() -> dict[str, str]:
    """Environment for a child interpreter that imports this checkout's aiaudio."""
    pp = os.environ.get("PYTHONPATH", "")
    return dict(os.environ, PYTHONPATH=str(REPO) + (os.pathsep + pp if pp else ""), PYTHONUNBUFFERED="1")


def _python(code: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=REPO, env=_env(), capture_output=True, text=True, timeout=timeout,
    )


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("clip") / "clip.wav"
    write_audio(path, music_like(5.0, 22050, 2), 22050)
    return path


# --------------------------------------------------------------------------- public API


def _same(a: Any, b: Any) -> bool:
    """Deep equality that treats NaN as equal to NaN and compares arrays by value."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True)
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _explanation(ex: Any) -> dict:
    d = ex.to_dict()
    d.pop("timings")  # seconds differ from call to call
    return d


def test_every_public_function_works_twice_and_the_calls_agree(clip: Path) -> None:
    """Each function in ``aiaudio.__all__``, called twice with the same small input, works
    both times and gives the same answer (``aiaudio.explain`` used to turn into the module
    ``aiaudio.explain`` after its first call)."""
    y, sr = aiaudio.load_audio(clip)
    cases: dict[str, tuple[Callable[[], Any], Callable[[Any], Any]]] = {
        "load_audio": (lambda: aiaudio.load_audio(clip), lambda r: r),
        "stream_audio": (lambda: np.concatenate(list(aiaudio.stream_audio(clip, block_s=1.0)), axis=-1), lambda r: r),
        "audio_info": (lambda: aiaudio.audio_info(clip), lambda r: r),
        "extract_cues": (lambda: aiaudio.extract_cues(y, sr), lambda r: r),
        "load_detector": (
            lambda: aiaudio.load_detector(),
            lambda det: (det.version, det.config.to_dict(), det.segment_logits(np.zeros((1, det.config.frontend.segment_samples), np.float32))),
        ),
        "score": (lambda: aiaudio.score(clip), lambda s: s.to_dict()),
        "explain": (lambda: aiaudio.explain(clip, cues=False, interventions=False, saliency=False), _explanation),
        "score_catalog": (lambda: aiaudio.score_catalog([clip], group_by="folder", jobs=0), lambda c: c.rows()),
    }
    public = {n for n in aiaudio.__all__ if inspect.isfunction(getattr(aiaudio, n))}
    assert public == set(cases), "a public function without a case here: add one"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", aiaudio.UntrainedModelWarning)
        for name in sorted(public):
            call, key = cases[name]
            first, second = key(call()), key(call())
            assert _same(first, second), name
            assert inspect.isfunction(getattr(aiaudio, name)), f"aiaudio.{name} is no longer the function after two calls"


def test_explain_in_a_fresh_interpreter_keeps_working_and_the_module_stays_importable() -> None:
    """The first explanation imports the submodule ``aiaudio.explain``; the package
    attribute must stay the function, and the documented imports of the module still work."""
    r = _python(
        """
        import warnings
        import numpy as np
        import aiaudio
        warnings.simplefilter("ignore")
        sr = 16000
        y = (0.3 * np.sin(2 * np.pi * 440 * np.arange(3 * sr) / sr)).astype(np.float32)
        kw = dict(cues=False, interventions=False, saliency=False)
        a = aiaudio.explain(y, sr, **kw)
        b = aiaudio.explain(y, sr, **kw)
        import aiaudio.explain
        from aiaudio.explain import Explanation
        c = aiaudio.explain(y, sr, **kw)
        assert isinstance(a, Explanation) and a.p_ai == b.p_ai == c.p_ai
        import importlib, types
        assert isinstance(importlib.import_module("aiaudio.explain"), types.ModuleType)
        print("ok", type(aiaudio.explain).__name__)
        """
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.split() == ["ok", "function"]


# --------------------------------------------------------------------------- plotting extra


def _block(monkeypatch, *names: str) -> None:
    """Make ``names`` (and their submodules) unimportable in this process, as if not installed."""
    for mod in list(sys.modules):
        if mod.split(".")[0] in names:
            monkeypatch.setitem(sys.modules, mod, None)
    for name in names:
        monkeypatch.setitem(sys.modules, name, None)


def test_explanation_plot_without_matplotlib_names_the_extra(detector, tmp_path: Path, monkeypatch) -> None:
    sr = 16000
    y = (0.3 * np.sin(2 * np.pi * 440 * np.arange(3 * sr) / sr)).astype(np.float32)
    ex = detector.explain(y, sr, cues=False, interventions=False, saliency=False)
    _block(monkeypatch, "matplotlib")
    with pytest.raises(MissingDependencyError, match=r'pip install "aiaudio\[plot\]"') as info:
        ex.plot(tmp_path / "x.png")
    assert isinstance(info.value, ImportError) and isinstance(info.value, AiaudioError)
    assert "matplotlib" in str(info.value)
    assert not (tmp_path / "x.png").exists()


def test_explain_plot_command_without_matplotlib_prints_the_install_command(clip: Path, tmp_path: Path) -> None:
    png = tmp_path / "x.png"
    r = _python(
        """
        import sys
        sys.modules["matplotlib"] = None  # as on a plain install
        from aiaudio.cli import main
        sys.exit(main(["explain", "--plot", sys.argv[1], sys.argv[2]]))
        """,
        str(png), str(clip),
    )
    assert r.returncode == 2, r.stderr[-3000:]
    assert 'pip install "aiaudio[plot]"' in r.stderr
    assert "Traceback" not in r.stderr
    assert r.stdout == "" and not png.exists()


# --------------------------------------------------------------------------- dependencies


def _pyproject() -> dict:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _names(reqs: list[str]) -> set[str]:
    import re

    return {re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0].strip().lower() for r in reqs}


def test_runtime_dependencies_are_what_inference_needs_and_extras_carry_the_rest() -> None:
    project = _pyproject()["project"]
    runtime = _names(project["dependencies"])
    extras = {k: _names(v) for k, v in project["optional-dependencies"].items()}
    assert "librosa" not in runtime and "matplotlib" not in runtime and "scikit-learn" not in runtime
    # a plain install scores, and no more (issue 17: <= 60 MB of wheels): the cues' scipy and
    # pyloudnorm and FFmpeg's PyAV are extras (tests/test_plain_install.py runs without them)
    assert runtime == {"numpy", "soundfile", "soxr", "onnxruntime", "tqdm", "mutagen"}
    assert extras["cues"] == {"scipy", "pyloudnorm"} and extras["formats"] == {"av"}
    assert extras["full"] == extras["cues"] | extras["formats"]
    for name in ("train", "dev", "notebooks"):  # training, the tests and the notebooks compute cues and encode
        assert extras["full"] <= extras[name], name
    assert {"librosa", "scikit-learn", "matplotlib"} <= extras["train"]
    assert extras["plot"] == {"matplotlib"}
    # the test suite runs on `pip install -e ".[dev]"`: it must bring what the tests import
    assert {"pytest", "hypothesis", "librosa", "scikit-learn", "matplotlib", "onnx", "onnxruntime"} <= extras["dev"]
    assert "librosa" in extras["notebooks"]  # notebook 03 trains with pitch/tempo augmentation


def test_inference_path_never_imports_the_training_packages(clip: Path, tmp_path: Path) -> None:
    """``import aiaudio``, load_detector, score, cues, explain (with interventions), report and
    the score/cues/explain/report commands, in an interpreter where the training-only
    packages cannot be imported (a plain install): all work, and none of those packages was
    even tried."""
    r = python_without(
        TRAINING_ONLY,
        """
        import json, warnings
        clip, out = sys.argv[1], sys.argv[2]
        warnings.simplefilter("ignore")
        import aiaudio
        from aiaudio.cli import main
        det = aiaudio.load_detector()
        s = aiaudio.score(clip, cues=True)
        y, sr = aiaudio.load_audio(clip)
        aiaudio.extract_cues(y, sr)
        ex = det.explain(clip, intervention_s=4.0, max_occlusion_passes=4)
        assert sum(e.measured for e in ex.effects) >= 3, [(e.name, e.reason) for e in ex.effects]
        from aiaudio.report import write_report
        rcs = [
            main(["score", clip, "-o", out + "/s.csv", "-j", "0", "--no-progress"]),
            main(["cues", clip, "-o", out + "/c.csv", "--no-progress"]),
            main(["explain", clip, "--json", out + "/e.json", "--no-interventions", "--max-occlusion-passes", "4"]),
            main(["report", out + "/s.csv", "-o", out + "/r.html"]),
        ]
        write_report(out + "/s.csv", out + "/r2.html")
        loaded = sorted({m.split(".")[0] for m in sys.modules if sys.modules[m] is not None} & set(BLOCKED))
        print(json.dumps({"rcs": rcs, "tried": tried, "loaded": loaded}))
        """,
        str(clip), str(tmp_path),
    )
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got == {"rcs": [0, 0, 0, 0], "tried": [], "loaded": []}
    rows = list(csv.DictReader((tmp_path / "s.csv").open(newline="")))
    assert len(rows) == 1 and rows[0]["error"] == ""
    assert (tmp_path / "r.html").read_text().count("clip.wav") >= 1


def test_training_commands_without_the_train_extra_name_it(tmp_path: Path, monkeypatch, capsys) -> None:
    from aiaudio.training.augment import pitch_shift, time_stretch
    from aiaudio.cli import main

    _block(monkeypatch, "librosa")
    data = tmp_path / "data"
    (data / "human").mkdir(parents=True)
    rc = main(["train", "--data", str(data), "--out", str(tmp_path / "model"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and 'pip install "aiaudio[train]"' in err and "librosa" in err
    assert not (tmp_path / "model").exists()  # refused before any work
    y = np.zeros((1, 4096), np.float32)
    for f, arg in ((pitch_shift, 1.0), (time_stretch, 1.05)):
        with pytest.raises(MissingDependencyError, match=r'pip install "aiaudio\[train\]"'):
            f(y, 16000, arg)
    # evaluate: the pitch conditions need librosa; every condition needs scikit-learn
    rc = main(["evaluate", "--model", str(tmp_path / "none"), "--data", str(data), "--out", str(tmp_path / "ev"), "--conditions", "pitch_+1"])
    err = capsys.readouterr().err
    assert rc == 2 and 'pip install "aiaudio[train]"' in err and "librosa" in err
    _block(monkeypatch, "sklearn")
    rc = main(["evaluate", "--model", str(tmp_path / "none"), "--data", str(data), "--out", str(tmp_path / "ev")])
    err = capsys.readouterr().err
    assert rc == 2 and 'pip install "aiaudio[train]"' in err and "scikit-learn" in err and "librosa" not in err
    assert not (tmp_path / "ev").exists()


# --------------------------------------------------------------------------- files written by hand


def test_resume_error_is_one_of_the_typed_errors() -> None:
    from aiaudio import batch as pipeline, errors

    assert pipeline.ResumeError is errors.ResumeError
    assert issubclass(pipeline.ResumeError, AiaudioError) and issubclass(pipeline.ResumeError, ValueError)


def test_evaluate_scores_csv_reads_back_with_commas_and_quotes_in_names(tmp_path: Path) -> None:
    import torch

    from aiaudio.training.evaluate import evaluate
    from aiaudio.frontend import FrontendConfig
    from aiaudio.model import AIMusicNet, ArchConfig, ModelConfig, save_model

    torch.manual_seed(0)
    fe = FrontendConfig(sample_rate=8000, n_fft=256, hop_length=128, fmax_hz=4000.0, segment_s=2.0, segment_hop_s=2.0, min_duration_s=1.0)
    model = save_model(AIMusicNet(ModelConfig(name="tiny", trained=True, frontend=fe, arch=ArchConfig(channels=(4,), hidden=4))), tmp_path / "m")
    data = tmp_path / "data"
    names = {
        "human/live, take 2": ['say "hi", then go.wav', "plain.wav"],
        'ai/gen,"x"': ["a,b.wav", 'quote"inside.wav'],
    }
    expected = {}
    for i, (folder, files) in enumerate(names.items()):
        (data / folder).mkdir(parents=True)
        for j, f in enumerate(files):
            write_audio(data / folder / f, music_like(2.5, 8000, 1, seed=3 * i + j), 8000)
            expected[str(data / folder / f)] = (folder.split("/")[0], folder.split("/")[1])
    evaluate(model, [str(data)], tmp_path / "ev", conditions=["original", "gain_-10db"], num_workers=0, progress=False, log=lambda s: None)
    with (tmp_path / "ev" / "scores.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["path", "label", "generator", "source", "p_ai_original", "p_ai_gain_-10db"]
    assert all(len(r) == 6 for r in rows)
    got = {r[0]: r for r in rows[1:]}
    assert set(got) == set(expected)
    det = aiaudio.load_detector(model)
    for path, (kind, folder) in expected.items():
        r = got[path]
        assert r[1] == ("1" if kind == "ai" else "0")
        if kind == "ai":
            assert r[2] == folder  # the generator is the folder name, comma and quotes included
        assert float(r[4]) == pytest.approx(det.score(path).p_ai, abs=1e-4)  # this file's own score


def test_example_clips_need_no_training_package(monkeypatch) -> None:
    """README command 1 runs scripts/make_examples.py right after a plain `pip install .`:
    its mel + Griffin-Lim clip must not need librosa, and its mel filters are librosa's."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_examples", REPO / "scripts" / "make_examples.py")
    mk = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mk)
    librosa = pytest.importorskip("librosa")  # the dev extra has it: compare before blocking it
    ref = librosa.filters.mel(sr=44100, n_fft=2048, n_mels=128)
    assert np.allclose(mk._mel_basis(44100, 2048, 128), ref, rtol=1e-5, atol=1e-7)
    _block(monkeypatch, *TRAINING_ONLY)
    y = mk.chords(seconds=0.5)
    r = mk.griffin_lim(y, mk.SR)
    assert r.shape == y.shape and r.dtype == np.float32
    assert np.abs(r).max() == pytest.approx(0.5, abs=1e-6)
    assert np.array_equal(r, mk.griffin_lim(y, mk.SR))  # seeded: the same clip every time
    # a reconstruction, not a copy: same spectral envelope, different waveform
    assert 0.05 < np.abs(r - y).mean() / np.abs(y).mean()
