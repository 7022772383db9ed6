"""Torch-free inference (aiaudio.runtime): the numpy front end equals the torch one, the
shipped model.onnx equals the safetensors model, and a process where torch cannot be
imported scores files (API and `aiaudio score`) as the torch path does, never importing torch."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

import aiaudio  # noqa: E402
from aiaudio.audio import write_audio  # noqa: E402
from aiaudio.detector import default_model_dir, load_detector  # noqa: E402
from aiaudio.frontend import Frontend, FrontendConfig, spectrogram  # noqa: E402
from aiaudio.modelconfig import ONNX_NAME, WEIGHTS_NAME, weights_sha256  # noqa: E402
from aiaudio.runtime import METADATA_WEIGHTS, backend_name  # noqa: E402

from conftest import music_like, python_without  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

CONFIGS = [
    FrontendConfig(),
    FrontendConfig(time_pool=4),
    FrontendConfig(sample_rate=8000, n_fft=256, hop_length=128, fmin_hz=100.0, fmax_hz=3000.0, segment_s=2.0, segment_hop_s=2.0, min_duration_s=1.0),
    FrontendConfig(sample_rate=22050, n_fft=2048, hop_length=512, fmin_hz=4000.0, fmax_hz=11025.0, time_pool=3),
]


def _signals(fe: FrontendConfig) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    n = fe.segment_samples
    music = np.asarray(music_like(3 * n / fe.sample_rate + 0.1, fe.sample_rate, 1, seed=2), np.float32).reshape(-1)
    return {
        "noise": (0.1 * rng.standard_normal((3, n))).astype(np.float32),
        "music": np.stack([music[i * n : (i + 1) * n] for i in range(3)]),
        "quiet_chirp": (1e-3 * np.sin(2 * np.pi * np.cumsum(np.linspace(50, fe.sample_rate / 2.5, n)) / fe.sample_rate))[None].astype(np.float32),
    }


@pytest.mark.parametrize("fe", CONFIGS, ids=["default", "pool4", "8k-band", "22k-high"])
def test_numpy_front_end_equals_the_torch_front_end(fe: FrontendConfig) -> None:
    """In float64 (with torch's window, itself rounded to float32) the numpy front end equals the
    torch module in float64 within 1e-5: the same computation; in float32 it is no further from those exact values than the torch module in
    float32 is (float32 FFT rounding near the -100 dB floor; no implementation does better)."""
    ref32 = Frontend(fe)
    ref64 = Frontend(fe).double()
    for name, x in _signals(fe).items():
        exact = ref64(torch.from_numpy(x.astype(np.float64))).numpy()
        got64 = spectrogram(x, fe, dtype=np.float64, window=ref64.window.numpy())  # torch's float32-rounded window
        got32 = spectrogram(x, fe)
        torch32 = ref32(torch.from_numpy(x)).numpy()
        assert got32.shape == got64.shape == exact.shape == (x.shape[0], 1, fe.n_bins, fe.n_frames), name
        assert got32.dtype == np.float32 and got64.dtype == np.float64
        assert np.abs(got64 - exact).max() < 1e-5, name
        assert np.abs(got32 - exact).max() <= 3 * np.abs(torch32 - exact).max() + 1e-6, name
        assert np.abs(got32 - exact).mean() <= 3 * np.abs(torch32 - exact).mean() + 1e-7, name


def test_numpy_front_end_refuses_short_segments() -> None:
    with pytest.raises(ValueError, match="n_fft"):
        spectrogram(np.zeros((1, 100), np.float32), FrontendConfig())


def test_the_shipped_model_onnx_is_of_the_shipped_weights_and_gives_their_logits() -> None:
    """A model.onnx left stale by retraining fails here: re-export it (`aiaudio export-onnx --into-model`)."""
    d = default_model_dir()
    assert (d / ONNX_NAME).is_file(), "the default model ships model.onnx: aiaudio export-onnx --into-model"
    onnx_det = load_detector(backend="onnx")
    torch_det = load_detector(backend="torch")
    assert onnx_det.backend == "onnx" and torch_det.backend == "torch"
    import onnxruntime as ort

    meta = ort.InferenceSession(str(d / ONNX_NAME), providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
    assert meta[METADATA_WEIGHTS] == weights_sha256(d / WEIGHTS_NAME)
    fe = onnx_det.config.frontend
    sig = _signals(fe)
    # the graph itself: the same spectrograms through the ONNX CNN and the safetensors CNN
    spec = onnx_det._onnx.spectrogram(np.concatenate(list(sig.values())))
    with torch.inference_mode():
        want = torch_det.model.cnn(torch.from_numpy(spec)).double().numpy()
    got = onnx_det._onnx._session().run(["logits"], {"spectrogram": spec})[0]
    assert np.abs(got - want).max() < 1e-4
    # end to end on waveforms (a pure tone's near-floor bins make the two front ends differ more)
    x = np.concatenate([sig["noise"], sig["music"]])
    a, b = onnx_det.segment_logits(x), torch_det.segment_logits(x)
    assert a.shape == b.shape == (x.shape[0],) and a.dtype == np.float64
    assert np.abs(a - b).max() < 1e-4
    assert np.abs(onnx_det.segment_logits(x, batch_size=2) - a).max() < 1e-5


def test_auto_prefers_onnx_and_falls_back_to_torch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_detector().backend == "onnx"
    monkeypatch.setenv("AIAUDIO_BACKEND", "torch")
    assert load_detector().backend == "torch"
    monkeypatch.setenv("AIAUDIO_BACKEND", "gpu")
    with pytest.raises(ValueError, match="AIAUDIO_BACKEND"):
        load_detector()
    monkeypatch.delenv("AIAUDIO_BACKEND")
    with pytest.raises(ValueError, match="backend"):
        backend_name("tensorflow")
    d = tmp_path / "m"
    shutil.copytree(default_model_dir(), d)
    (d / ONNX_NAME).unlink()
    assert load_detector(d).backend == "torch"
    with pytest.raises(aiaudio.ModelLoadError, match="export-onnx"):
        load_detector(d, backend="onnx")


def test_a_stale_model_onnx_is_refused(tmp_path: Path) -> None:
    """Weights changed after the export: backend="onnx" refuses the file, auto warns and uses torch."""
    from aiaudio.model import load_model, save_model_files

    d = tmp_path / "m"
    shutil.copytree(default_model_dir(), d)
    m = load_model(d)
    with torch.no_grad():
        m.cnn.head[-1].bias += 1.0
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, str(tmp_path / "w.safetensors"), metadata={"format": "pt"})
    save_model_files(m.config, tmp_path / "w.safetensors", d)  # keeps model.onnx (same-weights path)
    assert (d / ONNX_NAME).is_file()
    with pytest.raises(aiaudio.ModelLoadError, match="stale"):
        load_detector(d, backend="onnx")
    with pytest.warns(RuntimeWarning, match="stale"):
        det = load_detector(d)
    assert det.backend == "torch"


def test_save_model_drops_the_old_model_onnx(tmp_path: Path) -> None:
    from aiaudio.model import load_model, save_model

    d = tmp_path / "m"
    shutil.copytree(default_model_dir(), d)
    save_model(load_model(d), d)
    assert not (d / ONNX_NAME).exists() and (d / "MODEL_CARD.md").exists()


def test_the_torch_network_is_loaded_on_demand_and_changes_switch_to_it() -> None:
    """Instrumentation (hooks, training mode, edited weights) runs through torch, as before."""
    det = load_detector(backend="onnx")
    assert det._model is None  # not loaded until needed
    x = _signals(det.config.frontend)["noise"]
    base = det.segment_logits(x)
    model = det.model  # loads it
    assert det.backend == "onnx"
    with torch.no_grad():
        model.cnn.head[-1].bias += 1.0
    assert det.backend == "torch"
    assert np.abs(det.segment_logits(x) - (base + 1.0)).max() < 1e-4


def _blocked_python(code: str, *args: str) -> subprocess.CompletedProcess:
    """Run ``code`` where torch cannot be imported (as in a plain `pip install aiaudio`)."""
    return python_without(("torch",), code, *args)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """The README's example clips (scripts/make_examples.py) and a synthetic 40 s stereo file."""
    d = tmp_path_factory.mktemp("clips")
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "make_examples.py"), str(d)], cwd=REPO,
                       env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    write_audio(d / "synthetic.flac", music_like(40.0, 44100, 2, seed=5), 44100)
    return d


