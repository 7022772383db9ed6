"""The ``aiaudio`` command: a thin shell over the Python API.

    aiaudio score PATH [PATH ...] [-o OUT] [--recursive] [--format csv|jsonl] [--resume] [-j N] [--file-timeout S]
    aiaudio cues PATH [PATH ...] [-o OUT]
    aiaudio catalog PATH [PATH ...] [--group-by artist|album|folder|tag:FIELD] [-o CSV] [--html HTML]

Exit status: 0 when the run finished (also when some files gave error rows),
1 when the model could not be loaded or the output not written (a full disk), 2 for usage
errors, when no input was found, when OUT cannot be used (a folder, a missing folder,
another run writing it), when ``explain`` cannot read its file or ``report`` is not given
a score output, and when an optional extra is missing (the message gives the ``pip
install`` command), 130 after Ctrl-C (143 after SIGTERM): ``score`` then leaves the
finished rows in ``OUT.partial`` for ``--resume``. A Ctrl-C while OUT is being finished
waits for it (exit 0).

Modules: :mod:`~aiaudio.cli.parser` (the parser of every command and :func:`main`), one module
per command (:mod:`~aiaudio.cli.score`, :mod:`~aiaudio.cli.cues`, :mod:`~aiaudio.cli.catalog`,
:mod:`~aiaudio.cli.explain`, :mod:`~aiaudio.cli.report`, :mod:`~aiaudio.cli.training`,
:mod:`~aiaudio.cli.export`), each a thin layer over the Python API, and
:mod:`~aiaudio.cli.output` (the row writer). Nothing in the package imports the CLI.
"""

from ..files import collect_inputs  # re-exported: ``from aiaudio.cli import collect_inputs`` keeps working
from .output import SCORE_COLUMNS, RowWriter
from .parser import build_parser, main

__all__ = ["SCORE_COLUMNS", "RowWriter", "build_parser", "collect_inputs", "main"]
