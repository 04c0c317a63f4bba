"""``otel-discord doctor`` shows the notification rules: the resolved chain, who is on call now and next."""

from __future__ import annotations

import io
import re

from test_doctor import CONFIG, settings_for

from otel_discord.commands.doctor import diagnose

RULES = (
    CONFIG
    + """people: {anna: "345678901234567890", bram: "456789012345678901"}
rotations:
  primary: {members: [anna, bram], every: weekly, handover: "mon 09:00", starts: 2026-01-05}
escalation:
  critical: {steps: [{notify: oncall:primary, wait: 10m}, {notify: oncall:primary.next}], repeat: 1}
incidents: [{match: {level: critical}, escalate: critical}]
"""
)


def test_doctor_prints_the_chain_with_who_is_on_call(discord_server, tmp_path):
    settings, _ = settings_for(discord_server, tmp_path, RULES)
    out = io.StringIO()
    assert diagnose(settings, out) == 0
    text = out.getvalue()
    assert "Notification rules (docs/notification-rules.md):" in text
    assert re.search(r"step 1: notify oncall:primary = (anna|bram), then wait 10m", text)
    assert re.search(r"step 2: notify oncall:primary\.next = (anna|bram), then wait 5m", text)
    assert re.search(r"now: (anna|bram) \(turn \d+\)", text)
    assert re.search(r"next handover: Mon \d\d \w\w\w \d{4} 09:00 CES?T → (anna|bram)", text)
    assert "acknowledgment by reaction: 'off: no bot token" in text
    assert "345678901234567890" not in text  # names, never ids


def test_a_bad_rule_exits_2_naming_the_key(discord_server, tmp_path):
    settings, _ = settings_for(discord_server, tmp_path, RULES.replace("wait: 10m", "wait: 10s"))
    out = io.StringIO()
    assert diagnose(settings, out) == 2
    assert "config file escalation.critical.steps[0].wait: must be at least 1m" in out.getvalue()


def test_without_rules_doctor_says_nothing_about_them(discord_server, tmp_path):
    settings, _ = settings_for(discord_server, tmp_path)
    out = io.StringIO()
    diagnose(settings, out)
    assert "Notification rules" not in out.getvalue()
