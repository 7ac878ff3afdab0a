"""An independent Markov removal-effect implementation for the tests, written apart from
pipelines/attribution: journeys one by one (no aggregation), dictionaries, and an exact
rational Gaussian elimination (fractions.Fraction) instead of sparse floating-point solves."""

from __future__ import annotations

from collections import defaultdict
from fractions import Fraction


def chain(journeys: list[tuple[list[str], bool]], order: int):
    """{state: {next: count}} from single journeys (channels, converted)."""
    counts: dict = defaultdict(lambda: defaultdict(int))
    for channels, converted in journeys:
        previous = "START"
        for i in range(len(channels)):
            state = tuple(channels[max(0, i - order + 1) : i + 1])
            counts[previous][state] += 1
            previous = state
        counts[previous]["CONV" if converted else "NULL"] += 1
    return counts


def conversion_probability(counts, removed: str | None = None) -> Fraction:
    """P(reach CONV from START), states containing ``removed`` sent to NULL (exact)."""
    states = [s for s in counts if s == "START" or removed not in s]
    index = {s: i for i, s in enumerate(states)}
    n = len(states)
    # (I - Q) x = r
    a = [[Fraction(int(i == j)) for j in range(n)] for i in range(n)]
    b = [Fraction(0)] * n
    for s in states:
        total = sum(counts[s].values())
        for target, count in counts[s].items():
            p = Fraction(count, total)
            if target == "CONV":
                b[index[s]] += p
            elif target in index:
                a[index[s]][index[target]] -= p
    for col in range(n):  # Gauss-Jordan with exact fractions
        pivot = next(r for r in range(col, n) if a[r][col] != 0)
        a[col], a[pivot] = a[pivot], a[col]
        b[col], b[pivot] = b[pivot], b[col]
        for r in range(n):
            if r != col and a[r][col] != 0:
                f = a[r][col] / a[col][col]
                a[r] = [x - f * y for x, y in zip(a[r], a[col], strict=True)]
                b[r] -= f * b[col]
    return b[index["START"]] / a[index["START"]][index["START"]]


def removal_effects(journeys, order: int = 1) -> dict[str, Fraction]:
    counts = chain(journeys, order)
    base = conversion_probability(counts)
    channels = sorted({c for path, _ in journeys for c in path})
    return {c: 1 - conversion_probability(counts, c) / base for c in channels}


def credits(path: list[str], effects: dict[str, Fraction]) -> dict[str, Fraction]:
    distinct = sorted(set(path))
    total = sum(effects[c] for c in distinct)
    return {c: effects[c] / total for c in distinct}


def shapley_credits(channels: list[str], worth: dict[frozenset, Fraction]) -> dict[str, float]:
    """Shapley values of the distinct ``channels`` by the subset formula (exact fractions),
    negative values set to 0, normalised to sum 1 (equal split when none is positive)."""
    from itertools import combinations
    from math import factorial

    players = sorted(set(channels))
    k = len(players)
    phi = {}
    for player in players:
        others = [p for p in players if p != player]
        value = Fraction(0)
        for size in range(k):
            weight = Fraction(factorial(size) * factorial(k - size - 1), factorial(k))
            for coalition in combinations(others, size):
                before = frozenset(coalition)
                value += weight * (
                    worth.get(before | {player}, Fraction(0)) - worth.get(before, Fraction(0))
                )
        phi[player] = max(value, Fraction(0))
    total = sum(phi.values())
    if total == 0:
        return {p: 1 / k for p in players}
    return {p: float(v / total) for p, v in phi.items()}


def journeys_from_marts(conversions, touches):
    """{conversion_type: [(conversion_key or None, [channels])]} with pandas joins: the
    touches of the converting person (won deals: of its account too) in the window, in time
    order; every person's touches on no path of that type as one non-converting journey."""
    import pandas as pd

    touches = touches.assign(channel=touches["channel"].fillna("Unassigned"))
    by_person = conversions.merge(touches, on="person_key", suffixes=("", "_touch"))
    deals = conversions[conversions["conversion_type"] == "won_deal"].dropna(subset=["account_id"])
    by_account = deals.merge(touches, on="account_id", suffixes=("", "_touch"))
    matched = pd.concat([by_person, by_account], ignore_index=True)
    matched = matched[
        (matched["touched_at"] >= matched["window_start_at"])
        & (matched["touched_at"] <= matched["converted_at"])
    ].drop_duplicates(["conversion_key", "touchpoint_id"])
    matched = matched.sort_values(["conversion_key", "touched_at", "touchpoint_id"])
    out = {}
    for kind in sorted(conversions["conversion_type"].unique()):
        rows = matched[matched["conversion_type"] == kind]
        journeys = [(key, list(group["channel"])) for key, group in rows.groupby("conversion_key")]
        rest = touches[
            ~touches["touchpoint_id"].isin(set(rows["touchpoint_id"]))
            & touches["person_key"].notna()
        ].sort_values(["touched_at", "touchpoint_id"])
        journeys += [(None, list(group["channel"])) for _, group in rest.groupby("person_key")]
        out[kind] = journeys
    return out


def expected_credits(journeys) -> dict[tuple[str, str], dict[str, float]]:
    """{(conversion_key, model): {channel: credit}} for markov (order 1) and shapley."""
    converting = [(key, path) for key, path in journeys if key is not None]
    if not converting:
        return {}
    effects = removal_effects([(path, key is not None) for key, path in journeys])
    counts: dict[frozenset, list[int]] = {}
    for key, path in journeys:
        tally = counts.setdefault(frozenset(path), [0, 0])
        tally[0] += key is not None
        tally[1] += 1
    worth = {s: Fraction(c, n) for s, (c, n) in counts.items()}
    expected = {}
    for key, path in converting:
        expected[(key, "markov")] = {c: float(v) for c, v in credits(path, effects).items()}
        expected[(key, "shapley")] = shapley_credits(path, worth)
    return expected
