"""Front end, model files and the Detector API."""

from __future__ import annotations

import json
import math
import pickle
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import aiaudio
from aiaudio.detector import default_model_dir
from aiaudio.frontend import Frontend, FrontendConfig, iter_segments, segment_audio, segment_starts
from aiaudio.model import AIMusicNet, Calibration, ModelConfig, load_model, save_model

from conftest import music_like

REPO = Path(__file__).resolve().parents[1]

# ------------------------------------------------------------------ front end


@pytest.mark.parametrize("hop_s", [4.0, 2.0, 1.5])
@pytest.mark.parametrize("n", [100, 32000, 64000, 64001, 100000, 200003])
def test_streamed_segments_equal_whole_segments(n: int, hop_s: float) -> None:
    cfg = FrontendConfig(segment_hop_s=hop_s)
    y = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    whole, starts_s = segment_audio(y, cfg)
    expected_starts = segment_starts(n, cfg)
    np.testing.assert_allclose(starts_s * cfg.sample_rate, expected_starts)
    for bs in (777, 16000, 10**6):
        pairs = list(iter_segments((y[i : i + bs] for i in range(0, n, bs)), cfg))
        assert [p[0] for p in pairs] == expected_starts
        np.testing.assert_array_equal(np.stack([p[1] for p in pairs]), whole)
    # every sample is covered by some segment
    if n >= cfg.segment_samples:
        assert expected_starts[0] == 0 and expected_starts[-1] + cfg.segment_samples == n


def test_short_input_wraps_to_one_segment() -> None:
    cfg = FrontendConfig()
    y = np.arange(40000, dtype=np.float32)
    seg, starts = segment_audio(y, cfg)
    assert seg.shape == (1, cfg.segment_samples)
    np.testing.assert_array_equal(seg[0, 40000:], y[: cfg.segment_samples - 40000])


def test_frontend_shape_and_gain_invariance() -> None:
    cfg = FrontendConfig()
    fe = Frontend(cfg)
    x = torch.from_numpy(music_like(4.0, 16000, 1))
    out = fe(x)
    assert out.shape == (1, 1, cfg.n_bins, cfg.n_frames)
    assert cfg.n_bins == 513 and cfg.n_frames == 247
    louder = fe(x * 0.25)  # -12 dB: the normalised spectrogram does not change
    torch.testing.assert_close(out, louder, atol=1e-4, rtol=0)


def test_frontend_band_selection() -> None:
    cfg = FrontendConfig(fmin_hz=1000, fmax_hz=4000)
    lo, hi = cfg.bin_range
    assert lo == 64 and hi == 257  # 15.625 Hz bins
    assert Frontend(cfg)(torch.zeros(2, cfg.segment_samples)).shape[2] == hi - lo


def test_frontend_config_validation() -> None:
    with pytest.raises(ValueError):
        FrontendConfig(min_duration_s=5.0)
    with pytest.raises(ValueError):
        FrontendConfig.from_dict({"sample_rate": 16000, "nonsense": 1})


# ------------------------------------------------------------------ model files


def test_model_roundtrip(tmp_path: Path) -> None:
    torch.manual_seed(3)
    cfg = ModelConfig(name="t", version="1.2.3", trained=True, calibration=Calibration(a=2.0, b=-0.5), threshold=0.7, uncertain_low=0.6, uncertain_high=0.8)
    m = AIMusicNet(cfg).eval()
    save_model(m, tmp_path / "m")
    m2 = load_model(tmp_path / "m")
    assert m2.config == cfg
    x = torch.randn(3, cfg.frontend.segment_samples)
    with torch.no_grad():
        torch.testing.assert_close(m(x), m2(x))
    assert not list((tmp_path / "m").glob("*.tmp"))


def test_model_size_within_target() -> None:
    m = AIMusicNet(ModelConfig())
    assert m.n_parameters() < 2_000_000


def test_model_load_never_unpickles(tmp_path: Path) -> None:
    d = tmp_path / "evil"
    shutil.copytree(default_model_dir(), d)

    class Boom:
        def __reduce__(self):
            return (Path.touch, (tmp_path / "pwned",))

    (d / "model.safetensors").write_bytes(pickle.dumps(Boom()))
    with pytest.raises(aiaudio.ModelLoadError, match="safetensors"):
        aiaudio.load_detector(d)
    assert not (tmp_path / "pwned").exists()


