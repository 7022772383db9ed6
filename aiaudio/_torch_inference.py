"""The torch backend's inference copy of the network (imported only when torch is used).

:class:`InferenceNet` is an eval-only copy of :class:`~aiaudio.model.AIMusicNet` tuned for CPU
inference; :class:`aiaudio.runtime.TorchBackend` keeps one and rebuilds it when the weights change.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from .model import AIMusicNet


def has_hooks(model: nn.Module) -> bool:
    return any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def weights_key(model: nn.Module) -> tuple:
    """Changes whenever a parameter or buffer of ``model`` is replaced or modified in place."""
    return tuple((id(t), t._version) for t in (*model.parameters(), *model.buffers()))


def _fold_batch_norms(seq: nn.Module) -> nn.Module:
    """``Conv2d`` followed by ``BatchNorm2d`` in a ``Sequential`` -> one ``Conv2d`` (eval mode)."""
    if not isinstance(seq, nn.Sequential):
        return seq
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    layers = list(seq)
    out: list[nn.Module] = []
    i = 0
    while i < len(layers):
        a = layers[i]
        b = layers[i + 1] if i + 1 < len(layers) else None
        if isinstance(a, nn.Conv2d) and isinstance(b, nn.BatchNorm2d) and b.track_running_stats:
            out.append(fuse_conv_bn_eval(a, b))
            i += 2
        else:
            out.append(a)
            i += 1
    return nn.Sequential(*out)


#: Segments per front-end call in :class:`InferenceNet` (keeps the STFT in the CPU caches).
FRONTEND_CHUNK = 4


class InferenceNet(nn.Module):
    """An eval-only copy of :class:`~aiaudio.model.AIMusicNet` tuned for CPU inference.

    Batch norms are folded into their convolutions and the CNN runs on channels-last
    tensors (oneDNN's fast layout: max-pooling in the default layout alone costs as much
    as all the convolutions); the front end runs on a few segments at a time. Same logits
    as the original within float rounding.
    """

    def __init__(self, model: AIMusicNet):
        super().__init__()
        m = copy.deepcopy(model).eval()
        m.cnn.features = _fold_batch_norms(m.cnn.features)
        self.frontend = m.frontend
        self.cnn = m.cnn.to(memory_format=torch.channels_last)
        self.eval()

    def spectrogram(self, x: torch.Tensor) -> torch.Tensor:
        """The front end's output for ``x``, channels-last, computed :data:`FRONTEND_CHUNK` segments at a time."""
        # The STFT of a whole batch outgrows the CPU caches (32 segments of 4 s make 32 MB of
        # complex spectra) and then costs up to 3x more per segment: run it a few at a time.
        n = FRONTEND_CHUNK
        parts = [self.frontend(x[i : i + n]) for i in range(0, x.shape[0], n)]
        return (parts[0] if len(parts) == 1 else torch.cat(parts)).contiguous(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cnn(self.spectrogram(x))


class TorchThreads:
    """Set torch's intra-op thread count for a block, then restore it."""

    def __init__(self, n: int):
        self.n = max(1, int(n))
        self.prev: int | None = None

    def __enter__(self) -> "TorchThreads":
        self.prev = torch.get_num_threads()
        if self.prev != self.n:
            torch.set_num_threads(self.n)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.prev is not None and torch.get_num_threads() != self.prev:
            torch.set_num_threads(self.prev)


def segment_logits(net: nn.Module, segments: np.ndarray, batch_size: int) -> np.ndarray:
    """``float64`` logits of ``(n, samples)`` segments through ``net``, ``batch_size`` per pass."""
    x = torch.from_numpy(np.ascontiguousarray(segments, dtype=np.float32))
    out = []
    with torch.inference_mode():
        for i in range(0, x.shape[0], batch_size):
            out.append(net(x[i : i + batch_size]).double().numpy())
    return np.concatenate(out) if out else np.zeros(0)
