"""Shapley-value attribution over channel sets (cooperative game per converting path).

The worth of a set of channels is the conversion rate of the journeys whose distinct
channels are exactly that set: converting journeys / all journeys (converting and
non-converting) with that set; a set no journey had is worth 0, as is the empty set. A
conversion whose path touched the set ``S`` shares the worth of ``S`` among the channels of
``S`` by their Shapley values in the game restricted to the subsets of ``S``:

    phi_c = sum over T ⊆ S \\ {c} of |T|! (|S| - |T| - 1)! / |S|! × (v(T ∪ {c}) - v(T))

The Shapley values of ``S`` add up to v(S). A channel whose presence lowers the conversion
rate can get a negative value: such values are set to 0 and the others rescaled to sum to 1;
when no channel of the set has a positive value the conversion is split equally. The order
of the touches does not matter, only which channels were touched.

Work: one pass per distinct converting channel set, 2^|S| subsets each (numpy, vectorised);
sets with more than ``max_channels`` channels are split equally and counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import factorial

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class ShapleyResult:
    """Shares per distinct set (set_id, channel, share, shapley_value) and what was skipped."""

    shares: pd.DataFrame
    worth: dict[frozenset, float]
    sets_split_equally: int


def set_worth(sets: pd.DataFrame) -> dict[frozenset, float]:
    """{channel set: conversion rate} from rows channels (tuple), conversions, journeys."""
    grouped = (
        sets.assign(key=sets["channels"].map(frozenset))
        .groupby("key")[["conversions", "journeys"]]
        .sum()
    )
    grouped = grouped[grouped["journeys"] > 0]
    return dict(zip(grouped.index, grouped["conversions"] / grouped["journeys"], strict=True))


class _Worth:
    """The worth table keyed by bitmask (one bit per channel) for vectorised look-ups."""

    MAX_CHANNELS = 62  # one bit each in an int64

    def __init__(self, worth: dict[frozenset, float]):
        names = sorted({c for key in worth for c in key})
        if len(names) > self.MAX_CHANNELS:
            raise ValueError(
                f"Shapley attribution handles at most {self.MAX_CHANNELS} distinct channels, "
                f"the journeys have {len(names)}"
            )
        self.bit = {c: i for i, c in enumerate(names)}
        masks = np.array(
            [sum(1 << self.bit[c] for c in key) for key in worth], dtype=np.int64
        ).reshape(-1)
        order = np.argsort(masks)
        self.keys = masks[order]
        self.values = np.array(list(worth.values()), dtype=float).reshape(-1)[order]

    def of_subsets(self, channels: tuple[str, ...], members: np.ndarray) -> np.ndarray:
        """Worth of every subset (rows of ``members``, one column per channel)."""
        bits = np.array([1 << self.bit.get(c, 0) for c in channels], dtype=np.int64)
        unseen = np.array([c not in self.bit for c in channels], dtype=bool)
        masks = (members.astype(np.int64) * bits).sum(axis=1)
        if len(self.keys) == 0:
            return np.zeros(len(members))
        where = np.clip(np.searchsorted(self.keys, masks), 0, len(self.keys) - 1)
        found = self.keys[where] == masks
        # a subset holding a channel no journey had was never observed: worth 0
        found &= ~members[:, unseen].any(axis=1) if unseen.any() else True
        return np.where(found, self.values[where], 0.0)


def shapley_values(channels: tuple[str, ...], worth: dict[frozenset, float] | _Worth) -> np.ndarray:
    """Exact Shapley values of ``channels`` in the game v(T) = worth of T (0 if unseen)."""
    table = worth if isinstance(worth, _Worth) else _Worth(worth)
    k = len(channels)
    masks = np.arange(1 << k)
    members = (masks[:, None] >> np.arange(k)) & 1  # subset x channel
    values = table.of_subsets(channels, members)
    size = members.sum(axis=1)
    weight = np.array([factorial(s) * factorial(k - s - 1) / factorial(k) for s in range(k)])
    result = np.empty(k)
    for i in range(k):
        without = masks[members[:, i] == 0]
        result[i] = np.sum(weight[size[without]] * (values[without | (1 << i)] - values[without]))
    return result


def shapley_shares(
    channel_sets: pd.Series, worth: dict[frozenset, float], max_channels: int = 16
) -> ShapleyResult:
    """Shares of the channels of each distinct set (``channel_sets``: tuples, by set_id)."""
    table = _Worth(worth)
    set_ids, channel_col, shares, values = [], [], [], []
    too_large = 0
    for set_id, channels in channel_sets.items():
        channels = tuple(channels)
        if len(channels) > max_channels:
            too_large += 1
            phi = np.full(len(channels), np.nan)
        else:
            phi = shapley_values(channels, table)
        positive = np.clip(np.nan_to_num(phi, nan=0.0), 0.0, None)
        total = positive.sum()
        share = positive / total if total > 0 else np.full(len(channels), 1 / len(channels))
        set_ids.extend([set_id] * len(channels))
        channel_col.extend(channels)
        shares.extend(share.tolist())
        values.extend(phi.tolist())
    frame = pd.DataFrame(
        {"set_id": set_ids, "channel": channel_col, "share": shares, "shapley_value": values}
    )
    return ShapleyResult(frame, worth, too_large)
