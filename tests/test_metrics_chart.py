"""The summary chart: a PNG attached to the message and shown in the embed, or a sparkline without matplotlib."""

from __future__ import annotations

import sys

import pytest
from test_summary_support import App, Clock, drain_observations, local, make_monitor

from otel_discord.config.webhook_url import WebhookURL
from otel_discord.deliver.webhook import WebhookClient
from otel_discord.render.embed import render_embed
from otel_discord.render.payload import build_payload
from otel_discord.summary import chart

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def clean_observe():
    drain_observations()


def summary_post(tmp_path, *, attachments: bool):
    """A day of traffic with a slow afternoon, summarised at 18:00."""
    clock = Clock(local(2025, 10, 14, 0, 0))
    monitor = make_monitor(tmp_path, summaries=["daily@18:00"])
    monitor._attachments = attachments
    app = App()
    monitor.process(app.collect(), clock())
    for hour in range(1, 18):
        app.request("/invoices", 900 if 13 <= hour <= 15 else 40, n=hour * 3)
        clock.now = local(2025, 10, 14, hour, 0)
        monitor.process(app.collect(), clock())
    clock.now = local(2025, 10, 14, 18, 0, 10)
    (post,) = [p for p in monitor.process(app.collect(), clock()) if p.notice.kind.value == "summary"]
    return post


def test_sparkline_scales_to_the_largest_value_and_shows_gaps():
    assert chart.sparkline([0, 1, 2, 4, 8]) == "▁▂▃▅█"
    line = chart.sparkline([0, None, 8, 4])
    assert line[0] == "▁" and line[1] == " " and line[2] == "█" and line[3] in "▄▅"
    assert chart.sparkline([None, None]) == ""


def test_chart_is_attached_and_accepted_by_the_strict_server(tmp_path, discord_server, webhook):
    """multipart/form-data with payload_json, the PNG as files[0], the embed image as attachment://summary.png."""
    post = summary_post(tmp_path, attachments=True)
    ((name, data, content_type),) = post.files
    assert (name, content_type) == ("summary.png", "image/png")
    assert data.startswith(PNG_MAGIC) and 2_000 < len(data) < 200_000
    assert post.image == "attachment://summary.png"
    assert "▁" not in post.notice.description  # the picture replaces the sparkline

    embed = render_embed(post.notice)
    embed["image"] = {"url": post.image}
    url = WebhookURL.parse(webhook.url, (discord_server.host_port,))
    outcome = WebhookClient(timeout=5).execute(url, build_payload([embed]), files=list(post.files))
    assert outcome.ok, outcome.describe()
    (message,) = discord_server.messages()
    assert [f.name for f in message.files] == ["summary.png"]
    assert message.embeds[0]["image"]["url"] == "attachment://summary.png"

    # The server really checks the reference: the same payload without the file is refused.
    refused = WebhookClient(timeout=5).execute(url, build_payload([embed]))
    assert refused.status == 400 and "summary.png" in (refused.error or "")


def test_without_matplotlib_the_summary_carries_a_sparkline(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)  # import fails
    assert not chart.matplotlib_available()
    post = summary_post(tmp_path, attachments=True)
    assert post.files == () and post.image is None
    traffic, latency = post.notice.description.splitlines()[1:3]
    assert traffic.startswith("Requests ") and traffic.rstrip().endswith("█")
    assert latency.startswith("p95 ms ") and set(latency[len("p95 ms ") :].strip()) <= set(chart.SPARKS + " ")


def test_without_file_support_in_the_pipeline_the_summary_carries_a_sparkline(tmp_path):
    post = summary_post(tmp_path, attachments=False)
    assert post.files == ()
    assert "Requests ▁" in post.notice.description


def test_exporter_posts_the_chart_through_the_pipeline(tmp_path, discord_server, webhook):
    """End to end: the daily summary arrives as multipart with summary.png shown in its embed."""
    from test_summary_support import App, Clock, local

    from otel_discord.exporters.metrics import DiscordMetricExporter

    clock = Clock(local(2025, 10, 14, 12, 0))
    exporter = DiscordMetricExporter(
        webhook.url,
        allowed_hosts=discord_server.host_port,
        spool_dir=str(tmp_path / "spool"),
        service_name="ozark",
        summary_schedule="daily@18:00",
        system_events=False,
        _clock=clock,
        _tick_interval=0,
    )
    app = App()
    app.request("/invoices", 40, n=25)
    exporter.export(app.collect())
    clock.now = local(2025, 10, 14, 18, 0, 30)
    exporter.export(app.collect())
    exporter.shutdown()
    (message,) = discord_server.messages()
    assert [f.name for f in message.files] == ["summary.png"]
    assert message.files[0].data.startswith(PNG_MAGIC)
    assert message.embeds[0]["image"]["url"] == "attachment://summary.png"
    assert "Requests ▁" not in message.embeds[0]["description"]
