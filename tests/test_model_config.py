"""Model folders: every bad config value is a ModelLoadError, fast; weights are checked before
anything is allocated; save_model replaces a folder as a whole."""

from __future__ import annotations

import copy
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aiaudio
import aiaudio.model as model_mod
from aiaudio.errors import ModelLoadError
from aiaudio.model import AIMusicNet, ModelConfig, expected_weight_shapes, load_config, load_model, save_model

SMALL = {
    "format_version": 1,
    "name": "tiny",
    "version": "1.0.0",
    "trained": True,
    "frontend": {"sample_rate": 8000, "n_fft": 256, "hop_length": 128, "fmax_hz": 4000.0, "segment_s": 2.0, "segment_hop_s": 2.0, "min_duration_s": 1.0},
    "arch": {"channels": [4, 8], "hidden": 8},
    "calibration": {"a": 1.5, "b": -0.25},
    "threshold": 0.5,
    "uncertain_low": 0.4,
    "uncertain_high": 0.6,
}


def _tiny(version: str = "1.0.0", seed: int = 0) -> AIMusicNet:
    torch.manual_seed(seed)
    return AIMusicNet(ModelConfig.from_dict({**SMALL, "version": version})).eval()


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_model(_tiny(), tmp_path_factory.mktemp("models") / "tiny")


def _with(cfg: dict, path: str, value: Any) -> dict:
    """A copy of ``cfg`` with the field at dotted ``path`` set."""
    out = copy.deepcopy(cfg)
    *head, last = path.split(".")
    node = out
    for k in head:
        node = node[k]
    node[last] = value
    return out


def _folder(tmp_path: Path, src: Path, config_text: str | bytes) -> Path:
    d = tmp_path / "m"
    shutil.copytree(src, d)
    if isinstance(config_text, str):
        config_text = config_text.encode()
    (d / "config.json").write_bytes(config_text)
    return d


def _deep(n: int) -> Any:
    v: Any = 1
    for _ in range(n):
        v = {"x": v}
    return v


