"""Formats people have (issue 19.4): whitespace-separated and fixed-width text, semicolon CSV
with decimal commas, XLSX with several sheets and UTF-16, each read through a mapping option.

Every file is written here in the shape real downloads have; expected values come from an
independent read of the same bytes (pandas, openpyxl or plain slicing), never from the loader.
"""

from __future__ import annotations

import codecs
import gzip
import random
import re
import string
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pipelines.ingest import check_file, run_ingest
from pipelines.ingest.mapping import MappingError, parse_mapping
from pipelines.ingest.readers import DEFAULT_FOOTERS, ROW_COLUMN, ReaderOptions, SourceFile
from tests.ingest.conftest import land, quarantine, raw


def _loaded(report, n_files: int = 1):
    assert len(report.files) == n_files, report
    for f in report.files:
        assert f.status == "loaded", f.reason
        assert f.rows_read == f.rows_loaded + f.rows_quarantined
    return report.files


def _user_mapping(home: Path, name: str, text: str) -> None:
    (home / "mappings" / f"{name}.yaml").write_text(text)


# ---------------------------------------------------------------------------- CDNOW


def _cdnow_lines(seed: int = 7, customers: int = 40) -> list[str]:
    """Lines as CDNOW_master.txt writes them: right-aligned fields, runs of blanks,
    several lines for one customer and day (same CD count and amount included)."""
    rng = random.Random(seed)
    lines = []
    for cust in range(1, customers + 1):
        day = pd.Timestamp("1997-01-01") + pd.Timedelta(days=rng.randrange(0, 90))
        for _ in range(rng.randint(1, 4)):
            cds = rng.randint(1, 9)
            amount = round(cds * rng.uniform(9.0, 16.0), 2)
            lines.append(f" {cust:05d} {day:%Y%m%d} {cds:2d} {amount:6.2f}")
            if rng.random() < 0.25:  # the same purchase twice on one day: both are kept
                lines.append(lines[-1])
            day += pd.Timedelta(days=rng.randrange(0, 200))
    return lines


def test_cdnow_purchase_log_loads_through_the_shipped_mapping(home):
    lines = _cdnow_lines()
    path = land(home, "cdnow/CDNOW_master.txt", "\r\n".join(lines) + "\r\n")
    [f] = _loaded(run_ingest(home))
    assert (f.mapping, f.entity, f.rows_quarantined) == ("cdnow_purchases", "orders", 0)
    assert f.reader.startswith("whitespace")

    expected = pd.read_csv(
        path, sep=r"\s+", header=None, names=["customer", "date", "cds", "amount"], dtype=str
    )
    expected["order_id"] = expected["customer"] + "-" + expected["date"]
    expected["line"] = (expected.groupby(["customer", "date"]).cumcount() + 1).astype(str)
    df = raw(home, "orders").sort_values("_source_row").reset_index(drop=True)
    assert len(df) == len(expected) == len(lines)
    assert df["order_id"].tolist() == expected["order_id"].tolist()
    assert df["order_line_id"].tolist() == expected["line"].tolist()
    assert df["customer_id"].tolist() == expected["customer"].tolist()
    assert df["ordered_at"].tolist() == pd.to_datetime(expected["date"], format="%Y%m%d").tolist()
    assert df["quantity"].tolist() == expected["cds"].astype(float).tolist()
    assert df["net_amount"].tolist() == expected["amount"].astype(float).tolist()
    ratio = expected["amount"].astype(float) / expected["cds"].astype(float)
    assert df["unit_price"].round(9).tolist() == ratio.round(9).tolist()
    assert set(df["currency"]) == {"USD"}
    # (order_id, order_line_id) is a key even where a line repeats on the same day
    assert not df.duplicated(["order_id", "order_line_id"]).any()
    assert expected.duplicated(["customer", "date", "cds", "amount"]).any()


