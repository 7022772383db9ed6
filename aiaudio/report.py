"""A self-contained HTML page for a scored folder.

    aiaudio score music/ -o scores.csv
    aiaudio report scores.csv -o report.html [--plots plots/] [--make-plots]

The page has a histogram of ``p_ai`` (inline SVG), a table of every file that sorts
by any column (by ``p_ai``, highest first, when it opens), and for each file a link
to its explanation plot when one exists (``<plots>/<stem>.png``). Everything (CSS,
JavaScript, the histogram) is inline: the file opens from disk in any browser, with
no server and no network.
"""

from __future__ import annotations

import csv
import datetime as _dt
import hashlib
import html
import io
import json
import math
import os
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence
from urllib.parse import quote

from .errors import MissingDependencyError, ScoresFormatError

__all__ = ["read_scores", "render_report", "write_report", "plot_name"]

LABEL_COLOURS = {"ai": "#d62728", "uncertain": "#ff9f1c", "human": "#1f77b4"}


# --------------------------------------------------------------------------- input


def _float(v: Any) -> float | None:
    if v is None or v == "":
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


#: What a scores file must hold, for the messages.
_EXPECTED = "a CSV or JSON lines file written by `aiaudio score`, with the columns path and p_ai"


def _columns_text(cols: Iterable[Any], k: int = 8) -> str:
    names = [ascii(str(c))[1:-1][:40] for c in cols]
    return ", ".join(names[:k]) + (f" ... ({len(names)} in all)" if len(names) > k else "")


def read_scores(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Rows of an ``aiaudio score`` output (CSV, or JSON lines for ``.jsonl``/``.ndjson``).

    The file is read as UTF-8; bytes that are not valid UTF-8 (a file name that is not)
    are kept as surrogate escapes, so ``path`` names the very file that was scored.

    Returns
    -------
    list of dict
        ``path``, ``p_ai`` (float or None), ``label``, ``confidence``, ``duration_s``,
        ``error``, ``flags`` (list of str), ``model_version``, in file order.

    Raises
    ------
    ScoresFormatError
        When the file is not a score output: empty, binary, not CSV / JSON lines, or
        without the ``path`` and ``p_ai`` columns (a :class:`ValueError`).
    OSError
        When the file cannot be read.
    """
    p = Path(path)
    data = p.read_bytes()
    if not data.strip():
        raise ScoresFormatError(f"{p}: the file is empty; expected {_EXPECTED}.")
    if b"\x00" in data[:65536]:
        raise ScoresFormatError(f"{p}: a binary file, not a score output; expected {_EXPECTED}.")
    text = data.decode("utf-8", "surrogateescape")
    raw: list[dict[str, Any]]
    if p.suffix.lower() in (".jsonl", ".ndjson"):
        raw = []
        for n, line in enumerate(text.split("\n"), 1):  # not splitlines(): U+2028 may be in a name
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError as e:
                raise ScoresFormatError(f"{p}, line {n}: not JSON ({e}); expected {_EXPECTED}.") from None
            if not isinstance(rec, dict):
                raise ScoresFormatError(f"{p}, line {n}: a JSON {type(rec).__name__}, not an object; expected {_EXPECTED}.")
            raw.append(rec)
        if raw and not {"path", "p_ai"} <= set(raw[0]):
            raise ScoresFormatError(
                f"{p}: not an `aiaudio score` output: its first record has the fields {_columns_text(raw[0])}; "
                f"expected {_EXPECTED}."
            )
    else:
        try:
            reader = csv.DictReader(io.StringIO(text, newline=""))
            raw = list(reader)
            header = reader.fieldnames or []
        except csv.Error as e:
            raise ScoresFormatError(f"{p}: not a readable CSV file ({e}); expected {_EXPECTED}.") from None
        if not {"path", "p_ai"} <= set(header):
            raise ScoresFormatError(
                f"{p}: not an `aiaudio score` output: its first line has the columns {_columns_text(header)}; "
                f"expected {_EXPECTED}."
            )
    rows = []
    for r in raw:
        flags = r.get("flags") or []
        if isinstance(flags, str):
            flags = [f for f in flags.split(";") if f]
        elif not isinstance(flags, list):
            flags = [flags]
        rows.append(
            {
                "path": "" if r.get("path") is None else str(r["path"]),
                "p_ai": _float(r.get("p_ai")),
                "label": str(r.get("label") or ""),
                "confidence": _float(r.get("confidence")),
                "duration_s": _float(r.get("duration_s")),
                "error": str(r.get("error") or ""),
                "flags": [str(f) for f in flags],
                "model_version": str(r.get("model_version") or ""),
            }
        )
    return rows


def plot_name(path: str, taken: Iterable[str] = ()) -> str:
    """File name of the explanation plot of ``path``: ``<stem>.png``, or ``<stem>-<hash>.png`` when taken."""
    stem = Path(path).stem or "audio"
    name = f"{stem}.png"
    if name in set(taken):
        name = f"{stem}-{hashlib.sha1(path.encode('utf-8')).hexdigest()[:8]}.png"
    return name


def _plot_names(rows: Sequence[dict[str, Any]]) -> list[str]:
    stems = Counter(Path(r["path"]).stem for r in rows)
    out = []
    for r in rows:
        stem = Path(r["path"]).stem or "audio"
        out.append(f"{stem}.png" if stems[stem] == 1 else plot_name(r["path"], [f"{stem}.png"]))
    return out


# --------------------------------------------------------------------------- pieces


def _href(target: Path, base: Path) -> str:
    try:
        rel = os.path.relpath(target.resolve(), base.resolve())
    except ValueError:  # another drive (Windows), or a NUL in the name
        try:
            return target.resolve().as_uri()
        except ValueError:
            return quote(_utf8(target.as_posix()))
    return quote(_utf8(Path(rel).as_posix()))  # a name that is not UTF-8: its own bytes


def _utf8(text: str) -> bytes:
    """``text`` as bytes: surrogate escapes back to the bytes they stand for, other lone surrogates as ``?``."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace")


