"""The default spool is per service: two apps of one user never share group state unless configured to."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

from otel_discord import DiscordSpanExporter
from otel_discord.cli import main
from otel_discord.config import default_state_dir, resolve, service_name
from otel_discord.deliver import audit
from otel_discord.notice import Category, Kind, Notice, Severity

HOOK = "https://discord.com/api/webhooks/1/" + "t" * 68


@pytest.mark.parametrize(
    ("environ", "folder"),
    [
        ({}, "unknown_service"),
        ({"OTEL_SERVICE_NAME": "ozark-finances"}, "ozark-finances"),
        (
            {"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=demo,service.name=billing%20api"},
            "billing_api-" + "REST",
        ),
        ({"OTEL_SERVICE_NAME": "web", "OTEL_RESOURCE_ATTRIBUTES": "service.name=ignored"}, "web"),
        ({"OTEL_SERVICE_NAME": "../../etc"}, "_.._etc-" + "REST"),
    ],
)
def test_the_default_spool_is_named_after_the_service(environ, folder, tmp_path, monkeypatch):
    """OTEL_SERVICE_NAME, else service.name of OTEL_RESOURCE_ATTRIBUTES, names a folder of the state dir; a name
    that is not a plain file name is made one, with a hash so "a b" and "a_b" stay apart."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    spool = resolve("traces", webhook_url=HOOK, environ=environ).spool_dir
    assert spool.parent == tmp_path / "otel-discord"
    if folder.endswith("REST"):
        assert spool.name.startswith(folder.removesuffix("REST")) and len(spool.name) == len(folder) - 4 + 8
    else:
        assert spool.name == folder
    assert default_state_dir(service_name(environ)) == spool


def test_spool_dir_still_wins(tmp_path):
    """A configured SPOOL_DIR is used as it is: apps that are meant to share state can."""
    environ = {"OTEL_SERVICE_NAME": "a", "OTEL_EXPORTER_DISCORD_SPOOL_DIR": str(tmp_path / "shared")}
    assert resolve("traces", webhook_url=HOOK, environ=environ).spool_dir == tmp_path / "shared"


def _run_app(service: str, hook_url: str, host: str) -> None:
    """One 'app': its exporter (settings from the environment, as under opentelemetry-instrument) and one error."""
    exporter = DiscordSpanExporter(hook_url, allowed_hosts=host)
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with pytest.raises(ValueError):
        with tracer.start_as_current_span(
            "GET /boom", kind=SpanKind.SERVER, attributes={"http.route": "/boom", "http.method": "GET"}
        ):
            raise ValueError("could not convert string to float: 'abc'")
    assert exporter.force_flush(20_000)
    provider.shutdown()


def _two_apps(discord_server, webhook, tmp_path, monkeypatch, shared: bool) -> tuple[list, list[Path]]:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    if shared:
        monkeypatch.setenv("OTEL_EXPORTER_DISCORD_SPOOL_DIR", str(tmp_path / "shared"))
    for service in ("billing", "webshop"):
        monkeypatch.setenv("OTEL_SERVICE_NAME", service)
        _run_app(service, webhook.url, discord_server.host_port)
    return discord_server.messages(), sorted(tmp_path.glob("**/spool.sqlite3"))


def test_two_apps_with_the_same_error_post_their_own_messages(discord_server, webhook, tmp_path, monkeypatch):
    """Two services run one after the other by one user raise the same error: each gets its own message, and
    neither edits the other's; each has its own spool under the state dir."""
    messages, spools = _two_apps(discord_server, webhook, tmp_path, monkeypatch, shared=False)
    assert len(messages) == 2 and not any(m.edits for m in messages), [m.embeds for m in messages]
    assert [p.parent.name for p in spools] == ["billing", "webshop"]


def test_a_shared_spool_dir_shares_group_state(discord_server, webhook, tmp_path, monkeypatch):
    """What the per-service default prevents, when asked for: with one SPOOL_DIR for both, the second app's
    error folds into the first app's message (one message, edited)."""
    messages, spools = _two_apps(discord_server, webhook, tmp_path, monkeypatch, shared=True)
    assert len(messages) == 1 and messages[0].edits, [m.embeds for m in messages]
    assert [p.parent.name for p in spools] == ["shared"]


def test_export_finds_a_services_audit_log(tmp_path, monkeypatch, capsys):
    """``otel-discord export`` reads the default spool of OTEL_SERVICE_NAME, or of --service; when there is none
    it names the services that have one."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    monkeypatch.delenv("OTEL_EXPORTER_DISCORD_SPOOL_DIR", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_DISCORD_CONFIG", raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_DISCORD_WEBHOOK_URL", HOOK)
    log = audit.AuditLog(default_state_dir("billing") / audit.FILE_NAME)
    assert log.record(
        Notice(
            Kind.EVENT,
            Severity.INFO,
            Category.PAYMENT,
            "Invoice #250088 paid",
            event_name="invoice.paid",
            timestamp=1_767_700_000.0,
            service="billing",
        )
    )
    monkeypatch.setenv("OTEL_SERVICE_NAME", "billing")
    assert main(["export"]) == 0
    assert "Invoice #250088 paid" in capsys.readouterr().out
    monkeypatch.setenv("OTEL_SERVICE_NAME", "webshop")
    assert main(["export"]) == 0
    captured = capsys.readouterr()
    assert "Invoice" not in captured.out and "services with one: billing (choose with --service)" in captured.err
    assert main(["export", "--service", "billing", "--format", "json"]) == 0
    assert "Invoice #250088 paid" in capsys.readouterr().out
