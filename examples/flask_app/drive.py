"""Drive a scripted bookkeeping session against a running Ozark Finances app.

Every step is something the first user does in a normal week, chosen so that the
instrumented app emits each kind of telemetry otel-discord turns into a Discord
message: business events, an error (500), a slow query, a failed login.

    python examples/flask_app/drive.py --base-url http://127.0.0.1:5000

Prints one progress line per step and exits 0 when every step behaved as expected.
Uses only ``requests``; it does not import the app.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Final

import requests

#: Demo credentials seeded by the app (see README.md).
USERNAME: Final = "anna"
PASSWORD: Final = "ozark-anna-2025"
#: Prior-quarter correction the user enters on top of the calculated BTW.
BTW_CORRECTION: Final = Decimal("-25.00")


class _Session:
    """One logged-in browser: a ``requests.Session`` plus the step log."""

    def __init__(self, base_url: str, out: Callable[[str], None], timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = requests.Session()
        self.http.headers["User-Agent"] = "ozark-drive/1.0"
        self.out = out
        self.timeout = timeout
        self.steps: list[dict[str, Any]] = []

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        return self.http.request(method, self.base_url + path, **kwargs)

    def record(self, name: str, response: requests.Response | None, ok: bool, detail: str = "") -> None:
        """Log one step; ``response`` is None when the step could not be attempted."""
        status = response.status_code if response is not None else None
        self.steps.append({"step": name, "status": status, "ok": ok, "detail": detail})
        mark = "ok " if ok else "BAD"
        shown = f"HTTP {status}" if status is not None else "skipped"
        self.out(f"[{len(self.steps):2}] {mark} {name:<44} {shown}  {detail}".rstrip())


def _wait_until_up(session: _Session, deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            if session.request("GET", "/healthz", timeout=2).ok:
                return
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{session.base_url} did not answer /healthz within {deadline_s:.0f} s")
        time.sleep(0.2)


def _eur(amount: Decimal) -> str:
    """``Decimal("-1234.5")`` as Dutch users type it: ``-1.234,50``."""
    text = f"{abs(amount):,.2f}".replace(",", "_").replace(".", ",").replace("_", ".")
    return f"-{text}" if amount < 0 else text


def _created_invoice(session: _Session, client: str, amount: str, description: str) -> tuple[str, str, bool]:
    response = session.request(
        "POST", "/invoices/new", data={"client": client, "amount": amount, "description": description}
    )
    found = re.search(r'data-invoice-number="(\d+)"', response.text)
    invoice_path = re.search(r"/invoices/\d+$", response.url)
    ok = response.status_code == 200 and found is not None and invoice_path is not None
    number = found[1] if found else ""
    session.record(f"create invoice {client} € {amount}", response, ok, f"#{number}" if number else "")
    return number, invoice_path[0] if invoice_path else "", ok


def _import_csv(today: date) -> bytes:
    due = today + timedelta(days=30)
    rows = [
        "klant;bedrag;factuurdatum;vervaldatum;omschrijving",
        f"Kaasboerderij Van Dam;€ 1.234,56;{today:%d-%m-%Y};{due:%d-%m-%Y};Website onderhoud",
        f"Tandartspraktijk Smit;980,00;{today.isoformat()};{due.isoformat()};Licentie boekhoudpakket",
        f"Drukkerij Peters;twaalf euro;{today:%d-%m-%Y};{due:%d-%m-%Y};Flyers voorjaarsactie",
    ]
    return ("\r\n".join(rows) + "\r\n").encode("utf-8")


def drive(
    base_url: str, *, out: Callable[[str], None] = print, timeout: float = 60.0, wait_s: float = 15.0
) -> dict[str, Any]:
    """Run the scripted session against ``base_url`` and return a summary.

    The summary has ``ok`` (every step as expected), ``steps`` (name, status, ok,
    detail) and the facts a caller checks: created, paid and imported invoices,
    status codes of the failing and slow routes, export rows, backup and BTW figures.
    """
    s = _Session(base_url, out, timeout)
    _wait_until_up(s, wait_s)
    today = date.today()
    summary: dict[str, Any] = {"base_url": s.base_url, "invoices_created": []}

    r = s.request("POST", "/login", data={"username": USERNAME, "password": "wrong-password"})
    s.record(f"log in as {USERNAME} with a wrong password", r, r.status_code == 401, "rejected as expected")
    summary["login_failed_status"] = r.status_code
    r = s.request("POST", "/login", data={"username": USERNAME, "password": PASSWORD})
    logged_in = r.status_code == 200 and r.url.endswith("/invoices")
    s.record(f"log in as {USERNAME}", r, logged_in)
    summary["logged_in"] = logged_in

    number, _, _ = _created_invoice(s, "Bakkerij de Vries", "2.450,00", "Boekhouding Q3 en jaarafsluiting")
    summary["invoices_created"].append(number)
    big, big_path, _ = _created_invoice(
        s, "Installatiebedrijf Mulder B.V.", "7.850,00", "Nieuwe administratie-inrichting"
    )
    summary["invoices_created"].append(big)
    summary["high_value_invoice"] = big

    if big_path:
        r = s.request("POST", f"{big_path}/pay")
        paid = r.status_code == 200 and 'data-status="paid"' in r.text
        s.record(f"mark invoice #{big} paid", r, paid)
    else:
        paid = False
        s.record("mark the high-value invoice paid", None, False, "it was not created")
    summary["paid_invoice"] = big if paid else None

    r = s.request("POST", "/import", files={"file": ("facturen-export.csv", _import_csv(today), "text/csv")})
    counts = {key: int(value) for key, value in re.findall(r'data-rows-(read|imported|rejected)="(\d+)"', r.text)}
    summary["import"] = {
        "rows_read": counts.get("read"),
        "rows_imported": counts.get("imported"),
        "rows_rejected": counts.get("rejected"),
    }
    s.record(
        "import CSV with one bad row",
        r,
        r.status_code == 200 and counts.get("rejected") == 1,
        f"{counts.get('imported')} imported, {counts.get('rejected')} rejected",
    )

    r = s.request("GET", "/boom")
    s.record("open the margin report (fails)", r, r.status_code == 500, "500 expected")
    summary["boom_status"] = r.status_code

    started = time.monotonic()
    r = s.request("GET", "/reports/slow")
    elapsed_ms = (time.monotonic() - started) * 1000
    s.record("open the cash-flow report (slow query)", r, r.status_code == 200, f"{elapsed_ms:.0f} ms")
    summary["slow_report_status"] = r.status_code
    summary["slow_report_ms"] = round(elapsed_ms)

    r = s.request("GET", "/export.csv")
    lines = [line for line in r.content.decode("utf-8-sig").splitlines() if line.strip()]
    export_rows = max(len(lines) - 1, 0)
    s.record(
        "download CSV export",
        r,
        r.status_code == 200 and r.headers.get("Content-Type", "").startswith("text/csv"),
        f"{export_rows} invoices",
    )
    summary["export_rows"] = export_rows

    r = s.request(
        "POST",
        "/feedback",
        data={
            "name": "Anna de Boer",
            "email": "anna@example.nl",
            "topic": "question",
            "message": "Kan de BTW-export ook per maand?",
        },
    )
    s.record("send the feedback form", r, r.status_code == 200 and "feedback-sent" in r.text)
    summary["feedback_status"] = r.status_code

    r = s.request("POST", "/jobs/backup")
    backup_ok = r.status_code == 200 and "Backup completed" in r.text
    s.record("run the nightly backup now", r, backup_ok)
    summary["backup_completed"] = backup_ok

    summary["btw"] = _update_btw(s, today)

    r = s.request("POST", "/logout")
    s.record("log out", r, r.status_code == 200 and "/login" in r.url)

    summary["steps"] = s.steps
    summary["ok"] = all(step["ok"] for step in s.steps)
    return summary


def _update_btw(s: _Session, today: date) -> dict[str, Any]:
    quarter = f"{today.year}-Q{(today.month - 1) // 3 + 1}"
    r = s.request("GET", "/btw")
    found = re.search(rf'data-quarter="{quarter}" data-calculated="([\d.-]+)"', r.text)
    calculated = Decimal(found[1]) if found else Decimal("0.00")
    manual = calculated + BTW_CORRECTION
    r = s.request("POST", f"/btw/{quarter}", data={"manual_amount": _eur(manual), "note": "correctie vorig kwartaal"})
    stored = re.search(rf'data-quarter="{quarter}" data-calculated="[\d.-]+"\s+data-manual="([\d.-]+)"', r.text)
    ok = found is not None and r.status_code == 200 and stored is not None and Decimal(stored[1]) == manual
    s.record(f"enter BTW paid for {quarter}", r, ok, f"€ {_eur(manual)} vs calculated € {_eur(calculated)}")
    return {
        "quarter": quarter,
        "calculated": float(calculated),
        "manual": float(manual),
        "difference": float(manual - calculated),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:5000", help="where the app runs")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    parser.add_argument("--wait", type=float, default=15.0, help="seconds to wait for the app to come up")
    args = parser.parse_args(argv)
    try:
        summary = drive(args.base_url, timeout=args.timeout, wait_s=args.wait)
    except (RuntimeError, requests.RequestException) as exc:
        print(f"drive: {exc}", file=sys.stderr)
        return 2
    failed = [step["step"] for step in summary["steps"] if not step["ok"]]
    print(
        f"done: {len(summary['steps']) - len(failed)}/{len(summary['steps'])} steps as expected"
        + (f"; unexpected: {', '.join(failed)}" if failed else "")
    )
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
