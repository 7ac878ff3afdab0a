"""Property tests of the attribution SQL: the compiled fct_attribution runs on random paths.

The model's compiled SQL (from the session's dbt build) is executed in an in-memory DuckDB
whose `segmart.marts.fct_conversions` / `fct_touchpoints` hold hypothesis-generated rows,
so hundreds of paths are checked in seconds without rebuilding dbt. Expected values come
from the generated rows in Python.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from itertools import pairwise

import duckdb
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("kpi_dbt")]

LOOKBACK_DAYS = 30  # dbt_project.yml default, compiled into the SQL
MODELS = {"first_touch", "last_touch", "last_non_direct", "linear", "time_decay", "position_based"}
CHANNELS = ["Direct", "Paid Search", "Paid Social", "Email", "Organic Search"]
PEOPLE = ["p1", "p2", "p3"]
ACCOUNTS = {"p1": "A1", "p2": "A1", "p3": None}
START = datetime(2024, 1, 1)
TOUCH_COLUMNS = [
    "touchpoint_id", "person_key", "account_id", "touched_at", "channel", "source", "medium",
    "campaign", "is_direct",
]  # fmt: skip

touch_strategy = st.tuples(
    st.sampled_from(PEOPLE),
    st.integers(min_value=0, max_value=60 * 24 * 4),  # minutes / 15 over 60 days -> ties happen
    st.sampled_from(CHANNELS),
)
conversion_strategy = st.tuples(
    st.sampled_from(["order", "lead", "won_deal"]),
    st.sampled_from(PEOPLE + [None]),
    st.integers(min_value=0, max_value=60 * 24 * 4),
    st.floats(min_value=0, max_value=1e6, allow_nan=False),
    st.integers(min_value=0, max_value=40),  # deal created this many days before its close
)


def _frames(touches, conversions_spec):
    touch_rows = [
        {
            "touchpoint_id": f"t{i:03d}",
            "person_key": person,
            "account_id": ACCOUNTS[person],
            "touched_at": START + timedelta(minutes=15 * offset),
            "channel": channel,
            "source": channel.lower(),
            "medium": "m",
            "campaign": None,
            "is_direct": channel == "Direct",
        }
        for i, (person, offset, channel) in enumerate(touches)
    ]
    conversion_rows = []
    for i, (kind, person, offset, revenue, deal_days) in enumerate(conversions_spec):
        converted_at = START + timedelta(minutes=15 * offset)
        anchor = converted_at - timedelta(days=deal_days) if kind == "won_deal" else converted_at
        conversion_rows.append({
            "conversion_key": f"{kind}:c{i}",
            "conversion_type": kind,
            "conversion_id": f"c{i}",
            "person_key": person,
            "customer_key": person if kind == "order" else None,
            "account_id": ACCOUNTS.get(person) if kind == "won_deal" else None,
            "converted_at": converted_at,
            "conversion_month": converted_at.replace(day=1).date(),
            "window_start_at": datetime.combine(
                anchor.date() - timedelta(days=LOOKBACK_DAYS), datetime.min.time()
            ),
            "revenue": 0.0 if kind == "lead" else revenue,
            "gross_profit": 0.0 if kind == "lead" else revenue * 0.4,
            "is_new_customer": kind != "lead",
            "own_channel": None,
            "own_campaign": None,
            "motion": "b2c",
        })  # fmt: skip
    return pd.DataFrame(touch_rows, columns=TOUCH_COLUMNS), pd.DataFrame(conversion_rows)


def _path(conversion: pd.Series, touches: pd.DataFrame) -> pd.DataFrame:
    """The touches that count for a conversion, in attribution order."""
    if touches.empty:
        return touches
    same_person = touches["person_key"] == conversion["person_key"]
    same_account = (
        touches["account_id"].notna()
        & (touches["account_id"] == conversion["account_id"])
        & (conversion["conversion_type"] == "won_deal")
    )
    in_window = (touches["touched_at"] >= conversion["window_start_at"]) & (
        touches["touched_at"] <= conversion["converted_at"]
    )
    return touches[(same_person | same_account) & in_window].sort_values(
        ["touched_at", "touchpoint_id"]
    )


@pytest.fixture(scope="module")
def attribution(kpi_warehouse):
    """Run the compiled fct_attribution on given frames (one DuckDB for all examples)."""
    sql = kpi_warehouse.compiled_sql("marts/attribution/fct_attribution")
    con = duckdb.connect()
    con.execute("attach ':memory:' as segmart")
    con.execute("create schema segmart.marts")

    def run(touches: pd.DataFrame, conversions: pd.DataFrame) -> pd.DataFrame:
        _load(con, touches, conversions)
        return con.sql(sql).df()

    yield run
    con.close()


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    touches=st.lists(touch_strategy, max_size=14),
    conversions=st.lists(conversion_strategy, min_size=1, max_size=5),
)
def test_credits_sum_to_one_and_revenue_is_conserved(attribution, touches, conversions):
    touch_frame, conversion_frame = _frames(touches, conversions)
    result = attribution(touch_frame, conversion_frame)

    assert set(result["attribution_model"]) == MODELS
    # every conversion and model: credits sum to exactly 1 (decimal arithmetic)
    sums = result.groupby(["conversion_key", "attribution_model"])["credit"].apply(
        lambda credits: sum((Decimal(str(c)) for c in credits), Decimal(0))
    )
    assert len(sums) == len(conversion_frame) * len(MODELS)
    assert (sums == Decimal(1)).all(), sums[sums != Decimal(1)]
    # attributed revenue is conserved by every model
    total = conversion_frame["revenue"].sum()
    per_model = result.groupby("attribution_model")["attributed_revenue"].sum()
    assert per_model.to_numpy() == pytest.approx([total] * len(MODELS), rel=1e-9, abs=1e-6)

    for _, conversion in conversion_frame.iterrows():
        path = _path(conversion, touch_frame)
        rows = result[result["conversion_key"] == conversion["conversion_key"]]
        by_model = {m: g.sort_values("touch_rank") for m, g in rows.groupby("attribution_model")}
        if path.empty:
            for model, group in by_model.items():
                assert len(group) == 1 and group["touchpoint_id"].isna().all(), model
                assert group["channel"].item() == "Unassigned"
            continue
        ids = list(path["touchpoint_id"])
        n = len(ids)
        for model, group in by_model.items():
            assert list(group["touchpoint_id"]) == ids, model
        credit = {m: [float(c) for c in g["credit"]] for m, g in by_model.items()}
        assert credit["first_touch"] == [1.0] + [0.0] * (n - 1)
        assert credit["last_touch"] == [0.0] * (n - 1) + [1.0]
        non_direct = [i for i, channel in enumerate(path["channel"]) if channel != "Direct"]
        winner = non_direct[-1] if non_direct else n - 1
        assert credit["last_non_direct"] == [1.0 if i == winner else 0.0 for i in range(n)]
        assert credit["linear"] == pytest.approx([1 / n] * n, abs=1e-9)
        expected_position = (
            [1.0] if n == 1 else [0.5, 0.5] if n == 2 else [0.4] + [0.2 / (n - 2)] * (n - 2) + [0.4]
        )
        assert credit["position_based"] == pytest.approx(expected_position, abs=1e-9)
        decay = credit["time_decay"]
        assert all(a <= b + 1e-9 for a, b in pairwise(decay)), "later touches weigh more"


# --- the data-driven models (markov, shapley): pipelines/attribution between the SQL -------

DATA_DRIVEN = {"markov", "shapley"}
CREDITS_COLUMNS = (
    "conversion_key varchar, conversion_type varchar, attribution_model varchar, "
    "channel varchar, channel_credit double"
)


def dbt_compile(home, target, select: str) -> None:
    """`dbt compile --select` in a subprocess against ``home``'s warehouse."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from pipelines.core.settings import DBT_PROJECT_DIR

    args = [
        str(Path(sys.executable).parent / "dbt"), "compile", "--select", select,
        "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(target), "--log-path", str(target / "logs"),
    ]  # fmt: skip
    env = {**os.environ, "SEGMART_HOME": str(home), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    done = subprocess.run(args, env=env, capture_output=True, text=True, cwd=DBT_PROJECT_DIR)
    assert done.returncode == 0, done.stdout[-4000:]


@pytest.fixture(scope="module")
def data_driven_attribution(kpi_warehouse, tmp_path_factory):
    """fct_attribution compiled where ml.attribution_channel_credits exists, run after the
    real attribution step (read_journeys → fit → write_credits) on the generated frames."""
    import shutil

    from pipelines.attribution.config import AttributionSpec
    from pipelines.attribution.models import fit
    from pipelines.attribution.warehouse import read_journeys, write_credits

    home = tmp_path_factory.mktemp("attribution_compile_home")
    shutil.copytree(kpi_warehouse.home / "warehouse", home / "warehouse")
    with duckdb.connect(str(home / "warehouse" / "segmart.duckdb")) as warehouse:
        warehouse.execute("create schema if not exists ml")
        warehouse.execute(
            f"create or replace table ml.attribution_channel_credits ({CREDITS_COLUMNS})"
        )
    target = tmp_path_factory.mktemp("attribution_compile_target")
    dbt_compile(home, target, "fct_attribution")
    sql = (target / "compiled/segmart/models/marts/attribution/fct_attribution.sql").read_text()
    assert "ml" in sql and "attribution_channel_credits" in sql
    con = duckdb.connect()
    con.execute("attach ':memory:' as segmart")
    con.execute("create schema segmart.marts")

    def run(touches: pd.DataFrame, conversions: pd.DataFrame) -> pd.DataFrame:
        _load(con, touches, conversions)
        con.execute("use segmart")
        try:
            journeys = read_journeys(con)
            write_credits(con, fit(journeys, AttributionSpec(markov_order=1)).credits)
        finally:
            con.execute("use memory")
        return con.sql(sql).df()

    yield run
    con.close()


def _load(con, touches: pd.DataFrame, conversions: pd.DataFrame) -> None:
    con.register("touches_df", touches)
    con.register("conversions_df", conversions)
    con.execute(
        "create or replace table segmart.marts.fct_touchpoints as select "
        "touchpoint_id::varchar as touchpoint_id, person_key::varchar as person_key, "
        "account_id::varchar as account_id, touched_at::timestamp as touched_at, "
        "channel::varchar as channel, source::varchar as source, medium::varchar as medium, "
        "campaign::varchar as campaign, is_direct::boolean as is_direct from touches_df"
    )
    con.execute(
        "create or replace table segmart.marts.fct_conversions as select * replace ("
        "person_key::varchar as person_key, customer_key::varchar as customer_key, "
        "account_id::varchar as account_id, own_channel::varchar as own_channel, "
        "own_campaign::varchar as own_campaign) from conversions_df"
    )


def _journeys(touches: pd.DataFrame, conversions: pd.DataFrame, kind: str):
    """Independent journeys of one conversion type: (conversion_key or None, channels)."""
    journeys, used = [], set()
    for _, conversion in conversions[conversions["conversion_type"] == kind].iterrows():
        path = _path(conversion, touches)
        if not path.empty:
            journeys.append((conversion["conversion_key"], list(path["channel"])))
            used |= set(path["touchpoint_id"])
    rest = touches[~touches["touchpoint_id"].isin(used) & touches["person_key"].notna()]
    for _, person in rest.sort_values(["touched_at", "touchpoint_id"]).groupby("person_key"):
        journeys.append((None, list(person["channel"])))
    return journeys


def _shapley_by_permutations(channels: list[str], worth: dict) -> dict[str, float]:
    """Average marginal conversion rate over every order of the set (clipped, normalised)."""
    from itertools import permutations

    phi = dict.fromkeys(channels, 0.0)
    orders = list(permutations(channels))
    for order in orders:
        before: frozenset = frozenset()
        for channel in order:
            after = before | {channel}
            phi[channel] += (worth.get(after, 0.0) - worth.get(before, 0.0)) / len(orders)
            before = after
    positive = {c: max(v, 0.0) for c, v in phi.items()}
    total = sum(positive.values())
    if total <= 0:
        return dict.fromkeys(channels, 1 / len(channels))
    return {c: v / total for c, v in positive.items()}


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    touches=st.lists(touch_strategy, max_size=14),
    conversions=st.lists(conversion_strategy, min_size=1, max_size=5),
)
def test_data_driven_credits_properties(data_driven_attribution, touches, conversions):
    from tests.attribution import independent

    touch_frame, conversion_frame = _frames(touches, conversions)
    result = data_driven_attribution(touch_frame, conversion_frame)
    assert set(result["attribution_model"]) == MODELS | DATA_DRIVEN
    result = result[result["attribution_model"].isin(DATA_DRIVEN)]
    sums = result.groupby(["conversion_key", "attribution_model"])["credit"].apply(
        lambda credits: sum((Decimal(str(c)) for c in credits), Decimal(0))
    )
    assert len(sums) == len(conversion_frame) * len(DATA_DRIVEN)
    assert (sums == Decimal(1)).all(), sums[sums != Decimal(1)]
    assert (result["credit"].map(lambda c: Decimal(str(c))) >= 0).all(), "negative credit"

    expected: dict[tuple[str, str], dict[str, float]] = {}
    for kind in conversion_frame["conversion_type"].unique():
        journeys = _journeys(touch_frame, conversion_frame, kind)
        converting = [(k, path) for k, path in journeys if k is not None]
        if not converting:
            continue
        effects = independent.removal_effects([(path, k is not None) for k, path in journeys])
        totals: dict[frozenset, list[int]] = {}
        for key, path in journeys:
            counts = totals.setdefault(frozenset(path), [0, 0])
            counts[0] += key is not None
            counts[1] += 1
        worth = {s: converted / total for s, (converted, total) in totals.items()}
        for key, path in converting:
            expected[(key, "markov")] = {
                c: float(v) for c, v in independent.credits(path, effects).items()
            }
            expected[(key, "shapley")] = _shapley_by_permutations(sorted(set(path)), worth)

    for _, conversion in conversion_frame.iterrows():
        path = _path(conversion, touch_frame)
        rows = result[result["conversion_key"] == conversion["conversion_key"]]
        for model, group in rows.groupby("attribution_model"):
            group = group.sort_values("touch_rank")
            if path.empty:
                assert len(group) == 1 and group["touchpoint_id"].isna().all(), model
                assert group["channel"].item() == "Unassigned"
                continue
            # one row per touch of the path, credit only on the path's channels
            assert list(group["touchpoint_id"]) == list(path["touchpoint_id"]), model
            credit = group.assign(credit=group["credit"].astype(float))
            by_channel = credit.groupby("channel")["credit"]
            assert (by_channel.max() - by_channel.min() <= 1e-9).all(), "touches of a channel"
            got = by_channel.sum().to_dict()
            want = expected[(conversion["conversion_key"], model)]
            assert got == pytest.approx(want, abs=1e-6), (model, path["channel"].tolist())
