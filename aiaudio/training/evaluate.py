"""Evaluation: metrics, per-generator and per-source tables, robustness, plots.

``aiaudio evaluate --model M --data SPEC --out DIR`` (or :func:`evaluate`) scores
every item of the data (song score = calibrated mean of segment logits, exactly as
:class:`aiaudio.Detector` computes it), under each robustness condition asked for,
and writes to ``DIR``:

``metrics.json``
    Everything below, machine-readable.
``report.md``
    The overall metrics, the per-generator, per-source and robustness tables.
``roc.png``, ``hist.png``, ``reliability.png``
    ROC curve, score histograms per class, reliability diagram.

Metrics: ROC-AUC; equal error rate (EER); false-positive rate on human songs and
detection rate (true-positive rate) on AI songs at the model's threshold; expected
calibration error (ECE, 10 equal-width bins); the share of songs labelled uncertain.
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

__all__ = [
    "binary_metrics",
    "expected_calibration_error",
    "equal_error_rate",
    "evaluate",
    "calibrate_on_human",
]


def expected_calibration_error(labels: np.ndarray, p: np.ndarray, n_bins: int = 10) -> float:
    """Expected calibration error: the bin-size-weighted mean of ``|accuracy - confidence|``.

    Uses ``n_bins`` equal-width bins of the predicted probability of the positive
    class (AI); in each bin it compares the mean prediction with the share of AI songs.
    """
    p = np.asarray(p, dtype=np.float64)
    if p.size == 0:
        return float("nan")
    mean_p, share_ai, counts = _reliability_bins(labels, p, n_bins)
    return float(np.sum(counts / p.size * np.abs(share_ai - mean_p)))


def _reliability_bins(labels: np.ndarray, p: np.ndarray, n_bins: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean prediction, share of AI songs and count in each non-empty equal-width bin of ``p``."""
    labels = np.asarray(labels, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    rows = [(p[bins == b].mean(), labels[bins == b].mean(), int((bins == b).sum())) for b in range(n_bins) if (bins == b).any()]
    if not rows:
        return np.zeros(0), np.zeros(0), np.zeros(0, dtype=int)
    mean_p, share_ai, counts = (np.array(c) for c in zip(*rows))
    return mean_p, share_ai, counts


def equal_error_rate(labels: np.ndarray, scores: np.ndarray) -> float:
    """Equal error rate: where the false-positive and false-negative rates cross (from the ROC)."""
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(labels, scores)
    fnr = 1 - tpr
    i = int(np.nanargmin(np.abs(fnr - fpr)))
    return float((fpr[i] + fnr[i]) / 2)


def binary_metrics(labels: np.ndarray, p: np.ndarray, threshold: float, uncertain: tuple[float, float] | None = None) -> dict[str, float]:
    """AUC, EER, FPR/TPR at the threshold, ECE and counts for one set of song scores.

    Parameters
    ----------
    labels : np.ndarray
        1 for AI, 0 for human.
    p : np.ndarray
        Calibrated ``p_ai``; NaN entries (items that failed) are left out and counted.
    threshold : float
        ``p_ai`` at or above which a song is flagged AI.
    uncertain : (low, high), optional
        The uncertain band, to report the share of songs that fall in it.
    """
    from .train import roc_auc

    labels = np.asarray(labels).astype(int)
    p = np.asarray(p, dtype=np.float64)
    ok = np.isfinite(p)
    y, s = labels[ok], p[ok]
    out: dict[str, float] = {
        "n": int(ok.sum()),
        "n_ai": int((y == 1).sum()),
        "n_human": int((y == 0).sum()),
        "n_failed": int((~ok).sum()),
    }
    both = len(np.unique(y)) == 2
    out["auc"] = roc_auc(y, s)
    out["eer"] = equal_error_rate(y, s) if both else float("nan")
    out["fpr_human"] = float((s[y == 0] >= threshold).mean()) if (y == 0).any() else float("nan")
    out["tpr_ai"] = float((s[y == 1] >= threshold).mean()) if (y == 1).any() else float("nan")
    out["ece"] = expected_calibration_error(y, s)
    if uncertain is not None and uncertain[0] < uncertain[1]:
        out["uncertain_share"] = float(((s >= uncertain[0]) & (s < uncertain[1])).mean()) if s.size else float("nan")
    return out


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "n/a" if math.isnan(v) else f"{v:.3f}"
    return str(v)


def _fmt_p(v: float) -> str:
    """A probability for scores.csv, every digit (it reads back as the same float), so that rates
    at the threshold recompute exactly: the threshold is itself a song's probability, and a
    rounded copy of that song's score can fall just below it."""
    return "n/a" if math.isnan(v) else repr(float(v))


def _table(rows: list[dict[str, Any]], cols: list[str]) -> str:
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r.get(c, "")) for c in cols) + " |")
    return "\n".join(lines)


