"""Reading transaction, customer and feedback files (CSV or Parquet) into DuckDB via Ibis.

Why DuckDB: a 10M-row file is parsed once, in parallel, into a columnar table; every later
aggregation is an Ibis expression over that table. Column roles (customer, date, amount, ...)
are mapped explicitly or recognised from common header names; anything that cannot be read is
reported by name: the missing or ambiguous column, unparseable dates with row numbers and
examples, duplicate rows, empty files. Negative amounts are kept and treated as returns.

The normalised transactions table has the columns:
  customer_id (as in the file), occurred_at (timestamp, naive = UTC), amount (float64, currency
  units; negative = return), and when present order_id (string), quantity (float64),
  is_member (boolean).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ibis
import pandas as pd

from loyalist.analytics.errors import AnalyticsInputError

__all__ = [
    "ROLE_SYNONYMS", "InputReport", "LoadedTransactions", "detect_columns", "load_transactions",
    "load_customers", "load_feedback", "load_events", "normalise_table", "customer_column_name",
]

# Header names recognised per role, compared after lower-casing and dropping non-alphanumerics.
ROLE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "customer": ("customerid", "customer", "custid", "clientid", "client", "userid", "memberid",
                 "accountid", "customerno", "customernumber", "buyerid", "shopperid"),
    "date": ("date", "occurredat", "orderdate", "invoicedate", "transactiondate", "purchasedate",
             "timestamp", "datetime", "createdat", "time", "ts", "yyyymmdd", "orderedat", "purchasedat"),
    "amount": ("amount", "value", "revenue", "sales", "total", "netamount", "ordertotal", "totalamount",
               "spend", "price", "dollars", "monetary", "ordervalue", "grandtotal"),
    "order": ("orderid", "orderref", "order", "invoice", "invoiceno", "invoiceid", "transactionid",
              "receipt", "receiptid", "ordernumber", "txnid"),
    "quantity": ("quantity", "qty", "units", "items", "numberofcds", "count"),
    "member": ("ismember", "member", "memberflag", "loyaltymember", "member_flag", "inprogram", "enrolled"),
}
REQUIRED_ROLES = ("customer", "date", "amount")
OPTION_FOR_ROLE = {"customer": "--customer-col", "date": "--date-col", "amount": "--value-col",
                   "order": "--order-col", "quantity": "--quantity-col", "member": "--member-col"}
DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y%m%d",
                "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%Y/%m/%d",
                "%d-%m-%Y")


@dataclass
class InputReport:
    """What was read and what looked wrong (shown in the report and the JSON summary)."""

    source: str
    rows: int = 0
    columns: dict[str, str] = field(default_factory=dict)
    date_format: str | None = None
    duplicate_rows: int = 0
    duplicate_examples: list[dict[str, Any]] = field(default_factory=list)
    return_rows: int = 0
    return_amount: float = 0.0
    null_rows_dropped: int = 0
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


@dataclass
class LoadedTransactions:
    """A normalised transactions table on a DuckDB (or other Ibis) backend plus its input report."""

    table: ibis.Table
    report: InputReport
    backend: Any
    has_order: bool = False
    has_quantity: bool = False
    has_member: bool = False


class _Rows:
    def __init__(self, rows: list[Any]) -> None:
        self._rows = rows

    def fetchall(self) -> list[Any]:
        return self._rows

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None


class _Raw:
    """The DuckDB connection, fetching every result at once (DuckDB refuses interleaved results)."""

    def __init__(self, con: Any) -> None:
        self.con = con

    def execute(self, sql: str) -> _Rows:
        return _Rows(self.con.execute(sql).fetchall())

    def register(self, name: str, frame: Any) -> None:
        self.con.register(name, frame)


def _key(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


def detect_columns(columns: list[str], explicit: dict[str, str | None], *, source: str) -> dict[str, str]:
    """Map roles to column names: explicit names win, else header synonyms; names ambiguity."""
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for role, name in explicit.items():
        if name:
            if name not in columns:
                raise AnalyticsInputError(
                    f"{source}: column {name!r} given by {OPTION_FOR_ROLE[role]} does not exist; "
                    f"columns are: {', '.join(columns)}", column=name)
            mapping[role] = name
            used.add(name)
    for role, synonyms in ROLE_SYNONYMS.items():
        if role in mapping:
            continue
        for synonym in synonyms:  # earlier synonyms are stronger evidence
            hits = [c for c in columns if _key(c) == synonym and c not in used]
            if len(hits) > 1:
                raise AnalyticsInputError(
                    f"{source}: ambiguous {role} column: {', '.join(hits)} all look like one; "
                    f"choose with {OPTION_FOR_ROLE[role]}", column=hits[0])
            if hits:
                mapping[role] = hits[0]
                used.add(hits[0])
                break
    missing = [r for r in REQUIRED_ROLES if r not in mapping]
    if missing:
        hints = "; ".join(f"{r} ({OPTION_FOR_ROLE[r]}, recognised names: {', '.join(ROLE_SYNONYMS[r][:5])}, ...)"
                          for r in missing)
        raise AnalyticsInputError(
            f"{source}: missing column for {hints}. Columns present: {', '.join(columns)}")
    return mapping


def _is_whitespace_separated(path: Path) -> bool:
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        lines = [fh.readline() for _ in range(5)]
    lines = [ln for ln in lines if ln.strip()]
    if not lines:
        return False
    return all(not any(d in ln for d in ",;\t|") and len(ln.split()) > 1 for ln in lines)


def _register_file(con: Any, path: Path, names: list[str] | None) -> tuple[str, list[str]]:
    """Create a DuckDB view `raw_input` over the file and return its name and columns.

    CSV columns are read as text and converted by us: DuckDB's sniffer guesses date formats from a
    sample and then fails (or silently swaps day and month) on the rest; we report instead."""
    if not path.exists():
        raise AnalyticsInputError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise AnalyticsInputError(f"{path}: the file is empty")
    raw = _Raw(con.con)
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        raw.execute(f"CREATE OR REPLACE VIEW raw_input AS SELECT * FROM read_parquet('{_q(path)}')")
    elif _is_whitespace_separated(path):
        frame = pd.read_csv(path, sep=r"\s+", header=None if names else "infer", names=names,
                            dtype=str, engine="c")
        raw.register("raw_input_df", frame)
        raw.execute("CREATE OR REPLACE VIEW raw_input AS SELECT * FROM raw_input_df")
    else:
        opts = "header=false, " if names else ""
        if names:
            opts += "names=[" + ", ".join(f"'{n}'" for n in names) + "], "
        raw.execute(f"CREATE OR REPLACE VIEW raw_input AS SELECT * FROM read_csv('{_q(path)}', {opts}"
                    "auto_detect=true, all_varchar=true, sample_size=20480)")
    cols = [r[0] for r in raw.execute("DESCRIBE raw_input").fetchall()]
    return "raw_input", cols


def _q(path: Path | str) -> str:
    return str(path).replace("'", "''")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _date_expression(raw: Any, view: str, col: str, source: str, date_format: str | None,
                     report: InputReport) -> str:
    """SQL turning column `col` into a TIMESTAMP; raises naming unparseable rows."""
    ctype = dict((r[0], r[1]) for r in raw.execute(f"DESCRIBE {view}").fetchall())[col].upper()
    c = _ident(col)
    if ctype.startswith("TIMESTAMP WITH TIME ZONE"):
        report.date_format = "timestamp with time zone (converted to UTC)"
        return f"timezone('UTC', {c})"
    if ctype.startswith(("TIMESTAMP", "DATE")):
        report.date_format = ctype.lower()
        return f"CAST({c} AS TIMESTAMP)"
    text = f"CAST({c} AS VARCHAR)"
    if date_format:
        candidates = [date_format]
    else:
        candidates = list(DATE_FORMATS)
    counts = raw.execute(
        "SELECT " + ", ".join(f"count(try_strptime(trim({text}), '{f}'))" for f in candidates)
        + f", count(TRY_CAST(trim({text}) AS TIMESTAMP)), count({c}) FROM {view}").fetchone()
    non_null = counts[-1]
    best = max(range(len(candidates)), key=lambda i: counts[i])
    iso_count = counts[len(candidates)]
    if not date_format and iso_count >= counts[best] and iso_count > 0:
        expr, label, ok = f"TRY_CAST(trim({text}) AS TIMESTAMP)", "ISO 8601", iso_count
    else:
        fmt = candidates[best]
        expr, label, ok = f"try_strptime(trim({text}), '{fmt}')", fmt, counts[best]
        if not date_format:
            rivals = [candidates[i] for i in range(len(candidates)) if i != best and counts[i] == ok
                      and set(candidates[i]) != set(fmt)]
            ambiguous = [r for r in rivals if r.replace("%d", "X").replace("%m", "%d").replace("X", "%m") == fmt]
            if ambiguous and ok:
                report.warnings.append(
                    f"dates in {col!r} fit both {fmt} and {ambiguous[0]}; used {fmt} (set --date-format to choose)")
    if ok < non_null:
        bad = raw.execute(
            f"SELECT rn, v FROM (SELECT row_number() OVER () AS rn, {text} AS v, {expr} AS p FROM {view}) "
            "WHERE v IS NOT NULL AND p IS NULL ORDER BY rn LIMIT 5").fetchall()
        rows = [int(r[0]) for r in bad]
        examples = ", ".join(f"row {r[0]}: {r[1]!r}" for r in bad)
        raise AnalyticsInputError(
            f"{source}: {non_null - ok} value(s) in date column {col!r} cannot be read as dates "
            f"(best format {label} read {ok} of {non_null}); first: {examples}. "
            "Rows are counted from 1 after the header; set --date-format to the format used.",
            column=col, rows=rows)
    report.date_format = label
    return expr


def _amount_expression(raw: Any, view: str, col: str, source: str) -> str:
    ctype = dict((r[0], r[1]) for r in raw.execute(f"DESCRIBE {view}").fetchall())[col].upper()
    c = _ident(col)
    if any(ctype.startswith(t) for t in ("DOUBLE", "FLOAT", "DECIMAL", "INT", "BIGINT", "SMALLINT",
                                          "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER", "REAL")):
        return f"CAST({c} AS DOUBLE)"
    plain = f"TRY_CAST(trim(CAST({c} AS VARCHAR)) AS DOUBLE)"
    failed = raw.execute(f"SELECT count(*) FROM {view} WHERE {c} IS NOT NULL AND {plain} IS NULL").fetchone()[0]
    if not failed:
        return plain
    cleaned = (f"TRY_CAST(regexp_replace(replace(trim(CAST({c} AS VARCHAR)), ',', ''), '[^0-9.eE+-]', '', 'g') "
               "AS DOUBLE)")
    bad = raw.execute(
        f"SELECT rn, v FROM (SELECT row_number() OVER () AS rn, CAST({c} AS VARCHAR) AS v, {cleaned} AS p "
        f"FROM {view}) WHERE v IS NOT NULL AND p IS NULL ORDER BY rn LIMIT 5").fetchall()
    if bad:
        examples = ", ".join(f"row {r[0]}: {r[1]!r}" for r in bad)
        raise AnalyticsInputError(f"{source}: amount column {col!r} has values that are not numbers; first: {examples}",
                                  column=col, rows=[int(r[0]) for r in bad])
    return cleaned


def _member_expression(col: str) -> str:
    c = _ident(col)
    return (f"CASE WHEN lower(trim(CAST({c} AS VARCHAR))) IN ('1','true','t','yes','y','member') THEN TRUE "
            f"WHEN {c} IS NULL THEN NULL ELSE FALSE END")


def load_transactions(
    path: str | Path,
    *,
    customer_col: str | None = None,
    date_col: str | None = None,
    value_col: str | None = None,
    order_col: str | None = None,
    quantity_col: str | None = None,
    member_col: str | None = None,
    names: list[str] | None = None,
    date_format: str | None = None,
    con: Any = None,
    threads: int | None = None,
    memory_limit: str | None = None,
) -> LoadedTransactions:
    """Read a CSV/Parquet transaction file into the DuckDB table `transactions` (normalised).

    `names` gives column names for a file without a header row. Raises AnalyticsInputError for
    a missing/empty file, missing or ambiguous columns, unparseable dates or amounts.
    """
    path = Path(path)
    con = con or ibis.duckdb.connect()
    if threads:
        _Raw(con.con).execute(f"SET threads={int(threads)}")
    if memory_limit:
        _Raw(con.con).execute(f"SET memory_limit='{memory_limit}'")
    source = str(path)
    view, columns = _register_file(con, path, names)
    report = InputReport(source=source)
    mapping = detect_columns(columns, {"customer": customer_col, "date": date_col, "amount": value_col,
                                       "order": order_col, "quantity": quantity_col, "member": member_col},
                             source=source)
    report.columns = dict(mapping)
    raw = _Raw(con.con)
    total = raw.execute(f"SELECT count(*) FROM {view}").fetchone()[0]
    if total == 0:
        raise AnalyticsInputError(f"{source}: the file has a header but no rows")
    date_sql = _date_expression(raw, view, mapping["date"], source, date_format, report)
    amount_sql = _amount_expression(raw, view, mapping["amount"], source)
    select = [f"{_ident(mapping['customer'])} AS customer_id", f"{date_sql} AS occurred_at",
              f"{amount_sql} AS amount"]
    if "order" in mapping:
        select.append(f"CAST({_ident(mapping['order'])} AS VARCHAR) AS order_id")
    if "quantity" in mapping:
        select.append(f"TRY_CAST({_ident(mapping['quantity'])} AS DOUBLE) AS quantity")
    if "member" in mapping:
        select.append(f"{_member_expression(mapping['member'])} AS is_member")
    raw.execute(f"CREATE OR REPLACE TABLE transactions_all AS SELECT {', '.join(select)} FROM {view}")
    nulls = raw.execute("SELECT count(*) FROM transactions_all WHERE customer_id IS NULL OR occurred_at IS NULL "
                        "OR amount IS NULL").fetchone()[0]
    if nulls:
        report.null_rows_dropped = int(nulls)
        report.warnings.append(f"{nulls} row(s) without customer, date or amount were left out")
    raw.execute("CREATE OR REPLACE TABLE transactions AS SELECT * FROM transactions_all WHERE customer_id IS NOT NULL "
                "AND occurred_at IS NOT NULL AND amount IS NOT NULL")
    raw.execute("DROP TABLE transactions_all")
    report.rows = int(total - nulls)
    if report.rows == 0:
        raise AnalyticsInputError(f"{source}: no usable rows (every row lacks a customer, date or amount)")
    _inspect_quality(raw, report)
    table = con.table("transactions")
    return LoadedTransactions(table=table, report=report, backend=con, has_order="order" in mapping,
                              has_quantity="quantity" in mapping, has_member="member" in mapping)


def _inspect_quality(raw: Any, report: InputReport) -> None:
    """Count duplicates and returns; duplicates are reported, not removed (they may be real)."""
    dup = raw.execute("SELECT count(*) - (SELECT count(*) FROM (SELECT DISTINCT * FROM transactions)) "
                      "FROM transactions").fetchone()[0]
    report.duplicate_rows = int(dup)
    if dup:
        cols = [r[0] for r in raw.execute("DESCRIBE transactions").fetchall()]
        grouped = ", ".join(_ident(c) for c in cols)
        rows = raw.execute(f"SELECT {grouped}, count(*) AS n FROM transactions GROUP BY ALL HAVING count(*) > 1 "
                           "ORDER BY n DESC LIMIT 3").fetchall()
        report.duplicate_examples = [
            {k: (str(v) if not isinstance(v, int | float | bool) else v) for k, v in zip([*cols, "copies"], r,
                                                                                         strict=True)}
            for r in rows]
        report.warnings.append(f"{dup} duplicate row(s) (identical in every column) were found and kept")
    ret = raw.execute("SELECT count(*), coalesce(sum(amount), 0) FROM transactions WHERE amount < 0").fetchone()
    report.return_rows, report.return_amount = int(ret[0]), float(ret[1])
    if ret[0]:
        report.warnings.append(f"{ret[0]} row(s) with a negative amount were treated as returns")


def normalise_table(table: ibis.Table, *, customer_col: str, date_col: str, value_col: str) -> ibis.Table:
    """Rename/cast an arbitrary Ibis table (e.g. on SQLite/PostgreSQL) to the normalised columns."""
    for col in (customer_col, date_col, value_col):
        if col not in table.columns:
            raise AnalyticsInputError(f"column {col!r} not in table (columns: {', '.join(table.columns)})", column=col)
    return table.select(
        customer_id=table[customer_col],
        occurred_at=table[date_col].cast("timestamp"),
        amount=table[value_col].cast("float64"),
    )


def _read_small(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise AnalyticsInputError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise AnalyticsInputError(f"{path}: the file is empty")
    if path.suffix.lower() in (".parquet", ".pq"):
        frame = pd.read_parquet(path)
    elif _is_whitespace_separated(path):
        frame = pd.read_csv(path, sep=r"\s+")
    else:
        frame = pd.read_csv(path, sep=None, engine="python")
    if frame.empty:
        raise AnalyticsInputError(f"{path}: the file has a header but no rows")
    return frame


def customer_column_name(header: str) -> str:
    """The name `load_customers` gives a customers-file column: `is_member` for the member flag,
    else the header lower-cased without punctuation ("Points Balance" -> "pointsbalance"), so
    options such as --static-columns accept the header as written in the file."""
    if header == "is_member" or _key(header) in ROLE_SYNONYMS["member"]:
        return "is_member"
    return _key(header) or header


def load_customers(path: str | Path, *, customer_col: str | None = None, member_col: str | None = None) -> pd.DataFrame:
    """Customer attributes: returns customer_id, is_member (if any) and every numeric column.

    Numeric columns (complaints, points balance, engagement, ...) become churn-model features.
    """
    path = Path(path)
    frame = _read_small(path)
    cols = list(frame.columns)
    explicit = {"customer": customer_col, "member": member_col}
    mapping: dict[str, str] = {}
    for role, name in explicit.items():
        if name:
            if name not in cols:
                raise AnalyticsInputError(f"{path}: column {name!r} does not exist; columns are: {', '.join(cols)}")
            mapping[role] = name
    for role in ("customer", "member"):
        if role not in mapping:
            hits = [c for c in cols if _key(c) in ROLE_SYNONYMS[role]]
            if len(hits) > 1 and role == "customer":
                hits = [h for h in hits if _key(h) == ROLE_SYNONYMS[role][0]] or hits
            if len(hits) > 1:
                raise AnalyticsInputError(f"{path}: ambiguous {role} column: {', '.join(hits)}")
            if hits:
                mapping[role] = hits[0]
    if "customer" not in mapping:
        raise AnalyticsInputError(f"{path}: missing customer id column (--customer-col); columns: {', '.join(cols)}")
    out = pd.DataFrame({"customer_id": frame[mapping["customer"]]})
    if "member" in mapping:
        out["is_member"] = frame[mapping["member"]].astype(str).str.strip().str.lower().isin(
            ["1", "true", "t", "yes", "y", "member", "1.0"])
    for c in cols:
        if c in mapping.values():
            continue
        if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c]):
            out[_key(c) or c] = frame[c].astype("float64")
    dups = int(out["customer_id"].duplicated().sum())
    if dups:
        raise AnalyticsInputError(f"{path}: {dups} customer id(s) appear more than once")
    return out


def load_feedback(path: str | Path) -> pd.DataFrame:
    """NPS answers: returns customer_id, answered_at (timestamp), score (0-10)."""
    path = Path(path)
    frame = _read_small(path)
    cols = list(frame.columns)
    cust = [c for c in cols if _key(c) in ROLE_SYNONYMS["customer"]]
    score = [c for c in cols if _key(c) in ("score", "nps", "npsscore", "rating", "likelihood", "recommend")]
    date = [c for c in cols if _key(c) in ROLE_SYNONYMS["date"] + ("answeredat", "respondedat", "submittedat")]
    for role, hits in (("customer id", cust), ("score", score), ("date", date)):
        if not hits:
            raise AnalyticsInputError(f"{path}: missing {role} column; columns: {', '.join(cols)}")
        if len(hits) > 1:
            raise AnalyticsInputError(f"{path}: ambiguous {role} column: {', '.join(hits)}")
    scores = pd.to_numeric(frame[score[0]], errors="coerce")
    bad = frame.index[scores.isna() | (scores < 0) | (scores > 10)]
    if len(bad):
        rows = [int(i) + 1 for i in bad[:5]]
        raise AnalyticsInputError(f"{path}: {len(bad)} score(s) are not numbers from 0 to 10; rows {rows}",
                                  column=score[0], rows=rows)
    when = pd.to_datetime(frame[date[0]], errors="coerce", format="mixed")
    bad = frame.index[when.isna()]
    if len(bad):
        rows = [int(i) + 1 for i in bad[:5]]
        examples = ", ".join(f"row {i + 1}: {frame[date[0]].iloc[i]!r}" for i in bad[:5])
        raise AnalyticsInputError(f"{path}: {len(bad)} date(s) cannot be read; {examples}", column=date[0], rows=rows)
    if getattr(when.dt, "tz", None) is not None:
        when = when.dt.tz_convert("UTC").dt.tz_localize(None)
    return pd.DataFrame({"customer_id": frame[cust[0]].to_numpy(), "answered_at": when.to_numpy(),
                         "score": scores.astype("int64").to_numpy()})


def load_events(path: str | Path) -> pd.DataFrame:
    """The dated side table: returns customer_id, occurred_at, kind, value (see churn.SIDE_FEATURES).

    One row per dated fact: `points` (value = points added or taken, signed), `complaint`,
    `engagement` (value = how many, default 1), `nps` (value = score 0-10), `enrolled` (the day
    the customer joined the programme). Every churn cut uses only the rows on or before it, so
    values that change over time enter the model without leaking later information."""
    from loyalist.analytics.churn import normalise_events

    path = Path(path)
    frame = _read_small(path)
    cols = list(frame.columns)
    cust = [c for c in cols if _key(c) in ROLE_SYNONYMS["customer"]]
    date = [c for c in cols if _key(c) in ROLE_SYNONYMS["date"]]
    kind = [c for c in cols if _key(c) in ("kind", "type", "event", "eventtype")]
    value = [c for c in cols if _key(c) in ("value", "points", "amount", "score", "count")]
    for role, hits, required in (("customer id", cust, True), ("date", date, True), ("kind", kind, True),
                                 ("value", value, False)):
        if required and not hits:
            raise AnalyticsInputError(f"{path}: missing {role} column; columns: {', '.join(map(str, cols))}")
        if len(hits) > 1:
            raise AnalyticsInputError(f"{path}: ambiguous {role} column: {', '.join(hits)}", column=hits[0])
    when = pd.to_datetime(frame[date[0]], errors="coerce", format="mixed", utc=True)
    bad = frame.index[when.isna()]
    if len(bad):
        rows = [int(i) + 1 for i in bad[:5]]
        examples = ", ".join(f"row {i + 1}: {frame[date[0]].iloc[i]!r}" for i in bad[:5])
        raise AnalyticsInputError(f"{path}: {len(bad)} date(s) cannot be read; {examples}", column=date[0], rows=rows)
    raw = pd.DataFrame({"customer_id": frame[cust[0]].to_numpy(), "occurred_at": when.to_numpy(),
                        "kind": frame[kind[0]].astype(str).str.strip().str.lower().to_numpy(),
                        "value": frame[value[0]].to_numpy() if value else 1.0})
    nps = raw["kind"] == "nps"
    scores = pd.to_numeric(raw["value"], errors="coerce")
    out_of_range = raw.index[nps & ~scores.between(0, 10)]
    if len(out_of_range):
        rows = [int(i) + 1 for i in out_of_range[:5]]
        raise AnalyticsInputError(f"{path}: {len(out_of_range)} nps value(s) are not scores from 0 to 10; rows {rows}",
                                  column=value[0] if value else "value", rows=rows)
    try:
        out = normalise_events(raw)
    except AnalyticsInputError as exc:
        raise AnalyticsInputError(f"{path}: {exc.message}", column=exc.column) from exc
    return out.drop(columns="_day")
