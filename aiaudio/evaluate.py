"""Deprecated: :mod:`aiaudio.evaluate` moved to :mod:`aiaudio.training.evaluate`; this path goes in the next release."""

from ._moved import forward

forward(globals(), "aiaudio.training.evaluate")
