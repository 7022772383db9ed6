"""Deprecated: :mod:`aiaudio.augment` moved to :mod:`aiaudio.training.augment`; this path goes in the next release."""

from ._moved import forward

forward(globals(), "aiaudio.training.augment")
