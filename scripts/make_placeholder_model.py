"""Write an untrained placeholder model (random weights) to OUT_DIR, seeded and reproducible.

The placeholder has the real architecture and front end with random weights and
``"trained": false`` in its config. Scoring with it warns loudly
(``UntrainedModelWarning``) and flags each score ``untrained_model``; the tests use it to
check that, and it lets a new architecture be wired up before it is trained.

    python scripts/make_placeholder_model.py [OUT_DIR]    # default: models/placeholder
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

from aiaudio.model import AIMusicNet, ModelConfig, save_model


def main(out: str = "models/placeholder") -> None:
    torch.manual_seed(0)
    cfg = ModelConfig(
        name="placeholder",
        version="0.0.0",
        trained=False,
        info={
            "note": "UNTRAINED placeholder: random weights (torch seed 0). Scores mean nothing.",
            "made_by": "python scripts/make_placeholder_model.py",
        },
    )
    model = AIMusicNet(cfg).eval()
    save_model(model, out)
    print(f"wrote {out} ({model.n_parameters():,} parameters, untrained)")


if __name__ == "__main__":
    main(*sys.argv[1:])
