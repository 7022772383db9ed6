"""Fit and check the catalogue combination (issue 18) on groups the shipped model never saw.

Two steps::

    # 1. score every song once (cached, resumable: rerunning only scores what is missing)
    python scripts/catalog_fit.py score [--cues]
    # 2. fit the group combination with group-level cross-validation; print the model card
    #    tables, write them as JSON, and (--write-model) the shipped models/default/catalog.json
    python scripts/catalog_fit.py fit --write-model

Material
--------
* the sources collection (``$AIAUDIO_DATA/sources/manifest.csv``, audio under
  ``~/.cache/aiaudio/sources/<path>``): never seen by the shipped model; a group is the
  manifest's ``group`` (one source repository / demo page / artist); ``part_human`` files
  are left out of the main numbers;
* the items of ``$AIAUDIO_DATA/manifest.csv`` that are in ``models/default/splits/test.csv``
  (held-out groups of the training material; a group is the test split's ``source``).

Step 1 writes one JSON line per song to ``~/.cache/aiaudio/catalog/scores.jsonl``: the row
``aiaudio score --segments --cues`` writes, plus the song ``logit``, the segment logits and
the song's mean pooled CNN feature (:meth:`aiaudio.Detector.segment_embeddings`, float16,
base64) for the consistency measure.
"""

from __future__ import annotations

import argparse
import base64
import csv
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("AIAUDIO_DATA", ROOT.parent / "shared" / "data"))
SOURCES_AUDIO = Path(os.environ.get("AIAUDIO_SOURCES_AUDIO", Path.home() / ".cache" / "aiaudio" / "sources"))
CACHE = Path(os.environ.get("AIAUDIO_CATALOG_CACHE", Path.home() / ".cache" / "aiaudio" / "catalog"))
SCORES = CACHE / "scores.jsonl"


def _trained_on() -> set[str]:
    """Paths of the songs the shipped model trained or was calibrated on (its train and val splits)."""
    from aiaudio.training.data import load_items

    seen: set[str] = set()
    for name in ("train", "val"):
        f = ROOT / "models" / "default" / "splits" / f"{name}.csv"
        if f.is_file():
            seen.update(it.path for it in load_items(f))
    return seen


