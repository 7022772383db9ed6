"""Inference backends: waveform segments at the model rate -> segment logits.

A :class:`~aiaudio.detector.Detector` computes segment logits with one of two backends,
the same numbers within 1e-4 (tested on the shipped model):

``"onnx"`` (:class:`OnnxBackend`)
    The front end in numpy (:func:`aiaudio.frontend.spectrogram`, pocketfft) and the CNN
    in onnxruntime, from the model folder's ``model.onnx``. Needs neither torch nor the
    ``model.safetensors`` weights at run time: what ``pip install aiaudio`` scores with.
``"torch"`` (:class:`TorchBackend`)
    The PyTorch network from ``model.safetensors`` (a CPU-tuned copy, see
    :mod:`aiaudio._torch_inference`). Needs torch (``pip install "aiaudio[train]"``); also
    what training, saliency maps and any model without a ``model.onnx`` use.

:func:`backend_name` resolves the choice: the ``backend=`` argument of
:func:`~aiaudio.detector.load_detector`, else ``$AIAUDIO_BACKEND``, else ``"auto"``:
ONNX when the folder holds a ``model.onnx`` exported from its current weights and
onnxruntime is installed, else torch. This module imports neither torch nor onnxruntime
until a backend is built.

A ``model.onnx`` records the SHA-256 of the ``model.safetensors`` it was exported from
(metadata :data:`METADATA_WEIGHTS`); a file exported from other weights is stale and
refused (``"auto"`` then uses torch when it can), so retrained weights never run with an
old graph.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from .errors import MissingDependencyError, ModelLoadError
from .frontend import hann_window, spectrogram
from .modelconfig import ONNX_NAME, WEIGHTS_NAME, ModelConfig, weights_sha256

if TYPE_CHECKING:  # pragma: no cover
    from .model import AIMusicNet

__all__ = [
    "BACKENDS",
    "ENV_BACKEND",
    "CNN_INPUT_NAME",
    "OUTPUT_NAME",
    "METADATA_WEIGHTS",
    "METADATA_GRAPH",
    "OnnxBackend",
    "TorchBackend",
    "backend_name",
    "onnx_problem",
]

#: The backends :func:`backend_name` accepts.
BACKENDS = ("auto", "onnx", "torch")
#: Environment variable that picks the backend when ``backend=`` is not given.
ENV_BACKEND = "AIAUDIO_BACKEND"
#: Input of the CNN graph in ``model.onnx``: ``float32 (batch, 1, n_bins, n_frames)`` spectrograms.
CNN_INPUT_NAME = "spectrogram"
#: Output of the graph: ``float32 (batch,)`` segment logits.
OUTPUT_NAME = "logits"
#: ``metadata_props`` key: SHA-256 of the ``model.safetensors`` the graph was exported from.
METADATA_WEIGHTS = "aiaudio_weights_sha256"
#: ``metadata_props`` key: ``"cnn"`` for a CNN-only graph (``model.onnx``), ``"full"`` for the
#: waveform-in graph of :func:`aiaudio.export.export_onnx`.
METADATA_GRAPH = "aiaudio_graph"
#: ``metadata_props`` key holding the exporting model's ``config.json`` (as in :mod:`aiaudio.export`).
METADATA_CONFIG = "aiaudio_config"

_INSTALL_TORCH = 'pip install "aiaudio[train]"'


def backend_name(backend: str | None) -> str:
    """The backend asked for: ``backend``, else ``$AIAUDIO_BACKEND``, else ``"auto"``.

    Raises
    ------
    ValueError
        For a name not in :data:`BACKENDS`.
    """
    name = backend if backend is not None else (os.environ.get(ENV_BACKEND) or "auto")
    if not isinstance(name, str) or name.strip().lower() not in BACKENDS:
        where = f"${ENV_BACKEND}" if backend is None else "backend"
        raise ValueError(f"{where}={name!r} is not a backend; use one of {', '.join(BACKENDS)}")
    return name.strip().lower()


def onnx_problem(model_dir: Path) -> str | None:
    """Why the folder's ``model.onnx`` cannot be used without opening it (``None``: it looks usable).

    Checks that the file exists and that onnxruntime is installed; the weights check
    needs the file's metadata and happens when :class:`OnnxBackend` opens it.
    """
    if not (Path(model_dir) / ONNX_NAME).is_file():
        return (
            f"{model_dir}: no {ONNX_NAME} in the model folder; write it with "
            f"`aiaudio export-onnx --model {model_dir} --into-model` (needs torch)"
        )
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return "onnxruntime is not installed: pip install onnxruntime"
    return None


class OnnxBackend:
    """Numpy front end + the CNN of ``model.onnx`` in onnxruntime.

    Parameters
    ----------
    model_dir : Path
        The model folder (``config.json`` and ``model.onnx``; ``model.safetensors``, when
        present, must be the weights the graph was exported from).
    config : ModelConfig
        The folder's config.

    Raises
    ------
    ModelLoadError
        No ``model.onnx``, not a valid ONNX file, a graph whose input does not fit the
        config's front end, or one exported from other weights than ``model.safetensors``.
    MissingDependencyError
        onnxruntime is not installed.
    """

    name = "onnx"

    def __init__(self, model_dir: str | os.PathLike[str], config: ModelConfig):
        self.model_dir = Path(model_dir)
        self.config = config
        path = self.model_dir / ONNX_NAME
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise MissingDependencyError(
                "the ONNX backend needs onnxruntime, which is not installed: pip install onnxruntime"
            ) from e
        self._ort = ort
        try:
            self._bytes = path.read_bytes()
        except OSError as e:
            raise ModelLoadError(
                f"{path}: cannot be read ({e.strerror or e}); write it with "
                f"`aiaudio export-onnx --model {self.model_dir} --into-model`"
            ) from e
        self._sessions: dict[int, Any] = {}
        self._threads = 0  # 0: onnxruntime's default (one per physical core)
        sess = self._session()
        meta = sess.get_modelmeta().custom_metadata_map
        self._check(path, sess, meta)
        self._window = hann_window(config.frontend.n_fft)

    def _check(self, path: Path, sess: Any, meta: dict[str, str]) -> None:
        fe = self.config.frontend
        inputs = sess.get_inputs()
        shape = list(inputs[0].shape) if inputs else []
        if meta.get(METADATA_GRAPH) != "cnn" or len(inputs) != 1 or inputs[0].name != CNN_INPUT_NAME:
            raise ModelLoadError(
                f"{path}: not an aiaudio CNN graph (input {CNN_INPUT_NAME!r}, metadata {METADATA_GRAPH}='cnn'); "
                f"write it with `aiaudio export-onnx --model {self.model_dir} --into-model`"
            )
        if len(shape) != 4 or shape[1:] != [1, fe.n_bins, fe.n_frames]:
            raise ModelLoadError(
                f"{path}: its input is {shape}, the config's front end gives (batch, 1, {fe.n_bins}, {fe.n_frames}); "
                f"the graph is from another model: re-export it with `aiaudio export-onnx --model {self.model_dir} --into-model`"
            )
        try:
            exported = json.loads(meta.get(METADATA_CONFIG, "{}"))
        except ValueError:
            exported = {}
        mine = self.config.to_dict()
        if any(exported.get(k) != mine[k] for k in ("frontend", "arch")):
            raise ModelLoadError(
                f"{path}: its front end or architecture do not match {self.model_dir / 'config.json'} (exported from "
                f"another model); re-export it with `aiaudio export-onnx --model {self.model_dir} --into-model`"
            )
        weights = self.model_dir / WEIGHTS_NAME
        want = meta.get(METADATA_WEIGHTS)
        if weights.is_file() and want != weights_sha256(weights):
            raise ModelLoadError(
                f"{path}: exported from other weights than {weights.name} (stale after retraining); "
                f"re-export it with `aiaudio export-onnx --model {self.model_dir} --into-model`"
            )

    def _session(self) -> Any:
        n = self._threads
        sess = self._sessions.get(n)
        if sess is None:
            so = self._ort.SessionOptions()
            so.intra_op_num_threads = n
            so.inter_op_num_threads = 1
            # idle threads sleep instead of spinning: decode workers share the cores
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
            so.log_severity_level = 3
            try:
                sess = self._ort.InferenceSession(self._bytes, sess_options=so, providers=["CPUExecutionProvider"])
            except Exception as e:  # onnxruntime raises its own exception types
                raise ModelLoadError(
                    f"{self.model_dir / ONNX_NAME}: not a valid ONNX model ({str(e)[:300]}); re-export it with "
                    f"`aiaudio export-onnx --model {self.model_dir} --into-model`"
                ) from e
            self._sessions[n] = sess
        return sess

    @contextlib.contextmanager
    def threads(self, n: int) -> Iterator[None]:
        """Run the CNN with ``n`` intra-op threads inside the block (one session per count, kept)."""
        prev = self._threads
        self._threads = max(1, int(n))
        try:
            yield
        finally:
            self._threads = prev

    def spectrogram(self, segments: np.ndarray) -> np.ndarray:
        """The front end's output, ``float32 (batch, 1, n_bins, n_frames)``."""
        return spectrogram(segments, self.config.frontend, window=self._window)

    def segment_logits(self, segments: np.ndarray, batch_size: int) -> np.ndarray:
        """``float64`` logits of ``(n, segment_samples)`` segments, ``batch_size`` per CNN call."""
        x = np.ascontiguousarray(segments, dtype=np.float32)
        sess = self._session()
        out = [
            sess.run([OUTPUT_NAME], {CNN_INPUT_NAME: self.spectrogram(x[i : i + batch_size])})[0].astype(np.float64)
            for i in range(0, x.shape[0], batch_size)
        ]
        return np.concatenate(out).reshape(-1) if out else np.zeros(0)

    def preload(self) -> None:
        """Import what computing logits needs (``scipy.fft`` where it is installed, about 0.1 s)
        now, so that worker processes forked afterwards share it instead of each importing it again."""
        from .frontend import fft_backend

        if fft_backend() == "scipy":
            import scipy.fft  # noqa: F401

    def copy(self) -> "OnnxBackend":
        """The same model with no onnxruntime session yet (one for a worker process to own)."""
        new = object.__new__(type(self))
        new.__setstate__(self.__getstate__())
        return new

    def __getstate__(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["_sessions"] = {}
        d.pop("_ort")
        return d

    def __setstate__(self, d: dict[str, Any]) -> None:
        import onnxruntime as ort

        self.__dict__.update(d, _ort=ort)


class TorchBackend:
    """The PyTorch network (a CPU-tuned copy of it, rebuilt when its weights change).

    Parameters
    ----------
    model : AIMusicNet
    """

    name = "torch"

    def __init__(self, model: "AIMusicNet"):
        from . import _torch_inference

        self._ti = _torch_inference
        self.model = model
        self.config = model.config
        self._fast: Any = None
        self._fast_key: tuple | None = None

    def inference_net(self) -> Any:
        """The module computing the logits: the tuned copy, or the model itself while it trains or has hooks."""
        m = self.model
        if m.training or self._ti.has_hooks(m):
            return m
        key = self._ti.weights_key(m)
        if self._fast is None or self._fast_key != key:
            self._fast = self._ti.InferenceNet(m)
            self._fast_key = key
        return self._fast

    def threads(self, n: int) -> contextlib.AbstractContextManager:
        return self._ti.TorchThreads(n)

    def segment_logits(self, segments: np.ndarray, batch_size: int) -> np.ndarray:
        return self._ti.segment_logits(self.inference_net(), segments, batch_size)

    def __getstate__(self) -> dict[str, Any]:
        d = dict(self.__dict__, _fast=None, _fast_key=None)
        d.pop("_ti")
        return d

    def __setstate__(self, d: dict[str, Any]) -> None:
        from . import _torch_inference

        self.__dict__.update(d, _ti=_torch_inference)


def load_torch_model(model_dir: Path) -> "AIMusicNet":
    """The folder's torch network (:func:`aiaudio.model.load_model`), or a typed error when torch is missing."""
    try:
        import torch
    except ImportError as e:
        raise MissingDependencyError(
            f"this needs PyTorch, which is not installed (scoring runs without it from the model's {ONNX_NAME}; "
            f"training, saliency maps and models without {ONNX_NAME} need it): {_INSTALL_TORCH}"
        ) from e
    from .model import load_model

    with torch.inference_mode(False):  # first use may come inside an inference_mode block: real tensors
        return load_model(model_dir)
