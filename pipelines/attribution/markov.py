"""Markov-chain removal-effect attribution on aggregated journeys (Anderl et al. 2016).

A journey is the ordered list of channels a person touched before converting (or, for a
non-converting journey, without converting). The chain is estimated from transition counts
computed over all journeys at once (pipelines/attribution/journeys.py, numpy), so the
solve grows with the number of distinct states, not of journeys.

The chain: ``(start)`` → states → ``(conversion)`` or ``(null)``. A state of order ``k`` is
the last ``k`` channels of the path so far (fewer at the start of a path); order 1 is the
channel itself. Transition probabilities are observed transition counts over all journeys
(converting and non-converting) divided by the state's outgoing count. Repeated channels
stay in the path (a self-transition does not change first-order absorption probabilities).

The conversion probability ``P`` is the probability of reaching ``(conversion)`` from
``(start)`` (absorbing-chain equations ``(I - Q) x = r``, solved sparse). Removing channel
``c`` sends every transition into a state that contains ``c`` to ``(null)``; its removal
effect is ``1 - P_without_c / P``. A conversion's credit for a channel on its path is the
channel's removal effect divided by the sum of the removal effects of the distinct channels
on that path, so the credits of one conversion sum to 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.linalg import spsolve

from pipelines.attribution.journeys import CONVERSION, SEP, START, Journeys


@dataclass(frozen=True)
class MarkovResult:
    """Removal effects of one graph: ``effects`` has channel, removal_effect (0..1)."""

    order: int
    conversion_probability: float
    effects: pd.DataFrame
    states: int
    transitions: pd.DataFrame  # from_state, to_state, probability (for checks and metadata)


def _absorption(q: sparse.csr_matrix, r: np.ndarray, keep: np.ndarray) -> float:
    """P(conversion) from state 0 (start) with only the ``keep`` states left in the chain."""
    index = np.flatnonzero(keep)
    sub = q[index][:, index]
    system = sparse.identity(len(index), format="csc") - sub.tocsc()
    solution = spsolve(system, r[index])
    return float(np.atleast_1d(solution)[0])


def removal_effects(journeys: Journeys, order: int = 1) -> MarkovResult:
    """Removal effect of every channel of ``journeys`` (see the module docstring)."""
    counts = journeys.transition_counts(order)
    channels = list(journeys.channels)
    if counts.empty or not journeys.converted.any():
        effects = pd.DataFrame({"channel": channels, "removal_effect": 0.0})
        return MarkovResult(order, 0.0, effects, 0, counts.assign(probability=np.nan))
    totals = counts.groupby("from_state")["count"].transform("sum")
    counts = counts.assign(probability=counts["count"] / totals)
    transient = [START, *sorted(set(counts["from_state"]) - {START})]
    position = {state: i for i, state in enumerate(transient)}
    inner = counts[counts["to_state"].isin(position)]
    q = sparse.csr_matrix(
        (
            inner["probability"].to_numpy(),
            (inner["from_state"].map(position), inner["to_state"].map(position)),
        ),
        shape=(len(transient), len(transient)),
    )
    to_conversion = counts[counts["to_state"] == CONVERSION]
    r = np.zeros(len(transient))
    r[to_conversion["from_state"].map(position).to_numpy()] = to_conversion["probability"]
    everything = np.ones(len(transient), dtype=bool)
    base = _absorption(q, r, everything)
    state_channels = [set(s.split(SEP)) if s != START else set() for s in transient]
    effects = []
    for channel in channels:
        keep = np.array([channel not in members for members in state_channels])
        without = _absorption(q, r, keep) if base > 0 else 0.0
        effect = 1.0 - without / base if base > 0 else 0.0
        effects.append(min(max(effect, 0.0), 1.0))
    frame = pd.DataFrame({"channel": channels, "removal_effect": effects})
    transitions = counts[["from_state", "to_state", "probability"]]
    return MarkovResult(order, base, frame, len(transient) - 1, transitions)


def shares_by_set(channel_sets: pd.Series, effects: pd.DataFrame) -> pd.DataFrame:
    """Credit of each channel of each distinct channel set: removal effect / the set's sum.

    ``channel_sets``: tuples of distinct channels. Returns set_id (the series' index),
    channel, share. A set whose channels all have a zero removal effect (cannot happen for a
    converting path of the fitted chain, kept for safety) is split equally.
    """
    long = (
        channel_sets.rename("channel")
        .explode()
        .rename_axis("set_id")
        .reset_index()
        .merge(effects, on="channel", how="left")
    )
    long["removal_effect"] = long["removal_effect"].fillna(0.0)
    total = long.groupby("set_id")["removal_effect"].transform("sum")
    size = long.groupby("set_id")["channel"].transform("size")
    long["share"] = np.where(total > 0, long["removal_effect"] / total.where(total > 0), 1 / size)
    return long[["set_id", "channel", "share"]]
