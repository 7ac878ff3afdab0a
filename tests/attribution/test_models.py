"""Markov removal effects and Shapley credits against hand computations and an independent
implementation (tests/attribution/independent.py: single journeys, exact fractions)."""

from __future__ import annotations

import random
from fractions import Fraction as F

import pandas as pd
import pytest

from pipelines.attribution.config import AttributionConfigError, AttributionSpec, attribution_spec
from pipelines.attribution.markov import SEP, removal_effects, shares_by_set
from pipelines.attribution.models import fit
from pipelines.attribution.shapley import shapley_values
from tests.attribution import independent


def aggregated(journeys, conversion_type="order"):
    """(paths, sets) as the warehouse query returns them, aggregated here with pandas."""
    frame = pd.DataFrame(
        {
            "conversion_type": conversion_type,
            "path_key": [SEP.join(path) for path, _ in journeys],
            "set_key": [SEP.join(sorted(set(path))) for path, _ in journeys],
            "converted": [converted for _, converted in journeys],
        }
    )
    paths = (
        frame.groupby(["conversion_type", "path_key"])["converted"]
        .agg(conversions="sum", total="size")
        .reset_index()
    )
    paths["nulls"] = paths.pop("total") - paths["conversions"]
    sets = (
        frame.groupby(["conversion_type", "set_key"])["converted"]
        .agg(conversions="sum", journeys="size")
        .reset_index()
    )
    return paths, sets


def markov_frame(journeys):
    paths, _ = aggregated(journeys)
    return pd.DataFrame(
        {
            "channels": paths["path_key"].str.split(SEP, regex=False),
            "conversions": paths["conversions"],
            "nulls": paths["nulls"],
        }
    )


def repeat(path, converted, times):
    return [(path, converted)] * times


# A > C converts twice; B > C once converts, once not; A alone and B alone (twice) do not.
HAND_GRAPH = (
    repeat(["A", "C"], True, 2)
    + [(["B", "C"], True), (["B", "C"], False), (["A"], False)]
    + repeat(["B"], False, 2)
)


def test_hand_computed_first_order_graph():
    # start->A 3/7, start->B 4/7, A->C 2/3, B->C 1/2, C->conversion 3/4
    # P = 3/7*2/3*3/4 + 4/7*1/2*3/4 = 3/7; without A: 3/14; without B: 3/14; without C: 0
    result = removal_effects(markov_frame(HAND_GRAPH), order=1)
    assert result.conversion_probability == pytest.approx(3 / 7, abs=1e-12)
    effects = dict(zip(result.effects["channel"], result.effects["removal_effect"], strict=True))
    assert effects == pytest.approx({"A": 0.5, "B": 0.5, "C": 1.0}, abs=1e-12)
    shares = shares_by_set(pd.Series([("A", "C"), ("B", "C")]), result.effects)
    assert shares["share"].tolist() == pytest.approx([1 / 3, 2 / 3, 1 / 3, 2 / 3], abs=1e-12)


def test_hand_computed_second_order_graph():
    # states A, B, (A,C), (B,C): (A,C)->conversion 1, (B,C)->conversion 1/2
    # P = 3/7*2/3*1 + 4/7*1/2*1/2 = 3/7; without A: 1/7 -> 2/3; without B: 2/7 -> 1/3
    result = removal_effects(markov_frame(HAND_GRAPH), order=2)
    effects = dict(zip(result.effects["channel"], result.effects["removal_effect"], strict=True))
    assert effects == pytest.approx({"A": 2 / 3, "B": 1 / 3, "C": 1.0}, abs=1e-12)
    assert result.states == 4


def random_journeys(seed: int, n: int = 400):
    rng = random.Random(seed)
    channels = ["Direct", "Email", "Paid Search", "Paid Social", "Referral"]
    journeys = []
    for _ in range(n):
        length = rng.randint(1, 6)
        path = [rng.choice(channels) for _ in range(length)]
        # Email and Paid Search convert more often: the effects must differ
        p = 0.1 + 0.15 * ("Email" in path) + 0.1 * ("Paid Search" in path)
        journeys.append((path, rng.random() < p))
    return journeys


@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize("seed", [1, 7])
def test_removal_effects_and_credits_equal_independent_implementation(seed, order):
    # exact fractions grow fast with the states of higher orders: fewer journeys there
    journeys = random_journeys(seed, n={1: 400, 2: 300, 3: 60}[order])
    expected = independent.removal_effects(journeys, order)
    paths, sets = aggregated(journeys)
    result = fit(paths, sets, AttributionSpec(markov_order=order))
    effects = result.effects.set_index("channel")["removal_effect"]
    assert set(effects.index) == set(expected)
    for channel, value in expected.items():
        assert effects[channel] == pytest.approx(float(value), abs=1e-6), channel
    assert len(set(expected.values())) > 1, "the journeys must give channels different effects"
    markov = result.shares[result.shares["attribution_model"] == "markov"]
    for set_key, group in markov.groupby("set_key"):
        channels = set_key.split(SEP)
        want = independent.credits(channels, expected)
        got = dict(zip(group["channel"], group["share"], strict=True))
        assert got == pytest.approx({c: float(v) for c, v in want.items()}, abs=1e-6)


# channel sets with (journeys, conversions): worth = conversion rate
SHAPLEY_SETS = {
    ("A",): (10, 2),  # 0.2
    ("B",): (10, 1),  # 0.1
    ("C",): (20, 1),  # 0.05
    ("A", "B"): (5, 2),  # 0.4
    ("A", "C"): (10, 3),  # 0.3
    ("B", "C"): (5, 1),  # 0.2
    ("A", "B", "C"): (5, 3),  # 0.6
}


