"""CSV and Excel import of invoices, with a reason for every rejected row.

Good rows are imported and bad rows are reported, because a bookkeeper fixing one
typo should not have to re-import the other 200 rows.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import PurePath
from typing import Any, Final

from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import events
from .invoices import FIRST_NUMBER, PAYMENT_TERM_DAYS
from .models import Invoice
from .money import AmountError, parse_amount, parse_date, to_cents

#: How many rejection reasons go into the ``import.errors`` attribute.
MAX_REPORTED_ERRORS: Final = 3
#: Column names as found in exports of Dutch bookkeeping tools, mapped to ours.
_ALIASES: Final = {
    "number": "number",
    "invoice_number": "number",
    "factuurnummer": "number",
    "nummer": "number",
    "client": "client",
    "customer": "client",
    "klant": "client",
    "debiteur": "client",
    "amount": "amount",
    "net_amount": "amount",
    "bedrag": "amount",
    "bedrag_excl_btw": "amount",
    "issue_date": "issue_date",
    "date": "issue_date",
    "factuurdatum": "issue_date",
    "datum": "issue_date",
    "due_date": "due_date",
    "vervaldatum": "due_date",
    "description": "description",
    "omschrijving": "description",
}
_REQUIRED: Final = ("client", "amount")
_NON_WORD: Final = re.compile(r"[^a-z0-9]+")


class ImportFileError(ValueError):
    """The file as a whole cannot be read (wrong type, corrupt, no usable header)."""


@dataclass(slots=True)
class ImportResult:
    filename: str
    file_format: str
    rows_read: int = 0
    imported: list[str] = field(default_factory=list)  # invoice numbers
    errors: list[str] = field(default_factory=list)  # "row 3: amount: ..."
    amount_cents: int = 0

    @property
    def rows_imported(self) -> int:
        return len(self.imported)

    @property
    def rows_rejected(self) -> int:
        return self.rows_read - self.rows_imported


def _normalise_header(name: Any) -> str:
    """Our column name for a header cell ("Bedrag excl. BTW" → "amount"), or "" to ignore it."""
    text = _NON_WORD.sub("_", str(name or "").lower()).strip("_")
    return _ALIASES.get(text, "")


def _read_csv(data: bytes) -> Iterator[list[Any]]:
    try:
        # utf-8-sig: Excel puts a byte-order mark in front of "CSV UTF-8" files.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252")  # older Dutch Excel exports
    first_line = text.split("\n", 1)[0]
    # Dutch Excel writes ';' because ',' is the decimal mark; others write ','.
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    return iter(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


def _read_xlsx(data: bytes) -> Iterator[list[Any]]:
    try:
        # data_only: take the cached result of a formula cell, not the formula text.
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ImportFileError(f"not a readable Excel file ({exc.__class__.__name__})") from exc
    try:
        rows = [list(row) for row in workbook.worksheets[0].iter_rows(values_only=True)]
    finally:
        workbook.close()
    return iter(rows)


def read_rows(filename: str, data: bytes) -> tuple[str, list[tuple[int, dict[str, Any]]]]:
    """Return the format and ``(row number, {column: value})`` for every non-blank data row.

    Row numbers are as a spreadsheet shows them (the header is row 1).

    Raises:
        ImportFileError: unsupported extension, unreadable file, or required columns missing.
    """
    suffix = PurePath(filename).suffix.lower()
    if suffix == ".csv":
        file_format, rows = "csv", _read_csv(data)
    elif suffix == ".xlsx":
        file_format, rows = "xlsx", _read_xlsx(data)
    else:
        raise ImportFileError(f"unsupported file type {suffix or '(none)'!r}; upload .csv or .xlsx")
    header = next(rows, None)
    if header is None:
        raise ImportFileError("the file is empty")
    columns = [_normalise_header(name) for name in header]
    missing = [name for name in _REQUIRED if name not in columns]
    if missing:
        raise ImportFileError(f"missing column(s): {', '.join(missing)}")
    records = []
    for number, row in enumerate(rows, start=2):
        if all(cell is None or str(cell).strip() == "" for cell in row):
            continue
        records.append((number, {col: cell for col, cell in zip(columns, row) if col}))
    return file_format, records


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # Excel stores 250101 typed in a cell as 250101.0
    return str(value).strip()


def _validate(record: Mapping[str, Any], today: date) -> tuple[dict[str, Any], list[str]]:
    problems: list[str] = []
    values: dict[str, Any] = {
        "client": _text(record.get("client")),
        "description": _text(record.get("description")),
        "number": _text(record.get("number")).lstrip("#"),
    }
    if not values["client"]:
        problems.append("client is empty")
    try:
        amount = parse_amount(record.get("amount") if record.get("amount") is not None else "")
        if amount <= 0:
            problems.append(f"amount must be positive, got {amount}")
        values["amount_cents"] = to_cents(amount)
    except AmountError as exc:
        problems.append(f"amount: {exc}")
    try:
        raw_issue = record.get("issue_date")
        values["issue_date"] = parse_date(raw_issue) if _text(raw_issue) else today
        raw_due = record.get("due_date")
        values["due_date"] = (
            parse_date(raw_due) if _text(raw_due) else values["issue_date"] + timedelta(days=PAYMENT_TERM_DAYS)
        )
        if values["due_date"] < values["issue_date"]:
            problems.append("due date before issue date")
    except ValueError as exc:
        problems.append(str(exc))
    if values["number"] and not values["number"].isdigit():
        problems.append(f"invoice number must be digits, got {values['number']!r}")
    return values, problems


def import_invoices(session: Session, filename: str, data: bytes, today: date) -> ImportResult:
    """Import the invoices in a CSV or XLSX file; emit ``import.completed`` or ``import.failed``.

    ``import.failed`` means nothing was imported: the file was unreadable or every row was rejected.
    """
    suffix = PurePath(filename).suffix.lower().lstrip(".")
    result = ImportResult(filename=filename, file_format=suffix or "unknown")
    try:
        result.file_format, records = read_rows(filename, data)
    except ImportFileError as exc:
        result.errors.append(str(exc))
        _emit(result)
        return result
    result.rows_read = len(records)
    if not records:
        result.errors.append("the file has a header but no invoice rows")
    existing = set(session.scalars(select(Invoice.number)))
    highest = max((int(n) for n in existing if n.isdigit()), default=FIRST_NUMBER - 1)
    accepted: list[dict[str, Any]] = []
    for row_number, record in records:
        values, problems = _validate(record, today)
        if values["number"] and values["number"] in existing:
            problems.append(f"invoice #{values['number']} already exists")
        if problems:
            result.errors.append(f"row {row_number}: {'; '.join(problems)}")
            continue
        if values["number"]:
            existing.add(values["number"])
            highest = max(highest, int(values["number"]))
        accepted.append(values)
    for values in accepted:
        if not values["number"]:
            highest += 1
            values["number"] = str(highest)
        session.add(Invoice(**values))
        result.imported.append(values["number"])
        result.amount_cents += values["amount_cents"]
    session.commit()
    _emit(result)
    return result


def _first_errors(errors: Iterable[str]) -> str:
    errors = list(errors)
    text = " | ".join(errors[:MAX_REPORTED_ERRORS])
    more = len(errors) - MAX_REPORTED_ERRORS
    return f"{text} | (+{more} more)" if more > 0 else text


def _emit(result: ImportResult) -> None:
    attrs: dict[str, events.Primitive | None] = {
        "import.filename": result.filename,
        "import.format": result.file_format,
        "import.rows_read": result.rows_read,
        "import.rows_imported": result.rows_imported,
        "import.rows_rejected": result.rows_rejected,
        "import.errors": _first_errors(result.errors) or None,
        **events.money("import", result.amount_cents),
    }
    if result.rows_imported:
        events.emit(
            "import.completed",
            f"Imported {result.rows_imported} of {result.rows_read} invoice rows from {result.filename}",
            attrs,
            level=logging.WARNING if result.rows_rejected else logging.INFO,
        )
    else:
        events.emit(
            "import.failed", f"Import of {result.filename} failed: nothing imported", attrs, level=logging.WARNING
        )
