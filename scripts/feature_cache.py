"""Cache what training needs of every item: spectrograms on the scoring path, fingerprints, one augmented copy.

    python scripts/feature_cache.py --data ~/.cache/aiaudio/training-data/manifest.csv [--jobs 2]

For each item of the manifests (``aiaudio.training.data.load_items``) one ``.npz`` in ``--out``
(default ``~/.cache/aiaudio/features``; env ``AIAUDIO_FEATURES``), named by the item's
path, size, mtime and the front-end settings, so a changed file or front end is cached
anew. Resumable: what exists is kept; a file that fails is recorded in
``failed.json`` and tried again on the next run.

Each ``.npz`` holds

- ``spec``: the front end's log spectrograms ``(n, bins, frames)`` (float16) of the
  segments :meth:`aiaudio.Detector.score` scores (the same decoding, resampling and
  segmenting code: :func:`aiaudio.detector.model_rate_input`), at most ``--max-segments``
  spread evenly over the song, and ``starts`` (samples at the model rate);
- ``fp``, ``fp_mask``, ``bandwidth_hz``: :func:`aiaudio.fakeprint.fakeprint` of the
  first 120 s at the file's own rate;
- ``aug_spec``, ``aug_fp``, ``aug_fp_mask``, ``aug_steps``: the same of one random
  augmentation chain (:class:`aiaudio.training.augment.Augmenter`: EQ, compressor, band limit,
  MP3/AAC/Opus, gain, noise; seeded by the file's bytes, :func:`aug_seed`) of a 32 s excerpt, for training the
  model on mastered and re-encoded versions of both classes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

DEFAULT_OUT = Path(os.environ.get("AIAUDIO_FEATURES", "~/.cache/aiaudio/features")).expanduser()
FP_SECONDS = 120.0
AUG_SECONDS = 32.0
#: The augmentation of the cached copy: the training defaults with fewer (slow) pitch
#: and tempo changes; codecs and band limits on half the items of both classes.
AUG = {"p_pitch": 0.1, "p_tempo": 0.1, "p_codec": 0.5, "p_bandlimit": 0.5, "p_compress": 0.4}


#: How :func:`aug_seed` seeds an item's augmentation; part of the cache key, so a cache made
#: under another scheme (the absolute path's hash, with which 0.2.0 was made) is made anew.
SEED_SCHEME = "bytes-1MiB"


def item_key(path: str, fe_dict: dict, max_segments: int) -> str:
    st = os.stat(path)
    h = hashlib.sha1(json.dumps([os.path.abspath(path), st.st_size, int(st.st_mtime), fe_dict, max_segments,
                                 FP_SECONDS, AUG_SECONDS, AUG, SEED_SCHEME], sort_keys=True).encode())
    return h.hexdigest()[:20]


def aug_seed(path: str, head_bytes: int = 1 << 20) -> int:
    """The seed of an item's excerpt and augmentation chain, from the file's bytes.

    The file's size and its first ``head_bytes`` bytes, not its path: the same material
    gives the same augmented copies wherever the caches live (another ``$HOME``, another
    checkout), so the recipe gives the same model on any machine.

    Parameters
    ----------
    path : str
        The audio file.
    head_bytes : int
        How many bytes from the start are hashed (1 MiB).

    Returns
    -------
    int
        A seed in ``[0, 2**32)``.
    """
    with open(path, "rb") as fh:
        h = hashlib.sha1(f"{os.fstat(fh.fileno()).st_size}:".encode())
        h.update(fh.read(head_bytes))
    return int(h.hexdigest()[:8], 16)


def _even(n: int, k: int) -> np.ndarray:
    if n <= k:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, k)).astype(int))


def _specs(frontend, segs: np.ndarray) -> np.ndarray:
    import torch

    with torch.inference_mode():
        out = []
        for i in range(0, len(segs), 32):
            out.append(frontend(torch.from_numpy(np.ascontiguousarray(segs[i: i + 32]))).numpy())
    return np.concatenate(out).astype(np.float16)


def process(path: str, out_file: str, fe_dict: dict, max_segments: int, seed: int) -> dict:
    import torch

    torch.set_num_threads(1)
    from aiaudio.training.augment import AugmentConfig, Augmenter
    from aiaudio.audio import resample, to_mono
    from aiaudio.detector import StreamTotals, counted_segments
    from aiaudio.inputs import open_input
    from aiaudio.fakeprint import analyse, fakeprint
    from aiaudio.frontend import Frontend, FrontendConfig, segment_audio

    fe = FrontendConfig.from_dict(fe_dict)
    frontend = Frontend(fe).eval()
    t0 = time.perf_counter()
    blocks, _, desc, head = open_input(path, None, fe, FP_SECONDS, keep=True)
    totals = StreamTotals()
    starts, segs = [], []
    for s, seg in counted_segments(blocks, fe, totals):
        starts.append(s)
        segs.append(seg)
    if not segs:
        return {"path": path, "error": f"too short: {totals.samples / fe.sample_rate:.2f} s"}
    keep = _even(len(segs), max_segments)
    spec = _specs(frontend, np.stack([segs[i] for i in keep]).astype(np.float32))
    y, sr = head.samples(), head.sr
    fp, fm, bw = analyse(y, sr)
    # one augmented excerpt
    rng = np.random.default_rng(seed)
    n_ex = int(AUG_SECONDS * sr)
    start = int(rng.integers(0, max(1, y.shape[1] - n_ex)))
    ex = y[:, start: start + n_ex]
    aug = Augmenter(AugmentConfig.from_dict(AUG))
    steps = [name for name, _ in aug.plan(sr, np.random.default_rng(seed + 1))]
    ya, sra = aug(ex, sr, np.random.default_rng(seed + 1))
    ya = np.nan_to_num(ya)
    a_segs, _ = segment_audio(resample(to_mono(ya)[0], sra, fe.sample_rate), fe)
    a_spec = _specs(frontend, a_segs[_even(len(a_segs), 8)].astype(np.float32)) if len(a_segs) else np.zeros((0,) + spec.shape[1:], np.float16)
    afp, afm = fakeprint(ya, sra)
    tmp = out_file + f".tmp-{os.getpid()}.npz"
    np.savez(tmp, spec=spec, starts=np.asarray(starts)[keep], n_segments=len(segs), fp=fp, fp_mask=fm,
             bandwidth_hz=bw, native_sr=sr, duration_s=totals.samples / fe.sample_rate,
             aug_spec=a_spec, aug_fp=afp, aug_fp_mask=afm, aug_steps=np.array(",".join(steps)))
    os.replace(tmp, out_file)
    return {"path": path, "seconds": time.perf_counter() - t0}


def _init() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", action="append", required=True, help="manifest or folder (aiaudio.training.data.load_items); repeatable")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--model-config", type=Path, default=Path(__file__).resolve().parents[1] / "configs" / "default.json",
                    help="training config whose front end is cached (default configs/default.json)")
    ap.add_argument("--max-segments", type=int, default=48)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args(argv)
    from aiaudio.training.data import load_items
    from aiaudio.frontend import FrontendConfig

    cfg = json.loads(args.model_config.read_text())
    fe_dict = FrontendConfig.from_dict(cfg.get("frontend", {})).to_dict()
    items = [it for spec in args.data for it in load_items(spec)]
    if args.limit:
        items = items[: args.limit]
    args.out.mkdir(parents=True, exist_ok=True)
    index_path = args.out / "index.json"
    index = json.loads(index_path.read_text()) if index_path.is_file() else {}
    failed: dict[str, str] = {}
    todo = []
    for it in items:
        try:
            k = item_key(it.path, fe_dict, args.max_segments)
            f = args.out / f"{k}.npz"
            if not f.is_file():  # the seed reads the file: only for what is still to do
                todo.append((it.path, str(f), aug_seed(it.path)))
        except OSError as e:
            failed[it.path] = f"{type(e).__name__}: {e}"
            continue
        index[it.path] = f.name
    print(f"{len(items)} items, {len(items) - len(todo)} cached, {len(todo)} to do -> {args.out}", flush=True)
    index_path.write_text(json.dumps(index, indent=0))
    t0, done = time.time(), 0
    with ProcessPoolExecutor(max_workers=max(1, args.jobs), initializer=_init) as ex:
        futs = {ex.submit(process, p, f, fe_dict, args.max_segments, s): p for p, f, s in todo}
        for fut in as_completed(futs):
            try:
                r = fut.result()
            except Exception as e:  # one bad file must not stop the run
                r = {"path": futs[fut], "error": f"{type(e).__name__}: {e}"}
            if "error" in r:
                failed[r["path"]] = r["error"]
            done += 1
            if done % 100 == 0 or done == len(todo):
                print(f"{done}/{len(todo)} in {time.time() - t0:.0f} s, {len(failed)} failed", flush=True)
    (args.out / "failed.json").write_text(json.dumps(failed, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
