"""Model configuration: what a model folder's ``config.json`` says, read and checked without torch.

:class:`ModelConfig` (front end, architecture, calibration, threshold ...) and
:func:`load_config` need neither torch nor the weights, so a torch-free install
(the ONNX runtime path, :mod:`aiaudio.runtime`) reads models with them. The network
itself and saving/loading weights are in :mod:`aiaudio.model` (needs torch), which
re-exports every name here.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import _validate as _v
from .errors import ModelLoadError
from .frontend import FrontendConfig

__all__ = [
    "ArchConfig",
    "Calibration",
    "ModelConfig",
    "load_config",
    "CONFIG_NAME",
    "WEIGHTS_NAME",
    "ONNX_NAME",
    "FORMAT_VERSION",
    "weights_sha256",
]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
#: The CNN as an ONNX graph (spectrogram in, segment logits out), run by :mod:`aiaudio.runtime`
#: without torch; written by ``aiaudio export-onnx --into-model``.
ONNX_NAME = "model.onnx"
#: Version of the model directory layout; bumped on incompatible changes.
FORMAT_VERSION = 1


#: Allowed architecture sizes (inclusive); see :class:`ArchConfig`.
MAX_BLOCKS = 8
MAX_CHANNELS = 1024
MAX_HIDDEN = 4096
#: Deepest nesting of the free-form ``info`` object, and the largest ``config.json`` read.
MAX_INFO_DEPTH = 64
MAX_CONFIG_BYTES = 16 * 2**20


@dataclass(frozen=True)
class ArchConfig:
    """Architecture of :class:`SpecCNN`.

    Attributes
    ----------
    channels : tuple of int
        Output channels of each conv block (3x3 conv, batch norm, ReLU, 2x2 max-pool).
    hidden : int
        Width of the hidden layer of the head.
    dropout : float
        Dropout before the output layer (training only).

    Checked when made: 1 to 8 blocks of 1 to 1024 channels, ``hidden`` in [1, 4096],
    ``dropout`` in [0, 1) (a ``TypeError`` or ``ValueError`` naming the field).
    """

    channels: tuple[int, ...] = (16, 32, 64, 128)
    hidden: int = 64
    dropout: float = 0.2

    def __post_init__(self) -> None:
        ch = self.channels
        if isinstance(ch, (str, bytes)) or not isinstance(ch, (list, tuple)):
            raise TypeError(f"arch.channels must be a list of 1 to {MAX_BLOCKS} integers, got {ch!r:.60}")
        if not 1 <= len(ch) <= MAX_BLOCKS:
            raise ValueError(f"arch.channels must be a list of 1 to {MAX_BLOCKS} integers, got {len(ch)} of them")
        object.__setattr__(
            self, "channels", tuple(_v.integer(f"arch.channels[{i}]", c, 1, MAX_CHANNELS) for i, c in enumerate(ch))
        )
        object.__setattr__(self, "hidden", _v.integer("arch.hidden", self.hidden, 1, MAX_HIDDEN))
        object.__setattr__(self, "dropout", _v.real("arch.dropout", self.dropout, 0.0, 1.0, hi_open=True))


@dataclass(frozen=True)
class Calibration:
    """Platt scaling of the song logit: ``p = sigmoid(a * logit + b)``.

    ``a`` and ``b`` must be finite numbers (checked when made).
    """

    a: float = 1.0
    b: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "a", _v.real("calibration.a", self.a))
        object.__setattr__(self, "b", _v.real("calibration.b", self.b))

    def __call__(self, logit: float) -> float:
        z = self.a * logit + self.b
        if z >= 0:
            return 1.0 / (1.0 + math.exp(-z))
        e = math.exp(z)
        return e / (1.0 + e)


@dataclass
class ModelConfig:
    """Everything a model directory says about its model, besides the weights.

    Attributes
    ----------
    name, version : str
        Identify the model; ``version`` goes into every score.
    trained : bool
        ``False`` for a placeholder whose scores mean nothing; scoring then warns.
    frontend : FrontendConfig
    arch : ArchConfig
    calibration : Calibration
        Maps the song logit (mean of segment logits) to a probability.
    threshold : float
        ``p_ai`` at or above which a song is labelled ``ai``.
    uncertain_low, uncertain_high : float
        Songs with ``uncertain_low <= p_ai < uncertain_high`` are labelled ``uncertain``.
    aggregation : str
        How segment scores make a song score; only ``"mean_logit"`` (the mean of the
        segment logits, then calibration).
    info : dict
        Free-form provenance (training data, recipe, metrics files), kept as is
        (nested at most 64 levels deep).

    Every field is checked when the config is made: types, ranges, finite numbers,
    and that the front end leaves enough frequency bins for the conv blocks. A bad
    value raises ``TypeError`` or ``ValueError`` naming the field and its allowed range;
    :func:`load_config` turns that into :class:`~aiaudio.errors.ModelLoadError`.
    """

    name: str = "default"
    version: str = "0.0.0"
    trained: bool = False
    frontend: FrontendConfig = field(default_factory=FrontendConfig)
    arch: ArchConfig = field(default_factory=ArchConfig)
    calibration: Calibration = field(default_factory=Calibration)
    threshold: float = 0.5
    uncertain_low: float = 0.4
    uncertain_high: float = 0.6
    aggregation: str = "mean_logit"
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.name = _v.text("name", self.name)
        self.version = _v.text("version", self.version)
        self.trained = _v.flag("trained", self.trained)
        for name, cls in (("frontend", FrontendConfig), ("arch", ArchConfig), ("calibration", Calibration)):
            if not isinstance(getattr(self, name), cls):
                raise TypeError(f"{name} must be a {cls.__name__}, got {getattr(self, name)!r:.60}")
        for name in ("threshold", "uncertain_low", "uncertain_high"):
            setattr(self, name, _v.real(name, getattr(self, name), 0.0, 1.0))
        if not self.uncertain_low <= self.threshold <= self.uncertain_high:
            raise ValueError(
                "need 0 <= uncertain_low <= threshold <= uncertain_high <= 1, got "
                f"{self.uncertain_low}, {self.threshold}, {self.uncertain_high}"
            )
        if self.aggregation != "mean_logit":
            raise ValueError(f"unknown aggregation {self.aggregation!r:.60}; supported: 'mean_logit'")
        _v.section("info", self.info)
        _v.json_depth("info", self.info, MAX_INFO_DEPTH)
        n_bins, blocks = self.frontend.n_bins, len(self.arch.channels)
        if n_bins >> blocks < 1:
            raise ValueError(
                f"arch.channels has {blocks} pooling blocks, too many for the {n_bins} frequency bins "
                f"of the front end: each block halves them, so at most {n_bins.bit_length() - 1} blocks"
            )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["arch"]["channels"] = list(self.arch.channels)
        return {"format_version": FORMAT_VERSION, **d}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        """Build from the JSON object of a ``config.json``.

        Raises
        ------
        TypeError, ValueError
            For an unknown key, a wrong type or a value out of range, naming the field.
        """
        d = dict(_v.section("model config", d))
        fv = d.pop("format_version", None)
        if isinstance(fv, bool) or fv != FORMAT_VERSION:
            raise ValueError(f"model format_version {fv!r:.60} is not supported (this aiaudio reads {FORMAT_VERSION})")
        d["frontend"] = FrontendConfig.from_dict(d.get("frontend", {}))
        d["arch"] = _v.dataclass_from(ArchConfig, d.get("arch", {}), "arch", "arch")
        d["calibration"] = _v.dataclass_from(Calibration, d.get("calibration", {}), "calibration", "calibration")
        return _v.dataclass_from(cls, d, "model config", "model config")


def load_config(directory: str | Path) -> ModelConfig:
    """Read and validate a model directory's ``config.json``.

    Raises
    ------
    ModelLoadError
        When the file is missing, unreadable, larger than 16 MiB, not JSON, not a JSON
        object, nested too deeply, or any value is of the wrong type or out of range
        (the message names the field and its allowed range).
    """
    d = Path(directory)
    cfg_path = d / CONFIG_NAME
    if not cfg_path.is_file():
        raise ModelLoadError(
            f"{d}: no {CONFIG_NAME} here. A model directory holds {CONFIG_NAME} and {WEIGHTS_NAME}; "
            "pass the directory `aiaudio train --out` wrote, or omit the path for the default model."
        )
    try:
        with open(cfg_path, "rb") as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as e:
        raise ModelLoadError(f"{cfg_path}: cannot be read ({e.strerror or e}). Check its permissions.") from e
    if len(data) > MAX_CONFIG_BYTES:
        raise ModelLoadError(f"{cfg_path}: larger than {MAX_CONFIG_BYTES // 2**20} MiB, not a model config.")
    try:
        raw = json.loads(data.decode("utf-8"))
    except RecursionError:
        raise ModelLoadError(f"{cfg_path}: invalid model config (JSON nested too deeply).") from None
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as e:
        raise ModelLoadError(f"{cfg_path}: invalid model config (not JSON: {e}). Restore the file or retrain.") from e
    if not isinstance(raw, dict):
        raise ModelLoadError(f"{cfg_path}: invalid model config (a JSON object {{...}} is needed, got {type(raw).__name__}).")
    try:
        return ModelConfig.from_dict(raw)
    except (ValueError, TypeError) as e:
        raise ModelLoadError(f"{cfg_path}: invalid model config ({e}).") from e


def weights_sha256(path: str | Path) -> str:
    """SHA-256 (hex) of a weights file: ties a ``model.onnx`` to the ``model.safetensors`` it was exported from."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
