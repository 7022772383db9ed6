"""Training, calibration, evaluation and recalibration, end to end on tiny made-up data."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import signal

import aiaudio
from aiaudio.audio import write_audio
from aiaudio.training.evaluate import binary_metrics, calibrate_on_human, equal_error_rate, evaluate, expected_calibration_error
from aiaudio.model import load_config
from aiaudio.training.train import TrainConfig, fit_platt, score_at_fpr, threshold_for_fpr, train

# ------------------------------------------------------------------ known answers


def test_threshold_for_fpr_flags_at_most_the_target_share() -> None:
    p = np.linspace(0.0, 0.99, 100)  # 100 human songs
    low, t, high = threshold_for_fpr(p, target_fpr=0.01, uncertain_fpr=0.05)
    assert (p >= t).mean() <= 0.01
    assert (p >= low).mean() <= 0.05
    # not needlessly high: the smallest threshold that flags only the top song, just above the
    # second-highest score (any lower one flags 2%); the band edge likewise just above the 6th
    assert t == np.nextafter(p[-2], 2.0) and (p >= p[-2]).mean() > 0.01
    assert low == np.nextafter(p[-6], 2.0) and (p >= p[-6]).mean() > 0.05
    assert low <= t == high
    # with 10 songs a 1% rate cannot be resolved: the threshold sits just above the top score
    _, t10, _ = threshold_for_fpr(np.arange(10) / 10, 0.01)
    assert t10 > 0.9 and (np.arange(10) / 10 >= t10).sum() == 0


def test_score_at_fpr_is_one_rule_on_any_scale() -> None:
    rng = np.random.default_rng(3)
    z = rng.normal(0.0, 3.0, 257)  # logits of 257 human songs
    for fpr in (0.0, 0.01, 0.05, 0.5):
        t = score_at_fpr(z, fpr)
        k = int(np.floor(fpr * z.size))
        assert (z >= t).sum() == k  # flags exactly the k largest, no more
        assert (z >= np.nextafter(t, -np.inf)).sum() > k or k == z.size  # the smallest such value
    # a monotone map of the scores moves the threshold with them: the probabilities flag the same songs
    p = 1.0 / (1.0 + np.exp(-z))
    assert ((p >= threshold_for_fpr(p, 0.05)[1]) == (z >= score_at_fpr(z, 0.05))).all()
    # non-finite scores are left out; none left flags nothing
    assert score_at_fpr(np.array([np.nan, 1.0, 2.0]), 0.0) == np.nextafter(2.0, 3.0)
    assert score_at_fpr(np.array([np.nan]), 0.01) == np.inf


def test_fit_platt_recovers_known_parameters() -> None:
    rng = np.random.default_rng(0)
    z = rng.normal(0, 2, 20000)
    p = 1 / (1 + np.exp(-(1.5 * z - 0.7)))
    y = rng.random(z.size) < p
    cal = fit_platt(z, y)
    assert cal.a == pytest.approx(1.5, abs=0.08)
    assert cal.b == pytest.approx(-0.7, abs=0.08)
    assert fit_platt(z, np.ones_like(y)) == aiaudio.model.Calibration(1.0, 0.0)


def test_ece_and_eer_known_answers() -> None:
    labels = np.array([0, 0, 1, 1])
    assert expected_calibration_error(labels, np.array([0.0, 0.0, 1.0, 1.0])) == 0.0
    # all predictions 0.75, half are AI: |0.5 - 0.75| = 0.25
    assert expected_calibration_error(labels, np.full(4, 0.75)) == pytest.approx(0.25)
    assert equal_error_rate(labels, np.array([0.1, 0.2, 0.8, 0.9])) == 0.0
    assert equal_error_rate(np.array([0, 1, 0, 1]), np.array([0.1, 0.2, 0.3, 0.4])) == pytest.approx(0.5)
    m = binary_metrics(np.array([0, 0, 1, 1, 1]), np.array([0.2, 0.6, 0.7, 0.4, np.nan]), threshold=0.5)
    assert m["n"] == 4 and m["n_failed"] == 1
    assert m["fpr_human"] == 0.5 and m["tpr_ai"] == 0.5 and m["auc"] == 0.75


# ------------------------------------------------------------------ end to end


def _tiny_dataset(root: Path, n: int = 6) -> None:
    """Human: low-passed noise. AI: the same noise through a zero-insertion x4 upsampler (spectral images)."""
    rng = np.random.default_rng(0)
    sr = 16000
    b, a = signal.butter(4, 0.3)
    for i in range(n):
        x = rng.standard_normal(sr * 3)
        human = signal.lfilter(b, a, x)
        up = np.zeros(x.size)
        up[::4] = x[: x.size // 4]
        ai = signal.lfilter(np.hanning(9), 1, up)
        for kind, y in (("human/synth", human), ("ai/upsampler", ai)):
            (root / kind).mkdir(parents=True, exist_ok=True)
            write_audio(root / kind / f"{i:02d}.flac", (0.3 * y / np.abs(y).max()).astype(np.float32), sr)


SMALL = dict(
    frontend={"sample_rate": 8000, "n_fft": 256, "hop_length": 128, "fmax_hz": 4000.0, "segment_s": 2.0, "segment_hop_s": 2.0, "min_duration_s": 1.0},
    arch={"channels": [4, 8], "hidden": 8, "dropout": 0.0},
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("tiny")
    _tiny_dataset(root / "data")
    cfg = TrainConfig(
        data=[str(root / "data")],
        out=str(root / "model"),
        epochs=1,
        batch_size=8,
        lr=3e-3,
        segments_per_item=2,
        num_workers=0,
        augment={"p_codec": 0.0},
        val_frac=0.34,
        test_frac=0.0,
        **SMALL,
    )
    train(cfg, progress=False, log=lambda s: None)
    splits_before = {n: (root / "model" / "splits" / f"{n}.csv").read_text() for n in ("train", "val", "test")}
    # the data grows between the runs: the resumed run must keep its splits (no leak)
    write_audio(root / "data" / "human" / "synth" / "late.flac", np.zeros(16000 * 3, dtype=np.float32), 16000)
    # resume: asking for 3 epochs continues after epoch 1 instead of starting over
    cfg.epochs = 3
    logs: list[str] = []
    train(cfg, progress=False, log=logs.append)
    assert any("resuming after epoch 1" in line for line in logs)
    assert sum(line.startswith("epoch ") for line in logs) == 2
    for n, text in splits_before.items():
        assert (root / "model" / "splits" / f"{n}.csv").read_text() == text
    (root / "data" / "human" / "synth" / "late.flac").unlink()
    return root / "data", root / "model"


def test_training_writes_a_complete_calibrated_model(trained) -> None:
    data, model = trained
    for name in ("config.json", "model.safetensors", "training.json", "splits/train.csv", "splits/val.csv", "checkpoints/last.pt"):
        assert (model / name).is_file(), name
    cfg = load_config(model)
    assert cfg.trained
    assert 0 <= cfg.uncertain_low <= cfg.threshold <= cfg.uncertain_high <= 1
    assert [h["epoch"] for h in cfg.info["history"]] == [1, 2, 3]
    # splits are by group: no file name (group) in two splits
    groups = {}
    for split in ("train", "val", "test"):
        rows = list(csv.DictReader((model / "splits" / f"{split}.csv").open()))
        groups[split] = {r["group"] for r in rows}
    assert not (groups["train"] & groups["val"]) and not (groups["train"] & groups["test"])
    # the trained model scores like any other through the public API, without the untrained warning
    det = aiaudio.load_detector(model)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", aiaudio.UntrainedModelWarning)
        s = det.score(next((data / "ai" / "upsampler").iterdir()))
    assert "untrained_model" not in s.flags


def test_tiny_model_learns_the_upsampler_images(trained, tmp_path: Path) -> None:
    data, model = trained
    m = evaluate(model, [str(data)], tmp_path / "eval", conditions=["original", "gain_-10db"], num_workers=0, progress=False, log=lambda s: None)
    assert m["overall"]["auc"] >= 0.9
    assert m["robustness"][1]["condition"] == "gain_-10db"
    assert abs(m["robustness"][1]["delta_auc"]) < 0.05  # the front end ignores gain
    for name in ("metrics.json", "report.md", "roc.png", "hist.png", "reliability.png", "scores.csv"):
        assert (tmp_path / "eval" / name).stat().st_size > 100, name
    saved = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert saved["per_generator"][0]["generator"] == "upsampler"
    assert {(r["source"], r["label"]) for r in saved["per_source"]} == {("synth", "human"), ("upsampler", "ai")}
    # scores.csv keeps enough digits to recompute the rates at the threshold (bandwidth_check.py does)
    rows = list(csv.DictReader((tmp_path / "eval" / "scores.csv").open()))
    p = np.array([float(r["p_ai_gain_-10db"]) for r in rows])
    human = np.array([r["label"] == "0" for r in rows])
    assert float((p[~human] >= saved["threshold"]).mean()) == pytest.approx(saved["robustness"][1]["tpr_ai"])
    assert float((p[human] >= saved["threshold"]).mean()) == pytest.approx(saved["robustness"][1]["fpr_human"])


def test_calibrate_on_human_sets_the_threshold(trained, tmp_path: Path) -> None:
    data, model = trained
    r = calibrate_on_human(model, [str(data / "human")], tmp_path / "cal", target_fpr=0.0, log=lambda s: None)
    assert r["human_tracks"] == 6 and r["fpr_after"] == 0.0
    cfg = load_config(tmp_path / "cal")
    assert cfg.threshold == pytest.approx(r["new_threshold"])
    assert cfg.info["recalibrated"]["human_tracks"] == 6
    assert (tmp_path / "cal" / "model.safetensors").read_bytes() == (model / "model.safetensors").read_bytes()
    det = aiaudio.load_detector(tmp_path / "cal")
    ps = [det.score(f).p_ai for f in sorted((data / "human" / "synth").iterdir())]
    assert max(ps) < cfg.threshold
    assert math.isclose(max(ps), r["new_threshold"], rel_tol=1e-6) or max(ps) < r["new_threshold"]
    # a CSV manifest names the same tracks: its human rows are taken, its AI rows left out
    humans = sorted(f for f in (data / "human").rglob("*") if f.is_file())
    man = tmp_path / "split.csv"
    man.write_text("path,label\n" + "".join(f"{f},human\n" for f in humans)
                   + "".join(f"{f},ai\n" for f in sorted((data / "ai").rglob("*.flac"))))
    r2 = calibrate_on_human(model, [str(man)], tmp_path / "cal2", target_fpr=0.0, log=lambda s: None)
    assert r2["human_tracks"] == 6 and r2["new_threshold"] == r["new_threshold"]


def test_calibrate_on_human_holds_the_rate_under_each_condition(trained, tmp_path: Path) -> None:
    from aiaudio.training.augment import ROBUSTNESS_TRANSFORMS

    data, model = trained
    conds = ["mp3_64k", "opus_64k"]  # the tiny set is at 16 kHz: band limits would change nothing
    r = calibrate_on_human(model, [str(data / "human")], tmp_path / "cal", target_fpr=0.0, conditions=conds, log=lambda s: None)
    per = r["per_condition"]
    assert list(per) == ["original", *conds]
    assert r["new_threshold"] == max(v["threshold"] for v in per.values())
    assert all(v["fpr_after"] == 0.0 for v in per.values())
    cfg = load_config(tmp_path / "cal")
    assert cfg.threshold == r["new_threshold"] and cfg.info["recalibrated"]["conditions"] == conds
    # independently: every human track, as it is and after each transform, scores below the new threshold
    det = aiaudio.load_detector(tmp_path / "cal")
    files = sorted(f for f in (data / "human").rglob("*") if f.is_file())
    worst = {"original": max(det.score(f).p_ai for f in files)}
    for c in conds:
        worst[c] = max(det.score(*ROBUSTNESS_TRANSFORMS[c](*aiaudio.load_audio(f))).p_ai for f in files)
        assert worst[c] < cfg.threshold
    assert worst["original"] < cfg.threshold
    # without the conditions the threshold sits just above the originals' top score; it rises
    # exactly when a transformed track reaches that (here MP3 lifts the top human score a little)
    plain = calibrate_on_human(model, [str(data / "human")], tmp_path / "plain", target_fpr=0.0, log=lambda s: None)
    assert plain["new_threshold"] == per["original"]["threshold"]
    lifted = max(worst[c] for c in conds) >= plain["new_threshold"]
    assert (r["new_threshold"] > plain["new_threshold"]) == lifted
    with pytest.raises(ValueError, match="unknown conditions"):
        calibrate_on_human(model, [str(data / "human")], tmp_path / "x", conditions=["opus_1k"], log=lambda s: None)
    with pytest.raises(ValueError, match="give conditions too"):
        calibrate_on_human(model, [str(data / "human")], tmp_path / "x", excerpt_s=30, log=lambda s: None)


def test_train_config_nested_configs_are_typed() -> None:
    from aiaudio.training.augment import AugmentConfig
    from aiaudio.frontend import FrontendConfig
    from aiaudio.model import ArchConfig

    cfg = TrainConfig(augment={"p_codec": 0.0}, frontend={"sample_rate": 16000}, arch={"channels": [4, 8], "hidden": 8})
    assert isinstance(cfg.augment, AugmentConfig) and cfg.augment.p_codec == 0.0
    assert isinstance(cfg.frontend, FrontendConfig) and cfg.frontend.sample_rate == 16000
    assert isinstance(cfg.arch, ArchConfig) and cfg.arch.channels == (4, 8)
    again = TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))  # what training.json holds
    assert again == cfg
    assert TrainConfig(augment=None).to_dict()["augment"] is None


@pytest.mark.parametrize("nested", ["augment", "frontend", "arch"])
def test_train_config_refuses_unknown_nested_keys(nested: str) -> None:
    with pytest.raises(ValueError, match="unknown .* settings \\['bogus'\\]"):
        TrainConfig(**{nested: {"bogus": 1}})
    with pytest.raises(ValueError, match="unknown training settings"):
        TrainConfig.from_dict({"bogus": 1})


def test_evaluate_scores_a_file_exactly_as_aiaudio_score_does(trained, tmp_path: Path) -> None:
    """The calibration, threshold and metrics are fitted on the score users get: every segment.

    A 30 s song has 15 segments of this model's 2 s; the old evaluation scored 8 of them,
    and its song logit differed from ``aiaudio score``'s."""
    import subprocess
    import sys

    _, model = trained
    rng = np.random.default_rng(3)
    sr = 16000
    folder = tmp_path / "songs"
    b, a = signal.butter(4, 0.3)
    for kind, name in (("human/synth", "long.flac"), ("ai/upsampler", "long.flac")):
        x = rng.standard_normal(sr * 30)
        y = signal.lfilter(b, a, x) if kind.startswith("human") else signal.lfilter(np.hanning(9), 1, np.where(np.arange(x.size) % 4 == 0, x, 0))
        y = y * np.linspace(0.2, 1.0, y.size)  # segments differ: which 8 of 15 are scored matters
        (folder / kind).mkdir(parents=True, exist_ok=True)
        write_audio(folder / kind / name, (0.3 * y / np.abs(y).max()).astype(np.float32), sr)
    m = evaluate(model, [str(folder)], tmp_path / "eval", num_workers=0, progress=False, log=lambda s: None)
    assert m["max_segments"] is None
    rows = {r["path"]: float(r["p_ai_original"]) for r in csv.DictReader((tmp_path / "eval" / "scores.csv").open())}
    out = tmp_path / "scores.csv"
    subprocess.run([sys.executable, "-m", "aiaudio", "score", str(folder), "-r", "--model", str(model), "-o", str(out), "--no-progress"],
                   check=True, capture_output=True)
    cli = {r["path"]: float(r["p_ai"]) for r in csv.DictReader(out.open())}
    assert len(rows) == 2
    for path, p in rows.items():
        key = next(k for k in cli if Path(k).resolve() == Path(path).resolve())
        assert p == pytest.approx(cli[key], abs=1e-6)
    # the old way (8 evenly spread segments) is a different score on these songs
    old = evaluate(model, [str(folder)], tmp_path / "eval8", max_segments=8, num_workers=0, progress=False, log=lambda s: None)
    p8 = [float(r["p_ai_original"]) for r in csv.DictReader((tmp_path / "eval8" / "scores.csv").open())]
    assert old["max_segments"] == 8
    assert max(abs(a - b) for a, b in zip(p8, rows.values())) > 1e-4


