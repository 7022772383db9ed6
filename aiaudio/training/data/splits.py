"""Leak-free splits of item lists: by group, holding out generators, one fold per family; their summary."""

from __future__ import annotations

import fnmatch
from collections import Counter, defaultdict
from typing import Callable, Iterable, Sequence

import numpy as np

from .items import AI, HUMAN, Item


def _groups(items: Sequence[Item]) -> dict[str, list[int]]:
    g: dict[str, list[int]] = defaultdict(list)
    for i, it in enumerate(items):
        g[it.group].append(i)
    return g


def split_by_group(
    items: Sequence[Item],
    val_frac: float = 0.15,
    test_frac: float = 0.15,
    seed: int = 0,
    stratify: bool = True,
) -> dict[str, list[Item]]:
    """Split items into train / validation / test so that no group is in two splits.

    Groups are shuffled with ``seed`` and dealt out per stratum: test first until it
    holds ``test_frac`` of the stratum's items, then validation, the rest to training
    (a stratum always keeps at least one group for training). With ``stratify`` the
    strata are the groups' label mix (AI only, human only, both) crossed with their most
    common generator (for human-only groups: their source); strata of fewer than three
    groups are pooled by label mix. So every split gets both labels, and most generators
    and sources, whenever there are groups enough; small strata give validation and test
    one group each, so their shares can exceed ``val_frac`` / ``test_frac``. Where items
    carry a ``family`` (see :class:`Item`), it takes the generator's (AI) or the source's
    (human) place in the strata, so e.g. commercial human releases are dealt out as one
    stratum and reach every split.

    A group that holds an evaluation-only item (``role == "eval"``: AI mixed over a real
    recording, say) goes to test whole, as the first part of its stratum's test share:
    such items never train, and their group-mates (the real recording they were made
    from) stay on their side.

    Parameters
    ----------
    items : sequence of Item
    val_frac, test_frac : float
        Shares of items (approximately: whole groups move) for validation and test.
    seed : int
        Shuffling seed; the same items and seed give the same split.
    stratify : bool
        Balance label mix and generators across the splits.

    Returns
    -------
    dict
        ``{'train': [...], 'val': [...], 'test': [...]}``, each in the input order.
    """
    if not (0 <= val_frac < 1 and 0 <= test_frac < 1 and val_frac + test_frac < 1):
        raise ValueError(f"need 0 <= val_frac, test_frac and val_frac + test_frac < 1; got {val_frac}, {test_frac}")
    groups = _groups(items)
    eval_groups = {g for g, idx in groups.items() if any(items[i].role == "eval" for i in idx)}
    keys: dict[str, tuple] = {}
    for g, idx in groups.items():
        labels = tuple(sorted({items[i].label for i in idx}))
        if stratify:  # AI and mixed groups by family or generator, human groups by family or source
            gens = Counter((items[i].family or items[i].generator) if labels != (HUMAN,)
                           else (items[i].family or items[i].source or "human") for i in idx)
            top = sorted(gens.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
            keys[g] = (labels, top)
        else:
            keys[g] = ((), "")
    if stratify:  # pool small strata by label mix
        sizes = Counter(keys.values())
        keys = {g: (k if sizes[k] >= 3 else (k[0], "*")) for g, k in keys.items()}
    strata: dict[tuple, list[str]] = defaultdict(list)
    for g in sorted(keys):
        strata[keys[g]].append(g)
    rng = np.random.default_rng(seed)
    where: dict[str, str] = {g: "test" for g in eval_groups}
    for key in sorted(strata, key=repr):
        total = sum(len(groups[g]) for g in strata[key])
        target = {"test": test_frac * total, "val": val_frac * total}
        # groups with evaluation-only items are test's first share of their stratum
        have = {"test": sum(len(groups[g]) for g in strata[key] if g in eval_groups), "val": 0}
        gs = [g for g in strata[key] if g not in eval_groups]
        if not gs:
            continue
        order = rng.permutation(len(gs))
        left = len(gs)
        for j in order:
            g = gs[j]
            dest = "train"
            if left > 1:  # keep at least one group of the stratum for training
                for name in ("test", "val"):
                    if have[name] < target[name] and target[name] > 0:
                        dest = name
                        break
            if dest != "train":
                have[dest] += len(groups[g])
            where[g] = dest
            left -= 1
    out: dict[str, list[Item]] = {"train": [], "val": [], "test": []}
    for it in items:
        out[where[it.group]].append(it)
    return out


def hold_out(
    items: Sequence[Item], generators: Iterable[str], drop_shared: bool = False
) -> tuple[list[Item], list[Item]]:
    """Take every item of some generators out, for a leave-generators-out test.

    Parameters
    ----------
    items : sequence of Item
    generators : iterable of str
        Generator names or shell patterns (``'udio*'``, ``'*-reconstruction'``), matched
        case-sensitively with :func:`fnmatch.fnmatchcase`. A pattern ``'family:NAME'``
        matches the items' ``family`` instead (``'family:suno'``, ``'family:codec-*'``):
        a whole family or service. Its groups leave the rest entirely, as with
        ``drop_shared`` (a demo page that compares several models is one group: the
        other models' items of it are dropped, so no group is on both sides).
    drop_shared : bool
        Also drop (from both lists) items of *other* generators that share a group with a
        held-out item: e.g. the other reconstructions of the same source tracks.

    Returns
    -------
    rest : list of Item
        Everything else.
    held : list of Item
        Items of those generators, plus the human items of their groups (so the source
        track of a held-out reconstruction cannot leak into training).
    """
    pats = [g for g in generators]
    if not pats:
        return list(items), []
    fam_pats = [p[len("family:"):] for p in pats if p.startswith("family:")]
    gen_pats = [p for p in pats if not p.startswith("family:")]
    drop_shared = drop_shared or bool(fam_pats)

    def match(it: Item) -> bool:
        return (any(fnmatch.fnmatchcase(it.generator, p) for p in gen_pats)
                or (bool(it.family) and any(fnmatch.fnmatchcase(it.family, p) for p in fam_pats)))

    matched = [match(it) for it in items]
    held_groups = {it.group for it, m in zip(items, matched) if m}
    rest, held = [], []
    for it, m in zip(items, matched):
        if m or (it.label == HUMAN and it.group in held_groups):
            held.append(it)
        elif drop_shared and it.group in held_groups:
            continue
        else:
            rest.append(it)
    return rest, held


def leave_one_family_out(
    items: Sequence[Item],
    families: Iterable[str] | None = None,
    val_frac: float = 0.15,
    test_frac: float = 0.15,
    seed: int = 0,
) -> dict[str, dict[str, list[Item]]]:
    """Folds that each hold out one generator family (or service) whole.

    For each family ``F``: :func:`hold_out` with ``'family:F'`` (F's items, the human items
    of their groups, and no other item of those groups anywhere), then
    :func:`split_by_group` on the rest. A fold is evaluated on ``holdout`` + ``test``
    (``scripts/leave_one_out.py`` does this): the AUC of F against the human test items
    says how the detector does on a family it never saw.

    Parameters
    ----------
    items : sequence of Item
        Items with ``family`` set (e.g. from a manifest with a ``family`` column).
    families : iterable of str, optional
        Families (or ``fnmatch`` patterns) to hold out, one per fold; default every family
        of an AI item.
    val_frac, test_frac, seed
        For :func:`split_by_group`.

    Returns
    -------
    dict
        ``{family: {'train': [...], 'val': [...], 'test': [...], 'holdout': [...]}}``.

    Raises
    ------
    ValueError
        If no item has a family.
    """
    items = list(items)
    if families is None:
        families = sorted({it.family for it in items if it.label == AI and it.family})
    families = list(families)
    if not families:
        raise ValueError("no item has a family; use a manifest with a 'family' column, or hold out generators with hold_out()")
    folds: dict[str, dict[str, list[Item]]] = {}
    for fam in families:
        rest, held = hold_out(items, [f"family:{fam}"])
        sp = split_by_group(rest, val_frac=val_frac, test_frac=test_frac, seed=seed)
        folds[fam] = {**sp, "holdout": held}
    return folds


def summarize(items: Sequence[Item]) -> str:
    """Counts (and minutes, where durations are known) per label, generator and source.

    Returns
    -------
    str
        A small text table, for printing.
    """
    items = list(items)
    if not items:
        return "0 items"

    def minutes(its: list[Item]) -> str:
        d = [it.duration_s for it in its if it.duration_s]
        if not d:
            return ""
        s = f"{sum(d) / 60:.1f} min"
        return s if len(d) == len(its) else s + f" ({len(d)} known)"

    def block(title: str, key: Callable[[Item], str]) -> list[str]:
        by: dict[str, list[Item]] = defaultdict(list)
        for it in items:
            by[key(it)].append(it)
        width = max(len(k) for k in by)
        rows = [f"  by {title}:"]
        for k in sorted(by, key=lambda k: (-len(by[k]), k)):
            its = by[k]
            n_ai = sum(it.label == AI for it in its)
            lab = "ai" if n_ai == len(its) else "human" if n_ai == 0 else f"{n_ai} ai / {len(its) - n_ai} human"
            m = minutes(its)
            rows.append(f"    {k:<{width}}  {len(its):5d}  {lab}" + (f"  {m}" if m else ""))
        return rows

    n_ai = sum(it.label == AI for it in items)
    groups = len({it.group for it in items})
    lines = [f"{len(items)} items ({n_ai} ai, {len(items) - n_ai} human), {groups} groups" + (f", {minutes(items)}" if minutes(items) else "")]
    if any(it.family for it in items):
        lines += block("family", lambda it: it.family or "-")
    lines += block("generator", lambda it: it.generator)
    lines += block("source", lambda it: it.source or "-")
    flags = {"evaluation only (role eval)": sum(it.role == "eval" for it in items),
             "probable label": sum(it.probable for it in items)}
    if any(flags.values()):
        lines.append("  flagged: " + ", ".join(f"{v} {k}" for k, v in flags.items() if v))
    return "\n".join(lines)


