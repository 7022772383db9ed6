"""Deprecated: :mod:`aiaudio.vocoders` moved to :mod:`aiaudio.training.vocoders`; this path goes in the next release."""

from ._moved import forward

forward(globals(), "aiaudio.training.vocoders")