def test_model_load_errors(tmp_path: Path) -> None:
    with pytest.raises(aiaudio.ModelLoadError, match="no model directory"):
        aiaudio.load_detector(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(aiaudio.ModelLoadError, match="config.json"):
        aiaudio.load_detector(tmp_path / "empty")
    d = tmp_path / "bad"
    shutil.copytree(default_model_dir(), d)
    cfg = json.loads((d / "config.json").read_text())
    cfg["arch"]["hidden"] = 17  # weights no longer fit
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(aiaudio.ModelLoadError, match="do not match"):
        aiaudio.load_detector(d)
    cfg["format_version"] = 99
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(aiaudio.ModelLoadError, match="format_version"):
        aiaudio.load_detector(d)


def test_shipped_default_model_is_honestly_marked() -> None:
    cfg = json.loads((default_model_dir() / "config.json").read_text())
    det = aiaudio.load_detector()
    assert det.config.trained == cfg["trained"]
    if not cfg["trained"]:
        with pytest.warns(aiaudio.UntrainedModelWarning, match="UNTRAINED"):
            s = det.score(music_like(3.0, 16000, 1), sr=16000)
        assert "untrained_model" in s.flags
    else:  # a trained model scores silently, and its card says what it was trained and measured on
        with warnings.catch_warnings():
            warnings.simplefilter("error", aiaudio.UntrainedModelWarning)
            s = det.score(music_like(3.0, 16000, 1), sr=16000)
        assert "untrained_model" not in s.flags
        card = (default_model_dir() / "MODEL_CARD.md").read_text()
        assert "placeholder" not in card.lower().split("\n")[0]
        assert cfg["info"]["training"] and 0.0 < cfg["threshold"] < 1.0
        assert cfg["uncertain_low"] <= cfg["threshold"] <= cfg["uncertain_high"]


def test_placeholder_model_warns(tmp_path: Path) -> None:
    """A model marked ``"trained": false`` warns on every use and flags its scores."""
    d = tmp_path / "placeholder"
    subprocess.run([sys.executable, str(REPO / "scripts" / "make_placeholder_model.py"), str(d)], check=True, capture_output=True)
    det = aiaudio.load_detector(d)
    assert not det.config.trained
    with pytest.warns(aiaudio.UntrainedModelWarning, match="UNTRAINED"):
        s = det.score(music_like(3.0, 16000, 1), sr=16000)
    assert "untrained_model" in s.flags


# ------------------------------------------------------------------ scoring


def test_score_fields_and_consistency(detector: aiaudio.Detector, quiet_untrained) -> None:
    y = music_like(10.0, 44100, 2)
    s = detector.score(y, sr=44100)
    c = detector.config
    t, p = c.threshold, s.p_ai
    assert s.label == ("uncertain" if c.uncertain_low <= p < c.uncertain_high else "ai" if p >= t else "human")
    # confidence: the probability of the verdict's side, times sqrt(n / 8) for n = 3 segments
    assert s.confidence == pytest.approx((p if p >= t else 1 - p) * math.sqrt(3 / 8), abs=1e-12)
    assert math.isclose(s.duration_s, 10.0, abs_tol=1e-3)
    # 4 s segments, 4 s apart, plus one covering the tail
    assert [round(g.start_s, 3) for g in s.segments] == [0.0, 4.0, 6.0]
    assert s.segments[-1].end_s == pytest.approx(10.0)
    # song score = calibration of the mean segment logit; each segment's p_ai is its own logit calibrated
    seg_logits = [g.logit for g in s.segments]
    assert s.logit == pytest.approx(np.mean(seg_logits), abs=1e-12)
    cal = detector.config.calibration
    assert s.p_ai == pytest.approx(1 / (1 + math.exp(-(cal.a * np.mean(seg_logits) + cal.b))), abs=1e-9)
    for g in s.segments:
        assert g.p_ai == pytest.approx(detector.calibrate(g.logit), abs=1e-12)
    d = s.to_dict()
    json.dumps(d)
    assert set(d) >= {"p_ai", "label", "confidence", "segments", "cues", "model_version", "duration_s", "flags"}


def test_file_and_array_give_the_same_score(tmp_path: Path, detector: aiaudio.Detector, quiet_untrained) -> None:
    y = music_like(9.0, 44100, 2)
    p = tmp_path / "x.wav"
    sf.write(p, y.T, 44100, subtype="FLOAT")
    a = detector.score(y, sr=44100)
    f = detector.score(p)
    assert f.path == str(p)
    assert abs(a.p_ai - f.p_ai) < 1e-5
    assert len(a.segments) == len(f.segments)


def test_scores_deterministic_across_runs_and_batch_sizes(detector: aiaudio.Detector, quiet_untrained) -> None:
    y = music_like(20.0, 22050, 1)
    ref = detector.score(y, sr=22050)
    again = detector.score(y, sr=22050)
    assert ref.p_ai == again.p_ai
    for bs in (1, 3, 64):
        other = aiaudio.Detector(detector.model, batch_size=bs).score(y, sr=22050)
        assert abs(other.p_ai - ref.p_ai) < 1e-5
        np.testing.assert_allclose([g.p_ai for g in other.segments], [g.p_ai for g in ref.segments], atol=1e-5)


@pytest.mark.parametrize("n", [1, 4, 5, 11])
def test_inference_copy_gives_the_plain_models_logits(n: int) -> None:
    """The tuned CPU copy (folded batch norms, channels-last, front end in chunks) changes no logit.
    (The ONNX backend's logits: tests/test_runtime.py.)"""
    detector = aiaudio.load_detector(backend="torch")
    fe = detector.config.frontend
    segs = np.stack([music_like(fe.segment_s, fe.sample_rate, 1, seed).reshape(-1) for seed in range(n)]).astype(np.float32)
    fast = detector.segment_logits(segs, batch_size=n)
    with torch.inference_mode():
        plain = detector.model(torch.from_numpy(segs)).double().numpy()
    assert detector._inference_net() is not detector.model
    np.testing.assert_allclose(fast, plain, atol=1e-5, rtol=0)


def test_label_and_confidence_rules(detector: aiaudio.Detector) -> None:
    c = detector.config
    t, lo, hi = c.threshold, c.uncertain_low, c.uncertain_high
    assert detector.label_for(1.0) == ("ai", 1.0)
    assert detector.label_for(0.0) == ("human", 1.0)
    assert detector.label_for(t)[1] == pytest.approx(t)  # at the threshold: the calibrated chance it is AI
    if lo < hi:
        assert detector.label_for((lo + hi) / 2)[0] == "uncertain"
    assert detector.label_for(min(1.0, hi + 1e-6))[0] == "ai"
    assert detector.label_for(max(0.0, lo - 1e-6))[0] == "human"


@pytest.mark.parametrize("t", [0.5, 0.9839576674092755, 0.2])
def test_confidence_is_monotonic_on_each_side_and_lower_for_short_clips(t: float) -> None:
    from aiaudio.detector import confidence_for

    above = np.linspace(t, 1.0, 41)
    below = np.linspace(t - 1e-9, 0.0, 41)  # moving away from the threshold on the "human" side
    for n in (1, 3, 8, 40):
        for side in (above, below):
            c = [confidence_for(float(p), t, n_segments=n) for p in side]
            assert all(b >= a for a, b in zip(c, c[1:])) and c[-1] > c[0]  # surer -> higher
            assert all(0.0 <= x <= 1.0 for x in c)
    # a surer "AI" verdict reads higher than a less sure "human" one (the example)
    assert confidence_for(0.991, 0.9839576674092755) > confidence_for(0.24, 0.9839576674092755)
    for p in np.linspace(0, 1, 21):
        full = confidence_for(float(p), t, n_segments=8)
        assert confidence_for(float(p), t, n_segments=3) < full or full == 0.0  # a 10 s clip: less sure
        assert confidence_for(float(p), t, n_segments=1) < confidence_for(float(p), t, n_segments=3) or full == 0.0
        assert confidence_for(float(p), t, n_segments=8, cutoff_hz=7000.0, model_top_hz=8000.0) <= 0.5 * full + 1e-12
        assert confidence_for(float(p), t, n_segments=8, cutoff_hz=11000.0, model_top_hz=8000.0) <= 0.8 * full + 1e-12


def test_verdict_reason_and_where_to_listen(detector: aiaudio.Detector, quiet_untrained) -> None:
    from aiaudio.detector import VERDICTS

    y = music_like(40.0, 22050, 1)
    long, short = detector.score(y, sr=22050), detector.score(y[:, : 22050 * 10], sr=22050)
    for s in (long, short):
        assert s.verdict in VERDICTS and s.reason.endswith(".") and 0 <= s.listen_start_s < s.listen_end_s <= s.duration_s
        top = max(s.segments, key=lambda g: g.p_ai)
        assert s.listen_start_s <= top.start_s and top.end_s <= s.listen_end_s  # the most AI-like segment is in it
        assert s.to_dict()["verdict"] == s.verdict
    assert short.confidence < long.confidence or long.confidence == 0.0
    # the tier follows the model's own bands (untrained flag aside)
    c = detector.config
    from aiaudio.detector import _verdict

    for p, want in ((min(1.0, c.threshold + 1e-6), "Likely AI"), (max(0.0, c.uncertain_low - 1e-6), "No AI signal found")):
        label, _ = detector.label_for(p)
        assert _verdict(label, p, c, [], (0.0, 4.0), 10)[0] == want
    if c.uncertain_low < c.uncertain_high:
        label, _ = detector.label_for((c.uncertain_low + c.uncertain_high) / 2)
        assert _verdict(label, 0.9, c, [], (0.0, 4.0), 10)[0] == "Needs review"
    assert _verdict("ai", 0.99, c, ["untrained_model"], (0.0, 4.0), 10)[0] == "Needs review"


def test_too_short_clip_is_a_typed_error(detector: aiaudio.Detector, quiet_untrained) -> None:
    with pytest.raises(aiaudio.ClipTooShortError, match="at least"):
        detector.score(music_like(1.0, 16000, 1), sr=16000)
    s = detector.score(music_like(2.5, 16000, 1), sr=16000)  # between min and one segment: wrapped
    assert "shorter_than_segment" in s.flags and len(s.segments) == 1


def test_silence_is_scored_and_flagged(detector: aiaudio.Detector, quiet_untrained) -> None:
    s = detector.score(np.zeros((2, 44100 * 5), dtype=np.float32), sr=44100)
    assert "silent" in s.flags
    # silence makes a flat spectrogram, all zeros once normalised: its score is the CNN's on zeros
    fe = detector.config.frontend
    with torch.inference_mode():
        flat = float(detector.model.cnn(torch.zeros(1, 1, fe.n_bins, fe.n_frames)).item())
    assert s.logit == pytest.approx(flat, abs=1e-5) and s.p_ai == pytest.approx(detector.calibrate(flat), abs=1e-6)
    assert "silent" not in detector.score(music_like(5.0), sr=44100).flags


def test_array_without_rate_is_refused(detector: aiaudio.Detector) -> None:
    with pytest.raises(TypeError, match="sample rate"):
        detector.score(np.zeros(64000, dtype=np.float32))


def test_top_level_score_shortcut(tmp_path: Path, quiet_untrained) -> None:
    p = tmp_path / "x.flac"
    sf.write(p, music_like(5.0, 44100, 2).T, 44100)
    s = aiaudio.score(str(p))
    assert isinstance(s, aiaudio.Score) and s.path == str(p)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(
    arr=hnp.arrays(
        dtype=st.sampled_from([np.float32, np.float64]),
        shape=st.tuples(st.integers(1, 3), st.integers(0, 40000)),
        elements=st.floats(-2, 2, width=32) | st.sampled_from([np.nan, np.inf, -np.inf, 0.0]),
        fill=st.just(0.0),
    ),
    sr=st.sampled_from([8000, 16000, 44100]),
)
@example(arr=music_like(5.0, 8000, 2), sr=8000)  # two segments that differ, so the aggregation rule shows
def test_arbitrary_arrays_score_or_raise_audio_load_error(detector: aiaudio.Detector, arr: np.ndarray, sr: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", aiaudio.UntrainedModelWarning)
        try:
            s = detector.score(arr, sr=sr)
        except aiaudio.AudioLoadError:
            return
    assert math.isfinite(s.p_ai) and all(math.isfinite(g.logit) for g in s.segments)
    assert s.p_ai == pytest.approx(detector.calibrate(float(np.mean([g.logit for g in s.segments]))), abs=1e-9)
    assert s.duration_s >= detector.config.frontend.min_duration_s - 1e-3


def test_public_api_exports() -> None:
    import aiaudio.cues

    assert aiaudio.extract_cues is aiaudio.cues.extract_cues  # imported lazily on first use
    for name in aiaudio.__all__:
        assert hasattr(aiaudio, name), name