BAD_VALUES = [
    # front end: sizes, rates, types
    ("frontend.sample_rate", 0, "sample_rate"),
    ("frontend.sample_rate", -16000, "sample_rate"),
    ("frontend.sample_rate", 10**12, "sample_rate"),
    ("frontend.sample_rate", 1, "sample_rate"),
    ("frontend.sample_rate", 8000.5, "sample_rate"),
    ("frontend.sample_rate", True, "sample_rate"),
    ("frontend.sample_rate", "8000", "sample_rate"),
    ("frontend.sample_rate", None, "sample_rate"),
    ("frontend.n_fft", 0, "n_fft"),
    ("frontend.n_fft", -256, "n_fft"),
    ("frontend.n_fft", 10**8, "n_fft"),
    ("frontend.n_fft", [256], "n_fft"),
    ("frontend.hop_length", 0, "hop_length"),
    ("frontend.hop_length", -128, "hop_length"),
    ("frontend.hop_length", 100000, "hop_length"),
    ("frontend.hop_length", 128.0, "hop_length"),
    ("frontend.fmin_hz", -1.0, "fmin_hz"),
    ("frontend.fmin_hz", float("nan"), "fmin_hz"),
    ("frontend.fmin_hz", 5000.0, "fmin_hz"),
    ("frontend.fmax_hz", float("inf"), "fmax_hz"),
    ("frontend.fmax_hz", 0.0, "fmax_hz"),
    ("frontend.fmax_hz", "4k", "fmax_hz"),
    ("frontend.segment_s", 0.0, "segment_s"),
    ("frontend.segment_s", -2.0, "segment_s"),
    ("frontend.segment_s", 1e9, "segment_s"),
    ("frontend.segment_s", 10**400, "segment_s"),
    ("frontend.segment_s", float("nan"), "segment_s"),
    ("frontend.segment_hop_s", 0.0, "segment_hop_s"),
    ("frontend.segment_hop_s", -1.0, "segment_hop_s"),
    ("frontend.segment_hop_s", 1e-9, "segment_hop_s"),
    ("frontend.min_duration_s", 0.0, "min_duration_s"),
    ("frontend.min_duration_s", 1e-300, "min_duration_s"),
    ("frontend.min_duration_s", 0.01, "min_duration_s"),  # shorter than one FFT window (256 / 8000 s)
    ("frontend.min_duration_s", 99.0, "min_duration_s"),
    ("frontend.time_pool", 0, "time_pool"),
    ("frontend.time_pool", 10**6, "time_pool"),
    ("frontend.nonsense", 1, "unknown front-end"),
    ("frontend", 5, "frontend must be a JSON object"),
    ("frontend", "n_fft", "frontend must be a JSON object"),
    ("frontend", [1, 2], "frontend must be a JSON object"),
    # architecture
    ("arch.channels", [], "arch.channels"),
    ("arch.channels", [0], r"arch.channels\[0\]"),
    ("arch.channels", [-4, 8], r"arch.channels\[0\]"),
    ("arch.channels", [4, 10**9], r"arch.channels\[1\]"),
    ("arch.channels", [4.5], r"arch.channels\[0\]"),
    ("arch.channels", "48", "arch.channels"),
    ("arch.channels", 8, "arch.channels"),
    ("arch.channels", [4] * 8, "too many for the 129 frequency bins"),
    ("arch.channels", [4] * 50, "arch.channels"),
    ("arch.hidden", 0, "arch.hidden"),
    ("arch.hidden", -8, "arch.hidden"),
    ("arch.hidden", 10**12, "arch.hidden"),
    ("arch.dropout", 2.0, "arch.dropout"),
    ("arch.dropout", 1.0, "arch.dropout"),
    ("arch.dropout", -0.1, "arch.dropout"),
    ("arch.dropout", float("nan"), "arch.dropout"),
    ("arch.depth", 3, "unknown arch"),
    # calibration, threshold and the rest
    ("calibration.a", float("nan"), "calibration.a"),
    ("calibration.a", float("inf"), "calibration.a"),
    ("calibration.b", float("-inf"), "calibration.b"),
    ("calibration.b", "0", "calibration.b"),
    ("calibration.c", 0.0, "unknown calibration"),
    ("threshold", float("nan"), "threshold"),
    ("threshold", 2.0, "threshold"),
    ("threshold", -0.1, "threshold"),
    ("uncertain_low", 0.55, "uncertain_low <= threshold"),
    ("uncertain_high", "0.6", "uncertain_high"),
    ("trained", "yes", "trained"),
    ("trained", 1, "trained"),
    ("name", "", "name"),
    ("name", 5, "name"),
    ("version", None, "version"),
    ("aggregation", "max", "aggregation"),
    ("info", [1, 2], "info must be a JSON object"),
    ("info", _deep(100), "info is nested deeper"),
    ("format_version", True, "format_version"),
    ("format_version", "1", "format_version"),
    ("format_version", 99, "format_version"),
    ("colour", "blue", "unknown model config"),
]


@pytest.mark.parametrize("path,value,match", BAD_VALUES, ids=[f"{p}={str(v)[:24]}-{i}" for i, (p, v, _) in enumerate(BAD_VALUES)])
def test_each_bad_config_value_is_a_model_load_error_naming_the_field(tmp_path: Path, tiny_dir: Path, path: str, value: Any, match: str) -> None:
    d = _folder(tmp_path, tiny_dir, json.dumps(_with(SMALL, path, value)))
    with pytest.raises(ModelLoadError, match=match) as info:
        aiaudio.load_detector(d)
    assert "config.json" in str(info.value)


