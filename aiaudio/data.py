"""Deprecated: :mod:`aiaudio.data` moved to :mod:`aiaudio.training.data`; this path goes in the next release."""

from ._moved import forward

forward(globals(), "aiaudio.training.data")
