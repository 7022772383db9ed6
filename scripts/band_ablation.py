"""Ablation of the front end's input band and frequency resolution, judged by LOGO generalisation.

    nice -n 10 python scripts/band_ablation.py --out runs/ablation
        [--data ~/.cache/aiaudio/training-data/manifest.csv] [--max-seconds 20]
        [--configs 16k-1024-0-8k,44k-2048-0-22k] [--limit N]

What it measures
----------------
For each front-end configuration in :data:`CONFIGS` (sample rate, FFT size, hop, band)
it asks two questions:

1. **Generalisation to an unseen generator family.** For every family of
   ``scripts/leave_one_out.py``'s ``FAMILIES``, a probe is trained without that family
   (:func:`aiaudio.training.data.hold_out`) and without a fixed, group-based 25 % share of the human
   tracks (with everything made from them: their 22 kHz copies and vocoder twins); it is
   then scored on the left-out family's AI items against those held-back human tracks
   (plus the human items ``hold_out`` takes with the family, e.g. the originals of the
   Deezer reconstructions). The number is the ROC AUC (:func:`sklearn.metrics.roc_auc_score`).
2. **Bandwidth confound.** A probe trained on everything except the human test groups
   scores the human test files twice: as they are, and low-passed at 8 kHz
   (:func:`aiaudio.training.augment.lowpass`). ``lp8k_human_auc`` is the AUC separating the
   low-passed copies (positive) from the originals (negative) by the probe's P(AI): 0.5
   means the probe ignores the band limit, near 1.0 means it learned "band-limited => AI".
   ``mean_dp_ai_lp8k`` is the mean change of P(AI) the low-pass causes.

A linear probe, not the CNN
---------------------------
Training the CNN once per configuration and family (6 x 6 folds) is too dear, so each
file is summarised by a fixed feature vector and a linear probe
(``StandardScaler`` + ``LogisticRegression(C=0.01, class_weight="balanced")``) stands in
for the model. The features are computed from exactly the spectrograms the CNN sees:
the excerpt is cut into segments by :func:`aiaudio.frontend.segment_audio` and passed
through :class:`aiaudio.frontend.Frontend` with that configuration (log power, floor
100 dB below the peak, mean-normalised, / 20). Per frequency bin, over all frames of all
segments: the time mean, the time standard deviation, and a "narrow peak" residual
(time mean minus its median filter along frequency, :data:`MEDIAN_BINS` bins). The
ranking of configurations is therefore a proxy: it says what information each input band
and resolution makes *linearly* available, not what the CNN will make of it.

Audio handling
--------------
Each file is decoded once, mono, at its native rate, limited to the middle
``--max-seconds`` (default 20 s); it is then resampled to each configuration's rate with
:func:`aiaudio.audio.resample` (soxr HQ, the resampler ``load_audio(sr=...)`` streams
through). The 8 kHz low-pass is applied to every human file at its native rate, before
resampling (files whose native Nyquist is at or below 8 kHz pass unchanged).

Outputs (in ``--out``)
----------------------
``features_<config>.npz``
    Cached features (resumable: a finished config is skipped on a rerun; partial progress
    is saved every :data:`SAVE_EVERY` files in ``features_<config>.partial.npz``).
``ablation.md``, ``ablation.json``
    The result table and the same numbers with per-family counts.

Files that fail to load are skipped with a warning and counted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.ndimage
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from tqdm import tqdm

from aiaudio.audio import load_middle, resample
from aiaudio.training.augment import lowpass
from aiaudio.training.data import HUMAN, Item, hold_out, load_items, split_by_group
from aiaudio.frontend import Frontend, FrontendConfig, segment_audio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from leave_one_out import FAMILIES  # noqa: E402

#: name -> (sample_rate, n_fft, hop_length, fmin_hz, fmax_hz); the first is the shipped one.
CONFIGS: dict[str, tuple[int, int, int, float, float]] = {
    "16k-1024-0-8k": (16000, 1024, 256, 0.0, 8000.0),
    "16k-512-0-8k": (16000, 512, 128, 0.0, 8000.0),
    "16k-2048-0-8k": (16000, 2048, 512, 0.0, 8000.0),
    "32k-2048-0-16k": (32000, 2048, 512, 0.0, 16000.0),
    "44k-2048-0-22k": (44100, 2048, 512, 0.0, 22050.0),
    "44k-2048-4-16k": (44100, 2048, 512, 4000.0, 16000.0),
}
DEFAULT_DATA = "~/.cache/aiaudio/training-data/manifest.csv"
LOWPASS_HZ = 8000.0
MEDIAN_BINS = 9
PROBE_C = 0.01
HUMAN_TEST_FRAC = 0.25
SEED = 0
SAVE_EVERY = 100


# --------------------------------------------------------------------------- features


def frontend_config(name: str) -> FrontendConfig:
    """The front end of a named configuration (other settings as shipped)."""
    sr, n_fft, hop, fmin, fmax = CONFIGS[name]
    return FrontendConfig(sample_rate=sr, n_fft=n_fft, hop_length=hop, fmin_hz=fmin, fmax_hz=fmax)


def n_features(cfg: FrontendConfig) -> int:
    return 3 * cfg.n_bins


def load_excerpt(item: Item, max_seconds: float) -> tuple[np.ndarray, int]:
    """The middle ``max_seconds`` of a file, mono, at its native rate: ``(samples,)``, sr."""
    y, sr = load_middle(item.path, max_seconds, mono=True, duration_s=item.duration_s)
    return y[0], sr


def spectrogram(y: np.ndarray, fe: Frontend) -> np.ndarray:
    """Front-end output of mono audio at the config's rate: ``(n_bins, frames)``, segments joined in time."""
    segs, _ = segment_audio(y, fe.cfg)
    with torch.no_grad():
        s = fe(torch.from_numpy(segs))[:, 0]  # (n_seg, bins, frames)
    return s.permute(1, 0, 2).reshape(s.shape[1], -1).numpy()


