"""``otel-discord doctor`` against the strict local Discord server."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from otel_discord.cli import main
from otel_discord.commands.doctor import diagnose, logging_advice
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
    hooks = {name: server.create_webhook(channel) for name, channel in
             (("HOOK_FINANCE", "finance-activity"), ("HOOK_SYSTEM", "system-debug"), ("HOOK_USERS", "user-activity"))}
    path = tmp_path / "otel-discord.yaml"
    path.write_text(body)
    environ = {"TZ": "Europe/Amsterdam", **{name: hook.url for name, hook in hooks.items()}}
    return resolve(None, config_file=path, environ=environ, allowed_hosts=server.host_port,
                   spool_dir=tmp_path / "spool"), hooks


def test_healthy_setup_prints_config_without_tokens_and_ok_per_channel(discord_server, tmp_path):
    """Every channel ok, the effective routing shown, and no webhook token anywhere in the output."""
    settings, hooks = settings_for(discord_server, tmp_path)
    out = io.StringIO()
    assert diagnose(settings, out, root_level=logging.INFO) == 0
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
    assert "✓ logging: INFO records reach OpenTelemetry" in text
    assert discord_server.messages() == []  # a check posts nothing


def test_broken_webhooks_get_a_clear_verdict(discord_server, tmp_path):
    """A deleted webhook is 'unknown webhook', a wrong token 'unauthorized', a dead host 'unreachable'."""
    settings, hooks = settings_for(discord_server, tmp_path)
    discord_server.delete_webhook(hooks["HOOK_FINANCE"].id)
    wrong = hooks["HOOK_SYSTEM"].url[:-4] + "AAAA"
    environ = {"HOOK_FINANCE": hooks["HOOK_FINANCE"].url, "HOOK_SYSTEM": wrong,
               "HOOK_USERS": "http://127.0.0.1:9/api/webhooks/1/unreachable"}
    settings = resolve(None, config_file=settings.config_file, environ=environ,
                       allowed_hosts=f"{discord_server.host_port},127.0.0.1:9", spool_dir=tmp_path / "spool")
    out = io.StringIO()
    assert diagnose(settings, out, root_level=logging.INFO, timeout=2.0) == 1
    text = out.getvalue()
    assert "✗ channel finance-activity" in text and "unknown webhook" in text
    assert "✗ channel system-debug" in text and "unauthorized (wrong token)" in text
    assert "✗ channel user-activity" in text and "unreachable" in text
    assert "AAAA" not in text


def test_warns_when_the_root_logger_drops_info_events(discord_server, tmp_path):
    settings, _ = settings_for(discord_server, tmp_path)
    out = io.StringIO()
    diagnose(settings, out, root_level=logging.WARNING)
    assert "⚠ logging: the root logger's level is WARNING" in out.getvalue()
    assert logging_advice(logging.DEBUG) is None
    assert "setLevel(logging.INFO)" in logging_advice(logging.ERROR)


def test_send_sample_posts_every_kind_to_every_channel(discord_server, tmp_path):
    """--send-sample: one notice of each kind in each channel, through the real pipeline, delivered."""
    settings, _ = settings_for(discord_server, tmp_path)
    out = io.StringIO()
    assert diagnose(settings, out, root_level=logging.INFO, send_sample=True, timeout=30) == 0
    kinds = len(Kind)
    for channel in ("finance-activity", "system-debug", "user-activity"):
        titles = [e["title"] for m in discord_server.messages(channel) for e in m.embeds]
        assert len(titles) == kinds, (channel, titles)
        assert all("Sample" in title for title in titles)
    assert f"✓ samples: {3 * kinds} queued ({kinds} kinds × 3 channel(s)), {3 * kinds} delivered, 0 dropped" in (
        out.getvalue())
    assert discord_server.rejected() == []


def test_invalid_configuration_exits_2_with_the_key_path(discord_server, tmp_path):
    body = CONFIG + "routes:\n  - {match: {level: loud}, channel: system-debug}\n"
    settings, _ = settings_for(discord_server, tmp_path, body)
    out = io.StringIO()
    assert diagnose(settings, out, root_level=logging.INFO) == 2
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
