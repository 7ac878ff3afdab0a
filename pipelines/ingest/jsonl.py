"""JSON lines → string cells: the per-record flattening and its vectorised twin for blocks.

:func:`flatten_record` is the reference: one parsed JSON object → ``{column: text}``.
:func:`arrow_columns` produces the same cells for a whole block of lines at once (parsed by
``pyarrow.json``, flattened and pivoted with Arrow compute) or returns ``None`` when it cannot
promise the identical result, and the caller then runs :func:`flatten_record` line by line.

What the Arrow parse loses, and how it is recovered:

* *key order*: Arrow merges the keys of all lines; the per-record path orders columns by
  first appearance. The first line of each column is known from the Arrow data, and only
  those lines are flattened in Python to read the order (and to cross-check their cells);
* *number text*: ``19`` and ``19.0`` are the same double to Arrow but not to ``str()``.
  A line holding an integral double and an integer token (or a NaN / infinity) is
  flattened in Python;
* *lists* (other than GA4 key/value arrays) are kept as ``json.dumps`` text: those lines
  are flattened in Python too;
* *null vs absent*: a key holding ``null`` is a column of its own in the per-record path
  but looks absent to Arrow. A block with ``null`` anywhere but a GA4 value field
  (``{"string_value": null, "int_value": 42}``) goes to the per-record path;
* ISO strings that Arrow would read as timestamps are read again as strings.
"""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

# GA4 BigQuery export: repeated {key, value: {string_value | int_value | double_value}}
KEY_VALUE_PREFIX = {"event_params": "param", "user_properties": "user_property"}
GA4_VALUE_FIELDS = ("string_value", "int_value", "double_value", "float_value")
PIVOT_CELLS = 1 << 20  # cells of key/value columns built in one go (bounded memory)
THREADED_PARSE_BYTES = 4 << 20
# an integer token (a false match inside a string only costs a Python flatten of the line)
_INT_TOKEN = re.compile(r"[\[:,]\s*-?\d+\s*[,}\]]")


# ---------------------------------------------------------------------------- per record


def flatten_record(obj: dict, prefix: str = "") -> dict[str, str | None]:
    """Flatten nested JSON to string cells: ``a.b`` → ``a_b``; key/value arrays → columns.

    GA4's ``event_params`` become ``param_<key>`` (the Fivetran flattened names, e.g.
    ``param_ga_session_id``) and ``user_properties`` become ``user_property_<key>``; any
    other list is kept as a JSON string.
    """
    out: dict[str, str | None] = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten_record(value, f"{name}_"))
        elif isinstance(value, list) and value and all(_is_key_value(v) for v in value):
            head = KEY_VALUE_PREFIX.get(key, name)
            for item in value:
                out[f"{head}_{item['key']}"] = _scalar(_kv_value(item["value"]))
        elif isinstance(value, list):
            out[name] = json.dumps(value, ensure_ascii=False) if value else None
        else:
            out[name] = _scalar(value)
    return out


def _is_key_value(item) -> bool:
    return isinstance(item, dict) and "key" in item and "value" in item


def _kv_value(value):
    if isinstance(value, dict):
        for f in GA4_VALUE_FIELDS:
            if value.get(f) is not None:
                return value[f]
        return None
    return value


