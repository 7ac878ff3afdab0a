"""A dbt-duckdb plugin that hands the PII key to DuckDB at run time, never in SQL.

``dbt_project/profiles.yml`` loads it (``plugins: [{module: pipelines.privacy.duckdb_plugin}]``).
On every connection and cursor dbt-duckdb opens it sets two session variables, the HMAC
inner and outer padded keys (``PiiKey.pads``), as bound parameters: nothing dbt logs, parses
or compiles holds them, and DuckDB does not persist variables. The ``pii_hash`` macro reads
them with ``getvariable()`` and computes HMAC-SHA-256 from DuckDB's own ``sha256``.

The key is the one of the warehouse's home (``{home}/warehouse/segmart.duckdb``): env
``SEGMART_PII_KEY``, else ``{home}/state/pii.key`` (``pipelines.core.settings.pii_key``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin

from pipelines.core.settings import pii_key

IPAD_VARIABLE = "segmart_pii_ipad"
OPAD_VARIABLE = "segmart_pii_opad"


def set_pii_variables(connection, pads: tuple[bytes, bytes]) -> None:
    """Set the padded keys (``PiiKey.pads()``) as variables of a DuckDB connection."""
    connection.execute(f"set variable {IPAD_VARIABLE} = ?", [pads[0]])
    connection.execute(f"set variable {OPAD_VARIABLE} = ?", [pads[1]])


class Plugin(BasePlugin):
    def initialize(self, plugin_config: dict[str, Any]) -> None:
        path = getattr(self.creds, "path", None)
        # {home}/warehouse/segmart.duckdb -> {home}; an in-memory database: SEGMART_HOME
        self._home = Path(path).resolve().parent.parent if path and path != ":memory:" else None
        self._pads: tuple[bytes, bytes] | None = None

    def _key_pads(self) -> tuple[bytes, bytes]:
        if self._pads is None:
            self._pads = pii_key(self._home).pads()
        return self._pads

    def configure_connection(self, conn) -> None:
        set_pii_variables(conn, self._key_pads())

    def configure_cursor(self, cursor) -> None:
        # a cursor is a new DuckDB connection: session variables do not carry over
        set_pii_variables(cursor, self._key_pads())