def test_stratified_sample_keeps_every_stratum_and_its_share() -> None:
    from aiaudio.training.data import Item
    from aiaudio.training.evaluate import stratified_sample

    items = [Item(f"/x/{i}", 1 if i < 80 else 0, "g", f"g{i}", family=("suno" if i < 60 else "udio") if i < 80 else "human-commercial")
             for i in range(200)]
    s = stratified_sample(items, 50)
    fams = [it.family for it in s]
    assert fams.count("suno") == 15 and fams.count("udio") == 5 and fams.count("human-commercial") == 30
    assert stratified_sample(items, 50) == s  # seeded
    assert [items.index(it) for it in s] == sorted(items.index(it) for it in s)
    assert len(stratified_sample(items, 1)) == 3  # one per stratum at least


def test_evaluate_on_excerpts_scores_the_middle_of_each_song_in_every_condition(trained, tmp_path: Path) -> None:
    from aiaudio.audio import load_audio

    data, model = trained
    m = evaluate(model, [str(data)], tmp_path / "ex", conditions=["original", "gain_-10db"], excerpt_s=2.0,
                 num_workers=0, progress=False, log=lambda s: None)
    assert m["excerpt_s"] == 2.0
    rows = list(csv.DictReader((tmp_path / "ex" / "scores.csv").open()))
    det = aiaudio.load_detector(model)
    for r in rows[:3]:
        y, sr = load_audio(r["path"], offset=0.5, duration=2.0)  # the 3 s songs' middle 2 s
        assert float(r["p_ai_original"]) == pytest.approx(det.score(y, sr=sr).p_ai, abs=1e-6)
        assert float(r["p_ai_gain_-10db"]) == pytest.approx(float(r["p_ai_original"]), abs=0.05)
