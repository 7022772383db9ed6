"""The argument parser of every command, and :func:`main`, which runs the one asked for."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from .._version import __version__
from ..audio import MAX_ANALYSIS_S
from .catalog import cmd_catalog
from .cues import cmd_cues
from .explain import cmd_explain
from .export import cmd_export_onnx
from .output import SCORE_COLUMNS
from .report import cmd_report
from .score import cmd_score
from .training import cmd_calibrate, cmd_evaluate, cmd_train


def _add_io_args(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH", help="audio files and/or folders")
    p.add_argument("-o", "--output", metavar="OUT", help=f"write {what} here (default: standard output)")
    p.add_argument("-r", "--recursive", action="store_true", help="look into sub-folders of folders")
    p.add_argument(
        "--format", choices=["csv", "jsonl"], help="output format (default: from OUT's extension, else csv)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar (it shows only on a terminal)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aiaudio",
        description="Tell AI-generated music from human-made music.",
        epilog="Run `aiaudio COMMAND --help` for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"aiaudio {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "score",
        help="score files and folders: one row per file",
        description=(
            "Score audio files and folders with a detector; one row per file with the columns "
            + ",".join(SCORE_COLUMNS)
            + ". A file that cannot be read gets a row with its error and the run goes on."
            " Rows go to OUT.partial as files finish and OUT is written, in input order, when"
            " the run completes; after Ctrl-C or a crash, --resume scores only the missing files."
            " On standard output rows come in order of completion."
        ),
    )
    _add_io_args(p, "the rows")
    p.add_argument("-m", "--model", metavar="DIR", help="model directory (default: the shipped default model)")
    p.add_argument("--cues", action="store_true", help="add the interpretable cues as cue_* columns (slower)")
    p.add_argument("--segments", action="store_true", help="with jsonl output: add per-segment [start_s, end_s, p_ai]")
    p.add_argument("--batch-size", type=int, default=32, metavar="N", help="segments per forward pass (default 32)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run: keep the rows in OUT.partial (or OUT), score only the other files",
    )
    p.add_argument(
        "-j", "--jobs", type=int, metavar="N",
        help="decode worker processes (default: chosen from the CPU cores, one per core with the ONNX backend, "
        "where each worker also runs the CNN; 0: decode in the main process)",
    )
    p.add_argument(
        "--threads", type=int, metavar="N",
        help="CNN threads of the main process, where it runs the CNN (the torch backend, -j 0; default: chosen from the CPU cores)",
    )
    p.add_argument(
        "--file-timeout", type=float, metavar="SECONDS",
        help="give up a file after this many seconds of decoding: it gets an error row with reason timeout "
        "and the run goes on (default: 60 s plus 10 s per MB of the file; 0: no limit)",
    )
    p.set_defaults(func=cmd_score)

    p = sub.add_parser(
        "catalog",
        help="one verdict per artist, album, folder or tag: songs combined, with the evidence song by song",
        description=(
            "Score the songs (rows as `aiaudio score --segments` writes them, kept in SONGS for --resume), "
            "group them by tag or folder (folders are searched recursively) and give each group a verdict: "
            "the songs' calibrated combination with its 90% interval, songs per tier, the most AI-like songs "
            "with their time ranges, the songs that decide it, and the AI-looking minority of a mixed catalogue."
        ),
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="audio files and/or folders")
    p.add_argument("-o", "--output", metavar="CSV", help="write one row per group here (default: standard output)")
    p.add_argument(
        "--group-by", default="artist", metavar="HOW",
        help="artist (album artist, else artist tag), album, folder, or tag:FIELD; files without the tag go by folder (default: artist)",
    )
    p.add_argument("--html", metavar="HTML", help="also write a self-contained HTML report (sortable, expandable groups)")
    p.add_argument("--title", help="title of the HTML report")
    p.add_argument(
        "--songs", metavar="SONGS",
        help="per-song rows (JSON lines; default: OUT with .songs.jsonl, or catalog.songs.jsonl without -o)",
    )
    p.add_argument("--resume", action="store_true", help="keep the songs already in SONGS and score only the others")
    p.add_argument("-m", "--model", metavar="DIR", help="model directory (default: the shipped default model)")
    p.add_argument("-j", "--jobs", type=int, metavar="N", help="decode worker processes (as for score)")
    p.add_argument("--threads", type=int, metavar="N", help="CNN threads (as for score)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (it shows only on a terminal)")
    p.set_defaults(func=cmd_catalog)

    p = sub.add_parser(
        "cues",
        help="compute the interpretable cues of files: one row per file",
        description="Compute the interpretable cues (loudness, dynamics, cut-off, upsampler peaks, shimmer, stereo).",
    )
    _add_io_args(p, "the rows")
    p.add_argument(
        "--max-analysis-s", type=float, default=MAX_ANALYSIS_S, metavar="S",
        help=f"decode and analyse at most the first S seconds of each file, flagged cues_truncated when longer "
        f"(0: whole files, in memory; default {MAX_ANALYSIS_S:g})",
    )
    p.set_defaults(func=cmd_cues)

    p = sub.add_parser(
        "train",
        help="train a model on a dataset",
        description="Train, calibrate and save a model; resumes from OUT/checkpoints if interrupted.",
    )
    p.add_argument("--data", action="append", default=[], metavar="SPEC", help="folder with ai/ and human/, CSV manifest, or SONICS/FakeMusicCaps root (repeatable)")
    p.add_argument("--out", metavar="DIR", help="output model directory (default models/new, or the --config file's)")
    p.add_argument("--config", metavar="JSON", help="training config file (flags override it)")
    p.add_argument("--holdout", action="append", default=[], metavar="GENERATOR", help="leave this generator out of training (repeatable)")
    p.add_argument("--epochs", type=int, metavar="N", help="training epochs (default 20, or the --config file's)")
    p.add_argument("--batch-size", type=int, metavar="N", help="segments per training batch (default 32, or the --config file's)")
    p.add_argument("--lr", type=float, metavar="LR", help="AdamW learning rate, with cosine decay (default 1e-3, or the --config file's)")
    p.add_argument("--seed", type=int, metavar="N", help="seeds the splits, the initial weights and every epoch's sampling (default 0, or the --config file's)")
    p.add_argument("--segments-per-item", type=int, metavar="N", help="random segments drawn from each song per epoch (default 8, or the --config file's)")
    p.add_argument("--workers", type=int, metavar="N", help="data-loading worker processes (default: from the CPU count; 0: load in the main process)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="where to train (default auto: cuda when available)")
    p.add_argument("--no-augment", action="store_true", help="train without augmentation (for ablations)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (it shows only on a terminal)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "evaluate",
        help="evaluate a model: metrics JSON, tables and plots",
        description="Score a dataset with a model and write metrics.json, report.md and plots to OUT.",
    )
    p.add_argument("--model", required=True, metavar="DIR", help="model directory to evaluate")
    p.add_argument(
        "--data", action="append", required=True, metavar="SPEC",
        help="folder with ai/ and human/, CSV manifest (e.g. MODEL/splits/test.csv), or SONICS/FakeMusicCaps root (repeatable)",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="where metrics.json, report.md, scores.csv and the plots go")
    p.add_argument("--conditions", nargs="*", metavar="NAME", help="robustness conditions (see aiaudio.training.augment.ROBUSTNESS_TRANSFORMS)")
    p.add_argument("--robustness", action="store_true", help="run every robustness condition")
    p.add_argument("--max-segments", type=int, default=0, metavar="N",
                   help="0 (default): score every song exactly as `aiaudio score` does (every segment); N: at most N "
                        "evenly spread segments per song through the training loader (faster, not the score users get)")
    p.add_argument("--sample", type=int, metavar="N", help="evaluate a random N of the songs, stratified by label and family (seed 0)")
    p.add_argument("--excerpt-s", type=float, metavar="S",
                   help="every condition scores the same S seconds from the middle of each song (bounded time on long songs)")
    p.add_argument("--workers", type=int, metavar="N", help="data-loading worker processes (default: from the CPU count; 0: load in the main process)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (it shows only on a terminal)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "calibrate",
        help="re-set the threshold on your own human tracks",
        description="Score your human tracks and write a model directory whose threshold flags at most --target-fpr of them.",
    )
    p.add_argument("--human", action="append", required=True, metavar="DIR", help="folder of human-made tracks, or a CSV manifest whose human rows are taken (repeatable)")
    p.add_argument("--out", required=True, metavar="DIR", help="where the recalibrated model goes")
    p.add_argument("--model", metavar="DIR", help="model to start from (default: the shipped model)")
    p.add_argument(
        "--target-fpr", type=float, default=0.01, metavar="F",
        help="largest share of your human tracks the new threshold may flag as AI (default 0.01)",
    )
    p.add_argument(
        "--conditions", nargs="*", default=[], metavar="NAME",
        help="also hold the rate after each of these transforms (e.g. opus_64k resample_16k loud_limit; "
             "see aiaudio.training.augment.ROBUSTNESS_TRANSFORMS): for tracks that reach the detector re-encoded",
    )
    p.add_argument("--excerpt-s", type=float, metavar="S", help="score the transformed tracks on S seconds from their middle")
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser(
        "explain",
        help="why one file scored as it did: summary, plot, JSON",
        description=(
            "Explain one file's score: p_ai per segment, each cue's value, human percentile and measured "
            "effect (the change of p_ai when the cue is neutralised in the audio), an occlusion map of the "
            "spectrogram, the upsampler-peak residual spectrum, and a plain-language summary (printed)."
        ),
    )
    p.add_argument("file", nargs="+", metavar="FILE", help="audio file(s); several need --out-dir or --json -")
    p.add_argument(
        "--out-dir", metavar="DIR",
        help="write <name>.json and <name>.png per file here (names as `report` links them: <stem>, or <stem>-<hash> for a shared stem)",
    )
    p.add_argument("-j", "--jobs", type=int, metavar="N", help="with several files: worker processes (default: half the CPU cores)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (it shows only on a terminal)")
    p.add_argument("--plot", metavar="PNG", help='write a one-page plot here (needs pip install "aiaudio[plot]")')
    p.add_argument(
        "--json", metavar="JSON",
        help="write the full explanation here ('-': to standard output, the summary then goes to standard error)",
    )
    p.add_argument("-m", "--model", metavar="DIR", help="model directory (default: the shipped default model)")
    p.add_argument("--intervention-s", type=float, default=30.0, metavar="S", help="excerpt length for the cue interventions (0: whole track; default 30)")
    p.add_argument("--max-occlusion-passes", type=int, default=192, metavar="N", help="CNN passes for the occlusion map (default 192)")
    p.add_argument("--no-interventions", action="store_true", help="skip the cue interventions (faster; effects not measured)")
    p.add_argument("--no-saliency", action="store_true", help="skip the occlusion map (faster)")
    p.add_argument(
        "--max-analysis-s", type=float, default=MAX_ANALYSIS_S, metavar="S",
        help=f"analyse (cues, saliency, interventions) at most the first S seconds; the score covers the whole file "
        f"(0: all of it, in memory; default {MAX_ANALYSIS_S:g})",
    )
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser(
        "report",
        help="a self-contained HTML page for a scored folder",
        description=(
            "Make one HTML file (inline CSS/JS/SVG, opens without a server) from `aiaudio score` output: "
            "histogram of p_ai, a table sortable by any column, links to explanation plots."
        ),
    )
    p.add_argument("scores", metavar="SCORES", help="CSV (or JSON lines) written by `aiaudio score`")
    p.add_argument("-o", "--output", required=True, metavar="HTML", help="the page to write")
    p.add_argument("--plots", metavar="DIR", help="folder of explanation plots named <stem>.png to link")
    p.add_argument(
        "--make-plots", action="store_true",
        help='run `explain` on each scored file whose plot is missing (slow; needs pip install "aiaudio[plot]")',
    )
    p.add_argument("-m", "--model", metavar="DIR", help="model for --make-plots, and whose threshold the page shows (default: the shipped model)")
    p.add_argument("--title", help="page title")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "export-onnx",
        help="write the model as one ONNX file, for onnxruntime and other tools",
        description=(
            "Export the whole model, STFT front end included, to one ONNX file: input 'segments' "
            "float32 (batch, segment samples) of mono audio at the model rate, output 'logits' "
            "float32 (batch,). The file's metadata hold the model config and how to turn segment "
            'logits into a song p_ai and label. Needs pip install "aiaudio[onnx]".'
        ),
    )
    p.add_argument("-o", "--output", metavar="OUT", help="the .onnx file to write")
    p.add_argument(
        "--into-model", action="store_true",
        help="write the model folder's model.onnx (the CNN only, for torch-free scoring; see aiaudio.runtime)",
    )
    p.add_argument("-m", "--model", metavar="DIR", help="model directory (default: the shipped default model)")
    p.add_argument("--opset", type=int, metavar="N", help="ONNX opset, 18 or later (default: the exporter's)")
    p.set_defaults(func=cmd_export_onnx)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("aiaudio: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `aiaudio score dir | head`
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:  # pragma: no cover
            pass
        return 0
