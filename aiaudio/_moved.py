"""The old module paths of moved modules, kept for one release (issue 14).

Each old module (``aiaudio/pipeline.py``, ``aiaudio/train.py``, ...) is two lines that call
:func:`forward`: it gets the new module's public names and ``__all__``, forwards any other
attribute to the new module, and warns with a :class:`DeprecationWarning` on import.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any


def forward(namespace: dict[str, Any], new: str) -> None:
    """Make the module whose globals are ``namespace`` an alias of the module ``new``, and warn.

    Parameters
    ----------
    namespace : dict
        The old module's ``globals()``.
    new : str
        The module's new path, e.g. ``"aiaudio.batch"``.
    """
    mod = importlib.import_module(new)
    public = list(getattr(mod, "__all__", [n for n in vars(mod) if not n.startswith("_")]))
    namespace.update({n: getattr(mod, n) for n in public})
    namespace["__all__"] = public

    def __getattr__(name: str) -> Any:  # everything else, private names included, for old code
        return getattr(mod, name)

    namespace["__getattr__"] = __getattr__
    warnings.warn(
        f"{namespace['__name__']} is deprecated and will be removed in the next release: import {new} instead",
        DeprecationWarning,
        stacklevel=3,  # the importer (importlib's own frames are skipped)
    )
