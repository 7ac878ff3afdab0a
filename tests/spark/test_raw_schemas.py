"""The Spark raw-table schemas (a generated dbt macro) follow the raw-layer contract."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from pipelines.core.settings import load_entities

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "spark" / "raw_schemas.py"


def _script():
    spec = importlib.util.spec_from_file_location("spark_raw_schemas", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_macro_is_current():
    script = _script()
    assert script.MACRO_FILE.read_text() == script.render(load_entities()), (
        "dbt_project/macros/spark/raw_schemas.sql is stale: run scripts/spark/raw_schemas.py"
    )
    assert script.main(["--check"]) == 0


def test_macro_lists_every_contract_column_with_its_spark_type():
    contract = load_entities()
    text = _script().MACRO_FILE.read_text()
    blocks = dict(re.findall(r"'(\w+)': \{'source': '\w+', 'columns': \[(.*?)\]\}", text, re.S))
    assert sorted(blocks) == sorted(contract["entities"])
    expected_type = {"string": "string", "int": "bigint", "double": "double",
                     "bool": "boolean", "date": "date", "timestamp": "timestamp"}  # fmt: skip
    for entity, spec in contract["entities"].items():
        columns = re.findall(r"\['(\w+)', '(\w+)'\]", blocks[entity])
        wanted = [(n, expected_type[c["type"]]) for n, c in spec["columns"].items()]
        wanted += [(n, expected_type[t]) for n, t in contract["lineage_columns"].items()]
        assert columns == wanted, entity
