"""Deprecated: :mod:`aiaudio.vocoders` moved to :mod:`aiaudio.training.vocoders` (this path goes in the next release).

Import from the new path: ``from aiaudio.training.vocoders import ...``. This module re-exports its public
names (and forwards any other attribute) and warns once, on import.
"""

import warnings as _warnings

from .training.vocoders import *  # noqa: F401,F403
from .training.vocoders import __all__  # noqa: F401

_warnings.warn(
    "aiaudio.vocoders is deprecated and will be removed in the next release: import aiaudio.training.vocoders instead",
    DeprecationWarning,
    stacklevel=2,
)


def __getattr__(name: str) -> object:
    import importlib

    return getattr(importlib.import_module("aiaudio.training.vocoders"), name)
