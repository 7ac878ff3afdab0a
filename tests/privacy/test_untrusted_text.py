"""Untrusted export text stays text (issue 23.5) in Data Docs and alerts.

The end-to-end case (an ad export with payload campaign names through the real job, Data
Docs checked) is in test_pii_run.py; here every place of a validation page that can carry
export text is filled with the payloads (tests/fixtures_xss.py), and an alert carrying them
goes through a real HTTP webhook.
"""

from __future__ import annotations

import http.server
import json
import threading
from datetime import UTC, datetime

import pytest

from pipelines.automation.alerts import alert_json, write_alert
from pipelines.quality.docs import build_docs
from pipelines.quality.engine import Outcome
from pipelines.quality.runner import SuiteRun
from pipelines.quality.suites import Expectation, Suite
from tests.fixtures_xss import LIVE_MARKUP, PAYLOADS


def _payload_run() -> SuiteRun:
    """A validation whose failing keys, observed values, value sets, exception and source
    are export text."""
    pair = Expectation(
        "expect_column_pair_values_a_to_be_greater_than_b",
        {"column_A": "impressions", "column_B": "clicks", "or_equal": True},
        {"severity": "warn", "notes": "clicks above impressions"},
    )
    in_set = Expectation(
        "expect_column_values_to_be_in_set",
        {"column": "campaign_name", "value_set": list(PAYLOADS)},
        {"severity": "warn"},
    )
    aggregate = Expectation(
        "expect_column_max_to_be_between", {"column": "campaign_name"}, {"severity": "warn"}
    )
    outcomes = [
        Outcome(
            pair,
            pair.kwargs,
            False,
            "rows",
            element_count=2,
            unexpected_count=2,
            missing_count=0,
            failing_keys=[{"campaign_id": p, "_source_file": f"{p}.csv"} for p in PAYLOADS],
        ),
        Outcome(in_set, in_set.kwargs, False, "aggregate", observed_value=PAYLOADS[0]),
        Outcome(aggregate, aggregate.kwargs, False, "aggregate", observed_value=list(PAYLOADS)),
        Outcome(aggregate, aggregate.kwargs, False, "aggregate", exception=PAYLOADS[1]),
    ]
    suite = Suite(
        "raw__ad_spend_daily",
        "raw",
        "ad_spend_daily",
        ("campaign_id",),
        (pair, in_set, aggregate),
        {},
    )
    return SuiteRun(suite, "run1", datetime.now(UTC), PAYLOADS[0], outcomes, 2, 1, 2, None)


def test_data_docs_render_export_text_as_text(tmp_path):
    site = tmp_path / "quality"
    page = build_docs(_payload_run(), site)
    for path in (page, site / "index.html"):
        text = path.read_text(encoding="utf-8")
        for markup in LIVE_MARKUP:
            assert markup not in text, f"{markup!r} is markup in {path.name}"
    text = page.read_text(encoding="utf-8")
    # each payload is on the page, as text: escaped once (not lost, not double-escaped)
    assert text.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 3
    assert text.count("&lt;img src=x onerror=alert(1)&gt;") >= 2
    assert "&amp;lt;" not in text


@pytest.fixture
def webhook():
    """A real HTTP endpoint on localhost that records the bodies POSTed to it."""
    received: list[tuple[str, bytes]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.headers["Content-Type"], body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()
    server.server_close()


def test_alerts_send_json_encoded_text_only(tmp_path, webhook, monkeypatch):
    url, received = webhook
    monkeypatch.setenv("SEGMART_ALERT_WEBHOOK_URL", url)
    record = {
        "at": "2024-07-01T00:00:00+00:00",
        "run_id": "r1",
        "job": "segmart_full",
        "error": f"campaign {PAYLOADS[0]} & {PAYLOADS[1]} failed",
    }
    write_alert(record, home=str(tmp_path))
    [(content_type, body)] = received
    assert content_type == "application/json"
    assert json.loads(body) == record  # the same text, decoded
    for raw in (b"<", b">", b"&"):  # nothing a receiver could take for markup
        assert raw not in body
    line = (tmp_path / "state" / "alerts.log").read_text().strip()
    assert json.loads(line) == record and "<" not in line and "&" not in line
    assert alert_json({"n": 1, "when": datetime(2024, 7, 1, tzinfo=UTC)}) == (
        '{"n": 1, "when": "2024-07-01 00:00:00+00:00"}'
    )
