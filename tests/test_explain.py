"""Explanations: consistent with the score, measured on the model, drawn and reported.

Models here are tiny and made in the test: a random small SpecCNN (for consistency and
output checks) and a hand-built "peak detector" CNN whose answer is known (a comb of
steady narrow spectral lines means "AI"), so the direction of every effect can be checked.
"""

from __future__ import annotations

import csv
import json
import math
import re
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import aiaudio
from aiaudio.audio import write_audio
from aiaudio.cli import main
from aiaudio.cues import crest_factor_db, cutoff_frequency, extract_cues, integrated_loudness, shimmer, upsampler_peaks
from aiaudio.detector import Detector
from aiaudio.explain import INTERVENTIONS, explain, human_median, neutralise
from aiaudio.model import AIMusicNet, ModelConfig, save_model

from conftest import music_like

SMALL_FE = dict(sample_rate=8000, n_fft=256, hop_length=128, fmax_hz=4000.0, segment_s=2.0, segment_hop_s=2.0, min_duration_s=1.0)
SMALL_ARCH = dict(channels=[4, 8], hidden=8, dropout=0.0)
COMB_HZ = (2600.0, 2750.0, 2900.0)


def _config(trained: bool) -> ModelConfig:
    return ModelConfig.from_dict(
        {"format_version": 1, "name": "tiny", "version": "0.0.1", "trained": trained, "frontend": SMALL_FE, "arch": SMALL_ARCH}
    )


def _random_detector(trained: bool = False) -> Detector:
    torch.manual_seed(0)
    return Detector(AIMusicNet(_config(trained)), batch_size=8)


class PeakCNN(nn.Module):
    """Logit from the height of the 3 highest narrow lines of the time-averaged spectrogram.

    ``profile`` = mean over time of the normalised log spectrogram (dB / 20); excess =
    profile minus its running median over 31 bins; logit = 10 * (mean of the top 3
    excesses - 0.45). White noise gives about -4, steady lines 20 dB above it about +5.
    """

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Identity()  # what the detector's inference copy expects of a CNN

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        prof = spec.mean(dim=3)[:, 0]  # (B, F)
        pad = torch.nn.functional.pad(prof[:, None], (15, 15), mode="reflect")[:, 0]
        base = pad.unfold(1, 31, 1).median(dim=-1).values
        top = (prof - base).topk(3, dim=1).values.mean(dim=1)
        return 10.0 * (top - 0.45)


@pytest.fixture(scope="module")
def peak_detector() -> Detector:
    det = Detector(AIMusicNet(_config(True)), batch_size=16)
    det.model.cnn = PeakCNN()
    return det


