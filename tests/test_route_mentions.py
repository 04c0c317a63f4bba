"""Mentions: configured ids ping from ``content``; text from the application can never ping anyone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from otel_discord.config import ConfigError, resolve
from otel_discord.deliver.engine import DeliveryEngine
from otel_discord.notice import Category, Kind, Notice, Severity
from otel_discord.pipeline import Pipeline, validate
from otel_discord.route.mentions import parse_mention
from otel_discord.testing import DiscordServer

ONCALL = "222222222222222222"
FINANCE = "333333333333333333"
BOOKKEEPER = "444444444444444444"


@pytest.fixture
def make_pipeline(discord_server: DiscordServer, tmp_path: Path) -> Iterator:
    made: list[Pipeline] = []

    def make(body: str, channels=("finance-activity", "system-debug", "user-activity")) -> Pipeline:
        environ, lines = {}, ["channels:"]
        for name in channels:
            var = "HOOK_" + name.upper().replace("-", "_")
            environ[var] = discord_server.create_webhook(name).url
            lines.append(f"  {name}: ${{{var}}}")
        path = tmp_path / "otel-discord.yaml"
        path.write_text("\n".join(lines) + "\n" + body)
        settings = resolve(
            "logs",
            config_file=path,
            environ=environ,
            allowed_hosts=discord_server.host_port,
            spool_dir=tmp_path / "spool",
        )
        pipeline = Pipeline(settings, engine=DeliveryEngine(settings, linger=0.0))
        made.append(pipeline)
        return pipeline

    yield make
    for pipeline in made:
        pipeline.release(2.0)


MENTIONS = f"""
mentions:
  critical: "<@&{ONCALL}>"
  rules:
    - match: {{event: "btw.payment.updated", attributes: ["btw.difference >= 100"]}}
      mention: "<@{BOOKKEEPER}>"
routes:
  - match: {{event: "invoice.paid", attributes: ["invoice.amount >= 10000"]}}
    channel: finance-activity
    mention: "<@&{FINANCE}>"
"""

HOSTILE = "@everyone @here <@&555555555555555555> <@666666666666666666>"


def test_critical_pings_the_configured_role_once(make_pipeline, discord_server):
    """A CRITICAL error pings the on-call role in the first channel it goes to; nothing else pings."""
    pipeline = make_pipeline(MENTIONS)
    pipeline.submit(
        [Notice(Kind.ERROR, Severity.CRITICAL, Category.INVOICE, f"Invoice store gone {HOSTILE}", description=HOSTILE)]
    )
    assert pipeline.flush(10)
    [alert] = discord_server.messages("system-debug")  # errors go to system-debug first (continue)
    [copy] = discord_server.messages("finance-activity")
    assert alert.content == f"<@&{ONCALL}>"
    assert alert.payload["allowed_mentions"] == {"parse": [], "roles": [ONCALL]}
    assert alert.pings.roles == (ONCALL,) and alert.pings.users == () and not alert.pings.everyone
    assert not copy.pings and copy.payload["allowed_mentions"] == {"parse": []}


def test_route_mention_pings_in_its_channel(make_pipeline, discord_server):
    """A €12,500 payment pings the finance role; a €2,000 one pings nobody."""
    pipeline = make_pipeline(MENTIONS)
    big = Notice(
        Kind.EVENT,
        Severity.SUCCESS,
        Category.PAYMENT,
        f"Invoice paid {HOSTILE}",
        event_name="invoice.paid",
        attributes={"invoice.amount": 12500.0},
    )
    pipeline.submit([big])
    pipeline.flush(10)
    pipeline.submit([big.replace(attributes={"invoice.amount": 2000.0})])
    assert pipeline.flush(10)
    first, second = discord_server.messages("finance-activity")
    assert first.pings.roles == (FINANCE,) and first.flags == 0  # a mention notifies even at INFO
    assert not second.pings and second.content == ""


def test_mention_rule_pings_a_user(make_pipeline, discord_server):
    pipeline = make_pipeline(MENTIONS)
    pipeline.submit(
        [
            Notice(
                Kind.EVENT,
                Severity.INFO,
                Category.BTW,
                "BTW 2025-Q3 differs",
                event_name="btw.payment.updated",
                attributes={"btw.amount": 4200.0, "btw.difference": 150.0},
            )
        ]
    )
    assert pipeline.flush(10)
    [message] = discord_server.messages("finance-activity")
    assert message.pings.users == (BOOKKEEPER,)
    assert message.payload["allowed_mentions"] == {"parse": [], "users": [BOOKKEEPER]}


def test_untrusted_text_never_pings_without_configuration(make_pipeline, discord_server):
    """With no mentions configured, @everyone and ids in titles and descriptions ping nobody."""
    pipeline = make_pipeline("")
    pipeline.submit(
        [
            Notice(Kind.ERROR, Severity.CRITICAL, Category.ERROR, HOSTILE, description=HOSTILE),
            Notice(Kind.EVENT, Severity.WARNING, Category.SECURITY, HOSTILE, event_name="auth.login_failed"),
        ]
    )
    assert pipeline.flush(10)
    messages = discord_server.messages()
    assert len(messages) == 2
    for message in messages:
        assert not message.pings
        assert message.payload["allowed_mentions"] == {"parse": []}
        assert message.content == ""


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("@everyone", "is not a Discord mention"),
        ("<@&abc>", "is not a Discord mention"),
        ("<@&123> please", "is not a Discord mention"),
        ("", "is not a Discord mention"),
        ([], "needs a mention"),
    ],
)
def test_bad_mentions_are_config_errors(raw, message):
    with pytest.raises(ConfigError) as caught:
        parse_mention(raw, "routes[0].mention")
    assert str(caught.value).startswith("config file routes[0].mention: ")
    assert message in str(caught.value)


def test_several_mentions_in_one_setting():
    mention = parse_mention(f"<@&{ONCALL}> <@!{BOOKKEEPER}>", "mentions.critical")
    assert mention.roles == (ONCALL,) and mention.users == (BOOKKEEPER,)
    assert mention.text == f"<@&{ONCALL}> <@{BOOKKEEPER}>"


def test_mentions_section_errors_name_the_key(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "channels:\n  ops: https://discord.com/api/webhooks/1/t\nmentions:\n  rules:\n    - match: {level: error}\n"
    )
    with pytest.raises(ConfigError, match=r"^config file mentions\.rules\[0\]: needs a mention"):
        validate(resolve("logs", config_file=path, environ={}, spool_dir=tmp_path))