@pytest.mark.parametrize(
    "text,match",
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"info": ' * 100_000 + "1" + "}" * 100_000, "nested too deeply"),
        ("[]", "JSON object"),
        ("5", "JSON object"),
        ('"config"', "JSON object"),
        ("null", "JSON object"),
        ("{", "not JSON"),
        ("", "not JSON"),
        (b"\xff\xfe{}", "not JSON"),
        ('{"format_version": 1, "arch": {"hidden": 1' + "0" * 5000 + "}}", "not JSON"),
    ],
    ids=["array-100000-deep", "object-100000-deep", "array", "number", "string", "null", "truncated", "empty", "not-utf8", "5000-digit-int"],
)
def test_malformed_config_files_are_model_load_errors(tmp_path: Path, tiny_dir: Path, text: str | bytes, match: str) -> None:
    d = _folder(tmp_path, tiny_dir, text)
    with pytest.raises(ModelLoadError, match=match):
        aiaudio.load_detector(d)


def test_the_model_is_built_only_after_the_weights_header_matches(tmp_path: Path, tiny_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Huge (but allowed) layer sizes with the tiny model's weights: refused before any allocation."""
    real_cnn = model_mod.SpecCNN
    built: list[str] = []

    def never(config: ModelConfig) -> AIMusicNet:
        raise AssertionError("the network was built before its weights were checked")

    def meta_only(*args: Any, **kwargs: Any) -> Any:
        device = torch.empty(0).device.type  # where new tensors would go
        if device != "meta":
            raise AssertionError("the CNN was built on a real device before its weights were checked")
        built.append(device)
        return real_cnn(*args, **kwargs)

    monkeypatch.setattr(model_mod, "AIMusicNet", never)
    monkeypatch.setattr(model_mod, "SpecCNN", meta_only)
    huge = _with(_with(SMALL, "arch.channels", [1024] * 7), "arch.hidden", 4096)
    d = _folder(tmp_path, tiny_dir, json.dumps(huge))
    with pytest.raises(ModelLoadError, match=r"do not match.*cnn\.features\.0\.weight: \[4, 1, 3, 3\] in the file, \[1024, 1, 3, 3\]"):
        load_model(d)
    assert built == ["meta"]  # the expected shapes came from a CNN on the meta device only


def test_a_good_folder_still_loads_and_the_meta_shapes_are_the_real_ones(tiny_dir: Path) -> None:
    m = load_model(tiny_dir)
    assert expected_weight_shapes(m.config) == {k: tuple(v.shape) for k, v in m.state_dict().items()}
    big = ModelConfig(arch=model_mod.ArchConfig(channels=(8, 16, 32), hidden=33))  # not the tiny one
    assert expected_weight_shapes(big) == {k: tuple(v.shape) for k, v in AIMusicNet(big).state_dict().items()}
    assert m.config.calibration.a == 1.5 and m.config.frontend.n_bins == 129


@pytest.mark.parametrize("bad", ["nan", "inf", "negative_var"])
def test_non_finite_weights_are_refused(tmp_path: Path, tiny_dir: Path, bad: str) -> None:
    from safetensors.torch import load_file, save_file

    d = tmp_path / "m"
    shutil.copytree(tiny_dir, d)
    state = load_file(str(d / "model.safetensors"))
    if bad == "negative_var":
        state["cnn.features.1.running_var"][0] = -1.0
    else:
        state["cnn.head.1.weight"][0, 0] = float(bad)
    save_file(state, str(d / "model.safetensors"))
    with pytest.raises(ModelLoadError, match="NaN, infinite or negative-variance"):
        load_model(d)


def test_direct_construction_is_checked_too() -> None:
    from aiaudio.frontend import FrontendConfig
    from aiaudio.model import ArchConfig, Calibration

    with pytest.raises(ValueError, match=r"frontend.hop_length must be an integer in \[1, 1024\]"):
        FrontendConfig(hop_length=0)
    with pytest.raises(ValueError, match=r"arch.dropout must be a finite number in \[0, 1\)"):
        ArchConfig(dropout=2.0)
    with pytest.raises(ValueError, match="calibration.a must be a finite number"):
        Calibration(a=math.nan)
    assert ArchConfig(channels=[np.int64(4)]).channels == (4,)  # numpy integers are integers


# ------------------------------------------------------------------ property: never another exception

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**30), 10**30) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
_plausible = {
    "sample_rate": st.sampled_from([999, 1000, 8000, 192000, 192001]),
    "n_fft": st.integers(-2, 4100),
    "hop_length": st.integers(-2, 600),
    "time_pool": st.integers(-1, 200),
    "segment_s": st.floats(-1, 40),
    "segment_hop_s": st.floats(-1, 5),
    "min_duration_s": st.floats(-1, 2),
    "fmin_hz": st.floats(-10, 5000),
    "fmax_hz": st.floats(-10, 9000),
    "channels": st.lists(st.integers(-1, 1100), max_size=10),
    "hidden": st.integers(-1, 5000),
    "dropout": st.floats(-0.5, 1.5),
    "a": st.floats(),
    "b": st.floats(-1e6, 1e6),
    "threshold": st.floats(0.3, 0.7),
    "uncertain_low": st.floats(0.0, 0.6),
    "uncertain_high": st.floats(0.4, 1.0),
    "trained": st.booleans(),
    "name": st.text(max_size=8),
}
_FIELDS = (
    [("frontend", k) for k in SMALL["frontend"]] + [("frontend", "time_pool"), ("frontend", "fmin_hz")]
    + [("arch", k) for k in ("channels", "hidden", "dropout")] + [("calibration", "a"), ("calibration", "b")]
    + [(None, k) for k in ("name", "version", "trained", "threshold", "uncertain_low", "uncertain_high", "aggregation", "info", "format_version")]
    + [(None, "frontend"), (None, "arch"), (None, "calibration")]
)