def shapley_journeys():
    journeys = []
    for channels, (total, converted) in SHAPLEY_SETS.items():
        # the order inside a path does not matter to Shapley: vary it
        journeys += [(list(channels), True)] * converted
        journeys += [(list(reversed(channels)), False)] * (total - converted)
    return journeys


def test_shapley_credits_equal_hand_computation():
    v = {frozenset(k): F(c, t) for k, (t, c) in SHAPLEY_SETS.items()}
    A, B, C = (frozenset(x) for x in ("A", "B", "C"))
    empty = frozenset()
    v[empty] = F(0)
    # three players: weights 1/3 (empty or full coalition before c), 1/6 (one other first)
    phi_a = (
        F(1, 3) * (v[A] - v[empty])
        + F(1, 6) * (v[A | B] - v[B])
        + F(1, 6) * (v[A | C] - v[C])
        + F(1, 3) * (v[A | B | C] - v[B | C])
    )
    phi_b = (
        F(1, 3) * (v[B] - v[empty])
        + F(1, 6) * (v[A | B] - v[A])
        + F(1, 6) * (v[B | C] - v[C])
        + F(1, 3) * (v[A | B | C] - v[A | C])
    )
    phi_c = (
        F(1, 3) * (v[C] - v[empty])
        + F(1, 6) * (v[A | C] - v[A])
        + F(1, 6) * (v[B | C] - v[B])
        + F(1, 3) * (v[A | B | C] - v[A | B])
    )
    assert phi_a + phi_b + phi_c == v[A | B | C]  # efficiency
    # two players: 1/2 each order
    two_a = F(1, 2) * v[A] + F(1, 2) * (v[A | B] - v[B])
    two_b = F(1, 2) * v[B] + F(1, 2) * (v[A | B] - v[A])

    paths, sets = aggregated(shapley_journeys())
    result = fit(paths, sets, AttributionSpec())
    shapley = result.shares[result.shares["attribution_model"] == "shapley"]
    got = {
        (key, channel): share
        for key, channel, share in shapley[["set_key", "channel", "share"]].itertuples(index=False)
    }
    total = phi_a + phi_b + phi_c
    abc = SEP.join(["A", "B", "C"])
    assert got[(abc, "A")] == pytest.approx(float(phi_a / total), abs=1e-9)
    assert got[(abc, "B")] == pytest.approx(float(phi_b / total), abs=1e-9)
    assert got[(abc, "C")] == pytest.approx(float(phi_c / total), abs=1e-9)
    ab = SEP.join(["A", "B"])
    assert got[(ab, "A")] == pytest.approx(float(two_a / (two_a + two_b)), abs=1e-9)
    assert got[("A", "A")] == 1.0
    raw = shapley_values(("A", "B", "C"), {k: float(x) for k, x in v.items()})
    assert raw.tolist() == pytest.approx([float(phi_a), float(phi_b), float(phi_c)], abs=1e-12)


def test_shapley_negative_value_gets_no_credit():
    # B lowers the rate: {A} 0.5, {B} 0.1, {A,B} 0.3 -> phi_A 0.35, phi_B -0.05 -> A 1, B 0
    journeys = (
        repeat(["A"], True, 5)
        + repeat(["A"], False, 5)
        + repeat(["B"], True, 1)
        + repeat(["B"], False, 9)
        + repeat(["A", "B"], True, 3)
        + repeat(["B", "A"], False, 7)
    )
    paths, sets = aggregated(journeys)
    shares = fit(paths, sets, AttributionSpec()).shares
    ab = shares[(shares["attribution_model"] == "shapley") & (shares["set_key"] == f"A{SEP}B")]
    assert dict(zip(ab["channel"], ab["share"], strict=True)) == {"A": 1.0, "B": 0.0}


def test_shapley_set_larger_than_the_limit_is_split_equally():
    journeys = [(["A", "B", "C"], True), (["A"], False), (["B"], True)]
    paths, sets = aggregated(journeys)
    result = fit(paths, sets, AttributionSpec(shapley_max_channels=2))
    shares = result.shares[
        (result.shares["attribution_model"] == "shapley")
        & (result.shares["set_key"] == SEP.join("ABC"))
    ]
    assert shares["share"].tolist() == pytest.approx([1 / 3] * 3)
    assert result.summary["order"]["shapley_sets_split_equally"] == 1


def test_every_conversion_type_is_its_own_graph():
    orders, order_sets = aggregated(HAND_GRAPH, "order")
    leads, lead_sets = aggregated([(["A"], True), (["C"], False)], "lead")
    result = fit(pd.concat([orders, leads]), pd.concat([order_sets, lead_sets]), AttributionSpec())
    lead_effects = result.effects[result.effects["conversion_type"] == "lead"]
    assert dict(zip(lead_effects["channel"], lead_effects["removal_effect"], strict=True)) == {
        "A": 1.0,
        "C": 0.0,
    }
    assert result.summary["lead"]["non_converting_journeys"] == 1
    assert result.summary["order"]["converting_journeys"] == 3


def test_config_validation():
    assert attribution_spec({}) == AttributionSpec(markov_order=1, shapley_max_channels=16)
    assert attribution_spec({"attribution": {"markov": {"order": 3}}}).markov_order == 3
    for bad in (
        {"attribution": {"markov": {"order": 0}}},
        {"attribution": {"markov": {"order": "2"}}},
        {"attribution": {"markov": {"orders": 2}}},
        {"attribution": {"shapley": {"max_channels": 40}}},
        {"attribution": {"heuristic": {}}},
    ):
        with pytest.raises(AttributionConfigError, match="attribution"):
            attribution_spec(bad)
