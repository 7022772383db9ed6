"""Shared fixtures: every test makes its own signals; nothing comes from ../shared."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import aiaudio


def music_like(seconds: float = 3.0, sr: int = 44100, channels: int = 2, seed: int = 0) -> np.ndarray:
    """A deterministic test signal: a few decaying harmonic tones plus a little noise, peak 0.5."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    out = np.zeros((channels, n))
    for ch in range(channels):
        for k, f in enumerate((220.0, 277.2, 329.6)):
            for h in range(1, 6):
                if f * h < sr / 2:
                    out[ch] += np.sin(2 * np.pi * f * h * t + ch + k) / h * np.exp(-((t % 1.0) * 2))
        out[ch] += 0.05 * rng.standard_normal(n)
    return (0.5 * out / np.abs(out).max()).astype(np.float32)


@pytest.fixture(scope="session")
def detector() -> aiaudio.Detector:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", aiaudio.UntrainedModelWarning)
        return aiaudio.load_detector()


@pytest.fixture()
def quiet_untrained():
    """Silence the untrained-model warning inside a test that is not about it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", aiaudio.UntrainedModelWarning)
        yield
