"""The catalogue report: one self-contained HTML page per ``aiaudio catalog`` run.

Inline CSS, JavaScript and SVG only: the page opens from a folder with no server and no
network. Groups are rows of a table sortable by any column (click its header); a click on a
group opens its songs, each with its timeline (one bar per segment, coloured by its p_ai) and
the time ranges at or above the threshold, and the verdict's one-sentence reason. Opened as
``report.html#open-all`` (or ``#open-3``: the first three groups) it starts with groups open.
"""

from __future__ import annotations

import html
import math
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .catalog import Catalog, SongEntry

__all__ = ["write_catalog_html", "catalog_html"]

_VERDICT_CLASS = {
    "Likely AI": "v-ai",
    "Mixed catalogue": "v-mixed",
    "Needs review": "v-review",
    "No AI signal found": "v-human",
}

_CSS = """
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1d232a;background:#fbfbfc}
h1{font-size:20px;margin:0 0 4px}
.meta{color:#5b6572;margin-bottom:14px}
.sum span{display:inline-block;margin-right:10px;padding:2px 8px;border-radius:10px}
table.groups{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 2px #0002}
table.groups th{position:sticky;top:0;background:#eef1f5;text-align:left;padding:6px 8px;cursor:pointer;user-select:none;white-space:nowrap}
table.groups th.sorted-asc::after{content:" \\25B2"}
table.groups th.sorted-desc::after{content:" \\25BC"}
table.groups td{padding:6px 8px;border-top:1px solid #e6e9ee;vertical-align:top}
tr.g{cursor:pointer}
tr.g:hover{background:#f5f7fa}
tr.g td.name::before{content:"\\25B8  ";color:#8a94a1}
tbody.open tr.g td.name::before{content:"\\25BE  "}
tr.d{display:none}
tbody.open tr.d{display:table-row}
tr.d > td{background:#f7f8fa;padding:8px 12px 14px 28px}
.v{padding:1px 8px;border-radius:10px;white-space:nowrap;font-weight:600}
.v-ai{background:#fde2e1;color:#a51d1d}
.v-mixed{background:#fff0d6;color:#8a4b00}
.v-review{background:#eee8fb;color:#4f3a8f}
.v-human{background:#e3f3e6;color:#1e6b34}
.reason{margin:2px 0 8px;color:#37414d}
table.songs{border-collapse:collapse;width:100%}
table.songs th{font-weight:600;text-align:left;padding:3px 6px;color:#5b6572;cursor:default}
table.songs td{padding:3px 6px;border-top:1px solid #e6e9ee}
.num{text-align:right;font-variant-numeric:tabular-nums}
.dec{font-weight:600}
.tag{font-size:12px;color:#8a94a1}
.err{color:#a51d1d}
.legend{font-size:12px;color:#5b6572;margin:10px 0}
.legend i{display:inline-block;width:12px;height:10px;margin:0 3px 0 10px;vertical-align:middle}
footer{margin-top:18px;color:#8a94a1;font-size:12px}
"""

_JS = r"""
(function(){
  var table=document.querySelector('table.groups');
  table.addEventListener('click',function(ev){
    var th=ev.target.closest('thead th');
    if(th){sortBy(th);return;}
    var tr=ev.target.closest('tr.g');
    if(tr){tr.parentNode.classList.toggle('open');}
  });
  function sortBy(th){
    var idx=Array.prototype.indexOf.call(th.parentNode.children,th);
    var asc=!th.classList.contains('sorted-asc');
    Array.prototype.forEach.call(th.parentNode.children,function(h){h.classList.remove('sorted-asc','sorted-desc');});
    th.classList.add(asc?'sorted-asc':'sorted-desc');
    var bodies=Array.prototype.slice.call(table.querySelectorAll('tbody'));
    bodies.sort(function(a,b){
      var x=a.rows[0].cells[idx].getAttribute('data-v'), y=b.rows[0].cells[idx].getAttribute('data-v');
      var nx=parseFloat(x), ny=parseFloat(y), c;
      if(!isNaN(nx)&&!isNaN(ny)){c=nx-ny;}else{c=String(x).localeCompare(String(y));}
      return asc?c:-c;
    });
    bodies.forEach(function(b){table.appendChild(b);});
  }
  // #open-all or #open-N (the first N groups) in the address opens groups on load
  var m=/^#open-(all|\d+)$/.exec(location.hash);
  if(m){var bs=table.querySelectorAll('tbody');var k=m[1]==='all'?bs.length:parseInt(m[1],10);
    for(var i=0;i<Math.min(k,bs.length);i++){bs[i].classList.add('open');}}
  var open=document.getElementById('expand-all');
  if(open){open.addEventListener('click',function(){
    var bs=table.querySelectorAll('tbody'), any=table.querySelector('tbody:not(.open)');
    Array.prototype.forEach.call(bs,function(b){b.classList.toggle('open',!!any);});
  });}
})();
"""


