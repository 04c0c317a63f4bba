"""Rendering waits until a notice needs a message: repeats that fold into their group never pay for it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from otel_discord import pipeline as pipeline_module
from otel_discord.config import resolve
from otel_discord.deliver.engine import DeliveryEngine
from otel_discord.notice import Category, Kind, Notice, Severity
from otel_discord.pipeline import Pipeline
from otel_discord.testing import DiscordServer


@pytest.fixture
def counted_renders(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How often each title was rendered; a title starting "broken" makes rendering fail."""
    counts: dict[str, int] = {}
    real = pipeline_module.render_embed

    def render(notice: Notice, options: Any) -> dict[str, Any]:
        counts[notice.title] = counts.get(notice.title, 0) + 1
        if notice.title.startswith("broken"):
            raise RuntimeError("a bug in rendering")
        return real(notice, options)

    monkeypatch.setattr(pipeline_module, "render_embed", render)
    return counts


@pytest.fixture
def pipeline(discord_server: DiscordServer, tmp_path: Path) -> Iterator[Pipeline]:
    hook = discord_server.create_webhook("alerts")
    settings = resolve(
        "traces",
        webhook_url=hook.url,
        allowed_hosts=discord_server.host_port,
        spool_dir=tmp_path / "spool",
        environ={"OTEL_EXPORTER_DISCORD_RATE_CAP": "0"},
    )
    made = Pipeline(settings, engine=DeliveryEngine(settings, linger=0.0))
    yield made
    made.release(2.0)


def failure(title: str, fingerprint: str) -> Notice:
    return Notice(Kind.ERROR, Severity.ERROR, Category.ERROR, title, fingerprint=fingerprint)


def seen_counts(server: DiscordServer) -> list[str]:
    return [
        field["value"]
        for message in server.messages("alerts")
        for embed in message.embeds
        for field in embed.get("fields", ())
        if field["name"] == "Seen"
    ]


def test_repeats_of_a_posted_error_are_counted_without_being_rendered(pipeline, discord_server, counted_renders):
    """200 repeats arrive in 20 export batches after the first was posted: one message says ×201,
    and the repeats were never rendered (they only add to the count)."""
    pipeline.submit([failure("ValueError in POST /imports", "ValueError|imports.py:parse|/imports")])
    assert pipeline.flush(10)
    for _ in range(20):
        pipeline.submit([failure("ValueError in POST /imports", "ValueError|imports.py:parse|/imports")] * 10)
    assert pipeline.flush(10)
    assert len(discord_server.messages("alerts")) == 1
    assert any("×201" in value for value in seen_counts(discord_server))
    assert counted_renders["ValueError in POST /imports"] == 1


def test_a_deferred_render_that_fails_is_dropped_alone_and_recorded(
    pipeline, discord_server, counted_renders, caplog, monkeypatch
):
    """A notice expected to fold (so not rendered yet) that needs a row after all, and whose rendering
    then fails on the engine's thread: it goes to the fallback log and is counted as dropped; the
    notices around it are delivered."""
    monkeypatch.setattr(DeliveryEngine, "likely_folds", lambda self, notice, channel: True)
    accepted = pipeline.submit(
        [failure("TypeError in GET /a", "a"), failure("broken title", "b"), failure("KeyError in GET /c", "c")]
    )
    assert accepted == 3  # queued; rendering happens later, on the engine's thread
    assert pipeline.flush(10)
    titles = [embed["title"] for message in discord_server.messages("alerts") for embed in message.embeds]
    assert any("TypeError in GET /a" in t for t in titles) and any("KeyError in GET /c" in t for t in titles)
    assert not any("broken" in t for t in titles)
    stats = pipeline.engine.stats.snapshot()
    assert stats["dropped"] == 1
    records = [json.loads(line) for line in pipeline.engine.fallback.path.read_text().splitlines()]
    assert [(r["reason"], r["title"]) for r in records] == [("internal_error", "broken title")]
    assert "internal error while rendering" in caplog.text


def test_a_render_that_fails_on_the_exporting_thread_costs_that_notice_only(discord_server, tmp_path, monkeypatch):
    """The common path (a first occurrence is rendered as it is submitted): a renderer that raises for
    one notice in one channel. The notices around it are delivered, the same notice's copy for another
    channel is delivered too, and the failed one is counted, kept in the fallback file and reported in
    the next message's drop note."""
    alerts, ledger = discord_server.create_webhook("alerts"), discord_server.create_webhook("ledger")
    config = tmp_path / "otel-discord.yaml"
    config.write_text(
        "routes:\n  - match: {category: error}\n    channel: default\n    continue: true\n"
        "  - match: {category: error}\n    channel: ledger\n"
    )
    settings = resolve(
        "traces",
        channels={"default": alerts.url, "ledger": ledger.url},
        config_file=config,
        allowed_hosts=discord_server.host_port,
        spool_dir=tmp_path / "spool",
        environ={"OTEL_EXPORTER_DISCORD_RATE_CAP": "0"},
    )
    real = pipeline_module.render_embed

    def render(notice: Notice, options: Any) -> dict[str, Any]:
        if notice.title.startswith("broken") and notice.channel == "default":
            raise RuntimeError("a bug in rendering")
        return real(notice, options)

    monkeypatch.setattr(pipeline_module, "render_embed", render)
    engine = DeliveryEngine(settings, linger=0.0)
    made = Pipeline(settings, engine=engine)
    try:
        accepted = made.submit(
            [failure("TypeError in GET /a", "a"), failure("broken title", "b"), failure("KeyError in GET /c", "c")]
        )
        assert accepted == 5  # 2 to the default channel (not the broken one), 3 to the ledger
        assert made.flush(10)
        made.submit([failure("OSError in GET /d", "d")])
        assert made.flush(10)
    finally:
        made.release(2.0)
    default_titles = [e["title"] for m in discord_server.messages("alerts") for e in m.embeds]
    ledger_titles = [e["title"] for m in discord_server.messages("ledger") for e in m.embeds]
    assert not any("broken" in t for t in default_titles)
    assert any("TypeError" in t for t in default_titles) and any("KeyError" in t for t in default_titles)
    assert any("broken title" in t for t in ledger_titles)  # the other channel's copy was not lost
    assert engine.stats.snapshot()["dropped"] == 1
    records = [json.loads(line) for line in engine.fallback.path.read_text().splitlines()]
    assert [(r["reason"], r["title"]) for r in records] == [("internal_error", "broken title")]
    notes = [m.content or "" for m in discord_server.messages("alerts")]
    assert any("dropped" in note and "internal error" in note for note in notes), notes