def song_table() -> list[dict]:
    """Every song of the material the shipped model never trained on: path, label, group,
    collection, part_human, artist hint. Since 0.2.0 trains on the sources collection, its
    songs count only where they are in the model's test split (or in no split at all)."""
    rows: list[dict] = []
    seen = _trained_on()
    with open(DATA / "sources" / "manifest.csv", newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            if os.path.abspath(SOURCES_AUDIO / r["path"]) in seen:
                continue
            rows.append(
                {
                    "path": str(SOURCES_AUDIO / r["path"]),
                    "label": r["label"],
                    "group": r["group"],
                    "collection": "sources",
                    "family": r["family"],
                    "part_human": r["part_human"] == "yes",
                    "probable": r["probable"] == "yes",
                }
            )
    test = ROOT / "models" / "default" / "splits" / "test.csv"
    with open(test, newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            p = r["path"]
            if not r["source"].startswith("shared:"):
                continue  # Debian game music and its twins are not on this machine
            rel = p.split("/data/", 1)[-1] if "/data/" in p else p
            rows.append(
                {
                    "path": str(DATA / rel),
                    "label": r["label"],
                    "group": r["source"],
                    "collection": "training-test",
                    "family": r["generator"],
                    "part_human": False,
                    "probable": False,
                }
            )
    return rows


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.asarray(a, dtype=np.float16).tobytes()).decode("ascii")


def unb64(s: str) -> np.ndarray:
    """Decode a vector written by the score step."""
    return np.frombuffer(base64.b64decode(s), dtype=np.float16).astype(np.float32)


CUES = CACHE / "cues.jsonl"


def cue_songs(per_group: int = 5, min_songs: int = 5, seed: int = 0) -> list[dict]:
    """The songs whose cues the consistency check uses: up to ``per_group`` of each group of >= ``min_songs``."""
    by: dict[tuple, list[dict]] = {}
    for r in song_table():
        if not r["part_human"]:
            by.setdefault((r["collection"], r["group"], r["label"]), []).append(r)
    rng = np.random.default_rng(seed)
    out = []
    for key in sorted(by):
        rs = by[key]
        if len(rs) < min_songs:
            continue
        idx = sorted(rng.choice(len(rs), size=min(per_group, len(rs)), replace=False))
        out += [rs[i] for i in idx]
    return out


def cmd_cues(args: argparse.Namespace) -> int:
    """Cues of a 15 s excerpt from the middle of each song of :func:`cue_songs` (cached, resumable)."""
    from aiaudio.audio import load_middle
    from aiaudio.cues import extract_cues

    CACHE.mkdir(parents=True, exist_ok=True)
    done = set()
    if CUES.exists():
        done = {json.loads(line)["path"] for line in CUES.read_text(encoding="utf-8").splitlines() if line.strip()}
    todo = [r["path"] for r in cue_songs(args.per_group) if r["path"] not in done]
    print(f"{len(done)} cached, {len(todo)} to do -> {CUES}", file=sys.stderr)
    t0 = time.time()
    with open(CUES, "a", encoding="utf-8") as out:
        for i, path in enumerate(todo):
            row: dict = {"path": path}
            try:
                y, sr = load_middle(path, 15.0)
                row["cues"] = {k: (v if np.isfinite(v) else None) for k, v in extract_cues(y, sr).items()}
            except Exception as e:
                row["error"] = f"{type(e).__name__}: {e}"
            out.write(json.dumps(row) + "\n")
            out.flush()
            if (i + 1) % 25 == 0:
                print(f"{i + 1}/{len(todo)} in {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    import torch

    from aiaudio import load_detector
    from aiaudio.cli.score import _score_row
    from aiaudio.detector import StreamTotals, counted_segments, model_rate_input, too_short_error

    torch.set_num_threads(1)
    det = load_detector(args.model) if args.model else load_detector()
    fe = det.config.frontend
    CACHE.mkdir(parents=True, exist_ok=True)
    done: set[str] = set()
    if SCORES.exists():
        for line in SCORES.read_text(encoding="utf-8").splitlines():
            try:
                done.add(json.loads(line)["path"])
            except (ValueError, KeyError):
                pass
    todo = [r["path"] for r in song_table() if r["path"] not in done]
    if args.limit:
        todo = todo[: args.limit]
    print(f"{len(done)} cached, {len(todo)} to score -> {SCORES}", file=sys.stderr)
    t0 = time.time()
    with open(SCORES, "a", encoding="utf-8") as out:
        for i, path in enumerate(todo):
            try:
                blocks, _, desc, cue_values = model_rate_input(path, None, fe, args.cues)
                totals = StreamTotals()
                starts, segs = [], []
                for s0, seg in counted_segments(blocks, fe, totals):
                    starts.append(s0)
                    segs.append(seg)
                if totals.samples < fe.min_samples:
                    raise too_short_error(totals.samples, fe, desc)
                logits, feats = det.segment_embeddings(np.stack(segs))
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    s = det.make_score(starts, logits, totals.samples, totals.mean_square, path=path, cues=cue_values)
                row = _score_row(det, path, s, args.cues, True)
                row["logit"] = s.logit
                row["seg_logits"] = [round(float(x), 4) for x in logits]
                row["emb_mean"] = _b64(feats.mean(axis=0))
            except Exception as e:  # an unreadable file is a row with its error
                row = _score_row(det, path, e, args.cues, True)
            out.write(json.dumps(row, allow_nan=False, default=float) + "\n")
            out.flush()
            if (i + 1) % 25 == 0:
                el = time.time() - t0
                print(f"{i + 1}/{len(todo)} in {el:.0f} s", file=sys.stderr, flush=True)
    print(f"done in {time.time() - t0:.0f} s", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("score", help="score every song once (cached)")
    p.add_argument("--model", help="model directory (default: the shipped model)")
    p.add_argument("--cues", action="store_true", help="also compute the cues (about doubles the time)")
    p.add_argument("--limit", type=int, default=0, help="score at most N new songs (for a trial)")
    p.set_defaults(func=cmd_score)
    p = sub.add_parser("cues", help="cues of a 15 s excerpt of up to N songs per group (for the consistency check)")
    p.add_argument("--per-group", type=int, default=5)
    p.set_defaults(func=cmd_cues)
    p = sub.add_parser("fit", help="fit the combination with group cross-validation; print and write the tables")
    p.add_argument("--out", default=str(CACHE / "catalog_eval.json"), help="where the results go as JSON")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--collection", choices=["all", "sources", "training-test"], default="all",
                   help="fit and check on one collection only (default: both)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--write-model", action="store_true", help="also write models/default/catalog.json (the shipped fit)")
    p.set_defaults(func=lambda a: cmd_fit(a))
    args = ap.parse_args(argv)
    return int(args.func(args))


# --------------------------------------------------------------------------- fit


def _artist_of(evidence: str) -> str | None:
    """The artist a human song's evidence names first ("Artist - Title (year); ..."), lower-case."""
    import re

    head = evidence.split(";")[0]
    if " - " not in head:
        return None
    a = head.split(" - ", 1)[0].strip()
    a = re.split(r",| feat\.| ft\.| & | x ", a)[0].strip().lower()
    return a or None


def load_groups() -> tuple[list[dict], dict]:
    """Scored songs joined with the manifests, gathered into labelled groups.

    A group is a manifest ``group`` (sources) or test-split ``source`` (training
    material); a demo page that also holds its human reference songs makes two groups,
    one per label. ``part_human`` songs and unreadable files are left out.
    """
    table = {r["path"]: r for r in song_table()}
    evid: dict[str, str] = {}
    with open(DATA / "sources" / "manifest.csv", newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            evid[str(SOURCES_AUDIO / r["path"])] = r["evidence"]
    rows = [json.loads(line) for line in SCORES.read_text(encoding="utf-8").splitlines() if line.strip()]
    info = {"scored": 0, "errors": 0, "part_human_left_out": 0}
    by: dict[str, dict] = {}
    for r in rows:
        t = table.get(r["path"])
        if t is None:
            continue
        if r.get("error"):
            info["errors"] += 1
            continue
        if t["part_human"]:
            info["part_human_left_out"] += 1
            continue
        info["scored"] += 1
        key = (t["collection"], t["group"], t["label"])
        g = by.setdefault(key, {"collection": t["collection"], "group": t["group"], "label": t["label"], "songs": []})
        g["songs"].append(
            {
                "path": r["path"],
                "p_ai": float(r["p_ai"]),
                "segments": r.get("segments") or [],
                "emb": unb64(r["emb_mean"]) if r.get("emb_mean") else None,
                "artist": _artist_of(evid.get(r["path"], "")) if t["label"] == "human" else None,
            }
        )
    labels_per_group: dict[tuple, set] = {}
    for (c, grp, lab) in by:
        labels_per_group.setdefault((c, grp), set()).add(lab)
    groups = []
    for (c, grp, lab), g in sorted(by.items()):
        g["name"] = grp if len(labels_per_group[(c, grp)]) == 1 else f"{grp}|{lab}"
        g["y"] = int(lab == "ai")
        groups.append(g)
    return groups, info


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y)
    return float(roc_auc_score(y, s)) if 0 < y.sum() < len(y) else float("nan")


def _rates(y: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    y, pred = np.asarray(y, bool), np.asarray(pred, bool)
    fpr = float(pred[~y].mean()) if (~y).any() else float("nan")
    tpr = float(pred[y].mean()) if y.any() else float("nan")
    return fpr, tpr


def _consistency(embs: np.ndarray) -> float:
    """Mean pairwise cosine similarity of (standardised) song embeddings."""
    x = embs / np.maximum(np.linalg.norm(embs, axis=1, keepdims=True), 1e-9)
    s = x @ x.T
    n = len(x)
    return float((s.sum() - n) / (n * (n - 1)))


def cmd_fit(args: argparse.Namespace) -> int:
    from sklearn.model_selection import StratifiedKFold

    from aiaudio.catalog import (
        SongEntry, combine, fit_catalog_model, group_verdict, log_odds, song_tier,
    )
    from aiaudio.model import load_config

    cfg = load_config(ROOT / "models" / "default")
    thr = cfg.threshold
    det_version = f"{cfg.name}@{cfg.version}"
    flag = float(np.log(thr) - np.log1p(-thr))
    groups, info = load_groups()
    if args.collection != "all":
        groups = [g for g in groups if g["collection"] == args.collection]
    rng = np.random.default_rng(args.seed)
    ys = np.array([g["y"] for g in groups])
    folds = np.zeros(len(groups), dtype=int)
    skf = StratifiedKFold(n_splits=args.folds, shuffle=True, random_state=args.seed)
    for k, (_, te) in enumerate(skf.split(np.zeros(len(groups)), ys)):
        folds[te] = k
    sizes = (1, 3, 10, 30)
    n_draws = 20
    cue_vec: dict[str, np.ndarray] = {}
    if CUES.exists():
        from aiaudio.cues import CUE_NAMES

        for line in CUES.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            if r.get("cues"):
                cue_vec[r["path"]] = np.array([np.nan if r["cues"].get(k) is None else r["cues"][k] for k in CUE_NAMES], dtype=float)
    cue_recs: list[dict] = []
    held: list[dict] = []  # one record per held-out group (and per subsample)
    mixed_recs: list[dict] = []
    cons_recs: list[dict] = []

    def entries(g: dict, songs: list[dict]) -> list[SongEntry]:
        return [
            SongEntry(s["path"], g["name"], "tag", s["p_ai"], song_tier(s["p_ai"], cfg), [tuple(x) for x in s["segments"]])
            for s in songs
        ]

    for k in range(args.folds):
        tr = [g for g, f in zip(groups, folds) if f != k]
        te = [g for g, f in zip(groups, folds) if f == k]
        hum_p = np.array([s["p_ai"] for g in tr if g["y"] == 0 for s in g["songs"]])
        song_fpr = max(float((hum_p >= thr).mean()), 1.0 / (len(hum_p) + 1))
        ai_p = np.array([s["p_ai"] for g in tr if g["y"] == 1 for s in g["songs"]])
        cm = fit_catalog_model(
            [(g["y"], log_odds([s["p_ai"] for s in g["songs"]])) for g in tr], song_fpr=song_fpr,
            song_tpr=float((ai_p >= thr).mean()), flag_log_odds=flag, seed=args.seed + k, fitted_on=f"fold {k}",
        )
        for g in te:
            songs = g["songs"]
            gv = group_verdict(g["name"], entries(g, songs), cm, cfg)
            held.append({"fold": k, "name": g["name"], "collection": g["collection"], "y": g["y"], "n": len(songs),
                         "size": "all", "p": gv.p_ai, "lo": gv.p_low, "hi": gv.p_high, "verdict": gv.verdict,
                         "song_p": [s["p_ai"] for s in songs]})
            for n in sizes:
                if len(songs) < n:
                    continue
                for d in range(n_draws if n < len(songs) else 1):
                    idx = rng.choice(len(songs), size=n, replace=False)
                    sub = [songs[i] for i in idx]
                    gv = group_verdict(g["name"], entries(g, sub), cm, cfg)
                    held.append({"fold": k, "name": g["name"], "collection": g["collection"], "y": g["y"], "n": n,
                                 "size": n, "draw": d, "p": gv.p_ai, "lo": gv.p_low, "hi": gv.p_high, "verdict": gv.verdict})
        # mixed catalogues: held-out human groups of >= 10 songs with a share of their songs
        # replaced by songs of held-out AI groups
        ai_pool = [s for g in te if g["y"] == 1 for s in g["songs"]]
        for g in te:
            if g["y"] != 0 or len(g["songs"]) < 10 or not ai_pool:
                continue
            n = len(g["songs"])
            for share in (0.0, 0.1, 0.25, 0.5, 0.75):
                m = int(round(share * n))
                for d in range(10):
                    keep = rng.choice(n, size=n - m, replace=False)
                    add = rng.choice(len(ai_pool), size=m, replace=len(ai_pool) < m)
                    songs = [g["songs"][i] for i in keep] + [ai_pool[i] for i in add]
                    gv = group_verdict(g["name"], entries(g, songs), cm, cfg)
                    mixed_recs.append({"share": share, "n": n, "verdict": gv.verdict, "minority": len(gv.minority),
                                       "added": m, "p": gv.p_ai})
        # consistency: mean pairwise cosine of song embeddings, standardised on the training songs
        tr_emb = np.stack([s["emb"] for g in tr for s in g["songs"] if s["emb"] is not None])
        mu, sd = tr_emb.mean(0), tr_emb.std(0) + 1e-6
        for g in te:
            e = [s["emb"] for s in g["songs"] if s["emb"] is not None]
            if len(e) < 5:
                continue
            E = (np.stack(e) - mu) / sd
            vals = [_consistency(E[rng.choice(len(E), 5, replace=False)]) for _ in range(10)]
            ul = log_odds([s["p_ai"] for s in g["songs"]])
            cons_recs.append({"y": g["y"], "name": g["name"], "n": len(e), "consistency": float(np.mean(vals)),
                              "score_spread": float(np.std(ul)), "p": combine(ul, cm).p_ai, "kind": "group"})
        # the same in the cues (15 s excerpts; groups with >= 5 songs have 5 of them)
        tr_c = [cue_vec[s["path"]] for g in tr for s in g["songs"] if s["path"] in cue_vec]
        if len(tr_c) > 10:
            C = np.stack(tr_c)
            cmu, csd = np.nanmean(C, 0), np.nanstd(C, 0) + 1e-9
            for g in te:
                cs = [cue_vec[s["path"]] for s in g["songs"] if s["path"] in cue_vec]
                if len(cs) < 5:
                    continue
                Z = np.nan_to_num((np.stack(cs) - cmu) / csd)
                ul = log_odds([s["p_ai"] for s in g["songs"]])
                cue_recs.append({"y": g["y"], "name": g["name"], "n": len(cs), "consistency": _consistency(Z),
                                 "dispersion": float(np.mean(np.std(Z, axis=0))), "p": combine(ul, cm).p_ai})
        # the same for human artists (songs of one artist across playlists), >= 5 songs
        arts: dict[str, list] = {}
        for g in te:
            for s in g["songs"]:
                if s.get("artist") and s["emb"] is not None:
                    arts.setdefault(s["artist"], []).append(s)
        for a, ss in arts.items():
            if len(ss) < 5:
                continue
            E = (np.stack([s["emb"] for s in ss]) - mu) / sd
            vals = [_consistency(E[rng.choice(len(E), 5, replace=False)]) for _ in range(10)]
            cons_recs.append({"y": 0, "name": "artist:" + a, "n": len(ss), "consistency": float(np.mean(vals)),
                              "score_spread": float(np.std(log_odds([s["p_ai"] for s in ss]))), "kind": "artist"})

    # ------------------------------------------------------------------ tables
    full = [h for h in held if h["size"] == "all"]
    y = np.array([h["y"] for h in full])
    gp = np.array([h["p"] for h in full])
    g_pred = np.array([h["verdict"] == "Likely AI" for h in full])
    song_y = np.concatenate([[h["y"]] * h["n"] for h in full])
    song_p = np.concatenate([h["song_p"] for h in full])
    nsongs = np.array([h["n"] for h in full])
    out: dict = {"info": info, "threshold": thr, "folds": args.folds, "groups": len(full), "collection": args.collection}
    rows = []

    def add_row(level: str, yy, ss, pred, n_items, songs_per_group):
        fpr, tpr = _rates(yy, pred)
        rows.append({"level": level, "items": int(n_items), "ai": int(np.sum(yy)), "human": int(len(yy) - np.sum(yy)),
                     "songs_per_group": songs_per_group, "auc": _auc(yy, ss), "fpr": fpr, "tpr": tpr})

    q = np.percentile(nsongs, [0, 50, 100]).astype(int).tolist()
    spg = f"median {q[1]} (range {q[0]}-{q[2]})"
    add_row("song", song_y, song_p, song_p >= thr, len(song_y), "-")
    add_row("group (all its songs)", y, gp, g_pred, len(y), spg)
    for coll in ("sources", "training-test"):
        sel = np.array([h["collection"] == coll for h in full])
        if sel.sum() and 0 < y[sel].sum() < sel.sum():
            ssel = np.concatenate([[h["collection"] == coll] * h["n"] for h in full])
            qq = np.percentile(nsongs[sel], [0, 50, 100]).astype(int).tolist()
            add_row(f"song ({coll})", song_y[ssel], song_p[ssel], song_p[ssel] >= thr, int(ssel.sum()), "-")
            add_row(f"group ({coll})", y[sel], gp[sel], g_pred[sel], int(sel.sum()), f"median {qq[1]} (range {qq[0]}-{qq[2]})")
    for n in sizes:
        hs = [h for h in held if h["size"] == n]
        yy = np.array([h["y"] for h in hs])
        pp = np.array([h["p"] for h in hs])
        pr = np.array([h["verdict"] == "Likely AI" for h in hs])
        ng = len({h["name"] for h in hs})
        add_row(f"group, {n} song{'s' if n > 1 else ''} drawn", yy, pp, pr, ng, f"{n} (groups with >= {n}; up to {n_draws} draws each)")
        rows[-1]["ai"] = len({h["name"] for h in hs if h["y"] == 1})
        rows[-1]["human"] = ng - rows[-1]["ai"]
        rows[-1]["mean_p_ai_groups"] = float(pp[yy == 1].mean()) if (yy == 1).any() else float("nan")
        rows[-1]["mean_p_human_groups"] = float(pp[yy == 0].mean()) if (yy == 0).any() else float("nan")
        rows[-1]["mean_interval_width"] = float(np.mean([h["hi"] - h["lo"] for h in hs]))
        # calibration: mean p vs share AI in 5 bins
        rows[-1]["brier"] = float(np.mean((pp - yy) ** 2))
    out["table"] = rows
    # calibration of the full-group probability (held out)
    bins = np.array([0, 0.1, 0.5, 0.9, 0.99, 1.0001])
    cal = []
    for a, b in zip(bins[:-1], bins[1:]):
        sel = (gp >= a) & (gp < b)
        if sel.any():
            cal.append({"bin": f"{a:g}-{min(b, 1):g}", "groups": int(sel.sum()), "mean_p": float(gp[sel].mean()), "share_ai": float(y[sel].mean())})
    out["calibration"] = cal
    # mixed catalogues
    mix = []
    for share in sorted({m["share"] for m in mixed_recs}):
        ms = [m for m in mixed_recs if m["share"] == share]
        vs = [m["verdict"] for m in ms]
        mix.append({"ai_share": share, "catalogues": len(ms),
                    **{v: float(np.mean([x == v for x in vs])) for v in ("Likely AI", "Mixed catalogue", "Needs review", "No AI signal found")},
                    "minority_listed_mean": float(np.mean([m["minority"] for m in ms]))})
    out["mixed"] = mix
    # consistency
    cg = [c for c in cons_recs if c["kind"] == "group"]
    cy = np.array([c["y"] for c in cg])
    cc = np.array([c["consistency"] for c in cg])
    csp = np.array([c["score_spread"] for c in cg])
    ca = [c for c in cons_recs if c["kind"] == "artist"]
    # does it add to the combination? among groups the combination gets wrong or unsure
    cp = np.array([c["p"] for c in cg])
    out["consistency"] = {
        "groups": len(cg), "ai": int(cy.sum()), "human": int(len(cy) - cy.sum()),
        "auc_embedding_consistency": _auc(cy, cc),
        "auc_low_score_spread": _auc(cy, -csp),
        "auc_combined_p": _auc(cy, cp),
        "auc_embedding_consistency_among_unsure": _auc(cy[(cp > 0.05) & (cp < 0.95)], cc[(cp > 0.05) & (cp < 0.95)]) if ((cp > 0.05) & (cp < 0.95)).sum() > 3 else float("nan"),
        "ai_groups_median": float(np.median(cc[cy == 1])) if (cy == 1).any() else float("nan"),
        "human_groups_median": float(np.median(cc[cy == 0])) if (cy == 0).any() else float("nan"),
        "human_artists": len(ca),
        "human_artists_median": float(np.median([c["consistency"] for c in ca])) if ca else float("nan"),
        "human_artists_range": [float(min(c["consistency"] for c in ca)), float(max(c["consistency"] for c in ca))] if ca else [],
    }
    if ca:
        cy2 = np.concatenate([cy[cy == 1], np.zeros(len(ca))])
        cc2 = np.concatenate([cc[cy == 1], [c["consistency"] for c in ca]])
        out["consistency"]["auc_ai_groups_vs_human_artists"] = _auc(cy2, cc2)
    if cue_recs:
        ky = np.array([c["y"] for c in cue_recs])
        kc = np.array([c["consistency"] for c in cue_recs])
        kd = np.array([c["dispersion"] for c in cue_recs])
        out["cue_consistency"] = {
            "groups": len(cue_recs), "ai": int(ky.sum()), "human": int(len(ky) - ky.sum()),
            "auc_cue_consistency": _auc(ky, kc), "auc_low_cue_dispersion": _auc(ky, -kd),
            "ai_groups_median": float(np.median(kc[ky == 1])) if (ky == 1).any() else float("nan"),
            "human_groups_median": float(np.median(kc[ky == 0])) if (ky == 0).any() else float("nan"),
            "ai_dispersion_median": float(np.median(kd[ky == 1])) if (ky == 1).any() else float("nan"),
            "human_dispersion_median": float(np.median(kd[ky == 0])) if (ky == 0).any() else float("nan"),
        }
    # final fit on every group
    hum_p = np.array([s["p_ai"] for g in groups if g["y"] == 0 for s in g["songs"]])
    song_fpr = max(float((hum_p >= thr).mean()), 1.0 / (len(hum_p) + 1))
    ai_p = np.array([s["p_ai"] for g in groups if g["y"] == 1 for s in g["songs"]])
    cm = fit_catalog_model(
        [(g["y"], log_odds([s["p_ai"] for s in g["songs"]])) for g in groups], song_fpr=song_fpr,
        song_tpr=float((ai_p >= thr).mean()), flag_log_odds=flag, seed=args.seed,
        fitted_on=(
            f"{len(groups)} groups ({int(ys.sum())} AI, {int(len(ys) - ys.sum())} human; {info['scored']} songs) of the sources "
            f"collection and the held-out test split of the training material that {det_version} never trained on, "
            f"scored by {det_version}; scripts/catalog_fit.py fit"
        ),
    )
    out["shipped"] = cm.to_dict()
    hi_u = cm.flag_log_odds + 1.0  # a song just past the threshold (p_ai ~ 0.994)
    out["group_probability_by_n"] = {
        str(n): {
            "all_flagged": combine([hi_u] * n, cm).p_ai,
            "one_flagged": combine([hi_u] + [cm.mu_human] * (n - 1), cm).p_ai,
            "none_flagged_at_mu_ai": combine([cm.mu_ai] * n, cm).p_ai,
        }
        for n in (1, 3, 10, 30)
    }
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    if args.write_model:
        (ROOT / "models" / "default" / "catalog.json").write_text(json.dumps(cm.to_dict(), indent=2) + "\n")
    print(markdown(out))
    return 0


def _f(x: float, pct: bool = False) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "-"
    return f"{100 * x:.1f}%" if pct else f"{x:.3f}"


def markdown(out: dict) -> str:
    """The model card tables from the fit results."""
    L = [
        f"Held-out groups ({out['folds']}-fold cross-validation over groups; collection: {out.get('collection', 'all')}), "
        f"threshold {out['threshold']:.4f}:",
        "",
        "| level | items | AI / human | songs per group | ROC-AUC | FPR at threshold | TPR at threshold |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in out["table"]:
        L.append(f"| {r['level']} | {r['items']} | {r['ai']} / {r['human']} | {r['songs_per_group']} | {_f(r['auc'])} | {_f(r['fpr'], True)} | {_f(r['tpr'], True)} |")
    L += ["", "Group probability with n songs drawn from a held-out group (mean over draws):", "",
          "| n | mean p_ai, AI groups | mean p_ai, human groups | mean 90% interval width | Brier |", "|---|---|---|---|---|"]
    for r in out["table"]:
        if "mean_p_ai_groups" in r:
            L.append(f"| {r['songs_per_group'].split(' ')[0]} | {_f(r['mean_p_ai_groups'])} | {_f(r['mean_p_human_groups'])} | {_f(r['mean_interval_width'])} | {_f(r['brier'])} |")
    L += ["", "Calibration of the held-out group probability (all songs):", "", "| p_ai bin | groups | mean p_ai | share AI |", "|---|---|---|---|"]
    for c in out["calibration"]:
        L.append(f"| {c['bin']} | {c['groups']} | {_f(c['mean_p'])} | {_f(c['share_ai'])} |")
    L += ["", "Mixed catalogues: held-out human groups (>= 10 songs) with a share of their songs replaced by held-out AI songs:", "",
          "| AI share | catalogues | Likely AI | Mixed catalogue | Needs review | No AI signal found | songs listed |", "|---|---|---|---|---|---|---|"]
    for m in out["mixed"]:
        L.append(f"| {m['ai_share']:.0%} | {m['catalogues']} | {_f(m['Likely AI'], True)} | {_f(m['Mixed catalogue'], True)} | {_f(m['Needs review'], True)} | {_f(m['No AI signal found'], True)} | {m['minority_listed_mean']:.1f} |")
    c = out["consistency"]
    L += ["", "Consistency (mean pairwise cosine of standardised song embeddings, 5 songs drawn, groups with >= 5 songs):", "",
          f"- groups: {c['groups']} ({c['ai']} AI, {c['human']} human); ROC-AUC of consistency {_f(c['auc_embedding_consistency'])}, "
          f"of a low spread of song log-odds {_f(c['auc_low_score_spread'])}, of the combined p_ai {_f(c['auc_combined_p'])}; "
          f"among groups with combined p_ai in 0.05-0.95: {_f(c['auc_embedding_consistency_among_unsure'])}",
          f"- median consistency: AI groups {_f(c['ai_groups_median'])}, human groups {_f(c['human_groups_median'])}, "
          f"human artists ({c['human_artists']}) {_f(c['human_artists_median'])}; AI groups vs human artists ROC-AUC {_f(c.get('auc_ai_groups_vs_human_artists', float('nan')))}"]
    k = out.get("cue_consistency")
    if k:
        L += [f"- cues (21 cues of a 15 s excerpt, 5 songs per group): groups {k['groups']} ({k['ai']} AI, {k['human']} human); "
              f"ROC-AUC of cue consistency {_f(k['auc_cue_consistency'])}, of a low cue dispersion {_f(k['auc_low_cue_dispersion'])}; "
              f"median consistency AI {_f(k['ai_groups_median'])} vs human {_f(k['human_groups_median'])}, "
              f"median dispersion AI {_f(k['ai_dispersion_median'])} vs human {_f(k['human_dispersion_median'])}"]
    L += ["", "Shipped combination: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in out["shipped"].items() if k != "fitted_on")]
    L += ["", "Catalogue p_ai of the shipped combination for n songs (a flagged song: p_ai ~0.994, just past the threshold; "
          "the others at the human level mu_human):", "",
          "| n | every song flagged | one song flagged | no song flagged, all at mu_ai |", "|---|---|---|---|"]
    for n, d in out["group_probability_by_n"].items():
        L.append(f"| {n} | {_f(d['all_flagged'])} | {_f(d['one_flagged'])} | {_f(d['none_flagged_at_mu_ai'])} |")
    return "\n".join(L)


if __name__ == "__main__":
    sys.exit(main())
