"""Presets: every preset's routing table, as the README shows it, is what the router does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from otel_discord.config import resolve
from otel_discord.notice import Category, Kind, Notice, Severity
from otel_discord.pipeline import validate
from otel_discord.route import Router, preset_tables, presets

DOC = Path(__file__).resolve().parents[1] / "docs" / "readme" / "routing.md"
EXAMPLE = Path(__file__).resolve().parents[1] / "otel-discord.example.yaml"
HOOK = "https://discord.com/api/webhooks/{id}/tok-{id}"


def router_for(tmp_path: Path, preset: str, channels) -> Router:
    lines = ["channels:"] + [f"  {name}: {HOOK.format(id=200 + i)}" for i, name in enumerate(channels)]
    path = tmp_path / f"{preset}.yaml"
    path.write_text("\n".join(lines) + f"\npreset: {preset}\n")
    return Router(resolve("logs", config_file=path, environ={}, spool_dir=tmp_path))


def doc_table(name: str) -> tuple[str, list[str], dict[str, list[list[str]]]]:
    """The Markdown block of preset ``name`` in routing.md, its level columns and its cells."""
    text = DOC.read_text(encoding="utf-8")
    found = re.search(rf"<!-- preset:{name} -->\n(.*?)\n<!-- /preset:{name} -->", text, re.S)
    assert found, f"routing.md has no table for preset {name}"
    block = found.group(1)
    rows = [line for line in block.splitlines() if line.startswith("| ")]
    levels = [cell.strip() for cell in rows[0].strip("|").split("|")][1:]
    cells = {}
    for row in rows[1:]:
        category, *values = [cell.strip() for cell in row.strip("|").split("|")]
        cells[category] = [value.split(" + ") for value in values]
    return block, levels, cells


@pytest.mark.parametrize("name", list(presets.PRESETS))
def test_readme_table_is_generated_from_the_preset(name):
    """The README's table is exactly what the preset definition produces (regenerate it, don't edit it)."""
    block, _, _ = doc_table(name)
    assert block == preset_tables.markdown_table(name)


@pytest.mark.parametrize("name", list(presets.PRESETS))
def test_every_cell_of_the_readme_table_is_what_the_router_does(tmp_path, name):
    """A notice of each category and level lands in exactly the channels the README's table names."""
    _, levels, cells = doc_table(name)
    router = router_for(tmp_path, name, presets.PRESETS[name].channels)
    assert set(cells) == {c.value.lower() for c in Category}
    for category, row in cells.items():
        for level, expected in zip(levels, row):
            notice = Notice(Kind.SYSTEM, Severity.parse(level), Category.parse(category), "sample")
            assert [n.channel for n in router(notice)] == expected, (category, level)


SAMPLES = {
    "paid": Notice(
        Kind.EVENT,
        Severity.SUCCESS,
        Category.PAYMENT,
        "Invoice #250090 paid",
        event_name="invoice.paid",
        attributes={"invoice.amount": 7850.0},
    ),
    "error": Notice(Kind.ERROR, Severity.ERROR, Category.ERROR, "ValueError: cannot compute margin report"),
    "slow": Notice(Kind.SLOW_QUERY, Severity.WARNING, Category.PERFORMANCE, "Slow query: 1,234 ms"),
    "login_failed": Notice(
        Kind.EVENT, Severity.WARNING, Category.SECURITY, "Failed login for anna", event_name="auth.login_failed"
    ),
    "btw": Notice(Kind.EVENT, Severity.INFO, Category.BTW, "BTW 2025-Q3 paid", event_name="btw.payment.updated"),
    "job_failed": Notice(Kind.EVENT, Severity.ERROR, Category.SYSTEM, "Backup failed", event_name="job.failed"),
    "db_down": Notice(Kind.ERROR, Severity.CRITICAL, Category.ERROR, "Database unreachable"),
}

