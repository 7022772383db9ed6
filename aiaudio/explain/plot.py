"""The figure of an explanation (matplotlib, the ``plot`` extra)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .labels import CUE_LABELS, _SHORT_OP, _band, _num

if TYPE_CHECKING:
    from .types import Explanation


def _plot(ex: Explanation, path: Path, dpi: int = 100) -> Path:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.colors import TwoSlopeNorm
        from matplotlib.figure import Figure
    except ImportError as e:  # matplotlib is the optional extra "plot"
        from ..errors import MissingDependencyError

        raise MissingDependencyError(
            f'plotting an explanation needs matplotlib, which cannot be imported ({e}): pip install "aiaudio[plot]"'
        ) from e

    fig = Figure(figsize=(13, 18.5))
    FigureCanvasAgg(fig)
    gs = fig.add_gridspec(5, 2, height_ratios=[1.0, 1.5, 2.5, 1.35, 1.25], width_ratios=[1.25, 1.0], hspace=0.6, wspace=0.3, left=0.07, right=0.97, top=0.925, bottom=0.02)
    name = Path(ex.path).name if ex.path else "<array>"
    fig.suptitle(
        f"{name}: {ex.verdict or ex.label} (p_ai {ex.p_ai:.2f}, confidence {ex.confidence:.2f})  -  model {ex.model_version}"
        + ("  [UNTRAINED placeholder]" if not ex.model_trained else ""),
        fontsize=13, fontweight="bold",
    )

    # timeline
    ax = fig.add_subplot(gs[0, :])
    ax.axhspan(ex.uncertain_low, ex.uncertain_high, color="0.9", zorder=0, label="uncertain band")
    if ex.timeline:
        ax.bar(
            [p.start_s for p in ex.timeline], [p.p_ai for p in ex.timeline], width=[p.end_s - p.start_s for p in ex.timeline],
            align="edge", color=["tab:red" if p.p_ai >= ex.threshold else "tab:blue" for p in ex.timeline],
            alpha=0.55, edgecolor="white", linewidth=0.5,
        )
    ax.axhline(ex.threshold, color="k", lw=2.0, zorder=5, label=f"threshold {ex.threshold:.2f}")
    ax.axhline(ex.p_ai, color="tab:purple", lw=1.4, ls="--", zorder=6, label=f"song p_ai {ex.p_ai:.2f}")
    if ex.listen_end_s > ex.listen_start_s:
        ax.axvspan(ex.listen_start_s, ex.listen_end_s, ymin=0.96, ymax=1.0, color="tab:orange", label="listen here (most AI-like)")
    meas = [e for e in ex.effects if e.measured]
    if meas:
        ax.axvspan(meas[0].excerpt_start_s, meas[0].excerpt_end_s, ymin=0.0, ymax=0.04, color="tab:green", label="excerpt used for interventions")
    ax.set_xlim(0, max(ex.duration_s, 1e-3))
    ax.set_ylim(0, 1.06)  # room above a threshold near 1, so its line is not the frame
    ax.set_ylabel("p_ai")
    ax.set_xlabel("time (s)")
    ax.set_title(f"Timeline: p_ai of each {ex.segment_s:g} s segment (red: at or above the threshold)", fontsize=11, loc="left", pad=22)
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), fontsize=8, ncol=5, frameon=False, borderaxespad=0.2)  # off the data

    # occlusion map
    ax = fig.add_subplot(gs[1, :])
    sal = ex.saliency
    if sal is not None and sal.delta_logit.size:
        v = float(np.max(np.abs(sal.delta_logit))) or 1e-6
        norm = TwoSlopeNorm(vmin=-v, vcenter=0.0, vmax=v)
        edges = np.asarray(sal.band_edges_hz)
        im = None
        for j in range(sal.delta_logit.shape[1]):
            im = ax.imshow(
                sal.delta_logit[:, j : j + 1], extent=[sal.col_start_s[j], sal.col_end_s[j], edges[0], edges[-1]],
                origin="lower", aspect="auto", cmap="RdBu_r", norm=norm, interpolation="nearest",
            )
        ax.set_xlim(0, max(ex.duration_s, 1e-3))
        ax.set_ylim(edges[0], edges[-1])
        cb = fig.colorbar(im, ax=ax, pad=0.01, fraction=0.03)
        cb.set_label("Δ segment logit", fontsize=8)
        base = "the human reference spectrum" if sal.baseline == "human_reference_spectrum" else "its own mean level"
        named = [f"{_band(sal.band_edges_hz, j)} toward {side} (checked on the audio)" for side, j in (("AI", sal.ai_band), ("human", sal.human_band)) if j is not None]
        ax.set_title(
            f"Occlusion: drop of the segment logit when a {np.diff(edges).mean():.0f} Hz band is replaced by {base} "
            f"(red: toward AI, blue: toward human; {len(set(sal.segment_index))} segments)\n"
            + ("Named: " + "; ".join(named) if named else "No band stands out (see the summary)"),
            fontsize=10.5, loc="left",
        )
        for j in (sal.ai_band, sal.human_band):
            if j is not None:
                ax.axhline(edges[j], color="k", lw=0.8, ls=":")
                ax.axhline(edges[j + 1], color="k", lw=0.8, ls=":")
    else:
        ax.text(0.5, 0.5, "occlusion map not computed", ha="center", va="center", transform=ax.transAxes)
        ax.set_title("Occlusion", fontsize=11, loc="left")
    ax.set_ylabel("frequency (Hz)")
    ax.set_xlabel("time (s)")

    # cue table
    ax = fig.add_subplot(gs[2, 0])
    ax.axis("off")
    if ex.cues:
        rows = []
        colours = []
        for c in ex.cues:
            eff = "-"
            if c.intervention:
                e = ex.effect(c.intervention) if any(x.name == c.intervention for x in ex.effects) else None
                eff = f"{c.intervention}" if e is None or e.measured else "n/m"
            else:
                eff = "n/m"
            rows.append([CUE_LABELS.get(c.name, c.name), _num(c.value), c.unit, f"{c.percentile:.0f}", _num(c.human_median), eff])
            colours.append(["w", "w", "w", "#f4c7c3" if (c.percentile <= 5 or c.percentile >= 95) else "w", "w", "w"])
        tab = ax.table(
            cellText=rows, cellColours=colours, colLabels=["cue", "value", "unit", "pct", "human", "effect"],
            bbox=[0.0, 0.0, 1.0, 1.0], cellLoc="left", colLoc="left", colWidths=[0.43, 0.14, 0.08, 0.06, 0.13, 0.16],
        )
        tab.auto_set_font_size(False)
        tab.set_fontsize(7.5)
        ax.set_title(
            "Cues of the whole track. pct: percentile among human reference tracks\n(red: outside 5-95); "
            "human: their median; effect: the intervention\nthat measured it (n/m: not measured)",
            fontsize=10, loc="left",
        )
    else:
        ax.text(0.5, 0.5, "cues not computed", ha="center", va="center", transform=ax.transAxes)

    # effects
    ax = fig.add_subplot(gs[2, 1])
    if ex.effects:
        names = [textwrap.fill(_SHORT_OP.get(e.name, e.name), 22) for e in ex.effects][::-1]
        vals = [e.delta_p_ai if e.measured else 0.0 for e in ex.effects][::-1]
        cols = ["tab:red" if v > 0 else "tab:blue" for v in vals]
        y = np.arange(len(names))
        ax.barh(y, vals, color=cols, alpha=0.8)
        ax.axvline(0, color="k", lw=0.8)
        lim = max(0.05, max(abs(v) for v in vals) * 1.35)
        ax.set_xlim(-lim, lim)
        ax.set_yticks(y)
        ax.set_yticklabels(names, fontsize=8)
        for yi, e in zip(y, ex.effects[::-1]):
            if e.measured:
                prim = e.cues[0]
                txt = f"Δ {e.delta_p_ai:+.3f}  ({CUE_LABELS.get(prim, prim)}: {_num(e.cue_before[prim])} → {_num(e.cue_after[prim])})"
            else:
                txt = "not measured: " + textwrap.shorten(e.reason, 70)
            ax.text(0.02, yi + 0.3, txt, transform=ax.get_yaxis_transform(), fontsize=7.5, va="center")
        e0 = meas[0] if meas else None
        sub = f"\non the excerpt {e0.excerpt_start_s:.0f}-{e0.excerpt_end_s:.0f} s (p_ai {e0.p_ai_before:.2f} before)" if e0 else ""
        ax.set_title("Measured effects: Δ p_ai after each intervention" + sub, fontsize=10, loc="left")
        ax.set_xlabel("Δ p_ai (red: raised the score, blue: lowered it)")
    else:
        ax.axis("off")
        ax.text(0.5, 0.5, "interventions not run", ha="center", va="center", transform=ax.transAxes)

    # residual spectrum
    ax = fig.add_subplot(gs[3, :])
    pk = ex.peaks
    if pk is not None and pk.freqs_hz.size:
        ax.plot(pk.freqs_hz, pk.residual_db, lw=0.6, color="0.25", label="residual (long-term spectrum minus lower envelope)")
        ax.axhline(pk.median_db, color="tab:green", lw=0.8, ls=":", label="median")
        if pk.peak_freqs_hz.size:
            ax.plot(pk.peak_freqs_hz, pk.median_db + pk.peak_heights_db, "v", color="tab:red", ms=7, label=f"{pk.peak_freqs_hz.size} detected peaks")
        if pk.band_hz[0] < pk.model_top_hz < pk.band_hz[1]:
            ax.axvline(pk.model_top_hz, color="tab:purple", ls="--", lw=1, label=f"top of the model's input ({pk.model_top_hz:.0f} Hz)")
        ax.set_xlim(pk.freqs_hz[0], pk.freqs_hz[-1])
        ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize=8, ncol=4, frameon=False, borderaxespad=0.2)  # off the data
        ax.set_title(
            f"Upsampler-peak residual spectrum: strength {pk.strength_db:.1f} dB, comb z {pk.periodicity_z:.1f}"
            + (f" at {pk.period_hz:.0f} Hz spacing" if pk.period_hz > 0 else ""),
            fontsize=11, loc="left", pad=20,
        )
    else:
        ax.text(0.5, 0.5, "residual spectrum not computed", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("dB")

    # summary
    ax = fig.add_subplot(gs[4, :])
    ax.axis("off")
    ax.set_title("Summary", fontsize=11, loc="left")
    head = textwrap.fill(ex.headline or ex.summary, 140)
    ax.text(0.0, 1.0, head, transform=ax.transAxes, fontsize=9.5, fontweight="bold", va="top", ha="left")
    if ex.details:
        n_head = head.count("\n") + 1
        ax.text(0.0, 1.0 - 0.075 * (n_head + 0.6), textwrap.fill("Details: " + ex.details, 175), transform=ax.transAxes, fontsize=7.6, va="top", ha="left")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(str(path), dpi=dpi)
    return path