def _scalar(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


# ---------------------------------------------------------------------------- per block


class _Unsupported(Exception):
    """The block holds something the vectorised path does not reproduce exactly."""


def arrow_columns(lines: list[str]) -> dict[str, pa.Array] | None:
    """The columns that :func:`flatten_record` gives for these non-blank lines, in the
    per-record column order (first appearance), as string arrays; ``None`` when the block
    must be read line by line (invalid JSON, types changing between lines, ``null``s, ...).
    """
    try:
        data = "".join(lines).encode("utf-8")
        if b"\x00" in data:  # a raw NUL is invalid JSON: the per-line path reports the line
            return None
        nulls = data.count(b"null")  # a `null` inside a string only costs a fallback
        if nulls and nulls != _value_field_nulls(data):
            return None
        table = _parse(data)
        if table.num_rows != len(lines):  # two objects on one line
            return None
        if nulls:
            _check_value_fields(table.schema)
        block = _Block(len(lines))
        for name, column in zip(table.column_names, table.columns, strict=True):
            block.add_value(column.combine_chunks(), name, name)
        return block.finish(lines)
    except (_Unsupported, pa.ArrowException, ValueError):
        return None


def _value_field_nulls(data: bytes) -> int:
    """How many ``null``s are values of GA4 value fields (``"int_value":null``), or -1 when
    a key might merely end with such a name (``"x\\"int_value"``)."""
    n = 0
    for name in GA4_VALUE_FIELDS:
        quoted = b'"' + name.encode() + b'"'
        if b"\\" + quoted in data:
            return -1
        n += data.count(quoted + b":null") + data.count(quoted + b": null")
    return n


def _parse(data: bytes) -> pa.Table:
    # threads pay off for large blocks only (a demo GA4 file is 0.2-2 MB)
    read = pj.ReadOptions(use_threads=len(data) > THREADED_PARSE_BYTES)
    table = pj.read_json(io.BytesIO(data), read_options=read)
    schema = pa.schema([f.with_type(_untimestamp(f.type)) for f in table.schema])
    if schema != table.schema:  # ISO-looking strings: read them again as strings
        options = pj.ParseOptions(explicit_schema=schema)
        table = pj.read_json(io.BytesIO(data), read_options=read, parse_options=options)
    return table


def _untimestamp(t: pa.DataType) -> pa.DataType:
    if pa.types.is_timestamp(t):
        return pa.string()
    if pa.types.is_struct(t):
        return pa.struct([f.with_type(_untimestamp(f.type)) for f in t])
    if pa.types.is_list(t):
        return pa.list_(t.value_field.with_type(_untimestamp(t.value_type)))
    return t


def _check_value_fields(schema: pa.Schema) -> None:
    """A ``null`` was allowed because it sits in a GA4 value field: make sure such fields
    only exist inside the ``value`` of key/value items (elsewhere a null is a column)."""

    def walk(t: pa.DataType, in_value: bool) -> None:
        if pa.types.is_struct(t):
            kv = {"key", "value"} <= {f.name for f in t}
            for f in t:
                if f.name in GA4_VALUE_FIELDS and not in_value:
                    raise _Unsupported(f.name)
                walk(f.type, kv and f.name == "value")
        elif pa.types.is_list(t):
            walk(t.value_type, False)

    walk(pa.struct(list(schema)), False)


def _scalar_cells(arr: pa.Array) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """(text of each value as ``str()`` writes it, mask of values that need Python, mask of
    integral doubles: their text is right unless the line wrote them as integers)."""
    t = arr.type
    n = len(arr)
    none = np.zeros(n, dtype=bool)
    if pa.types.is_string(t):
        return arr, none, none
    if pa.types.is_int64(t) or pa.types.is_boolean(t):
        return arr.cast(pa.string()), none, none
    if pa.types.is_null(t):
        return pa.nulls(n, pa.string()), none, none
    if pa.types.is_float64(t):
        values = arr.to_numpy(zero_copy_only=False)
        valid = _valid(arr)
        finite = valid & np.isfinite(np.where(valid, values, 0))
        text = np.full(n, None, dtype=object)
        text[finite] = [repr(v) for v in values[finite].tolist()]
        # 19 and 19.0 are both 19.0 here: integral values may need Python (see finish)
        integral = finite & (values == np.floor(np.where(finite, values, 0)))
        return pa.array(text, pa.string()), valid & ~finite, integral
    raise _Unsupported(str(t))


class _Block:
    """The flattened columns of one parsed block, with the rows where each is present."""

    def __init__(self, n: int):
        self.n = n
        self.cells: dict[str, pa.Array] = {}
        self.present: dict[str, np.ndarray] = {}
        self.patch: dict[str, np.ndarray] = {}  # rows whose cell comes from flatten_record
        self.integral: dict[str, np.ndarray] = {}  # rows holding an integral double

    def add(
        self,
        name: str,
        present: np.ndarray,
        cells: pa.Array,
        patch: np.ndarray,
        integral: np.ndarray | None = None,
    ) -> None:
        if not present.any():
            return
        if name in self.cells:  # two paths flatten to one name: the last one would win
            raise _Unsupported(name)
        self.cells[name], self.present[name] = cells, present
        if patch.any():
            self.patch[name] = patch
        if integral is not None and integral.any():
            self.integral[name] = integral

    def add_value(self, arr: pa.Array, key: str, name: str) -> None:
        t = arr.type
        if pa.types.is_struct(t):
            for field, child in zip(t, arr.flatten(), strict=True):
                self.add_value(child, field.name, f"{name}_{field.name}")
        elif pa.types.is_list(t):
            self.add_list(arr, key, name)
        else:
            cells, inexact, integral = _scalar_cells(arr)
            self.add(name, _valid(arr), cells, inexact, integral)

    def add_list(self, arr: pa.ListArray, key: str, name: str) -> None:
        """A list is a JSON text column, or (when every item is ``{key, value}``) columns."""
        valid = _valid(arr)
        lengths = pc.fill_null(pc.list_value_length(arr), 0).to_numpy()
        kv_row = np.zeros(self.n, dtype=bool)
        item_type = arr.type.value_type
        if pa.types.is_struct(item_type) and {"key", "value"} <= {f.name for f in item_type}:
            items = pc.list_flatten(arr)
            parent = pc.list_parent_indices(arr).to_numpy()
            fields = dict(zip([f.name for f in item_type], items.flatten(), strict=True))
            kv_item = _valid(items) & _valid(fields["key"]) & _valid(fields["value"])
            not_kv = np.bincount(parent[~kv_item], minlength=self.n) > 0
            kv_row = valid & (lengths > 0) & ~not_kv
            if kv_row.any():
                selected = kv_row[parent]
                self.add_pivot(
                    KEY_VALUE_PREFIX.get(key, name),
                    fields["key"].filter(selected),
                    fields["value"].filter(selected),
                    parent[selected],
                )
        text_row = valid & ~kv_row  # json.dumps of the list, None for an empty one
        self.add(name, text_row, pa.nulls(self.n, pa.string()), text_row & (lengths > 0))

    def add_pivot(self, head: str, keys: pa.Array, values: pa.Array, rows: np.ndarray) -> None:
        """``{key: k, value: v}`` items → one column ``<head>_<k>`` per key."""
        if not (pa.types.is_string(keys.type) or pa.types.is_int64(keys.type)):
            raise _Unsupported(f"{head} keys of type {keys.type}")
        cells, inexact, integral = _kv_cells(values)
        encoded = keys.dictionary_encode()
        codes = encoded.indices.to_numpy()
        names = encoded.dictionary.to_pylist()
        step = max(1, PIVOT_CELLS // self.n)  # keys pivoted together (bounded memory)
        for start in range(0, len(names), step):
            part = (codes >= start) & (codes < start + step)
            shape = (len(names[start : start + step]), self.n)  # a row of cells per key
            items, key_of, row_of = np.flatnonzero(part), codes[part] - start, rows[part]
            pos = np.full(shape, -1, dtype=np.int64)
            pos[key_of, row_of] = items
            present = pos >= 0
            taken = cells.take(pa.array(pos.ravel(), mask=~present.ravel()))
            # a key twice in one list: the last one wins
            patch = np.bincount(key_of * self.n + row_of, minlength=pos.size).reshape(shape) > 1
            patch[key_of[inexact[part]], row_of[inexact[part]]] = True
            whole = np.zeros(shape, dtype=bool)
            whole[key_of[integral[part]], row_of[integral[part]]] = True
            for i, k in enumerate(names[start : start + step]):
                column = taken.slice(i * self.n, self.n)
                self.add(f"{head}_{k}", present[i], column, patch[i], whole[i])

    def finish(self, lines: list[str]) -> dict[str, pa.Array]:
        """Order the columns as the per-record path does and fill in the patched cells."""
        suspects = np.logical_or.reduce([*self.integral.values(), np.zeros(self.n, dtype=bool)])
        with_ints = np.zeros(self.n, dtype=bool)
        with_ints[[r for r in np.flatnonzero(suspects) if _INT_TOKEN.search(lines[r])]] = True
        for name, integral in self.integral.items():  # `19`, not `19.0`: str() writes "19"
            if (integral & with_ints).any():
                self.patch[name] = self.patch.get(name, np.zeros(self.n, dtype=bool))
                self.patch[name] |= integral & with_ints
        first = {name: int(np.argmax(p)) for name, p in self.present.items()}
        patched = {name: np.flatnonzero(p).tolist() for name, p in self.patch.items()}
        wanted = {*first.values()}.union(*patched.values())
        records = {r: flatten_record(json.loads(lines[r])) for r in wanted}
        order = list(dict.fromkeys(k for r in sorted(set(first.values())) for k in records[r]))
        if set(order) != set(self.cells):
            raise _Unsupported("columns differ")
        for r, record in records.items():  # the Arrow view of each such row must agree
            if set(record) != {c for c in order if self.present[c][r]}:
                raise _Unsupported(f"keys of line {r + 1}")
        for r in set(first.values()):
            for c, v in records[r].items():
                if c not in patched and self.cells[c][r].as_py() != v:
                    raise _Unsupported(f"cells of line {r + 1}")
        columns = {}
        for name in order:
            cells = self.cells[name]
            if name in patched:
                values = pa.array([records[r][name] for r in patched[name]], pa.string())
                cells = pc.replace_with_mask(cells, pa.array(self.patch[name]), values)
            columns[name] = cells
        return columns


def _kv_cells(values: pa.Array) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """The text of each GA4 value (its first non-null value field) and the Python mask."""
    if not pa.types.is_struct(values.type):
        return _scalar_cells(values)
    fields = dict(zip([f.name for f in values.type], values.flatten(), strict=True))
    parts = [_scalar_cells(fields[f]) for f in GA4_VALUE_FIELDS if f in fields]
    if not parts:
        return _scalar_cells(pa.nulls(len(values)))
    inexact = np.logical_or.reduce([p[1] for p in parts])
    integral = np.logical_or.reduce([p[2] for p in parts])
    return pc.coalesce(*[p[0] for p in parts]), inexact, integral


def _valid(arr: pa.Array) -> np.ndarray:
    """The validity of each value as a numpy bool array (most columns have no nulls)."""
    if arr.null_count == 0:
        return np.ones(len(arr), dtype=bool)
    if arr.null_count == len(arr):
        return np.zeros(len(arr), dtype=bool)
    return arr.is_valid().to_numpy(zero_copy_only=False)


# ---------------------------------------------------------------------------- Arrow tables


def flatten_arrow(table: pa.Table | pa.RecordBatch) -> dict[str, pa.Array]:
    """Nested Arrow columns (Parquet as BigQuery writes it) → the string cells that
    :func:`flatten_record` gives for the same records as JSON: structs → ``a_b``, GA4
    key/value lists (``event_params``, ``user_properties``) → ``param_<key>`` /
    ``user_property_<key>`` (first non-null value field; a key twice in a row: the last wins),
    any other list → JSON text. Columns come in schema order, pivoted keys in first-seen order.
    """
    out: dict[str, pa.Array] = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        _flatten_arrow(arr, name, name, out)
    return out


def _flatten_arrow(arr: pa.Array, key: str, name: str, out: dict[str, pa.Array]) -> None:
    t = arr.type
    if pa.types.is_struct(t):
        for field, child in zip(t, arr.flatten(), strict=True):  # parent nulls propagate
            _flatten_arrow(child, field.name, f"{name}_{field.name}", out)
    elif (pa.types.is_list(t) or pa.types.is_large_list(t)) and _is_kv_type(t.value_type):
        _pivot_arrow(arr, KEY_VALUE_PREFIX.get(key, name), out)
    else:
        out.setdefault(name, _arrow_text(arr))


def _is_kv_type(t: pa.DataType) -> bool:
    return pa.types.is_struct(t) and {"key", "value"} <= {f.name for f in t}


def _pivot_arrow(arr: pa.Array, head: str, out: dict[str, pa.Array]) -> None:
    n = len(arr)
    items = pc.list_flatten(arr)
    rows = pc.list_parent_indices(arr).to_numpy()
    fields = dict(zip([f.name for f in items.type], items.flatten(), strict=True))
    values = fields["value"]
    if pa.types.is_struct(values.type):
        parts = dict(zip([f.name for f in values.type], values.flatten(), strict=True))
        texts = [_arrow_text(parts[f]) for f in GA4_VALUE_FIELDS if f in parts]
        text = pc.coalesce(*texts) if texts else pa.nulls(len(values), pa.string())
    else:
        text = _arrow_text(values)
    encoded = fields["key"].cast(pa.string()).dictionary_encode()
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
    cells = text.to_numpy(zero_copy_only=False)
    order = np.unique(codes[codes >= 0], return_index=True)  # keys in first-seen order
    for code in order[0][np.argsort(order[1])]:
        mask = codes == code
        column = np.full(n, None, dtype=object)
        column[rows[mask]] = cells[mask]  # in item order: a repeated key's last value wins
        out.setdefault(f"{head}_{encoded.dictionary[code].as_py()}", pa.array(column, pa.string()))


def _arrow_text(arr: pa.Array) -> pa.Array:
    """A scalar column as the text ``str()`` of the JSON value would give (lists as JSON)."""
    t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return arr.cast(pa.string())
    if pa.types.is_boolean(t):
        return pc.if_else(arr, "true", "false")
    if pa.types.is_floating(t):
        values = arr.to_pylist()
        return pa.array([None if v is None else repr(float(v)) for v in values], pa.string())
    if pa.types.is_nested(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return pa.array(
            [
                None if v is None or v == [] else json.dumps(v, ensure_ascii=False, default=str)
                for v in arr.to_pylist()
            ],
            pa.string(),
        )
    return arr.cast(pa.string())
