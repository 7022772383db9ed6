"""How the songs of one catalogue combine: the fitted random-effects model (:class:`CatalogModel`, in
``catalog.json``), :func:`combine`, and :func:`fit_catalog_model`.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np


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
    from ..detector import default_model_dir

    d = Path(model_dir) if model_dir is not None else default_model_dir()
    f = d / CATALOG_NAME
    if not f.is_file():
        return CatalogModel()
    from ..errors import ModelLoadError

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
    from ..errors import require_extra

    require_extra(("scipy",), "cues", "fitting a catalog model")
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


