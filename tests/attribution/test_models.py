"""Markov removal effects and Shapley credits against hand computations and an independent
implementation (tests/attribution/independent.py: single journeys, exact fractions)."""

from __future__ import annotations

import random
from fractions import Fraction as F

import pandas as pd
import pytest

from pipelines.attribution.config import AttributionConfigError, AttributionSpec, attribution_spec
from pipelines.attribution.journeys import SEP, Journeys
from pipelines.attribution.markov import removal_effects, shares_by_set
from pipelines.attribution.models import fit
from pipelines.attribution.shapley import shapley_values
from tests.attribution import independent


def as_journeys(journeys, conversion_type="order"):
    """{conversion_type: Journeys} as the warehouse read returns them (keys j0, j1, ...)."""
    keys = [f"j{i}" for i in range(len(journeys))]
    return {conversion_type: Journeys.from_lists(journeys, keys)}


def credits_by_set(result, model):
    """{(sorted channel set, channel): credit} of one model, checked equal across the
    conversions that share a set."""
    credits = result.credits[result.credits["attribution_model"] == model]
    sets = credits.groupby("conversion_key")["channel"].transform(lambda c: SEP.join(sorted(c)))
    table = credits.assign(set_key=sets).groupby(["set_key", "channel"])["channel_credit"]
    assert (table.max() - table.min() <= 1e-12).all()
    return table.first().to_dict()


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
    result = removal_effects(Journeys.from_lists(HAND_GRAPH), order=1)
    assert result.conversion_probability == pytest.approx(3 / 7, abs=1e-12)
    effects = dict(zip(result.effects["channel"], result.effects["removal_effect"], strict=True))
    assert effects == pytest.approx({"A": 0.5, "B": 0.5, "C": 1.0}, abs=1e-12)
    shares = shares_by_set(pd.Series([("A", "C"), ("B", "C")]), result.effects)
    assert shares["share"].tolist() == pytest.approx([1 / 3, 2 / 3, 1 / 3, 2 / 3], abs=1e-12)
    credits = credits_by_set(fit(as_journeys(HAND_GRAPH), AttributionSpec()), "markov")
    assert credits == pytest.approx(
        {(f"A{SEP}C", "A"): 1 / 3, (f"A{SEP}C", "C"): 2 / 3, (f"B{SEP}C", "B"): 1 / 3,
         (f"B{SEP}C", "C"): 2 / 3}, abs=1e-12
    )  # fmt: skip


def test_hand_computed_second_order_graph():
    # states A, B, (A,C), (B,C): (A,C)->conversion 1, (B,C)->conversion 1/2
    # P = 3/7*2/3*1 + 4/7*1/2*1/2 = 3/7; without A: 1/7 -> 2/3; without B: 2/7 -> 1/3
    result = removal_effects(Journeys.from_lists(HAND_GRAPH), order=2)
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
    result = fit(as_journeys(journeys), AttributionSpec(markov_order=order))
    effects = result.effects.set_index("channel")["removal_effect"]
    assert set(effects.index) == set(expected)
    for channel, value in expected.items():
        assert effects[channel] == pytest.approx(float(value), abs=1e-6), channel
    assert len(set(expected.values())) > 1, "the journeys must give channels different effects"
    markov = result.credits[result.credits["attribution_model"] == "markov"]
    by_key = {k: dict(zip(g["channel"], g["channel_credit"], strict=True))
              for k, g in markov.groupby("conversion_key")}  # fmt: skip
    converting = [(f"j{i}", path) for i, (path, converted) in enumerate(journeys) if converted]
    assert set(by_key) == {key for key, _ in converting}
    for key, path in converting:
        want = independent.credits(path, expected)
        assert by_key[key] == pytest.approx({c: float(v) for c, v in want.items()}, abs=1e-6)


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

    got = credits_by_set(fit(as_journeys(shapley_journeys()), AttributionSpec()), "shapley")
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
    got = credits_by_set(fit(as_journeys(journeys), AttributionSpec()), "shapley")
    assert got[(f"A{SEP}B", "A")] == 1.0 and got[(f"A{SEP}B", "B")] == 0.0


def test_shapley_set_larger_than_the_limit_is_split_equally():
    journeys = [(["A", "B", "C"], True), (["A"], False), (["B"], True)]
    result = fit(as_journeys(journeys), AttributionSpec(shapley_max_channels=2))
    got = credits_by_set(result, "shapley")
    assert [got[(SEP.join("ABC"), c)] for c in "ABC"] == pytest.approx([1 / 3] * 3)
    assert result.summary["order"]["shapley_sets_split_equally"] == 1


def test_every_conversion_type_is_its_own_graph():
    both = as_journeys(HAND_GRAPH, "order") | as_journeys([(["A"], True), (["C"], False)], "lead")
    result = fit(both, AttributionSpec())
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


def test_no_touchpoints_writes_an_empty_credits_table(tmp_path):
    """A shop without web events: the step still writes its (empty) table, so fct_attribution
    knows it ran and credits every conversion to its own channel."""
    import duckdb

    from pipelines.attribution.warehouse import read_journeys, write_credits

    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.fct_conversions as select 'order:1' as conversion_key, "
            "'order' as conversion_type, 'p1' as person_key, null::varchar as account_id, "
            "timestamp '2024-01-02' as converted_at, timestamp '2023-12-01' as window_start_at"
        )
        con.execute(
            "create table marts.fct_touchpoints (touchpoint_id varchar, person_key varchar, "
            "account_id varchar, touched_at timestamp, channel varchar)"
        )
        result = fit(read_journeys(con), AttributionSpec())
        relation, rows = write_credits(con, result.credits)
        assert (relation, rows) == ("ml.attribution_channel_credits", 0)
        columns = con.execute(f"describe {relation}").df()
        assert dict(zip(columns["column_name"], columns["column_type"], strict=True)) == {
            "conversion_key": "VARCHAR",
            "conversion_type": "VARCHAR",
            "attribution_model": "VARCHAR",
            "channel": "VARCHAR",
            "channel_credit": "DOUBLE",
        }