def test_cdnow_sample_file_has_its_own_mapping(home):
    body = " 00004     1 19970101  2  29.33\n 00018     2 19970101  2  29.73\n"
    land(home, "CDNOW_sample.txt", body + " 00018     2 19970108  1  bad\n")
    [f] = _loaded(run_ingest(home))
    assert (f.mapping, f.rows_loaded, f.rows_quarantined) == ("cdnow_purchases_sample", 2, 1)
    df = raw(home, "orders").sort_values("_source_row")
    assert df["customer_id"].tolist() == ["00004", "00018"]
    assert df["net_amount"].tolist() == [29.33, 29.73]
    [reason] = quarantine(home, "orders")["reason"].tolist()
    assert "net_amount" in reason and "bad" in reason


# ---------------------------------------------------------------------------- fixed width

FIXED_WIDTH_MAPPING = """
name: mainframe_orders
entity: orders
source_system: legacy
match:
  filename: ["ORDERS_*.DAT"]
reader:
  format: fixed_width
  names: [order_no, order_date, customer, amount_cents]
  widths: [8, 8, 6, 9]
columns:
  order_id: order_no
  order_line_id: {const: "1"}
  ordered_at: {from: order_date, format: "%Y%m%d"}
  customer_id: customer
  net_amount: {from: amount_cents, unit: cents}
  currency: {const: USD}
"""


def test_fixed_width_records_without_separators(home):
    """COBOL-style records: fields touch, numbers zero-padded, widths from the mapping."""
    _user_mapping(home, "mainframe", FIXED_WIDTH_MAPPING)
    records = [
        ("A0000001", "20240105", "C00017", "000012550"),
        ("A0000002", "20240105", "C00342", "000000099"),
        ("A0000003", "20240211", "C00017", "001200000"),
    ]
    text = "".join("".join(r) + "\n" for r in records)
    path = land(home, "legacy/ORDERS_202402.DAT", text)
    [f] = _loaded(run_ingest(home))
    assert f.mapping == "mainframe_orders"
    lines = path.read_text().splitlines()  # expected by plain slicing of each record
    cuts = [(0, 8), (8, 16), (16, 22), (22, 31)]
    fields = [[line[a:b] for a, b in cuts] for line in lines]
    df = raw(home, "orders").sort_values("_source_row")
    assert df["order_id"].tolist() == [r[0] for r in fields]
    assert df["customer_id"].tolist() == [r[2] for r in fields]
    assert df["net_amount"].tolist() == [int(r[3]) / 100 for r in fields]
    assert df["ordered_at"].tolist() == [pd.Timestamp(r[1]) for r in fields]


@pytest.mark.parametrize("widths", [None, [8, 12, 18, 12]], ids=["inferred", "widths"])
def test_fixed_width_report_with_header_title_and_total(home, widths):
    """A printed report: a title line, a header, blank-padded columns (values with spaces
    inside), a total line. Column extents from the mapping's widths, or inferred by
    pandas.read_fwf (a boundary where every line is blank, so values may not have a gap
    that is blank on every line: the inferred case keeps one-word products)."""
    layout = f", widths: {widths}" if widths else ""
    _user_mapping(
        home,
        "report",
        f"""
name: printed_orders
entity: orders
source_system: legacy
match: {{filename: ["*.prn"]}}
reader: {{format: fixed_width, skip_rows: 1{layout}}}
columns:
  order_id: ORDER
  order_line_id: {{const: "1"}}
  ordered_at: {{from: DATE, format: "%d.%m.%Y"}}
  product_name: PRODUCT
  net_amount: AMOUNT
""",
    )
    text = (
        "ORDERS REPORT  PERIOD 01.03.2024-31.03.2024\n"
        "ORDER   DATE        PRODUCT              AMOUNT\n"
        "1001    01.03.2024  Blue mug                12.50\n"
        f"1002    15.03.2024  {'Tea towel set' if widths else 'Teatowels':<18}    104.00\n"
        "1003    31.03.2024  Poster                   7.25\n"
        "Total                                      123.75\n"
    )
    path = land(home, "reports/march.prn", text)
    [f] = _loaded(run_ingest(home))
    assert f.rows_skipped == {"title rows above the header": 1, "footer/summary rows (Total)": 1}
    expected = pd.read_fwf(
        path, colspecs=[(0, 8), (8, 20), (20, 38), (38, 50)], skiprows=1, nrows=3, dtype=str
    )
    df = raw(home, "orders").sort_values("_source_row")
    assert df["order_id"].tolist() == expected["ORDER"].tolist()
    assert df["product_name"].tolist() == expected["PRODUCT"].tolist()
    assert df["net_amount"].tolist() == expected["AMOUNT"].astype(float).tolist()
    assert df["ordered_at"].tolist() == pd.to_datetime(expected["DATE"], dayfirst=True).tolist()


