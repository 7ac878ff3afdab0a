"""The vectorised JSON-lines reader gives exactly what the per-line reader gives.

Every test reads the same file twice, with ``vectorised_json=False`` (json.loads and
flatten_record line by line) and with the default block path, and compares the chunks cell
for cell: column names and order, string cells, source row numbers, malformed rows, header,
skipped counts. Where a test is about a feature of the block path, it also checks that the
block path really handled the block (rather than falling back to the per-line path).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.ingest import readers
from pipelines.ingest.jsonl import arrow_columns, flatten_record
from pipelines.ingest.readers import ReaderOptions, SourceFile

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"


def read(path: Path, vectorised: bool, **opts):
    src = SourceFile(path, ReaderOptions(**opts), vectorised_json=vectorised)
    chunks = [(c.table, c.malformed) for c in src.chunks()]
    return src.info, chunks


def assert_same(path: Path, **opts) -> list[bool]:
    """Both readers agree on ``path``; returns, per block, whether the block path took it."""
    taken: list[bool] = []

    def spy(lines):
        columns = arrow_columns(lines)
        taken.append(columns is not None)
        return columns

    slow_info, slow = read(path, False, **opts)
    original = readers.arrow_columns
    readers.arrow_columns = spy
    try:
        fast_info, fast = read(path, True, **opts)
    finally:
        readers.arrow_columns = original
    assert fast_info.header == slow_info.header
    assert fast_info.skipped == slow_info.skipped
    assert fast_info.encoding == slow_info.encoding
    assert len(fast) == len(slow)
    for (ft, fm), (st_, sm) in zip(fast, slow, strict=True):
        assert ft.column_names == st_.column_names
        assert ft.schema == st_.schema
        assert ft.to_pylist() == st_.to_pylist()
        assert fm == sm
    return taken


def write_lines(path: Path, lines: list[str], encoding: str = "utf-8", newline: str = "\n"):
    data = "".join(line + newline for line in lines).encode(encoding)
    if path.suffix == ".gz":
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


# ----------------------------------------------------------------------- demo GA4 export


@pytest.fixture(scope="module")
def ga4_files(tmp_path_factory) -> list[Path]:
    from generator import generate

    root = tmp_path_factory.mktemp("demo")
    generate(root, scale=0.01, seed=11)
    return sorted((root / "web" / "ga4").glob("events_*.jsonl.gz"))


def test_demo_ga4_files_read_the_same(ga4_files):
    assert len(ga4_files) > 300
    taken = []
    for path in ga4_files[::25] + sorted(ga4_files, key=lambda p: -p.stat().st_size)[:5]:
        taken += assert_same(path)
    assert taken and all(taken)  # every demo block went through the block path


def test_demo_ga4_lines_in_many_chunks(ga4_files, tmp_path):
    """All demo events in one file, small chunks: keys first seen in later chunks (ecommerce,
    lead params) extend the header, row numbers run on across chunks."""
    lines = []
    for path in ga4_files:
        lines += gzip.decompress(path.read_bytes()).decode().splitlines()
    path = write_lines(tmp_path / "all.jsonl.gz", lines)
    taken = assert_same(path, chunk_rows=997)
    assert len(taken) > 10 and all(taken)


@pytest.mark.parametrize(
    "path",
    sorted(FIXTURES.rglob("*.jsonl*")) + sorted(FIXTURES.rglob("*.ndjson*")),
    ids=lambda p: p.name,
)
def test_shared_jsonl_fixtures_read_the_same(path):
    assert_same(path)


# ----------------------------------------------------------------------- chosen cases

EVENT = {
    "event_name": "purchase",
    "event_params": [
        {"key": "ga_session_id", "value": {"int_value": "42"}},
        {"key": "value", "value": {"double_value": 19.5}},
    ],
    "device": {"category": "mobile", "web_info": {"browser": "Chrome"}},
}


def dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False)


CASES = {
    # numbers: str() of what json.loads returns, whatever Arrow makes of the column
    "ints and floats in one column": ['{"a": 1}', '{"a": 1.0}', '{"a": 19.5}', '{"a": -0}'],
    "float text": ['{"a": 1e-05}', '{"a": 1e16}', '{"a": 1.5e300}', '{"a": 0.1}', '{"a": -0.0}'],
    "integral floats only": ['{"a": 0.0, "b": 2.0}', '{"a": 5.0, "b": 2.5, "c": "x:1,"}'],
    "big ints": ['{"a": 12345678901234567890}', '{"a": 9007199254740993}', '{"a": 2}'],
    "nan and infinity": ['{"a": NaN}', '{"a": 1.5}', '{"a": Infinity}', '{"a": -Infinity}'],
    "booleans": ['{"a": true, "b": {"c": false}}', '{"a": false}'],
    # strings Arrow would read as timestamps
    "iso strings": ['{"t": "2024-01-01"}', '{"t": "2024-01-01T10:00:00"}', '{"d": "2024-03-01"}'],
    "timestamps in structs and lists": [
        '{"a": {"t": "2024-01-01 10:00:00"}, "l": ["2024-01-01"]}',
        '{"a": {"t": "2024-01-02 10:00:00"}, "l": []}',
    ],
    # lists: JSON text as json.dumps writes it, None when empty
    "lists": [
        '{"items": [{"item_id": "SKU-1", "price": 10}, {"item_id": "é"}], "n": [1, 2.0]}',
        '{"items": [], "n": []}',
        '{"items": [{"item_id": "SKU-2", "price": 10.5}]}',
    ],
    "nested lists": ['{"a": [[1, 2], [3]]}', '{"a": [[]]}', '{"a": []}'],
    # GA4 key/value arrays
    "value fields": [
        dumps(EVENT),
        '{"event_params": [{"key": "k", "value": {"string_value": null, "int_value": "7",'
        ' "double_value": null, "float_value": null}}]}',
        '{"event_params": [{"key": "k", "value": {"float_value": 2.0}},'
        ' {"key": "b", "value": {"string_value": "", "int_value": "3"}}]}',
        '{"user_properties": [{"key": "tier", "value": {"string_value": "gold"}}]}',
    ],
    "compact value-field nulls": [
        '{"event_params":[{"key":"k","value":{"string_value":null,"int_value":"7"}}]}',
        '{"event_params":[{"key":"k","value":{"string_value":"s","int_value":null}}]}',
    ],
    "a key ending in a value field name": ['{"x\\"int_value": null, "a": 1}', '{"a": 2}'],
    "kv value without fields or scalar": [
        '{"x": [{"key": "a", "value": {}}], "y": [{"key": 1, "value": "v"}]}',
        '{"x": [{"key": "b", "value": {}}], "y": [{"key": 2, "value": "w"}]}',
    ],
    "kv and non-kv lists in one column": [
        '{"event_params": [{"key": "a", "value": {"int_value": 1}}]}',
        '{"event_params": []}',
        '{"event_params": [{"key": "a"}]}',
        '{"event_params": [{"key": "b", "value": {"int_value": 2}}]}',
    ],
    "duplicate kv key": [
        '{"event_params": [{"key": "a", "value": {"int_value": 1}},'
        ' {"key": "a", "value": {"int_value": 2}}]}',
        '{"event_params": [{"key": "a", "value": {"int_value": 3}}]}',
    ],
    "nested kv prefix": ['{"x": {"event_params": [{"key": "a", "value": {"int_value": 1}}]}}'],
    # column names and order
    "keys in different orders": ['{"b": 1, "a": {"y": 1}}', '{"a": {"x": 2, "y": 3}, "c": 4}'],
    "keys first seen late": ['{"a": 1}'] * 5 + ['{"z": 1, "a": 2, "b": {"c": 3}}'],
    "keys that sanitise alike": ['{"a\\u0001": 1, "a": 2, "__row": 3, "src": 4, "": 5}'],
    "flattened names collide": ['{"a_b": 1, "a": {"b": 2}}', '{"a": {"b": 3}}'],
    "empty objects": ["{}", '{"a": {}}', '{"a": {"b": 1}}'],
    # nulls outside GA4 value fields are columns of their own
    "nulls": ['{"a": null, "b": 1}', '{"a": {"c": 1}, "b": null}', '{"b": 2}'],
    "null list and struct": ['{"l": null, "s": null}', '{"l": [1], "s": {"x": 1}}'],
    "the word null in a string": ['{"a": "null"}', '{"a": "nullable"}'],
    # types that change between lines
    "types change": ['{"a": 1}', '{"a": "x"}', '{"a": {"b": 1}}', '{"a": [1]}'],
    # lines the per-line reader quarantines or skips
    "bad lines": ['{"a": 1}', "{not json", "[1, 2]", "3", '"x"', '{"a": 1} {"a": 2}', "{}"],
    "blank lines": ['{"a": 1}', "", "   ", "\t", '{"a": 2}', ""],
    "duplicate keys": ['{"a": 1, "a": 2}', '{"a": 3}'],
    "unicode": ['{"名前": "José", "emoji": "😀", "sep": "a\\u2028b", "nul": "\\u0000"}'],
    "escapes": ['{"a": "tab\\tquote\\" slash\\/ back\\\\"}'],
}


@pytest.mark.parametrize("case", CASES)
def test_chosen_cases_read_the_same(tmp_path, case):
    path = write_lines(tmp_path / "x.jsonl", CASES[case])
    assert_same(path)
    assert_same(path, chunk_rows=2)


@pytest.mark.parametrize(
    "case",
    [
        "ints and floats in one column",
        "float text",
        "integral floats only",
        "big ints",
        "booleans",
        "iso strings",
        "timestamps in structs and lists",
        "lists",
        "nested lists",
        "value fields",
        "compact value-field nulls",
        "kv value without fields or scalar",
        "kv and non-kv lists in one column",
        "duplicate kv key",
        "nested kv prefix",
        "keys in different orders",
        "keys first seen late",
        "keys that sanitise alike",
        "empty objects",
        "unicode",
        "escapes",
    ],
)
def test_block_path_handles_the_case_itself(case):
    """The block path renders these without falling back, and the cells are those of
    flatten_record (column order included)."""
    lines = [line + "\n" for line in CASES[case]]
    columns = arrow_columns(lines)
    assert columns is not None
    records = [flatten_record(json.loads(line)) for line in lines]
    order = list(dict.fromkeys(k for r in records for k in r))
    assert list(columns) == order
    for name, cells in columns.items():
        assert cells.to_pylist() == [r.get(name) for r in records]


@pytest.mark.parametrize(
    "case",
    [
        "nulls",
        "null list and struct",
        "a key ending in a value field name",
        "types change",
        "bad lines",
        "duplicate keys",
    ],
)
def test_block_path_declines_what_it_cannot_render(case):
    lines = [line + "\n" for line in CASES[case] if line.strip()]
    assert arrow_columns(lines) is None


@pytest.mark.parametrize(
    ("encoding", "bom"),
    [("utf-8", b"\xef\xbb\xbf"), ("utf-16-le", b"\xff\xfe"), ("latin-1", b"")],
)
def test_encodings_read_the_same(tmp_path, encoding, bom):
    lines = [dumps({"city": "Zürich", "n": i, "p": EVENT["event_params"]}) for i in range(5)]
    path = tmp_path / "x.jsonl"
    path.write_bytes(bom + "".join(line + "\n" for line in lines).encode(encoding))
    assert all(assert_same(path))


@pytest.mark.parametrize("newline", ["\r\n", "\r"])
def test_line_ends_read_the_same(tmp_path, newline):
    path = write_lines(tmp_path / "x.jsonl.gz", [dumps(EVENT)] * 4 + [""], newline=newline)
    assert all(assert_same(path, chunk_rows=3))


def test_invalid_line_falls_back_for_its_chunk_only(tmp_path):
    lines = [dumps({"a": i}) for i in range(10)]
    lines[4] = "{broken"
    path = write_lines(tmp_path / "x.jsonl", lines)
    taken = assert_same(path, chunk_rows=3)
    # [0-2] fast, [3-5] declined (row 5 is bad; the chunk then takes row 6), [7-9] fast
    assert taken == [True, False, True]


# ----------------------------------------------------------------------- generated records

key = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=6)
simple_key = st.sampled_from(["a", "b", "c", "event_params", "user_properties", "a_b"])
scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(min_value=-1e6, max_value=1e6).map(round),  # integral values (ints)
    st.floats(min_value=-1e6, max_value=1e6).map(lambda v: float(round(v))),  # 3.0
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8),
    st.sampled_from(["2024-01-01", "2024-01-01T10:00:00", "null", "x:1,"]),
)
value_field = st.sampled_from(["string_value", "int_value", "double_value", "float_value"])
kv_item = st.fixed_dictionaries(
    {
        "key": st.one_of(st.sampled_from(["ga_session_id", "page", "value", "k"]), key),
        "value": st.dictionaries(value_field, scalar, max_size=3),
    }
)
json_value = st.recursive(
    scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(simple_key, key), inner, max_size=4),
        st.lists(kv_item, max_size=4),
    ),
    max_leaves=12,
)
record = st.dictionaries(st.one_of(simple_key, key), json_value, max_size=6)
line = st.one_of(
    record.map(dumps),
    record.map(dumps),
    record.map(dumps),
    st.sampled_from(["", "  ", "{bad", "[1]", "null", '{"a": 1} x']),
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(first=record, lines=st.lists(line, max_size=12), chunk_rows=st.integers(1, 6))
def test_generated_records_read_the_same(tmp_path, first, lines, chunk_rows):
    path = write_lines(tmp_path / "gen.jsonl", [dumps(first), *lines])
    assert_same(path, chunk_rows=chunk_rows)


# Records whose keys keep one JSON type each (as real exports do) and no nulls: the block
# path must take every block, and still agree with the per-line reader.
text = st.text(max_size=6).filter(lambda t: "null" not in t)
numbers = st.one_of(st.integers(-1000, 1000), st.floats(allow_nan=False, allow_infinity=False))
kinds = {
    "i": st.integers(-(2**70), 2**70),  # past int64: Arrow makes the column double
    "n": numbers,  # ints and doubles in one column
    "s": text,
    "b": st.booleans(),
    "t": st.sampled_from(["2024-01-01", "2024-01-01T10:00:00", "2023-12-31 23:59:59"]),
    "l": st.lists(text, max_size=3),
    "m": st.lists(st.fixed_dictionaries({"id": st.integers()}, optional={"q": numbers})),
    "d": st.fixed_dictionaries(
        {}, optional={"i": st.integers(), "s": text, "e": st.fixed_dictionaries({"s": text})}
    ),
}
ga4_param = st.fixed_dictionaries(
    {
        "key": st.sampled_from(["ga_session_id", "page_location", "value", "engaged", "é"]),
        "value": st.one_of(
            st.fixed_dictionaries({"string_value": text}),
            st.fixed_dictionaries({"int_value": st.integers(-(2**40), 2**40).map(str)}),
            st.fixed_dictionaries({"double_value": numbers}),
            st.fixed_dictionaries(
                {"string_value": st.none(), "int_value": st.integers(0, 9).map(str)}
            ),
        ),
    }
)
typed_record = st.fixed_dictionaries(
    {"event_name": st.sampled_from(["page_view", "purchase"])},
    optional={
        **kinds,
        "event_params": st.lists(ga4_param, max_size=5),
        "user_properties": st.lists(ga4_param, max_size=2),
        "ecommerce": st.fixed_dictionaries(
            {}, optional={"purchase_revenue": numbers, "tax_value": numbers, "id": text}
        ),
    },
).flatmap(lambda d: st.permutations(list(d.items())).map(dict))  # keys in any order


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(events=st.lists(typed_record, min_size=1, max_size=15), chunk_rows=st.integers(1, 8))
def test_generated_typed_records_take_the_block_path(tmp_path, events, chunk_rows):
    path = write_lines(tmp_path / "ga4.jsonl.gz", [dumps(e) for e in events])
    assert all(assert_same(path, chunk_rows=chunk_rows))


def test_key_value_columns_pivoted_in_groups(monkeypatch):
    """Many keys × rows are pivoted a group of keys at a time (bounded memory)."""
    from pipelines.ingest import jsonl

    monkeypatch.setattr(jsonl, "PIVOT_CELLS", 7)  # 7 cells: one key per group of 6 rows
    events = [
        {"event_params": [{"key": f"k{(i * j) % 5}", "value": {"int_value": str(i + j)}}]}
        for i in range(6)
        for j in range(1, 3)
    ][:6]
    lines = [dumps(e) + "\n" for e in events]
    columns = arrow_columns(lines)
    records = [flatten_record(e) for e in events]
    assert columns is not None and len(columns) > 2
    assert list(columns) == list(dict.fromkeys(k for r in records for k in r))
    for name, cells in columns.items():
        assert cells.to_pylist() == [r.get(name) for r in records]