EXPECTED = {
    "simple": {
        "paid": ["app-activity"],
        "error": ["errors-alerts"],
        "slow": ["errors-alerts"],
        "login_failed": ["errors-alerts"],
        "btw": ["app-activity"],
        "job_failed": ["errors-alerts"],
        "db_down": ["errors-alerts"],
    },
    "focused": {
        "paid": ["finance-activity"],
        "error": ["system-debug"],
        "slow": ["system-debug"],
        "login_failed": ["user-activity"],
        "btw": ["finance-activity"],
        "job_failed": ["system-debug"],
        "db_down": ["system-debug"],
    },
    "detailed": {
        "paid": ["finance-logs"],
        "error": ["errors-debug"],
        "slow": ["errors-debug"],
        "login_failed": ["user-activity"],
        "btw": ["finance-logs"],
        "job_failed": ["errors-debug", "system-logs"],
        "db_down": ["errors-debug"],
    },
    "enterprise": {
        "paid": ["audit-logs", "financial-ops"],
        "error": ["system-health"],
        "slow": ["system-health"],
        "login_failed": ["audit-logs", "user-tracking"],
        "btw": ["audit-logs", "financial-ops"],
        "job_failed": ["audit-logs", "system-health"],
        "db_down": ["critical-alerts", "system-health"],
    },
}


@pytest.mark.parametrize("name", list(presets.PRESETS))
def test_typical_notices_land_where_people_expect(tmp_path, name):
    """Hand-checked expectations for the app's typical notices, independent of the table generator."""
    router = router_for(tmp_path, name, presets.PRESETS[name].channels)
    for key, notice in SAMPLES.items():
        assert [n.channel for n in router(notice)] == EXPECTED[name][key], key


def test_focused_is_the_default_when_the_file_names_its_channels(tmp_path):
    """Without a PRESET setting, naming a focused channel turns the focused preset on."""
    path = tmp_path / "c.yaml"
    path.write_text(f"channels:\n  finance-activity: {HOOK.format(id=1)}\n  default: {HOOK.format(id=2)}\n")
    router = Router(resolve("logs", config_file=path, environ={}, spool_dir=tmp_path))
    assert router.preset is not None and router.preset.name == "focused"
    assert [n.channel for n in router(SAMPLES["paid"])] == ["finance-activity"]
    assert [n.channel for n in router(SAMPLES["error"])] == ["default"]  # system-debug missing: fallback


def test_without_preset_channels_everything_goes_to_the_default_channel(tmp_path):
    """A plain webhook setup keeps working exactly as before: no preset, one channel."""
    settings = resolve("logs", webhook_url=HOOK.format(id=3), environ={}, spool_dir=tmp_path)
    router = Router(settings)
    assert router.preset is None
    assert {n.channel for s in SAMPLES.values() for n in router(s)} == {"default"}


def test_enterprise_without_an_audit_channel_skips_the_audit_copy(tmp_path):
    """An unconfigured audit-logs channel is not replaced by the default: no duplicate of every event."""
    router = router_for(tmp_path, "enterprise", ("default", "financial-ops"))
    assert [n.channel for n in router(SAMPLES["paid"])] == ["financial-ops"]
    assert [n.channel for n in router(SAMPLES["login_failed"])] == ["default"]


def test_readme_example_is_the_example_file_and_it_is_valid(tmp_path):
    """The complete example in the README is the repository's example file, and it loads."""
    example = EXAMPLE.read_text(encoding="utf-8").rstrip("\n")
    assert f"```yaml\n{example}\n```" in DOC.read_text(encoding="utf-8")
    environ = {
        name: HOOK.format(id=300 + i)
        for i, name in enumerate(("DISCORD_WEBHOOK_FINANCE", "DISCORD_WEBHOOK_SYSTEM", "DISCORD_WEBHOOK_USERS"))
    }
    settings = resolve("logs", config_file=EXAMPLE, environ=environ, spool_dir=tmp_path)
    validate(settings)
    router = Router(settings)
    big = SAMPLES["paid"].replace(attributes={"invoice.amount": 12500.0})
    [routed] = router(big)
    assert routed.channel == "finance-activity" and routed.mention == "<@&123456789012345678>"
