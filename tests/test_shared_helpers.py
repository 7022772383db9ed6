"""The helpers that replaced copies (issue 14): one framing, one run finder, one rate check, one input opener."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiaudio.dsp import frames, true_runs
from aiaudio.samples import check_rate_hz


@settings(max_examples=60, deadline=None)
@given(st.lists(st.booleans(), max_size=40))
def test_true_runs_are_the_runs_of_true(mask: list[bool]) -> None:
    runs = true_runs(np.array(mask, dtype=bool))
    rebuilt = np.zeros(len(mask), dtype=bool)
    for s, e in runs:
        assert 0 <= s < e <= len(mask)
        rebuilt[s:e] = True
    assert rebuilt.tolist() == mask
    assert all(e < s2 for (_, e), (s2, _) in zip(runs, runs[1:]))  # separate runs, in order


def test_true_runs_example() -> None:
    assert true_runs(np.array([0, 1, 1, 0, 1], dtype=bool)) == [(1, 3), (4, 5)]
    assert true_runs(np.zeros(3, dtype=bool)) == []


@settings(max_examples=60, deadline=None)
@given(st.integers(8, 200), st.sampled_from([4, 8]), st.sampled_from([1, 2, 4, 8]))
def test_frames_are_the_hop_spaced_windows(n: int, n_fft: int, hop: int) -> None:
    x = np.arange(n, dtype=np.float32)
    f = frames(x, n_fft, hop)
    expect = np.array([x[i : i + n_fft] for i in range(0, n - n_fft + 1, hop)])
    assert f.shape == (1 + (n - n_fft) // hop, n_fft)
    assert np.array_equal(f, expect)


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf")])
def test_check_rate_hz_refuses_what_is_no_rate(bad: float) -> None:
    with pytest.raises(ValueError, match="sample rate"):
        check_rate_hz(bad)


def test_check_rate_hz_takes_any_positive_rate() -> None:
    assert check_rate_hz(22050) == 22050.0 and check_rate_hz(7999.5) == 7999.5


def test_explanations_and_scores_open_inputs_with_the_same_public_helpers() -> None:
    """Explain imports the input handling from the core, not private names of the detector."""
    import aiaudio.detector as det
    import aiaudio.inputs as inputs

    assert det._open_input is inputs.open_input and det._check_max_analysis_s is inputs.check_max_analysis_s
    assert inputs.check_max_analysis_s(None) is None and inputs.check_max_analysis_s(5) == 5.0
    with pytest.raises(ValueError, match="max_analysis_s"):
        inputs.check_max_analysis_s(0)
