"""Checks of configuration values (model, front-end, training and augmentation configs).

Each check names the field (``section.name``) and the allowed range in its message,
so a bad ``config.json`` says exactly what to change. Wrong types raise
:class:`TypeError`, values out of range :class:`ValueError`.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import fields
from typing import Any, Mapping, TypeVar

T = TypeVar("T")

__all__ = ["integer", "real", "text", "flag", "section", "json_depth", "dataclass_from"]


def _show(value: Any) -> str:
    """A short repr of a (possibly huge) value for an error message."""
    r = repr(value)
    return r if len(r) <= 60 else r[:57] + "..."


def integer(field: str, value: Any, lo: int, hi: int, why: str = "") -> int:
    """``value`` as an ``int`` in ``[lo, hi]`` (booleans and non-integral numbers refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{field} must be an integer in [{lo}, {hi}]{why}, got {_show(value)}")
    v = int(value)
    if not lo <= v <= hi:
        raise ValueError(f"{field} must be an integer in [{lo}, {hi}]{why}, got {_show(v)}")
    return v


def real(field: str, value: Any, lo: float = -math.inf, hi: float = math.inf, *, lo_open: bool = False, hi_open: bool = False, why: str = "") -> float:
    """``value`` as a finite ``float`` in the interval from ``lo`` to ``hi`` (open where told)."""
    rng = ("(" if lo_open else "[") + f"{lo:g}, {hi:g}" + (")" if hi_open else "]")
    if math.isinf(lo) and math.isinf(hi):
        rng = ""
    want = f"{field} must be a finite number" + (f" in {rng}" if rng else "") + why
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{want}, got {_show(value)}")
    try:
        v = float(value)
    except (OverflowError, ValueError):
        raise ValueError(f"{want}, got {_show(value)}") from None
    if not math.isfinite(v):
        raise ValueError(f"{want}, got {v}")
    if v < lo or v > hi or (lo_open and v == lo) or (hi_open and v == hi):
        raise ValueError(f"{want}, got {v:g}")
    return v


def text(field: str, value: Any, max_len: int = 200) -> str:
    """A non-empty ``str`` of at most ``max_len`` characters."""
    if not isinstance(value, str):
        raise TypeError(f"{field} must be a string, got {_show(value)}")
    if not 0 < len(value) <= max_len:
        raise ValueError(f"{field} must be a non-empty string of at most {max_len} characters, got {_show(value)}")
    return value


def flag(field: str, value: Any) -> bool:
    """A ``bool`` (JSON ``true``/``false``), nothing else."""
    if not isinstance(value, bool):
        raise TypeError(f"{field} must be true or false, got {_show(value)}")
    return value


def section(field: str, value: Any) -> Mapping[str, Any]:
    """A mapping (a JSON object) with string keys."""
    if not isinstance(value, Mapping):
        raise TypeError(f"{field} must be a JSON object ({{...}}), got {_show(value)}")
    bad = [k for k in value if not isinstance(k, str)]
    if bad:
        raise TypeError(f"{field} has non-string keys {_show(bad)}")
    return value


def json_depth(field: str, value: Any, max_depth: int) -> None:
    """Refuse containers nested deeper than ``max_depth`` (checked without recursion)."""
    stack = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, Mapping):
            children = list(v.values())
        elif isinstance(v, (list, tuple)):
            children = list(v)
        else:
            continue
        if depth > max_depth:
            raise ValueError(f"{field} is nested deeper than {max_depth} levels")
        stack.extend((c, depth + 1) for c in children)


def dataclass_from(cls: type[T], d: Mapping[str, Any], what: str, field: str | None = None) -> T:
    """``cls(**d)`` for a dataclass ``cls``, refusing keys that are not its fields.

    Parameters
    ----------
    cls
        The dataclass.
    d
        Its fields by name; missing ones take their defaults.
    what
        What the settings are, for the message (``"unknown {what} settings [...]; known: [...]"``).
    field
        When given, ``d`` is first checked to be a JSON object (:func:`section`) named so.

    Raises
    ------
    ValueError
        For an unknown key, listing the known ones.
    """
    if field is not None:
        section(field, d)
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = set(d) - known
    if unknown:
        raise ValueError(f"unknown {what} settings {sorted(unknown)}; known: {sorted(known)}")
    return cls(**d)
