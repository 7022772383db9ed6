"""The shipped model on real music the test remakes: Debian tracks and their Griffin-Lim twins.

``scripts/pin_model_accuracy.py`` recorded the shipped model's song logits on an 8 s
excerpt of each track of the Debian package ``asc-music`` (GPL-2.0-or-later) and on its
twin; this test remakes the same clips and scores them. A change of the weights, the front
end, the resampler or the decoder moves the logits and fails here. CI installs the
package (``.ci/run``); without it the test is skipped, saying how to install it.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
PINS = ROOT / "models" / "default" / "accuracy_pins.json"


def _script():
    spec = importlib.util.spec_from_file_location("pin_model_accuracy", ROOT / "scripts" / "pin_model_accuracy.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def material():
    pytest.importorskip("librosa")  # the Griffin-Lim twins (the train extra; the dev extra has it)
    mod = _script()
    m = mod.clips()
    if not m:
        pytest.skip(f"the Debian package {mod.PACKAGE} is not installed (apt-get install {mod.PACKAGE})")
    return mod, m


def test_the_shipped_model_gives_its_pinned_scores_on_real_music(material):
    mod, m = material
    pins = json.loads(PINS.read_text())
    got = mod.logits(ROOT / "models" / "default", m)
    assert set(got) == set(pins["logits"])
    for name, lg in got.items():
        assert lg == pytest.approx(pins["logits"][name], abs=2e-3), name


def test_the_shipped_model_ranks_every_twin_above_its_own_track(material):
    mod, m = material
    got = mod.logits(ROOT / "models" / "default", m)
    for name, label, _ in m:
        if label == 0:
            assert got[f"{name}_griffinlim"] > got[name], name