def spectral_features(spec: np.ndarray) -> np.ndarray:
    """Per-bin time mean, time std, and narrow-peak residual (mean minus its median filter over bins)."""
    mean = spec.mean(axis=1)
    std = spec.std(axis=1)
    peak = mean - scipy.ndimage.median_filter(mean, size=MEDIAN_BINS, mode="nearest")
    return np.concatenate([mean, std, peak]).astype(np.float32)


def file_features(y: np.ndarray, sr: int, fe: Frontend) -> np.ndarray:
    return spectral_features(spectrogram(resample(y, sr, fe.cfg.sample_rate), fe))


@dataclass
class FeatureStore:
    """Features of one configuration; rows follow the item order, NaN where not (yet) computed."""

    name: str
    x: np.ndarray  # (n_items, n_features)
    x_lp: np.ndarray  # (n_items, n_features), humans only
    done: np.ndarray  # (n_items,) bool: row attempted
    failed: np.ndarray  # (n_items,) bool: file could not be loaded

    @classmethod
    def empty(cls, name: str, n_items: int) -> "FeatureStore":
        d = n_features(frontend_config(name))
        nan = np.full((n_items, d), np.nan, dtype=np.float32)
        return cls(name, nan, nan.copy(), np.zeros(n_items, bool), np.zeros(n_items, bool))

    def save(self, path: Path, paths: list[str], max_seconds: float) -> None:
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, x=self.x, x_lp=self.x_lp, done=self.done, failed=self.failed,
                 paths=np.array(paths), max_seconds=max_seconds)
        tmp.replace(path)

    @classmethod
    def load(cls, name: str, path: Path, paths: list[str], max_seconds: float) -> "FeatureStore | None":
        """The cached store, or None when absent or made from other files or excerpt length."""
        if not path.is_file():
            return None
        z = np.load(path)
        if list(z["paths"]) != paths or float(z["max_seconds"]) != max_seconds:
            warnings.warn(f"{path}: made from other files or --max-seconds; recomputing")
            return None
        return cls(name, z["x"], z["x_lp"], z["done"], z["failed"])


def final_path(out: Path, name: str) -> Path:
    return out / f"features_{name}.npz"


def partial_path(out: Path, name: str) -> Path:
    return out / f"features_{name}.partial.npz"


