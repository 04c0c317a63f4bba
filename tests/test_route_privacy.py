"""Privacy settings: masking on by default, ``privacy:`` in the file, amounts and invoice numbers kept."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from otel_discord.config import ConfigError, resolve
from otel_discord.deliver.engine import DeliveryEngine
from otel_discord.notice import Category, Field, Kind, Notice, Severity
from otel_discord.pipeline import Pipeline, masker_for
from otel_discord.testing import DiscordServer

PERSONAL = "anna.de.vries@example.nl paid from NL91ABNA0417164300, call +31 6 12345678, from 203.0.113.77"
FACTS = "Invoice #250090 over €5.250,00 (INV-2025-0042) paid"


@pytest.fixture
def make_pipeline(discord_server: DiscordServer, tmp_path: Path) -> Iterator:
    made: list[Pipeline] = []

    def make(body: str = "", **environ) -> Pipeline:
        hook = discord_server.create_webhook("ops")
        path = tmp_path / "otel-discord.yaml"
        path.write_text(f"channels:\n  ops: ${{HOOK}}\n{body}")
        settings = resolve(
            "logs",
            config_file=path,
            environ={"HOOK": hook.url, **environ},
            allowed_hosts=discord_server.host_port,
            spool_dir=tmp_path / "spool",
        )
        pipeline = Pipeline(settings, engine=DeliveryEngine(settings, linger=0.0))
        made.append(pipeline)
        return pipeline

    yield make
    for pipeline in made:
        pipeline.release(2.0)


def post(pipeline: Pipeline, server: DiscordServer) -> str:
    notice = Notice(
        Kind.EVENT,
        Severity.WARNING,
        Category.PAYMENT,
        FACTS,
        description=PERSONAL,
        event_name="invoice.paid",
        fields=(Field("Contact", PERSONAL),),
        attributes={"invoice.amount": 5250.0},
    )
    pipeline.submit([notice])
    assert pipeline.flush(10)
    [message] = server.messages()
    server.reset()
    return str(message.embeds).replace("\\", "")


def test_masking_is_on_by_default_and_keeps_the_facts(make_pipeline, discord_server):
    """E-mail, IBAN, phone and the IP's last octet are masked; the amount and invoice numbers are not."""
    text = post(make_pipeline(), discord_server)
    for secret in ("anna.de.vries@example.nl", "NL91ABNA0417164300", "12345678", "203.0.113.77"):
        assert secret not in text
    assert "203.0.113.***" in text
    for fact in ("250090", "€5.250,00", "INV-2025-0042"):
        assert fact in text


def test_privacy_section_turns_masking_off(make_pipeline, discord_server):
    """``privacy: {mask_pii: false}``: personal data is shown as logged (IP addresses too)."""
    text = post(make_pipeline("privacy:\n  mask_pii: false\n"), discord_server)
    assert "anna.de.vries@example.nl" in text and "NL91ABNA0417164300" in text and "203.0.113.77" in text


def test_privacy_ip_hash(make_pipeline, discord_server):
    """``ip: hash`` replaces an address by a salted hash, the same for the same address."""
    text = post(make_pipeline("privacy:\n  ip: hash\n"), discord_server)
    assert "203.0.113.77" not in text and "203.0.113.***" not in text
    hashes = [part.split(",")[0].rstrip("'") for part in text.split("ip#")[1:]]
    assert len(hashes) == 2 and hashes[0] == hashes[1]


def test_privacy_ip_keep(make_pipeline, discord_server):
    text = post(make_pipeline("privacy:\n  ip: keep\n"), discord_server)
    assert "203.0.113.77" in text
    assert "anna.de.vries@example.nl" not in text


def test_environment_wins_over_the_privacy_section(tmp_path):
    """MASK_PII and MASK_IP from the environment override ``privacy:``, as every setting does."""
    path = tmp_path / "c.yaml"
    path.write_text("channels:\n  ops: https://discord.com/api/webhooks/1/t\nprivacy:\n  mask_pii: false\n  ip: keep\n")
    settings = resolve(
        "logs",
        config_file=path,
        spool_dir=tmp_path,
        environ={"OTEL_EXPORTER_DISCORD_MASK_PII": "true", "OTEL_EXPORTER_DISCORD_LOGS_MASK_IP": "hash"},
    )
    masker = masker_for(settings)
    assert masker.enabled and masker.ip_mode == "hash"
    # An explicit argument beats the file too.
    argument = resolve("logs", config_file=path, spool_dir=tmp_path, environ={}, mask_pii=False)
    assert not masker_for(argument).enabled


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("privacy:\n  ip: scramble\n", "config file privacy.ip: must be one of keep, mask, hash"),
        ("privacy:\n  mask_pii: maybe\n", "config file privacy.mask_pii: must be true or false"),
        ("privacy:\n  mask: true\n", "config file privacy.mask: unknown key"),
    ],
)
def test_privacy_mistakes_name_the_key(tmp_path, body, message):
    path = tmp_path / "c.yaml"
    path.write_text("channels:\n  ops: https://discord.com/api/webhooks/1/t\n" + body)
    with pytest.raises(ConfigError) as caught:
        masker_for(resolve("logs", config_file=path, environ={}, spool_dir=tmp_path))
    assert str(caught.value).startswith(message)
