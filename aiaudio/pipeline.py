"""Deprecated: :mod:`aiaudio.pipeline` moved to :mod:`aiaudio.batch` (this path goes in the next release).

Import from the new path: ``from aiaudio.batch import ...``. This module re-exports its public
names (and forwards any other attribute) and warns once, on import.
"""

import warnings as _warnings

from .batch import *  # noqa: F401,F403
from .batch import __all__  # noqa: F401

_warnings.warn(
    "aiaudio.pipeline is deprecated and will be removed in the next release: import aiaudio.batch instead",
    DeprecationWarning,
    stacklevel=2,
)


def __getattr__(name: str) -> object:
    import importlib

    return getattr(importlib.import_module("aiaudio.batch"), name)
