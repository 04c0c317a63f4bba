"""The preview page over real HTTP, without a browser: what it serves, escapes, counts and updates."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind

from otel_discord import DiscordSpanExporter
from otel_discord.config import resolve
from otel_discord.testing import DiscordServer
from otel_discord.testing.preview import Preview

HOSTILE = '<script>document.title="pwned"</script><img src=x onerror="alert(1)">'


@pytest.fixture
def preview() -> Iterator[Preview]:
    # A clock that never moves: rate-limit windows never reset, so a 429 is certain.
    server = DiscordServer(port=0, clock=lambda: 1000.0).start()
    page = Preview(server)
    page.add_channel("default")
    page.add_channel("finance-activity")
    try:
        yield page
    finally:
        page.stop()


def _state(preview: Preview, since: int | None = None) -> dict:
    query = f"?since={since}" if since is not None else ""
    response = requests.get(f"{preview.server.base_url}/preview/state{query}", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    return response.json()


def _post_error_through_the_exporter(preview: Preview, tmp_path) -> None:
    hook = preview.webhooks["default"]
    exporter = DiscordSpanExporter(hook.url, allowed_hosts=preview.server.host_port, spool_dir=str(tmp_path))
    provider = TracerProvider(resource=Resource.create({"service.name": "ozark-finances"}))
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=50))
    tracer = provider.get_tracer("test")
    with pytest.raises(ValueError):
        with tracer.start_as_current_span(
            "GET /boom", kind=SpanKind.SERVER, attributes={"http.route": "/boom", "http.method": "GET"}
        ):
            raise ValueError(HOSTILE)
    provider.force_flush()
    exporter.force_flush(10_000)
    preview.server.wait_for_messages(1, channel="default")
    provider.shutdown()


def test_a_script_in_an_exception_message_is_shown_as_text(preview, tmp_path):
    """An exception message carrying HTML reaches the page escaped: as text, never as markup."""
    _post_error_through_the_exporter(preview, tmp_path)
    page = requests.get(preview.url, timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    state = _state(preview)
    (channel,) = [c for c in state["channels"] if c["name"] == "default"]
    (message,) = channel["messages"]
    for html in (page.text, message["html"]):
        assert "ValueError" in html
        assert "<script>document" not in html and "<img src=x" not in html and 'onerror="' not in html
        assert "&lt;script&gt;document.title=&quot;pwned&quot;&lt;/script&gt;" in html
    # The JSON carries the message as Discord stores it: the text is data, not markup.
    assert "document.title" in json.dumps(message["json"]["embeds"])
    # Defence in depth: no inline script may run on the page at all.
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    assert page.text.count("<script") == 1 and '<script src="/preview/static/preview.js" defer></script>' in page.text


def test_state_is_cheap_until_something_changes_and_shows_edits_in_place(preview):
    """Polling with the current revision returns only the revision; an edit bumps it and marks the message."""
    hook = preview.webhooks["finance-activity"]
    embed = {"title": "Invoice #250090 paid", "color": 0x2ECC71}
    posted = requests.post(hook.url + "?wait=true", json={"embeds": [embed]}, timeout=10).json()
    first = _state(preview)
    assert _state(preview, since=first["revision"]) == {"revision": first["revision"]}
    (before,) = [c for c in first["channels"] if c["name"] == "finance-activity"][0]["messages"]
    assert "(edited)" not in before["html"]

    patched = requests.patch(
        f"{hook.url}/messages/{posted['id']}",
        json={"embeds": [{"title": "Invoice #250090 paid ×2", "color": 0x2ECC71}]},
        timeout=10,
    )
    assert patched.status_code == 200
    after_state = _state(preview, since=first["revision"])
    assert after_state["revision"] > first["revision"]
    (after,) = [c for c in after_state["channels"] if c["name"] == "finance-activity"][0]["messages"]
    assert after["id"] == before["id"] and after["version"] != before["version"]
    assert "(edited)" in after["html"] and "Invoice #250090 paid ×2" in after["html"]
    assert after_state["stats"]["edits"] == 1

    preview.server.delete_message(posted["id"])
    gone = _state(preview, since=after_state["revision"])
    assert [c for c in gone["channels"] if c["name"] == "finance-activity"][0]["messages"] == []


def test_rejections_and_429s_are_counted_with_discords_error_json(preview):
    """A refused payload shows Discord's error body (token masked); 429s are counted by scope."""
    hook = preview.webhooks["default"]
    refused = requests.post(hook.url, json={"embeds": [{"title": "x" * 300}]}, timeout=10)
    assert refused.status_code == 400
    statuses = [requests.post(hook.url, json={"content": f"n{i}"}, timeout=10).status_code for i in range(5)]
    assert statuses[-1] == 429  # 5 per window, the refused one included, and the clock stands still
    state = _state(preview)
    assert state["stats"]["rejected"] == 1
    assert state["stats"]["rate_limited"]["user"] == 1
    (rejection,) = state["rejected"]
    assert rejection["status"] == 400 and rejection["error"]["code"] == 50035
    assert rejection["error"]["errors"]["embeds"]["0"]["title"]["_errors"][0]["code"] == "BASE_TYPE_MAX_LENGTH"
    assert rejection["path"].endswith("/****")
    assert preview.summary().line() == "4 messages (#default 4), 0 embeds, 0 edited, 1 rate-limited (429), 1 rejected"
    everything = requests.get(preview.url, timeout=10).text + json.dumps(state)
    for webhook in preview.webhooks.values():
        assert webhook.token not in everything


