"""forget(home, email): the person's raw and quarantine rows are gone, the erasure logged."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from pipelines.ingest.loader import run_ingest
from pipelines.privacy.forget import forget
from tests.ingest.conftest import land, quarantine, raw

CSV = """order_ref,ordered_on,amount,email
A1,01/02/2024,10.0,bob@example.com
A2,02/02/2024,20.0, BOB@Example.com
A3,03/02/2024,30.0,jimbob@example.com
A4,04/02/2024,40.0,alice@example.com
A5,99/99/2024,50.0,bob@example.com
A6,99/99/2024,60.0,alice@example.com
"""


def test_forget_removes_the_person_everywhere_and_logs_only_the_hash(home, monkeypatch):
    monkeypatch.setenv("SEGMART_PII_KEY", "test-key")
    land(home, "orders.csv", CSV)
    run_ingest(home)
    before_raw, before_q = raw(home, "orders"), quarantine(home, "orders")
    assert len(before_raw) == 4 and len(before_q) == 2

    report = forget(home, "  Bob@EXAMPLE.com ")

    after_raw, after_q = raw(home, "orders"), quarantine(home, "orders")
    assert sorted(after_raw["order_id"]) == ["A3", "A4"]  # jimbob@ is another person
    assert list(after_q["_source_row"]) == [6]
    # the macro's HMAC-SHA-256, computed by the standard library independently of segmart
    expected = hmac.new(b"test-key", b"bob@example.com", hashlib.sha256).hexdigest()
    assert report.email_hash == expected
    assert report.total_rows == 3 and len(report.files_changed) == 2
    assert report.landing_files == ["orders.csv"]
    log = (home / "state" / "erasures.jsonl").read_text()
    assert "bob@" not in log.lower()
    entry = json.loads(log.splitlines()[-1])
    assert entry["email_hash"] == report.email_hash
    assert sum(entry["rows_removed"].values()) == 3
    # idempotent: forgetting again changes nothing but is still logged
    again = forget(home, "bob@example.com")
    assert again.total_rows == 0 and again.files_changed == []
    assert len((home / "state" / "erasures.jsonl").read_text().splitlines()) == 2


def test_forget_refuses_a_non_address(home):
    with pytest.raises(ValueError, match="not an e-mail"):
        forget(home, "bob")