def test_without_torch_scores_equal_the_torch_path(clips: Path, tmp_path: Path) -> None:
    files = sorted(str(p) for p in clips.iterdir() if p.name not in ("short.wav", "not_audio.wav"))
    det = load_detector(backend="torch")
    want = {f: det.score(f).to_dict() for f in files}
    shutil.copytree(clips, tmp_path / "clips")
    r = _blocked_python(
        """
        import json, warnings
        warnings.simplefilter("error", RuntimeWarning)  # no stale-ONNX fallback
        import aiaudio
        from aiaudio.cli import main
        det = aiaudio.load_detector()
        out = {"backend": det.backend, "scores": {f: det.score(f).to_dict() for f in sys.argv[2:]}}
        out["one_call"] = aiaudio.score(sys.argv[2]).p_ai
        out["rc"] = main(["score", sys.argv[1] + "/clips", "-o", sys.argv[1] + "/s.csv", "--no-progress"])
        try:
            det.model
        except aiaudio.MissingDependencyError as e:
            out["needs_torch"] = str(e)
        out["tried"] = tried
        out["loaded"] = sorted(m for m in sys.modules if m.split(".")[0] == "torch")
        print(json.dumps(out))
        """,
        str(tmp_path), *files,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["backend"] == "onnx" and got["loaded"] == [] and got["rc"] in (0, 1)
    assert all(t == "torch" for t in got["tried"])  # only det.model tried, and it says what to install
    assert 'pip install "aiaudio[train]"' in got["needs_torch"]
    for f in files:
        a, b = got["scores"][f], want[f]
        assert abs(a["p_ai"] - b["p_ai"]) < 1e-4, f  # the score: within 1e-4 (the bound)
        # the raw song logit (before calibration): float32 FFT rounding near the spectra's floor
        # moves it a little more (0.2.0 on chords.wav: 1.7e-4)
        assert abs(a["logit"] - b["logit"]) < 5e-4, f
        assert len(a["segments"]) == len(b["segments"])
        assert max(abs(x["p_ai"] - y["p_ai"]) for x, y in zip(a["segments"], b["segments"])) < 1e-4, f
        # raw segment logits: float32 FFT rounding near the spectra's floor moves them a little more
        assert max(abs(x["logit"] - y["logit"]) for x, y in zip(a["segments"], b["segments"])) < 5e-4, f
        assert a["label"] == b["label"] and a["flags"] == b["flags"]
    assert abs(got["one_call"] - want[files[0]]["p_ai"]) < 1e-4
    rows = {Path(r["path"]).name: r for r in csv.DictReader((tmp_path / "s.csv").open(newline=""))}
    for f in files:
        assert abs(float(rows[Path(f).name]["p_ai"]) - want[f]["p_ai"]) < 1e-4
    assert rows["not_audio.wav"]["error"] and rows["short.wav"]["error"]


def test_onnx_backend_memory_stays_flat_on_a_long_file(tmp_path: Path) -> None:
    """Folder scoring with the ONNX backend: this process's memory does not grow with the file's length."""
    import tracemalloc

    import soundfile as sf

    from aiaudio.pipeline import score_files

    def noise_wav(path: Path, minutes: int, sr: int = 16000) -> Path:
        rng = np.random.default_rng(0)
        with sf.SoundFile(path, "w", samplerate=sr, channels=1, subtype="PCM_16") as f:
            for _ in range(minutes * 2):
                f.write((0.1 * rng.standard_normal(30 * sr)).astype(np.float32))
        return path

    det = load_detector(backend="onnx")
    peaks = []
    for minutes in (2, 20):
        p = noise_wav(tmp_path / f"{minutes}.wav", minutes)
        tracemalloc.start()
        try:
            (_, r), = list(score_files(det, [p], jobs=1, batch_size=8))
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
        assert isinstance(r, aiaudio.Score) and r.duration_s == pytest.approx(minutes * 60)
    assert det.backend == "onnx"
    assert peaks[1] < 1.25 * peaks[0] + 1e6, peaks
    assert peaks[1] < 20 * 60 * 16000 * 4 / 2, peaks  # well under the decoded file


def test_export_onnx_into_model_writes_a_usable_model_onnx(tmp_path: Path) -> None:
    pytest.importorskip("onnxscript")
    from aiaudio.cli import main

    d = tmp_path / "m"
    shutil.copytree(default_model_dir(), d)
    (d / ONNX_NAME).unlink()
    assert main(["export-onnx", "--model", str(d)]) == 2  # neither -o nor --into-model
    assert main(["export-onnx", "--model", str(d), "--into-model"]) == 0
    det = load_detector(d, backend="onnx")
    x = _signals(det.config.frontend)["noise"]
    assert np.abs(det.segment_logits(x) - load_detector(d, backend="torch").segment_logits(x)).max() < 1e-4


def test_the_shipped_onnx_file_carries_no_exporter_stack_traces():
    """The exporter's per-node debug records hold Python stack traces with the exporting
    machine's paths; export leaves them out (aiaudio.export._save_atomically)."""
    onnx = pytest.importorskip("onnx")
    from aiaudio.detector import default_model_dir

    m = onnx.load(str(default_model_dir() / "model.onnx"))
    keys = {p.key for node in m.graph.node for p in node.metadata_props}
    assert not [k for k in keys if k.startswith("pkg.torch.onnx.")]
