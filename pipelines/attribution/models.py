"""Markov and Shapley credits of every converting journey, one conversion type at a time."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from pipelines.attribution.config import AttributionSpec
from pipelines.attribution.journeys import Journeys
from pipelines.attribution.markov import removal_effects, shares_by_set
from pipelines.attribution.shapley import shapley_shares

CREDIT_COLUMNS = ["conversion_key", "conversion_type", "attribution_model", "channel"]


@dataclass
class Fit:
    """Credits (conversion_key, conversion_type, attribution_model, channel, channel_credit)
    of every converting journey, the shares per channel set, and what the fit saw."""

    credits: pd.DataFrame
    shares: pd.DataFrame
    summary: dict[str, dict] = field(default_factory=dict)
    effects: pd.DataFrame | None = None


def _empty_credits() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="object") for c in CREDIT_COLUMNS})
    return frame.assign(channel_credit=pd.Series(dtype="float64"))


def fit(journeys_by_type: dict[str, Journeys], spec: AttributionSpec) -> Fit:
    """Fit both models on each conversion type's journeys (converting and not)."""
    credit_parts, share_parts, effect_parts, summary = [], [], [], {}
    for conversion_type, journeys in sorted(journeys_by_type.items()):
        masks = journeys.set_masks()
        sets = journeys.sets()
        converting_sets = sets[sets["conversions"] > 0].reset_index(drop=True)
        if converting_sets.empty:
            continue
        channel_sets = converting_sets["channels"]
        markov = removal_effects(journeys, order=spec.markov_order)
        markov_shares = shares_by_set(channel_sets, markov.effects)
        worth = {
            frozenset(c): conversions / total
            for c, conversions, total in sets[["channels", "conversions", "journeys"]].itertuples(
                index=False
            )
        }
        shapley = shapley_shares(channel_sets, worth, spec.shapley_max_channels)
        shares = pd.concat(
            [
                markov_shares.assign(attribution_model="markov"),
                shapley.shares[["set_id", "channel", "share"]].assign(attribution_model="shapley"),
            ],
            ignore_index=True,
        )
        shares["set_mask"] = converting_sets["set_mask"].to_numpy()[shares["set_id"].to_numpy()]
        converted = journeys.converted
        conversions = pd.DataFrame(
            {"conversion_key": journeys.keys[converted], "set_mask": masks[converted]}
        )
        credits = conversions.merge(shares, on="set_mask")
        credit_parts.append(
            credits.assign(conversion_type=conversion_type).rename(
                columns={"share": "channel_credit"}
            )[[*CREDIT_COLUMNS, "channel_credit"]]
        )
        share_parts.append(
            shares.assign(
                conversion_type=conversion_type,
                set_key=[" > ".join(c) for c in channel_sets.to_numpy()[shares["set_id"]]],
            )
        )
        effect_parts.append(markov.effects.assign(conversion_type=conversion_type))
        summary[conversion_type] = {
            "converting_journeys": int(converted.sum()),
            "non_converting_journeys": int((~converted).sum()),
            "channel_sets": len(sets),
            "converting_channel_sets": len(converting_sets),
            "markov_order": markov.order,
            "markov_states": markov.states,
            "conversion_probability": round(markov.conversion_probability, 6),
            "shapley_sets_split_equally": shapley.sets_split_equally,
        }
    credits = pd.concat(credit_parts, ignore_index=True) if credit_parts else _empty_credits()
    shares = pd.concat(share_parts, ignore_index=True) if share_parts else pd.DataFrame()
    effects = pd.concat(effect_parts, ignore_index=True) if effect_parts else None
    return Fit(credits, shares, summary, effects)
