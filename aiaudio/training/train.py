"""Training: seeded, resumable, calibrated.

``aiaudio train --data SPEC [--data SPEC ...] --out models/NAME`` (or
:func:`train` with a :class:`TrainConfig`):

1. load the items (:func:`aiaudio.training.data.load_items`), hold out whole generators if
   asked, split the rest **by group** into train / val / test and write the splits
   as CSV manifests into ``OUT/splits/`` (so evaluation uses exactly the held-out items);
2. train :class:`aiaudio.model.AIMusicNet` on random augmented segments, both classes
   through the same augmentation, with class- and generator-balanced sampling;
   a checkpoint after every epoch (``OUT/checkpoints/last.pt``, read back with
   ``torch.load(weights_only=True)``) lets an interrupted run resume where it stopped;
3. keep the epoch with the best validation song-level ROC-AUC;
4. calibrate on the validation split (Platt scaling of the song logit), set the
   threshold for at most ``target_fpr`` false positives on validation human songs,
   and the ``uncertain`` band from there (see :func:`threshold_for_fpr`);
5. write ``OUT/config.json`` + ``OUT/model.safetensors`` and ``OUT/training.json``.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from .. import _validate as _v
from .augment import AugmentConfig
from ..frontend import FrontendConfig
from ..model import AIMusicNet, ArchConfig, Calibration, ModelConfig, save_model

__all__ = [
    "TrainConfig",
    "train",
    "fit_platt",
    "threshold_for_fpr",
    "score_at_fpr",
    "song_logits",
    "detector_logits",
    "write_manifest",
]


@dataclass
class TrainConfig:
    """Everything a training run depends on (stored in ``OUT/training.json``).

    Attributes
    ----------
    data : list of str
        Dataset specs for :func:`aiaudio.training.data.load_items` (folders, CSV manifests,
        SONICS / FakeMusicCaps roots); their items are pooled.
    out : str
        Output model directory.
    holdout_generators : list of str
        Generators left out of training entirely (leave-one-generator-out runs);
        they go to ``splits/holdout.csv``.
    val_frac, test_frac : float
        Shares of groups in the validation and test splits.
    epochs, batch_size, lr, weight_decay : training schedule (AdamW, cosine decay).
    segments_per_item : int
        Random segments drawn from each item per epoch.
    seed : int
        Seeds the split, the initial weights and every epoch's sampling.
    augment : AugmentConfig or None
        The augmentation (:class:`aiaudio.training.augment.AugmentConfig`; a dict of its fields is
        parsed into one, unknown keys refused); ``None`` for no augmentation.
    frontend : FrontendConfig
        The model's front end (:class:`~aiaudio.frontend.FrontendConfig`, or a dict of its fields).
    arch : ArchConfig
        The CNN's architecture (:class:`~aiaudio.model.ArchConfig`, or a dict of its fields).
    num_workers : int or None
        Data-loading worker processes (``None``: chosen from the CPU count).
    device : str
        ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
    target_fpr : float
        False-positive rate on validation human songs the threshold is set for.
    max_eval_segments : int
        Segments per song (evenly spread) for the validation AUC of each epoch (model
        selection). The calibration and threshold are fitted on the validation songs
        scored as inference scores them (every segment,
        :func:`detector_logits`).
    name, version : str
        Written into the model config.
    """

    data: list[str] = field(default_factory=list)
    out: str = "models/new"
    holdout_generators: list[str] = field(default_factory=list)
    val_frac: float = 0.15
    test_frac: float = 0.15
    epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    segments_per_item: int = 8
    seed: int = 0
    augment: AugmentConfig | None = field(default_factory=AugmentConfig)
    frontend: FrontendConfig = field(default_factory=FrontendConfig)
    arch: ArchConfig = field(default_factory=ArchConfig)
    num_workers: int | None = None
    device: str = "auto"
    target_fpr: float = 0.01
    max_eval_segments: int = 8
    name: str = "aiaudio"
    version: str = "0.1.0"

    def __post_init__(self) -> None:
        # the nested configs may come as dicts (JSON, keyword arguments): parse them, refusing unknown keys
        if isinstance(self.augment, Mapping):
            self.augment = AugmentConfig.from_dict(dict(self.augment))
        if isinstance(self.frontend, Mapping):
            self.frontend = FrontendConfig.from_dict(dict(self.frontend))
        if isinstance(self.arch, Mapping):
            self.arch = _v.dataclass_from(ArchConfig, dict(self.arch), "arch", "arch")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-friendly dict: the nested configs as dicts of all their fields."""
        d = asdict(self)
        d["augment"] = None if self.augment is None else self.augment.to_dict()
        d["frontend"] = self.frontend.to_dict()
        d["arch"] = {**asdict(self.arch), "channels": list(self.arch.channels)}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        """Inverse of :meth:`to_dict`; missing keys take their defaults, unknown keys are an error."""
        return _v.dataclass_from(cls, d, "training")

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> "TrainConfig":
        return cls.from_dict(json.loads(Path(path).read_text()))


