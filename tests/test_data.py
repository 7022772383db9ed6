"""Datasets: layouts, leak-free splits, segment datasets and loaders (tiny generated replicas)."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from aiaudio.audio import load_audio, write_audio
from aiaudio.training.augment import AugmentConfig, Augmenter
from aiaudio.training.data import (
    EvalSegments,
    Item,
    TrainSegments,
    from_fakemusiccaps,
    from_folder,
    from_manifest,
    from_sonics,
    hold_out,
    load_items,
    make_loader,
    split_by_group,
    summarize,
)
from aiaudio.frontend import FrontendConfig, segment_audio

from conftest import music_like

SR = 16000
#: Short segments so a few seconds of audio give several of them.
FE = FrontendConfig(sample_rate=16000, segment_s=1.0, segment_hop_s=0.5, min_duration_s=0.5)


def _write(path: Path, seconds: float = 2.0, sr: int = SR, channels: int = 1, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_audio(path, music_like(seconds, sr, channels=channels, seed=seed), sr)
    return path


def _rows(path: Path, header: list[str], rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=header)
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in header})
    return path


# --------------------------------------------------------------------------- layouts


@pytest.fixture(scope="module")
def folder_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("folder")
    _write(root / "ai" / "gen-a" / "000002.wav", 2.0, seed=1)
    _write(root / "ai" / "gen-a" / "sub" / "000003.flac", 3.0, seed=2)
    _write(root / "ai" / "gen-b" / "000002.wav", 2.5, seed=3)
    _write(root / "ai" / "loose.wav", 2.0, seed=4)
    _write(root / "Human" / "fma" / "000002.wav", 4.0, sr=22050, channels=2, seed=5)
    _write(root / "Human" / "fma" / "000003.wav", 2.0, seed=6)
    _write(root / "Human" / "solo.wav", 6.0, seed=7)
    (root / "ai" / "gen-a" / "notes.txt").write_text("not audio")
    return root


def test_from_folder(folder_root):
    items = from_folder(folder_root)
    assert len(items) == 7
    got = {(Path(it.path).relative_to(folder_root).as_posix()): it for it in items}
    a = got["ai/gen-a/000002.wav"]
    assert (a.label, a.generator, a.group, a.source) == (1, "gen-a", "000002", "gen-a")
    assert Path(a.path).is_absolute()
    assert got["ai/gen-a/sub/000003.flac"].generator == "gen-a"
    assert (got["ai/loose.wav"].generator, got["ai/loose.wav"].source) == ("ai", "ai")
    h = got["Human/fma/000002.wav"]
    assert (h.label, h.generator, h.group, h.source) == (0, "human", "000002", "fma")
    assert got["Human/solo.wav"].generator == "human"
    # a reconstruction named like its source track shares its group
    assert {it.path for it in items if it.group == "000002"} == {
        str(folder_root / p) for p in ("ai/gen-a/000002.wav", "ai/gen-b/000002.wav", "Human/fma/000002.wav")
    }
    with pytest.raises(ValueError, match="ai/"):
        from_folder(folder_root / "ai" / "gen-b")


def test_from_manifest_relative_paths_labels_and_defaults(tmp_path):
    _write(tmp_path / "ai" / "deezer-lac2" / "000002.mp3")
    _write(tmp_path / "human" / "deezer-fma-real" / "000002.mp3")
    _write(tmp_path / "ai" / "suno-v5-lofi" / "song.mp3")
    _write(tmp_path / "top.wav")
    header = ["path", "label", "generator", "source_repo", "duration_s", "licence"]
    csv_path = _rows(
        tmp_path / "manifest.csv",
        header,
        [
            {"path": "ai/deezer-lac2/000002.mp3", "label": "ai", "generator": "lac2-reconstruction", "duration_s": "2.0"},
            {"path": "human/deezer-fma-real/000002.mp3", "label": "human", "generator": "human", "duration_s": "2.00"},
            {"path": "ai/suno-v5-lofi/song.mp3", "label": "1", "generator": "suno-v5 (ID3 made with suno; 96kbps re-encode)"},
            {"path": "top.wav", "label": "0"},
        ],
    )
    items = from_manifest(csv_path)
    assert [it.label for it in items] == [1, 0, 1, 0]
    assert [it.source for it in items] == ["deezer-lac2", "deezer-fma-real", "suno-v5-lofi", "manifest"]
    assert [it.generator for it in items] == ["lac2-reconstruction", "human", "suno-v5", "human"]
    assert items[0].group == items[1].group == "000002"
    assert items[0].duration_s == 2.0 and items[2].duration_s is None
    assert all(Path(it.path).is_file() for it in items)
    # load_items prefers a folder's manifest.csv to its folder names
    assert load_items(tmp_path) == items


def test_from_manifest_explicit_columns_root_and_errors(tmp_path):
    _write(tmp_path / "audio" / "a.wav")
    _write(tmp_path / "audio" / "b.wav")
    csv_path = _rows(
        tmp_path / "lists" / "m.csv",
        ["path", "label", "generator", "group", "source"],
        [
            {"path": "a.wav", "label": "AI", "generator": "g1", "group": "song-1", "source": "mine"},
            {"path": str(tmp_path / "audio" / "b.wav"), "label": "human", "group": "song-1"},
        ],
    )
    items = from_manifest(csv_path, root=tmp_path / "audio")
    assert [(it.label, it.generator, it.group, it.source) for it in items] == [
        (1, "g1", "song-1", "mine"), (0, "human", "song-1", "audio"),
    ]
    assert items[0].path == str(tmp_path / "audio" / "a.wav")
    bad = _rows(tmp_path / "bad.csv", ["path", "label"], [{"path": "a.wav", "label": "maybe"}])
    with pytest.raises(ValueError, match="line 2.*'ai' or 'human'"):
        from_manifest(bad)
    nolabel = _rows(tmp_path / "nolabel.csv", ["file"], [{"file": "a.wav"}])
    with pytest.raises(ValueError, match="missing column"):
        from_manifest(nolabel)


SONICS_FAKE = ["id", "filename", "title", "duration", "algorithm", "style", "source", "lyrics_features", "topic", "genre", "mood", "label", "target", "split"]
SONICS_REAL = ["id", "filename", "title", "artist", "year", "lyrics", "lyrics_features", "duration", "youtube_id", "label", "artist_overlap", "target", "skip_time", "no_vocal", "split"]


def test_from_sonics(tmp_path):
    root = tmp_path / "sonics"
    _write(root / "fake_songs" / "part_01" / "fake_00012_suno_0.mp3", 2.0, seed=1)
    _write(root / "fake_songs" / "part_01" / "fake_00012_suno_1.mp3", 2.0, seed=2)
    _write(root / "fake_songs" / "part_02" / "fake_00345_udio_0.mp3", 2.0, seed=3)
    _write(root / "real_songs" / "real_00001.mp3", 2.0, seed=4)
    _rows(root / "fake_songs.csv", SONICS_FAKE, [
        {"id": "12", "filename": "fake_00012_suno_0", "duration": "2.0", "algorithm": "chirp-v3.5", "label": "full fake", "target": "1", "split": "train"},
        {"id": "12", "filename": "fake_00012_suno_1", "duration": "2.0", "algorithm": "chirp-v3.5", "label": "full fake", "target": "1", "split": "train"},
        {"id": "345", "filename": "fake_00345_udio_0", "duration": "2.0", "algorithm": "udio-130", "label": "half fake", "target": "1", "split": "test"},
        {"id": "999", "filename": "fake_00999_udio_0", "duration": "2.0", "algorithm": "udio-32", "label": "mostly fake", "target": "1", "split": "test"},
    ])
    _rows(root / "real_songs.csv", SONICS_REAL, [
        {"id": "1", "filename": "real_00001", "duration": "2.0", "youtube_id": "abcdefghijk", "label": "real", "target": "0", "no_vocal": "False", "split": "train"},
    ])
    with pytest.warns(UserWarning, match="1 rows have no audio"):
        items = from_sonics(root)
    by = {Path(it.path).stem: it for it in items}
    assert set(by) == {"fake_00012_suno_0", "fake_00012_suno_1", "fake_00345_udio_0", "real_00001"}
    assert by["fake_00012_suno_0"].generator == "chirp-v3.5" and by["fake_00345_udio_0"].generator == "udio-130"
    assert by["fake_00012_suno_0"].group == by["fake_00012_suno_1"].group == "sonics-fake-12"
    assert (by["real_00001"].label, by["real_00001"].generator, by["real_00001"].group) == (0, "human", "sonics-real-1")
    assert {it.source for it in items} == {"sonics"}
    assert by["fake_00345_udio_0"].duration_s == 2.0
    with pytest.warns(UserWarning):
        assert load_items(root) == items
    # without the CSVs: names are parsed
    (root / "fake_songs.csv").unlink()
    (root / "real_songs.csv").unlink()
    items = load_items(root)
    by = {Path(it.path).stem: it for it in items}
    assert by["fake_00012_suno_1"].generator == "suno" and by["fake_00012_suno_1"].group == "sonics-fake-00012"
    assert by["real_00001"].label == 0


def test_from_fakemusiccaps(tmp_path):
    root = tmp_path / "download" / "FakeMusicCaps"
    for k, model in enumerate(("MusicGen_medium", "musicldm", "audioldm2", "stable_audio_open")):
        for j, ytid in enumerate(("-0Gj8-vB1q4", "ZZ9sOkbDgXw")):
            _write(root / model / f"{ytid}.wav", 2.0, seed=10 * k + j)
    _write(root / "MusicCaps" / "[-0Gj8-vB1q4]-[30-40].wav", 2.0, seed=99)
    items = from_fakemusiccaps(tmp_path / "download")  # the folder above is understood too
    assert len(items) == 9
    gens = sorted({it.generator for it in items if it.label == 1})
    assert gens == ["audioldm2", "musicgen_medium", "musicldm", "stable_audio_open"]
    real = [it for it in items if it.label == 0]
    assert len(real) == 1 and real[0].generator == "human"
    same = [it for it in items if it.group == "musiccaps--0Gj8-vB1q4"]
    assert len(same) == 5 and real[0] in same  # the real clip and the four fakes of its caption
    assert {it.source for it in items} == {"fakemusiccaps"}
    assert load_items(root) == items


def test_load_items_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="ai/ and human/"):
        load_items(tmp_path / "empty")
    with pytest.raises(FileNotFoundError):
        load_items(tmp_path / "nope")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(ValueError, match="CSV"):
        load_items(tmp_path / "x.txt")


def test_load_items_folder(folder_root):
    assert load_items(folder_root) == from_folder(folder_root)
    text = summarize(load_items(folder_root))
    assert text.startswith("7 items (4 ai, 3 human), 4 groups")
    assert "gen-a" in text and "fma" in text


# --------------------------------------------------------------------------- splits


def _synthetic_items(n_groups: int = 60) -> list[Item]:
    items = []
    rng = np.random.default_rng(1)
    for g in range(n_groups):
        kind = g % 3
        if kind == 0:  # a human track and two reconstructions
            items.append(Item(f"/x/h{g}.wav", 0, "human", f"g{g}", "fma"))
            items.append(Item(f"/x/a{g}.wav", 1, "codec-a", f"g{g}", "deezer"))
            items.append(Item(f"/x/b{g}.wav", 1, "codec-b", f"g{g}", "deezer"))
        elif kind == 1:
            for j in range(int(rng.integers(1, 3))):
                items.append(Item(f"/x/s{g}_{j}.mp3", 1, "suno", f"g{g}", "suno"))
        else:
            items.append(Item(f"/x/r{g}.flac", 0, "human", f"g{g}", "jamendo"))
    return items


def test_split_by_group_is_leak_free_deterministic_and_stratified():
    items = _synthetic_items()
    s1 = split_by_group(items, val_frac=0.15, test_frac=0.15, seed=0)
    s2 = split_by_group(items, val_frac=0.15, test_frac=0.15, seed=0)
    assert s1 == s2
    assert sum(len(v) for v in s1.values()) == len(items)
    groups = {k: {it.group for it in v} for k, v in s1.items()}
    assert not groups["train"] & groups["val"] and not groups["train"] & groups["test"] and not groups["val"] & groups["test"]
    for name in ("train", "val", "test"):
        assert {it.label for it in s1[name]} == {0, 1}
        assert {it.generator for it in s1[name]} == {"human", "codec-a", "codec-b", "suno"}
    assert 0.1 < len(s1["test"]) / len(items) < 0.3
    assert len(s1["train"]) > len(s1["val"]) and len(s1["train"]) > len(s1["test"])
    s3 = split_by_group(items, seed=1)
    assert s3 != s1
    # input order is kept within each split
    order = {it.path: i for i, it in enumerate(items)}
    assert all(order[a.path] < order[b.path] for v in s1.values() for a, b in zip(v, v[1:]))
    plain = split_by_group(items, seed=0, stratify=False)
    pg = {k: {it.group for it in v} for k, v in plain.items()}
    assert not pg["train"] & pg["test"]
    with pytest.raises(ValueError):
        split_by_group(items, val_frac=0.6, test_frac=0.5)


def test_split_by_group_tiny_keeps_training_data():
    items = [Item("/x/a.wav", 1, "g", "a", "s"), Item("/x/b.wav", 0, "human", "b", "s")]
    s = split_by_group(items)
    assert s["train"] == items and s["val"] == [] and s["test"] == []


def test_hold_out_removes_a_generator_and_its_human_groups():
    items = _synthetic_items(30)
    rest, held = hold_out(items, ["codec-a"])
    assert not any(it.generator == "codec-a" for it in rest)
    assert {it.generator for it in held} == {"codec-a", "human"}
    assert len(rest) + len(held) == len(items)
    held_groups = {it.group for it in held}
    assert not any(it.label == 0 and it.group in held_groups for it in rest)
    # other generators of those groups stay, unless asked
    assert any(it.generator == "codec-b" for it in rest)
    rest2, held2 = hold_out(items, ["codec-*"], drop_shared=True)
    assert held2 and not any(it.group in {h.group for h in held2} for it in rest2)
    rest3, held3 = hold_out(items, ["suno"])
    assert {it.generator for it in held3} == {"suno"}
    assert hold_out(items, []) == (items, [])


# --------------------------------------------------------------------------- segment datasets


@pytest.fixture(scope="module")
def seg_items(tmp_path_factory) -> list[Item]:
    root = tmp_path_factory.mktemp("seg")
    items = [
        Item(str(_write(root / "a.wav", 3.3, sr=44100, channels=2, seed=1)), 1, "g", "a", "s"),
        Item(str(_write(root / "b.flac", 5.0, sr=22050, seed=2)), 0, "human", "b", "s"),
        Item(str(_write(root / "c.mp3", 2.0, sr=16000, seed=3)), 1, "g", "c", "s"),
        Item(str(_write(root / "d.wav", 0.7, sr=16000, seed=4)), 0, "human", "d", "s"),
    ]
    return items


@pytest.fixture(scope="module")
def corrupt(tmp_path_factory) -> Item:
    p = tmp_path_factory.mktemp("bad") / "broken.wav"
    p.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk" * 10)
    return Item(str(p), 1, "g", "broken", "s")


def test_train_segments_shapes_labels_and_determinism(seg_items):
    ds = TrainSegments(seg_items, FE, segments_per_item=3, seed=7)
    assert len(ds) == 12
    for i in range(len(ds)):
        x, y = ds[i]
        assert x.dtype == torch.float32 and x.shape == (FE.segment_samples,)
        assert y.dtype == torch.float32 and y.shape == () and float(y) == seg_items[i // 3].label
        assert torch.isfinite(x).all() and x.abs().max() > 0
    a = [ds[i][0] for i in range(len(ds))]
    b = [TrainSegments(seg_items, FE, segments_per_item=3, seed=7)[i][0] for i in range(len(ds))]
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    ds.set_epoch(1)
    c = [ds[i][0] for i in range(len(ds))]
    assert not all(torch.equal(p, q) for p, q in zip(a, c))
    ds.set_epoch(0)
    assert torch.equal(ds[4][0], a[4])
    other = TrainSegments(seg_items, FE, segments_per_item=3, seed=8)
    assert not torch.equal(other[4][0], a[4])
    np.testing.assert_array_equal(ds.labels(), np.repeat([1, 0, 1, 0], 3))


def test_train_segments_with_augmentation_is_deterministic(seg_items):
    aug = Augmenter(AugmentConfig(p_codec=0.5, p_pitch=0.0, p_tempo=0.5))
    ds = TrainSegments(seg_items[:2], FE, segments_per_item=2, augment=aug, seed=3)
    a = [ds[i][0] for i in range(len(ds))]
    b = [ds[i][0] for i in range(len(ds))]
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    assert all(p.shape == (FE.segment_samples,) and torch.isfinite(p).all() for p in a)


def test_train_segments_survive_a_corrupt_file(seg_items, corrupt):
    ds = TrainSegments([corrupt] + seg_items, FE, segments_per_item=2, seed=0)
    with pytest.warns(RuntimeWarning, match="broken.wav"):
        x, y = ds[0]
    assert x.shape == (FE.segment_samples,) and torch.isfinite(x).all()
    assert corrupt.path in ds.failures
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # known-bad files are skipped silently afterwards
        x1, _ = ds[1]
    assert x1.shape == (FE.segment_samples,)
    assert torch.equal(ds[0][0], x)  # the replacement is deterministic too


def test_eval_segments_match_segment_audio(seg_items):
    ds = EvalSegments(seg_items, FE, max_segments_per_item=None)
    assert ds.failed == {}
    for k, it in enumerate(seg_items):
        y, _ = load_audio(it.path, sr=FE.sample_rate, mono=True)
        want, _ = segment_audio(y[0], FE)
        idx = np.flatnonzero(ds.item_index == k)
        assert len(idx) == len(want) == ds.counts[k]
        got = np.stack([ds[j][0].numpy() for j in idx])
        np.testing.assert_array_equal(got, want)
        assert all(ds[j][2] == k and float(ds[j][1]) == it.label for j in idx)
    assert ds.counts.tolist() == [6, 9, 3, 1]
    capped = EvalSegments(seg_items, FE, max_segments_per_item=3)
    assert capped.counts.tolist() == [3, 3, 3, 1]
    y, _ = load_audio(seg_items[1].path, sr=FE.sample_rate, mono=True)
    want, _ = segment_audio(y[0], FE)
    got = np.stack([capped[j][0].numpy() for j in np.flatnonzero(capped.item_index == 1)])
    np.testing.assert_array_equal(got, want[[0, 4, 8]])  # evenly spread: first, middle, last


def test_eval_segments_transform_and_failures(seg_items, corrupt):
    def quieter(y, sr):
        return y * 0.5, sr

    plain = EvalSegments(seg_items[:2], FE, max_segments_per_item=4)
    ds = EvalSegments(seg_items[:2], FE, max_segments_per_item=4, transform=quieter)
    assert len(ds) == len(plain)
    for j in range(len(ds)):
        np.testing.assert_allclose(ds[j][0].numpy(), 0.5 * plain[j][0].numpy(), atol=2e-3)
    with pytest.warns(RuntimeWarning, match="could not be read"):
        bad = EvalSegments([corrupt] + seg_items[:1], FE)
    assert bad.counts[0] == 0 and 0 in bad.failed and set(bad.item_index.tolist()) == {1}
    # a file whose duration is known but which cannot be decoded scores NaN, not garbage
    lying = Item(corrupt.path, 1, "g", "x", "s", duration_s=2.0)
    nan_ds = EvalSegments([lying], FE)
    with pytest.warns(RuntimeWarning, match="NaN"):
        x, _, k = nan_ds[0]
    assert torch.isnan(x).all() and k == 0


def test_make_loader_same_eval_batches_with_and_without_workers(seg_items):
    ds = EvalSegments(seg_items, FE, max_segments_per_item=4)
    b0 = list(make_loader(ds, batch_size=3, shuffle=False, num_workers=0))
    b2 = list(make_loader(ds, batch_size=3, shuffle=False, num_workers=2))
    assert len(b0) == len(b2) == -(-len(ds) // 3)
    for (x0, y0, k0), (x2, y2, k2) in zip(b0, b2):
        assert torch.equal(x0, x2) and torch.equal(y0, y2) and torch.equal(k0, k2)
    assert torch.cat([k for _, _, k in b0]).tolist() == ds.item_index.tolist()


def test_make_loader_train_workers_follow_set_epoch(seg_items):
    ds = TrainSegments(seg_items, FE, segments_per_item=2, seed=5)
    loader = make_loader(ds, batch_size=4, shuffle=False, num_workers=2)
    serial = make_loader(ds, batch_size=4, shuffle=False, num_workers=0)
    assert loader.persistent_workers and not serial.persistent_workers
    seen = []
    for epoch in (0, 1):
        ds.set_epoch(epoch)  # persistent workers must see the new epoch
        got, want = list(loader), list(serial)
        assert len(got) == len(want) == 2
        for (xa, ya), (xb, yb) in zip(got, want):
            assert torch.equal(xa, xb) and torch.equal(ya, yb)
        seen.append(torch.cat([x for x, _ in got]))
    assert not torch.equal(seen[0], seen[1])


def test_make_loader_shuffle_is_seeded(seg_items):
    ds = TrainSegments(seg_items[:3], FE, segments_per_item=3, seed=5)  # not d.wav: shorter than a segment, all its draws alike
    sequential = [ds[i][0] for i in range(len(ds))]
    assert all(not torch.equal(sequential[i], sequential[j]) for i in range(len(ds)) for j in range(i))

    def order(seed: int) -> list[int]:
        """Which example each shuffled position holds (examples told apart by their samples)."""
        xs = torch.cat([x for x, _ in make_loader(ds, batch_size=8, shuffle=True, num_workers=0, seed=seed)])
        return [next(i for i, s in enumerate(sequential) if torch.equal(x, s)) for x in xs]

    a, b, other = order(3), order(3), order(4)
    assert sorted(a) == list(range(len(ds)))  # every example once
    assert a == b  # the same seed, the same order
    assert a != list(range(len(ds))) and other != a  # really shuffled, and by the seed
    sampler = torch.utils.data.SequentialSampler(ds)
    c = list(make_loader(ds, batch_size=8, shuffle=True, num_workers=0, sampler=sampler))  # a sampler wins over shuffle
    assert torch.equal(torch.cat([x for x, _ in c]), torch.stack(sequential))
    assert torch.cat([y for _, y in c]).tolist() == ds.labels().tolist()


def test_manifest_paths_with_a_tilde_are_the_readers_home(tmp_path, monkeypatch):
    """A manifest that travels between machines (the shipped model's splits) names cache files as ~/...;
    relative paths stay relative to the manifest's folder."""
    from aiaudio.training.data import from_manifest

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    man = tmp_path / "m" / "split.csv"
    man.parent.mkdir()
    man.write_text("path,label\n~/.cache/x/a.flac,ai\n../shared/b.flac,human\n")
    items = from_manifest(man)
    assert items[0].path == str(tmp_path / "home" / ".cache" / "x" / "a.flac")
    assert items[1].path == str(tmp_path / "shared" / "b.flac")
