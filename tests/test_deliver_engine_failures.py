"""DeliveryEngine when Discord says no: 5xx and outages, 400s, deleted webhooks, full queues, leaks."""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterator

import pytest
from fakes import FAST_RETRY

from otel_discord.config import resolve
from otel_discord.deliver.engine import DeliveryEngine, Outgoing
from otel_discord.notice import Category, Kind, Notice, Severity
from otel_discord.testing import DiscordServer


def item(i: int | str, channel: str = "default", **kw) -> Outgoing:
    title = f"notice {i}"
    notice = Notice(Kind.EVENT, Severity.INFO, Category.SYSTEM, title, channel=channel)
    embed = kw.pop("embed", {"title": title, "description": f"something happened ({i})"})
    return Outgoing(channel=channel, embed=embed, notice=notice, **kw)


def titles(messages) -> list[str]:
    return [embed["title"] for message in messages for embed in message.embeds]


@pytest.fixture
def make_engine(tmp_path) -> Iterator:
    made: list[DeliveryEngine] = []

    def make(server: DiscordServer, webhook_url=None, *, channels=None, linger=0.25, **settings) -> DeliveryEngine:
        resolved = resolve(
            webhook_url=webhook_url,
            channels=channels,
            allowed_hosts=server.host_port,
            spool_dir=tmp_path,
            environ={},
            **settings,
        )
        engine = DeliveryEngine(resolved, retry=FAST_RETRY, linger=linger)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        if not engine.closed:
            engine.shutdown(0.5)


@pytest.fixture
def logs() -> Iterator[list[str]]:
    """Every otel_discord log line at DEBUG, formatted with tracebacks as a handler would print them."""
    lines: list[str] = []
    formatter = logging.Formatter("%(levelname)s %(name)s: %(message)s")

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(formatter.format(record))

    logger = logging.getLogger("otel_discord")
    handler, level = Capture(logging.DEBUG), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield lines
    logger.removeHandler(handler)
    logger.setLevel(level)


