"""Splits of the training collection: group split and leave-one-family(service)-out.

The properties (issue 13): no group on two sides of a split; a held-out family or
service is held out whole; commercial human songs are on every fold's human test side;
AI over real recordings (``part_human``) never trains by default. Checked on a synthetic
sources manifest made here, and on the real one (``../shared/data/sources/manifest.csv``)
where it is present: planning splits needs the manifest only, not the audio.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import sys
from collections import Counter
from pathlib import Path

import pytest

from aiaudio.training.data import AI, HUMAN, Item, from_manifest, hold_out, leave_one_family_out, split_by_group, summarize

_REPO = Path(__file__).resolve().parents[1]
_SCRIPT = _REPO / "scripts" / "prepare_training_data.py"


@pytest.fixture(scope="module")
def prep():
    spec = importlib.util.spec_from_file_location("prepare_training_data", _SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["prepare_training_data"] = mod
    spec.loader.exec_module(mod)
    return mod


def _real_manifest() -> Path | None:
    for up in (_REPO.parent, _REPO.parent.parent):
        p = up / "shared" / "data" / "sources" / "manifest.csv"
        if p.is_file():
            return p
    return None


SOURCE_COLUMNS = ["path", "label", "generator", "family", "source", "group", "source_repo", "source_path", "ref",
                  "duration_s", "sample_rate", "channels", "has_vocals", "probable", "part_human", "licence", "evidence"]


def synthetic_sources(path: Path) -> Path:
    """A sources manifest shaped like the real one: services, research demo pages that compare
    several families and publish ground truth, part-human outputs, commercial human songs."""
    rows = []

    def add(part, label, gen, fam, source, n, part_human="no", probable="no", vocals="unknown"):
        for k in range(n):
            sub = "ai" if label == "ai" else "human"
            rows.append({"path": f"{part}/{sub}/{source}/{gen.split()[0]}_{k}.mp3", "label": label, "generator": gen,
                         "family": fam, "source": source, "group": f"{part}:{source}", "source_repo": f"o/{source}",
                         "source_path": f"{gen.split()[0]}_{k}.mp3", "ref": "0" * 40, "duration_s": "30",
                         "sample_rate": "48000", "channels": "2", "has_vocals": vocals, "probable": probable,
                         "part_human": part_human, "licence": "none stated", "evidence": "test"})

    for i in range(6):
        add("ai-services", "ai", "suno-v5", "suno", f"suno-{i}", 3, probable="yes" if i == 0 else "no", vocals="yes")
    add("ai-services", "ai", "suno", "suno", "suno-mix", 2, part_human="yes")  # a group of part-human files
    add("ai-services", "ai", "suno-v4.5", "suno", "suno-mix2", 2)
    for i in range(4):
        add("ai-services", "ai", "google-lyria", "google-lyria", f"lyria-{i}", 2, probable="yes")
    add("ai-services", "ai", "producer-ai", "producer-ai", "producer", 3)
    for i in range(4):  # demo pages: several families and their ground truth in one group
        src = f"demo-{i}"
        add("ai-open-models", "ai", "musicgen-large", "musicgen", src, 2)
        add("ai-open-models", "ai", "audioldm2-music", "latent-diffusion", src, 2)
        add("ai-open-models", "ai", "stable-audio-open-1.0", "stable-audio", src, 1)
        add("ai-open-models", "human", "human", "human", src, 1)
    add("ai-open-models", "ai", "encodec-32khz-reconstruction", "codec-vocoder-reconstruction", "codec-demo", 3)
    add("ai-open-models", "ai", "bigvgan-reconstruction", "codec-vocoder-reconstruction", "codec-demo", 2)
    add("ai-open-models", "human", "human", "human", "codec-demo", 2)
    add("ai-open-models", "ai", "musecoco (symbolic, rendered)", "rendered-symbolic", "muzic", 3)
    add("ai-open-models", "ai", "jukedrummer (generated drums mixed with real drumless track)", "other-research",
        "juke", 3, part_human="yes")
    add("ai-open-models", "human", "human", "human", "juke", 2)
    for i in range(12):
        add("human-commercial", "human", "human", "human", f"commercial-{i}", 3, probable="yes" if i < 3 else "no",
            vocals="yes")
    # a suno group that mixes part-human and plain files
    add("ai-services", "ai", "suno-v5", "suno", "suno-partial", 2)
    add("ai-services", "ai", "suno (cover of a real song)", "suno", "suno-partial", 1, part_human="yes")
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=SOURCE_COLUMNS)
        w.writeheader()
        seen = set()
        for r in rows:
            while r["path"] in seen:
                r["path"] = r["path"].replace(".mp3", "_.mp3")
            seen.add(r["path"])
            w.writerow(r)
    return path


def training_items(prep, sources_manifest: Path, tmp: Path, **kw) -> list[Item]:
    """Sources manifest -> training-manifest rows (as the prepare script writes them) -> items."""
    rows = prep.source_rows(sources_manifest, None, require_verified=False, **kw)
    man = tmp / "train_manifest.csv"
    with man.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=prep.MANIFEST_COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in prep.MANIFEST_COLUMNS})
    return from_manifest(man, root=tmp)


def _sides(split: dict[str, list[Item]]) -> dict[str, set[str]]:
    return {k: {it.group for it in v} for k, v in split.items()}


def assert_group_split(split: dict[str, list[Item]], all_items: list[Item]) -> None:
    sides = _sides(split)
    names = list(sides)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not sides[a] & sides[b], f"groups on both {a} and {b}: {sorted(sides[a] & sides[b])[:5]}"
    assert not [it for it in split["train"] if it.role == "eval"], "a part-human (evaluation only) item trains"
    test_humans = [it for k in ("test", "holdout") for it in split.get(k, []) if it.label == HUMAN]
    assert any(it.family == "human-commercial" for it in test_humans), "no commercial human song on the test side"
    assert {it.label for it in split["train"]} == {AI, HUMAN}
    assert any(it.family == "human-commercial" for it in split["train"])


def assert_fold(family: str, fold: dict[str, list[Item]], all_items: list[Item]) -> None:
    assert_group_split(fold, all_items)
    fam_items = [it for it in all_items if it.family == family]
    held = fold["holdout"]
    assert {it.path for it in fam_items} <= {it.path for it in held}, "part of the family was not held out"
    for k in ("train", "val", "test"):
        assert not [it for it in fold[k] if it.family == family], f"{family} items in {k}"
    assert all(it.family == family or it.label == HUMAN for it in held)
    # every item is somewhere once, except the other families' items of held-out groups (dropped)
    placed = [it.path for v in fold.values() for it in v]
    assert len(placed) == len(set(placed))
    held_groups = {it.group for it in held}
    dropped = {it.path for it in all_items} - set(placed)
    assert all(it.group in held_groups for it in all_items if it.path in dropped)


# --------------------------------------------------------------------------- synthetic


def test_source_rows_flags_and_families(prep, tmp_path):
    items = training_items(prep, synthetic_sources(tmp_path / "sources.csv"), tmp_path)
    by = {it.path.rsplit("/", 3)[-2]: it for it in items}
    fam = Counter(it.family for it in items)
    assert fam["codec-reconstruction"] == 3 and fam["vocoder-reconstruction"] == 2  # split by the evidence
    assert fam["human-commercial"] == 36 and fam["human-reference"] == 4 + 2 + 2
    assert "rendered-symbolic" in fam and "codec-vocoder-reconstruction" not in fam
    assert sum(it.role == "eval" for it in items) == 2 + 3 + 1
    assert sum(it.probable for it in items) == 3 + 8 + 9
    assert by["suno-0"].vocals == "yes" and by["suno-0"].generator == "suno-v5"
    assert {it.generator for it in items if it.family == "other-research"} == {"jukedrummer"}
    assert "evaluation only" in summarize(items) and "by family" in summarize(items)
    # --train-part-human: they may train
    items2 = training_items(prep, tmp_path / "sources.csv", tmp_path, train_part_human=True)
    assert not [it for it in items2 if it.role == "eval"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_group_split_synthetic(prep, tmp_path, seed):
    items = training_items(prep, synthetic_sources(tmp_path / "sources.csv"), tmp_path)
    split = split_by_group(items, seed=seed)
    assert_group_split(split, items)
    evals = [it for it in items if it.role == "eval"]
    assert evals and all(it in split["test"] for it in evals)  # kept for evaluation


def test_leave_one_service_out_synthetic(prep, tmp_path):
    items = training_items(prep, synthetic_sources(tmp_path / "sources.csv"), tmp_path)
    folds = leave_one_family_out(items, seed=3)
    assert {"suno", "google-lyria", "producer-ai", "musicgen", "stable-audio", "codec-reconstruction"} <= set(folds)
    for fam, fold in folds.items():
        assert_fold(fam, fold, items)
    # the demo pages compare musicgen with other families: those groups leave training whole
    mg = folds["musicgen"]
    assert not [it for it in mg["train"] + mg["val"] + mg["test"] if it.source.startswith("sources:demo-")]
    # the same through hold_out patterns (what train.py's holdout_generators passes)
    rest, held = hold_out(items, ["family:suno"])
    assert {it.family for it in held if it.label == AI} == {"suno"}
    assert not {it.group for it in rest} & {it.group for it in held}


def test_plain_generator_holdout_unchanged():
    """Generator patterns keep their meaning: no group dropping unless asked."""
    items = [Item("/a", 1, "x", "g", family="f1"), Item("/b", 1, "y", "g", family="f2"), Item("/c", 0, "human", "g")]
    rest, held = hold_out(items, ["x"])
    assert [it.path for it in held] == ["/a", "/c"] and [it.path for it in rest] == ["/b"]
    rest, held = hold_out(items, ["family:f1"])
    assert [it.path for it in held] == ["/a", "/c"] and rest == []


# --------------------------------------------------------------------------- the real manifest


REAL = _real_manifest()
needs_real = pytest.mark.skipif(REAL is None, reason="../shared/data/sources/manifest.csv is not here")


@pytest.fixture(scope="module")
def real_items(prep, tmp_path_factory):
    return training_items(prep, REAL, tmp_path_factory.mktemp("real"))


@needs_real
def test_real_manifest_families(real_items):
    assert len(real_items) == sum(1 for _ in REAL.open(encoding="utf-8")) - 1
    fam = Counter(it.family for it in real_items)
    assert "codec-vocoder-reconstruction" not in fam and "human" not in fam
    assert fam["human-commercial"] > 400 and fam["rendered-symbolic"] > 0 and fam["neural-midi-synth"] > 0
    assert all(it.role == "eval" or it.role == "train" for it in real_items)


@needs_real
@pytest.mark.parametrize("seed", [0, 1])
def test_real_manifest_group_split(real_items, seed):
    split = split_by_group(real_items, seed=seed)
    assert_group_split(split, real_items)
    assert len(split["train"]) > 0.45 * len(real_items)  # groups are coarse (a demo page, a playlist)


@needs_real
def test_real_manifest_leave_one_service_out(real_items):
    folds = leave_one_family_out(real_items, seed=0)
    assert {"suno", "google-lyria", "producer-ai", "stable-audio", "musicgen", "rendered-symbolic"} <= set(folds)
    for fam, fold in folds.items():
        assert_fold(fam, fold, real_items)


def test_split_csvs_keep_the_flags(tmp_path):
    """train.write_manifest (splits/*.csv) keeps family, role, probable and vocals for evaluation."""
    from aiaudio.training.train import write_manifest

    items = [Item(str(tmp_path / "a.wav"), AI, "suno-v5", "g1", "s", 12.0, family="suno", role="eval", probable=True, vocals="yes"),
             Item(str(tmp_path / "b.wav"), HUMAN, "human", "g2", "s", None, family="human-commercial")]
    write_manifest(items, tmp_path / "split.csv")
    back = from_manifest(tmp_path / "split.csv")
    assert back == items
    plain = [Item(str(tmp_path / "c.wav"), AI, "x", "g", "s")]
    write_manifest(plain, tmp_path / "plain.csv")
    assert (tmp_path / "plain.csv").read_text().splitlines()[0] == "path,label,generator,group,source,duration_s"


def test_from_manifest_part_human_column_means_eval(tmp_path):
    (tmp_path / "m.csv").write_text("path,label,part_human,probable\na.wav,ai,yes,no\nb.wav,ai,no,yes\n")
    a, b = from_manifest(tmp_path / "m.csv")
    assert (a.role, a.probable) == ("eval", False) and (b.role, b.probable) == ("", True)


def test_split_csvs_name_files_under_home_as_tilde(tmp_path, monkeypatch):
    """Splits written into a model folder name no machine's folders: a path under the home
    directory is written ``~/...`` and read back (by whoever's home it is) as the same file;
    one beside the manifest is written relative to it; one that shares only the root stays
    absolute. Lines end in LF."""
    from aiaudio.training.train import write_manifest

    home = tmp_path / "home" / "someone"
    (home / ".cache" / "aiaudio").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    inside = Item(str(home / ".cache" / "aiaudio" / "x.flac"), HUMAN, "human", "g1", "s")
    outside = Item(str(tmp_path / "elsewhere" / "y.flac"), AI, "suno-v5", "g2", "s")
    relative = Item("data/z.flac", AI, "suno-v5", "g3", "s")
    far = Item(os.path.abspath(os.sep + "aiaudio-no-such-top-folder/w.flac"), AI, "suno-v5", "g4", "s")
    split = tmp_path / "model" / "splits" / "split.csv"
    write_manifest([inside, outside, relative, far], split)
    rows = list(csv.DictReader(split.open(newline="")))
    assert [r["path"] for r in rows] == ["~/.cache/aiaudio/x.flac", "../../elsewhere/y.flac", "data/z.flac", far.path]
    assert b"\r" not in split.read_bytes()
    back = from_manifest(split)
    assert back[0].path == inside.path and back[1].path == outside.path and back[3].path == far.path
    moved = tmp_path / "moved"  # the model folder and its data moved together
    moved.mkdir()
    (tmp_path / "model").rename(moved / "model")
    assert from_manifest(moved / "model" / "splits" / "split.csv")[1].path == str(moved / "elsewhere" / "y.flac")
    other = tmp_path / "home" / "other"
    monkeypatch.setenv("HOME", str(other))  # the model folder moved to another machine
    assert from_manifest(moved / "model" / "splits" / "split.csv")[0].path == str(other / ".cache" / "aiaudio" / "x.flac")
