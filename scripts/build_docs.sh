#!/usr/bin/env bash
# Build the documentation site into site/ (mkdocs + mkdocstrings; config: mkdocs.yml).
#
#   scripts/build_docs.sh            # build; any warning fails (mkdocs --strict)
#   scripts/build_docs.sh serve      # live preview on http://127.0.0.1:8000
#
# The API reference is generated from the NumPy-style docstrings of aiaudio/*.py. Strict mode
# turns every warning into an error: broken links and cross-references, pages missing from
# the navigation, and docstring problems griffe reports (a documented parameter that is not in
# the signature, an empty Returns section, ...). Needs the `docs` extra:
#   pip install -e ".[docs]"     (mkdocs, mkdocstrings-python)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "serve" ]; then
  exec python -m mkdocs serve
fi
TIMEFORMAT="docs built in site/ in %1R s"
time python -m mkdocs build --strict --clean
