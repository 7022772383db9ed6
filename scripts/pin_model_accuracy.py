"""Pin the shipped model to real music that a test can remake: Debian tracks and their twins.

    python scripts/pin_model_accuracy.py [--model models/default]   # writes MODEL/accuracy_pins.json

The material is made, not stored: an 8 s excerpt from the middle of each track of the
Debian package ``asc-music`` (GPL-2.0-or-later, Michael Kievernagel; ``apt-get install
asc-music``), at 22.05 kHz mono, and its twin through a 128-band mel spectrogram and
Griffin-Lim, seeded, made by the training twins' own code
(``scripts/prepare_training_data.py``'s ``run_decoder``). The pins are
the song logits the model gives them; ``tests/test_model_accuracy.py`` remakes the clips,
scores them and compares, so a change of the front end, the weights or the decoding path
fails CI. These tracks are in the training material (the Debian excerpts): the pins
guard against regressions, they do not measure accuracy on unseen music.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

PACKAGE = "asc-music"
TRACKS = ["/usr/share/games/asc/music/frontiers.mp3", "/usr/share/games/asc/music/machine_wars.mp3",
          "/usr/share/games/asc/music/time_to_strike.mp3"]
EXCERPT_S = 8.0
RATE = 22050


def clips() -> list[tuple[str, int, np.ndarray]]:
    """``(name, label, samples at 22.05 kHz)`` for each excerpt and its twin; [] if the package is missing.

    The twin is made by ``prepare_training_data.run_decoder`` (Griffin-Lim mel128, matched
    in level to its source): the training twins' own code."""
    from aiaudio.audio import load_middle, resample, to_mono

    if not all(Path(t).is_file() for t in TRACKS):
        return []
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from prepare_training_data import TWIN_SR, run_decoder

    assert TWIN_SR == RATE
    out = []
    for k, t in enumerate(TRACKS):
        y, sr = load_middle(t, EXCERPT_S)
        y22 = resample(to_mono(y)[0], sr, RATE).astype(np.float32)
        name = Path(t).stem
        out += [(f"{name}", 0, y22), (f"{name}_griffinlim", 1, run_decoder("griffinlim-mel128", y22, seed=1000 + k))]
    return out


def logits(model_dir: str | Path, material) -> dict[str, float]:
    import aiaudio

    det = aiaudio.load_detector(model_dir)
    return {name: float(det.score(y, sr=RATE).logit) for name, _, y in material}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=str(Path(__file__).resolve().parents[1] / "models" / "default"))
    args = ap.parse_args(argv)
    material = clips()
    if not material:
        print(f"the Debian package {PACKAGE} is not installed: apt-get install {PACKAGE}", file=sys.stderr)
        return 2
    pins = {"package": PACKAGE, "excerpt_s": EXCERPT_S, "rate": RATE,
            "labels": {n: lab for n, lab, _ in material}, "logits": logits(args.model, material)}
    out = Path(args.model) / "accuracy_pins.json"
    out.write_text(json.dumps(pins, indent=1) + "\n")
    print(json.dumps(pins["logits"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
