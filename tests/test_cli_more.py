"""The `explain`, `report`, `train` and `evaluate` commands on the inputs users actually give them."""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiaudio.audio import read as audio_mod  # where the readers are opened
from aiaudio.audio import write_audio
from aiaudio.cli import build_parser, main
from aiaudio.errors import ScoresFormatError
from aiaudio.report import read_scores, render_report

from conftest import music_like

FAST = ["--no-interventions", "--no-saliency"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("clip") / "clip.wav"
    write_audio(path, music_like(5.0, 22050, 2), 22050)
    return path


# --------------------------------------------------------------------------- explain


def test_explain_json_dash_writes_only_the_json_to_standard_output(clip: Path, capsys) -> None:
    rc = main(["explain", str(clip), "--json", "-", *FAST])
    out, err = capsys.readouterr()
    assert rc == 0
    doc = json.loads(out)  # the whole of standard output is one JSON document
    assert doc["path"] == str(clip) and doc["label"] in ("ai", "human", "uncertain")
    assert doc["summary"] and doc["summary"] in err  # the summary went to standard error
    assert not Path("-").exists()


def test_explain_bad_input_file_exits_2_without_a_traceback(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio\n" * 50)
    rc = main(["explain", str(bad), *FAST])
    out, err = capsys.readouterr()
    assert rc == 2 and out == ""
    assert "bad.wav" in err and "Traceback" not in err


def test_explain_keeps_decoder_messages_off_the_terminal(clip: Path, tmp_path: Path, monkeypatch, capfd) -> None:
    """What a C decoder prints on file descriptor 2 (libmpg123 on a damaged MP3 frame) does not
    reach the terminal; the explanation carries the flag and one note line says so."""
    real = audio_mod._open_reader

    def complaining(source, *a, **k):
        os.write(2, b"[layer3.c] error: part2_3_length too large\n[layer3.c] error: second line\n")
        return real(source, *a, **k)

    monkeypatch.setattr(audio_mod, "_open_reader", complaining)
    js = tmp_path / "e.json"
    capfd.readouterr()
    rc = main(["explain", str(clip), "--json", str(js), *FAST])
    out, err = capfd.readouterr()
    assert rc == 0
    assert "second line" not in err and "second line" not in out
    assert "decoder_messages" in err and "part2_3_length too large" in err  # one note, with the first line
    assert "decoder_messages" in json.loads(js.read_text())["flags"]
    os.write(2, b"after\n")  # file descriptor 2 is back where it was
    assert "after" in capfd.readouterr().err


# --------------------------------------------------------------------------- report


def _report(scores: Path, tmp_path: Path, capsys) -> tuple[int, str]:
    rc = main(["report", str(scores), "-o", str(tmp_path / "r.html")])
    return rc, capsys.readouterr().err


@pytest.mark.parametrize(
    "name, content, says",
    [
        ("scores.csv", bytes(range(256)) * 8, "binary"),
        ("scores.csv", b"\x89PNG\r\n\x1a\n" + bytes(500), "binary"),
        ("scores.csv", b"\xff\xfe\xfa not utf-8, no zero byte\n1,2\n", "columns"),
        ("scores.csv", b"name,score\na.wav,0.5\n", "columns name, score"),
        ("scores.csv", b"", "empty"),
        ("scores.jsonl", b'{"path": "a.wav", "p_ai": 0.5}\nnot json\n', "line 2: not JSON"),
        ("scores.jsonl", b"[1, 2]\n", "not an object"),
        ("scores.jsonl", b'{"file": "a.wav"}\n', "fields file"),
    ],
)
def test_report_on_something_that_is_not_a_score_output_says_so(tmp_path: Path, capsys, name: str, content: bytes, says: str) -> None:
    scores = tmp_path / name
    scores.write_bytes(content)
    rc, err = _report(scores, tmp_path, capsys)
    assert rc == 2
    assert says in err and "aiaudio score" in err and "Traceback" not in err
    assert not (tmp_path / "r.html").exists()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=400) | st.text(max_size=300).map(str.encode), suffix=st.sampled_from([".csv", ".jsonl"]))
def test_read_scores_reads_rows_or_says_it_is_not_a_score_output(tmp_path: Path, content: bytes, suffix: str) -> None:
    """Any bytes: either rows that render into a valid UTF-8 page, or ScoresFormatError."""
    scores = tmp_path / f"any{suffix}"
    scores.write_bytes(content)
    try:
        rows = read_scores(scores)
    except ScoresFormatError as e:
        assert "aiaudio score" in str(e)
        return
    render_report(rows, base_dir=tmp_path).encode("utf-8")  # strict: no stray surrogate


def test_report_keeps_every_name_exactly(tmp_path: Path, capsys) -> None:
    """Names with commas, quotes, CR/LF, U+2028 and bytes that are not UTF-8 come back exactly
    from a scores CSV written with the csv module; the page links each to its own bytes."""
    names = ["plain.wav", 'a,"b".wav', "cr\rlf\n.wav", "line\u2028sep.wav", os.fsdecode(b"latin-\xe9.wav")]
    scores = tmp_path / "s.csv"
    with scores.open("w", newline="", encoding="utf-8", errors="surrogateescape") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["path", "p_ai", "label", "error"])
        for i, n in enumerate(names):
            w.writerow([n, f"{0.1 + 0.2 * i:.3f}", "human", ""])
    assert [r["path"] for r in read_scores(scores)] == names
    rc, err = _report(scores, tmp_path, capsys)
    assert rc == 0, err
    page = (tmp_path / "r.html").read_bytes().decode("utf-8")  # valid UTF-8
    assert 'latin-%E9.wav"' in page  # the link holds the file's own byte (relative paths: from the cwd)
    assert "latin-\ufffd.wav" in page


def test_report_make_plots_without_matplotlib_says_the_extra(tmp_path: Path, monkeypatch, capsys) -> None:
    import sys

    scores = tmp_path / "s.csv"
    scores.write_text("path,p_ai\na.wav,0.5\n")
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    rc, err = main(["report", str(scores), "-o", str(tmp_path / "r.html"), "--make-plots"]), capsys.readouterr().err
    assert rc == 2 and 'pip install "aiaudio[plot]"' in err


# --------------------------------------------------------------------------- help texts


def _options_without_help(help_text: str) -> list[str]:
    """Options listed in an argparse ``--help`` text that have no description."""
    lines = help_text.split("options:", 1)[1].splitlines()
    entries: list[list[str]] = []
    for line in lines:
        if re.match(r"^  -", line):
            entries.append([line])
        elif entries and line.startswith("   "):
            entries[-1].append(line)
    missing = []
    for e in entries:
        invocation, _, rest = e[0].strip().partition("  ")  # the help starts after two spaces
        if not rest.strip() and len(e) == 1:  # ... or on the next, indented line
            missing.append(invocation)
    return missing


@pytest.mark.parametrize("command", ["train", "evaluate", "explain", "report", "calibrate"])
def test_every_option_has_a_help_text(command: str, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert _options_without_help(text) == []
    # the check itself: an option without help is found
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices[command]
    sub.add_argument("--undocumented-option-x", type=int)
    assert _options_without_help(sub.format_help()) == ["--undocumented-option-x UNDOCUMENTED_OPTION_X"]