# ---------------------------------------------------------------------------- semicolon CSV


def test_semicolon_csv_with_decimal_commas_and_dot_thousands(home):
    """A German shop export as Excel saves it: cp1252, `;`, `1.234,56`, `31.12.2023`."""
    _user_mapping(
        home,
        "shop_de",
        """
name: shop_de
entity: orders
source_system: shop_de
match: {columns: [Bestellnummer, Bestelldatum, Betrag]}
columns:
  order_id: Bestellnummer
  order_line_id: {const: "1"}
  ordered_at: {from: Bestelldatum, format: ["%d.%m.%Y %H:%M", "%d.%m.%Y"]}
  product_name: Artikel
  quantity: Menge
  net_amount: Betrag
  currency: {from: Währung, default: EUR}
""",
    )
    text = (
        "Bestellnummer;Bestelldatum;Artikel;Menge;Betrag;Währung\r\n"
        '100231;31.12.2023 23:10;"Kaffeemühle; Edelstahl";1;"1.234,56";EUR\r\n'
        "100232;02.01.2024;Übertopf;3;12,5;EUR\r\n"
        "100233;02.01.2024 08:05;Gartenschlauch 25 m;2;-7,00;\r\n"
        '100234;03.01.2024;Großpackung;1.000;"12.345.678,9";EUR\r\n'
    )
    path = land(home, "export/Bestellungen.csv", text, "cp1252")
    [f] = _loaded(run_ingest(home))
    assert "delimiter ';'" in f.reader and f.rows_quarantined == 0
    expected = pd.read_csv(
        path, sep=";", decimal=",", thousands=".", encoding="cp1252", dtype={"Bestellnummer": str}
    )
    df = raw(home, "orders").sort_values("_source_row")
    assert df["order_id"].tolist() == expected["Bestellnummer"].tolist()
    assert df["net_amount"].tolist() == expected["Betrag"].astype(float).tolist()
    assert df["quantity"].tolist() == expected["Menge"].astype(float).tolist()  # 1.000 = 1000
    assert df["product_name"].tolist()[0] == "Kaffeemühle; Edelstahl"
    assert (
        df["ordered_at"].tolist()
        == pd.to_datetime(expected["Bestelldatum"], format="mixed", dayfirst=True).tolist()
    )
    assert df["currency"].tolist() == ["EUR"] * 4


# ---------------------------------------------------------------------------- XLSX

RETAIL_HEADER = [
    "Invoice",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "Price",
    "Customer ID",
    "Country",
]


def _retail_workbook(path: Path) -> dict[str, int]:
    """Online Retail II as UCI ships it (one sheet per year), plus a notes sheet in front
    and a pivot sheet at the end, as people add them. Returns data rows per year sheet."""
    rng = random.Random(3)
    wb = openpyxl.Workbook()
    notes = wb.active
    notes.title = "Read me"
    notes.append(["Online Retail II, exported for the finance team"])
    notes.append(["Source: UCI", None, "sheet 2 and 3"])  # a two-cell row is no header
    sizes = {}
    for year, n in (("Year 2009-2010", 6), ("Year 2010-2011", 4)):
        ws = wb.create_sheet(year)
        ws.append(RETAIL_HEADER)
        start = pd.Timestamp("2009-12-01 07:45") if "2009" in year else pd.Timestamp("2010-12-01")
        for i in range(n):
            ws.append(
                [
                    f"{489434 + i if '2009' in year else 536365 + i}",
                    f"2{rng.randint(1000, 9999)}",
                    "WHITE HANGING HEART T-LIGHT HOLDER",
                    rng.randint(1, 24),
                    (start + pd.Timedelta(hours=i)).to_pydatetime(),
                    round(rng.uniform(0.5, 9.9), 2),
                    float(rng.randint(12346, 18287)),
                    "United Kingdom",
                ]
            )
        sizes[year] = n
    pivot = wb.create_sheet("Pivot")
    pivot.append(["Country", "Revenue"])
    pivot.append(["United Kingdom", 123.4])
    wb.save(path)
    return sizes


