"""The small CNN, its configuration, and safe save/load (safetensors + JSON).

A model directory holds two files:

``config.json``
    Front end, architecture, calibration, threshold, version and provenance.
``model.safetensors``
    The weights. Loading never unpickles, so a model file cannot run code.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import ModelLoadError
from .frontend import Frontend, FrontendConfig

__all__ = [
    "ArchConfig",
    "Calibration",
    "ModelConfig",
    "SpecCNN",
    "AIMusicNet",
    "save_model",
    "load_model",
    "CONFIG_NAME",
    "WEIGHTS_NAME",
    "FORMAT_VERSION",
]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
#: Version of the model directory layout; bumped on incompatible changes.
FORMAT_VERSION = 1


def _from_dict(cls, d: dict, what: str):
    known = {f.name for f in fields(cls)}
    unknown = set(d) - known
    if unknown:
        raise ValueError(f"unknown {what} settings {sorted(unknown)}; known: {sorted(known)}")
    return cls(**d)


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
    """

    channels: tuple[int, ...] = (16, 32, 64, 128)
    hidden: int = 64
    dropout: float = 0.2

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))


@dataclass(frozen=True)
class Calibration:
    """Platt scaling of the song logit: ``p = sigmoid(a * logit + b)``."""

    a: float = 1.0
    b: float = 0.0

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
        Free-form provenance (training data, recipe, metrics files), kept as is.
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
        if not 0.0 <= self.uncertain_low <= self.threshold <= self.uncertain_high <= 1.0:
            raise ValueError(
                "need 0 <= uncertain_low <= threshold <= uncertain_high <= 1, got "
                f"{self.uncertain_low}, {self.threshold}, {self.uncertain_high}"
            )
        if self.aggregation != "mean_logit":
            raise ValueError(f"unknown aggregation {self.aggregation!r}; supported: 'mean_logit'")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["arch"]["channels"] = list(self.arch.channels)
        return {"format_version": FORMAT_VERSION, **d}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        d = dict(d)
        fv = d.pop("format_version", None)
        if fv != FORMAT_VERSION:
            raise ValueError(f"model format_version {fv!r} is not supported (this aiaudio reads {FORMAT_VERSION})")
        d["frontend"] = FrontendConfig.from_dict(d.get("frontend", {}))
        d["arch"] = _from_dict(ArchConfig, d.get("arch", {}), "arch")
        d["calibration"] = _from_dict(Calibration, d.get("calibration", {}), "calibration")
        return _from_dict(cls, d, "model config")


class SpecCNN(nn.Module):
    """Small CNN over a ``(batch, 1, bins, frames)`` spectrogram -> one logit per item.

    Conv blocks shrink both axes; the features are then averaged over time only,
    so the head still knows *which frequencies* carry evidence (the peaks left by
    neural upsamplers sit at fixed frequencies), and a two-layer head gives the logit.
    """

    def __init__(self, arch: ArchConfig, n_bins: int, n_frames: int):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        f, t = n_bins, n_frames
        for c in arch.channels:
            pool = (2, 2 if t >= 2 else 1)  # time is pooled while at least 2 columns remain
            layers += [
                nn.Conv2d(c_in, c, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(c),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(pool),
            ]
            c_in = c
            f //= 2
            t //= pool[1]
        if f < 1:
            raise ValueError(f"{len(arch.channels)} pooling blocks are too many for {n_bins} frequency bins")
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c_in * f, arch.hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(arch.dropout),
            nn.Linear(arch.hidden, 1),
        )

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        h = self.features(spec)
        h = h.mean(dim=3)  # average over time, keep frequency
        return self.head(h).squeeze(1)


class AIMusicNet(nn.Module):
    """Waveform segments ``(batch, samples)`` at the model rate -> segment logits ``(batch,)``.

    The front end and the CNN in one module: training and inference run the same code.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.frontend = Frontend(config.frontend)
        self.cnn = SpecCNN(config.arch, config.frontend.n_bins, config.frontend.n_frames)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cnn(self.frontend(x))

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def save_model(model: AIMusicNet, directory: str | Path) -> Path:
    """Write ``config.json`` and ``model.safetensors`` into ``directory`` (created if needed).

    Files are written to temporary names and renamed, so a crash never leaves a
    half-written model behind.
    """
    from safetensors.torch import save_file

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp_w = d / (WEIGHTS_NAME + ".tmp")
    save_file(state, str(tmp_w), metadata={"format": "pt", "aiaudio_format_version": str(FORMAT_VERSION)})
    tmp_c = d / (CONFIG_NAME + ".tmp")
    tmp_c.write_text(json.dumps(model.config.to_dict(), indent=2) + "\n")
    tmp_w.replace(d / WEIGHTS_NAME)
    tmp_c.replace(d / CONFIG_NAME)
    return d


def load_config(directory: str | Path) -> ModelConfig:
    """Read and validate a model directory's ``config.json``."""
    d = Path(directory)
    cfg_path = d / CONFIG_NAME
    if not cfg_path.is_file():
        raise ModelLoadError(
            f"{d}: no {CONFIG_NAME} here. A model directory holds {CONFIG_NAME} and {WEIGHTS_NAME}; "
            "pass the directory `aiaudio train --out` wrote, or omit the path for the default model."
        )
    try:
        raw = json.loads(cfg_path.read_text())
        return ModelConfig.from_dict(raw)
    except (json.JSONDecodeError, ValueError, TypeError) as e:
        raise ModelLoadError(f"{cfg_path}: invalid model config ({e}).") from e


def load_model(directory: str | Path) -> AIMusicNet:
    """Load a model directory (config + safetensors weights) in eval mode, on the CPU.

    Raises
    ------
    ModelLoadError
        When a file is missing, the config is invalid, or the weights do not fit the config.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    d = Path(directory)
    config = load_config(d)
    w_path = d / WEIGHTS_NAME
    if not w_path.is_file():
        raise ModelLoadError(f"{d}: no {WEIGHTS_NAME} here; the model directory is incomplete.")
    try:
        state = load_file(str(w_path), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelLoadError(f"{w_path}: not a valid safetensors file ({e}). Re-download or retrain it.") from e
    model = AIMusicNet(config)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ModelLoadError(f"{w_path}: weights do not match {CONFIG_NAME} ({str(e)[:300]}).") from e
    model.eval()
    return model
