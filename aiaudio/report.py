"""A self-contained HTML page for a scored folder.

    aiaudio score music/ -o scores.csv
    aiaudio report scores.csv -o report.html [--plots plots/] [--make-plots]

The page has a histogram of ``p_ai`` (inline SVG) with the model's threshold and
uncertain band drawn and stated, a table of every file that sorts by any column (by
``p_ai``, highest first, when it opens), a filter by label and a search by name, and
for each file: its verdict, an audio player (``<audio>`` linking the file, by a path
relative to the page), a timeline strip of its segment scores when the scores hold
segments (``aiaudio score --segments -o scores.jsonl``), and a link to its explanation
plot when one exists (:func:`plot_names`: ``<stem>.png``, or ``<stem>-<hash>.png`` when
two files share a stem). Everything (CSS, JavaScript, the histogram) is inline: the file
opens from disk in any browser, with no server and no network.
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
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence
from urllib.parse import quote

from .errors import MissingDependencyError, ScoresFormatError

__all__ = ["read_scores", "render_report", "write_report", "plot_name", "plot_names"]

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
        ``path``, ``p_ai`` (float or None), ``label``, ``verdict``, ``confidence``,
        ``duration_s``, ``error``, ``flags`` (list of str), ``model_version`` and
        ``segments`` (list of ``[start_s, end_s, p_ai]``; empty unless the scores hold
        them: JSON lines written with ``--segments``, or a CSV column of JSON), in file order.

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
        segs = r.get("segments") or []
        if isinstance(segs, str):
            try:
                segs = json.loads(segs)
            except ValueError:
                segs = []
        try:
            segs = [[float(x[0]), float(x[1]), float(x[2])] for x in segs if isinstance(x, (list, tuple)) and len(x) >= 3]
        except (TypeError, ValueError):
            segs = []
        rows.append(
            {
                "path": "" if r.get("path") is None else str(r["path"]),
                "p_ai": _float(r.get("p_ai")),
                "label": str(r.get("label") or ""),
                "verdict": str(r.get("verdict") or ""),
                "segments": segs,
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


def plot_names(paths: Sequence[str], ext: str = ".png") -> list[str]:
    """One unique output name per input path: ``<stem><ext>``, or ``<stem>-<hash><ext>`` for
    every path whose stem another path shares (the hash is of the whole path)."""
    stems = Counter(Path(p).stem or "audio" for p in paths)
    out = []
    for p in paths:
        stem = Path(p).stem or "audio"
        out.append(f"{stem}{ext}" if stems[stem] == 1 else f"{stem}-{hashlib.sha1(p.encode('utf-8')).hexdigest()[:8]}{ext}")
    return out


def _plot_names(rows: Sequence[dict[str, Any]]) -> list[str]:
    return plot_names([r["path"] for r in rows])


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


def _histogram_svg(
    rows: Sequence[dict[str, Any]], bins: int = 20, threshold: float | None = None, band: tuple[float, float] | None = None
) -> str:
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
    if band is not None and band[1] > band[0]:
        parts.append(
            f'<rect id="uncertain-band" x="{L + band[0] * pw:.1f}" y="{T}" width="{(band[1] - band[0]) * pw:.1f}" height="{ph}" '
            f'fill="#ffe4b5" opacity="0.8"><title>uncertain band {band[0]:.3f}-{band[1]:.3f}</title></rect>'
        )
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
    if threshold is not None:
        x = L + threshold * pw
        parts.append(
            f'<line id="threshold" x1="{x:.1f}" y1="{T}" x2="{x:.1f}" y2="{T + ph}" stroke="#000" stroke-width="1.5" '
            f'stroke-dasharray="5,3"><title>threshold {threshold:.3f}</title></line>'
        )
        anchor = "end" if threshold > 0.5 else "start"
        dx = -4 if threshold > 0.5 else 4
        parts.append(f'<text x="{x + dx:.1f}" y="{T + 12}" font-size="11" text-anchor="{anchor}">threshold {threshold:.3f}</text>')
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


def _strip_svg(segments: Sequence[Sequence[float]], duration: float | None, threshold: float | None, band: tuple[float, float] | None) -> str:
    """A small timeline of a file's segment scores: one bar per segment, height and colour by p_ai."""
    if not segments:
        return ""
    W, H = 180, 22
    end = max([float(g[1]) for g in segments] + [duration or 0.0, 1e-3])
    t = 0.5 if threshold is None else threshold
    parts = [f'<svg class="strip" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img" aria-label="segment scores">']
    parts.append(f'<rect x="0" y="0" width="{W}" height="{H}" fill="#f4f4f4"/>')
    for a, b, q in segments:
        if q >= t:
            col = LABEL_COLOURS["ai"]
        elif band is not None and band[0] <= q < band[1]:
            col = LABEL_COLOURS["uncertain"]
        else:
            col = LABEL_COLOURS["human"]
        x0, x1 = W * float(a) / end, W * float(b) / end
        h = max(1.0, (H - 2) * float(q))
        parts.append(
            f'<rect x="{x0:.1f}" y="{H - h:.1f}" width="{max(0.8, x1 - x0 - 0.3):.1f}" height="{h:.1f}" fill="{col}">'
            f"<title>{_mmss(a)}-{_mmss(b)}: p_ai {q:.3f}</title></rect>"
        )
    y = H - (H - 2) * t
    parts.append(f'<line x1="0" y1="{y:.1f}" x2="{W}" y2="{y:.1f}" stroke="#000" stroke-width="0.6" stroke-dasharray="2,2"/>')
    parts.append("</svg>")
    return "".join(parts)