def _shown(text: str) -> str:
    """``text`` for the page: what is not valid UTF-8 shown as U+FFFD."""
    return _utf8(text).decode("utf-8", "replace")


def _histogram_svg(rows: Sequence[dict[str, Any]], bins: int = 20) -> str:
    W, H, L, B, T, R = 640, 220, 42, 34, 12, 10
    counts = {k: [0] * bins for k in ("human", "uncertain", "ai", "")}
    for r in rows:
        p = r["p_ai"]
        if p is None:
            continue
        i = min(bins - 1, max(0, int(p * bins)))
        counts[r["label"] if r["label"] in LABEL_COLOURS else ""][i] += 1
    tot = [sum(counts[k][i] for k in counts) for i in range(bins)]
    top = max(tot + [1])
    top = top + max(1, math.ceil(0.1 * top))  # headroom above the highest bar
    pw, ph = W - L - R, H - T - B
    bw = pw / bins
    parts = [
        f'<svg id="histogram" xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
        'role="img" aria-label="histogram of p_ai">',
        f'<rect x="{L}" y="{T}" width="{pw}" height="{ph}" fill="#fafafa" stroke="#ccc"/>',
    ]
    for i in range(bins):
        y0 = T + ph
        for k in ("human", "uncertain", "ai", ""):
            c = counts[k][i]
            if not c:
                continue
            h = ph * c / top
            y0 -= h
            colour = LABEL_COLOURS.get(k, "#888")
            parts.append(
                f'<rect class="hbar" x="{L + i * bw + 1:.1f}" y="{y0:.1f}" width="{bw - 2:.1f}" height="{h:.1f}" fill="{colour}">'
                f"<title>p_ai {i / bins:.2f}-{(i + 1) / bins:.2f}: {c} {k or 'unlabelled'}</title></rect>"
            )
    for t in (0.0, 0.25, 0.5, 0.75, 1.0):
        x = L + t * pw
        parts.append(f'<line x1="{x:.1f}" y1="{T + ph}" x2="{x:.1f}" y2="{T + ph + 4}" stroke="#333"/>')
        parts.append(f'<text x="{x:.1f}" y="{T + ph + 16}" font-size="11" text-anchor="middle">{t:g}</text>')
    step = max(1, math.ceil(top / 5))
    for c in range(0, top + 1, step):
        y = T + ph - ph * c / top
        parts.append(f'<line x1="{L - 4}" y1="{y:.1f}" x2="{L}" y2="{y:.1f}" stroke="#333"/>')
        parts.append(f'<text x="{L - 7}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{c}</text>')
    parts.append(f'<text x="{L + pw / 2}" y="{H - 4}" font-size="12" text-anchor="middle">p_ai</text>')
    parts.append(f'<text x="12" y="{T + ph / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 12 {T + ph / 2})">files</text>')
    parts.append("</svg>")
    return "".join(parts)


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1200px;color:#222;padding:0 12px}
h1{font-size:22px;margin:0 0 4px} .meta{color:#555;margin:0 0 16px}
.summary{display:flex;gap:24px;align-items:flex-start;flex-wrap:wrap}
.counts td{padding:2px 10px 2px 0}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px;vertical-align:middle}
table.scores{border-collapse:collapse;width:100%;margin-top:16px}
table.scores th,table.scores td{border-bottom:1px solid #e3e3e3;padding:4px 8px;text-align:left;vertical-align:top}
table.scores th{background:#f3f3f3;cursor:pointer;user-select:none;position:sticky;top:0}
table.scores th.sorted-asc::after{content:" \\25B2"} table.scores th.sorted-desc::after{content:" \\25BC"}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.path{word-break:break-all} .pbar{display:inline-block;height:8px;background:#888;margin-left:6px;vertical-align:middle}
.label-ai{color:#d62728;font-weight:600}.label-human{color:#1f77b4;font-weight:600}.label-uncertain{color:#c77800;font-weight:600}
tr.error td{color:#888} .err{color:#a00}
.warn{background:#fff3cd;border:1px solid #e0c36c;padding:8px 12px;margin:12px 0}
"""

_JS = r"""
(function(){
  var table=document.getElementById('scores'); if(!table) return;
  var tbody=table.tBodies[0];
  function key(tr,col,type){
    var v=tr.cells[col].getAttribute('data-v');
    if(type==='num'){ if(v===null||v===''){return null;} return parseFloat(v); }
    return (v===null?tr.cells[col].textContent:v).toLowerCase();
  }
  function sortBy(col,type,dir){
    var rows=Array.prototype.slice.call(tbody.rows);
    rows.sort(function(a,b){
      var x=key(a,col,type), y=key(b,col,type);
      if(x===null&&y===null) return 0; if(x===null) return 1; if(y===null) return -1;
      var c=(x<y?-1:(x>y?1:0)); return dir==='asc'?c:-c;
    });
    for(var i=0;i<rows.length;i++){ tbody.appendChild(rows[i]); }
    var ths=table.tHead.rows[0].cells;
    for(var j=0;j<ths.length;j++){ ths[j].classList.remove('sorted-asc','sorted-desc'); }
    ths[col].classList.add('sorted-'+dir);
    table.setAttribute('data-sorted', ths[col].getAttribute('data-key')+'-'+dir);
  }
  var ths=table.tHead.rows[0].cells;
  for(var j=0;j<ths.length;j++){ (function(th,col){
    th.addEventListener('click',function(){
      var dir=th.classList.contains('sorted-desc')?'asc':'desc';
      if(!th.classList.contains('sorted-asc')&&!th.classList.contains('sorted-desc')&&th.getAttribute('data-type')!=='num'){dir='asc';}
      sortBy(col,th.getAttribute('data-type'),dir);
    });
  })(ths[j],j); }
  var pcol=-1; for(var k=0;k<ths.length;k++){ if(ths[k].getAttribute('data-key')==='p_ai'){pcol=k;} }
  if(pcol>=0){ sortBy(pcol,'num','desc'); }
})();
"""


def _fmt(v: float | None, nd: int = 3) -> str:
    return "" if v is None else f"{v:.{nd}f}"


def render_report(
    rows: Sequence[dict[str, Any]],
    *,
    base_dir: str | os.PathLike[str] = ".",
    plots_dir: str | os.PathLike[str] | None = None,
    title: str = "aiaudio report",
    source: str = "",
) -> str:
    """The HTML page for ``rows`` (as :func:`read_scores` returns them).

    Parameters
    ----------
    base_dir : path
        Folder the page will be written to: links to audio files and plots are relative to it.
    plots_dir : path, optional
        Folder of explanation plots; a row links to ``<stem>.png`` there when that file exists.
    title, source : str
        Page title; the scores file it was made from (shown under the title).
    """
    base = Path(base_dir)
    names = _plot_names(rows)
    n = len(rows)
    n_err = sum(1 for r in rows if r["error"] or r["p_ai"] is None)
    labels = Counter(r["label"] for r in rows if r["p_ai"] is not None)
    versions = sorted({r["model_version"] for r in rows if r["model_version"]})
    untrained = any("untrained_model" in r["flags"] for r in rows)
    esc = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f'<p class="meta">{n} files{" from " + esc(source) if source else ""}; model {esc(", ".join(versions) or "?")}; '
        f"made {_dt.datetime.now().strftime('%Y-%m-%d %H:%M')}</p>",
    ]
    if untrained:
        out.append('<div class="warn">These scores come from an UNTRAINED placeholder model: they mean nothing.</div>')
    out.append('<div class="summary"><div>')
    out.append(_histogram_svg(rows))
    out.append(
        '<div class="legend">'
        + "".join(f'<span style="background:{c}"></span>{k}' for k, c in LABEL_COLOURS.items())
        + "</div></div>"
    )
    out.append('<table class="counts">')
    for k in ("ai", "uncertain", "human"):
        out.append(f'<tr><td class="label-{k}">{k}</td><td class="num">{labels.get(k, 0)}</td></tr>')
    out.append(f"<tr><td>errors</td><td class=\"num\">{n_err}</td></tr></table></div>")
    cols = [
        ("rank", "#", "num"),
        ("path", "file", "str"),
        ("p_ai", "p_ai", "num"),
        ("label", "label", "str"),
        ("confidence", "confidence", "num"),
        ("duration_s", "duration (s)", "num"),
        ("flags", "flags", "str"),
        ("explanation", "explanation", "str"),
        ("error", "error", "str"),
    ]
    out.append('<table class="scores" id="scores" data-sorted="none"><thead><tr>')
    out += [f'<th data-key="{k}" data-type="{t}" title="sort by {esc(h)}">{esc(h)}</th>' for k, h, t in cols]
    out.append("</tr></thead><tbody>")
    for i, (r, pname) in enumerate(zip(rows, names)):
        p = r["p_ai"]
        audio = Path(r["path"])
        link = f'<a href="{_href(audio, base)}">{esc(r["path"])}</a>' if r["path"] else ""
        plot = ""
        if plots_dir is not None:
            for cand in (Path(plots_dir) / pname, Path(plots_dir) / f"{audio.stem}.png", Path(plots_dir) / f"{audio.name}.png"):
                if cand.is_file():
                    plot = f'<a class="plot" href="{_href(cand, base)}">plot</a>'
                    break
        lab = r["label"]
        bar = f'<span class="pbar" style="width:{60 * p:.0f}px;background:{LABEL_COLOURS.get(lab, "#888")}"></span>' if p is not None else ""
        cls = ' class="error"' if p is None else ""
        out.append(
            f'<tr{cls} data-p="{"" if p is None else f"{p:.6f}"}">'
            f'<td class="num" data-v="{i + 1}">{i + 1}</td>'
            f'<td class="path">{link}</td>'
            f'<td class="num" data-v="{"" if p is None else f"{p:.6f}"}">{_fmt(p)}{bar}</td>'
            f'<td class="label-{esc(lab)}">{esc(lab)}</td>'
            f'<td class="num" data-v="{_fmt(r["confidence"], 6)}">{_fmt(r["confidence"], 2)}</td>'
            f'<td class="num" data-v="{_fmt(r["duration_s"], 3)}">{_fmt(r["duration_s"], 1)}</td>'
            f'<td>{esc(", ".join(r["flags"]))}</td>'
            f"<td>{plot}</td>"
            f'<td class="err">{esc(r["error"])}</td></tr>'
        )
    out.append("</tbody></table>")
    out.append(
        '<p class="meta">Click a column header to sort. p_ai is the calibrated probability that a file is '
        "AI-generated; the label uses the model's threshold and uncertain band. An explanation plot shows the "
        "timeline, the measured effects of the cues, the occlusion map and the residual spectrum "
        "(<code>aiaudio explain FILE --plot</code>).</p>"
    )
    out.append(f"<script>{_JS}</script></body></html>")
    return _shown("\n".join(out))  # names that are not UTF-8 show as U+FFFD (their links keep the bytes)


def write_report(
    scores: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    plots_dir: str | os.PathLike[str] | None = None,
    make_plots: Callable[[str, Path], None] | None = None,
    title: str | None = None,
    errors: list[tuple[str, str]] | None = None,
) -> Path:
    """Read ``scores``, write the HTML page to ``output``; return its path.

    Parameters
    ----------
    plots_dir : path, optional
        Folder of explanation plots (``<stem>.png``). Default with ``make_plots``:
        ``<output stem>_plots`` next to the page.
    make_plots : callable, optional
        ``make_plots(audio_path, png_path)`` is called for every scored row whose plot
        does not exist yet (e.g. a detector's explain + plot); a failure leaves that row
        without a plot, and ``(audio_path, message)`` is appended to ``errors`` when given.
    """
    rows = read_scores(scores)
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    if make_plots is not None:
        pdir = Path(plots_dir) if plots_dir is not None else out.parent / f"{out.stem}_plots"
        pdir.mkdir(parents=True, exist_ok=True)
        plots_dir = pdir
        for r, name in zip(rows, _plot_names(rows)):
            target = pdir / name
            if r["p_ai"] is None or target.is_file():
                continue
            try:
                make_plots(r["path"], target)
            except MissingDependencyError:  # the same for every file: say it once
                raise
            except Exception as e:  # one file never stops the page
                if errors is not None:
                    errors.append((r["path"], f"{type(e).__name__}: {e}"))
    page = render_report(
        rows, base_dir=out.parent, plots_dir=plots_dir, title=title or f"aiaudio report: {Path(scores).name}", source=str(scores)
    )
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)
    return out