def test_xlsx_default_reads_every_sheet_with_the_table_header(home):
    path = home / "landing" / "online_retail_II.xlsx"
    sizes = _retail_workbook(path)
    [f] = _loaded(run_ingest(home))
    assert f.mapping == "online_retail_ii"
    assert "sheets Year 2009-2010, Year 2010-2011" in f.reader
    sheets = pd.read_excel(path, sheet_name=list(sizes), dtype={"Invoice": str})
    expected = pd.concat(sheets.values(), ignore_index=True)
    df = raw(home, "orders").sort_values("_source_row")
    assert f.rows_loaded == len(expected) == sum(sizes.values())
    assert df["order_id"].tolist() == expected["Invoice"].tolist()
    assert df["quantity"].tolist() == expected["Quantity"].astype(float).tolist()
    assert df["customer_id"].tolist() == expected["Customer ID"].astype(int).astype(str).tolist()
    # rows that are not records are counted per sheet, never silently dropped
    assert f.rows_skipped == {
        "rows of sheet 'Read me' (its header differs from sheet 'Year 2009-2010')": 2,
        "header and title rows of sheet 'Year 2010-2011'": 1,
        "rows of sheet 'Pivot' (its header differs from sheet 'Year 2009-2010')": 2,
    }


def test_xlsx_sheet_option_picks_sheets_by_name_or_glob(home):
    path = home / "landing" / "retail_export.xlsx"
    sizes = _retail_workbook(path)
    _user_mapping(
        home,
        "retail_2011",
        """
name: retail_2011_only
entity: orders
source_system: online_retail_ii
priority: 5
match: {filename: ["retail_export*.xlsx"], columns: [Invoice, StockCode]}
reader: {sheet: ["*2010-2011"]}
columns:
  order_id: Invoice
  order_line_id: StockCode
  ordered_at: {from: InvoiceDate, format: "%Y-%m-%d %H:%M:%S"}
  quantity: Quantity
""",
    )
    [f] = _loaded(run_ingest(home))
    assert f.mapping == "retail_2011_only"
    expected = pd.read_excel(path, sheet_name="Year 2010-2011", dtype={"Invoice": str})
    df = raw(home, "orders").sort_values("_source_row")
    assert f.rows_loaded == len(expected) == sizes["Year 2010-2011"]
    assert df["order_id"].tolist() == expected["Invoice"].tolist()
    assert df["ordered_at"].tolist() == expected["InvoiceDate"].tolist()
    skipped = f.rows_skipped["rows of sheet 'Year 2009-2010' (not picked by reader.sheet)"]
    assert skipped == sizes["Year 2009-2010"] + 1  # its header and its rows


def test_xlsx_unknown_sheet_rejects_the_file_naming_the_sheets(home):
    _retail_workbook(home / "landing" / "retail_export.xlsx")
    _user_mapping(
        home,
        "typo",
        """
name: retail_typo
entity: orders
source_system: online_retail_ii
priority: 5
match: {filename: ["retail_export*.xlsx"]}
reader: {sheet: "Year 2011"}
columns: {order_id: Invoice, order_line_id: StockCode, ordered_at: InvoiceDate}
""",
    )
    [f] = run_ingest(home).files
    assert f.status == "rejected"
    assert "reader.sheet 'Year 2011': no such sheet" in f.reason
    assert "'Year 2009-2010', 'Year 2010-2011'" in f.reason


