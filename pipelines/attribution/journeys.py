"""Journeys as sorted numpy arrays, and what the models need of them, fully vectorised.

One row per touch of a journey, sorted by conversion type, journey, time and touchpoint id
(the order ``fct_attribution`` ranks touches in). From these arrays, without a loop over
journeys: the Markov transition counts of any order and each journey's set of channels
(a bitmask, one bit per channel).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

SEP = "\x1f"  # joins the channels of a higher-order state and of a set key
START, CONVERSION, NULL = "(start)", "(conversion)", "(null)"
MAX_CHANNELS = 62  # one bit each in an int64 mask


@dataclass(frozen=True)
class Journeys:
    """Touches of every journey of one conversion type, sorted (journey, time, id).

    ``journey``: journey index per touch (0..n_journeys-1, contiguous runs);
    ``channel``: channel id per touch (index into ``channels``, sorted names);
    ``converted``: per journey; ``keys``: per journey (the conversion_key, or the person of a
    non-converting journey).
    """

    journey: np.ndarray
    channel: np.ndarray
    converted: np.ndarray
    keys: np.ndarray
    channels: tuple[str, ...]

    @classmethod
    def from_lists(cls, journeys: list[tuple[list[str], bool]], keys=None) -> Journeys:
        """From (channels in order, converted) pairs — for tests and small inputs."""
        if keys is not None:
            keys = [k for k, (path, _) in zip(keys, journeys, strict=True) if path]
        journeys = [(path, converted) for path, converted in journeys if path]
        names = tuple(sorted({c for path, _ in journeys for c in path}))
        ids = {c: i for i, c in enumerate(names)}
        journey = np.repeat(np.arange(len(journeys)), [len(p) for p, _ in journeys])
        channel = np.array([ids[c] for path, _ in journeys for c in path], dtype=np.int64)
        converted = np.array([bool(c) for _, c in journeys], dtype=bool)
        keys = np.array(keys if keys is not None else [str(i) for i in range(len(journeys))])
        return cls(journey, channel, converted, keys, names)

    @property
    def starts(self) -> np.ndarray:
        """Index of each journey's first touch."""
        if len(self.journey) == 0:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(np.r_[True, self.journey[1:] != self.journey[:-1]])

    def transition_counts(self, order: int = 1) -> pd.DataFrame:
        """(from_state, to_state, count): start → states → conversion / null, where a state
        is the last ``order`` channels (fewer at a journey's start), oldest first."""
        if order < 1:
            raise ValueError(f"Markov order must be >= 1, got {order}")
        n = len(self.channel)
        if n == 0:
            return pd.DataFrame({"from_state": [], "to_state": [], "count": []})
        base = len(self.channels) + 1
        starts = self.starts
        position = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))
        code = np.zeros(n, dtype=np.int64)
        for back in range(order):  # the channel `back` steps earlier, if in the journey
            shifted = np.r_[np.zeros(back, dtype=np.int64), self.channel[: n - back]] + 1
            code += np.where(position >= back, shifted, 0) * base**back
        first = position == 0
        last = np.r_[self.journey[1:] != self.journey[:-1], True]
        start_code, conversion_code, null_code = -1, -2, -3
        from_code = np.where(first, start_code, np.r_[0, code[:-1]])
        ends = self.converted[self.journey[last]]
        pairs = np.concatenate(
            [
                np.stack([from_code, code], axis=1),
                np.stack([code[last], np.where(ends, conversion_code, null_code)], axis=1),
            ]
        )
        # one int64 per (from, to) pair: np.unique on 1-D is a plain sort (axis=0 is slow)
        width = int(code.max()) + 4
        encoded = (pairs[:, 0] + 3) * width + (pairs[:, 1] + 3)
        values, counts = np.unique(encoded, return_counts=True)
        unique = np.stack([values // width - 3, values % width - 3], axis=1)
        names = {start_code: START, conversion_code: CONVERSION, null_code: NULL}

        def state(value: int) -> str:
            if value in names:
                return names[value]
            digits = []
            while value:
                value, digit = divmod(value, base)
                digits.append(self.channels[digit - 1])
            return SEP.join(reversed(digits))

        lookup = {v: state(v) for v in np.unique(unique)}
        return pd.DataFrame(
            {
                "from_state": [lookup[v] for v in unique[:, 0]],
                "to_state": [lookup[v] for v in unique[:, 1]],
                "count": counts.astype(float),
            }
        ).sort_values(["from_state", "to_state"], ignore_index=True)

    def set_masks(self) -> np.ndarray:
        """Per journey, the bitmask of its distinct channels."""
        if len(self.channels) > MAX_CHANNELS:
            raise ValueError(
                f"attribution handles at most {MAX_CHANNELS} distinct channels, "
                f"the journeys have {len(self.channels)}"
            )
        if len(self.channel) == 0:
            return np.zeros(0, dtype=np.int64)
        bits = np.left_shift(np.int64(1), self.channel.astype(np.int64))
        return np.bitwise_or.reduceat(bits, self.starts)

    def set_channels(self, mask: int) -> tuple[str, ...]:
        return tuple(c for i, c in enumerate(self.channels) if mask >> i & 1)

    def sets(self) -> pd.DataFrame:
        """(set_mask, channels, conversions, journeys): one row per distinct channel set."""
        frame = pd.DataFrame({"set_mask": self.set_masks(), "converted": self.converted})
        grouped = (
            frame.groupby("set_mask")["converted"]
            .agg(conversions="sum", journeys="size")
            .reset_index()
        )
        grouped["channels"] = [self.set_channels(int(m)) for m in grouped["set_mask"]]
        return grouped
