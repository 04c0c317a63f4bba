"""``otel-discord doctor`` against the strict local Discord server."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from otel_discord.cli import main
from otel_discord.commands.doctor import diagnose, logging_advice, signal_lines
from otel_discord.config import resolve
from otel_discord.notice import Kind

CONFIG = """channels:
  finance-activity: ${HOOK_FINANCE}
  system-debug: ${HOOK_SYSTEM}
  user-activity: ${HOOK_USERS}
mentions:
  critical: "<@&222222222222222222>"
schedules:
  night:
    channels: [system-debug]
    quiet_hours: "23:00-07:00"
"""


def settings_for(server, tmp_path: Path, body: str = CONFIG):
    hooks = {
        name: server.create_webhook(channel)
        for name, channel in (
            ("HOOK_FINANCE", "finance-activity"),
            ("HOOK_SYSTEM", "system-debug"),
            ("HOOK_USERS", "user-activity"),
        )
    }
    path = tmp_path / "otel-discord.yaml"
    path.write_text(body)
    environ = {"TZ": "Europe/Amsterdam", **{name: hook.url for name, hook in hooks.items()}}
    return resolve(
        None, config_file=path, environ=environ, allowed_hosts=server.host_port, spool_dir=tmp_path / "spool"
    ), hooks


def test_healthy_setup_prints_config_without_tokens_and_ok_per_channel(discord_server, tmp_path):
    """Every channel ok, the effective routing shown, and no webhook token anywhere in the output."""
    settings, hooks = settings_for(discord_server, tmp_path)
    out = io.StringIO()
    assert diagnose(settings, out) == 0
    text = out.getvalue()
    for hook in hooks.values():
        assert hook.token not in text
    assert "preset: focused" in text
    assert "preset focused[2]: category btw|export|import|invoice|payment → finance-activity" in text
    assert "critical → <@&222222222222222222>" in text
    assert "night: days mon,tue,wed,thu,fri,sat,sun · quiet 23:00-07:00 (Europe/Amsterdam)" in text
    assert "rate_cap: 10 per channel per minute" in text
    for channel in ("finance-activity", "system-debug", "user-activity"):
        assert f"✓ channel {channel} (" in text and "): ok" in text
    assert "logging" not in text  # no logs exporter named: no advice about logging
    assert discord_server.messages() == []  # a check posts nothing


def test_broken_webhooks_get_a_clear_verdict(discord_server, tmp_path):
    """A deleted webhook is 'unknown webhook', a wrong token 'unauthorized', a dead host 'unreachable'."""
    settings, hooks = settings_for(discord_server, tmp_path)
    discord_server.delete_webhook(hooks["HOOK_FINANCE"].id)
    wrong = hooks["HOOK_SYSTEM"].url[:-4] + "AAAA"
    environ = {
        "HOOK_FINANCE": hooks["HOOK_FINANCE"].url,
        "HOOK_SYSTEM": wrong,
        "HOOK_USERS": "http://127.0.0.1:9/api/webhooks/1/unreachable",
    }
    settings = resolve(
        None,
        config_file=settings.config_file,
        environ=environ,
        allowed_hosts=f"{discord_server.host_port},127.0.0.1:9",
        spool_dir=tmp_path / "spool",
    )
    out = io.StringIO()
    assert diagnose(settings, out, timeout=2.0) == 1
    text = out.getvalue()
    assert "✗ channel finance-activity" in text and "unknown webhook" in text
    assert "✗ channel system-debug" in text and "unauthorized (wrong token)" in text
    assert "✗ channel user-activity" in text and "unreachable" in text
    assert "AAAA" not in text


def test_logging_advice_is_advice_and_only_when_logs_go_to_discord(discord_server, tmp_path):
    """With OTEL_LOGS_EXPORTER naming discord the report reminds how INFO events get through, marked as
    advice: the exit status stays 0. Without it, no logging line at all. doctor's own log level (here
    ERROR) plays no part."""
    settings, _ = settings_for(discord_server, tmp_path)
    logging.getLogger().setLevel(logging.ERROR)
    try:
        with_logs, without = io.StringIO(), io.StringIO()
        assert diagnose(settings, with_logs, environ={"OTEL_LOGS_EXPORTER": "discord"}) == 0
        assert diagnose(settings, without, environ={"OTEL_LOGS_EXPORTER": "console"}) == 0
    finally:
        logging.getLogger().setLevel(logging.WARNING)
    advice = [line for line in with_logs.getvalue().splitlines() if "logging" in line.split(":")[0]]
    assert advice and all(line.startswith("ℹ logging (advice): ") for line in advice), advice
    assert "logging.basicConfig(level=logging.INFO)" in advice[0]
    assert "ERROR" not in with_logs.getvalue()
    assert "✓ logs: OTEL_LOGS_EXPORTER=discord" in with_logs.getvalue()
    assert "logging" not in "".join(line.split(":")[0] for line in without.getvalue().splitlines())
    assert logging_advice(logging.DEBUG) is None
    assert "setLevel(logging.INFO)" in logging_advice(logging.ERROR)


def test_signals_are_checked_against_the_installed_exporters(discord_server, tmp_path):
    """A signal naming an exporter that is not installed fails the check (the SDK would set up nothing) and
    says how to fix it; an unset one is reported with the distro's default, a warning only when that default
    is missing."""
    settings, _ = settings_for(discord_server, tmp_path)
    out = io.StringIO()
    environ = {"OTEL_TRACES_EXPORTER": "discord,console", "OTEL_METRICS_EXPORTER": "otlp"}
    assert diagnose(settings, out, environ=environ) == 1
    text = out.getvalue()
    assert "✓ traces: OTEL_TRACES_EXPORTER=discord, console" in text
    assert (
        "✗ metrics: OTEL_METRICS_EXPORTER=otlp, but otlp (otlp_proto_grpc) is not installed, so the SDK "
        "would set up no signal at all: pass --metrics_exporter discord (or none) to opentelemetry-instrument, "
        "or pip install opentelemetry-exporter-otlp"
    ) in text
    assert (
        "⚠ logs: OTEL_LOGS_EXPORTER is not set here, and opentelemetry-distro's default otlp (otlp_proto_grpc)" in text
    )
    lines = signal_lines(
        {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_LOGS_EXPORTER": "none"},
        available=lambda signal, name: name != "otlp_proto_grpc",
        distro=True,
    )
    assert [str(line) for line in lines] == [
        "· traces: OTEL_TRACES_EXPORTER is not set here (opentelemetry-distro's default: otlp); "
        "--traces_exporter discord sends traces to Discord",
        "· metrics: OTEL_METRICS_EXPORTER is not set here (opentelemetry-distro's default: otlp); "
        "--metrics_exporter discord sends metrics to Discord",
        "· logs: not exported (OTEL_LOGS_EXPORTER=none)",
    ]


def test_send_sample_posts_every_kind_to_every_channel(discord_server, tmp_path):
    """--send-sample: one notice of each kind in each channel, through the real pipeline, delivered."""
    settings, _ = settings_for(discord_server, tmp_path)
    out = io.StringIO()
    assert diagnose(settings, out, send_sample=True, timeout=30) == 0
    kinds = len(Kind)
    for channel in ("finance-activity", "system-debug", "user-activity"):
        titles = [e["title"] for m in discord_server.messages(channel) for e in m.embeds]
        assert len(titles) == kinds, (channel, titles)
        assert all("Sample" in title for title in titles)
    assert f"✓ samples: {3 * kinds} queued ({kinds} kinds × 3 channel(s)), {3 * kinds} delivered, 0 dropped" in (
        out.getvalue()
    )
    assert discord_server.rejected() == []


def test_invalid_configuration_exits_2_with_the_key_path(discord_server, tmp_path):
    body = CONFIG + "routes:\n  - {match: {level: loud}, channel: system-debug}\n"
    settings, _ = settings_for(discord_server, tmp_path, body)
    out = io.StringIO()
    assert diagnose(settings, out) == 2
    assert "✗ configuration: config file routes[0].match.level: unknown level 'loud'" in out.getvalue()


def test_command_line(discord_server, tmp_path, monkeypatch, capsys):
    """``otel-discord doctor`` reads the environment like the exporters do."""
    hook = discord_server.create_webhook("alerts")
    monkeypatch.setenv("OTEL_EXPORTER_DISCORD_WEBHOOK_URL", hook.url)
    monkeypatch.setenv("OTEL_EXPORTER_DISCORD_ALLOWED_HOSTS", discord_server.host_port)
    monkeypatch.setenv("OTEL_EXPORTER_DISCORD_SPOOL_DIR", str(tmp_path))
    monkeypatch.delenv("OTEL_EXPORTER_DISCORD_CONFIG", raising=False)
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "✓ channel default" in out and hook.token not in out
    monkeypatch.setenv("OTEL_EXPORTER_DISCORD_PRESET", "fancy")
    assert main(["doctor"]) == 2