# --------------------------------------------------------------------------- calibration


def fit_platt(logits: np.ndarray, labels: np.ndarray) -> Calibration:
    """Fit ``p = sigmoid(a * logit + b)`` by maximum likelihood (Platt scaling).

    Uses scikit-learn's logistic regression on the single feature with a very weak
    penalty. Falls back to the identity when only one class is present.
    """
    logits = np.asarray(logits, dtype=np.float64).reshape(-1, 1)
    labels = np.asarray(labels).astype(int)
    if len(np.unique(labels)) < 2:
        return Calibration(1.0, 0.0)
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1e4, max_iter=1000)
    lr.fit(logits, labels)
    return Calibration(a=float(lr.coef_[0, 0]), b=float(lr.intercept_[0]))


def score_at_fpr(scores: np.ndarray, fpr: float) -> float:
    """The smallest score that at most ``fpr`` of ``scores`` reach.

    Any scale (probabilities or logits): the value just above the k-th largest score,
    k = floor(``fpr`` x n), so ``scores >= result`` holds for at most k of them.
    Non-finite scores are left out; with none left the result is ``inf`` (flags nothing).

    Parameters
    ----------
    scores : np.ndarray
        Scores of known negatives (human songs), any shape.
    fpr : float
        Largest share of them to flag, in [0, 1].

    Returns
    -------
    float
        The threshold, on the scale of ``scores``.
    """
    s = np.sort(np.asarray(scores, dtype=np.float64).ravel())
    s = s[np.isfinite(s)]
    if not s.size:
        return math.inf
    k = int(math.floor(fpr * s.size))
    v = s[s.size - 1 - k] if k < s.size else s[0]
    return float(np.nextafter(v, math.inf))


def threshold_for_fpr(p_human: np.ndarray, target_fpr: float = 0.01, uncertain_fpr: float = 0.05) -> tuple[float, float, float]:
    """Threshold and ``uncertain`` band from the scores of known human songs.

    The threshold is the smallest value that at most ``target_fpr`` of the human
    songs reach (so ``p_ai >= threshold`` flags at most that share of them;
    :func:`score_at_fpr`, at most 1.0); the band's lower edge is the same for
    ``uncertain_fpr``. Songs between the two are ``uncertain``: more AI-like than
    most human music, but not enough to flag.

    Returns
    -------
    uncertain_low, threshold, uncertain_high : float
        ``uncertain_high`` equals the threshold.
    """
    p = np.asarray(p_human, dtype=np.float64)
    if p.size == 0:
        raise ValueError("need at least one human song to set a threshold")
    t = min(1.0, score_at_fpr(p, target_fpr))
    low = min(min(1.0, score_at_fpr(p, uncertain_fpr)), t)
    return low, t, t


# --------------------------------------------------------------------------- helpers


