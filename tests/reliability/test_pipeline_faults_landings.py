"""Row order, file boundaries and a second copy of a file do not change any mart: a real
``segmart run`` on the demo landing with files shuffled, split and landed twice publishes the
marts of the uninterrupted run (tests/reliability/faults.py)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.reliability.faults import FAST, same_marts
from tests.reliability.pipeline_home import (
    copy_landing,
    run,
    shuffle_csv,
    shuffle_jsonl_gz,
    split_csv,
)

pytestmark = pytest.mark.slow


def test_same_answer_for_shuffled_split_and_twice_landed_files(landing, baseline, tmp_path):
    home = copy_landing(landing, tmp_path)
    demo = home / "landing" / "demo"
    contacts = demo / "crm/hubspot/hubspot-crm-exports-all-contacts-2025-01-01.csv"
    shuffle_csv(contacts)
    # the same records landed again in another file (another order, so other bytes), later
    again = shutil.copy2(contacts, contacts.with_name("hubspot-crm-exports-all-contacts-2.csv"))
    shuffle_csv(Path(again), seed=8)
    os.utime(again, ns=(contacts.stat().st_mtime_ns + 1,) * 2)
    shuffle_csv(demo / "ads/meta_ads/Segmart-Demo-Campaigns-Apr-1-2023-Apr-30-2023.csv")
    shuffle_jsonl_gz(demo / "web/ga4/events_20240629.jsonl.gz")
    split_csv(
        demo / "ads/google_ads/Campaign report 2023-03.csv",
        "Campaign report 2023-03 a.csv",
        "Campaign report 2023-03 b.csv",
    )
    split_csv(
        demo / "crm/hubspot/hubspot-crm-exports-all-deals-2025-01-01.csv",
        "hubspot-crm-exports-all-deals-2025-01-01 (1 of 2).csv",
        "hubspot-crm-exports-all-deals-2025-01-01 (2 of 2).csv",
    )
    ga4 = demo / "web/ga4/events_20240720.jsonl.gz"
    shutil.copy2(ga4, ga4.with_name("events_20240720 (1).jsonl.gz"))  # under a new name
    (demo / "again").mkdir()  # and under the same name in another folder
    shutil.copy2(demo / "crm/nps/delighted-responses-2025-01-01.csv", demo / "again")

    done = run(home, args=FAST)
    assert done.proc.returncode == 0, done.tail(60)
    same_marts(home, baseline)
