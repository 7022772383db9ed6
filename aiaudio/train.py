"""Deprecated: :mod:`aiaudio.train` moved to :mod:`aiaudio.training.train`; this path goes in the next release."""

from ._moved import forward

forward(globals(), "aiaudio.training.train")
