#!/usr/bin/env bash
# Execute the notebooks in notebooks/ with nbclient (a fresh Python kernel each, cwd notebooks/).
#
#   scripts/run_notebooks.sh [--write] [--timeout SECONDS] [NOTEBOOK.ipynb ...]
#
# Default (CI): each notebook runs from a temporary copy; the checkout is left untouched.
# --write: the executed notebooks replace the ones in notebooks/ (how the stored outputs
#          are made; commit them afterwards).
# --timeout: limit per cell in seconds (default 600).
# Any cell that raises fails the run (exit status 1) after all notebooks were tried.
# Prints each notebook's wall time. The kernel is this interpreter (`python` on PATH, so
# activate the virtual environment first); it needs the `notebooks` extra: nbclient,
# nbformat, ipykernel, plus matplotlib and scikit-learn.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python - "$@" <<'PY'
import argparse
import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

ap = argparse.ArgumentParser(prog="scripts/run_notebooks.sh")
ap.add_argument("notebooks", nargs="*", help="default: notebooks/*.ipynb")
ap.add_argument("--write", action="store_true", help="store the outputs in the notebooks themselves")
ap.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")
ap.add_argument("--max-kib", type=int, default=1024, help="fail when an executed notebook is larger (default 1024)")
args = ap.parse_args(sys.argv[1:])

paths = [Path(p) for p in args.notebooks] or sorted(Path("notebooks").glob("*.ipynb"))
if not paths:
    sys.exit("run_notebooks: no notebooks found")

# A kernel spec for exactly this interpreter, so that a `python3` kernel registered
# elsewhere (user or system Jupyter folders) cannot run the notebooks with another Python.
spec_root = Path(tempfile.mkdtemp(prefix="aiaudio-kernel-"))
(spec_root / "aiaudio-nb").mkdir()
(spec_root / "aiaudio-nb" / "kernel.json").write_text(json.dumps({
    "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
    "display_name": "Python 3 (aiaudio)", "language": "python",
}))
ksm = KernelSpecManager(kernel_dirs=[str(spec_root)], ensure_native_kernel=False)

# Stored outputs name no folder of the machine that ran them: the checkout becomes <repo>,
# the notebooks' temporary folders <work>, the home folder ~.
REPO_ROOT = str(Path.cwd().resolve())
TEMP = re.compile(re.escape(str(Path(tempfile.gettempdir()).resolve())) + r"/aiaudio-[A-Za-z0-9_-]+")


def scrub(text):
    text = text.replace(REPO_ROOT, "<repo>")
    text = TEMP.sub("<work>", text)
    return text.replace(str(Path.home()) + "/", "~/")


def scrub_outputs(nb):
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            if "text" in o:
                o["text"] = scrub(o["text"])
            for k, v in o.get("data", {}).items():
                if k.startswith("text/") and isinstance(v, str):
                    o["data"][k] = scrub(v)

failed, times = [], []
for path in paths:
    nb = nbformat.read(path, as_version=4)
    run_dir = Path(tempfile.mkdtemp(prefix="aiaudio-nbrun-"))
    # run next to the original so relative paths (the repository, ../shared/data) resolve the same
    cwd = path.resolve().parent
    km = KernelManager(kernel_name="aiaudio-nb", kernel_spec_manager=ksm)
    client = NotebookClient(nb, km=km, timeout=args.timeout, record_timing=False,
                            resources={"metadata": {"path": str(cwd)}})
    print(f"== {path} ...", flush=True)
    t0 = time.perf_counter()
    err = None
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError) as e:
        err = e
    dt = time.perf_counter() - t0
    times.append((path, dt, err is None))
    # the stored kernel spec stays the portable `python3`
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    scrub_outputs(nb)
    out = run_dir / path.name
    nbformat.write(nb, out)
    size_kib = out.stat().st_size / 1024
    if err is not None:
        print(f"FAILED {path} after {dt:.1f} s:\n{err}", flush=True)
        failed.append(path)
        continue
    if size_kib > args.max_kib:
        print(f"FAILED {path}: executed notebook is {size_kib:.0f} KiB (> {args.max_kib} KiB)", flush=True)
        failed.append(path)
        continue
    if args.write:
        shutil.copyfile(out, path)
    print(f"ok {path}: {dt:.1f} s, {size_kib:.0f} KiB" + (" (outputs written)" if args.write else ""), flush=True)
    shutil.rmtree(run_dir, ignore_errors=True)

shutil.rmtree(spec_root, ignore_errors=True)
print("\nnotebook run times:")
for path, dt, ok in times:
    print(f"  {path.name:40s} {dt:7.1f} s  {'ok' if ok else 'FAILED'}")
sys.exit(1 if failed else 0)
PY
