"""Deprecated: :mod:`aiaudio.pipeline` moved to :mod:`aiaudio.batch`; this path goes in the next release."""

from ._moved import forward

forward(globals(), "aiaudio.batch")