def _plots(out: Path, labels: np.ndarray, p: np.ndarray, threshold: float, title: str) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    ok = np.isfinite(p)
    y, s = labels[ok], p[ok]
    made = []
    if len(np.unique(y)) == 2:
        fpr, tpr, _ = roc_curve(y, s)
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        ax.plot(fpr, tpr, lw=2)
        ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1)
        ax.set(xlabel="false-positive rate (human flagged)", ylabel="detection rate (AI flagged)", title=f"ROC: {title}")
        fig.tight_layout()
        fig.savefig(out / "roc.png", dpi=120)
        plt.close(fig)
        made.append("roc.png")
    fig, ax = plt.subplots(figsize=(6, 3.5))
    bins = np.linspace(0, 1, 41)
    ax.hist(s[y == 0], bins=bins, alpha=0.6, label=f"human (n={int((y == 0).sum())})")
    ax.hist(s[y == 1], bins=bins, alpha=0.6, label=f"AI (n={int((y == 1).sum())})")
    ax.axvline(threshold, c="k", ls="--", lw=1, label=f"threshold {threshold:.3f}")
    ax.set(xlabel="p_ai", ylabel="songs", title=f"Scores: {title}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "hist.png", dpi=120)
    plt.close(fig)
    made.append("hist.png")
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    edges = np.linspace(0, 1, 11)
    xs, ys, ns = _reliability_bins(y, s, 10)
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1)
    ax.plot(xs, ys, marker="o")
    for x_, y_, n_ in zip(xs, ys, ns):
        ax.annotate(str(n_), (x_, y_), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set(xlabel="mean predicted p_ai", ylabel="share of AI songs", title="Reliability", xlim=(0, 1), ylim=(0, 1))
    ax.set_xticks(edges[::2])
    fig.tight_layout()
    fig.savefig(out / "reliability.png", dpi=120)
    plt.close(fig)
    made.append("reliability.png")
    return made


def _write_scores(path: Path, items: Sequence[Any], conditions: Sequence[str], p_by_cond: dict[str, np.ndarray]) -> None:
    """``scores.csv``: one row per item (path, label, generator, source, ``p_ai_<condition>``...).

    Written with :mod:`csv` (fields with commas, quotes or newlines are quoted), UTF-8; a
    file name that is not valid UTF-8 is written as its original bytes (``surrogateescape``).
    """
    with path.open("w", newline="", encoding="utf-8", errors="surrogateescape") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["path", "label", "generator", "source", *(f"p_ai_{c}" for c in conditions)])
        for i, it in enumerate(items):
            w.writerow([it.path, it.label, it.generator, it.source, *(_fmt_p(float(p_by_cond[c][i])) for c in conditions)])


