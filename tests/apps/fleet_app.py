"""``mini_app`` plus one route whose exception message carries a caller-chosen order id.

The gateway end-to-end test runs several of these behind one Collector: /boom and /slow
are ``mini_app``'s own (so the embeds can be compared with direct mode), and
/orders/<order>/pay fails with the order id in the message, so each request's alert can be
told apart and counted ("every error arrives exactly once"). Like ``mini_app`` it knows
nothing about OpenTelemetry; ``opentelemetry-instrument`` instruments it from outside.
"""

from __future__ import annotations

from mini_app import app, engine

__all__ = ["app", "engine"]


def settle(order: str) -> None:
    raise RuntimeError(f"payment for order {order} was declined")


@app.get("/orders/<order>/pay")
def pay(order: str) -> str:
    settle(order)  # raises inside application code
    return "unreachable"
