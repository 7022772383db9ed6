"""The small CNN (torch), the torch front end, and safe save/load (safetensors + JSON).

A model directory holds:

``config.json``
    Front end, architecture, calibration, threshold, version and provenance
    (:mod:`aiaudio.modelconfig`, readable without torch; its names are re-exported here).
``model.safetensors``
    The weights. Loading never unpickles, so a model file cannot run code.
``model.onnx`` (optional)
    The CNN as an ONNX graph, so that scoring runs without torch (:mod:`aiaudio.runtime`).
    :func:`save_model` (new weights) removes it; ``aiaudio export-onnx --into-model`` writes it.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from .errors import ModelLoadError
from .frontend import Frontend, FrontendConfig
from .modelconfig import (  # noqa: F401  (re-exported: the names every caller imports from here)
    CONFIG_NAME,
    FORMAT_VERSION,
    MAX_BLOCKS,
    MAX_CHANNELS,
    MAX_CONFIG_BYTES,
    MAX_HIDDEN,
    MAX_INFO_DEPTH,
    ONNX_NAME,
    WEIGHTS_NAME,
    ArchConfig,
    Calibration,
    ModelConfig,
    load_config,
    weights_sha256,
)

__all__ = [
    "ArchConfig",
    "Calibration",
    "ModelConfig",
    "SpecCNN",
    "AIMusicNet",
    "save_model",
    "save_model_files",
    "load_model",
    "load_config",
    "expected_weight_shapes",
    "CONFIG_NAME",
    "WEIGHTS_NAME",
    "ONNX_NAME",
    "FORMAT_VERSION",
    "Frontend",
    "weights_sha256",
]

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

    The folder is replaced as a whole, so a reader (or a crash at any point) sees the
    complete old model or the complete new one, never new weights with an old config:
    the new folder is written next to it (``.NAME.aiaudio-new-*``), with every other file
    the folder holds (``MODEL_CARD.md``, ``splits/`` ...) carried over as hard links (copies
    where links are impossible), flushed to disk, and then swapped with the old folder in
    one atomic step (a ``model.onnx`` is not carried over: it holds the old weights; write a
    new one with ``aiaudio export-onnx --into-model``) (``renameat2(RENAME_EXCHANGE)`` on Linux, ``renamex_np(RENAME_SWAP)`` on
    macOS); the old folder is then deleted. A symlink to a folder is followed: the folder
    it points to is replaced and the link kept.

    Where the folder cannot be swapped (elsewhere than Linux/macOS the folder is renamed
    away and the new one renamed into place, so it is briefly absent; where its parent is
    not writable or the folder is a mount point, the two files are replaced inside the
    folder, weights first), the guarantee is weaker; a crash can then leave a
    ``.NAME.aiaudio-*`` folder behind, which is safe to delete.

    Returns
    -------
    Path
        ``directory``.
    """
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}

    def write_weights(path: Path) -> None:
        save_file(state, str(path), metadata={"format": "pt", "aiaudio_format_version": str(FORMAT_VERSION)})

    return _replace_model_folder(Path(directory), model.config, write_weights, new_weights=True)


def save_model_files(config: ModelConfig, weights_file: str | Path, directory: str | Path) -> Path:
    """Write a model folder from a config and an existing ``model.safetensors``, copied byte for byte.

    For a new config on unchanged weights (e.g. a re-set threshold). The folder is
    replaced as a whole, as :func:`save_model` does.

    Returns
    -------
    Path
        ``directory``.
    """
    src = Path(weights_file)
    return _replace_model_folder(Path(directory), config, lambda path: shutil.copyfile(src, path))