@st.composite
def _configs(draw: st.DrawFn) -> dict:
    cfg = copy.deepcopy(SMALL)
    for sec, key in draw(st.lists(st.sampled_from(_FIELDS), min_size=1, max_size=4)):
        plausible = key in _plausible and draw(st.integers(0, 3)) > 0  # near the allowed range 3 times in 4
        value = draw(_plausible[key] if plausible else _json)
        (cfg[sec] if sec is not None and isinstance(cfg.get(sec), dict) else cfg)[key] = value
    return cfg


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=_configs())
def test_random_config_values_give_a_valid_config_or_a_model_load_error(cfg: dict) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "config.json").write_text(json.dumps(cfg))
        try:
            config = load_config(tmp)
        except ModelLoadError:
            return
    # a config that passes is one the network and the segmenter can be built for
    shapes = expected_weight_shapes(config)
    assert shapes and all(all(n >= 1 for n in s) for k, s in shapes.items() if not k.endswith("num_batches_tracked"))
    fe = config.frontend
    assert fe.n_bins >= 1 and fe.n_frames >= 1 and fe.segment_hop_samples >= 1 and fe.min_samples >= 1
    assert json.loads(json.dumps(config.to_dict())) == config.to_dict()


# ------------------------------------------------------------------ save_model: old or new, never a mix


class _Crash(Exception):
    pass


def _state_of(d: Path) -> tuple[str, int]:
    """(config version, weights seed) of the model in ``d``; fails on anything but a complete model."""
    m = load_model(d)
    for seed in (0, 1):
        ref = _tiny(seed=seed)
        if all(torch.equal(a, b) for a, b in zip(m.state_dict().values(), ref.state_dict().values())):
            return m.config.version, seed
    raise AssertionError("weights are neither the old nor the new ones")


