"""Markov and Shapley channel shares per conversion type, from aggregated journeys."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from pipelines.attribution.config import AttributionSpec
from pipelines.attribution.markov import SEP, removal_effects, shares_by_set
from pipelines.attribution.shapley import set_worth, shapley_shares

SHARE_COLUMNS = ["conversion_type", "set_key", "attribution_model", "channel", "share"]


@dataclass
class Fit:
    """Shares of every channel of every converting channel set, and what the fit saw."""

    shares: pd.DataFrame
    summary: dict[str, dict] = field(default_factory=dict)
    effects: pd.DataFrame | None = None


def _split(keys: pd.Series) -> pd.Series:
    return keys.str.split(SEP, regex=False).map(tuple)


def fit(paths: pd.DataFrame, sets: pd.DataFrame, spec: AttributionSpec) -> Fit:
    """``paths`` / ``sets`` as :func:`pipelines.attribution.warehouse.read_journeys` returns."""
    parts, summary, effect_frames = [], {}, []
    for conversion_type, type_sets in sets.groupby("conversion_type", sort=True):
        type_paths = paths[paths["conversion_type"] == conversion_type]
        converting = type_sets[type_sets["conversions"] > 0].reset_index(drop=True)
        if converting.empty:
            continue
        channel_sets = _split(converting["set_key"])
        markov = removal_effects(
            pd.DataFrame(
                {
                    "channels": _split(type_paths["path_key"]).map(list),
                    "conversions": type_paths["conversions"].to_numpy(),
                    "nulls": type_paths["nulls"].to_numpy(),
                }
            ),
            order=spec.markov_order,
        )
        markov_shares = shares_by_set(channel_sets, markov.effects).assign(
            attribution_model="markov"
        )
        worth = set_worth(
            pd.DataFrame(
                {
                    "channels": _split(type_sets["set_key"]),
                    "conversions": type_sets["conversions"].to_numpy(),
                    "journeys": type_sets["journeys"].to_numpy(),
                }
            )
        )
        shapley = shapley_shares(channel_sets, worth, spec.shapley_max_channels)
        shapley_frame = shapley.shares[["set_id", "channel", "share"]].assign(
            attribution_model="shapley"
        )
        for frame in (markov_shares, shapley_frame):
            frame["conversion_type"] = conversion_type
            frame["set_key"] = converting["set_key"].to_numpy()[frame["set_id"].to_numpy()]
            parts.append(frame[SHARE_COLUMNS])
        effect_frames.append(markov.effects.assign(conversion_type=conversion_type))
        summary[conversion_type] = {
            "converting_journeys": int(type_paths["conversions"].sum()),
            "non_converting_journeys": int(type_paths["nulls"].sum()),
            "distinct_paths": len(type_paths),
            "converting_channel_sets": len(converting),
            "markov_order": markov.order,
            "markov_states": markov.states,
            "conversion_probability": round(markov.conversion_probability, 6),
            "shapley_sets_split_equally": shapley.sets_split_equally,
        }
    shares = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(
            {c: pd.Series(dtype="float64" if c == "share" else "object") for c in SHARE_COLUMNS}
        )
    )
    effects = pd.concat(effect_frames, ignore_index=True) if effect_frames else None
    return Fit(shares, summary, effects)
