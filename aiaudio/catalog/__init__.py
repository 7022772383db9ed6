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

Modules: :mod:`~aiaudio.catalog.combination` (the fitted model and how songs combine),
:mod:`~aiaudio.catalog.verdicts` (songs and group verdicts), :mod:`~aiaudio.catalog.runs`
(a catalogue run, its rows); this package re-exports their public names.
"""

from .combination import CATALOG_NAME, CatalogModel, Combination, GROUP_VERDICTS, combine, fit_catalog_model, load_catalog_model, log_odds, subsample_sizes  # noqa: F401
from .verdicts import GroupVerdict, SongEntry, ai_ranges, group_verdict, song_tier  # noqa: F401
from .runs import CATALOG_COLUMNS, Catalog, build_catalog, group_row, score_catalog, songs_from_rows  # noqa: F401

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