def wait_until(predicate, timeout: float = 10.0) -> bool:
    """Poll (real time) until ``predicate()``; for states the worker reaches on its own schedule."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def fallback_records(engine: DeliveryEngine) -> list[dict]:
    path = engine.fallback.path
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# ------------------------------------------------------------------ transient failures


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_then_recovery_delivers_exactly_once(discord_server, make_engine, status):
    """Server errors are retried with backoff; the message arrives once."""
    hook = discord_server.create_webhook("alerts")
    engine = make_engine(discord_server, hook.url, linger=30)  # all three share one message
    discord_server.fail_next(3, status)
    for i in range(3):
        engine.submit(item(i))
    assert engine.flush(10)
    messages = discord_server.messages("alerts")
    assert len(messages) == 1 and titles(messages) == ["notice 0", "notice 1", "notice 2"]
    assert discord_server.stats()["faults"] == 3
    assert engine.stats.snapshot()["retries"] == 3
    assert engine.stats.dropped() == 0


def test_outage_then_recovery_delivers_exactly_once(discord_server, make_engine):
    """Connections refused for a while: nothing is lost or duplicated once Discord is back."""
    hook = discord_server.create_webhook("alerts")
    engine = make_engine(discord_server, hook.url)
    discord_server.set_down(True)
    engine.submit(item(0))
    assert wait_until(lambda: engine.stats.snapshot().get("transport_errors", 0) >= 1)
    assert not engine.flush(0.1)
    discord_server.set_down(False)
    assert engine.flush(10)
    assert titles(discord_server.messages("alerts")) == ["notice 0"]


# ------------------------------------------------------------------ permanent failures


def test_400_drops_only_the_bad_embed(discord_server, make_engine, logs):
    """A packed message Discord refuses is resent embed by embed; only the bad one is dropped and reported."""
    hook = discord_server.create_webhook("alerts")
    engine = make_engine(discord_server, hook.url, linger=30)  # packed until flush()
    engine.submit(item(0))
    engine.submit(item(1, embed={"title": "x" * 300}))  # titles are limited to 256
    engine.submit(item(2))
    assert engine.flush(10)
    messages = discord_server.messages("alerts")
    assert titles(messages) == ["notice 0", "notice 2"]
    assert "⚠️ 1 notice dropped (rejected by Discord)" in messages[-1].content
    (record,) = fallback_records(engine)
    assert record["title"] == "notice 1" and record["reason"] == "invalid_payload"
    assert engine.stats.snapshot()["dropped.invalid_payload"] == 1
    packed_warnings = [line for line in logs if "rejected a message of 3 embeds" in line]
    assert len(packed_warnings) == 1 and "embeds.1.title" in packed_warnings[0]


def test_embed_too_big_for_any_message_is_dropped_without_a_request(discord_server, make_engine):
    hook = discord_server.create_webhook("alerts")
    engine = make_engine(discord_server, hook.url)
    huge = {"title": "t" * 256, "description": "d" * 4096, "fields": [{"name": "n", "value": "v" * 1024}] * 2}
    engine.submit(item("huge", embed=huge))
    engine.submit(item("fine", flags=4096))
    assert engine.flush(10)
    assert titles(discord_server.messages("alerts")) == ["notice fine"]
    assert discord_server.rejected() == []
    assert [r["reason"] for r in fallback_records(engine)] == ["invalid_payload"]


def test_unknown_webhook_disables_it(discord_server, make_engine, logs):
    """404 Unknown Webhook: one clear ERROR (channel, masked URL), its notices to the fallback log,
    no more requests to it; other channels carry on."""
    gone, fine = discord_server.create_webhook("ops"), discord_server.create_webhook("sales")
    engine = make_engine(discord_server, channels={"ops": gone.url, "sales": fine.url})
    engine.submit(item(0, channel="ops"))
    assert engine.flush(10)
    discord_server.delete_webhook(gone.id)
    for i in (1, 2):
        engine.submit(item(i, channel="ops"))
    assert engine.flush(10)
    requests_after_disable = discord_server.stats()["requests"]
    engine.submit(item(3, channel="ops"))
    engine.submit(item(4, channel="sales"))
    assert engine.flush(10)
    assert discord_server.stats()["requests"] == requests_after_disable + 2  # the sales GET and POST only
    assert titles(discord_server.messages("sales")) == ["notice 4"]
    records = fallback_records(engine)
    assert [(r["title"], r["reason"]) for r in records] == [
        ("notice 1", "webhook_disabled"),
        ("notice 2", "webhook_disabled"),
        ("notice 3", "webhook_disabled"),
    ]
    errors = [line for line in logs if line.startswith("ERROR")]
    assert len(errors) == 1
    assert "'ops'" in errors[0] and f"/webhooks/{gone.id}/****" in errors[0] and "10015" in errors[0]
    assert gone.token not in "\n".join(logs)


def test_invalid_token_disables_it(discord_server, make_engine, logs):
    """401 Invalid Webhook Token (a mistyped URL) is permanent too."""
    hook = discord_server.create_webhook("alerts")
    wrong = hook.url[: -len(hook.token)] + "A" * len(hook.token)
    engine = make_engine(discord_server, wrong)
    engine.submit(item(0))
    assert engine.flush(10)
    assert discord_server.messages() == []
    assert [r["reason"] for r in fallback_records(engine)] == ["webhook_disabled"]
    assert any("50027" in line for line in logs if line.startswith("ERROR"))


def test_wrong_token_does_not_silence_a_channel_with_the_same_webhook_and_the_right_token(
    discord_server, make_engine, logs
):
    """The 401 disables the mistyped (id, token) pair only: the other channel, same webhook id with
    the right token, keeps delivering, before and after the 401."""
    hook = discord_server.create_webhook("alerts")
    wrong = hook.url[: -len(hook.token)] + "A" * len(hook.token)
    engine = make_engine(discord_server, channels={"typo": wrong, "good": hook.url})
    engine.submit(item("typo 0", channel="typo"))
    engine.submit(item("good 0", channel="good"))
    assert engine.flush(10)
    engine.submit(item("typo 1", channel="typo"))
    engine.submit(item("good 1", channel="good"))
    assert engine.flush(10)
    assert sorted(titles(discord_server.messages("alerts"))) == ["notice good 0", "notice good 1"]
    assert sorted(r["reason"] for r in fallback_records(engine)) == ["webhook_disabled"] * 2
    assert hook.token not in "\n".join(logs)


def test_unexpected_4xx_is_retried_a_few_times_then_dropped(discord_server, make_engine):
    hook = discord_server.create_webhook("alerts")
    engine = make_engine(discord_server, hook.url)
    discord_server.fail_next(4, 403)  # the channel lookup, then three sends
    engine.submit(item(0))
    assert engine.flush(10)
    engine.submit(item(1))
    assert engine.flush(10)
    assert titles(discord_server.messages("alerts")) == ["notice 1"]
    assert [r["reason"] for r in fallback_records(engine)] == ["retries_exhausted"]


def test_unknown_channel_is_dropped_and_logged(discord_server, make_engine, logs):
    hook = discord_server.create_webhook("alerts")
    engine = make_engine(discord_server, hook.url)
    engine.submit(item(0, channel="nowhere"))
    assert engine.flush(10)
    assert [r["reason"] for r in fallback_records(engine)] == ["unknown_channel"]
    assert any("nowhere" in line for line in logs if line.startswith("WARNING"))


# ------------------------------------------------------------------ overflow


def test_queue_overflow_is_counted_reported_and_written(discord_server, make_engine, tmp_path):
    """While another process holds the spool, the bounded inbox fills: submit says False, the next
    message says how many were dropped, the fallback log keeps them."""
    hook = discord_server.create_webhook("alerts")
    engine = make_engine(discord_server, hook.url, queue_size=5)
    assert wait_until(lambda: engine.is_leader)  # the spool file exists and is ours
    blocker = sqlite3.connect(tmp_path / "spool.sqlite3", timeout=10, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # a writer that does not let go (for longer than the busy timeout)
    try:
        accepted = [engine.submit(item(i)) for i in range(8)]
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert accepted == [True] * 5 + [False] * 3
    assert engine.stats.snapshot()["dropped.queue_overflow"] == 3
    assert engine.flush(10)
    (message,) = discord_server.messages("alerts")
    assert message.content == "⚠️ 3 notices dropped (queue full)"
    assert titles([message]) == [f"notice {i}" for i in range(5)]
    records = fallback_records(engine)
    assert [(r["title"], r["reason"]) for r in records] == [(f"notice {i}", "queue_overflow") for i in (5, 6, 7)]
    # reported once: the next message carries no note
    engine.submit(item(8))
    assert engine.flush(10)
    assert discord_server.messages("alerts")[-1].content == ""


# ------------------------------------------------------------------ secrets


def test_token_never_in_logs(discord_server, make_engine, logs):
    """Outage, 5xx, 400 and a deleted webhook, logged at DEBUG: no line holds the token."""
    hook = discord_server.create_webhook("alerts")
    engine = make_engine(discord_server, hook.url)
    discord_server.set_down(True)
    engine.submit(item(0))
    assert wait_until(lambda: engine.stats.snapshot().get("transport_errors", 0) >= 1)
    discord_server.set_down(False)
    discord_server.fail_next(2, 502)
    assert engine.flush(10)
    engine.submit(item(1, embed={"title": "x" * 300}))
    assert engine.flush(10)
    discord_server.delete_webhook(hook.id)
    engine.submit(item(2))
    assert engine.flush(10)
    engine.shutdown(1)
    text = "\n".join(logs)
    assert "connection failed" in text and "502" in text and "50035" in text and "10015" in text
    assert hook.token not in text
    assert hook.token not in repr(engine) and hook.token not in repr(engine.settings)
    assert hook.token not in engine.fallback.path.read_text()


def test_embed_that_is_not_json_is_dropped_not_retried(discord_server, make_engine):
    """A value JSON cannot carry (a bug upstream) costs that notice only."""
    hook = discord_server.create_webhook("alerts")
    engine = make_engine(discord_server, hook.url)
    engine.submit(item("odd", embed={"title": "odd", "color": float("nan")}))
    engine.submit(item("fine", flags=4096))
    assert engine.flush(10)
    assert titles(discord_server.messages("alerts")) == ["notice fine"]
    assert [r["reason"] for r in fallback_records(engine)] == ["invalid_payload"]


def test_internal_error_drops_one_notice_and_keeps_running(discord_server, tmp_path, logs):
    """A bug while sending is logged with its traceback; the worker survives and delivers the rest."""
    from otel_discord.deliver.webhook import WebhookClient

    class BuggyOnce(WebhookClient):
        calls = 0

        def execute(self, webhook, payload, *, files=None):
            BuggyOnce.calls += 1
            if BuggyOnce.calls == 1:
                raise RuntimeError("bug in the client")
            return super().execute(webhook, payload, files=files)

    hook = discord_server.create_webhook("alerts")
    settings = resolve(webhook_url=hook.url, allowed_hosts=discord_server.host_port, spool_dir=tmp_path, environ={})
    engine = DeliveryEngine(settings, client=BuggyOnce(timeout=5), retry=FAST_RETRY)
    try:
        engine.submit(item(0, content="first"))
        engine.submit(item(1, content="second"))
        assert engine.flush(10)
        assert titles(discord_server.messages("alerts")) == ["notice 1"]
        assert [r["reason"] for r in fallback_records(engine)] == ["internal_error"]
        assert any("RuntimeError: bug in the client" in line for line in logs)
    finally:
        engine.shutdown(1)