def test_a_crash_at_any_step_of_save_model_leaves_the_old_or_the_new_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every rename / replace / link / swap / delete in turn raises, and the "dead" process does nothing more."""
    patched = {
        (os, "replace"): os.replace,
        (os, "rename"): os.rename,
        (os, "link"): os.link,
        (model_mod, "_swap_dirs"): model_mod._swap_dirs,
        (model_mod.shutil, "rmtree"): shutil.rmtree,
    }
    outcomes = set()
    for n in range(1, 100):
        d = tmp_path / f"run{n}" / "model"
        save_model(_tiny("1.0.0", seed=0), d)
        (d / "MODEL_CARD.md").write_text("the card\n")
        (d / "splits").mkdir()
        (d / "splits" / "train.csv").write_text("path,label\n")
        calls = {"n": 0, "dead": False}

        def step(orig, *args, **kwargs):
            if calls["dead"]:
                raise _Crash("dead")
            calls["n"] += 1
            if calls["n"] == n:
                calls["dead"] = True
                raise _Crash(f"crash at step {n}")
            return orig(*args, **kwargs)

        with monkeypatch.context() as mp:
            for (owner, name), orig in patched.items():
                mp.setattr(owner, name, lambda *a, _o=orig, **k: step(_o, *a, **k))
            try:
                save_model(_tiny("2.0.0", seed=1), d)
                crashed = False
            except _Crash:
                crashed = True
        state = _state_of(d)
        assert state in {("1.0.0", 0), ("2.0.0", 1)}, f"crash at step {n}: mixed model {state}"
        assert (d / "MODEL_CARD.md").read_text() == "the card\n" and (d / "splits" / "train.csv").is_file()
        outcomes.add(state)
        if not crashed:
            assert state == ("2.0.0", 1)
            assert [p.name for p in d.parent.iterdir()] == ["model"]  # no temporary folder left
            break
    assert n >= 4 and outcomes == {("1.0.0", 0), ("2.0.0", 1)}  # crashes before and after the swap


def test_save_model_keeps_the_folder_mode_a_symlink_and_refuses_a_file(tmp_path: Path) -> None:
    d = tmp_path / "real"
    save_model(_tiny(), d)
    os.chmod(d, 0o750)
    save_model(_tiny("2.0.0", seed=1), d)
    assert (d.stat().st_mode & 0o7777) == 0o750
    link = tmp_path / "current"
    link.symlink_to(d)
    save_model(_tiny("3.0.0", seed=0), link)
    assert link.is_symlink() and load_model(link).config.version == "3.0.0" == load_model(d).config.version
    new = save_model(_tiny(), tmp_path / "fresh" / "deeper")
    umask = os.umask(0)
    os.umask(umask)
    assert (new.stat().st_mode & 0o777) == 0o777 & ~umask  # not mkdtemp's private 0700
    (tmp_path / "afile").write_text("x")
    with pytest.raises(NotADirectoryError, match="not a folder"):
        save_model(_tiny(), tmp_path / "afile")


@pytest.mark.parametrize("platform", [None, "win32"])
def test_swap_dirs_exchanges_two_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, platform: str | None) -> None:
    """The atomic exchange, and the rename-aside fallback used where the system has none."""
    if platform:
        monkeypatch.setattr(model_mod.sys, "platform", platform)
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        d.mkdir()
        (d / d.name).write_text(d.name)
    model_mod._swap_dirs(a, b)
    assert [p.name for p in a.iterdir()] == ["b"] and [p.name for p in b.iterdir()] == ["a"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]


def test_a_folder_swapped_in_while_it_is_read_gives_one_save_not_a_mix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """save_model runs between the reading of config.json and of the weights: the read starts again."""
    d = save_model(_tiny("1.0.0", seed=0), tmp_path / "model")
    real_header_check = model_mod._check_weights_header
    saved = []

    def save_meanwhile(w_path: Path, config: ModelConfig) -> None:
        if not saved:  # once, after the first config.json was read
            saved.append(save_model(_tiny("2.0.0", seed=1), d))
        real_header_check(w_path, config)

    monkeypatch.setattr(model_mod, "_check_weights_header", save_meanwhile)
    assert _state_of(d) == ("2.0.0", 1) and saved