def _e(x: object) -> str:
    return html.escape(str(x), quote=True)


def _pf(p: float, digits: int = 2) -> str:
    return "-" if not math.isfinite(p) else f"{p:.{digits}f}"


def _mmss(t: float) -> str:
    s = int(round(max(0.0, t)))
    return f"{s // 60}:{s % 60:02d}"


def _colour(p: float, threshold: float, low: float) -> str:
    if p >= threshold:
        return "#d62728"
    if p >= low:
        return "#ff9f1c"
    shade = int(200 - 90 * max(0.0, min(1.0, p / max(low, 1e-9))))  # darker grey as p rises
    return f"rgb({shade},{shade + 10},{shade + 25})"


def _timeline(song: "SongEntry", threshold: float, low: float, width: int = 320, height: int = 16) -> str:
    segs = song.segments
    if not segs:
        return '<span class="tag">no timeline (score with --segments)</span>'
    dur = max(b for _, b, _ in segs) or 1.0
    parts = [f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="p_ai over time">']
    parts.append(f'<rect x="0" y="0" width="{width}" height="{height}" fill="#eef1f5"/>')
    for a, b, p in segs:
        x = a / dur * width
        w = max((b - a) / dur * width - 0.4, 0.6)
        parts.append(
            f'<rect x="{x:.2f}" y="1" width="{w:.2f}" height="{height - 2}" fill="{_colour(p, threshold, low)}">'
            f"<title>{_mmss(a)}-{_mmss(b)}: p_ai {p:.3f}</title></rect>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _ranges(song: "SongEntry", threshold: float) -> str:
    from .catalog import ai_ranges

    r = ai_ranges(song.segments, threshold)
    if not r:
        return ""
    shown = ", ".join(f"{_mmss(a)}-{_mmss(b)}" for a, b in r[:4])
    return shown + (f" (+{len(r) - 4})" if len(r) > 4 else "")


def catalog_html(cat: "Catalog", *, title: str | None = None, threshold: float | None = None, uncertain_low: float | None = None) -> str:
    """The report page for a :class:`~aiaudio.catalog.Catalog`, as a string.

    ``threshold`` and ``uncertain_low`` colour the timelines (default: 0.5 and 0.4 when the
    catalogue does not carry them).
    """
    t = 0.5 if threshold is None else float(threshold)
    low = min(t, 0.4) if uncertain_low is None else float(uncertain_low)
    title = title or "aiaudio catalogue report"
    by_group: dict[str, list[SongEntry]] = {}
    for s in cat.songs:
        by_group.setdefault(s.group, []).append(s)
    tiers: dict[str, int] = {}
    for g in cat.groups:
        tiers[g.verdict] = tiers.get(g.verdict, 0) + 1
    out: list[str] = [
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<div class="meta">{len(cat.groups)} groups, {len(cat.songs)} songs, grouped by {_e(cat.group_by)}; '
        f"song model {_e(cat.model_version)}, threshold {t:.3f}; combination: {_e(cat.model.fitted_on)}. "
        f"Written {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}.</div>",
        '<div class="sum">'
        + "".join(f'<span class="v {_VERDICT_CLASS.get(v, "")}">{_e(v)}: {n}</span>' for v, n in tiers.items())
        + ' <button id="expand-all" type="button">open / close all</button></div>',
        '<div class="legend">Timeline: one bar per segment;<i style="background:#d62728"></i>p_ai at or above the threshold'
        f'<i style="background:#ff9f1c"></i>uncertain band ({low:.2f}-{t:.2f})<i style="background:rgb(140,150,165)"></i>below, darker = higher p_ai. '
        "Click a column header to sort, a group to open its songs; <b>bold</b> songs decide the verdict.</div>",
        '<table class="groups"><thead><tr>'
        "<th>Group</th><th>Songs</th><th>Verdict</th><th>Combined p_ai</th><th>90% interval</th>"
        "<th>Likely AI</th><th>Needs review</th><th>No AI signal</th><th>Spread</th></tr></thead>",
    ]
    vorder = {"Likely AI": 3, "Mixed catalogue": 2, "Needs review": 1, "No AI signal found": 0}
    for g in cat.groups:
        songs = sorted(by_group.get(g.name, []), key=lambda s: -(s.p_ai if math.isfinite(s.p_ai) else -1))
        deciding = {d["path"] for d in g.deciding} | set(g.minority)
        pv = g.p_ai if math.isfinite(g.p_ai) else -1
        out.append("<tbody>")
        out.append(
            '<tr class="g">'
            f'<td class="name" data-v="{_e(g.name.lower())}">{_e(g.name)} <span class="tag">({_e(g.grouped_by)})</span></td>'
            f'<td class="num" data-v="{g.n_songs}">{g.n_songs}{f" (+{g.n_errors} errors)" if g.n_errors else ""}</td>'
            f'<td data-v="{vorder.get(g.verdict, 0)}"><span class="v {_VERDICT_CLASS.get(g.verdict, "")}">{_e(g.verdict)}</span></td>'
            f'<td class="num" data-v="{pv:.6f}">{_pf(g.p_ai, 3)}</td>'
            f'<td class="num" data-v="{(g.p_high - g.p_low) if math.isfinite(g.p_ai) else -1:.6f}">{_pf(g.p_low)}-{_pf(g.p_high)}</td>'
            f'<td class="num" data-v="{g.counts.get("Likely AI", 0)}">{g.counts.get("Likely AI", 0)}</td>'
            f'<td class="num" data-v="{g.counts.get("Needs review", 0)}">{g.counts.get("Needs review", 0)}</td>'
            f'<td class="num" data-v="{g.counts.get("No AI signal found", 0)}">{g.counts.get("No AI signal found", 0)}</td>'
            f'<td class="num" data-v="{g.spread if math.isfinite(g.spread) else -1:.6f}">{_pf(g.spread)}</td>'
            "</tr>"
        )
        rows = []
        for s in songs:
            name = s.tags.get("title") or Path(s.path).name
            cls = ' class="dec"' if s.path in deciding else ""
            if s.scored:
                rows.append(
                    f"<tr><td{cls} title=\"{_e(s.path)}\">{_e(name)}</td><td class=\"num\">{s.p_ai:.3f}</td>"
                    f"<td><span class=\"v {_VERDICT_CLASS.get(s.verdict, '')}\">{_e(s.verdict)}</span></td>"
                    f"<td>{_timeline(s, t, low)}</td><td>{_e(_ranges(s, t))}</td></tr>"
                )
            else:
                rows.append(f'<tr><td title="{_e(s.path)}">{_e(name)}</td><td colspan="4" class="err">{_e(s.error)}</td></tr>')
        out.append(
            f'<tr class="d"><td colspan="9"><div class="reason"><b>{_e(g.verdict)}.</b> {_e(g.reason)}</div>'
            '<table class="songs"><thead><tr><th>Song</th><th>p_ai</th><th>Song verdict</th><th>Timeline</th>'
            "<th>At or above threshold</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table></td></tr>"
        )
        out.append("</tbody>")
    out.append("</table>")
    out.append(
        "<footer>Made by aiaudio. A catalogue's p_ai combines its songs' calibrated scores with a fitted "
        "random-effects model (songs of one catalogue are not independent evidence); the interval is over "
        "the sampling of its songs. A catalogue is called AI only when most of its songs lean AI.</footer>"
    )
    out.append(f"<script>{_JS}</script></body></html>")
    return "\n".join(out)


def write_catalog_html(
    cat: "Catalog",
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    threshold: float | None = None,
    uncertain_low: float | None = None,
) -> Path:
    """Write :func:`catalog_html` to ``path`` (folders created); returns the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(catalog_html(cat, title=title, threshold=threshold, uncertain_low=uncertain_low), encoding="utf-8")
    return p
