"""Read the purchases from the DuckDB warehouse and write the CLV tables back (schema ``ml``).

Tables (read by dbt as source ``ml``): ``customer_clv`` (one row per customer with a purchase up
to the as-of date), ``clv_holdout`` (predicted vs actual purchases in the holdout period) and
``clv_fits`` (one row per fit of the last run: status, parameters, log-likelihood). All three
are replaced in one transaction, so readers never mix two runs.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from pipelines.core.signatures import query_fingerprint, record_signature, table_exists

ML_SCHEMA = "ml"
ORDERS_RELATION = "marts.fct_orders"
AS_OF_RELATION = "intermediate.int_as_of_date"

CUSTOMER_TYPES = {
    "customer_key": "varchar",
    "clv_status": "varchar",
    "repeat_purchases": "integer",
    "recency_weeks": "double",
    "tenure_weeks": "double",
    "probability_alive": "double",
    "expected_purchases_90d": "double",
    "expected_purchases_365d": "double",
    "expected_aov": "double",
    "predicted_clv_12m": "double",
    "clv_tier": "varchar",
}
HOLDOUT_TYPES = {
    "comparison": "varchar",
    "bucket_order": "integer",
    "bucket_label": "varchar",
    "period_start": "date",
    "period_end": "date",
    "customers": "bigint",
    "actual_purchases": "double",
    "predicted_purchases": "double",
    "cumulative_actual_purchases": "double",
    "cumulative_predicted_purchases": "double",
    "calibration_end": "date",
    "holdout_end": "date",
    "fit_status": "varchar",
}
FIT_TYPES = {
    "fit_name": "varchar",
    "status": "varchar",
    "message": "varchar",
    "period_start": "date",
    "period_end": "date",
    "customers": "bigint",
    "repeat_customers": "bigint",
    "r": "double",
    "alpha": "double",
    "a": "double",
    "b": "double",
    "bgnbd_log_likelihood": "double",
    "spend_status": "varchar",
    "p": "double",
    "q": "double",
    "gamma": "double",
    "gamma_gamma_log_likelihood": "double",
    "gross_margin": "double",
    "monthly_discount_rate": "double",
}
TABLES = {
    "customer_clv": (CUSTOMER_TYPES, "customer_key"),
    "clv_holdout": (HOLDOUT_TYPES, "comparison, bucket_order"),
    "clv_fits": (FIT_TYPES, "fit_name"),
}


AS_OF_SQL = f"select max(as_of_date) from {AS_OF_RELATION}"
# the orders dim_customers counts, up to the as-of date (parameter)
PURCHASES_SQL = f"""
    select
        cast(customer_key as varchar) as customer_key,
        cast(order_date as date) as transaction_date,
        cast(net_revenue as double) as value,
        cast(gross_profit as double) as gross_profit
    from {ORDERS_RELATION}
    where customer_key is not null
        and is_purchase
        and not is_cancelled
        and order_date <= ?
"""


class MissingMartError(RuntimeError):
    """The orders mart or the as-of date is not in the warehouse yet (build dbt first)."""


def connect(warehouse: Path, settings: dict | None = None) -> duckdb.DuckDBPyConnection:
    config = {k: str(v) for k, v in (settings or {}).items() if k in ("memory_limit", "threads")}
    return duckdb.connect(str(warehouse), config={k: v for k, v in config.items() if v})


def _exists(con: duckdb.DuckDBPyConnection, relation: str) -> bool:
    schema, name = relation.split(".")
    return table_exists(con, schema, name)


def read_purchases(con: duckdb.DuckDBPyConnection) -> tuple[pd.DataFrame, pd.Timestamp | None]:
    """(purchases up to the as-of date, the as-of date): the orders dim_customers counts —
    identified customer, purchase order, not cancelled — with net revenue and gross profit."""
    for relation in (ORDERS_RELATION, AS_OF_RELATION):
        if not _exists(con, relation):
            raise MissingMartError(
                f"{relation} is not in the warehouse: build the dbt models before the CLV fit"
            )
    as_of = con.execute(AS_OF_SQL).fetchone()[0]
    if as_of is None:
        return pd.DataFrame(columns=["customer_key", "transaction_date", "value"]), None
    frame = con.execute(
        f"{PURCHASES_SQL} order by customer_key, order_date, order_id", [as_of]
    ).df()
    frame["value"] = frame["value"].fillna(0.0)
    return frame, pd.Timestamp(as_of)


def input_fingerprints(con: duckdb.DuckDBPyConnection) -> dict[str, object]:
    """What read_purchases reads, fingerprinted (pipelines/core/signatures.py): the as-of date
    and the purchase rows up to it."""
    for relation in (ORDERS_RELATION, AS_OF_RELATION):
        if not _exists(con, relation):
            raise MissingMartError(
                f"{relation} is not in the warehouse: build the dbt models before the CLV fit"
            )
    as_of = con.execute(AS_OF_SQL).fetchone()[0]
    purchases = query_fingerprint(con, PURCHASES_SQL, [as_of]) if as_of is not None else None
    return {"as_of_date": str(as_of), "purchases": purchases}


def write_tables(
    con: duckdb.DuckDBPyConnection,
    frames: dict[str, pd.DataFrame],
    signature: tuple[str, str] | None = None,
) -> list[str]:
    """Replace ``ml.customer_clv``, ``ml.clv_holdout`` and ``ml.clv_fits`` atomically, with the
    (step, signature) of their inputs recorded in the same transaction."""
    written = []
    con.execute("begin transaction")
    try:
        con.execute(f"create schema if not exists {ML_SCHEMA}")
        for table, (types, order) in TABLES.items():
            frame = frames[table]
            name = f"clv_frame_{table}"
            con.register(name, frame)
            try:
                columns = ", ".join(f'cast("{c}" as {t}) as "{c}"' for c, t in types.items())
                con.execute(
                    f"create or replace table {ML_SCHEMA}.{table} as "
                    f"select {columns} from {name} order by {order}"
                )
            finally:
                con.unregister(name)
            written.append(f"{ML_SCHEMA}.{table}")
        if signature is not None:
            record_signature(con, ML_SCHEMA, *signature)
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return written