def _replace_model_folder(
    d: Path, config: ModelConfig, write_weights: Callable[[Path], object], new_weights: bool = False
) -> Path:
    """Write ``config.json`` and (with ``write_weights(path)``) the weights; swap the folder in (see :func:`save_model`)."""
    real = d.resolve() if d.is_symlink() else d
    if real.exists() and not real.is_dir():
        raise NotADirectoryError(f"{d}: exists and is not a folder; pass a folder path for the model")
    config_text = json.dumps(config.to_dict(), indent=2) + "\n"

    def write_files(folder: Path) -> None:
        write_weights(folder / WEIGHTS_NAME)
        (folder / CONFIG_NAME).write_text(config_text)
        for name in (WEIGHTS_NAME, CONFIG_NAME):
            with open(folder / name, "rb+") as fh:
                os.fsync(fh.fileno())

    real.parent.mkdir(parents=True, exist_ok=True)
    try:
        tmp = _new_folder(real.parent, f".{real.name}.aiaudio-new-")
    except OSError:  # parent not writable (e.g. a mounted folder): write inside the folder
        _save_in_place(write_files, real)
        return d
    try:
        write_files(tmp)
        if real.is_dir():
            _carry_over(real, tmp, drop=(ONNX_NAME,) if new_weights else ())  # a new network's graph is stale
            os.chmod(tmp, real.stat().st_mode & 0o7777)  # the folder keeps its mode
        _fsync_dir(tmp)
        if real.is_dir():
            try:
                _swap_dirs(tmp, real)  # atomic: `real` is now the new model, `tmp` the old one
            except OSError as e:
                if e.errno not in (errno.EBUSY, errno.EXDEV, errno.EPERM, errno.EACCES):
                    raise
                # a mount point or a folder we may not rename: replace the files inside it
                _save_in_place(write_files, real)
        else:
            os.rename(tmp, real)  # atomic; fails if the folder appeared meanwhile
        _fsync_dir(real.parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # the old model, or the unfinished new one
    return d


def _new_folder(parent: Path, prefix: str) -> Path:
    """A new, empty folder ``parent/prefix<random>``, made with the usual mode (umask applies, unlike mkdtemp)."""
    for _ in range(100):
        path = parent / f"{prefix}{secrets.token_hex(6)}"
        try:
            os.mkdir(path, 0o777)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"{parent}: cannot make a temporary folder {prefix}*")


