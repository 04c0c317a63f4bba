"""``otel-discord export``: print the local audit log of business events as CSV or JSON.

Discord webhooks cannot read a channel's history back, so this is how the
record of what happened gets into a spreadsheet::

    otel-discord export --since 2025-01-01 --until 2025-04-01 --event 'invoice.*' > q1.csv
    otel-discord export --since 7d --format json

``--since``/``--until`` take a date (midnight in ``TIMEZONE``, default
the host's zone), a date and time, an ISO timestamp with offset, or an age such
as ``7d``, ``12h``, ``30m``. ``--until`` is exclusive.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final, TextIO
from zoneinfo import ZoneInfo

from otel_discord.config import ConfigError, default_state_dir, resolve
from otel_discord.config.parse import FALLBACK_TIMEZONE, parse_duration, parse_timezone
from otel_discord.config.settings import host_or_fallback_timezone, service_name
from otel_discord.deliver import audit

_UTC: Final = ZoneInfo(FALLBACK_TIMEZONE)
COLUMNS: Final = ("time", "event", "severity", "category", "title", "service", "environment", "trace_id")
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", help="from (inclusive): 2025-01-01, '2025-01-01 08:00', an ISO timestamp, or 7d")
    parser.add_argument("--until", help="to (exclusive), same forms; default: now")
    parser.add_argument("--format", choices=("csv", "json"), default="csv")
    parser.add_argument(
        "--event",
        action="append",
        default=[],
        metavar="GLOB",
        help="only events matching this glob, e.g. 'invoice.*' (repeatable)",
    )
    parser.add_argument("--audit-log", type=Path, help="the audit log file (default: <spool dir>/audit.jsonl)")
    parser.add_argument("--spool-dir", type=Path, help="the exporter's spool directory")
    parser.add_argument(
        "--service",
        help="read the default spool of this service.name (default: OTEL_SERVICE_NAME, as the app's exporter does)",
    )
    parser.add_argument("--config", help="YAML config file (default: $OTEL_EXPORTER_DISCORD_CONFIG)")
    parser.add_argument("--timezone", help="time zone of dates given and times shown (default: TIMEZONE setting)")


def parse_moment(text: str, tz: ZoneInfo, now: float) -> float:
    """Unix seconds for ``--since``/``--until`` text (see the module docstring)."""
    raw = text.strip()
    if raw.lower() == "now":
        return now
    if raw[:1].isdigit() and not raw[-1:].isdigit():  # an age: 7d, 12h, 1h30m
        try:
            return now - parse_duration(raw)
        except ValueError:
            pass
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            return datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"cannot read time {text!r} (expected 2025-01-31, '2025-01-31 08:00', "
            "an ISO timestamp or an age such as 7d)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.timestamp()


def _cell(value: Any) -> Any:
    if isinstance(value, (list, tuple, dict)):
        value = json.dumps(value, ensure_ascii=False)
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        # A spreadsheet would run "=HYPERLINK(...)" typed into a form as a formula (CSV injection).
        return "'" + value
    return value


def _local(record: Mapping[str, Any], tz: ZoneInfo) -> str:
    try:
        return datetime.fromtimestamp(float(record["ts"]), tz).isoformat(timespec="seconds")
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        return str(record.get("time") or "")


def write_csv(records: Sequence[Mapping[str, Any]], out: TextIO, tz: ZoneInfo) -> None:
    """One row per event: the fixed columns, then one column per attribute name seen."""
    names = sorted({str(k) for r in records for k in (r.get("attributes") or {})})
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*COLUMNS, *names])
    for record in records:
        attributes = record.get("attributes") or {}
        fixed = [_local(record, tz), *(record.get(c) for c in COLUMNS[1:])]
        writer.writerow([_cell(v) for v in fixed] + [_cell(attributes.get(n)) for n in names])


def write_json(records: Sequence[Mapping[str, Any]], out: TextIO, tz: ZoneInfo) -> None:
    """A JSON array; each record gains ``local_time`` in the time zone."""
    items = [{**record, "local_time": _local(record, tz)} for record in records]
    json.dump(items, out, ensure_ascii=False, indent=2)
    out.write("\n")


def export(
    path: Path,
    out: TextIO,
    *,
    since: float | None,
    until: float | None,
    events: Iterable[str] = (),
    fmt: str = "csv",
    tz: ZoneInfo = _UTC,
) -> int:
    """Write the matching records of ``path`` to ``out``; return how many."""
    records = list(audit.read(path, since=since, until=until, events=list(events))) if path.exists() else []
    (write_json if fmt == "json" else write_csv)(records, out, tz)
    return len(records)


def _locate(args: argparse.Namespace) -> tuple[Path, ZoneInfo | None]:
    if args.audit_log:
        return args.audit_log, None
    if args.spool_dir:
        return args.spool_dir / audit.FILE_NAME, None
    if args.service:
        return default_state_dir(args.service) / audit.FILE_NAME, None
    try:
        settings = resolve(None, config_file=args.config)
    except ConfigError as exc:
        fallback = default_state_dir(service_name(os.environ)) / audit.FILE_NAME
        print(
            f"otel-discord export: settings not usable ({exc}); reading {fallback} "
            "(use --spool-dir or --audit-log to choose)",
            file=sys.stderr,
        )
        return fallback, None
    return settings.spool_dir / audit.FILE_NAME, settings.timezone


def run(args: argparse.Namespace) -> int:
    try:
        path, configured_tz = _locate(args)
        tz = parse_timezone(args.timezone) if args.timezone else configured_tz or host_or_fallback_timezone(os.environ)
        now = time.time()
        since = parse_moment(args.since, tz, now) if args.since else None
        until = parse_moment(args.until, tz, now) if args.until else None
    except (ValueError, ConfigError) as exc:
        print(f"otel-discord export: {exc}", file=sys.stderr)
        return 2
    if not path.exists():
        others = sorted(p.parent.name for p in default_state_dir().glob(f"*/{audit.FILE_NAME}"))
        hint = f"; services with one: {', '.join(others)} (choose with --service)" if others else ""
        print(f"otel-discord export: no audit log at {path} (nothing recorded yet?){hint}", file=sys.stderr)
    try:
        count = export(path, sys.stdout, since=since, until=until, events=args.event, fmt=args.format, tz=tz)
    except OSError as exc:
        print(f"otel-discord export: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"otel-discord export: {count} event(s)", file=sys.stderr)
    return 0