# ---------------------------------------------------------------------------- UTF-16


@pytest.mark.parametrize(
    ("codec", "bom"),
    [("utf-16-le", codecs.BOM_UTF16_LE), ("utf-16-be", codecs.BOM_UTF16_BE)],
    ids=["le", "be"],
)
@pytest.mark.parametrize("declared", [False, True], ids=["detected", "mapping-option"])
def test_utf16_tab_separated_with_bom(home, codec, bom, declared):
    """Excel's "Unicode text": UTF-16 with a BOM, tabs, CRLF, non-Latin text."""
    reader = 'reader: {encoding: utf-16, delimiter: "\\t"}' if declared else ""
    _user_mapping(
        home,
        "unicode",
        f"""
name: unicode_orders
entity: orders
source_system: excel
match: {{columns: [Order, Date, Amount]}}
{reader}
columns:
  order_id: Order
  order_line_id: {{const: "1"}}
  ordered_at: {{from: Date, format: "%Y-%m-%d"}}
  product_name: Item
  net_amount: Amount
""",
    )
    text = (
        "Order\tDate\tItem\tAmount\r\n"
        "J-1\t2024-04-01\t抹茶セット\t3,200.00\r\n"
        "J-2\t2024-04-02\tCafé crème\t12.5\r\n"
        "J-3\t2024-04-03\tЧай\t-1.25\r\n"
    )
    path = land(home, "unicode.txt", bom + text.encode(codec))
    [f] = _loaded(run_ingest(home))
    assert "utf-16" in f.reader and "delimiter '\\t'" in f.reader
    expected = pd.read_csv(path, sep="\t", encoding="utf-16", thousands=",")
    df = raw(home, "orders").sort_values("_source_row")
    assert df["order_id"].tolist() == expected["Order"].tolist()
    assert df["product_name"].tolist() == expected["Item"].tolist()
    assert df["net_amount"].tolist() == expected["Amount"].astype(float).tolist()


# ---------------------------------------------------------------------------- options


@pytest.mark.parametrize(
    ("reader", "words"),
    [
        ({"format": "fwf"}, ["reader", "fwf", "fixed_width"]),
        ({"widths": [3, 4]}, ["reader.widths", "fixed_width"]),
        ({"format": "fixed_width", "widths": [3, 0]}, ["reader.widths", "positive"]),
        ({"format": "fixed_width", "names": ["a"], "widths": [1, 2]}, ["1 names", "2 widths"]),
        ({"names": ["a", "A"]}, ["reader.names", "duplicate"]),
        ({"names": "a b"}, ["reader.names", "list"]),
        ({"sheet": ["Orders", 3]}, ["reader.sheet"]),
        ({"format": "csv", "sheet": "Orders"}, ["reader.sheet", "XLSX"]),
        ({"format": "whitespace", "delimiter": ";"}, ["reader.delimiter", "whitespace"]),
    ],
)
def test_bad_layout_options_name_the_key(reader, words):
    doc = yaml.safe_load(FIXED_WIDTH_MAPPING)
    doc["reader"] = reader
    with pytest.raises(MappingError) as err:
        parse_mapping(doc, Path("mainframe.yaml"))
    message = str(err.value)
    assert "mainframe.yaml" in message and "\n" not in message
    for word in words:
        assert word in message


def test_mappings_check_reads_a_headerless_file_with_the_mapping_names(home):
    path = land(home, "CDNOW_master.txt", " 00001 19970101  1  11.77\n 00002 19970112  1  x\n")
    result = check_file(path, home)
    assert result.ok, result.error
    assert (result.mapping, result.rows_read, result.rows_loaded) == ("cdnow_purchases", 2, 1)
    assert result.columns["customer_id"] == ["customer"]
    assert "whitespace" in str(result)


# ---------------------------------------------------------------------------- property

