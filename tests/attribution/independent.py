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
