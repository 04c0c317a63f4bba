"""Webhook URLs: what is accepted, how it is normalised, and that the token never shows."""

from __future__ import annotations

import pytest

from otel_discord.config.webhook_url import WebhookURL, redact

TOKEN = "Abc_DEF-123.xyz" * 4


@pytest.mark.parametrize(
    "raw",
    [
        f"https://discord.com/api/webhooks/123456789012345678/{TOKEN}",
        f"https://discordapp.com/api/webhooks/123456789012345678/{TOKEN}",
        f"https://ptb.discord.com/api/v9/webhooks/123456789012345678/{TOKEN}/",
        f"https://canary.discord.com/api/v10/webhooks/123456789012345678/{TOKEN}",
    ],
)
def test_discord_forms_normalise_to_discord_com_v10(raw):
    """Every form users paste becomes https://discord.com/api/v10/webhooks/<id>/<token>."""
    hook = WebhookURL.parse(raw)
    assert hook.api_url == f"https://discord.com/api/v10/webhooks/123456789012345678/{TOKEN}"


def test_thread_id_in_query_is_kept():
    """A ?thread_id= on the pasted URL becomes the thread target."""
    hook = WebhookURL.parse(f"https://discord.com/api/webhooks/1/{TOKEN}?thread_id=42")
    assert hook.thread_id == "42"


@pytest.mark.parametrize(
    "raw, reason",
    [
        (f"http://discord.com/api/webhooks/1/{TOKEN}", "https"),
        (f"https://evil.example/api/webhooks/1/{TOKEN}", "ALLOWED_HOSTS"),
        (f"https://discord.com/api/webhooks/1/{TOKEN}/slack", "webhook URL"),
        ("ftp://discord.com/api/webhooks/1/abc", "http(s)"),
        ("not a url", "http(s)"),
    ],
)
def test_refused_urls_name_the_reason_without_the_token(raw, reason):
    """A refused URL says why, and the message never contains the token."""
    with pytest.raises(ValueError) as info:
        WebhookURL.parse(raw)
    assert reason in str(info.value)
    assert TOKEN not in str(info.value)


def test_allowed_hosts_admit_loopback_http_only():
    """Plain http is allowed for a listed loopback host, never for a listed remote host."""
    local = WebhookURL.parse(f"http://127.0.0.1:8080/api/webhooks/1/{TOKEN}", ["127.0.0.1:8080"])
    assert local.api_url == f"http://127.0.0.1:8080/api/v10/webhooks/1/{TOKEN}"
    with pytest.raises(ValueError, match="loopback"):
        WebhookURL.parse(f"http://hooks.example:8080/api/webhooks/1/{TOKEN}", ["hooks.example:8080"])
    remote = WebhookURL.parse(f"https://hooks.example/api/webhooks/1/{TOKEN}", ["hooks.example"])
    assert remote.base == "https://hooks.example"


def test_str_and_repr_mask_the_token():
    """Printing or logging a webhook shows its id and never its token."""
    hook = WebhookURL.parse(f"https://discord.com/api/webhooks/77/{TOKEN}")
    for text in (str(hook), repr(hook), hook.masked, f"{hook}", str([hook])):
        assert TOKEN not in text
        assert "77" in text


def test_redact_hides_tokens_in_free_text():
    """Tokens inside exception messages are hidden before logging."""
    text = f"HTTPSConnectionPool: Max retries with url: /api/v10/webhooks/77/{TOKEN}?wait=true"
    assert TOKEN not in redact(text)
    assert "/webhooks/77/****" in redact(text)


@pytest.mark.parametrize(
    "text",
    [
        f"https://discord.com/API/Webhooks/123456789012345678/{TOKEN}",
        f"https://discord.com/api/webhooks/ 123456789012345678/{TOKEN}",
        f"https://discord.com/api/webhooks/123456789012345678/a+b~{TOKEN}",
        f"discord webhook {TOKEN}",
        f"OTEL_EXPORTER_DISCORD_WEBHOOK_URL={TOKEN}",
        f"123456789012345678/{TOKEN}",
        f"Authorization: Bearer {TOKEN}",
    ],
)
def test_redact_hides_every_token_shape(text):
    """Each shape a user pastes loses its token, and scrubbing twice changes nothing more."""
    once = redact(text)
    assert TOKEN not in once and "****" in once and redact(once) == once


@pytest.mark.parametrize(
    "raw",
    [
        TOKEN,
        f"discord webhook {TOKEN}",
        f"https://discord.com/API/Webhooks/1234/{TOKEN}",
        f"https://discord.com/api/webhooks/ 1234/{TOKEN}",
    ],
)
def test_refused_value_is_described_not_echoed(raw):
    """The error says the token's length instead of showing it."""
    with pytest.raises(ValueError) as info:
        WebhookURL.parse(raw)
    assert TOKEN not in str(info.value) and f"token of {len(TOKEN)} characters" in str(info.value)


def test_redact_keeps_app_text_readable():
    for text in ("/webhooks/github/push", "Bearer of bad news", "otel_discord.deliver.engine"):
        assert redact(text) == text
