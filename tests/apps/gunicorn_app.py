"""A tiny uninstrumented WSGI app for the gunicorn test: distinct errors, and one error repeated.

It knows nothing about OpenTelemetry or otel-discord; ``opentelemetry-instrument``
instruments it from outside. Each ``/distinct/<n>`` raises from its own function and
route, so each is a problem of its own (its own fingerprint); ``/repeat`` raises the
same error every time.
"""

from __future__ import annotations

import os

from flask import Flask

app = Flask(__name__)


@app.get("/ok")
def ok() -> str:
    return f"ok from {os.getpid()}"


def parse_amount(text: str) -> float:
    return float(text)  # raises ValueError for text that is not a number


@app.get("/repeat")
def repeat() -> str:
    parse_amount("twelve euros")
    return "unreachable"


def _make_distinct(n: int):
    def distinct() -> str:
        raise LookupError(f"ledger {n} is missing")

    distinct.__name__ = f"distinct_{n}"
    return distinct


for _n in range(int(os.environ.get("GUNICORN_APP_DISTINCT", "12"))):
    app.add_url_rule(f"/distinct/{_n}", view_func=_make_distinct(_n), methods=["GET"])