def test_attachment_images_show_the_uploaded_file(preview):
    """An embed image ``attachment://chart.png`` is drawn from the file uploaded with the message."""
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    payload = {
        "embeds": [{"title": "Summary", "image": {"url": "attachment://chart.png"}}],
        "attachments": [{"id": "0", "filename": "chart.png"}],
    }
    response = requests.post(
        preview.webhooks["default"].url + "?wait=true",
        files={
            "payload_json": (None, json.dumps(payload), "application/json"),
            "files[0]": ("chart.png", png, "image/png"),
        },
        timeout=10,
    )
    assert response.status_code == 200, response.text
    url = response.json()["attachments"][0]["url"]
    page = requests.get(preview.url, timeout=10).text
    assert f'<img class="embed-image" src="{url}"' in page
    assert requests.get(url, timeout=10).content == png


def test_static_files_favicon_and_unknown_paths(preview):
    """The page's own files are served; nothing else is; a browser's favicon request is not a rejection."""
    base = preview.server.base_url
    script = requests.get(f"{base}/preview/static/preview.js", timeout=10)
    assert script.status_code == 200 and script.headers["Content-Type"].startswith("text/javascript")
    assert "innerHTML" in script.text  # only for the server-rendered message HTML (see the comment there)
    assert requests.get(f"{base}/preview/static/preview.css", timeout=10).status_code == 200
    assert requests.get(f"{base}/favicon.ico", timeout=10).status_code == 204
    assert requests.get(f"{base}/preview/static/index.html", timeout=10).status_code == 404
    assert requests.get(f"{base}/preview/static/%2e%2e/preview.py", timeout=10).status_code == 404
    assert preview.server.stats()["rejected"] == 0 and preview.server.stats()["requests"] == 0


def test_env_lines_configure_otel_discord_for_every_channel(preview):
    """The printed variables resolve to one otel-discord channel per preview channel, same webhooks."""
    env = preview.env()
    assert env["OTEL_EXPORTER_DISCORD_ALLOWED_HOSTS"] == preview.server.host_port
    settings = resolve("traces", environ=env)
    assert {name: ch.webhook.webhook_id for name, ch in settings.channels.items()} == {
        "default": preview.webhooks["default"].id,
        "finance-activity": preview.webhooks["finance-activity"].id,
    }


def test_without_a_default_channel_the_first_one_is_the_default():
    """``--channels alerts,finance-activity``: alerts is OTEL_EXPORTER_DISCORD_WEBHOOK_URL."""
    preview = Preview.start(["alerts", "finance-activity"], port=0)
    try:
        env = preview.env()
        assert env["OTEL_EXPORTER_DISCORD_WEBHOOK_URL"] == preview.webhooks["alerts"].url
        assert env["OTEL_EXPORTER_DISCORD_WEBHOOK_URL_FINANCE_ACTIVITY"] == preview.webhooks["finance-activity"].url
        assert "OTEL_EXPORTER_DISCORD_WEBHOOK_URL_ALERTS" not in env
    finally:
        preview.stop()


def test_a_long_running_preview_shows_the_newest_messages_and_counts_all():
    """Past 200 messages in a channel the page carries the newest 200 and still counts every one."""
    server = DiscordServer(port=0, webhook_limit=1000, channel_limit=1000).start()
    page = Preview(server)
    try:
        hook = page.add_channel("default")
        with requests.Session() as http:
            for number in range(205):
                assert http.post(hook.url, json={"content": f"notice {number}"}, timeout=10).status_code == 204
        (channel,) = _state(page)["channels"]
        assert channel["total"] == 205 and len(channel["messages"]) == 200
        assert "notice 204" in channel["messages"][-1]["html"] and "notice 5<" in channel["messages"][0]["html"]
    finally:
        page.stop()