cell = st.text(alphabet=string.ascii_letters + string.digits + ".,-/:$%'", min_size=1, max_size=9)
FOOTER = re.compile("|".join(DEFAULT_FOOTERS), re.IGNORECASE)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(st.lists(cell, min_size=3, max_size=3), min_size=1, max_size=30),
    gaps=st.lists(st.integers(1, 4), min_size=4, max_size=4),
    right=st.booleans(),
)
def test_whitespace_and_fixed_width_text_read_back_every_cell(tmp_path_factory, rows, gaps, right):
    """Any table of blank-free cells, written with runs of blanks or padded to fixed widths
    (left- or right-aligned), reads back cell for cell, in order, as strings."""
    assume(not any(FOOTER.match(r[0]) for r in rows))  # `Total` rows are footers by design
    folder = tmp_path_factory.mktemp("layouts")
    loose = folder / "loose.txt"
    loose.write_text(
        "".join(
            " " * gaps[0] + "".join(c + " " * g for c, g in zip(r, gaps[1:], strict=True)) + "\n"
            for r in rows
        )
    )
    width = 12
    fixed = folder / "fixed.txt"
    fixed.write_text(
        "".join(
            "".join(c.rjust(width) if right else c.ljust(width) for c in r) + "\n" for r in rows
        )
    )
    names = ["a", "b", "c"]
    layouts = [
        (loose, {"format": "whitespace", "names": names}),
        (fixed, {"format": "fixed_width", "names": names, "widths": [width] * 3}),
    ]
    for path, opts in layouts:
        src = SourceFile(path, ReaderOptions.from_dict(opts))
        got = []
        for chunk in src.chunks():
            assert not chunk.malformed
            got += chunk.table.drop_columns([ROW_COLUMN]).to_pylist()
        assert got == [dict(zip(names, r, strict=True)) for r in rows], opts["format"]


def test_gzipped_cdnow_log_and_a_headerless_workbook(home):
    """The CDNOW log as a .gz download, and an XLSX of the same records with no header row
    read with reader.names (with names and no reader.sheet, every sheet is read)."""
    lines = _cdnow_lines(seed=11, customers=5)
    land(home, "CDNOW_master.txt.gz", gzip.compress(("\n".join(lines) + "\n").encode()))
    _user_mapping(
        home,
        "headerless_xlsx",
        """
name: purchases_workbook
entity: orders
source_system: cdnow
match: {filename: ["purchases*.xlsx"]}
reader: {names: [customer, date, cds, amount]}
ordinals: {_line_seq: [customer, date]}
columns:
  order_id: {expr: "src.customer || '-' || src.\\"date\\""}
  order_line_id: {expr: "src._line_seq"}
  customer_id: customer
  ordered_at: {from: date, format: "%Y%m%d"}
  quantity: cds
  net_amount: amount
""",
    )
    wb = openpyxl.Workbook()
    split = [lines[:4], lines[4:]]
    for i, part in enumerate(split):
        ws = wb.active if i == 0 else wb.create_sheet(f"part {i + 1}")
        for line in part:
            cust, day, cds, amount = line.split()
            ws.append([cust, day, int(cds), float(amount)])
    wb.save(home / "landing" / "purchases.xlsx")
    files = {f.file: f for f in _loaded(run_ingest(home), n_files=2)}
    gz, book = files["CDNOW_master.txt.gz"], files["purchases.xlsx"]
    assert (gz.mapping, gz.rows_loaded) == ("cdnow_purchases", len(lines))
    assert "gzip" in gz.reader
    assert (book.mapping, book.rows_loaded, book.rows_skipped) == (
        "purchases_workbook",
        len(lines),
        {},
    )
    df = raw(home, "orders")
    for source in ("CDNOW_master.txt.gz", "purchases.xlsx"):
        part = df[df["_source_file"] == source].sort_values("_source_row")
        assert part["customer_id"].tolist() == [ln.split()[0] for ln in lines]
        assert part["net_amount"].tolist() == [float(ln.split()[3]) for ln in lines]