def compute_features(items: list[Item], names: list[str], out: Path, max_seconds: float) -> dict[str, FeatureStore]:
    """Features of every item for every named config, from the cache where it has them.

    Each file is decoded once for all configs that still need it.
    """
    paths = [it.path for it in items]
    stores: dict[str, FeatureStore] = {}
    pending: list[str] = []
    for name in names:
        st = FeatureStore.load(name, final_path(out, name), paths, max_seconds)
        if st is not None and st.done.all():
            stores[name] = st
            continue
        st = FeatureStore.load(name, partial_path(out, name), paths, max_seconds) or FeatureStore.empty(name, len(items))
        stores[name] = st
        pending.append(name)
    if not pending:
        return stores
    fes = {name: Frontend(frontend_config(name)).eval() for name in pending}
    todo = [i for i in range(len(items)) if any(not stores[n].done[i] for n in pending)]
    print(f"features: {len(todo)} files to do for {', '.join(pending)}", flush=True)
    for k, i in enumerate(tqdm(todo, desc="features", unit="file", dynamic_ncols=True)):
        it = items[i]
        need = [n for n in pending if not stores[n].done[i]]
        try:
            y, sr = load_excerpt(it, max_seconds)
            y_lp = lowpass(y, sr, LOWPASS_HZ) if it.label == HUMAN else None
        except Exception as e:  # noqa: BLE001 - any load failure: skip the file, count it
            tqdm.write(f"warning: skipped {it.path}: {type(e).__name__}: {e}")
            for n in need:
                stores[n].failed[i] = True
                stores[n].done[i] = True
            continue
        for n in need:
            st = stores[n]
            st.x[i] = file_features(y, sr, fes[n])
            if y_lp is not None:
                st.x_lp[i] = file_features(y_lp, sr, fes[n])
            st.done[i] = True
        if (k + 1) % SAVE_EVERY == 0:
            for n in pending:
                stores[n].save(partial_path(out, n), paths, max_seconds)
    for n in pending:
        stores[n].save(final_path(out, n), paths, max_seconds)
        partial_path(out, n).unlink(missing_ok=True)
    return stores


# --------------------------------------------------------------------------- evaluation


def human_test_groups(items: list[Item]) -> set[str]:
    """Groups of a seeded, group-based 25 % share of the human items (stratified by source)."""
    humans = [it for it in items if it.label == HUMAN]
    test = split_by_group(humans, val_frac=0.0, test_frac=HUMAN_TEST_FRAC, seed=SEED)["test"]
    return {it.group for it in test}


def make_probe() -> Pipeline:
    return make_pipeline(
        StandardScaler(),
        LogisticRegression(C=PROBE_C, max_iter=2000, class_weight="balanced", random_state=SEED),
    )


def fit_probe(x: np.ndarray, y: np.ndarray) -> Pipeline:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)  # constant (zero-variance) features
        return make_probe().fit(x, y)


def p_ai(probe: Pipeline, x: np.ndarray) -> np.ndarray:
    return probe.predict_proba(x)[:, 1]


def logo_fold(items: list[Item], idx: dict[int, int], st: FeatureStore, family: str, test_groups: set[str]) -> dict:
    """Train without ``family`` and the human test groups; AUC of the family's AI vs the held-out humans.

    ``idx`` maps ``id(item)`` to its row in the store.
    """
    rest, held = hold_out(items, FAMILIES[family])
    ok = lambda it: not st.failed[idx[id(it)]]  # noqa: E731
    train = [it for it in rest if it.group not in test_groups and ok(it)]
    ai = [it for it in held if it.label != HUMAN and ok(it)]
    hum = [it for it in items if it.label == HUMAN and (it.group in test_groups) and ok(it)]
    hum += [it for it in held if it.label == HUMAN and it.group not in test_groups and ok(it)]
    rows = lambda its: np.array([idx[id(it)] for it in its], dtype=int)  # noqa: E731
    probe = fit_probe(st.x[rows(train)], np.array([it.label for it in train]))
    test = ai + hum
    y = np.array([1] * len(ai) + [0] * len(hum))
    auc = float(roc_auc_score(y, p_ai(probe, st.x[rows(test)]))) if ai and hum else float("nan")
    return {"family": family, "auc": auc, "n_ai": len(ai), "n_human": len(hum), "n_train": len(train)}


