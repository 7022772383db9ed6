"""Griffe extension for the documentation build (``mkdocs.yml``): doctest lines become code blocks.

The docstrings of aiaudio are NumPy style and hold ``>>>`` examples in free text (module
docstrings) as well as in ``Examples`` sections. Markdown would render free ``>>>`` lines as
quotes and could read ``name["key"](y, sr)`` as a link; this extension wraps every run of
doctest lines (a ``>>>`` line up to the next blank line) in a fenced ``python`` block and
drops ``# doctest:`` directives. It only changes what the documentation shows, never the
docstrings in the code.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_DIRECTIVE = re.compile(r"\s*#\s*doctest:.*$")


def fence_doctests(text: str) -> str:
    """``text`` with every run of doctest lines wrapped in a fenced ``python`` code block."""
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    in_fence = False
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        if stripped.startswith("```"):
            in_fence = not in_fence
        if not in_fence and stripped.startswith(">>>"):
            indent = line[: len(line) - len(stripped)]
            block = []
            while i < len(lines) and lines[i].strip():
                block.append(_DIRECTIVE.sub("", lines[i][len(indent):] if lines[i].startswith(indent) else lines[i].lstrip()))
                i += 1
            if out and out[-1].strip():
                out.append("")
            out.append(indent + "```python")
            out.extend(indent + b for b in block)
            out.append(indent + "```")
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


class DoctestBlocks(griffe.Extension):
    """Wrap doctest lines of every docstring in fenced code blocks (see the module docs)."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fence_doctests(obj.docstring.value)
