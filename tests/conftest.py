"""Shared fixtures: every test makes its own signals; nothing comes from ../shared."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import pytest

import aiaudio

REPO = Path(__file__).resolve().parents[1]



def pytest_configure(config: pytest.Config) -> None:
    """Ctrl-C as at a terminal. A job started in the background (``cmd &`` in a script) starts
    with SIGINT ignored; Python then installs no ``KeyboardInterrupt`` handler, every child
    inherits the ignore, and the tests that interrupt a run with SIGINT would wait on a run that
    cannot be interrupted (as ``aiaudio score`` rightly is there). Give this process what a
    foreground run has; its children get the default, since exec resets handlers."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def python_without(blocked: Sequence[str], code: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``code`` in a child interpreter (this checkout's aiaudio) where the packages ``blocked``
    cannot be imported, as when they are not installed. ``code`` sees ``BLOCKED`` and ``tried``
    (the module names it tried to import and was refused); ``$AIAUDIO_BACKEND`` is unset."""
    prelude = f"""
        import importlib.abc, sys
        BLOCKED = {tuple(blocked)!r}
        tried = []

        class NotInstalled(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    tried.append(name)
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
                return None

        sys.meta_path.insert(0, NotInstalled())
    """
    pp = os.environ.get("PYTHONPATH", "")
    env = dict(os.environ, PYTHONPATH=str(REPO) + (os.pathsep + pp if pp else ""))
    env.pop("AIAUDIO_BACKEND", None)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(prelude) + textwrap.dedent(code), *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


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
