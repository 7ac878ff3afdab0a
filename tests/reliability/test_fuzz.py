"""Property tests: arbitrary cells through the CSV reader and mapping typing lose no row."""

from __future__ import annotations

import csv
import io
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.ingest.loader import open_mapped, sandbox, typed_chunks
from pipelines.ingest.mapping import load_mappings
from tests.ingest.conftest import ORDERS_MAPPING

CELL = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12
)
ROW = st.tuples(
    st.text(st.characters(whitelist_categories=("Lu", "Nd")), min_size=1, max_size=6),  # key
    st.one_of(CELL, st.dates().map(lambda d: d.strftime("%d/%m/%Y"))),
    st.one_of(CELL, st.floats(allow_nan=False).map(str), st.integers().map(str)),
    CELL,
)
MAPPINGS_HOME = Path(tempfile.mkdtemp(prefix="segmart-fuzz-"))
(MAPPINGS_HOME / "mappings").mkdir()
(MAPPINGS_HOME / "mappings" / "test_orders.yaml").write_text(ORDERS_MAPPING)
MAPPINGS = load_mappings(MAPPINGS_HOME)
CON = sandbox()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(ROW, min_size=1, max_size=30))
def test_every_written_row_is_loaded_or_quarantined_exactly_once(rows):
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["order_ref", "ordered_on", "amount", "email"])
    writer.writerows(rows)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "orders.csv"
        path.write_text(buf.getvalue(), encoding="utf-8")
        source, _mapping, plan = open_mapped(path, path.name, MAPPINGS)
        at = datetime.now(UTC).replace(tzinfo=None)
        seen: list[int] = []
        for good, bad, _ in typed_chunks(source, plan, path.name, "0" * 64, at, CON):
            seen += good["_source_row"].to_pylist() + bad["_source_row"].to_pylist()
            assert all(bad["reason"].to_pylist())  # every quarantined row says why
        skipped = sum(source.info.skipped.values())
    # rows the reader skips (blank, comment- or footer-like keys) are counted, never lost
    assert len(seen) == len(set(seen))
    assert len(seen) + skipped == len(rows)
