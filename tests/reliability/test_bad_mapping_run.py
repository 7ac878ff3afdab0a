"""A bad user mapping beside good files: the real job loads the good files and publishes.

A copy of the shared demo home (already loaded and published) gets a user mapping with an
invalid option (a two-character delimiter), a file that mapping was written for, and a new,
good NPS export. The run must not stop: the NPS file loads and reaches the published marts,
the shop file is rejected with one line naming the mapping file and the key, and nothing
else changes.
"""

from __future__ import annotations

import csv
import io
import json

import dagster as dg
import duckdb
import pandas as pd
import pytest

from tests.pipeline.runner import materialized_keys, run_job
from tests.shared_homes import demo_home, private_copy

pytestmark = pytest.mark.slow

BAD_MAPPING = """
# a user's mapping for their shop's order export
name: my_shop_orders
entity: orders
source_system: my_shop
match:
  filename: ["*shop_orders*"]
reader:
  delimiter: ";;"
columns:
  order_id: Order
  order_line_id: {const: "1"}
  ordered_at: {from: Date, format: "%Y-%m-%d"}
  net_amount: Total
"""
SHOP_FILE = "shop/shop_orders_2024-06.csv"
NPS_FILE = "demo/crm/nps/delighted-responses-2025-02-01.csv"


def _new_nps_export(home) -> str:
    """Five responses of customers the demo already has, as a later Delighted export."""
    [source] = (home / "landing" / "demo" / "crm" / "nps").glob("delighted-responses-*.csv")
    rows = list(csv.DictReader(io.StringIO(source.read_text())))[:5]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    for i, row in enumerate(rows):
        writer.writerow({**row, "Response ID": str(399000001 + i), "Score": str(i * 2)})
    return out.getvalue()


@pytest.fixture(scope="module")
def bad_mapping_run(tmp_path_factory):
    base = demo_home(tmp_path_factory)
    home = private_copy(base, tmp_path_factory.mktemp("bad_mapping") / "home")
    (home / "mappings").mkdir(exist_ok=True)
    (home / "mappings" / "my_shop.yaml").write_text(BAD_MAPPING)
    shop = home / "landing" / SHOP_FILE
    shop.parent.mkdir(parents=True)
    shop.write_text("Order;;Date;;Total\n1001;;2024-06-01;;25.00\n1002;;2024-06-02;;14.50\n")
    (home / "landing" / NPS_FILE).write_text(_new_nps_export(home))
    with dg.DagsterInstance.from_config(str(home / "dagster_home")) as instance:
        result = run_job(home, instance=instance)
    return home, result


def _record(home, file: str) -> dict:
    [record] = [
        r
        for r in (json.loads(p.read_text()) for p in (home / "manifest").glob("*.json"))
        if r["file"] == file
    ]
    return record


def test_the_run_loads_the_good_file_and_publishes(bad_mapping_run):
    home, result = bad_mapping_run
    errors = [e.event_specific_data.error.message for e in result.all_events if e.is_step_failure]
    assert result.success, errors
    assert "serving/marts" in materialized_keys(result)
    expected = pd.read_csv(home / "landing" / NPS_FILE, dtype=str)
    record = _record(home, NPS_FILE)
    assert (record["status"], record["rows_loaded"]) == ("loaded", len(expected))
    ids = [str(i) for i in expected["Response ID"]]
    with duckdb.connect(str(home / "serving" / "marts.duckdb"), read_only=True) as con:
        found = con.execute(  # the published copy has the new responses
            "select response_id, nps_score from fct_nps_responses "
            "where response_id in (select unnest(?)) order by response_id",
            [ids],
        ).fetchall()
    assert [(r, int(s)) for r, s in found] == list(
        zip(ids, expected["Score"].astype(int), strict=True)
    )


def test_the_bad_mapping_rejects_its_file_with_one_line_naming_file_and_key(bad_mapping_run):
    home, result = bad_mapping_run
    mapping_file = home / "mappings" / "my_shop.yaml"
    line = (
        f"{mapping_file}: mapping 'my_shop_orders': reader.delimiter: ';;' is not a single "
        "character (allowed: one character such as ',' ';' '|', or a tab written \"\\t\" or tab)"
    )
    record = _record(home, SHOP_FILE)
    assert record["status"] == "rejected"
    assert record["reason"] == f"{SHOP_FILE}: invalid mapping: {line}"
    [reason] = (home / "rejected").glob(f"{record['file_hash']}__*.reason.txt")
    assert reason.read_text() == record["reason"] + "\n"
    # the raw asset of the mapping's entity shows the rejection in its metadata
    rejected = [
        row
        for event in result.all_events
        if event.event_type_value == "ASSET_MATERIALIZATION"
        and event.asset_key.to_user_string() == "crm/orders"
        and event.event_specific_data.materialization.partition is None
        for row in event.event_specific_data.materialization.metadata["rejected_files"].records
    ]
    assert [(r.data["file"], r.data["mapping"]) for r in rejected] == [
        (SHOP_FILE, "my_shop_orders")
    ]
    assert line in rejected[0].data["reason"]
    notes = [
        event.event_specific_data.materialization.metadata["invalid_mappings"].value
        for event in result.all_events
        if event.event_type_value == "ASSET_MATERIALIZATION"
        and event.asset_key.to_user_string() == "crm/nps_responses"
    ]
    assert notes == [f"* {line}"]  # on every raw asset, for the Dagster UI
