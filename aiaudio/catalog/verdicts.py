"""Songs and groups: a song's entry and tier, a group's verdict with its evidence song by song."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

from .combination import CatalogModel, combine, log_odds

if TYPE_CHECKING:
    from ..model import ModelConfig


class _ConfigOnly:
    """Just enough of a :class:`~aiaudio.Detector` for its ``label_for`` (which reads ``config`` only)."""

    def __init__(self, config: "ModelConfig"):
        self.config = config


def song_tier(p_ai: float, config: "ModelConfig") -> str:
    """The verdict tier of a calibrated probability under a model's threshold and uncertain band.

    The detector's own rule (:meth:`aiaudio.Detector.label_for` and its label -> verdict map),
    so a song here gets the tier ``aiaudio score`` gives it; used for catalogues too.
    """
    from ..detector import VERDICT_OF_LABEL, Detector

    label, _ = Detector.label_for(_ConfigOnly(config), float(p_ai))  # type: ignore[arg-type]
    return VERDICT_OF_LABEL[label]


def ai_ranges(segments: Sequence[Sequence[float]], threshold: float) -> list[tuple[float, float]]:
    """Time ranges (s) where consecutive segments score at or above ``threshold``.

    ``segments`` are ``(start_s, end_s, p_ai)`` triples in time order.
    """
    out: list[tuple[float, float]] = []
    for a, b, p in segments:
        if p >= threshold:
            if out and a <= out[-1][1] + 1e-6:
                out[-1] = (out[-1][0], float(b))
            else:
                out.append((float(a), float(b)))
    return out


@dataclass
class SongEntry:
    """One song of a catalogue run.

    Attributes
    ----------
    path : str
    group : str
        The catalogue it belongs to.
    group_source : str
        ``"tag"`` or ``"folder"``: where the group name came from.
    p_ai : float
        The song's calibrated probability (NaN when it could not be scored).
    verdict : str
        The song's tier (empty for an error).
    segments : list of (start_s, end_s, p_ai)
    error : str
    flags : list of str
    tags : dict
        ``artist``, ``album``, ``title`` when the file has them.
    """

    path: str
    group: str
    group_source: str
    p_ai: float
    verdict: str
    segments: list[tuple[float, float, float]] = field(default_factory=list)
    error: str = ""
    flags: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def scored(self) -> bool:
        return not self.error and math.isfinite(self.p_ai)


@dataclass
class GroupVerdict:
    """The verdict on one catalogue.

    Attributes
    ----------
    name : str
    n_songs : int
        Songs scored (errors not counted).
    n_errors : int
    verdict : str
        One of :data:`GROUP_VERDICTS` (``"Needs review"`` too when no song could be scored).
    reason : str
        One sentence that justifies the verdict.
    p_ai, p_low, p_high : float
        Combined probability and its 90% interval.
    counts : dict
        Songs per song tier.
    top_songs : list of dict
        The most AI-like songs (path, p_ai, verdict, ranges: time ranges at or above the threshold).
    deciding : list of dict
        The songs that weigh most in the verdict's direction (path, p_ai, share of the log-odds).
    minority : list of str
        For a mixed catalogue, the songs that look AI-made on their own.
    spread : float
        Standard deviation of the song log-odds (description of how alike the songs score).
    grouped_by : str
        ``"tag"``, ``"folder"`` or ``"tag+folder"``.
    """

    name: str
    n_songs: int
    n_errors: int
    verdict: str
    reason: str
    p_ai: float
    p_low: float
    p_high: float
    counts: dict[str, int]
    top_songs: list[dict[str, Any]]
    deciding: list[dict[str, Any]]
    minority: list[str]
    spread: float
    grouped_by: str


def _binom_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p): ``scipy.stats.binom.sf`` where scipy is installed,
    else the upper tail summed term by term in log space (a plain install scores catalogues
    too; the two agree within 1e-12, tested)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    try:
        from scipy.stats import binom
    except ImportError:
        return _binom_sf_exact(k, n, p)
    return float(binom.sf(k - 1, n, p))


def _binom_sf_exact(k: int, n: int, p: float) -> float:
    """The upper tail ``sum_{i >= k} C(n, i) p^i (1-p)^(n-i)`` with ``math`` (1 <= k <= n)."""
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    lp, lq, lg = math.log(p), math.log1p(-p), math.lgamma(n + 1)
    terms = [lg - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * lp + (n - i) * lq for i in range(k, n + 1)]
    top = max(terms)
    return min(1.0, math.exp(top) * math.fsum(math.exp(t - top) for t in terms))


def group_verdict(name: str, songs: Sequence[SongEntry], cm: CatalogModel, config: "ModelConfig", *, top: int = 3) -> GroupVerdict:
    """Combine a catalogue's songs into its verdict (see the module docs).

    Parameters
    ----------
    name : str
    songs : sequence of SongEntry
        The catalogue's songs (error rows are counted, not combined).
    cm : CatalogModel
    config : ModelConfig
        The song model's config (threshold and uncertain band).
    top : int
        How many most-AI-like and deciding songs to list.

    Returns
    -------
    GroupVerdict
    """
    ok = [s for s in songs if s.scored]
    n_err = len(songs) - len(ok)
    sources = sorted({s.group_source for s in songs})
    grouped_by = "+".join(sources)
    counts = {v: 0 for v in ("Likely AI", "Needs review", "No AI signal found")}
    for s in ok:
        counts[s.verdict] = counts.get(s.verdict, 0) + 1
    if not ok:
        return GroupVerdict(
            name, 0, n_err, "Needs review", f"None of its {n_err} files could be scored.",
            float("nan"), float("nan"), float("nan"), counts, [], [], [], float("nan"), grouped_by,
        )
    u = log_odds([s.p_ai for s in ok], cm.clip)
    flagged = [s for s in ok if s.verdict == "Likely AI"]
    k = len(flagged)
    comb = combine(u, cm, n_flagged=k)
    n = comb.n
    t = config.threshold
    lean = [s.verdict == "Likely AI" or ui > cm.midpoint for s, ui in zip(ok, u)]
    lean_ai = int(sum(lean))
    majority = lean_ai * 2 >= n
    p_chance = _binom_sf(k, n, cm.song_fpr)
    group_tier = song_tier(comb.p_ai, config)
    ci = f"{comb.p_ai:.2f} (90% interval {comb.p_low:.2f}-{comb.p_high:.2f})"
    minority: list[str] = []
    if group_tier == "Likely AI" and majority:
        verdict = "Likely AI"
        reason = (
            f"Combined p_ai {ci} over {n} song{'s' if n != 1 else ''} is at or above the threshold {t:.2f}, "
            f"and {lean_ai} of {n} songs lean AI."
        )
    elif k and k < n and p_chance < cm.mixed_alpha:
        verdict = "Mixed catalogue"
        minority = [s.path for s in sorted(flagged, key=lambda s: -s.p_ai)]
        reason = (
            f"{k} of {n} songs look AI-made, more than human catalogues show by chance "
            f"(p = {p_chance:.2g}); the catalogue as a whole is not called AI (combined p_ai {ci})."
        )
    elif group_tier != "No AI signal found":
        verdict = "Needs review"
        if group_tier == "Likely AI":
            reason = (
                f"Combined p_ai {ci} is at or above the threshold, but only {lean_ai} of {n} songs lean AI: "
                "a catalogue is not called AI because of a minority."
            )
        else:
            reason = f"Combined p_ai {ci} over {n} songs lies in the model's uncertain band ({config.uncertain_low:.2f}-{t:.2f})."
    else:
        verdict = "No AI signal found"
        extra = f"; {k} song{'s' if k != 1 else ''} flagged alone, within what human catalogues show by chance" if k else ""
        reason = f"Combined p_ai {ci} over {n} songs is below the uncertain band{extra}."
    if cm.fitted_on.startswith("not fitted"):
        reason += " (The combination is not fitted for this model: defaults.)"
    order = sorted(range(n), key=lambda i: -ok[i].p_ai)
    top_songs = [
        {"path": ok[i].path, "p_ai": ok[i].p_ai, "verdict": ok[i].verdict, "ranges": ai_ranges(ok[i].segments, t)}
        for i in order[:top]
    ]
    sign = 1.0 if verdict in ("Likely AI", "Mixed catalogue", "Needs review") else -1.0
    total = sum(abs(c) for c in comb.contributions) or 1.0
    dec = sorted(range(n), key=lambda i: -sign * comb.contributions[i])
    deciding = [
        {"path": ok[i].path, "p_ai": ok[i].p_ai, "share": comb.contributions[i] / total}
        for i in (dec[: len(minority)] if minority else dec[:top])
        if sign * comb.contributions[i] > 0 or minority
    ]
    return GroupVerdict(
        name, n, n_err, verdict, reason, comb.p_ai, comb.p_low, comb.p_high, counts,
        top_songs, deciding, minority, comb.spread, grouped_by,
    )


