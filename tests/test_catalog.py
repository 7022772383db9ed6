"""Catalogue verdicts: the combination, the mixed-catalogue rule, tags, grouping, CLI and report."""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

import aiaudio
from aiaudio.audio import write_audio
from aiaudio.catalog import (
    CATALOG_NAME,
    CatalogModel,
    SongEntry,
    ai_ranges,
    build_catalog,
    combine,
    fit_catalog_model,
    group_verdict,
    log_odds,
    score_catalog,
    song_tier,
)
from aiaudio.cli import main
from aiaudio.model import ModelConfig

from conftest import music_like

#: A known-answer combination: AI catalogues sit at song log-odds +4, human ones at -4.
KNOWN = CatalogModel(mu_ai=4.0, mu_human=-4.0, var_between=1.0, var_within=4.0, song_fpr=0.01, fitted_on="test")
CFG = ModelConfig(threshold=0.9, uncertain_low=0.6, uncertain_high=0.9)


def _songs(ps: list[float], group: str = "g") -> list[SongEntry]:
    return [
        SongEntry(f"/music/{group}/s{i:02d}.mp3", group, "tag", p, song_tier(p, CFG), [(0.0, 4.0, p), (4.0, 8.0, p)])
        for i, p in enumerate(ps)
    ]


def _logistic(u: float) -> float:
    return 1.0 / (1.0 + math.exp(-u))


# --------------------------------------------------------------------------- combination


def test_all_ai_catalogue_is_likely_ai() -> None:
    rng = np.random.default_rng(0)
    g = group_verdict("ai", _songs([_logistic(u) for u in rng.normal(4.0, 1.5, 12)]), KNOWN, CFG)
    assert g.verdict == "Likely AI"
    assert g.p_ai > 0.99 and g.p_low <= g.p_ai <= g.p_high
    assert g.n_songs == 12 and sum(g.counts.values()) == 12
    assert g.deciding and all(d["share"] > 0 for d in g.deciding)
    assert "lean AI" in g.reason


def test_all_human_catalogue_has_no_ai_signal() -> None:
    rng = np.random.default_rng(1)
    g = group_verdict("h", _songs([_logistic(u) for u in rng.normal(-4.0, 1.5, 12)]), KNOWN, CFG)
    assert g.verdict == "No AI signal found"
    assert g.p_ai < 0.01
    assert not g.minority


def test_mixed_minority_is_listed_not_called_ai() -> None:
    ps = [0.999] * 3 + [0.03] * 21
    g = group_verdict("mix", _songs(ps), KNOWN, CFG)
    assert g.verdict == "Mixed catalogue"
    assert len(g.minority) == 3 and all(p.endswith(("s00.mp3", "s01.mp3", "s02.mp3")) for p in g.minority)
    assert "3 of 24 songs look AI-made" in g.reason
    assert [d["path"] for d in g.deciding] == g.minority


def test_minority_never_makes_a_catalogue_ai_even_when_the_mean_does() -> None:
    # 8 extreme AI songs (clipped at +12) pull the mean log-odds of 24 songs above the midpoint
    ps = [1 - 1e-9] * 8 + [0.3] * 16
    u = log_odds(ps, KNOWN.clip)
    assert combine(u, KNOWN).p_ai >= CFG.threshold  # the mean alone would call it AI
    g = group_verdict("loud-minority", _songs(ps), KNOWN, CFG)
    assert g.verdict != "Likely AI"
    assert g.verdict == "Mixed catalogue" and len(g.minority) == 8


def test_one_flagged_song_is_within_chance_for_a_human_catalogue() -> None:
    g = group_verdict("h1", _songs([0.95] + [0.05] * 23), KNOWN, CFG)
    assert g.verdict == "No AI signal found"
    assert "within what human catalogues show by chance" in g.reason