def stratified_sample(items: Sequence[Any], n: int, seed: int = 0) -> list[Any]:
    """About ``n`` of ``items`` at random, each (label, family) stratum keeping its share (at least one), in input order."""
    if n < 1:
        raise ValueError(f"sample must be >= 1, got {n}")
    strata: dict[tuple, list[int]] = {}
    for i, it in enumerate(items):
        strata.setdefault((it.label, getattr(it, "family", "") or it.generator), []).append(i)
    rng = np.random.default_rng(seed)
    keep: list[int] = []
    for key in sorted(strata, key=repr):
        idx = strata[key]
        k = max(1, int(round(n * len(idx) / len(items))))
        keep += sorted(rng.choice(idx, size=min(k, len(idx)), replace=False).tolist())
    return [items[i] for i in sorted(keep)]


def evaluate(
    model_dir: str | os.PathLike[str],
    data: Sequence[str],
    out_dir: str | os.PathLike[str],
    conditions: Sequence[str] = ("original",),
    max_segments: int | None = None,
    num_workers: int | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    sample: int | None = None,
    excerpt_s: float | None = None,
) -> dict[str, Any]:
    """Evaluate a model directory on data and write metrics, tables and plots.

    Parameters
    ----------
    model_dir : path
        A model directory (``config.json`` + ``model.safetensors``).
    data : list of str
        Dataset specs (see :func:`aiaudio.training.data.load_items`), e.g. ``MODEL/splits/test.csv``.
    out_dir : path
        Where the report goes.
    conditions : list of str
        Names from :data:`aiaudio.training.augment.ROBUSTNESS_TRANSFORMS` (``"original"`` first).
    max_segments : int or None
        ``None`` (default): every song is scored exactly as :meth:`aiaudio.Detector.score`
        and ``aiaudio score`` score it (:func:`aiaudio.training.train.detector_logits`: the same decoding,
        every segment, the same aggregation), so the metrics, the calibration and the
        threshold describe the scores users get. An integer scores at most that many
        segments per song, evenly spread, through the training loader (faster, but
        not the score users get).
    sample : int, optional
        Evaluate ``sample`` songs drawn at random (seed 0), stratified by label and family
        (generator where no family is given): each stratum keeps its share, at least one song.
    excerpt_s : float, optional
        Every condition, the original included, scores the same ``excerpt_s`` seconds from
        the middle of each song (as arrays): a robustness run on long songs in bounded time.
        The original's scores are then those of the excerpts, not of the whole songs.

    Returns
    -------
    dict
        The content of ``metrics.json``.

    Raises
    ------
    MissingDependencyError
        When the ``train`` extra is not installed (``pip install "aiaudio[train]"``): the
        metrics need scikit-learn, the plots matplotlib, the pitch and tempo conditions librosa.
    """
    import torch

    from .augment import ROBUSTNESS_TRANSFORMS
    from .data import load_items
    from ..errors import require_extra
    from ..model import load_model
    from .train import detector_logits, song_logits

    unknown = [c for c in conditions if c not in ROBUSTNESS_TRANSFORMS]
    if unknown:
        raise ValueError(f"unknown conditions {unknown}; known: {sorted(ROBUSTNESS_TRANSFORMS)}")
    needs = ["sklearn", "matplotlib"]
    if any(c.startswith(("pitch_", "tempo_")) for c in conditions):  # aiaudio.training.augment's phase vocoder
        needs.append("librosa")
    require_extra(needs, "train", "evaluation")  # checked before any song is scored
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = load_model(model_dir)
    cfg = model.config
    items = [it for spec in data for it in load_items(spec)]
    if not items:
        raise ValueError("no items in " + ", ".join(data))
    if sample is not None and sample < len(items):
        items = stratified_sample(items, sample)
    labels = np.array([it.label for it in items])
    t = cfg.threshold
    band = (cfg.uncertain_low, cfg.uncertain_high)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device)

    per_condition: dict[str, Any] = {}
    p_by_cond: dict[str, np.ndarray] = {}
    for cond in conditions:
        transform = None if cond == "original" else ROBUSTNESS_TRANSFORMS[cond]
        log(f"evaluate: {cond} ({len(items)} songs)")
        if max_segments is None:
            lg = detector_logits(model, items, transform=transform, progress=progress, excerpt_s=excerpt_s)
        else:
            lg = song_logits(model, items, device, max_segments, transform=transform, num_workers=num_workers, progress=progress)
        p = np.array([cfg.calibration(v) if np.isfinite(v) else np.nan for v in lg])
        p_by_cond[cond] = p
        per_condition[cond] = binary_metrics(labels, p, t, band)

    base = per_condition.get("original") or next(iter(per_condition.values()))
    p0 = p_by_cond.get("original", next(iter(p_by_cond.values())))

    # per generator: AI songs of one generator against all human songs
    human_mask = labels == 0
    gen_rows = []
    for gen in sorted({it.generator for it in items if it.label == 1}):
        m = np.array([it.label == 1 and it.generator == gen for it in items])
        r = binary_metrics(labels[m | human_mask], p0[m | human_mask], t)
        gen_rows.append({"generator": gen, "n": int(m.sum()), "auc_vs_all_human": r["auc"], "detection_rate": r["tpr_ai"], "mean_p_ai": float(np.nanmean(p0[m]))})
    # per source and label (a source can hold both: human tracks and their AI twins):
    # detection rate for AI, false-positive rate for human
    src_rows = []
    for src, lab in sorted({(it.source, it.label) for it in items}, key=lambda k: (k[0], -k[1])):
        m = np.array([it.source == src and it.label == lab for it in items])
        ps = p0[m]
        rate = float(np.nanmean(ps >= t)) if np.isfinite(ps).any() else float("nan")
        src_rows.append({"source": src, "label": "ai" if lab == 1 else "human", "n": int(m.sum()), "flagged_ai": rate, "mean_p_ai": float(np.nanmean(ps))})
    # with and without vocals, per label: a detector that keys on singing flags one side of each
    voc_rows = []
    vocals = np.array([v if (v := getattr(it, "vocals", "")) in ("yes", "no") else "unknown" for it in items])
    for lab in (1, 0):
        for v in ("yes", "no", "unknown"):
            m = (labels == lab) & (vocals == v)
            if m.any():
                ps = p0[m]
                voc_rows.append({"label": "ai" if lab == 1 else "human", "vocals": v, "n": int(m.sum()),
                                 "flagged_ai": float(np.nanmean(ps >= t)) if np.isfinite(ps).any() else float("nan"),
                                 "mean_p_ai": float(np.nanmean(ps))})
    for v in ("yes", "no"):
        m = vocals == v
        if m.any() and len(set(labels[m])) == 2:
            voc_rows.append({"label": "AUC", "vocals": v, "n": int(m.sum()), "flagged_ai": float("nan"),
                             "mean_p_ai": binary_metrics(labels[m], p0[m], t)["auc"]})
    rob_rows = []
    for cond, r in per_condition.items():
        rob_rows.append(
            {
                "condition": cond,
                "auc": r["auc"],
                "delta_auc": r["auc"] - base["auc"],
                "fpr_human": r["fpr_human"],
                "delta_fpr": r["fpr_human"] - base["fpr_human"],
                "tpr_ai": r["tpr_ai"],
                "failed": r["n_failed"],
            }
        )

    plots = _plots(out, labels, p0, t, ", ".join(Path(d).name for d in data))
    metrics = {
        "model": str(model_dir),
        "model_version": f"{cfg.name}@{cfg.version}",
        "trained": cfg.trained,
        "data": list(data),
        "threshold": t,
        "uncertain_band": list(band),
        "max_segments": max_segments,
        "sample": sample,
        "excerpt_s": excerpt_s,
        "overall": base,
        "per_generator": gen_rows,
        "per_source": src_rows,
        "per_vocals": voc_rows,
        "robustness": rob_rows,
        "plots": plots,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float) + "\n")
    _write_scores(out / "scores.csv", items, conditions, p_by_cond)
    report = [
        f"# Evaluation of {metrics['model_version']}",
        "",
        f"Data: {', '.join(data)}. Threshold {t:.4f}, uncertain band [{band[0]:.4f}, {band[1]:.4f}). "
        f"Segments per song: {max_segments or 'all, scored as `aiaudio score` scores them'}.",
        "",
        "## Overall",
        "",
        _table([base], ["n", "n_ai", "n_human", "auc", "eer", "fpr_human", "tpr_ai", "ece", "uncertain_share", "n_failed"]),
        "",
        "## Per generator (its AI songs against all human songs)",
        "",
        _table(gen_rows, ["generator", "n", "auc_vs_all_human", "detection_rate", "mean_p_ai"]),
        "",
        "## Per source",
        "",
        _table(src_rows, ["source", "label", "n", "flagged_ai", "mean_p_ai"]),
        "",
        "## With and without vocals",
        "",
        "Rows `AUC`: the AUC among the songs with (without) vocals, in the `mean_p_ai` column.",
        "",
        _table(voc_rows, ["label", "vocals", "n", "flagged_ai", "mean_p_ai"]),
        "",
        "## Robustness",
        "",
        _table(rob_rows, ["condition", "auc", "delta_auc", "fpr_human", "delta_fpr", "tpr_ai", "failed"]),
        "",
    ]
    (out / "report.md").write_text("\n".join(report))
    log("\n".join(report))
    return metrics


