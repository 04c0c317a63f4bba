"""The router: the file's routes, then the preset's; first match wins unless ``continue``; else default."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from otel_discord.config import ConfigError, resolve
from otel_discord.notice import Category, Kind, Notice, Severity
from otel_discord.pipeline import validate
from otel_discord.route import Router

HOOK = "https://discord.com/api/webhooks/{id}/tok-{id}"


def settings_with(tmp_path: Path, body: str, channels=("default", "finance", "ops"), **environ):
    """Settings from a config file declaring ``channels`` plus ``body``."""
    lines = ["channels:"] + [f"  {name}: {HOOK.format(id=100 + i)}" for i, name in enumerate(channels)]
    path = tmp_path / "otel-discord.yaml"
    path.write_text("\n".join(lines) + "\n" + body)
    return resolve("logs", config_file=path, environ=environ, spool_dir=tmp_path / "spool")


def paid(amount: float, severity: Severity = Severity.INFO) -> Notice:
    return Notice(
        Kind.EVENT,
        severity,
        Category.PAYMENT,
        "Invoice paid",
        event_name="invoice.paid",
        attributes={"invoice.amount": amount},
    )


def channels_of(router: Router, notice: Notice) -> list[str]:
    return [routed.channel for routed in router(notice)]


def test_first_matching_route_wins(tmp_path):
    """Routes are tried in order and the first match takes the notice."""
    router = Router(
        settings_with(
            tmp_path,
            """
preset: none
routes:
  - match: {event: "invoice.*", attributes: ["invoice.amount >= 1000"]}
    channel: finance
  - match: {category: payment}
    channel: ops
""",
        )
    )
    assert channels_of(router, paid(2500)) == ["finance"]
    assert channels_of(router, paid(20)) == ["ops"]


def test_continue_sends_to_several_channels(tmp_path):
    """``continue: true`` goes on to later routes: one notice, several channels, each once."""
    router = Router(
        settings_with(
            tmp_path,
            """
preset: none
routes:
  - match: {level: error}
    channel: ops
    continue: true
  - match: {category: payment}
    channel: finance
  - match: {}
    channel: ops
""",
        )
    )
    assert channels_of(router, paid(10, Severity.ERROR)) == ["ops", "finance"]
    assert channels_of(router, paid(10)) == ["finance"]


def test_no_match_goes_to_the_default_channel(tmp_path):
    """A notice no route takes lands in the default channel."""
    router = Router(
        settings_with(
            tmp_path,
            """
preset: none
routes:
  - match: {category: btw}
    channel: finance
""",
        )
    )
    assert channels_of(router, paid(10)) == ["default"]


def test_a_route_to_an_unknown_channel_is_an_error(tmp_path):
    """A typo in a channel name fails at start-up, naming the route and the configured channels."""
    with pytest.raises(ConfigError) as caught:
        Router(
            settings_with(
                tmp_path,
                """
routes:
  - match: {category: payment}
    channel: finance
  - match: {category: btw}
    channel: finanse
""",
            )
        )
    assert str(caught.value).startswith("config file routes[1].channel: unknown channel 'finanse'")
    assert "default, finance, ops" in str(caught.value)


def test_bad_level_names_the_key_path(tmp_path):
    """The issue's own example: a bad level names routes[2].match.level."""
    settings = settings_with(
        tmp_path,
        """
routes:
  - {match: {level: info}, channel: ops}
  - {match: {level: error}, channel: ops}
  - {match: {level: loud}, channel: ops}
""",
    )
    with pytest.raises(ConfigError, match=r"^config file routes\[2\]\.match\.level: unknown level 'loud'"):
        validate(settings)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("routes: {channel: ops}", "config file routes: must be a list of routes"),
        ("routes:\n  - match: {level: error}", "config file routes[0].channel: every route needs a channel"),
        ("routes:\n  - {channel: ops, contine: true}", "config file routes[0].contine: unknown key"),
        ("routes:\n  - {channel: ops, continue: yes please}", "config file routes[0].continue: must be true or false"),
        ("preset: fancy", "config file key 'preset': unknown preset 'fancy'"),
    ],
)
def test_route_mistakes_are_config_errors(tmp_path, body, message):
    """Each mistake in ``routes:`` is reported with its key path."""
    with pytest.raises(ConfigError) as caught:
        validate(settings_with(tmp_path, body + "\n"))
    assert str(caught.value).startswith(message)


def test_preset_from_the_environment_overrides_the_file(tmp_path):
    """PRESET follows the usual precedence: environment before the file."""
    settings = settings_with(
        tmp_path,
        "preset: simple\n",
        channels=("default", "errors-alerts", "app-activity"),
        OTEL_EXPORTER_DISCORD_PRESET="none",
    )
    router = Router(settings)
    assert router.preset is None
    assert channels_of(router, paid(10, Severity.ERROR)) == ["default"]


def test_file_routes_run_before_the_preset(tmp_path):
    """The file's routes come first, so one route can take a notice away from the preset's channel."""
    router = Router(
        settings_with(
            tmp_path,
            """
preset: focused
routes:
  - match: {event: "invoice.paid", attributes: ["invoice.amount >= 10000"]}
    channel: ops
""",
            channels=("finance-activity", "system-debug", "user-activity", "ops"),
        )
    )
    assert channels_of(router, paid(20000)) == ["ops"]
    assert channels_of(router, paid(2000)) == ["finance-activity"]


def test_audit_copies_do_not_count_as_a_match(tmp_path):
    """An ``audit: true`` route copies the notice; the default channel still gets it if nothing else does."""
    router = Router(
        settings_with(
            tmp_path,
            """
preset: none
routes:
  - {match: {kind: event}, channel: ops, audit: true, continue: true}
  - {match: {category: btw}, channel: finance}
""",
        )
    )
    routed = router(
        Notice(Kind.EVENT, Severity.INFO, Category.USER, "login", event_name="auth.login", fingerprint="abc")
    )
    assert [r.channel for r in routed] == ["ops", "default"]
    assert routed[0].fingerprint == ""  # audit copies are never grouped
    assert router.audit_channels == {"ops"}


def test_missing_preset_channels_fall_back_to_default_and_log_once(tmp_path, caplog):
    """A preset channel the configuration lacks goes to the default channel, with one warning."""
    settings = settings_with(tmp_path, "preset: detailed\n", channels=("default", "finance-logs"))
    logger = logging.getLogger("otel_discord")
    logger.addHandler(caplog.handler)
    try:
        first, second = Router(settings), Router(settings)
    finally:
        logger.removeHandler(caplog.handler)
    assert channels_of(first, paid(10)) == ["finance-logs"]
    assert channels_of(second, Notice(Kind.SYSTEM, Severity.INFO, Category.SYSTEM, "started")) == ["default"]
    warnings = [r.getMessage() for r in caplog.records if "not configured" in r.getMessage()]
    assert len(warnings) == 1
    assert all(name in warnings[0] for name in ("system-logs", "errors-debug", "user-activity"))
    assert "finance-logs" not in warnings[0]
