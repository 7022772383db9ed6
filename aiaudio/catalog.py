"""Catalogue verdicts: is this artist (album, upload batch) AI-made, with the evidence song by song.

>>> import aiaudio
>>> cat = aiaudio.score_catalog(["music/"], group_by="artist")      # doctest: +SKIP
>>> for g in cat.groups:                                             # doctest: +SKIP
...     print(g.name, g.n_songs, g.verdict, f"{g.p_ai:.2f} [{g.p_low:.2f}-{g.p_high:.2f}]")

How songs are combined
----------------------
Each song gives its calibrated log-odds ``u = logit(p_ai)`` (clipped to ``+-clip``). Songs
of one catalogue are not independent evidence: one production, one generator, one mastering
chain make their errors alike. The combination is a **random-effects model** of that: a
catalogue has its own level ``theta``; its songs scatter around it with the within-group
variance ``var_within``; AI and human catalogues have levels around ``mu_ai`` and
``mu_human`` with the between-group variance ``var_between``. The mean ``m`` of ``n`` song
log-odds then is ``N(mu_class, var_between + var_within / n)`` and the catalogue's log-odds is

    G = temperature * (mu_ai - mu_human) / (var_between + var_within / n) * (m - (mu_ai + mu_human) / 2)
        + count_weight * r(n) * LLR(k) + offset

so the evidence grows with ``n`` but levels off at ``n ~ var_within / var_between``: thirty
songs of one catalogue are worth far less than thirty independent songs. The second term
carries what the mean misses when a model's scores transfer poorly but its threshold still
holds: ``k`` of the ``n`` songs are "Likely AI" on their own, ``LLR(k)`` is the binomial
log-likelihood ratio of that count under the song rates ``song_tpr`` (AI songs) and
``song_fpr`` (human songs), and ``r(n) = 1 / (1 + n var_between / var_within)`` is the same
discount for correlated songs (``n r(n)`` is the effective number of songs). ``temperature``,
``count_weight`` (both at least 0) and ``offset`` are fitted on held-out groups by logistic
regression, so the catalogue probability ``p_ai = sigmoid(G)`` is calibrated, not a vote. All parameters are fitted by
``scripts/catalog_fit.py`` on groups (sources, artists) the song model never saw and ship
with the model (``catalog.json`` in the model directory); see the model card.

Uncertainty
    ``p_low``-``p_high`` is the 90% interval of ``p_ai`` over the sampling of the
    catalogue's songs: ``m +- 1.645 s / sqrt(n)``, with ``s`` the catalogue's spread of song
    log-odds shrunk towards ``sqrt(var_within)`` (a few songs cannot show their spread), and
    ``k +- 1.645 sqrt(n q (1 - q))`` with ``q = (k + 1/2) / (n + 1)``, both moved the same way.
    It does not include the uncertainty of the fitted parameters.

Verdict tiers (:data:`GROUP_VERDICTS`)
    ``"Likely AI"``: ``p_ai`` at or above the song model's threshold **and** at least half
    the songs lean AI (log-odds above the midpoint ``(mu_ai + mu_human) / 2``): a catalogue
    is never called AI because of a minority.
    ``"Mixed catalogue"``: otherwise, when more songs are "Likely AI" on their own than
    human catalogues show by chance (a one-sided binomial test at ``mixed_alpha`` against the
    song false-positive rate ``song_fpr`` measured on human songs): "3 of 24 songs look
    AI-made"; those songs are listed.
    ``"Needs review"``: otherwise, ``p_ai`` in the model's uncertain band (or at or above
    the threshold without a majority of AI-leaning songs).
    ``"No AI signal found"``: the rest.
    Song tiers are the detector's own (:data:`aiaudio.detector.VERDICTS`).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import numpy as np

if TYPE_CHECKING:
    from .detector import Detector
    from .model import ModelConfig

__all__ = [
    "GROUP_VERDICTS",
    "CATALOG_NAME",
    "Catalog",
    "CatalogModel",
    "Combination",
    "GroupVerdict",
    "SongEntry",
    "combine",
    "fit_catalog_model",
    "group_verdict",
    "load_catalog_model",
    "score_catalog",
    "song_tier",
    "ai_ranges",
]

#: Catalogue verdict tiers, from surest "AI" to "no AI signal".
GROUP_VERDICTS = ("Likely AI", "Mixed catalogue", "Needs review", "No AI signal found")
#: File in a model directory holding the fitted :class:`CatalogModel`.
CATALOG_NAME = "catalog.json"
#: z for the 90% interval.
_Z90 = 1.6448536269514722


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class CatalogModel:
    """Parameters of the catalogue combination (see the module docs).

    Attributes
    ----------
    mu_ai, mu_human : float
        Mean catalogue level (mean song log-odds) of AI and of human catalogues. When the
        song model does not separate the fit groups (``mu_ai <= mu_human``) the combination
        has no slope: every catalogue gets ``sigmoid(offset)``; a more AI-like song never
        counts as evidence for human.
    var_between : float
        Variance of catalogue levels around their class mean.
    var_within : float
        Variance of song log-odds around their catalogue's level.
    temperature, offset : float
        Platt scaling of the random-effects score, fitted on held-out groups.
    count_weight : float
        Weight of the (discounted) log-likelihood ratio of the count of "Likely AI" songs.
    clip : float
        Song log-odds are clipped to ``[-clip, clip]`` before they are combined.
    song_fpr : float
        Share of human songs the song model calls "Likely AI" (measured on the fit groups);
        the chance level of the mixed-catalogue test.
    song_tpr : float
        Share of AI songs it calls "Likely AI" (measured on the fit groups).
    flag_log_odds : float
        Song log-odds at and above which a song counts as "Likely AI" in the fit (the song
        model's threshold); catalogues count their songs by their tier.
    mixed_alpha : float
        Level of the one-sided binomial test of the mixed-catalogue rule.
    fitted_on : str
        What the parameters were fitted on.
    """

    mu_ai: float = 4.0
    mu_human: float = -4.0
    var_between: float = 4.0
    var_within: float = 4.0
    temperature: float = 1.0
    offset: float = 0.0
    count_weight: float = 0.0
    clip: float = 12.0
    song_fpr: float = 0.05
    song_tpr: float = 0.05
    flag_log_odds: float = 4.1
    mixed_alpha: float = 0.01
    fitted_on: str = "not fitted (defaults)"

    @property
    def midpoint(self) -> float:
        """Song log-odds above which a song leans AI in the combination."""
        return 0.5 * (self.mu_ai + self.mu_human)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "CatalogModel":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})


def load_catalog_model(model_dir: str | os.PathLike[str] | None = None) -> CatalogModel:
    """The fitted combination shipped with a model directory (default: the default model's).

    A model directory without ``catalog.json`` gets the defaults of :class:`CatalogModel`,
    which are not fitted: its ``fitted_on`` says so and every catalogue reason repeats it.
    """
    from .detector import default_model_dir

    d = Path(model_dir) if model_dir is not None else default_model_dir()
    f = d / CATALOG_NAME
    if not f.is_file():
        return CatalogModel()
    from .errors import ModelLoadError

    try:
        return CatalogModel.from_dict(json.loads(f.read_text(encoding="utf-8")))
    except (ValueError, TypeError) as e:
        raise ModelLoadError(f"{f}: invalid catalogue combination ({e}); refit it with scripts/catalog_fit.py.") from e


@dataclass(frozen=True)
class Combination:
    """A catalogue's combined score (see :func:`combine`)."""

    p_ai: float
    p_low: float
    p_high: float
    logit: float
    n: int
    mean_log_odds: float
    spread: float
    contributions: tuple[float, ...]


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def log_odds(p_ai: Iterable[float], clip: float = 12.0) -> np.ndarray:
    """Calibrated song probabilities -> clipped log-odds."""
    p = np.asarray(list(p_ai), dtype=np.float64)
    with np.errstate(divide="ignore"):
        u = np.log(p) - np.log1p(-p)
    return np.clip(u, -clip, clip)


def _slope(n: int, cm: CatalogModel) -> float:
    """Weight of the mean song log-odds of ``n`` songs; never negative (see :class:`CatalogModel`)."""
    return cm.temperature * max(cm.mu_ai - cm.mu_human, 0.0) / (cm.var_between + cm.var_within / max(n, 1))


def _discount(n: int, cm: CatalogModel) -> float:
    """``r(n)``: how much of independent evidence each of ``n`` songs of one catalogue is worth."""
    return 1.0 / (1.0 + max(n, 1) * cm.var_between / cm.var_within)


def _count_llr(k: float, n: int, cm: CatalogModel) -> float:
    """Binomial log-likelihood ratio (AI vs human catalogue) of ``k`` flagged songs of ``n``."""
    eps = 1e-4
    tpr = min(max(cm.song_tpr, eps), 1 - eps)
    fpr = min(max(cm.song_fpr, eps), 1 - eps)
    if tpr <= fpr:
        return 0.0
    return k * math.log(tpr / fpr) + (n - k) * math.log((1 - tpr) / (1 - fpr))


def _score(m: float, n: int, cm: CatalogModel, k: float = 0) -> float:
    count = cm.count_weight * _discount(n, cm) * _count_llr(k, n, cm) if cm.count_weight else 0.0
    return _slope(n, cm) * (m - cm.midpoint) + count + cm.offset


def combine(u: Sequence[float] | np.ndarray, cm: CatalogModel, n_flagged: int | None = None) -> Combination:
    """Combine the song log-odds of one catalogue (see the module docs).

    Parameters
    ----------
    u : sequence of float
        Song log-odds ``logit(p_ai)`` (clipped here to ``cm.clip``).
    cm : CatalogModel
    n_flagged : int, optional
        Songs in the "Likely AI" tier (default: those with log-odds at or above
        ``cm.flag_log_odds``).

    Returns
    -------
    Combination
        ``contributions[i]`` is song ``i``'s share of the catalogue log-odds (before the
        offset): positive pushes towards AI.
    """
    x = np.clip(np.asarray(u, dtype=np.float64), -cm.clip, cm.clip)
    n = int(x.size)
    if n == 0:
        raise ValueError("a catalogue needs at least one scored song")
    m = float(x.mean())
    flag = x >= cm.flag_log_odds
    k = int(flag.sum()) if n_flagged is None else int(n_flagged)
    prior = 3.0  # songs' worth of var_within in the shrunk spread
    s2 = (prior * cm.var_within + float(((x - m) ** 2).sum())) / (prior + n - 1) if n > 1 else cm.var_within
    se = math.sqrt(s2 / n)
    g = _score(m, n, cm, k)
    q = (k + 0.5) / (n + 1.0)  # shrunk share of flagged songs
    se_k = math.sqrt(n * q * (1.0 - q))
    k_lo, k_hi = max(0.0, k - _Z90 * se_k), min(float(n), k + _Z90 * se_k)
    lo, hi = _score(m - _Z90 * se, n, cm, k_lo), _score(m + _Z90 * se, n, cm, k_hi)
    slope = _slope(n, cm)
    # a song's share: its part of the mean term, plus its part of the count term
    cw = cm.count_weight * _discount(n, cm)
    eps = 1e-4
    tpr, fpr = min(max(cm.song_tpr, eps), 1 - eps), min(max(cm.song_fpr, eps), 1 - eps)
    up = cw * math.log(tpr / fpr) if tpr > fpr else 0.0
    down = cw * math.log((1 - tpr) / (1 - fpr)) if tpr > fpr else 0.0
    contrib = tuple(float(slope * (xi - cm.midpoint) / n + (up if fi else down)) for xi, fi in zip(x, flag))
    return Combination(
        p_ai=_sigmoid(g), p_low=_sigmoid(lo), p_high=_sigmoid(hi), logit=g, n=n,
        mean_log_odds=m, spread=float(x.std()), contributions=contrib,
    )


def _fit_moments(groups: Sequence[tuple[int, np.ndarray]], clip: float) -> dict[str, float]:
    means = {0: [], 1: []}
    ss, dof = 0.0, 0
    for y, u in groups:
        x = np.clip(np.asarray(u, dtype=np.float64), -clip, clip)
        means[int(y)].append((float(x.mean()), x.size))
        ss += float(((x - x.mean()) ** 2).sum())
        dof += x.size - 1
    if not means[0] or not means[1]:
        raise ValueError("fitting the combination needs AI and human groups")
    var_w = max(ss / max(dof, 1), 1e-3)
    mu = {c: float(np.mean([m for m, _ in means[c]])) for c in (0, 1)}
    # between-group variance: spread of group means beyond what song scatter explains
    resid = [(m - mu[c]) ** 2 - var_w / n for c in (0, 1) for m, n in means[c]]
    var_b = max(float(np.mean(resid)), 0.05)
    return {"mu_ai": mu[1], "mu_human": mu[0], "var_between": var_b, "var_within": var_w}


def subsample_sizes(n: int, sizes: Sequence[int] = (1, 3, 10, 30)) -> list[int]:
    """The subsample sizes used for a group of ``n`` songs: those below ``n``, and ``n``."""
    return sorted({s for s in sizes if s < n} | {n})


def fit_catalog_model(
    groups: Sequence[tuple[int, Sequence[float]]],
    *,
    song_fpr: float,
    song_tpr: float = 0.0,
    flag_log_odds: float = 4.1,
    clip: float = 12.0,
    draws: int = 8,
    seed: int = 0,
    fitted_on: str = "",
) -> CatalogModel:
    """Fit the combination on labelled groups of song log-odds.

    Parameters
    ----------
    groups : sequence of (label, log-odds)
        ``label`` 1 for an AI catalogue, 0 for a human one.
    song_fpr, song_tpr : float
        Shares of human and of AI songs in "Likely AI" on the fit groups.
    flag_log_odds : float
        Song log-odds of the song model's threshold.
    clip : float
        Clip of song log-odds.
    draws : int
        Random subsamples per group and size (sizes 1, 3, 10, 30 and the whole group) on
        which the temperature and offset are fitted, each group weighing the same.
    seed : int

    Returns
    -------
    CatalogModel
    """
    from scipy.optimize import minimize

    gs = [(int(y), np.clip(np.asarray(u, dtype=np.float64), -clip, clip)) for y, u in groups if len(u)]
    mom = _fit_moments(gs, clip)
    base = CatalogModel(**mom, clip=clip, song_fpr=song_fpr, song_tpr=song_tpr, flag_log_odds=flag_log_odds, count_weight=1.0, offset=0.0)
    rng = np.random.default_rng(seed)
    xs, x2s, ys, ws = [], [], [], []
    for y, u in gs:
        sizes = subsample_sizes(u.size)
        for s in sizes:
            reps = 1 if s == u.size else draws
            for _ in range(reps):
                sub = u if s == u.size else rng.choice(u, size=s, replace=False)
                xs.append(_slope(s, base) * (float(sub.mean()) - base.midpoint))
                x2s.append(_discount(s, base) * _count_llr(int(np.sum(sub >= flag_log_odds)), s, base))
                ys.append(y)
                ws.append(1.0 / (len(sizes) * reps))
    x, x2, yv, w = np.asarray(xs), np.asarray(x2s), np.asarray(ys, dtype=np.float64), np.asarray(ws)
    # equal weight to the AI and the human side, so the offset does not learn the group mix
    for c in (0, 1):
        w[yv == c] /= w[yv == c].sum()

    def nll(theta: np.ndarray) -> float:
        z = theta[0] * x + theta[1] * x2 + theta[2]
        return float(np.sum(w * (np.logaddexp(0.0, z) - yv * z)))

    res = minimize(nll, np.array([1.0, 0.5, 0.0]), method="L-BFGS-B", bounds=[(0.0, 20.0), (0.0, 20.0), (-20.0, 20.0)])
    t, cwt, b = (float(v) for v in res.x)
    return CatalogModel(
        **mom, temperature=t, offset=b, count_weight=cwt, clip=clip, song_fpr=float(song_fpr),
        song_tpr=float(song_tpr), flag_log_odds=float(flag_log_odds), fitted_on=fitted_on,
    )


# --------------------------------------------------------------------------- songs and groups


class _ConfigOnly:
    """Just enough of a :class:`~aiaudio.Detector` for its ``label_for`` (which reads ``config`` only)."""

    def __init__(self, config: "ModelConfig"):
        self.config = config


def song_tier(p_ai: float, config: "ModelConfig") -> str:
    """The verdict tier of a calibrated probability under a model's threshold and uncertain band.

    The detector's own rule (:meth:`aiaudio.Detector.label_for` and its label -> verdict map),
    so a song here gets the tier ``aiaudio score`` gives it; used for catalogues too.
    """
    from .detector import VERDICT_OF_LABEL, Detector

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
    """P(X >= k) for X ~ Binomial(n, p)."""
    from scipy.stats import binom

    return float(binom.sf(k - 1, n, p)) if k > 0 else 1.0


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


# --------------------------------------------------------------------------- runs


@dataclass
class Catalog:
    """A catalogue run: one verdict per group, and every song.

    Attributes
    ----------
    groups : list of GroupVerdict
        Sorted by combined ``p_ai``, highest first.
    songs : list of SongEntry
        Every input, in input order.
    model : CatalogModel
        The combination used.
    model_version : str
        The song model.
    group_by : str
    """

    groups: list[GroupVerdict]
    songs: list[SongEntry]
    model: CatalogModel
    model_version: str = ""
    group_by: str = "artist"

    def rows(self) -> list[dict[str, Any]]:
        """One flat row per group (the CSV of ``aiaudio catalog``)."""
        return [group_row(g) for g in self.groups]


#: Columns of the catalogue CSV.
CATALOG_COLUMNS = [
    "group", "n_songs", "n_errors", "verdict", "p_ai", "p_low", "p_high",
    "n_likely_ai", "n_needs_review", "n_no_ai_signal", "top_songs", "deciding_songs",
    "minority", "reason", "spread", "grouped_by",
]


def _fmt_ranges(r: Sequence[tuple[float, float]]) -> str:
    def mmss(t: float) -> str:
        s = int(round(t))
        return f"{s // 60}:{s % 60:02d}"

    return ",".join(f"{mmss(a)}-{mmss(b)}" for a, b in r)


def group_row(g: GroupVerdict) -> dict[str, Any]:
    """A :class:`GroupVerdict` as one flat CSV row."""
    return {
        "group": g.name,
        "n_songs": g.n_songs,
        "n_errors": g.n_errors,
        "verdict": g.verdict,
        "p_ai": g.p_ai,
        "p_low": g.p_low,
        "p_high": g.p_high,
        "n_likely_ai": g.counts.get("Likely AI", 0),
        "n_needs_review": g.counts.get("Needs review", 0),
        "n_no_ai_signal": g.counts.get("No AI signal found", 0),
        "top_songs": "; ".join(
            f"{Path(s['path']).name} ({s['p_ai']:.2f}{' @ ' + _fmt_ranges(s['ranges']) if s['ranges'] else ''})" for s in g.top_songs
        ),
        "deciding_songs": "; ".join(f"{Path(s['path']).name} ({s['share']:+.0%})" for s in g.deciding),
        "minority": "; ".join(Path(p).name for p in g.minority),
        "reason": g.reason,
        "spread": g.spread,
        "grouped_by": g.grouped_by,
    }


def songs_from_rows(
    rows: Iterable[Mapping[str, Any]], config: "ModelConfig", group_by: str = "artist"
) -> list[SongEntry]:
    """Song entries from rows of ``aiaudio score`` (CSV or JSON lines, ``--segments`` for timelines).

    The group of each song comes from its tags (``group_by``), else its folder.

    Raises
    ------
    MissingDependencyError
        When grouping by tag and mutagen is not installed.
    """
    from .errors import MissingDependencyError
    from .tags import group_key, parse_group_by, read_tags

    by_folder = parse_group_by(group_by)[0] == "folder"
    out: list[SongEntry] = []
    for r in rows:
        path = str(r["path"])
        err = str(r.get("error") or "")
        p = r.get("p_ai")
        p = float(p) if p not in (None, "") else float("nan")
        try:
            tags = read_tags(path) if os.path.exists(path) else {}
        except MissingDependencyError:
            if not by_folder:  # grouping by tag needs the tag reader; by folder, tags only add titles
                raise
            tags = {}
        group, src = group_key(path, group_by, tags=tags)
        segs = [(float(a), float(b), float(q)) for a, b, q in (r.get("segments") or [])]
        flags = r.get("flags") or []
        if isinstance(flags, str):
            flags = [f for f in flags.split(";") if f]
        verdict = "" if err or not math.isfinite(p) else song_tier(p, config)
        keep = {k: tags[k] for k in ("artist", "albumartist", "album", "title") if k in tags}
        out.append(SongEntry(path, group, src, p, verdict, segs, err, list(flags), keep))
    return out


def build_catalog(songs: Sequence[SongEntry], cm: CatalogModel, config: "ModelConfig", *, model_version: str = "", group_by: str = "artist") -> Catalog:
    """Group song entries and give every group its verdict."""
    by: dict[str, list[SongEntry]] = {}
    for s in songs:
        by.setdefault(s.group, []).append(s)
    groups = [group_verdict(name, ss, cm, config) for name, ss in by.items()]
    groups.sort(key=lambda g: (-(g.p_ai if math.isfinite(g.p_ai) else -1.0), g.name))
    return Catalog(groups, list(songs), cm, model_version, group_by)


def _score_to_row(path: str, result: Any) -> dict[str, Any]:
    from .detector import Score

    if isinstance(result, Score):
        return {
            "path": path, "p_ai": result.p_ai, "error": "", "flags": result.flags,
            "segments": [(g.start_s, g.end_s, g.p_ai) for g in result.segments],
        }
    msg = str(result) if hasattr(result, "__str__") else repr(result)
    return {"path": path, "p_ai": None, "error": msg or type(result).__name__, "flags": []}


def score_catalog(
    paths: Sequence[str | os.PathLike[str]],
    *,
    group_by: str = "artist",
    model: str | os.PathLike[str] | None = None,
    detector: "Detector | None" = None,
    recursive: bool = True,
    scores: Iterable[Mapping[str, Any]] | None = None,
    jobs: int | None = None,
    torch_threads: int | None = None,
) -> Catalog:
    """Score files and folders and give a verdict per catalogue (artist, album, folder, tag).

    Parameters
    ----------
    paths : sequence of path
        Audio files and folders (folders are searched recursively unless ``recursive`` is false).
    group_by : str
        ``"artist"``, ``"album"``, ``"folder"`` or ``"tag:FIELD"``; files without the tag are
        grouped by their folder (see :func:`aiaudio.tags.group_key`).
    model : path, optional
        Song model directory (default: the shipped model); its ``catalog.json`` holds the
        fitted combination.
    detector : Detector, optional
        An already loaded detector (``model`` is then ignored).
    recursive : bool
    scores : iterable of dict, optional
        Rows already written by ``aiaudio score`` (``path``, ``p_ai``, ``error``, optional
        ``segments``) to use instead of scoring: files found in them are not scored again.
    jobs, torch_threads : int, optional
        See :func:`aiaudio.batch.score_files`.

    Returns
    -------
    Catalog

    Raises
    ------
    ValueError
        For an unknown ``group_by``.
    ModelLoadError
        When the model (or its catalogue combination) cannot be loaded.
    """
    import warnings

    from .files import collect_inputs
    from .detector import UntrainedModelWarning, load_detector
    from .tags import parse_group_by

    parse_group_by(group_by)
    det = detector if detector is not None else load_detector(model)
    cm = load_catalog_model(det.model_dir) if det.model_dir is not None else CatalogModel()
    files = collect_inputs([os.fspath(p) for p in paths], recursive=recursive)
    rows: dict[str, dict[str, Any]] = {}
    for r in scores or ():
        rows[str(r["path"])] = dict(r)
    todo = [f for f in files if f not in rows]
    if todo:
        from .batch import score_files

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UntrainedModelWarning)
            for path, result in score_files(det, todo, jobs=jobs, torch_threads=torch_threads):
                rows[path] = _score_to_row(path, result)
    ordered = [rows[f] for f in files] if files else list(rows.values())
    songs = songs_from_rows(ordered, det.config, group_by)
    return build_catalog(songs, cm, det.config, model_version=det.version, group_by=group_by)