def write_manifest(items: Sequence[Any], path: str | os.PathLike[str]) -> None:
    """Write items as a CSV manifest (``path,label,generator,group,source,duration_s``, plus
    ``family,role,probable,has_vocals`` when any item carries them).

    A path under the home directory is written as ``~/...`` (the reader,
    :func:`~aiaudio.training.data.load_items`, expands it to its own home); any other path
    that shares a folder below the file system's root with the manifest is written relative
    to the manifest's folder (the reader resolves it from there), so that splits written into
    a model folder name no machine's folders and travel with the model and its data. Lines
    end in ``\n``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    extra = any(getattr(it, "family", "") or getattr(it, "role", "") or getattr(it, "probable", False)
                or getattr(it, "vocals", "") for it in items)
    with tmp.open("w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["path", "label", "generator", "group", "source", "duration_s"]
                   + (["family", "role", "probable", "has_vocals"] if extra else []))
        for it in items:
            w.writerow([_portable_path(it.path, path.parent), "ai" if it.label == 1 else "human", it.generator, it.group, it.source, "" if it.duration_s is None else f"{it.duration_s:.3f}"]
                       + ([getattr(it, "family", ""), getattr(it, "role", ""), "yes" if getattr(it, "probable", False) else "no",
                           getattr(it, "vocals", "")] if extra else []))
    tmp.replace(path)


def _portable_path(path: str | os.PathLike[str], folder: str | os.PathLike[str]) -> str:
    """``path`` as a manifest in ``folder`` should name it: ``~/...`` under the home
    directory, else relative to ``folder`` when both lie below one folder other than the
    file system's root, else as it is."""
    p = _home_relative(path)
    if p.startswith("~") or not os.path.isabs(p):
        return p
    folder = os.path.abspath(folder)
    try:
        common = os.path.commonpath([p, folder])
    except ValueError:  # another drive
        return p
    if common == os.path.dirname(common):  # only the root (or a drive) in common
        return p
    return os.path.relpath(p, folder).replace(os.sep, "/")


