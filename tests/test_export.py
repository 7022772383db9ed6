"""ONNX export (`aiaudio export-onnx`): parity with the torch detector, metadata, CLI.

Needs the optional extra (``pip install "aiaudio[onnx]"``); skipped without it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxscript")
ort = pytest.importorskip("onnxruntime")

import aiaudio  # noqa: E402
from aiaudio.cli import main  # noqa: E402
from aiaudio.errors import MissingDependencyError  # noqa: E402
from aiaudio.export import (  # noqa: E402
    INPUT_NAME,
    METADATA_CONFIG,
    METADATA_MODEL,
    METADATA_USAGE,
    OUTPUT_NAME,
    export_onnx,
)
from aiaudio.model import ModelConfig  # noqa: E402

from conftest import music_like  # noqa: E402

#: Largest |ONNX logit - torch logit| allowed. Measured with the default model, onnxruntime
#: 1.31 vs torch 2.13 on x86-64: 1.4e-6 at batch 1, 1.1e-5 at batch 5, 1.4e-5 at worst over 100
#: more segments (float32 rounding in the STFT and the log; the logits are O(1)). 7x margin
#: for other CPUs and versions.
PARITY_TOL = 1e-4


@pytest.fixture(scope="module")
def onnx_path(detector: aiaudio.Detector, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped default model exported once for the whole module."""
    return export_onnx(detector, path=tmp_path_factory.mktemp("onnx") / "aiaudio.onnx")


@pytest.fixture(scope="module")
def session(onnx_path: Path) -> "ort.InferenceSession":
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])


def _segments(det: aiaudio.Detector, n: int, seed: int) -> np.ndarray:
    """``n`` deterministic music-like segments at the model rate, at gains from -26 to 0 dB."""
    fe = det.config.frontend
    gains = np.geomspace(0.05, 1.0, n) if n > 1 else np.ones(1)
    rows = [g * music_like(fe.segment_s, fe.sample_rate, 1, seed=seed + i).reshape(-1) for i, g in enumerate(gains)]
    return np.stack(rows).astype(np.float32)


@pytest.mark.parametrize("batch", [1, 5])
def test_onnx_logits_match_the_detector(detector: aiaudio.Detector, session, batch: int) -> None:
    x = _segments(detector, batch, seed=10 * batch)
    (got,) = session.run([OUTPUT_NAME], {INPUT_NAME: x})
    want = detector.segment_logits(x)
    assert got.shape == (batch,) and got.dtype == np.float32
    assert np.abs(got - want).max() < PARITY_TOL


def test_graph_signature(detector: aiaudio.Detector, session) -> None:
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert inp.name == INPUT_NAME and inp.type == "tensor(float)"
    assert isinstance(inp.shape[0], str) and inp.shape[1] == detector.config.frontend.segment_samples
    assert out.name == OUTPUT_NAME and len(out.shape) == 1


def test_metadata_describes_the_model(detector: aiaudio.Detector, session, onnx_path: Path) -> None:
    meta = session.get_modelmeta().custom_metadata_map
    cfg = ModelConfig.from_dict(json.loads(meta[METADATA_CONFIG]))
    assert cfg.to_dict() == detector.config.to_dict()
    assert meta[METADATA_MODEL] == detector.version
    usage = meta[METADATA_USAGE]
    for needed in ("mean", "sigmoid", repr(cfg.calibration.a), repr(cfg.calibration.b), repr(cfg.threshold),
                   str(cfg.frontend.sample_rate), str(cfg.frontend.segment_samples)):
        assert needed in usage, needed
    assert [p.name for p in onnx_path.parent.iterdir()] == [onnx_path.name]  # no temporary or external-data file


def test_cli_writes_a_runnable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import onnx

    out = tmp_path / "sub" / "m.onnx"
    assert main(["export-onnx", "-o", str(out), "--opset", "21"]) == 0
    assert f"wrote {out}" in capsys.readouterr().err
    assert {o.domain: o.version for o in onnx.load(str(out)).opset_import}[""] == 21
    ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])


def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "m.onnx"
    assert main(["export-onnx", "-o", str(out), "--opset", "17"]) == 2
    assert "opset 17" in capsys.readouterr().err
    assert main(["export-onnx", "-o", str(out), "--model", str(tmp_path / "no-model")]) == 1
    assert not out.exists()


def test_missing_exporter_says_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("aiaudio.export._EXPORT_PACKAGES", ("onnx", "aiaudio_no_such_package"))
    with pytest.raises(MissingDependencyError, match=r'pip install "aiaudio\[onnx\]"'):
        export_onnx(path=tmp_path / "m.onnx")
