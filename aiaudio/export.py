"""Export a model to ONNX: waveform segments in, segment logits out.

The exported graph is the whole :class:`~aiaudio.model.AIMusicNet`, STFT front end
included, so another program needs only an ONNX runtime (and a resampler) to run it:

>>> from aiaudio.export import export_onnx
>>> export_onnx(path="aiaudio.onnx")                  # doctest: +SKIP

Graph
    Input ``segments``: ``float32``, shape ``(batch, segment_samples)``, mono waveform
    segments at the model's sample rate (any batch size). Output ``logits``: ``float32``,
    shape ``(batch,)``, one raw logit per segment.
Metadata
    The file describes itself in its ``metadata_props``: :data:`METADATA_CONFIG` holds
    the model's ``config.json`` (front end, calibration, threshold, uncertain band,
    provenance) and :data:`METADATA_USAGE` says how to turn segment logits into a song
    probability and label, as :class:`~aiaudio.detector.Detector` does.

The CNN alone
    :func:`export_model_onnx` writes a model folder's ``model.onnx``: the CNN only
    (input ``spectrogram`` ``float32 (batch, 1, n_bins, n_frames)``, the front end's output;
    output ``logits``), tied to the folder's ``model.safetensors`` by its SHA-256. It is
    what the torch-free scorer runs (:mod:`aiaudio.runtime`: the front end in numpy,
    the CNN in onnxruntime). ``aiaudio export-onnx --model DIR --into-model`` writes it.

Exporting needs the optional extra: ``pip install "aiaudio[onnx]"`` (``onnx``,
``onnxscript`` and torch; ``onnxruntime`` to run the file).
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import json
import logging
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import torch

from ._version import __version__
from .errors import MissingDependencyError
from .model import AIMusicNet, ModelConfig
from .modelconfig import ONNX_NAME, WEIGHTS_NAME, weights_sha256
from .runtime import CNN_INPUT_NAME, METADATA_GRAPH, METADATA_WEIGHTS

if TYPE_CHECKING:
    from .detector import Detector

__all__ = [
    "INPUT_NAME",
    "OUTPUT_NAME",
    "METADATA_CONFIG",
    "METADATA_USAGE",
    "METADATA_MODEL",
    "METADATA_EXPORTER",
    "MIN_OPSET",
    "export_onnx",
    "export_model_onnx",
    "onnx_metadata",
    "usage_note",
]

#: Name of the graph input: ``float32 (batch, segment_samples)`` waveform segments.
INPUT_NAME = "segments"
#: Name of the graph output: ``float32 (batch,)`` segment logits.
OUTPUT_NAME = "logits"
#: ``metadata_props`` key holding the model's ``config.json`` (JSON text).
METADATA_CONFIG = "aiaudio_config"
#: ``metadata_props`` key holding the plain-text recipe from segment logits to a verdict.
METADATA_USAGE = "aiaudio_usage"
#: ``metadata_props`` key holding ``name@version`` of the model.
METADATA_MODEL = "aiaudio_model"
#: ``metadata_props`` key holding the aiaudio version that wrote the file.
METADATA_EXPORTER = "aiaudio_exporter"

#: Oldest opset the exporter writes (older ones need a version conversion that fails on the STFT).
MIN_OPSET = 18

_EXPORT_PACKAGES = ("onnx", "onnxscript")


def export_onnx(
    model: AIMusicNet | Detector | str | os.PathLike[str] | None = None,
    *,
    path: str | os.PathLike[str],
    opset: int | None = None,
) -> Path:
    """Write a model as one self-contained ONNX file: waveform segments -> segment logits.

    Parameters
    ----------
    model : AIMusicNet, Detector, path or None
        The network, a detector (its :attr:`~aiaudio.detector.Detector.model`), a model
        directory, or ``None`` for the default model
        (:func:`~aiaudio.detector.default_model_dir`). It is exported in eval mode and
        left unchanged.
    path : path
        The ``.onnx`` file to write (its folder is created). Written to a temporary name
        and renamed, so a failed export never leaves a half-written file.
    opset : int, optional
        ONNX opset of the graph, from 18 (the exporter's oldest) to the newest the
        installed ``onnx`` knows; default: the exporter's choice.

    Returns
    -------
    Path
        ``path``. Its graph maps input :data:`INPUT_NAME`, ``float32`` of shape
        ``(batch, segment_samples)`` (mono samples at ``config.frontend.sample_rate`` Hz,
        any batch size), to output :data:`OUTPUT_NAME`, ``float32`` of shape ``(batch,)``;
        the weights are inside the file; ``metadata_props`` hold the model's config and
        how to score a song (:func:`onnx_metadata`).

    Raises
    ------
    MissingDependencyError
        When ``onnx`` or ``onnxscript`` is not installed (``pip install "aiaudio[onnx]"``).
    ValueError
        When ``opset`` is outside the range above.
    ModelLoadError
        When ``model`` is a directory that holds no valid model.
    TypeError
        When ``model`` is none of the above.
    OSError
        When ``path`` cannot be written.
    """
    _require(_EXPORT_PACKAGES, "exporting to ONNX")
    _check_opset(opset)
    net = _as_model(model)
    program = _export_program(net, opset)
    program.model.metadata_props.update(onnx_metadata(net.config))
    program.model.metadata_props[METADATA_GRAPH] = "full"
    program.model.doc_string = usage_note(net.config)
    out = Path(path)
    _save_atomically(program, out)
    return out


def export_model_onnx(model: str | os.PathLike[str] | None = None, *, opset: int | None = None) -> Path:
    """Write a model folder's ``model.onnx``: its CNN, for the torch-free scorer.

    Parameters
    ----------
    model : path or None
        The model directory (``config.json`` + ``model.safetensors``); ``None`` for the
        default model (:func:`~aiaudio.detector.default_model_dir`).
    opset : int, optional
        As for :func:`export_onnx`.

    Returns
    -------
    Path
        ``DIR/model.onnx``. Its graph maps ``spectrogram``, ``float32 (batch, 1, n_bins,
        n_frames)`` (:func:`aiaudio.frontend.spectrogram` of the segments), to ``logits``,
        ``float32 (batch,)``; ``metadata_props`` hold what :func:`onnx_metadata` lists,
        ``aiaudio_graph = "cnn"`` and ``aiaudio_weights_sha256``, the SHA-256 of the
        folder's ``model.safetensors`` (a graph of other weights is refused as stale).

    Raises
    ------
    MissingDependencyError, ValueError, ModelLoadError, OSError
        As for :func:`export_onnx`.
    """
    from .detector import default_model_dir, load_detector

    _require(_EXPORT_PACKAGES, "exporting to ONNX")
    _check_opset(opset)
    d = Path(model) if model is not None else default_model_dir()
    net = copy.deepcopy(load_detector(d, backend="torch").model).eval()
    fe = net.config.frontend
    example = torch.zeros(2, 1, fe.n_bins, fe.n_frames)  # 2, not 1: 1 would be specialised
    with _quiet_exporter():
        program = torch.onnx.export(
            net.cnn,
            (example,),
            dynamo=True,
            verbose=False,
            input_names=[CNN_INPUT_NAME],
            output_names=[OUTPUT_NAME],
            opset_version=opset,
            dynamic_shapes=({0: torch.export.Dim("batch")},),
        )
    assert program is not None
    program.model.metadata_props.update(onnx_metadata(net.config))
    program.model.metadata_props[METADATA_GRAPH] = "cnn"
    program.model.metadata_props[METADATA_WEIGHTS] = weights_sha256(d / WEIGHTS_NAME)
    program.model.doc_string = (
        f"aiaudio model {net.config.name}@{net.config.version}: the CNN only. Input '{CNN_INPUT_NAME}': float32 "
        f"(batch, 1, {fe.n_bins}, {fe.n_frames}), the front end's output (aiaudio.frontend.spectrogram); "
        f"output '{OUTPUT_NAME}': float32 (batch,) segment logits."
    )
    out = d / ONNX_NAME
    _save_atomically(program, out)
    return out


def onnx_metadata(config: ModelConfig) -> dict[str, str]:
    """The ``metadata_props`` an exported file carries (all values are strings).

    Parameters
    ----------
    config : ModelConfig

    Returns
    -------
    dict of str to str
        :data:`METADATA_CONFIG`: ``config.to_dict()`` as JSON (read it back with
        ``ModelConfig.from_dict(json.loads(...))``); :data:`METADATA_USAGE`:
        :func:`usage_note`; :data:`METADATA_MODEL`: ``name@version``;
        :data:`METADATA_EXPORTER`: the aiaudio version that exported it.
    """
    return {
        METADATA_CONFIG: json.dumps(config.to_dict()),
        METADATA_USAGE: usage_note(config),
        METADATA_MODEL: f"{config.name}@{config.version}",
        METADATA_EXPORTER: f"aiaudio {__version__}",
    }


def usage_note(config: ModelConfig) -> str:
    """Plain-text recipe from audio to a song verdict with the exported graph.

    Parameters
    ----------
    config : ModelConfig

    Returns
    -------
    str
        Input preparation (sample rate in Hz, segment length and hop in samples and
        seconds), the song logit (mean of segment logits), the calibration
        ``sigmoid(a * logit + b)`` with this model's ``a`` and ``b``, and the label rule
        (threshold and uncertain band).
    """
    fe, cal = config.frontend, config.calibration
    trained = "" if config.trained else " WARNING: an UNTRAINED placeholder model; its scores mean nothing."
    return (
        f"aiaudio model {config.name}@{config.version}.{trained} "
        f"Input '{INPUT_NAME}': float32 (batch, {fe.segment_samples}) = mono segments of "
        f"{fe.segment_s:g} s at {fe.sample_rate} Hz (average the channels, resample to "
        f"{fe.sample_rate} Hz, cut segments every {fe.segment_hop_samples} samples "
        f"({fe.segment_hop_s:g} s) plus one ending at the last sample; a clip of at least "
        f"{fe.min_duration_s:g} s but shorter than a segment is repeated to fill one). "
        f"Output '{OUTPUT_NAME}': float32 (batch,) segment logits. "
        f"Song: logit = mean of its segment logits; p_ai = sigmoid(a * logit + b) with "
        f"a = {cal.a!r}, b = {cal.b!r}; label = 'uncertain' if {config.uncertain_low!r} <= p_ai "
        f"< {config.uncertain_high!r}, else 'ai' if p_ai >= {config.threshold!r}, else 'human'. "
        f"The full config is JSON under '{METADATA_CONFIG}'."
    )


# --------------------------------------------------------------------------- helpers


def _require(packages: tuple[str, ...], what: str) -> None:
    missing = [p for p in packages if importlib.util.find_spec(p) is None]
    if missing:
        raise MissingDependencyError(
            f"{what} needs the package(s) {', '.join(missing)}, which are not installed: "
            'pip install "aiaudio[onnx]"'
        )


def _check_opset(opset: int | None) -> None:
    if opset is None:
        return
    import onnx

    newest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= opset <= newest:
        raise ValueError(
            f"opset {opset} is not supported: give an opset from {MIN_OPSET} to {newest} "
            "(the newest this onnx knows), or leave it out for the exporter's default"
        )


def _as_model(model: AIMusicNet | Detector | str | os.PathLike[str] | None) -> AIMusicNet:
    """The network to export, as an eval-mode copy (the caller's module is not touched)."""
    if model is None or isinstance(model, (str, os.PathLike)):
        from .detector import load_detector

        model = load_detector(model)
    net = getattr(model, "model", model)  # a Detector holds its network in .model
    if not isinstance(net, AIMusicNet):
        raise TypeError(f"model must be an AIMusicNet, a Detector, a model directory or None, not {type(model).__name__}")
    return copy.deepcopy(net).eval()


def _export_program(net: AIMusicNet, opset: int | None) -> "torch.onnx.ONNXProgram":
    """Trace ``net`` with the dynamo exporter, batch axis dynamic, without its console chatter."""
    example = torch.zeros(2, net.config.frontend.segment_samples)  # 2, not 1: 1 would be specialised
    with _quiet_exporter():
        program = torch.onnx.export(
            net,
            (example,),
            dynamo=True,
            verbose=False,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            opset_version=opset,
            dynamic_shapes=({0: torch.export.Dim("batch")},),
        )
    assert program is not None  # dynamo=True always returns the program
    return program


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Hide the exporter's log lines and deprecation warnings (errors still raise)."""
    logs = [logging.getLogger(name) for name in ("torch.onnx", "onnxscript")]
    levels = [log.level for log in logs]
    for log in logs:
        log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        for log, level in zip(logs, levels):
            log.setLevel(level)


def _save_atomically(program: "torch.onnx.ONNXProgram", path: Path) -> None:
    """Save with the weights inside the file, under a temporary name, then rename.

    The exporter's per-node debug records (Python stack traces with the exporting machine's
    file paths) are left out: the file describes the model, not where it was made."""
    for node in program.model.graph:
        for key in [k for k in node.metadata_props if k.startswith("pkg.torch.onnx.")]:
            del node.metadata_props[key]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        program.save(tmp, external_data=False)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
