"""A tiny uninstrumented Flask + SQLAlchemy app for the end-to-end tests.

It knows nothing about OpenTelemetry or otel-discord: ``opentelemetry-instrument``
instruments it from outside, exactly as a user's app would be.
"""

from __future__ import annotations

import os

from flask import Flask
from sqlalchemy import create_engine, text

app = Flask(__name__)
engine = create_engine(os.environ.get("MINI_APP_DB", "sqlite://"))


def compute_vat(amount: str) -> float:
    return float(amount) * 0.21


@app.get("/ok")
def ok() -> str:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1")).scalar()
    return "ok"


@app.get("/boom")
def boom() -> str:
    compute_vat("twelve euros")  # raises ValueError inside application code
    return "unreachable"


@app.get("/slow")
def slow() -> str:
    with engine.connect() as conn:
        count = conn.execute(
            text("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < :n) SELECT count(*) FROM c"),
            {"n": int(os.environ.get("MINI_APP_SLOW_ROWS", "400000"))},
        ).scalar()
    return str(count)
