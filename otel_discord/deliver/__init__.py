"""Delivery: queued payloads → Discord, shared by every exporter of a process.

``engine`` (the public face: submit, flush, shutdown, every; two threads),
``queue`` (the in-memory inbox and lanes), ``housekeeping`` (inbox → spool, the
send lease, trimming), ``spool``/``spool_groups``/``codec`` (the SQLite spool and
its message map), ``sender``/``answers`` (requests and what Discord's answers
mean), ``grouping`` and ``replay`` (edits of grouped messages, summaries after
an outage), ``shared_limits``, ``ratelimit`` and ``retry`` (timing decisions),
``webhook`` (HTTP), ``fallback`` (dropped notices on disk), ``options`` (settings).
See docs/ARCHITECTURE.md for the contracts.
"""

from __future__ import annotations

from otel_discord.deliver.engine import DeliveryEngine, get_engine
from otel_discord.deliver.fallback import FallbackLog
from otel_discord.deliver.queue import Outgoing
from otel_discord.deliver.ratelimit import ChannelBudget, RateLimiter
from otel_discord.deliver.retry import RetryPolicy
from otel_discord.deliver.webhook import Outcome, WebhookClient

__all__ = [
    "ChannelBudget",
    "DeliveryEngine",
    "FallbackLog",
    "Outcome",
    "Outgoing",
    "RateLimiter",
    "RetryPolicy",
    "WebhookClient",
    "get_engine",
]
