"""The model recipe's scripts end to end on a tiny synthetic set: feature cache -> candidates -> final model.

``scripts/feature_cache.py`` caches the scored segments' spectrograms through the detector's
own input path, ``scripts/train_candidates.py`` trains the candidates on them (split and
leave-one-family-out) and writes a model whose scores on the cached segments equal
:meth:`aiaudio.Detector.score`'s.
"""

from __future__ import annotations

import csv
import importlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import signal

pytest.importorskip("sklearn")
from aiaudio.audio import write_audio  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FRONTEND = {"sample_rate": 8000, "n_fft": 256, "hop_length": 128, "fmax_hz": 4000.0, "segment_s": 1.0,
            "segment_hop_s": 1.0, "min_duration_s": 0.5, "time_pool": 2}
ARCH = '{"channels": [4, 8], "hidden": 8, "dropout": 0.0}'


def _script(name: str):
    """The script as a module registered in sys.modules (the cache's worker processes pickle its functions)."""
    if str(ROOT / "scripts") not in sys.path:
        sys.path.insert(0, str(ROOT / "scripts"))
    return importlib.import_module(name)


def _write_manifest(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


@pytest.fixture(scope="module")
def material(tmp_path_factory):
    root = tmp_path_factory.mktemp("cand")
    rng = np.random.default_rng(0)
    sr = 16000
    b, a = signal.butter(4, 0.3)
    rows = []
    for i in range(16):
        x = rng.standard_normal(sr * 3)
        human = signal.lfilter(b, a, x)
        up = np.zeros(x.size)
        up[::4] = x[: x.size // 4]
        ai = signal.lfilter(np.hanning(9), 1, up)
        fam = "fam-a" if i % 2 else "fam-b"
        for label, y, family in (("human", human, "human-x"), ("ai", ai, fam)):
            p = root / label / f"{i:02d}.flac"
            p.parent.mkdir(parents=True, exist_ok=True)
            write_audio(p, (0.3 * y / np.abs(y).max()).astype(np.float32), sr)
            rows.append({"path": str(p), "label": label, "generator": family if label == "ai" else "human",
                         "group": f"g{i}", "source": "synth", "family": family})
    man = _write_manifest(root / "manifest.csv", rows)
    cfg = root / "train.json"
    cfg.write_text(json.dumps({"frontend": FRONTEND}))
    cache = root / "features"
    assert _script("feature_cache").main(["--data", str(man), "--out", str(cache), "--model-config", str(cfg)]) == 0
    return root, man, cfg, cache


def test_feature_cache_holds_the_scored_segments_and_is_resumable(material):
    root, man, cfg, cache = material
    index = json.loads((cache / "index.json").read_text())
    assert len(index) == 32 and json.loads((cache / "failed.json").read_text()) == {}
    z = np.load(cache / index[str(root / "ai" / "00.flac")])
    assert z["spec"].shape[0] == 3 and z["n_segments"] == 3  # 3 s at 1 s segments
    assert z["aug_spec"].shape[1:] == z["spec"].shape[1:] and z["fp"].shape == z["fp_mask"].shape
    before = {f.name: f.stat().st_mtime_ns for f in cache.glob("*.npz")}
    assert _script("feature_cache").main(["--data", str(man), "--out", str(cache), "--model-config", str(cfg)]) == 0
    assert {f.name: f.stat().st_mtime_ns for f in cache.glob("*.npz")} == before  # nothing made again


def test_the_augmented_copy_depends_on_the_files_bytes_not_where_they_live(material, tmp_path):
    """The same material under another folder (another $HOME, checkout) gets the same augmented copies."""
    root, man, cfg, cache = material
    fc = _script("feature_cache")
    names = ["ai/00.flac", "human/01.flac", "ai/03.flac"]
    moved = tmp_path / "elsewhere" / "deeper"
    rows = []
    with man.open(newline="") as fh:
        for r in csv.DictReader(fh):
            rel = Path(r["path"]).relative_to(root).as_posix()
            if rel in names:
                (moved / rel).parent.mkdir(parents=True, exist_ok=True)
                (moved / rel).write_bytes(Path(r["path"]).read_bytes())
                rows.append({**r, "path": str(moved / rel)})
    man2 = _write_manifest(moved / "manifest.csv", rows)
    cache2 = tmp_path / "features"
    assert fc.main(["--data", str(man2), "--out", str(cache2), "--model-config", str(cfg)]) == 0
    index, index2 = (json.loads((c / "index.json").read_text()) for c in (cache, cache2))
    seeds = set()
    for rel in names:
        a, b = np.load(cache / index[str(root / rel)]), np.load(cache2 / index2[str(moved / rel)])
        assert str(a["aug_steps"]) == str(b["aug_steps"])
        np.testing.assert_array_equal(a["aug_spec"], b["aug_spec"])
        assert fc.aug_seed(str(root / rel)) == fc.aug_seed(str(moved / rel))
        seeds.add(fc.aug_seed(str(root / rel)))
    assert len(seeds) == len(names)  # different files, different chains


def test_candidates_learn_the_upsampler_and_the_final_model_scores_as_the_detector(material, tmp_path, monkeypatch):
    import aiaudio

    root, man, cfg, cache = material
    monkeypatch.setenv("HOME", str(root.parent))  # the manifest lies under the home folder
    tc = _script("train_candidates")
    common = ["--data", str(man), "--cache", str(cache), "--arch", ARCH, "--epochs", "3", "--steps", "12", "--fp-C", "1.0"]
    assert tc.main(["loso", *common, "--out", str(tmp_path / "loso"), "--families", "fam-a"]) == 0
    r = json.loads((tmp_path / "loso" / "fam-a.json").read_text())
    assert set(r["candidates"]) == {"fp", "cnn", "fusion"}
    assert r["candidates"]["cnn"]["families"]["fam-a"]["auc"] >= 0.9  # the held-out family, never trained on
    out = tmp_path / "model"
    assert tc.main(["final", *common, "--out", str(tmp_path / "cand"), "--model-out", str(out), "--fe-config", str(cfg)]) == 0
    det = aiaudio.load_detector(out)
    assert det.config.trained and 0 < det.config.threshold < 1
    # the config names the training data as any machine can read it, never this home folder
    assert det.config.info["training"]["data"] == [f"~/{root.name}/manifest.csv"]
    # the cache's segments are the detector's: the song logit from the cached spectrograms equals Score.logit
    import torch

    index = json.loads((cache / "index.json").read_text())
    path = str(root / "ai" / "03.flac")
    spec = np.load(cache / index[path])["spec"].astype(np.float32)
    with torch.inference_mode():
        cached = float(det.model.cnn(torch.from_numpy(spec)).double().mean())
    assert cached == pytest.approx(det.score(path).logit, abs=2e-3)


def test_the_data_table_counts_splits_that_name_the_cache_with_a_tilde(tmp_path, monkeypatch):
    """``train_candidates.py data``: the shipped splits write the cache as ``~/...`` and the
    manifest lists it relative to itself; both are the same files, counted per split."""
    monkeypatch.setenv("HOME", str(tmp_path))
    man_dir = tmp_path / "cache"
    rows = []
    for i, label in enumerate(["human", "ai", "ai"]):
        p = man_dir / label / f"{i}.wav"
        p.parent.mkdir(parents=True, exist_ok=True)
        write_audio(p, np.zeros(1600, np.float32), 16000)
        rows.append({"path": f"{label}/{i}.wav", "label": label, "generator": "g" if label == "ai" else "human",
                     "group": f"g{i}", "source": "synth", "family": "fam" if label == "ai" else "human-x",
                     "duration_s": "0.1"})
    with (man_dir / "manifest.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    splits = tmp_path / "model" / "splits"
    splits.mkdir(parents=True)
    for name, keep in (("train", [0, 1]), ("test", [2])):
        with (splits / f"{name}.csv").open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows([{**rows[i], "path": f"~/cache/{rows[i]['path']}"} for i in keep])
    table = _script("train_candidates").describe([str(man_dir / "manifest.csv")], splits)
    assert "| fam | 2 | 0 | 0 | 1 / 0 / 1 |" in table, table
    assert "| human-x | 1 | 0 | 0 | 1 / 0 / 0 |" in table, table


def test_spectral_eq_is_a_smooth_per_item_curve_of_bounded_gain():
    tc = _script("train_candidates")
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5, 40, 7))
    x -= x.mean(axis=(1, 2), keepdims=True)
    y = tc.spectral_eq(x, np.random.default_rng(0), max_db=6.0, n_terms=4)
    assert y.shape == x.shape
    np.testing.assert_allclose(y.mean(axis=(1, 2)), 0.0, atol=1e-12)  # zero mean, as the front end
    d = (y - x) * 20.0  # dB
    d -= d[:, :, :1]  # the same curve in every frame: differences across frames vanish
    assert np.abs(d).max() < 1e-9
    curve = (y - x)[:, :, 0] * 20.0
    curve -= curve.mean(axis=1, keepdims=True)
    assert np.abs(curve).max() <= 4 * 3.0 * 2 + 1e-9  # 4 terms of at most 3 dB, mean removed
    assert np.abs(curve).max() > 0.5  # it does something
    assert not np.allclose(curve[0], curve[1])  # one curve per item
    assert np.abs(np.diff(curve, axis=1)).max() < 4 * 3.0 * np.pi * 4 / 39 + 1e-9  # smooth: slope of 4 cosines
    np.testing.assert_array_equal(y, tc.spectral_eq(x, np.random.default_rng(0), max_db=6.0, n_terms=4))


def test_frequency_mask_blanks_one_band_in_some_items_only():
    tc = _script("train_candidates")
    x = np.random.default_rng(1).normal(size=(40, 50, 6)) + 3.0
    y = tc.frequency_mask(x, np.random.default_rng(0), max_frac=0.2)
    np.testing.assert_allclose(y.mean(axis=(1, 2)), 0.0, atol=1e-12)
    d = y - (x - x.mean(axis=(1, 2), keepdims=True))
    changed = [i for i in range(len(x)) if np.abs(d[i]).max() > 1e-9]
    assert 5 < len(changed) < 35  # about half of the items
    for i in changed:
        flat = np.all(np.ptp(y[i], axis=1, keepdims=True) == 0, axis=1)  # bins constant over time
        runs = np.flatnonzero(np.diff(np.r_[0, flat.astype(int), 0]))
        assert len(runs) == 2 and 1 <= runs[1] - runs[0] <= 10  # one band of at most 20% of 50 bins
    np.testing.assert_array_equal(y, tc.frequency_mask(x, np.random.default_rng(0), max_frac=0.2))


def test_an_ensemble_keeps_each_members_numbers_and_member_0_is_the_single_cnn(material, tmp_path):
    root, man, cfg, cache = material
    tc = _script("train_candidates")
    common = ["loso", "--data", str(man), "--cache", str(cache), "--arch", ARCH, "--epochs", "2", "--steps", "6",
              "--fp-C", "1.0", "--families", "fam-a", "--candidates", "cnn"]
    assert tc.main([*common, "--out", str(tmp_path / "one")]) == 0
    assert tc.main([*common, "--out", str(tmp_path / "two"), "--members", "2"]) == 0
    one = json.loads((tmp_path / "one" / "fam-a.json").read_text())["candidates"]["cnn"]
    two = json.loads((tmp_path / "two" / "fam-a.json").read_text())["candidates"]["cnn"]
    assert "members" not in one and len(two["members"]) == 2
    m0, m1 = two["members"]
    # member 0 trains with the fold's own seed on the same split: the single CNN, number for number
    for k in ("threshold", "val_auc", "auc_all", "fpr_human", "fpr_commercial", "n_commercial", "n_human", "families"):
        assert m0[k] == one[k]
    assert tc.member_seed(0, 1) != tc.member_seed(0, 0) and m1["families"].keys() == m0["families"].keys()
    table = tc.report(tmp_path / "two")
    assert "cnn (mean of 2)" in table and "cnn member 0" in table and "cnn member 1" in table
    with pytest.raises(SystemExit):  # the shipped model is one CNN
        tc.main(["final", "--data", str(man), "--out", str(tmp_path / "x"), "--members", "2"])
