"""Production checks of the personal-data setup (``segmart doctor`` and the start of a run).

A home without ``SEGMART_PII_KEY`` hashes with a key generated into ``{home}/state/pii.key``
on its first run. That is fine for a laptop or a demo; on a production instance (Dagster
storage in PostgreSQL, docs/operations.md) the key belongs in the deployment's secret store,
so that a rebuilt machine or a second worker hashes with the same key, and a backup of the
home is not a backup of the key. :func:`pii_findings` says so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.core.settings import PII_KEY_ENV, PiiKey, pii_key, read_yaml

STORAGE_KEYS = ("storage", "run_storage", "event_log_storage", "schedule_storage")


def postgres_backed(dagster_home: Path | str | None = None) -> bool:
    """True when the Dagster instance's ``dagster.yaml`` keeps any storage in PostgreSQL."""
    home = dagster_home or os.environ.get("DAGSTER_HOME")
    if not home:
        return False
    config_file = Path(home) / "dagster.yaml"
    if not config_file.exists():
        return False
    config = read_yaml(config_file.read_text()) or {}
    return any("postgres" in str(config.get(key, "")).lower() for key in STORAGE_KEYS)


@dataclass
class PiiFindings:
    key: PiiKey
    postgres: bool
    warnings: list[str] = field(default_factory=list)

    @property
    def notices(self) -> list[str]:
        """What a run prints at its start. The creation of a key is said once, by
        ``pipelines.core.settings.pii_key`` (a log warning) in the process that wrote the file."""
        return list(self.warnings)

    def describe(self) -> str:
        where = f"env {PII_KEY_ENV}" if self.key.source == "env" else f"generated, {self.key.path}"
        lines = [
            f"PII key: {where} (key id {self.key.key_id})",
            f"Dagster storage: {'PostgreSQL' if self.postgres else 'embedded (SQLite)'}",
        ]
        return "\n".join(lines + [f"WARNING: {w}" for w in self.warnings])


def pii_findings(home: Path | str | None, dagster_home: Path | str | None = None) -> PiiFindings:
    """The home's PII key (created when missing) and what is wrong with it in production."""
    key = pii_key(home)
    findings = PiiFindings(key, postgres_backed(dagster_home))
    if findings.postgres and key.source == "generated":
        findings.warnings.append(
            f"this instance keeps its Dagster storage in PostgreSQL (production) but hashes "
            f"personal data with the key generated into {key.path}: set {PII_KEY_ENV} from "
            f"your secret store (to keep the existing hashes, to the content of that file; "
            f"docs/privacy.md)"
        )
    if key.path is not None and key.path.exists() and key.path.stat().st_mode & 0o077:
        findings.warnings.append(
            f"{key.path} is readable by other users (mode "
            f"{key.path.stat().st_mode & 0o777:o}): chmod 600 it"
        )
    return findings