def test_group_probability_grows_with_songs_and_levels_off() -> None:
    p = [combine([1.0] * n, KNOWN).p_ai for n in (1, 3, 10, 30, 300)]
    assert all(b > a for a, b in zip(p, p[1:]))
    # correlated songs: the step from 30 to 300 songs is far smaller than from 1 to 3
    assert p[4] - p[3] < 0.1 * (p[1] - p[0])
    # and never reaches what 300 independent songs would give (sum of log-odds)
    assert p[4] < _logistic(300 * 1.0)
    lo_hi = [(c.p_low, c.p_high) for c in (combine(np.r_[np.full(n // 2, 0.0), np.full(n - n // 2, 2.0)], KNOWN) for n in (4, 40))]
    assert lo_hi[1][1] - lo_hi[1][0] < lo_hi[0][1] - lo_hi[0][0]  # more songs, narrower interval


def test_no_signal_model_gives_the_same_probability_to_every_catalogue() -> None:
    flat = CatalogModel(mu_ai=-1.0, mu_human=1.0, offset=0.0)  # AI scored lower than human: no slope
    assert combine([8.0] * 10, flat).p_ai == pytest.approx(0.5)
    assert combine([-8.0] * 10, flat).p_ai == pytest.approx(0.5)


def test_fit_recovers_levels_and_is_calibrated_on_new_groups() -> None:
    rng = np.random.default_rng(2)

    def groups(k: int) -> list[tuple[int, np.ndarray]]:
        out = []
        for i in range(k):
            y = i % 2
            theta = rng.normal(2.0 if y else -2.0, 1.0)
            out.append((y, rng.normal(theta, 2.0, int(rng.integers(1, 25)))))
        return out

    cm = fit_catalog_model(groups(200), song_fpr=0.01, seed=0)
    assert cm.mu_ai == pytest.approx(2.0, abs=0.4) and cm.mu_human == pytest.approx(-2.0, abs=0.4)
    assert cm.var_within == pytest.approx(4.0, rel=0.15)
    test = groups(400)
    p = np.array([combine(u, cm).p_ai for _, u in test])
    y = np.array([t for t, _ in test])
    for lo, hi in ((0.0, 0.2), (0.8, 1.0)):
        sel = (p >= lo) & (p < hi)
        assert sel.sum() > 30
        assert abs(p[sel].mean() - y[sel].mean()) < 0.1  # calibrated on groups it was not fitted on


def test_ai_ranges_merge_consecutive_segments() -> None:
    segs = [(0, 4, 0.1), (4, 8, 0.95), (8, 12, 0.97), (12, 16, 0.2), (16, 20, 0.99)]
    assert ai_ranges(segs, 0.9) == [(4.0, 12.0), (16.0, 20.0)]


def test_song_tier_is_the_detector_rule() -> None:
    assert song_tier(0.95, CFG) == "Likely AI"
    assert song_tier(0.7, CFG) == "Needs review"
    assert song_tier(0.2, CFG) == "No AI signal found"


# --------------------------------------------------------------------------- tags


def _tiny(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_audio(path, music_like(1.0, 44100, 1, seed=seed), 44100)
    return path


def _tag(path: Path, **tags: str) -> None:
    mutagen = pytest.importorskip("mutagen")  # a declared dependency; only the tag tests need it
    f = mutagen.File(str(path), easy=True)
    if f.tags is None:
        f.add_tags()
    for k, v in tags.items():
        f[k] = v
    f.save()


@pytest.mark.parametrize("ext", ["mp3", "flac", "m4a", "ogg"])
def test_tags_read_in_every_container(tmp_path: Path, ext: str) -> None:
    from aiaudio.tags import group_key, read_tags

    p = _tiny(tmp_path / "x" / f"song.{ext}")
    _tag(p, artist="Reason Moon", album="A Thousand Plateaus", title="Blue Hour", genre="Lo-fi")
    t = read_tags(p)
    assert t["artist"] == "Reason Moon"
    assert t["album"] == "A Thousand Plateaus"
    assert t["title"] == "Blue Hour"
    assert group_key(p, "artist") == ("Reason Moon", "tag")
    assert group_key(p, "album") == ("Reason Moon / A Thousand Plateaus", "tag")
    assert group_key(p, "tag:genre") == ("Lo-fi", "tag")
    assert group_key(p, "folder") == ("x", "folder")


def test_album_artist_wins_over_track_artist(tmp_path: Path) -> None:
    from aiaudio.tags import group_key

    p = _tiny(tmp_path / "a" / "song.flac")
    _tag(p, artist="Someone feat. Other", albumartist="Someone")
    assert group_key(p, "artist") == ("Someone", "tag")


def test_missing_tags_fall_back_to_folder(tmp_path: Path) -> None:
    from aiaudio.tags import group_key, read_tags

    plain = _tiny(tmp_path / "Untagged Artist" / "a.wav")
    no_album = _tiny(tmp_path / "Some Folder" / "b.mp3")
    _tag(no_album, artist="Known")
    broken = tmp_path / "Broken" / "c.mp3"
    broken.parent.mkdir()
    broken.write_bytes(b"not an mp3 at all" * 10)
    assert read_tags(plain) == {}
    assert read_tags(broken) == {}
    assert group_key(plain, "artist") == ("Untagged Artist", "folder")
    assert group_key(no_album, "album") == ("Some Folder", "folder")
    assert group_key(no_album, "tag:label") == ("Some Folder", "folder")
    assert group_key(broken, "artist") == ("Broken", "folder")


def test_unknown_grouping_is_refused() -> None:
    from aiaudio.tags import parse_group_by

    with pytest.raises(ValueError, match="artist, album, folder or tag:FIELD"):
        parse_group_by("genre")
    assert parse_group_by("tag:Label") == ("tag", "label")


# --------------------------------------------------------------------------- score_catalog, CLI, report


@pytest.fixture()
def known_model(tmp_path: Path) -> Path:
    """The shipped model's files with the known-answer combination next to them."""
    from aiaudio.detector import default_model_dir

    d = tmp_path / "model"
    d.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(default_model_dir() / name, d / name)
    (d / CATALOG_NAME).write_text(json.dumps(KNOWN.to_dict()))
    return d


@pytest.fixture()
def known_scorer(monkeypatch):
    """Replace the CNN by a known answer: files named ai_* score 0.999, others 0.02 (every segment)."""
    import aiaudio.batch as pipeline

    calls: list[str] = []

    def fake_score_files(det, files, **kwargs):
        c = det.config.calibration
        for f in files:
            calls.append(str(f))
            p = 0.999 if Path(f).name.startswith("ai_") else 0.02
            z = (math.log(p / (1 - p)) - c.b) / c.a
            fs = det.config.frontend.sample_rate
            starts = [0, 4 * fs, 8 * fs]
            yield str(f), det.make_score(starts, np.full(3, z), 12 * fs, 0.01, path=str(f))

    monkeypatch.setattr(pipeline, "score_files", fake_score_files)
    return calls


def _library(root: Path) -> None:
    """Three artists by folder (untagged WAV): all AI, all human, 3 of 24 AI."""
    for i in range(8):
        _tiny(root / "Robot Band" / f"ai_{i}.wav", seed=i)
        _tiny(root / "Garage Trio" / f"hum_{i}.wav", seed=i)
    for i in range(24):
        _tiny(root / "Mostly Human" / (f"ai_{i}.wav" if i < 3 else f"hum_{i}.wav"), seed=i)


def test_score_catalog_known_answer_library(tmp_path: Path, known_model: Path, known_scorer) -> None:
    pytest.importorskip("mutagen")
    _library(tmp_path / "lib")
    cat = aiaudio.score_catalog([tmp_path / "lib"], model=known_model, group_by="artist")
    by = {g.name: g for g in cat.groups}
    assert set(by) == {"Robot Band", "Garage Trio", "Mostly Human"}
    assert by["Robot Band"].verdict == "Likely AI" and by["Robot Band"].n_songs == 8
    assert by["Garage Trio"].verdict == "No AI signal found"
    mixed = by["Mostly Human"]
    assert mixed.verdict == "Mixed catalogue"
    assert sorted(Path(p).name for p in mixed.minority) == ["ai_0.wav", "ai_1.wav", "ai_2.wav"]
    assert all(g.grouped_by == "folder" for g in cat.groups)
    top = by["Robot Band"].top_songs[0]
    assert top["ranges"] == [(0.0, 12.0)]  # every segment at or above the threshold
    assert len(cat.songs) == 40


def test_catalog_cli_csv_html_and_resume(tmp_path: Path, known_model: Path, known_scorer, capsys) -> None:
    pytest.importorskip("mutagen")
    _library(tmp_path / "lib")
    out = tmp_path / "catalog.csv"
    html = tmp_path / "report.html"
    args = ["catalog", str(tmp_path / "lib"), "-m", str(known_model), "-o", str(out), "--html", str(html), "--no-progress"]
    assert main(args) == 0
    rows = {r["group"]: r for r in csv.DictReader(out.open())}
    assert rows["Robot Band"]["verdict"] == "Likely AI"
    assert rows["Mostly Human"]["verdict"] == "Mixed catalogue"
    assert rows["Mostly Human"]["n_likely_ai"] == "3" and rows["Mostly Human"]["n_songs"] == "24"
    assert "ai_0.wav" in rows["Mostly Human"]["minority"]
    assert float(rows["Robot Band"]["p_low"]) <= float(rows["Robot Band"]["p_ai"]) <= float(rows["Robot Band"]["p_high"])
    songs = tmp_path / "catalog.songs.jsonl"
    song_rows = [json.loads(line) for line in songs.read_text().splitlines()]
    assert len(song_rows) == 40 and all(r["segments"] for r in song_rows)  # score's rows, with timelines
    page = html.read_text()
    assert "<script>" in page and "http" not in page.split("<body>")[1].replace("https://", "")  # no network
    for name in ("Robot Band", "Garage Trio", "Mostly Human", "3 of 24 songs look AI-made"):
        assert name in page
    n_first = len(known_scorer)
    assert main(args + ["--resume"]) == 0
    assert len(known_scorer) == n_first  # nothing scored again


def test_catalog_cli_rejects_unknown_grouping(tmp_path: Path, capsys) -> None:
    assert main(["catalog", str(tmp_path), "--group-by", "genre"]) == 2
    assert "tag:FIELD" in capsys.readouterr().err


def test_build_catalog_sorts_groups_by_probability() -> None:
    songs = _songs([0.01] * 5, "low") + _songs([0.99] * 5, "high")
    cat = build_catalog(songs, KNOWN, CFG)
    assert [g.name for g in cat.groups] == ["high", "low"]
    assert cat.rows()[0]["group"] == "high"


def test_segment_embeddings_match_segment_logits(detector) -> None:
    segs = np.stack([music_like(4.0, detector.sample_rate, 1, seed=s)[0] for s in range(3)])
    logits, feats = detector.segment_embeddings(segs, batch_size=2)
    assert feats.shape[0] == 3 and feats.ndim == 2 and feats.shape[1] > 1
    np.testing.assert_allclose(logits, detector.segment_logits(segs), atol=1e-4)


def test_count_of_flagged_songs_carries_evidence_when_the_mean_does_not() -> None:
    # a song model whose mean scores do not separate catalogues, but whose threshold does
    cm = CatalogModel(mu_ai=0.5, mu_human=0.5, count_weight=1.0, song_fpr=0.002, song_tpr=0.2, flag_log_odds=4.0)
    p_all = [combine([5.0] * n, cm).p_ai for n in (1, 3, 10, 30)]
    assert all(b > a for a, b in zip(p_all, p_all[1:])) and p_all[-1] > 0.98
    assert p_all[-1] - p_all[-2] < p_all[1] - p_all[0]  # correlated songs: it levels off
    assert combine([0.0] * 30, cm).p_ai < 0.5  # thirty unflagged songs: evidence for human
    one = combine([5.0] + [0.0] * 23, cm)
    assert one.p_ai < p_all[1]
    assert one.contributions[0] > 0 > one.contributions[1]


from hypothesis import given, settings
from hypothesis import strategies as st

_P = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(ps=st.lists(_P, min_size=1, max_size=40), i=st.integers(min_value=0), bump=st.floats(min_value=0.0, max_value=30.0))
def test_combination_is_a_probability_with_its_interval_and_monotone(ps: list[float], i: int, bump: float) -> None:
    cm = CatalogModel(mu_ai=3.0, mu_human=-2.0, count_weight=0.7, song_fpr=0.01, song_tpr=0.3, flag_log_odds=4.0)
    u = log_odds(ps, cm.clip)
    c = combine(u, cm)
    assert 0.0 <= c.p_low <= c.p_ai <= c.p_high <= 1.0
    assert all(math.isfinite(x) for x in c.contributions) and c.n == len(ps)
    # a more AI-like song never lowers the catalogue's probability
    u2 = u.copy()
    u2[i % len(u2)] += bump
    assert combine(u2, cm).p_ai >= c.p_ai - 1e-12