def bandwidth_check(items: list[Item], idx: dict[int, int], st: FeatureStore, test_groups: set[str]) -> dict:
    """Probe on all items but the human test groups; does an 8 kHz low-pass raise P(AI) of test humans?"""
    ok = [not st.failed[idx[id(it)]] for it in items]
    train = [it for it, g in zip(items, ok) if g and it.group not in test_groups]
    hum = [it for it, g in zip(items, ok) if g and it.label == HUMAN and it.group in test_groups]
    r_train = np.array([idx[id(it)] for it in train], dtype=int)
    r_hum = np.array([idx[id(it)] for it in hum], dtype=int)
    probe = fit_probe(st.x[r_train], np.array([it.label for it in train]))
    p_orig, p_lp = p_ai(probe, st.x[r_hum]), p_ai(probe, st.x_lp[r_hum])
    y = np.r_[np.zeros(len(hum)), np.ones(len(hum))]
    return {
        "lp8k_human_auc": float(roc_auc_score(y, np.r_[p_orig, p_lp])),
        "mean_dp_ai_lp8k": float(np.mean(p_lp - p_orig)),
        "mean_p_ai_human_orig": float(np.mean(p_orig)),
        "n_human_test": len(hum),
    }


def evaluate_config(items: list[Item], st: FeatureStore, test_groups: set[str]) -> dict:
    idx = {id(it): i for i, it in enumerate(items)}
    folds = [logo_fold(items, idx, st, fam, test_groups) for fam in FAMILIES]
    cfg = frontend_config(st.name)
    return {
        "config": st.name,
        "frontend": {k: cfg.to_dict()[k] for k in ("sample_rate", "n_fft", "hop_length", "fmin_hz", "fmax_hz")},
        "n_bins": cfg.n_bins,
        "n_features": n_features(cfg),
        "n_failed": int(st.failed.sum()),
        "folds": folds,
        "mean_logo_auc": float(np.nanmean([f["auc"] for f in folds])),
        **bandwidth_check(items, idx, st, test_groups),
    }


# --------------------------------------------------------------------------- report


def markdown(results: list[dict]) -> str:
    fams = list(FAMILIES)
    head = ["config", "n features", *[f"AUC {f}" for f in fams], "mean LOGO AUC", "lp8k_human_auc", "mean dP(ai) after LP 8k"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        aucs = {f["family"]: f["auc"] for f in r["folds"]}
        cells = [r["config"], str(r["n_features"]), *[f"{aucs[f]:.3f}" for f in fams],
                 f"{r['mean_logo_auc']:.3f}", f"{r['lp8k_human_auc']:.3f}", f"{r['mean_dp_ai_lp8k']:+.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    if results:
        f0 = {f["family"]: f for f in results[0]["folds"]}
        counts = ", ".join(f"{f}: {f0[f]['n_ai']} AI / {f0[f]['n_human']} human" for f in fams)
        lines += ["", f"Test items per family (first config): {counts}.",
                  f"Bandwidth check: {results[0]['n_human_test']} test human files, each also low-passed at 8 kHz.",
                  f"Files skipped (failed to load): {results[0]['n_failed']}.",
                  "Linear probe (StandardScaler + LogisticRegression C=0.01, balanced) on per-bin "
                  "time-mean / time-std / narrow-peak features of the front end's spectrogram; a proxy for the CNN."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=DEFAULT_DATA, help="dataset (manifest CSV or folder); default %(default)s")
    ap.add_argument("--out", default="runs/ablation")
    ap.add_argument("--max-seconds", type=float, default=20.0, help="middle excerpt length (s) read from each file")
    ap.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated, from: " + ", ".join(CONFIGS))
    ap.add_argument("--limit", type=int, help="debug: use only every k-th item so that about N remain")
    args = ap.parse_args()
    names = [n.strip() for n in args.configs.split(",") if n.strip()]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        ap.error(f"unknown config(s) {unknown}; known: {', '.join(CONFIGS)}")
    torch.set_num_threads(1)
    items = load_items(Path(args.data).expanduser())
    if args.limit:
        items = items[:: max(1, len(items) // args.limit)][: args.limit]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    stores = compute_features(items, names, out, args.max_seconds)
    test_groups = human_test_groups(items)
    results = [evaluate_config(items, stores[n], test_groups) for n in names]
    md = markdown(results)
    (out / "ablation.md").write_text(md)
    (out / "ablation.json").write_text(json.dumps(
        {"data": str(Path(args.data).expanduser()), "max_seconds": args.max_seconds, "n_items": len(items),
         "families": FAMILIES, "probe_C": PROBE_C, "median_bins": MEDIAN_BINS, "lowpass_hz": LOWPASS_HZ,
         "human_test_frac": HUMAN_TEST_FRAC, "seed": SEED, "results": results}, indent=2) + "\n")
    print(md)
    print(f"wall time {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
