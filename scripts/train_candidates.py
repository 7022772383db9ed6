"""Candidate models side by side, chosen by leave-one-service-out (the model issue).

    python scripts/feature_cache.py --data MANIFEST --jobs 2          # first: the cache
    python scripts/train_candidates.py loso --data MANIFEST --out runs/candidates
    python scripts/train_candidates.py split --data MANIFEST --out runs/candidates

Three candidates on the same cached features (``scripts/feature_cache.py``: the
spectrograms of the very segments :meth:`aiaudio.Detector.score` scores, plus the
full-band fingerprint of :mod:`aiaudio.fakeprint`, plus one augmented copy of each item):

``cnn``
    today's 16 kHz CNN (:class:`aiaudio.model.SpecCNN`) trained on the cached
    spectrograms, the augmented copy half of the time; song logit = mean segment logit,
    as inference.
``fp``
    a logistic regression on the full-band fingerprint; both classes are band-limited
    at random in training (the fingerprint is zero above a random cut-off), and a
    missing band is zero, so it adds nothing to the logit: unknown, never "AI".
``fusion``
    a logistic regression over the two logits, fitted on the validation split.

``loso`` holds out each family (``aiaudio.training.data.leave_one_family_out``) in turn, trains
every candidate without it and reports on the held-out family against the fold's human
test songs: AUC, FPR on the commercial human test songs at the fold's threshold (set on
the fold's validation human songs at ``--target-fpr``) and the share of the family
detected at it. ``split`` does the same for the standard split (held-out test per family
and source). Each fold's result is a JSON file in ``OUT``; a rerun skips what is done.
``--members N`` makes the ``cnn`` candidate an ensemble: N CNNs trained on the fold's one split
with training seeds ``SEED``, ``SEED + 1000``, ... (``--seed`` draws the split too, so it moves
both), scored by the mean of their song logits; each member's own numbers are kept beside, so
one fold shows how far the training seed alone moves it.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from feature_cache import DEFAULT_OUT as CACHE_DIR  # noqa: E402

#: Families held out in turn: the commercial services first.
SERVICES = ["suno", "google-lyria", "producer-ai", "stable-audio"]


# --------------------------------------------------------------------------- data


class Table:
    """Items with their cached features (loaded once)."""

    def __init__(self, manifests: list[str], cache: Path, max_train_segments: int = 16):
        from aiaudio.training.data import load_items

        index = json.loads((cache / "index.json").read_text())
        items = [it for m in manifests for it in load_items(m)]
        self.items, self.spec, self.aug_spec, self.fp, self.aug_fp, self.bw = [], [], [], [], [], []
        missing = 0
        for it in items:
            f = index.get(it.path)
            if f is None or not (cache / f).is_file():
                missing += 1
                continue
            z = np.load(cache / f)
            self.items.append(it)
            self.spec.append(z["spec"])
            self.aug_spec.append(z["aug_spec"])
            self.fp.append(z["fp"])
            self.aug_fp.append(z["aug_fp"])
            self.bw.append(float(z["bandwidth_hz"]))
        self.missing = missing
        self.label = np.array([it.label for it in self.items])
        self.fp = np.stack(self.fp)
        self.aug_fp = np.stack(self.aug_fp)
        self.by_path = {it.path: i for i, it in enumerate(self.items)}

    def idx(self, items) -> np.ndarray:
        return np.array([self.by_path[it.path] for it in items if it.path in self.by_path], dtype=int)


def balanced_weights(tab: Table, idx: np.ndarray) -> np.ndarray:
    """Each label half the weight, spread evenly over its families (AI) or sources (human)."""
    from aiaudio.training.train import _balanced_weights

    return _balanced_weights([tab.items[i] for i in idx], by_family=True)


# --------------------------------------------------------------------------- candidates


def spectral_eq(x: np.ndarray, rng: np.random.Generator, max_db: float, n_terms: int = 4) -> np.ndarray:
    """A random smooth EQ applied to front-end spectrograms: ``x`` ``(batch, n_bins, n_frames)``
    in the front end's units (dB / 20, zero mean), one curve per item, the same in every frame.

    The curve is a sum of ``n_terms`` cosines over the bins (periods of 2 down to 2 / ``n_terms``
    times the band, random phases), each of amplitude uniform in ``[-max_db / 2, max_db / 2]`` dB;
    an EQ adds in dB, so this is what a filter of that response does to the audio's spectrum (the
    floor aside). The mean is removed again, as the front end does.
    """
    b, n_bins = x.shape[0], x.shape[1]
    u = np.linspace(0.0, 1.0, n_bins)
    k = np.arange(1, n_terms + 1)
    amp = rng.uniform(-max_db / 2, max_db / 2, size=(b, n_terms))
    phase = rng.uniform(0, 2 * np.pi, size=(b, n_terms))
    curve = np.einsum("bk,bkf->bf", amp, np.cos(np.pi * k[None, :, None] * u[None, None, :] + phase[:, :, None]))
    y = x + (curve / 20.0)[:, :, None]
    return y - y.mean(axis=(1, 2), keepdims=True)


def frequency_mask(x: np.ndarray, rng: np.random.Generator, max_frac: float) -> np.ndarray:
    """SpecAugment's frequency masking on front-end spectrograms ``x`` ``(batch, n_bins, n_frames)``:
    half of the items get one band of random width (up to ``max_frac`` of the bins) at a random
    place set to 0 (the mean level) in every frame; the mean is removed again."""
    y = x.copy()
    n_bins = x.shape[1]
    for i in range(x.shape[0]):
        if rng.random() < 0.5:
            w = int(rng.integers(1, max(2, int(max_frac * n_bins) + 1)))
            f0 = int(rng.integers(0, n_bins - w + 1))
            y[i, f0:f0 + w] = 0.0
    return y - y.mean(axis=(1, 2), keepdims=True)


def train_cnn(tab: Table, train: np.ndarray, val: np.ndarray, arch: dict, epochs: int, steps: int,
              seed: int, batch: int = 32, lr: float = 2e-3, log=print, select_best: bool = False, init: dict | None = None,
              spec_eq_db: float = 0.0, spec_mask: float = 0.0):
    """The CNN on the cached spectrograms (the augmented copy half of the time); ``spec_eq_db`` > 0
    also passes each batch through :func:`spectral_eq`, ``spec_mask`` > 0 through
    :func:`frequency_mask` (both classes alike). Off (0) draws no extra random numbers, so the
    recipe's runs stay as they were."""
    import torch

    from aiaudio.model import ArchConfig, SpecCNN

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    n_bins, n_frames = tab.spec[0].shape[-2:]
    net = SpecCNN(ArchConfig(**arch), n_bins, n_frames)
    if init is not None:  # warm start (e.g. from the previous release's CNN)
        net.load_state_dict(init)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    total = epochs * steps
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total, pct_start=0.15)
    w = balanced_weights(tab, train)
    best, best_auc = None, -1.0
    for ep in range(epochs):
        net.train()
        t0, tot = time.time(), 0.0
        for _ in range(steps):
            pick = rng.choice(train, size=batch, p=w)
            xs = []
            for i in pick:
                src = tab.aug_spec[i] if (rng.random() < 0.5 and len(tab.aug_spec[i])) else tab.spec[i]
                xs.append(src[rng.integers(len(src))])
            xs = np.stack(xs)
            if spec_eq_db > 0:
                xs = spectral_eq(xs.reshape(batch, n_bins, n_frames), rng, spec_eq_db)
            if spec_mask > 0:
                xs = frequency_mask(xs.reshape(batch, n_bins, n_frames), rng, spec_mask)
            x = torch.from_numpy(xs.astype(np.float32)).reshape(batch, 1, n_bins, n_frames)
            y = torch.from_numpy(tab.label[pick].astype(np.float32))
            loss = torch.nn.functional.binary_cross_entropy_with_logits(net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item()
        if not select_best and ep < epochs - 1:  # the one-cycle schedule ends at its last epoch
            log(f"  cnn epoch {ep + 1}/{epochs}: loss {tot / steps:.4f}, {time.time() - t0:.0f} s")
            continue
        v = cnn_song_logits(net, tab, val, max_segments=8 if select_best else None)
        auc = roc_auc(tab.label[val], v)
        log(f"  cnn epoch {ep + 1}/{epochs}: loss {tot / steps:.4f}, val AUC {auc:.4f}, {time.time() - t0:.0f} s")
        if auc > best_auc:
            best_auc, best = auc, {k: t.detach().clone() for k, t in net.state_dict().items()}
    net.load_state_dict(best)
    net.eval()
    return net


def cnn_song_logits(net, tab: Table, idx: np.ndarray, aug: bool = False, max_segments: int | None = None) -> np.ndarray:
    """Mean segment logit of every item (its cached segments), as the detector aggregates;
    ``max_segments`` evenly spread ones only (faster, for model selection)."""
    import torch

    from feature_cache import _even

    net.eval()
    out = np.full(len(idx), np.nan)
    with torch.inference_mode():
        for j, i in enumerate(idx):
            s = tab.aug_spec[i] if aug else tab.spec[i]
            if len(s) == 0:
                continue
            if max_segments is not None:
                s = s[_even(len(s), max_segments)]
            out[j] = float(net(torch.from_numpy(s.astype(np.float32)).reshape(len(s), 1, *s.shape[-2:])).double().mean())
    return out


def fp_rows(tab: Table, idx: np.ndarray, rng: np.random.Generator, n_cut: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Training rows of the fingerprint head: each item as is, its augmented copy, and
    ``n_cut`` copies band-limited at a random cut-off (4-16 kHz, log-uniform), both classes."""
    from aiaudio.fakeprint import band_limit

    X, y = [tab.fp[idx], tab.aug_fp[idx]], [tab.label[idx], tab.label[idx]]
    for _ in range(n_cut):
        cut = np.exp(rng.uniform(np.log(4000), np.log(16000), size=len(idx)))
        X.append(band_limit(tab.fp[idx], cut))
        y.append(tab.label[idx])
    return np.concatenate(X), np.concatenate(y)


def train_fp(tab: Table, train: np.ndarray, C: float, seed: int):
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    X, y = fp_rows(tab, train, rng)
    w = np.tile(balanced_weights(tab, train), len(X) // len(train)) * len(X)
    clf = LogisticRegression(C=C, max_iter=2000)
    clf.fit(X / 10.0, y, sample_weight=w)
    return clf


def fp_logits(clf, X: np.ndarray) -> np.ndarray:
    return clf.decision_function(X / 10.0) if len(X) else np.zeros(0)


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """:func:`aiaudio.training.train.roc_auc` (non-finite scores left out; NaN unless both classes remain)."""
    from aiaudio.training.train import roc_auc as auc

    return auc(labels, scores)


# --------------------------------------------------------------------------- one fold


def run_fold(tab: Table, split: dict, args, name: str, log=print) -> dict:
    from sklearn.linear_model import LogisticRegression

    from aiaudio.training.train import score_at_fpr

    tr, va, te = (tab.idx(split[k]) for k in ("train", "val", "test"))
    ho = tab.idx(split.get("holdout", []))
    log(f"[{name}] train {len(tr)}, val {len(va)}, test {len(te)}, holdout {len(ho)}")
    t0 = time.time()
    scores: dict[str, dict[str, np.ndarray]] = {}
    clf = train_fp(tab, tr, args.fp_C, args.seed)
    scores["fp"] = {k: fp_logits(clf, tab.fp[ix]) for k, ix in (("val", va), ("test", te), ("holdout", ho))}
    log(f"[{name}] fp trained in {time.time() - t0:.0f} s")
    members: list[dict[str, np.ndarray]] = []
    if "cnn" in args.candidates or "fusion" in args.candidates:
        for m in range(args.members):  # same split, training seeds seed, seed + 1000, ...: an ensemble
            net = train_cnn(tab, tr, va, json.loads(args.arch), args.epochs, args.steps, member_seed(args.seed, m), log=log,
                            spec_eq_db=args.spec_eq_db, spec_mask=args.spec_mask)
            members.append({k: cnn_song_logits(net, tab, ix) for k, ix in (("val", va), ("test", te), ("holdout", ho))})
        # the ensemble's song logit: the mean of its members' song logits
        scores["cnn"] = {k: np.mean([mb[k] for mb in members], axis=0) for k in ("val", "test", "holdout")}
        st = LogisticRegression(C=10.0).fit(np.c_[scores["cnn"]["val"], scores["fp"]["val"]], tab.label[va])
        scores["fusion"] = {k: st.decision_function(np.c_[scores["cnn"][k], scores["fp"][k]]) if len(scores["fp"][k]) else np.zeros(0)
                            for k in ("val", "test", "holdout")}
    res = {"fold": name, "n_train": int(len(tr)), "seconds": round(time.time() - t0, 1), "candidates": {}}
    ev = np.concatenate([te, ho])
    lab = tab.label[ev]
    fam = np.array([tab.items[i].family for i in ev])
    human = lab == 0
    commercial = human & (fam == "human-commercial")
    voc = np.array([tab.items[i].vocals or "unknown" for i in ev])

    def rank_and_flag(sc: dict[str, np.ndarray]) -> dict:
        """AUC, and false positives and detection at the threshold set on the validation human songs."""
        s_ev = np.concatenate([sc["test"], sc["holdout"]])
        thr = score_at_fpr(sc["val"][tab.label[va] == 0], args.target_fpr)
        r = {"threshold": thr, "val_auc": roc_auc(tab.label[va], sc["val"]), "auc_all": roc_auc(lab, s_ev),
             "fpr_human": float(np.mean(s_ev[human] >= thr)) if human.any() else None,
             "fpr_commercial": float(np.mean(s_ev[commercial] >= thr)) if commercial.any() else None,
             "n_commercial": int(commercial.sum()), "n_human": int(human.sum()), "families": {}}
        for f in sorted(set(fam[lab == 1])):
            m = (fam == f) & (lab == 1)
            sel = m | human
            r["families"][f] = {"n": int(m.sum()), "auc": roc_auc(lab[sel], s_ev[sel]),
                                "detected": float(np.mean(s_ev[m] >= thr))}
        return r

    for cand, sc in scores.items():
        r = rank_and_flag(sc)
        s_ev, thr = np.concatenate([sc["test"], sc["holdout"]]), r["threshold"]
        r["vocals"] = {}
        for lab_v, lab_name in ((0, "human"), (1, "ai")):
            for v in ("yes", "no", "unknown"):
                m = (lab == lab_v) & (voc == v)
                if m.any():
                    r["vocals"][f"{lab_name}/{v}"] = {"n": int(m.sum()), "mean_logit": float(np.nanmean(s_ev[m])),
                                                      "flagged": float(np.mean(s_ev[m] >= thr))}
        for v in ("yes", "no"):  # AUC within songs with (without) vocals: does singing decide?
            m = voc == v
            r["vocals"][f"auc_{v}"] = roc_auc(lab[m], s_ev[m]) if m.any() else None
        if cand == "cnn" and len(members) > 1:  # each member alone: how much the training seed moves a fold
            r["members"] = [rank_and_flag(mb) for mb in members]
        res["candidates"][cand] = r
    return res


def member_seed(seed: int, m: int) -> int:
    """Training seed of ensemble member ``m`` (member 0 trains with ``seed`` itself, as a single CNN does)."""
    return seed + 1000 * m


def final(tab: Table, split: dict, args) -> int:
    """Train the CNN on the standard split, calibrate it on the inference path, write the model folder."""
    import torch

    from aiaudio.frontend import FrontendConfig
    from aiaudio.model import AIMusicNet, ArchConfig, ModelConfig, save_model
    from aiaudio.training.train import detector_logits
    from aiaudio.training.train import _home_relative, fit_platt, threshold_for_fpr, write_manifest

    out = args.model_out
    out.mkdir(parents=True, exist_ok=True)
    for name, its in split.items():
        write_manifest(its, out / "splits" / f"{name}.csv")
    tr, va = tab.idx(split["train"]), tab.idx(split["val"])  # split_by_group never trains an evaluation-only item
    ckpt = out / "checkpoints" / "cnn.pt"
    fe = FrontendConfig.from_dict(json.loads(Path(args.fe_config).read_text())["frontend"])
    arch = ArchConfig(**json.loads(args.arch))
    mcfg = ModelConfig(name=args.name, version=args.version, trained=True, frontend=fe, arch=arch)
    model = AIMusicNet(mcfg)
    if ckpt.is_file():  # resumable: the trained CNN is kept
        model.cnn.load_state_dict(torch.load(ckpt, weights_only=True))
        print(f"final: CNN from {ckpt}", flush=True)
    else:
        t0 = time.time()
        init = None
        if args.init:
            from aiaudio.model import load_model

            init = load_model(args.init).cnn.state_dict()
            print(f"final: warm start from the CNN of {args.init}", flush=True)
        net = train_cnn(tab, tr, va, json.loads(args.arch), args.epochs, args.steps, args.seed, select_best=True, init=init,
                        spec_eq_db=args.spec_eq_db, spec_mask=args.spec_mask)
        model.cnn.load_state_dict(net.state_dict())
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        torch.save(model.cnn.state_dict(), ckpt)
        print(f"final: CNN trained in {time.time() - t0:.0f} s", flush=True)
    model.eval()
    val_items = split["val"]
    lg = detector_logits(model, val_items)
    lab = np.array([it.label for it in val_items])
    ok = np.isfinite(lg)
    cal = fit_platt(lg[ok], lab[ok])
    p = np.array([cal(v) for v in lg[ok]])
    low, t, high = threshold_for_fpr(p[lab[ok] == 0], args.target_fpr)
    n_comm = sum(1 for it, k in zip(val_items, ok) if k and it.family == "human-commercial")
    model.config = ModelConfig(
        name=args.name, version=args.version, trained=True, frontend=fe, arch=arch, calibration=cal,
        threshold=t, uncertain_low=low, uncertain_high=high,
        info={"training": {"recipe": "scripts/train_default.sh", "data": [_home_relative(d) for d in args.data],
                           "epochs": args.epochs,
                           "steps": args.steps, "batch_size": 32, "seed": args.seed, "cache": "scripts/feature_cache.py",
                           "warm_start": args.init, **({"spectral_eq_db": args.spec_eq_db} if args.spec_eq_db > 0 else {}),
                           **({"frequency_mask": args.spec_mask} if args.spec_mask > 0 else {})},
              "calibrated_on": f"{int(ok.sum())} validation songs ({int((lab[ok] == 0).sum())} human, {n_comm} of them "
                               "commercial releases), scored as `aiaudio score` scores them",
              "threshold_rule": f"at most {args.target_fpr:.0%} false positives on validation human songs"})
    save_model(model, out)
    print(f"final: saved {out}: threshold {t:.4f}, band [{low:.4f}, {high:.4f})", flush=True)
    return 0


def report(out: Path) -> str:
    """Markdown tables of the fold results in ``out`` (the model card's comparison)."""
    res = [json.loads(f.read_text()) for f in sorted(out.glob("*.json"))]
    lines = ["| held out | candidate | AUC held-out family vs human test | detected at the fold's threshold | "
             "FPR commercial human test songs | FPR all human test songs | val AUC |", "|---|---|---|---|---|---|---|"]
    def f(v, pct=False):
        return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else (f"{v:.1%}" if pct else f"{v:.3f}")

    for r in res:
        for cand, c in r["candidates"].items():
            fam = c["families"].get(r["fold"], {})
            members = c.get("members", [])
            name = f"{cand} (mean of {len(members)})" if members else cand
            for label, row in [(name, c)] + [(f"{cand} member {i}", m) for i, m in enumerate(members)]:
                fm = row["families"].get(r["fold"], {})
                lines.append(f"| {r['fold']} (n={fam.get('n', 0)}) | {label} | {f(fm.get('auc'))} | {f(fm.get('detected'), True)} | "
                             f"{f(row['fpr_commercial'], True)} (n={c['n_commercial']}) | {f(row['fpr_human'], True)} (n={c['n_human']}) | "
                             f"{f(row['val_auc'])} |")
    return "\n".join(lines)


def describe(manifests: list[str], split_dir: Path | None = None) -> str:
    """Markdown table of the training material: part, label, family, files, minutes, licences (and the split shares)."""
    import csv
    import os
    from collections import defaultdict

    from aiaudio.training.data import load_items

    split_of: dict[str, str] = {}
    if split_dir is not None:
        for name in ("train", "val", "test"):
            f = split_dir / f"{name}.csv"
            if f.is_file():  # read as training reads them ("~/..." paths are the reader's home)
                split_of.update((it.path, name) for it in load_items(f))
    agg: dict[tuple, dict] = defaultdict(lambda: {"n": 0, "s": 0.0, "lic": set(), "vocals": 0, "split": defaultdict(int)})
    for m in manifests:
        root = Path(m).expanduser().parent
        for r in csv.DictReader(Path(m).expanduser().open(encoding="utf-8")):
            key = (r.get("part", ""), r["label"], r.get("family", "") or r.get("generator", ""))
            a = agg[key]
            a["n"] += 1
            a["s"] += float(r.get("duration_s") or 0)
            a["lic"].add((r.get("licence") or "unknown")[:40])
            a["vocals"] += r.get("has_vocals") == "yes"
            a["split"][split_of.get(os.path.abspath(root / Path(r["path"]).expanduser()), "-")] += 1
    lines = ["| part | label | family | files | minutes | with vocals | train / val / test | licences (first 40 characters) |",
             "|---|---|---|---|---|---|---|---|"]
    for (part, label, fam), a in sorted(agg.items()):
        sp = a["split"]
        lic = "; ".join(sorted(a["lic"]))
        lines.append(f"| {part} | {label} | {fam} | {a['n']} | {a['s'] / 60:.0f} | {a['vocals']} | "
                     f"{sp['train']} / {sp['val']} / {sp['test']} | {lic[:160]}{'...' if len(lic) > 160 else ''} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mode", choices=["loso", "split", "final", "report", "data"])
    ap.add_argument("--data", action="append", required=True)
    ap.add_argument("--cache", type=Path, default=CACHE_DIR)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--families", default=None, help="comma list (default: the services, then every other AI family)")
    ap.add_argument("--candidates", default="fp,cnn,fusion")
    ap.add_argument("--arch", default='{"channels": [8, 16, 32, 64], "hidden": 64, "dropout": 0.2}')
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--steps", type=int, default=80, help="batches of 32 per epoch")
    ap.add_argument("--spec-eq-db", type=float, default=0.0,
                    help="CNN: a random smooth EQ on each training batch, four cosine terms of up to +-DB/2 dB each (0: off)")
    ap.add_argument("--spec-mask", type=float, default=0.0,
                    help="CNN: mask one frequency band of up to this share of the bins in half the training items (0: off)")
    ap.add_argument("--members", type=int, default=1,
                    help="loso/split: train this many CNNs per fold on the same split (training seeds SEED, SEED+1000, ...) "
                         "and score with the mean of their song logits; each member's numbers are kept beside (1: one CNN)")
    ap.add_argument("--fp-C", type=float, default=0.05)
    ap.add_argument("--target-fpr", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model-out", type=Path, default=None, help="final: the model folder to write")
    ap.add_argument("--fe-config", default=str(Path(__file__).resolve().parents[1] / "configs" / "default.json"),
                    help="training config whose front end the model uses (the cache's)")
    ap.add_argument("--init", default=None, help="final: start from the CNN of this model folder (same front end and arch)")
    ap.add_argument("--name", default="aiaudio-default")
    ap.add_argument("--version", default="0.3.0")
    args = ap.parse_args(argv)
    if args.members < 1 or (args.members > 1 and args.mode == "final"):
        ap.error("--members: at least 1, and only for loso and split (final trains the one CNN it ships)")
    if args.mode == "report":
        print(report(args.out))
        return 0
    if args.mode == "data":
        print(describe(args.data, args.out / "splits"))
        return 0
    import torch

    torch.set_num_threads(2)
    from aiaudio.training.data import leave_one_family_out, split_by_group

    tab = Table(args.data, args.cache)
    print(f"{len(tab.items)} items with features ({tab.missing} not cached yet)", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    items = tab.items
    if args.mode == "final":
        return final(tab, split_by_group(items, seed=args.seed), args)
    if args.mode == "split":
        folds = {"split": split_by_group(items, seed=args.seed)}
    else:
        fams = sorted({it.family for it in items if it.label == 1 and it.family})
        order = [f for f in SERVICES if f in fams] + [f for f in fams if f not in SERVICES]
        if args.families:
            order = [f for f in args.families.split(",") if f]
        folds = None
        todo = [f for f in order if not (args.out / f"{f}.json").is_file()]
        folds = leave_one_family_out(items, todo, seed=args.seed) if todo else {}
    for name, split in folds.items():
        path = args.out / f"{name}.json"
        if path.is_file():
            continue
        res = run_fold(tab, split, args, name)
        path.write_text(json.dumps(res, indent=1))
        c = res["candidates"]
        print(f"[{name}] " + "; ".join(f"{k}: AUC {v['auc_all']:.3f} fpr_comm {v['fpr_commercial']} "
                                       + " ".join(f"{f}={d['auc']:.3f}/{d['detected']:.2f}" for f, d in v['families'].items() if f == name or args.mode == 'split')
                                       for k, v in c.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