def _save_in_place(write_files: Callable[[Path], None], d: Path) -> None:
    """Replace the two files inside ``d`` (weights first): the fallback when ``d`` cannot be swapped."""
    d.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".aiaudio-new-", dir=d))
    try:
        write_files(tmp)
        os.replace(tmp / WEIGHTS_NAME, d / WEIGHTS_NAME)
        os.replace(tmp / CONFIG_NAME, d / CONFIG_NAME)
        _fsync_dir(d)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _carry_over(old: Path, new: Path, drop: tuple[str, ...] = ()) -> None:
    """Put every entry of ``old`` but the model files into ``new`` (hard links, else copies)."""

    def link_or_copy(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    skip = {CONFIG_NAME, WEIGHTS_NAME, CONFIG_NAME + ".tmp", WEIGHTS_NAME + ".tmp", *drop}
    for entry in os.scandir(old):
        if entry.name in skip or entry.name.startswith(".aiaudio-new-"):
            continue
        dst = new / entry.name
        if entry.is_symlink():
            os.symlink(os.readlink(entry.path), dst)
        elif entry.is_dir():
            shutil.copytree(entry.path, dst, symlinks=True, copy_function=link_or_copy)
        else:
            link_or_copy(entry.path, str(dst))


def _fsync_dir(d: Path) -> None:
    """Flush a folder's entries to disk (a no-op where folders cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _swap_dirs(a: Path, b: Path) -> None:
    """Exchange two folders atomically where the system can, else rename ``b`` away first.

    After it, ``b`` holds what ``a`` held and ``a`` what ``b`` held.
    """
    import ctypes
    import ctypes.util

    libc = None
    if sys.platform.startswith("linux") or sys.platform == "darwin":
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        except OSError:
            libc = None
    fa, fb = os.fsencode(a), os.fsencode(b)
    if libc is not None and sys.platform.startswith("linux") and hasattr(libc, "renameat2"):
        at_fdcwd, rename_exchange = -100, 2
        if libc.renameat2(at_fdcwd, fa, at_fdcwd, fb, rename_exchange) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):  # unsupported here: fall back
            raise OSError(err, os.strerror(err), str(b))
    elif libc is not None and sys.platform == "darwin" and hasattr(libc, "renamex_np"):
        rename_swap = 0x2
        if libc.renamex_np(fa, fb, rename_swap) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOTSUP):
            raise OSError(err, os.strerror(err), str(b))
    # no atomic exchange: `b` is briefly absent (a reader gets "no model directory", never a mix)
    aside = _new_folder(b.parent, f".{b.name}.aiaudio-old-")
    os.rmdir(aside)
    os.rename(b, aside)
    try:
        os.rename(a, b)
    except OSError:
        os.rename(aside, b)
        raise
    os.rename(aside, a)


def expected_weight_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Names and shapes of the tensors a ``model.safetensors`` for ``config`` must hold.

    The CNN is built on PyTorch's ``meta`` device, so nothing is allocated whatever
    sizes the config names (the front end, whose only tensor is a window of ``n_fft``
    samples, is built as usual: a meta Hann window costs a second of start-up).
    """
    fe = config.frontend
    with torch.device("meta"):
        cnn = SpecCNN(config.arch, fe.n_bins, fe.n_frames)
    parts = {"frontend": Frontend(fe), "cnn": cnn}  # the children of AIMusicNet
    return {f"{name}.{k}": tuple(v.shape) for name, part in parts.items() for k, v in part.state_dict().items()}


def _check_weights_header(w_path: Path, config: ModelConfig) -> None:
    """Compare the tensors listed in the safetensors header with what ``config`` implies."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(w_path), framework="pt", device="cpu") as f:
            found = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise ModelLoadError(f"{w_path}: not a valid safetensors file ({e}). Re-download or retrain it.") from e
    want = expected_weight_shapes(config)
    problems = [f"{k}: {list(found[k])} in the file, {list(s)} for the config" for k, s in want.items() if k in found and found[k] != s]
    problems += [f"missing {k}" for k in want if k not in found]
    problems += [f"unexpected {k}" for k in found if k not in want]
    if problems:
        shown = "; ".join(problems[:4]) + (f"; and {len(problems) - 4} more" if len(problems) > 4 else "")
        raise ModelLoadError(
            f"{w_path}: weights do not match {CONFIG_NAME} ({shown}). The two files are from different "
            "models; restore the folder as it was written."
        )


def load_model(directory: str | Path) -> AIMusicNet:
    """Load a model directory (config + safetensors weights) in eval mode, on the CPU.

    The config is validated and the tensor shapes in the safetensors header are checked
    against it before anything is allocated; the weights must be finite. When
    :func:`save_model` replaces the folder while it is being read (the folder is then
    another one), the read starts again, so the config and the weights are always
    those of one save.

    Raises
    ------
    ModelLoadError
        When a file is missing, the config is invalid, or the weights do not fit the config.
    """
    d = Path(directory)
    for _ in range(4):
        before = _folder_id(d)
        model = _load_model_once(d)
        if _folder_id(d) == before:
            return model
    raise ModelLoadError(f"{d}: the model folder kept changing while it was read; try again when it is written.")


def _folder_id(d: Path) -> tuple[int, int] | None:
    """Identity of the folder ``d`` names now (a swapped-in folder is another one)."""
    try:
        st = os.stat(d)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _load_model_once(d: Path) -> AIMusicNet:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    config = load_config(d)
    w_path = d / WEIGHTS_NAME
    if not w_path.is_file():
        raise ModelLoadError(f"{d}: no {WEIGHTS_NAME} here; the model directory is incomplete.")
    _check_weights_header(w_path, config)
    try:
        state = load_file(str(w_path), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelLoadError(f"{w_path}: not a valid safetensors file ({e}). Re-download or retrain it.") from e
    bad = [k for k, t in state.items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    bad += [k for k, t in state.items() if k.endswith("running_var") and bool((t < 0).any())]
    if bad:
        raise ModelLoadError(f"{w_path}: weights hold NaN, infinite or negative-variance values ({', '.join(bad[:4])}). Retrain the model.")
    model = AIMusicNet(config)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ModelLoadError(f"{w_path}: weights do not match {CONFIG_NAME} ({str(e)[:300]}).") from e
    model.eval()
    return model