def _mmss(t: float) -> str:
    s = int(round(max(0.0, float(t))))
    return f"{s // 60}:{s % 60:02d}"


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
td.path{word-break:break-all;min-width:220px;max-width:360px} .dir{color:#777;font-size:12px} .pbar{display:inline-block;height:8px;background:#888;margin-left:6px;vertical-align:middle}
.label-ai{color:#d62728;font-weight:600}.label-human{color:#1f77b4;font-weight:600}.label-uncertain{color:#c77800;font-weight:600}
tr.error td{color:#888} .err{color:#a00}
.warn{background:#fff3cd;border:1px solid #e0c36c;padding:8px 12px;margin:12px 0}
.controls{margin:16px 0 0;display:flex;gap:16px;align-items:center;flex-wrap:wrap}
.controls input{padding:3px 6px;min-width:260px} audio{height:28px;width:210px}
.verdict-ai{color:#d62728;font-weight:600}.verdict-review{color:#c77800;font-weight:600}.verdict-none{color:#1f77b4}
svg.strip{vertical-align:middle}
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
  var sel=document.getElementById('label-filter'), q=document.getElementById('search'), shown=document.getElementById('shown');
  function filter(){
    var lab=sel?sel.value:'', text=q?q.value.toLowerCase():'', n=0;
    for(var i=0;i<tbody.rows.length;i++){
      var tr=tbody.rows[i];
      var ok=(!lab||tr.getAttribute('data-label')===lab)&&(!text||tr.getAttribute('data-name').indexOf(text)>=0);
      tr.style.display=ok?'':'none'; if(ok){n++;}
    }
    if(shown){shown.textContent=n+' of '+tbody.rows.length+' files shown';}
    table.setAttribute('data-shown', String(n));
  }
  if(sel){sel.addEventListener('change',filter);} if(q){q.addEventListener('input',filter);}
  // a link can carry the filter: report.html#label=ai&q=name
  var h=(location.hash||'').replace(/^#/,'').split('&');
  for(var m=0;m<h.length;m++){ var kv=h[m].split('='); var v=decodeURIComponent(kv[1]||'');
    if(kv[0]==='label'&&sel){sel.value=v;} if(kv[0]==='q'&&q){q.value=v;} }
  filter();
})();
"""


def _fmt(v: float | None, nd: int = 3) -> str:
    return "" if v is None else f"{v:.{nd}f}"


_VERDICT_CLASS = {"Likely AI": "verdict-ai", "Needs review": "verdict-review", "No AI signal found": "verdict-none"}


def render_report(
    rows: Sequence[dict[str, Any]],
    *,
    base_dir: str | os.PathLike[str] = ".",
    plots_dir: str | os.PathLike[str] | None = None,
    title: str = "aiaudio report",
    source: str = "",
    threshold: float | None = None,
    uncertain: tuple[float, float] | None = None,
) -> str:
    """The HTML page for ``rows`` (as :func:`read_scores` returns them).

    Parameters
    ----------
    base_dir : path
        Folder the page will be written to: links to audio files and plots are relative to it.
    plots_dir : path, optional
        Folder of explanation plots; a row links to its :func:`plot_names` name there when
        that file exists (or to ``<stem>.png`` when no other row shares the stem).
    title, source : str
        Page title; the scores file it was made from (shown under the title).
    threshold, uncertain : optional
        The model's threshold and uncertain band (``(low, high)``): drawn on the histogram
        and the timeline strips, and stated on the page.
    """
    base = Path(base_dir)
    names = _plot_names(rows)
    stems = Counter(Path(r["path"]).stem for r in rows)
    n = len(rows)
    n_err = sum(1 for r in rows if r["error"] or r["p_ai"] is None)
    labels = Counter(r["label"] for r in rows if r["p_ai"] is not None)
    verdicts = Counter(r.get("verdict", "") for r in rows if r["p_ai"] is not None and r.get("verdict"))
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
    if threshold is not None:
        band = (
            f"; uncertain band {uncertain[0]:.3f}-{uncertain[1]:.3f} (label \"uncertain\", verdict \"Needs review\")"
            if uncertain is not None and uncertain[1] > uncertain[0]
            else ""
        )
        out.append(
            f'<p class="meta" id="decision">Threshold: p_ai &ge; {threshold:.3f} is labelled \"ai\" (verdict \"Likely AI\"){band}; '
            "below, \"human\" (verdict \"No AI signal found\"). Both come from the model's config.</p>"
        )
    if untrained:
        out.append('<div class="warn">These scores come from an UNTRAINED placeholder model: they mean nothing.</div>')
    out.append('<div class="summary"><div>')
    out.append(_histogram_svg(rows, threshold=threshold, band=uncertain))
    out.append(
        '<div class="legend">'
        + "".join(f'<span style="background:{c}"></span>{k}' for k, c in LABEL_COLOURS.items())
        + ('<span style="background:#ffe4b5"></span>uncertain band' if uncertain is not None else "")
        + (" &nbsp; dashed line: threshold" if threshold is not None else "")
        + "</div></div>"
    )
    out.append('<table class="counts">')
    for k in ("ai", "uncertain", "human"):
        out.append(f'<tr><td class="label-{k}">{k}</td><td class="num">{labels.get(k, 0)}</td></tr>')
    for v in ("Likely AI", "Needs review", "No AI signal found"):
        if verdicts:
            out.append(f'<tr><td class="{_VERDICT_CLASS[v]}">{v}</td><td class="num">{verdicts.get(v, 0)}</td></tr>')
    out.append(f"<tr><td>errors</td><td class=\"num\">{n_err}</td></tr></table></div>")
    out.append(
        '<div class="controls"><label>label <select id="label-filter"><option value="">all</option>'
        + "".join(f'<option value="{k}">{k}</option>' for k in ("ai", "uncertain", "human"))
        + '<option value="error">errors</option></select></label>'
        '<label>search <input id="search" type="search" placeholder="part of a file name"></label>'
        '<span id="shown" class="meta"></span></div>'
    )
    any_segments = any(r.get("segments") for r in rows)
    cols = [
        ("rank", "#", "num"),
        ("path", "file", "str"),
        ("p_ai", "p_ai", "num"),
        ("label", "label", "str"),
        ("verdict", "verdict", "str"),
        ("confidence", "confidence", "num"),
        ("duration_s", "duration (s)", "num"),
    ]
    if any_segments:
        cols.append(("timeline", "segments", "str"))
    cols += [
        ("listen", "listen", "str"),
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
        href = _href(audio, base) if r["path"] else ""
        folder = str(audio.parent) if str(audio.parent) not in ("", ".") else ""
        link = (
            f'<a href="{href}" title="{esc(r["path"])}">{esc(audio.name)}</a>'
            + (f'<br><span class="dir">{esc(folder)}</span>' if folder else "")
            if r["path"]
            else ""
        )
        plot = ""
        if plots_dir is not None:
            cands = [Path(plots_dir) / pname]
            if stems[audio.stem] == 1:  # a shared stem never falls back to <stem>.png: that may be another file's
                cands += [Path(plots_dir) / f"{audio.stem}.png", Path(plots_dir) / f"{audio.name}.png"]
            for cand in cands:
                if cand.is_file():
                    plot = f'<a class="plot" href="{_href(cand, base)}">plot</a>'
                    break
        lab = r["label"]
        ver = r.get("verdict", "")
        bar = f'<span class="pbar" style="width:{60 * p:.0f}px;background:{LABEL_COLOURS.get(lab, "#888")}"></span>' if p is not None else ""
        cls = ' class="error"' if p is None else ""
        player = f'<audio controls preload="none" src="{href}"></audio>' if p is not None and r["path"] else ""
        strip = _strip_svg(r.get("segments") or [], r["duration_s"], threshold, uncertain) if any_segments else None
        out.append(
            f'<tr{cls} data-p="{"" if p is None else f"{p:.6f}"}" data-label="{esc(lab if p is not None else "error")}" '
            f'data-name="{esc(audio.name.lower())}">'
            f'<td class="num" data-v="{i + 1}">{i + 1}</td>'
            f'<td class="path">{link}</td>'
            f'<td class="num" data-v="{"" if p is None else f"{p:.6f}"}">{_fmt(p)}{bar}</td>'
            f'<td class="label-{esc(lab)}">{esc(lab)}</td>'
            f'<td class="{_VERDICT_CLASS.get(ver, "")}">{esc(ver)}</td>'
            f'<td class="num" data-v="{_fmt(r["confidence"], 6)}">{_fmt(r["confidence"], 2)}</td>'
            f'<td class="num" data-v="{_fmt(r["duration_s"], 3)}">{_fmt(r["duration_s"], 1)}</td>'
            + (f"<td>{strip}</td>" if strip is not None else "")
            + f"<td>{player}</td>"
            f'<td>{esc(", ".join(r["flags"]))}</td>'
            f"<td>{plot}</td>"
            f'<td class="err">{esc(r["error"])}</td></tr>'
        )
    out.append("</tbody></table>")
    out.append(
        '<p class="meta">Click a column header to sort. p_ai is the calibrated probability that a file is '
        "AI-generated; the label and the verdict use the model's threshold and uncertain band; confidence is how sure "
        "the verdict is (higher: surer; lower for short or band-limited clips). The segments strip shows each segment's "
        "p_ai (red: at or above the threshold). An explanation plot shows the "
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
    threshold: float | None = None,
    uncertain: tuple[float, float] | None = None,
    progress: bool = False,
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
    threshold, uncertain : optional
        The model's threshold and uncertain band, drawn and stated (see :func:`render_report`).
    progress : bool
        Show a progress bar (tqdm, on standard error) while ``make_plots`` runs.
    """
    rows = read_scores(scores)
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    if make_plots is not None:
        pdir = Path(plots_dir) if plots_dir is not None else out.parent / f"{out.stem}_plots"
        pdir.mkdir(parents=True, exist_ok=True)
        plots_dir = pdir
        todo = [(r, pdir / name) for r, name in zip(rows, _plot_names(rows)) if r["p_ai"] is not None and not (pdir / name).is_file()]
        bar = None
        if progress and todo:
            from tqdm import tqdm

            bar = tqdm(total=len(todo), desc="explaining", unit="file", file=sys.stderr, dynamic_ncols=True)
        for r, target in todo:
            if bar is not None:
                bar.set_postfix_str(Path(r["path"]).name[-40:], refresh=False)
            try:
                make_plots(r["path"], target)
            except MissingDependencyError:  # the same for every file: say it once
                raise
            except Exception as e:  # one file never stops the page
                if errors is not None:
                    errors.append((r["path"], f"{type(e).__name__}: {e}"))
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
    page = render_report(
        rows, base_dir=out.parent, plots_dir=plots_dir, title=title or f"aiaudio report: {Path(scores).name}", source=str(scores),
        threshold=threshold, uncertain=uncertain,
    )
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)
    return out