def _home_relative(path: str | os.PathLike[str]) -> str:
    """``path`` as ``~/...`` when it lies under the home directory, else as it is."""
    p = os.fspath(path)
    home = os.path.expanduser("~")
    if os.path.isabs(p) and home not in ("", "/", "~"):
        try:
            rel = os.path.relpath(p, home)
        except ValueError:  # another drive
            return p
        if rel != "." and not rel.startswith(".." + os.sep) and rel != "..":
            return "~/" + rel.replace(os.sep, "/")
    return p


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def song_logits(
    model: AIMusicNet,
    items: Sequence[Any],
    device: torch.device | str = "cpu",
    max_segments: int | None = 8,
    transform: Callable | None = None,
    batch_size: int = 64,
    num_workers: int | None = 0,
    progress: bool = False,
) -> np.ndarray:
    """Song logit (mean of its segment logits) of every item; NaN for items that failed to load."""
    from .data import EvalSegments, make_loader

    ds = EvalSegments(list(items), model.config.frontend, max_segments_per_item=max_segments, transform=transform)
    loader = make_loader(ds, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    sums = np.zeros(len(items))
    counts = np.zeros(len(items))
    model.eval()
    it = loader
    if progress:
        from tqdm import tqdm

        it = tqdm(loader, desc="scoring", unit="batch", leave=False)
    with torch.inference_mode():
        for x, _, idx in it:
            lg = model(x.to(device)).double().cpu().numpy()
            np.add.at(sums, idx.numpy(), lg)
            np.add.at(counts, idx.numpy(), 1)
    out = np.full(len(items), np.nan)
    ok = counts > 0
    out[ok] = sums[ok] / counts[ok]
    return out


def detector_logits(
    model: Any,
    items: Sequence[Any],
    transform: Callable | None = None,
    progress: bool = False,
    excerpt_s: float | None = None,
) -> np.ndarray:
    """Song logits of ``items`` on the inference path: what ``aiaudio score`` computes.

    Parameters
    ----------
    model : AIMusicNet or Detector
        The model (a :class:`~aiaudio.Detector` is made from an ``AIMusicNet``).
    items : sequence of Item
        The songs.
    transform : callable, optional
        ``(y, sr) -> (y, sr)`` applied to each file's samples at their own rate (a
        robustness condition); the result is scored as an array, ``Detector.score(y, sr=sr)``.
        Without it, each file is scored by :meth:`aiaudio.Detector.score` (every segment),
        whose result ``aiaudio score`` gives too (both make the score with
        :meth:`~aiaudio.Detector.make_score` from the same decoded blocks).
    excerpt_s : float, optional
        Score only ``excerpt_s`` seconds from the middle of each song (read, transformed when
        asked, scored as an array): robustness runs on long songs in bounded time. Every
        condition of one evaluation must use the same excerpts.

    Returns
    -------
    np.ndarray
        ``float64 (len(items),)``: :attr:`aiaudio.Score.logit` of each song (the mean of
        its segment logits, before calibration); NaN where the file could not be scored.
    """
    import warnings

    from ..audio import load_audio
    from ..detector import Detector

    det = model if isinstance(model, Detector) else Detector(model.cpu().eval())
    out = np.full(len(items), np.nan)
    it = range(len(items))
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="scoring", unit="song", leave=False)
    for i in it:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if transform is None and excerpt_s is None:
                    out[i] = det.score(items[i].path).logit
                else:
                    if excerpt_s is None:
                        y, sr = load_audio(items[i].path)
                    else:
                        from ..audio import load_middle

                        y, sr = load_middle(items[i].path, excerpt_s)
                    y2, sr2 = transform(y, sr) if transform is not None else (y, sr)
                    out[i] = det.score(np.asarray(y2, dtype=np.float32), sr=int(sr2)).logit
        except Exception:  # a song that cannot be scored is reported as failed (NaN)
            pass
    return out


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC-AUC of ``scores`` for ``labels`` (1: AI), non-finite scores left out; NaN unless both classes remain."""
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(labels)
    scores = np.asarray(scores, dtype=np.float64)
    ok = np.isfinite(scores)
    if len(np.unique(labels[ok])) < 2:
        return float("nan")
    return float(roc_auc_score(labels[ok], scores[ok]))


def _balanced_weights(items: Sequence[Any], by_family: bool = False) -> np.ndarray:
    """Sampling weights: each label gets half the draws, spread evenly over its generators (AI) or sources (human).

    ``by_family``: over the items' families instead where they have one (the generator or
    the source otherwise)."""
    def key(it: Any) -> str:
        fam = getattr(it, "family", "") if by_family else ""
        return fam or (it.generator if it.label == 1 else (it.source or "human"))

    keys = [(it.label, key(it)) for it in items]
    per_label: dict[int, set] = {}
    for lab, k in keys:
        per_label.setdefault(lab, set()).add(k)
    counts: dict[tuple, int] = {}
    for k in keys:
        counts[k] = counts.get(k, 0) + 1
    w = np.array([1.0 / (len(per_label[k[0]]) * counts[k]) for k in keys])
    return w / w.sum()


# --------------------------------------------------------------------------- training


def train(cfg: TrainConfig, progress: bool = True, log: Callable[[str], None] = print) -> Path:
    """Train, calibrate and save a model as :class:`TrainConfig` says; resumes if ``OUT`` has a checkpoint.

    Returns
    -------
    Path
        The model directory (``cfg.out``).

    Raises
    ------
    MissingDependencyError
        When the ``train`` extra is not installed (``pip install "aiaudio[train]"``).
    """
    from .augment import Augmenter
    from .data import TrainSegments, hold_out, load_items, make_loader, split_by_group, summarize
    from ..errors import require_extra

    require_extra(("librosa", "sklearn"), "train", "training")  # checked before any work is done
    out = Path(cfg.out)
    ckpt_dir = out / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    (out / "training.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
    device = _device(cfg.device)

    # ---- data and leak-free splits (a resumed run keeps the splits it started with,
    # even if the data folders have grown since)
    last = ckpt_dir / "last.pt"
    split_dir = out / "splits"
    if last.is_file() and all((split_dir / f"{n}.csv").is_file() for n in ("train", "val", "test")):
        splits = {n: load_items(split_dir / f"{n}.csv") for n in ("train", "val", "test")}
        held = load_items(split_dir / "holdout.csv") if (split_dir / "holdout.csv").is_file() else []
    else:
        items = [it for spec in cfg.data for it in load_items(spec)]
        if not items:
            raise ValueError("no training items found in " + ", ".join(cfg.data))
        rest, held = hold_out(items, cfg.holdout_generators) if cfg.holdout_generators else (items, [])
        splits = split_by_group(rest, val_frac=cfg.val_frac, test_frac=cfg.test_frac, seed=cfg.seed)
        for name, its in splits.items():
            write_manifest(its, split_dir / f"{name}.csv")
        if held:
            write_manifest(held, split_dir / "holdout.csv")
    log(f"train: {summarize(splits['train'])}")
    log(f"val: {len(splits['val'])} items, test: {len(splits['test'])} items, held out: {len(held)} items")

    # ---- model
    fe = cfg.frontend
    arch = cfg.arch
    torch.manual_seed(cfg.seed)
    mcfg = ModelConfig(name=cfg.name, version=cfg.version, trained=True, frontend=fe, arch=arch)
    model = AIMusicNet(mcfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, cfg.epochs))
    start_epoch, best_auc, history = 0, -1.0, []
    if last.is_file():
        state = torch.load(last, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        start_epoch, best_auc = int(state["epoch"]) + 1, float(state["best_auc"])
        history = json.loads(state["history"])
        log(f"resuming after epoch {start_epoch} (best val AUC so far {best_auc:.4f})")

    augment = Augmenter(cfg.augment) if cfg.augment is not None else None
    ds = TrainSegments(splits["train"], fe, segments_per_item=cfg.segments_per_item, augment=augment, seed=cfg.seed)
    weights = np.repeat(_balanced_weights(splits["train"]), cfg.segments_per_item)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    val_items = splits["val"]
    val_labels = np.array([it.label for it in val_items])

    for epoch in range(start_epoch, cfg.epochs):
        ds.set_epoch(epoch)
        g = torch.Generator().manual_seed(cfg.seed * 100003 + epoch)
        sampler = torch.utils.data.WeightedRandomSampler(torch.from_numpy(weights), num_samples=len(ds), replacement=True, generator=g)
        loader = make_loader(ds, batch_size=cfg.batch_size, shuffle=False, num_workers=cfg.num_workers, seed=cfg.seed + epoch, sampler=sampler)
        model.train()
        t0, total, n = time.time(), 0.0, 0
        it = loader
        if progress:
            from tqdm import tqdm

            it = tqdm(loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch", dynamic_ncols=True)
        for x, y in it:
            x, y = x.to(device, non_blocking=True), y.to(device)
            loss = loss_fn(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(y)
            n += len(y)
            if progress:
                it.set_postfix(loss=f"{total / n:.4f}")
        sched.step()
        train_loss = total / max(n, 1)
        val_logits = song_logits(model, val_items, device, cfg.max_eval_segments, num_workers=cfg.num_workers)
        val_auc = roc_auc(val_labels, val_logits)
        history.append({"epoch": epoch + 1, "train_loss": train_loss, "val_auc": val_auc, "seconds": time.time() - t0})
        log(f"epoch {epoch + 1}: train loss {train_loss:.4f}, val song AUC {val_auc:.4f}, {time.time() - t0:.0f} s")
        if not math.isnan(val_auc) and val_auc > best_auc:
            best_auc = val_auc
            torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, ckpt_dir / "best.pt")
        torch.save(
            {
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "epoch": epoch,
                "best_auc": best_auc,
                "history": json.dumps(history),
            },
            ckpt_dir / "last.pt.tmp",
        )
        (ckpt_dir / "last.pt.tmp").replace(last)

    # ---- best weights, calibration, threshold
    best = ckpt_dir / "best.pt"
    if best.is_file():
        model.load_state_dict(torch.load(best, map_location=device, weights_only=True))
    model.eval()
    # calibration and threshold on the scores users get: the inference path, every segment
    model = model.cpu()
    val_logits = detector_logits(model, val_items)
    ok = np.isfinite(val_logits)
    cal = fit_platt(val_logits[ok], val_labels[ok])
    p_val = np.array([cal(v) for v in val_logits[ok]])
    human = p_val[val_labels[ok] == 0]
    low, t, high = threshold_for_fpr(human, cfg.target_fpr) if human.size else (0.4, 0.5, 0.6)
    mcfg = ModelConfig(
        name=cfg.name,
        version=cfg.version,
        trained=True,
        frontend=fe,
        arch=arch,
        calibration=cal,
        threshold=t,
        uncertain_low=low,
        uncertain_high=high,
        info={
            "training": cfg.to_dict(),
            "history": history,
            "best_val_auc": best_auc,
            "calibrated_on": f"{int(ok.sum())} validation songs ({int((val_labels[ok] == 0).sum())} human), scored as `aiaudio score` scores them",
            "threshold_rule": f"at most {cfg.target_fpr:.0%} false positives on validation human songs",
        },
    )
    model.config = mcfg
    save_model(model.cpu(), out)
    log(f"saved {out}: val AUC {best_auc:.4f}, threshold {t:.4f}, uncertain band [{low:.4f}, {high:.4f})")
    return out