def _noise_with_comb(seconds: float, comb_from: float, comb_to: float, sr: int = 16000, seed: int = 0) -> np.ndarray:
    """Stereo white noise with steady lines at COMB_HZ between comb_from and comb_to (s)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    y = 0.1 * rng.standard_normal((2, n))
    gate = ((t >= comb_from) & (t < comb_to)).astype(float)
    for f in COMB_HZ:
        y += 0.1 * gate * np.sin(2 * np.pi * f * t)
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


# ------------------------------------------------------------------ consistency with the score


@pytest.fixture(scope="module")
def random_explanation():
    det = _random_detector(trained=False)
    y = music_like(9.0, 44100, 2, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", aiaudio.UntrainedModelWarning)
        ex = explain(det, y, 44100, occlusion_bands=8, max_occlusion_passes=27)
        s = det.score(y, 44100, cues=True)
    return det, y, ex, s


def test_explanation_matches_the_score_and_the_aggregation_rule(random_explanation) -> None:
    det, _, ex, s = random_explanation
    assert ex.p_ai == s.p_ai and ex.logit == s.logit and ex.label == s.label and ex.confidence == s.confidence
    assert ex.verdict == s.verdict == "Needs review" and ex.reason == s.reason  # an untrained model decides nothing
    assert [(p.start_s, p.end_s, p.p_ai) for p in ex.timeline] == [(g.start_s, g.end_s, g.p_ai) for g in s.segments]
    logits = np.array([p.logit for p in ex.timeline])
    assert float(np.mean(logits)) == pytest.approx(ex.logit, abs=1e-12)  # song logit = mean of segment logits
    assert det.calibrate(float(np.mean(logits))) == pytest.approx(ex.p_ai, abs=1e-12)
    for p in ex.timeline:
        assert det.calibrate(p.logit) == pytest.approx(p.p_ai, abs=1e-12)
    assert ex.flags == s.flags and "untrained_model" in ex.flags


def test_explanation_fields_exist_and_are_json_safe(random_explanation) -> None:
    _, _, ex, _ = random_explanation
    assert [c.name for c in ex.cues] == list(aiaudio.cues.CUE_NAMES)
    assert all(0 <= c.percentile <= 100 and math.isfinite(c.value) for c in ex.cues)
    assert [e.name for e in ex.effects] == list(INTERVENTIONS)
    for e in ex.effects:
        if e.measured:
            assert math.isfinite(e.delta_p_ai) and e.delta_p_ai == pytest.approx(e.p_ai_after - e.p_ai_before)
            assert set(e.cue_before) == set(e.cue_after) == set(INTERVENTIONS[e.name].cues)
            assert e.direction in ("toward_human_median", "away_from_human_median", "unchanged")
            assert e.operation
        else:
            assert e.reason and math.isnan(e.delta_p_ai)
    for c in ex.cues:  # every cue either points at a measured effect or says why not
        assert (c.intervention is not None and ex.effect(c.intervention).measured) or c.not_measured_reason
    sal = ex.saliency
    assert sal.method == "occlusion" and sal.delta_logit.shape == (8, len(sal.col_start_s))
    assert np.isfinite(sal.delta_logit).all() and sal.n_passes <= 27
    assert len(sal.band_edges_hz) == 9 and sal.band_edges_hz[0] == 0.0 and sal.band_edges_hz[-1] == pytest.approx(4000.0)
    pk = ex.peaks
    assert pk.freqs_hz.shape == pk.residual_db.shape and pk.freqs_hz.size > 100
    d = json.loads(json.dumps(ex.to_dict(), allow_nan=False))
    assert d["p_ai"] == pytest.approx(ex.p_ai) and len(d["timeline"]) == len(ex.timeline)
    assert len(d["saliency"]["band_importance"]) == 8 and "summary" in d
    assert set(ex.timings) >= {"decode_s", "score_s", "cues_s", "saliency_s", "interventions_s", "total_s"}


def test_summary_is_built_from_measured_values(random_explanation) -> None:
    _, _, ex, _ = random_explanation
    s = ex.summary
    assert f"p_ai = {ex.p_ai:.2f}" in s and ex.label in s
    assert "UNTRAINED" in s and "The evidence is weak" in s
    assert "short clips" in s and "rests on only 9.0 s" in s  # what would lower confidence, and that it applies
    assert "loudness itself has no effect (measured)" in s  # gain invariance, from the measured effect
    assert "stereo image has no effect (measured)" in s
    assert "not evidence for this score" in s or "not counted as evidence" in s or "Outside the usual human range" not in s
    head, details = s.split("\n\nDetails: ")  # two layers: plain sentences first, then the detail
    assert head == ex.headline and details == ex.details and head.startswith(f"{ex.verdict} (confidence {ex.confidence:.2f}).")
    assert 1 <= head.count(". ") + 1 <= 3 and "logit" not in head and "occlusion" not in head


def test_file_input_equals_scoring_the_file(tmp_path) -> None:
    det = _random_detector(trained=True)
    f = tmp_path / "clip.flac"
    write_audio(f, music_like(5.0, 22050, 1, seed=4), 22050)
    ex = det.explain(f, interventions=False, saliency=False)
    s = det.score(f)
    assert ex.path == str(f) and ex.p_ai == s.p_ai and len(ex.timeline) == len(s.segments)
    assert ex.effects == [] and ex.saliency is None and all(c.intervention is None for c in ex.cues)
    assert "UNTRAINED" not in ex.summary


# ------------------------------------------------------------------ faithful to a model with a known answer


def test_timeline_shows_the_ai_section_of_a_human_song(peak_detector) -> None:
    y = _noise_with_comb(20.0, 8.0, 14.0)  # "human" noise with an "AI" section at 8-14 s
    ex = explain(peak_detector, y, 16000, cues=False, saliency=False)
    hot = [p for p in ex.timeline if p.p_ai >= ex.threshold]
    assert [(p.start_s, p.end_s) for p in hot] == [(8.0, 10.0), (10.0, 12.0), (12.0, 14.0)]
    assert ex.label == "human"  # the song as a whole is not flagged ...
    assert "3 of 10 segments score at or above the threshold although the whole track does not (0:08-0:14)" in ex.summary


def test_neutralising_the_strongest_cue_moves_p_ai_in_the_stated_direction(peak_detector) -> None:
    y = _noise_with_comb(16.0, 0.0, 16.0)
    ex = explain(peak_detector, y, 16000, occlusion_bands=8, max_occlusion_passes=64)
    assert ex.label == "ai"
    top = ex.strongest_effect()
    assert top.name == "upsampler_peaks" and top.delta_p_ai < -0.5
    assert "removing the narrow spectral peaks" in ex.summary and f"lowered it by {abs(top.delta_p_ai):.2f}" in ex.summary
    # the plain layer names the strongest measured reason; the cue is called evidence because its effect says so
    assert ex.headline.startswith("Likely AI") and "Strongest measured reason: removing the narrow spectral peaks" in ex.headline
    assert ex.cue("upsampler_peak_db").percentile >= 95
    assert f'narrow spectral peaks (upsampler trace) (dB) {ex.cue("upsampler_peak_db").value:.4g}' in ex.details
    assert 'evidence for "AI": removing the narrow spectral peaks lowered p_ai' in ex.details
    # the intervention did what it says: the peaks are gone from the cue
    assert top.cue_before["upsampler_peak_db"] > 10 and top.cue_after["upsampler_peak_db"] < top.cue_before["upsampler_peak_db"] / 2
    # and doing it again, independently, moves the score the same way by the same amount
    assert top.excerpt_start_s == 0.0 and top.excerpt_end_s == 16.0
    variants, _ = neutralise("upsampler_peaks", y, 16000, peaks=upsampler_peaks(y, 16000))
    before, after = peak_detector.score(y, 16000).p_ai, peak_detector.score(variants[0][1], 16000).p_ai
    assert before == pytest.approx(top.p_ai_before) and after == pytest.approx(top.p_ai_after)
    assert after < before
    # the model normalises gain and hears a mono down-mix: measured, not asserted
    assert abs(ex.effect("loudness").delta_p_ai) < 1e-4
    st = ex.effect("stereo")
    assert st.measured and st.delta_p_ai == 0.0 and {v["label"] for v in st.variants} == {"mono", "swap"}
    # occlusion points at the band that holds the lines
    sal = ex.saliency
    band = int(np.searchsorted(sal.band_edges_hz, COMB_HZ[1]) - 1)
    assert int(np.argmax(sal.band_importance)) == band and sal.band_importance[band] > 1.0


# ------------------------------------------------------------------ saliency: a known band, checked on the audio


BAND = 9  # of 16 occlusion bands of SMALL_FE's 129 bins: bins 73-80, 2281-2531 Hz


def _band_bins(n_bins: int = 129, n_bands: int = 16, band: int = BAND) -> tuple[int, int]:
    a = np.array_split(np.arange(n_bins), n_bands)[band]
    return int(a[0]), int(a[-1]) + 1


class BandCNN(nn.Module):
    """Logit from the level of one known band: 8 x (its mean normalised log power - 0.4) + offset.

    White noise gives about -3.2, the band 20 dB above the rest about +4.3.
    """

    def __init__(self, offset: float = 0.0) -> None:
        super().__init__()
        self.features = nn.Identity()
        self.offset = offset
        self.bins = _band_bins()

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        b0, b1 = self.bins
        return 8.0 * (spec[:, 0, b0:b1, :].mean(dim=(1, 2)) - 0.4) + self.offset


def _band_detector(offset: float = 0.0) -> Detector:
    det = Detector(AIMusicNet(_config(True)), batch_size=32)
    det.model.cnn = BandCNN(offset)
    return det


def _white(seconds: float, seed: int, sr: int = 8000) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal((1, int(seconds * sr)))).astype(np.float32)


def _boosted(seconds: float, seed: int, sr: int = 8000, db: float = 20.0) -> np.ndarray:
    """White noise with the known band 20 dB louder than the rest."""
    import scipy.signal

    y = _white(seconds, seed, sr)
    lo, hi = (b * sr / 256 for b in _band_bins())
    sos = scipy.signal.butter(8, [lo + 20, hi - 20], btype="bandpass", output="sos", fs=sr)
    extra = scipy.signal.sosfiltfilt(sos, np.random.default_rng(seed + 100).standard_normal(y.shape), axis=-1)
    extra *= 0.1 * 10 ** (db / 20) / extra.std() * math.sqrt((hi - lo) / (sr / 2))
    return (0.5 * (y + extra) / np.abs(y + extra).max()).astype(np.float32)


def _white_reference(det: Detector):
    from aiaudio.explain import build_saliency_reference

    return build_saliency_reference(det, [(_white(8.0, s), 8000) for s in range(5)])


@pytest.fixture(scope="module")
def band_detector():
    det = _band_detector()
    return det, _white_reference(det)


def test_the_band_the_model_uses_is_named_and_filtering_it_moves_p_ai(band_detector) -> None:
    from aiaudio.explain import filter_band

    det, ref = band_detector
    y = _boosted(12.0, seed=1)
    ex = explain(det, y, 8000, cues=False, saliency_reference=ref)
    sal = ex.saliency
    assert sal.baseline == "human_reference_spectrum" and ex.p_ai > 0.9
    assert sal.ai_band == BAND and sal.human_band is None
    c = sal.check(BAND)
    assert c.side == "ai" and c.agrees and c.delta_p_ai <= -0.05
    assert f"{_band_bins()[0] * 8000 / 256 / 1000:.1f}-" in ex.summary and "toward \"AI\"" in ex.summary
    # the stated effect, redone by hand: filter that band out of the audio and score it again
    y2, _ = filter_band(y, 8000, sal.band_edges_hz[BAND], sal.band_edges_hz[BAND + 1])
    before, after = det.score(y, 8000).p_ai, det.score(y2, 8000).p_ai
    assert before - after >= 0.05 and after == pytest.approx(c.p_ai_after, abs=1e-9)
    # every other band's occlusion effect is within the human range: not a candidate
    assert [k.band for k in sal.checks] == [BAND]


def test_human_like_audio_names_no_band(band_detector) -> None:
    det, ref = band_detector
    ex = explain(det, _white(12.0, seed=11), 8000, cues=False, saliency_reference=ref)
    assert ex.p_ai < 0.2 and ex.saliency.ai_band is None and ex.saliency.human_band is None
    assert "No band stands out" in ex.summary


def test_a_band_is_not_named_when_filtering_it_does_not_move_p_ai() -> None:
    det = _band_detector(offset=60.0)  # the logit still follows the band, p_ai is stuck at 1
    ref = _white_reference(det)
    ex = explain(det, _boosted(12.0, seed=1), 8000, cues=False, saliency_reference=ref)
    sal = ex.saliency
    assert sal.band_importance[BAND] > 1.0  # the occlusion alone would point at it ...
    assert sal.check(BAND) is not None and not sal.check(BAND).agrees  # ... the audio does not agree
    assert sal.ai_band is None and "No band stands out" in ex.summary and "did not move p_ai" in ex.summary


def test_without_a_reference_no_band_is_named(band_detector) -> None:
    det, _ = band_detector
    ex = explain(det, _boosted(12.0, seed=1), 8000, cues=False)
    sal = ex.saliency
    assert sal.baseline == "band_level" and sal.human_median is None and sal.ai_band is None
    assert "no saliency reference" in ex.summary


def test_saliency_reference_round_trips_and_is_tied_to_the_model(band_detector, tmp_path) -> None:
    from aiaudio.explain import SaliencyReference, load_saliency_reference, model_fingerprint

    det, ref = band_detector
    assert ref.fingerprint == model_fingerprint(det) and ref.n_tracks == 5 and ref.fill_profile.shape == (129,)
    det.model_dir = tmp_path
    ref.save(tmp_path / "saliency_reference.json")
    back = load_saliency_reference(det)
    assert back is not None and np.allclose(back.importance_p95, ref.importance_p95, rtol=1e-4, atol=1e-6)
    other = _random_detector(trained=True)
    other.model_dir = tmp_path
    assert load_saliency_reference(other) is None  # another model's weights: not used
    assert SaliencyReference.from_dict(json.loads(json.dumps(ref.to_dict()))).n_bands == 16


# ------------------------------------------------------------------ the interventions do what they say


def test_interventions_move_their_cue_toward_the_stated_value() -> None:
    sr = 44100
    rng = np.random.default_rng(1)
    y = music_like(12.0, sr, 2, seed=5)
    cues = extract_cues(y, sr)
    # loudness: to the human median
    (label, y2, op), = neutralise("loudness", y, sr, cues=cues)[0]
    assert integrated_loudness(y2, sr) == pytest.approx(human_median("integrated_loudness_lufs"), abs=0.3)
    # dynamics: a limited (low crest) signal is expanded toward the human median crest factor
    from aiaudio.training.augment import compress

    lim = compress(y, sr, threshold_db=-30, ratio=np.inf)
    c0 = crest_factor_db(lim)
    (label, y2, op), = neutralise("dynamics", lim, sr)[0]
    assert label == "expand" and abs(crest_factor_db(y2) - human_median("crest_factor_db")) < abs(c0 - human_median("crest_factor_db"))
    # bandwidth: a full-band track is low-passed at the human median cut-off
    noise = (0.1 * rng.standard_normal((1, sr * 6))).astype(np.float32)
    (label, y2, op), = neutralise("bandwidth", noise, sr)[0]
    assert cutoff_frequency(y2, sr) == pytest.approx(human_median("cutoff_hz"), rel=0.05)
    # shimmer: partials with level flutter are steadied
    n = sr * 12
    t = np.arange(n) / sr
    fl = np.zeros(n)
    for f in (2200.0, 3300.0, 4400.0, 5500.0):
        lv = rng.normal(0, 4, n // 512 + 2)
        fl += 10 ** (np.interp(np.arange(n) / 512, np.arange(lv.size), lv) / 20) * np.sin(2 * np.pi * f * t)
    fl = (0.3 * fl / np.abs(fl).max() + 0.003 * rng.standard_normal(n)).astype(np.float32)
    (label, y2, op), = neutralise("shimmer", fl, sr)[0]
    assert shimmer(y2, sr).shimmer_db < 0.75 * shimmer(fl, sr).shimmer_db
    # stereo: mono input cannot be changed; says so
    variants, reason = neutralise("stereo", y[:1], sr, cues=cues)
    assert variants == [] and "mono" in reason
    # upsampler peaks: nothing detected, nothing invented
    variants, reason = neutralise("upsampler_peaks", noise, sr)
    assert variants == [] and "no narrow peaks" in reason


# ------------------------------------------------------------------ outputs: PNG, CLI, HTML


def test_plot_is_a_readable_nontrivial_png(random_explanation, tmp_path) -> None:
    import matplotlib.image

    _, _, ex, _ = random_explanation
    out = ex.plot(tmp_path / "ex.png")
    assert out.is_file() and out.stat().st_size > 60_000
    img = matplotlib.image.imread(str(out))
    assert img.shape[0] > 1500 and img.shape[1] > 1200
    assert float(img[..., :3].std()) > 0.05  # not a blank page
    assert len(np.unique((img[..., :3] * 255).astype(np.uint8).reshape(-1, 3)[::97], axis=0)) > 50


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("model")
    torch.manual_seed(0)
    save_model(AIMusicNet(_config(True)), d / "tiny")
    return d / "tiny"


def test_cli_explain_writes_plot_and_json(tiny_model_dir, tmp_path, capsys) -> None:
    f = tmp_path / "song.wav"
    write_audio(f, music_like(6.0, 22050, 2, seed=6), 22050)
    png, js = tmp_path / "out" / "song.png", tmp_path / "out" / "song.json"
    rc = main(["explain", str(f), "--plot", str(png), "--json", str(js), "-m", str(tiny_model_dir), "--max-occlusion-passes", "20"])
    assert rc == 0
    out = capsys.readouterr().out
    d = json.loads(js.read_text())
    assert png.stat().st_size > 60_000 and d["path"] == str(f) and f"p_ai = {d['p_ai']:.2f}" in out
    assert main(["explain", str(tmp_path / "missing.wav")]) == 2
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio")
    assert main(["explain", str(bad), "-m", str(tiny_model_dir)]) == 2  # a bad input file, as `score` says


def test_cli_explain_batch_out_dir_and_json_lines(tiny_model_dir, tmp_path, capsys) -> None:
    from aiaudio.report import plot_names

    a, b = tmp_path / "a.wav", tmp_path / "other" / "a.wav"  # the same stem in two folders
    b.parent.mkdir()
    write_audio(a, music_like(5.0, 22050, 1, seed=21), 22050)
    write_audio(b, music_like(5.0, 22050, 2, seed=22), 22050)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio")
    out = tmp_path / "ex"
    fast = ["-m", str(tiny_model_dir), "--no-interventions", "--max-occlusion-passes", "20"]
    rc = main(["explain", str(a), str(b), str(bad), "--out-dir", str(out), "-j", "1", *fast])
    cap = capsys.readouterr()
    assert rc == 2 and "bad.wav" in cap.err  # the bad file is reported, the others are explained
    names = plot_names([str(a), str(b)], ext="")
    assert len(set(names)) == 2
    got = {}
    for f, n in zip((a, b), names):
        d = json.loads((out / f"{n}.json").read_text())
        assert d["path"] == str(f) and d["verdict"] and (out / f"{n}.png").stat().st_size > 60_000
        got[str(f)] = d["p_ai"]
        assert f"{f}: {d['headline']}" in cap.out
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{n}.json" for n in names] + [f"{n}.png" for n in names])
    # --json -: one JSON line per file on standard output, in input order, in two worker processes
    rc = main(["explain", str(a), str(b), "--json", "-", "-j", "2", *fast])
    cap = capsys.readouterr()
    lines = [json.loads(x) for x in cap.out.splitlines()]
    assert rc == 0 and [d["path"] for d in lines] == [str(a), str(b)]
    assert [d["p_ai"] for d in lines] == pytest.approx([got[str(a)], got[str(b)]], abs=1e-6)
    assert main(["explain", str(a), str(b), "--plot", str(tmp_path / "x.png")]) == 2  # ambiguous: says to use --out-dir


def _scores_csv(tmp_path: Path, audio: Path, twin: Path) -> Path:
    segs = json.dumps([[0.0, 4.0, 0.95], [4.0, 6.0, 0.35]])
    rows = [
        {"path": str(tmp_path / "b.mp3"), "p_ai": "0.2", "label": "human", "verdict": "No AI signal found", "confidence": "0.8", "duration_s": "30", "error": "", "flags": "", "model_version": "tiny@0.0.1", "segments": ""},
        {"path": str(tmp_path / "broken.mp3"), "p_ai": "", "label": "", "verdict": "", "confidence": "", "duration_s": "", "error": "cannot decode <this>", "flags": "", "model_version": "tiny@0.0.1", "segments": ""},
        {"path": str(audio), "p_ai": "0.91", "label": "ai", "verdict": "Likely AI", "confidence": "0.8", "duration_s": "6", "error": "", "flags": "", "model_version": "tiny@0.0.1", "segments": segs},
        {"path": str(tmp_path / "c & d.flac"), "p_ai": "0.55", "label": "uncertain", "verdict": "Needs review", "confidence": "0.1", "duration_s": "12", "error": "", "flags": "short_clip;x", "model_version": "tiny@0.0.1", "segments": ""},
        {"path": str(twin), "p_ai": "0.1", "label": "human", "verdict": "No AI signal found", "confidence": "0.9", "duration_s": "6", "error": "", "flags": "", "model_version": "tiny@0.0.1", "segments": ""},
    ]
    p = tmp_path / "scores.csv"
    with open(p, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return p


@pytest.fixture()
def report(tiny_model_dir, tmp_path) -> Path:
    audio = tmp_path / "a.wav"
    twin = tmp_path / "other" / "a.wav"  # the same stem in another folder
    twin.parent.mkdir()
    write_audio(audio, music_like(6.0, 22050, 1, seed=7), 22050)
    write_audio(twin, music_like(6.0, 22050, 1, seed=8), 22050)
    scores = _scores_csv(tmp_path, audio, twin)
    plots = tmp_path / "plots"
    plots.mkdir()
    (plots / "b.png").write_bytes(b"\x89PNG fake")
    (plots / "a.png").write_bytes(b"\x89PNG stale, of neither a.wav")
    html = tmp_path / "site" / "report.html"
    rc = main(["report", str(scores), "-o", str(html), "--plots", str(plots), "--make-plots", "-m", str(tiny_model_dir)])
    assert rc == 0
    return html


def test_report_html_is_self_contained_and_complete(report) -> None:
    from aiaudio.report import plot_names

    text = report.read_text()
    tmp = report.parent.parent
    assert text.startswith("<!DOCTYPE html>") and "<svg" in text and "<script>" in text and "<style>" in text
    assert len(re.findall(r"<tr[^>]* data-p=", text)) == 5
    assert 'href="../plots/b.png"' in text  # an existing plot, linked relative to the page
    # two files named a.wav: each links its own plot (made by --make-plots), never the stale a.png
    na, nt = plot_names([str(tmp / "a.wav"), str(tmp / "other" / "a.wav")])
    assert na != nt and na.startswith("a-") and nt.startswith("a-")
    for name in (na, nt):
        assert f'href="../plots/{name}"' in text and (tmp / "plots" / name).stat().st_size > 60_000
    assert 'href="../plots/a.png"' not in text
    assert "c &amp; d.flac" in text and "cannot decode &lt;this&gt;" in text  # escaped
    # the threshold and the uncertain band: drawn on the histogram and stated (the tiny model's 0.5, 0.4-0.6)
    assert 'id="threshold"' in text and 'id="uncertain-band"' in text and "Threshold: p_ai &ge; 0.500" in text
    assert "uncertain band 0.400-0.600" in text
    # verdicts, a player per scored file (relative to the page), a timeline strip where segments are known
    assert text.count("<audio ") == 4 and 'src="../a.wav"' in text and 'src="../other/a.wav"' in text
    assert '<td class="verdict-ai">Likely AI</td>' in text
    assert text.count('<svg class="strip"') == 1 and "0:00-0:04: p_ai 0.950" in text
    assert 'id="label-filter"' in text and 'id="search"' in text
    # nothing external: every src= is a relative file path, no http(s) links (the SVG namespace is a name, not a fetch)
    assert all(not re.match(r"(https?:|/|file:)", v) for v in re.findall(r' src="([^"]*)"', text))
    assert not re.search(r'href="https?:', text) and "@import" not in text and "url(" not in text


def test_report_progress_bar_for_make_plots(tmp_path, capsys) -> None:
    from aiaudio.report import write_report

    rows = [{"path": str(tmp_path / f"{k}.wav"), "p_ai": "0.5", "label": "uncertain"} for k in "xyz"]
    p = tmp_path / "s.csv"
    with open(p, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    made = []
    write_report(p, tmp_path / "r.html", make_plots=lambda a, png: made.append(png.name), progress=True)
    err = capsys.readouterr().err
    assert made == ["x.png", "y.png", "z.png"] and "explaining" in err and "3/3" in err


@pytest.mark.skipif(
    shutil.which("chromium") is None,
    reason="headless Chromium (Debian package `chromium`) is not installed; `apt-get install chromium` to render the report",
)
def test_report_renders_and_sorts_in_headless_chromium(report, tmp_path) -> None:
    """Runs the page's own script in headless Chromium; saves screenshots of the page and of an
    explanation plot (into $AIAUDIO_SCREENSHOTS too, when set)."""
    import os

    import matplotlib.image

    from aiaudio.report import plot_names

    args = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}"]

    def dom(url: str) -> str:
        return subprocess.run(args + ["--dump-dom", url], capture_output=True, text=True, timeout=120).stdout

    uri = report.resolve().as_uri()
    d = dom(uri)
    assert 'data-sorted="p_ai-desc"' in d  # the page's own script ran and sorted the table
    ps = re.findall(r'<tr[^>]* data-p="([^"]*)"', d)
    assert ps == ["0.910000", "0.550000", "0.200000", "0.100000", ""]  # highest first, the error row last
    assert d.count('class="hbar"') == 4  # histogram bars: one per scored file here (four bins)
    assert 'data-shown="5"' in d and "5 of 5 files shown" in d
    # filter by label and search by name (the page takes both from the link's #fragment too)
    d = dom(uri + "#label=human")
    assert 'data-shown="2"' in d and len(re.findall(r'<tr[^>]*style="display: none;"', d)) == 3
    d = dom(uri + "#q=B.MP3")
    assert 'data-shown="1"' in d
    out = Path(os.environ.get("AIAUDIO_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    plot = report.parent.parent / "plots" / plot_names([str(report.parent.parent / "a.wav"), str(report.parent.parent / "other" / "a.wav")])[0]
    for name, url, size in (("report.png", uri, (1300, 900)), ("explanation.png", plot.resolve().as_uri(), (1300, 1850))):
        shot = out / name
        subprocess.run(args + [f"--window-size={size[0]},{size[1]}", f"--screenshot={shot}", url], capture_output=True, timeout=120)
        img = matplotlib.image.imread(str(shot))
        assert img.shape[:2] == (size[1], size[0]) and float(img[..., :3].std()) > 0.05
