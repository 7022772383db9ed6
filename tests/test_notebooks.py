"""The notebooks in notebooks/ are stored with the outputs of one complete, error-free run.

These checks read the .ipynb files only (no kernel, no extra packages): they fail when a
notebook was committed unexecuted, half-executed, with an error, out of order, or too large.
Executing them is `scripts/run_notebooks.sh` (CI runs it).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
DEFAULT_MODEL_CONFIG = REPO / "models" / "default" / "config.json"


def test_the_three_notebooks_exist() -> None:
    names = [p.name for p in NOTEBOOKS]
    for name in ("01_quickstart.ipynb", "02_explain_a_song.ipynb", "03_retrain_on_your_data.ipynb"):
        assert name in names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_executed_in_order_without_errors(path: Path) -> None:
    assert path.stat().st_size < 1024 * 1024, "keep each notebook under 1 MiB (smaller figures)"
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code
    counts = [c.get("execution_count") for c in code]
    assert counts == list(range(1, len(code) + 1)), f"not one complete run from a fresh kernel: {counts}"
    for c in code:
        for out in c.get("outputs", []):
            assert out["output_type"] != "error", f"stored error in {path.name}: {out.get('ename')}: {out.get('evalue')}"
    last = "".join(code[-1]["outputs"][0]["text"]) if code[-1].get("outputs") else ""
    assert "notebook run time" in last, "the last cell reports the run time"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_describes_the_default_model_truthfully(path: Path) -> None:
    """A notebook that loads a detector says what the shipped default model is.

    Untrained (``"trained": false``): its text says plainly that the model is an untrained
    placeholder. Trained: its text must not say so, and sends the reader to the model card
    for what the model was trained on and how well it does.
    """
    text = path.read_text(encoding="utf-8")
    if "load_detector()" not in text and "load_detector(MODEL)" not in text:
        return
    md = " ".join("".join(c["source"]) for c in json.loads(text)["cells"] if c["cell_type"] == "markdown")
    trained = json.loads(DEFAULT_MODEL_CONFIG.read_text(encoding="utf-8"))["trained"]
    if not trained:
        assert "untrained placeholder" in md
    else:
        assert "untrained placeholder" not in md.lower(), "the default model is trained: do not call it a placeholder"
        assert "MODEL_CARD.md" in md, "point the reader at models/default/MODEL_CARD.md"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_outputs_name_no_folder_of_the_machine_that_ran_them(path: Path) -> None:
    """scripts/run_notebooks.sh --write writes the checkout as <repo>, temporary folders as <work>."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    for c in nb["cells"]:
        for out in c.get("outputs", []):
            texts = [out.get("text", "")] + [v for k, v in out.get("data", {}).items() if k.startswith("text/")]
            for t in texts:
                t = "".join(t) if isinstance(t, list) else t
                for folder in ("/tmp/", "/home/", "/root/", "/work/", "/Users/", "\\Users\\"):
                    assert folder not in t, f"{path.name}: a stored output names {folder}: {t[:200]!r}"