def calibrate_on_human(
    model_dir: str | os.PathLike[str],
    human: Sequence[str],
    out_dir: str | os.PathLike[str],
    target_fpr: float = 0.01,
    uncertain_fpr: float = 0.05,
    recursive: bool = True,
    log: Callable[[str], None] = print,
    conditions: Sequence[str] = (),
    excerpt_s: float | None = None,
) -> dict[str, Any]:
    """Re-set a model's threshold on the user's own human tracks and write a new model directory.

    Scores every audio file under ``human`` with the model, sets the threshold so
    that at most ``target_fpr`` of them are flagged, and the uncertain band's lower
    edge for ``uncertain_fpr`` (:func:`aiaudio.training.train.threshold_for_fpr`). The weights
    and calibration are copied unchanged; only the threshold and band change.

    Parameters
    ----------
    model_dir : path
        The model to start from.
    human : list of str
        Folders (or files) of human-made tracks, or CSV manifests (``MODEL/splits/val.csv``,
        :func:`aiaudio.training.data.load_items`), of which the ``human`` rows are taken.
    out_dir : path
        Where the recalibrated model directory goes (may be ``model_dir`` itself).
    target_fpr, uncertain_fpr : float
        Largest share of the tracks flagged ``ai`` / reaching the uncertain band.
    recursive : bool
        Look into sub-folders of ``human``.
    log : callable
        Where the summary goes.
    conditions : list of str, optional
        Names from :data:`aiaudio.training.augment.ROBUSTNESS_TRANSFORMS` (``opus_64k``,
        ``resample_16k``, ``loud_limit``, ...): the tracks are also scored after each
        transform, and the threshold (and band edge) is the highest of the per-condition
        ones, so that at most ``target_fpr`` of the tracks are flagged as they are *and*
        after each transform: for tracks that will reach the detector re-encoded.
    excerpt_s : float, optional
        Score the transformed tracks on this many seconds from the middle of each
        (:func:`aiaudio.audio.load_middle`; bounded time on long songs). The tracks as
        they are are always scored whole, as ``aiaudio score`` scores them.

    Returns
    -------
    dict
        What was done: counts, old and new threshold, FPR before and after (as they
        are, and per condition under ``per_condition``).

    Raises
    ------
    ValueError
        No track could be scored, an unknown condition, or ``excerpt_s`` not positive or
        given without ``conditions``.
    """
    import shutil
    import warnings

    from ..audio import load_audio, load_middle
    from ..files import collect_inputs
    from ..detector import load_detector
    from ..errors import AudioLoadError
    from ..model import load_config, save_model_files
    from .augment import ROBUSTNESS_TRANSFORMS
    from .train import threshold_for_fpr

    conditions = [c for c in conditions if c != "original"]
    unknown = [c for c in conditions if c not in ROBUSTNESS_TRANSFORMS]
    if unknown:
        raise ValueError(f"unknown conditions {unknown}; known: {sorted(ROBUSTNESS_TRANSFORMS)}")
    if excerpt_s is not None and not excerpt_s > 0:
        raise ValueError(f"excerpt_s must be a positive number of seconds, got {excerpt_s}")
    if excerpt_s is not None and not conditions:
        raise ValueError("excerpt_s sets how much of each track the conditions score: give conditions too "
                         "(the tracks as they are are always scored whole)")
    det = load_detector(model_dir)
    files = []
    for h in human:
        if str(h).lower().endswith(".csv") and Path(h).is_file():
            from .data import load_items

            files += [it.path for it in load_items(h) if it.label == 0]
        else:
            files += collect_inputs([h], recursive=recursive)
    ps, failed = [], []
    pc: dict[str, list[float]] = {c: [] for c in conditions}
    for f in files:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                p0 = det.score(f).p_ai
                row = {}
                if conditions:
                    y, sr = load_audio(f) if excerpt_s is None else load_middle(f, excerpt_s)
                    for c in conditions:
                        y2, sr2 = ROBUSTNESS_TRANSFORMS[c](y, sr)
                        row[c] = det.score(y2, sr=sr2).p_ai
        except AudioLoadError as e:
            failed.append(str(e))
            continue
        ps.append(p0)
        for c in conditions:
            pc[c].append(row[c])
    if not ps:
        raise ValueError("no human track could be scored in " + ", ".join(human))
    p = np.asarray(ps)
    scores = {"original": p, **{c: np.asarray(v) for c, v in pc.items()}}
    per = {c: threshold_for_fpr(v, target_fpr, uncertain_fpr) for c, v in scores.items()}
    t = max(v[1] for v in per.values())
    low = min(max(v[0] for v in per.values()), t)
    high = t
    out = Path(out_dir)
    src = Path(model_dir)
    cfg = load_config(src)
    old_t = cfg.threshold
    cfg.threshold, cfg.uncertain_low, cfg.uncertain_high = t, low, high
    cfg.info = dict(cfg.info)
    cfg.info["recalibrated"] = {
        "human_tracks": len(ps),
        "failed": len(failed),
        "target_fpr": target_fpr,
        "previous_threshold": old_t,
        "from": [str(h) for h in human],
        **({"conditions": list(conditions), "excerpt_s": excerpt_s} if conditions else {}),
    }
    save_model_files(cfg, src / "model.safetensors", out)  # weights and config replaced together, never a mix
    card = src / "MODEL_CARD.md"
    if out.resolve() != src.resolve() and card.is_file():
        shutil.copy2(card, out / "MODEL_CARD.md.tmp")
        os.replace(out / "MODEL_CARD.md.tmp", out / "MODEL_CARD.md")
    result: dict[str, Any] = {
        "human_tracks": len(ps),
        "failed": len(failed),
        "old_threshold": old_t,
        "new_threshold": t,
        "uncertain_band": [low, high],
        "fpr_before": float((p >= old_t).mean()),
        "fpr_after": float((p >= t).mean()),
    }
    if conditions:
        result["per_condition"] = {
            c: {"threshold": per[c][1], "fpr_before": float((v >= old_t).mean()), "fpr_after": float((v >= t).mean())}
            for c, v in scores.items()
        }
    if len(ps) < 1 / max(target_fpr, 1e-9):
        log(f"note: {len(ps)} tracks cannot resolve a {target_fpr:.1%} false-positive rate; the threshold sits at the top of their scores")
    log(json.dumps(result, indent=2))
    return result
