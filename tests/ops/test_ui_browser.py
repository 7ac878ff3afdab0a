"""The Dagster UI end to end: a real webserver, Debian's Chromium driven by Playwright.

Starts ``dagster-webserver`` on 127.0.0.1 (free port, temporary DAGSTER_HOME) against the tiny
code location ``tests/ops/ui_defs.py``, opens the asset graph, clicks "Materialize all", waits
for the run to succeed (GraphQL) and for the graph to show both assets materialised, and saves
a screenshot. Every wait is bounded; the server's process group is always stopped.

Set ``SEGMART_UI_DEFS`` (a ``.py`` file or a module name such as ``pipelines.definitions``) to
point the same test at another code location; the asset names are read from GraphQL.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO_ROOT = Path(__file__).resolve().parents[2]
UI_DEFS = os.environ.get("SEGMART_UI_DEFS") or str(Path(__file__).with_name("ui_defs.py"))

# Runs launched straight from the webserver (no daemon needed); no telemetry.
INSTANCE_YAML = """\
telemetry:
  enabled: false
nux:
  enabled: false
run_coordinator:
  module: dagster._core.run_coordinator
  class: DefaultRunCoordinator
"""
SERVER_START_TIMEOUT_S = 120
RUN_TIMEOUT_S = 180
UI_TIMEOUT_MS = 60_000


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _graphql(base_url: str, query: str) -> dict:
    request = urllib.request.Request(
        f"{base_url}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        payload = json.load(response)
    assert "errors" not in payload, payload
    return payload["data"]


def _runs(base_url: str) -> list[dict]:
    data = _graphql(base_url, "{ runsOrError { ... on Runs { results { runId status } } } }")
    return data["runsOrError"]["results"]


def _wait_until_up(base_url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"dagster-webserver exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{base_url}/server_info", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    pytest.fail(f"dagster-webserver did not answer in {SERVER_START_TIMEOUT_S}s:\n"
                f"{log.read_text()[-3000:]}")  # fmt: skip


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group (webserver + code server), SIGKILL after 15 s."""
    for sig, wait_s in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture
def webserver(tmp_path):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (install it with scripts/ci_services.sh)")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(INSTANCE_YAML)
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = tmp_path / "webserver.log"
    with log.open("w") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dagster_webserver",
             "-f" if UI_DEFS.endswith(".py") else "-m", UI_DEFS,
             "-h", "127.0.0.1", "-p", str(port)],
            cwd=REPO_ROOT,
            env={**os.environ, "DAGSTER_HOME": str(home)},
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group, so _stop reaches the code server too
        )  # fmt: skip
    try:
        _wait_until_up(base_url, proc, log)
        yield base_url
    finally:
        _stop(proc)


def _asset_labels(base_url: str) -> list[str]:
    """The label the graph draws for each asset: the last part of its key."""
    data = _graphql(base_url, "{ assetNodes { assetKey { path } } }")
    return sorted(node["assetKey"]["path"][-1] for node in data["assetNodes"])


def _wait_for_run(base_url: str) -> dict:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        runs = _runs(base_url)
        if runs and runs[0]["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
            return runs[0]
        time.sleep(1)
    pytest.fail(f"the run did not finish within {RUN_TIMEOUT_S}s: {_runs(base_url)}")


def test_materialize_all_from_the_asset_graph(webserver, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    screenshot = tmp_path / "asset_graph.png"
    expect.set_options(timeout=UI_TIMEOUT_MS)  # default is 5 s: too short on 2 busy cores
    assert _runs(webserver) == []
    assets = _asset_labels(webserver)
    assert assets, "the code location has no assets"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True, timeout=30_000
        )
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(UI_TIMEOUT_MS)
        try:
            page.goto(f"{webserver}/asset-groups", timeout=UI_TIMEOUT_MS)
            for asset in assets:  # the graph is laid out: both nodes are drawn
                expect(page.get_by_text(asset, exact=True).first).to_be_visible()
            expect(page.get_by_text("Never materialized")).to_have_count(len(assets))

            page.get_by_role("button", name="Materialize all").click()
            expect(page.get_by_text("Launched run")).to_be_visible()

            run = _wait_for_run(webserver)
            assert run["status"] == "SUCCESS", run
            # the graph polls the instance: both nodes turn "Materialized"
            expect(page.get_by_text("Never materialized")).to_have_count(0)
            expect(page.get_by_text("Materialized", exact=True)).to_have_count(len(assets))
            page.screenshot(path=str(screenshot))
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"))
            raise
        finally:
            browser.close()

    assert len(_runs(webserver)) == 1  # exactly the one run launched from the UI
    assert screenshot.stat().st_size > 10_000
    keep = os.environ.get("SEGMART_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(screenshot, Path(keep) / screenshot.name)
