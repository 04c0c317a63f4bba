"""Delivery: queued payloads → Discord, shared by every exporter of a process.

``engine`` (queue, worker thread, packing, outcome handling), ``webhook`` (HTTP),
``ratelimit`` and ``retry`` (pure timing decisions), ``fallback`` (dropped
notices on disk). See docs/ARCHITECTURE.md for the contracts.
"""

from __future__ import annotations

from otel_discord.deliver.engine import DeliveryEngine, get_engine
from otel_discord.deliver.queue import Outgoing
from otel_discord.deliver.fallback import FallbackLog
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
