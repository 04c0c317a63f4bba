"""Configuration reload: a rotated webhook URL takes effect without a restart."""

from __future__ import annotations

import logging
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from otel_discord.config import reload, resolve
from otel_discord.deliver.engine import DeliveryEngine, Outgoing
from otel_discord.deliver.retry import RetryPolicy
from otel_discord.notice import Category, Kind, Notice, Severity
from otel_discord.render.embed import render_embed
from otel_discord.testing import DiscordServer


def write_config(path: Path, url: str, hosts: list[str], extra: str = "") -> None:
    """Write the YAML file and move its mtime on (a rewrite within one clock tick must still count)."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(f"allowed_hosts: [{', '.join(hosts)}]\nchannels:\n  default: {url}\n{extra}")
    stamp = max(before + 1_000_000_000, time.time_ns())
    os.utime(path, ns=(stamp, stamp))


@pytest.fixture
def logs() -> Iterator[list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("otel_discord")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


@pytest.fixture
def servers() -> Iterator[tuple[DiscordServer, DiscordServer]]:
    with DiscordServer() as old, DiscordServer() as new:
        yield old, new


def rotated(old: DiscordServer, new: DiscordServer) -> tuple:
    """A webhook on each server with different ids, as a rotation gives (both servers count
    milliseconds, so two made at once can share an id)."""
    first, second = old.create_webhook("alerts"), new.create_webhook("alerts")
    while second.id == first.id:
        second = new.create_webhook("alerts")
    return first, second


class TestReloader:
    def test_a_changed_config_file_is_picked_up(self, servers, tmp_path):
        old, new = servers
        hosts = [old.host_port, new.host_port]
        first, second = rotated(old, new)
        path = tmp_path / "otel-discord.yaml"
        write_config(path, first.url, hosts)
        settings = resolve(config_file=path, environ={})
        reloader = reload.Reloader(1.0)
        reloader.track(settings, lambda: resolve(config_file=path, environ={}))
        assert reloader.check(100.0) == []
        write_config(path, second.url, hosts)
        assert reloader.check(100.5) == []  # polled once per interval
        ((before, after),) = reloader.check(101.0)
        assert before is settings and after.channels["default"].webhook.webhook_id == second.id
        assert reloader.check(102.0) == []  # nothing new

    def test_an_edited_route_is_named_as_needing_a_restart_once(self, servers, tmp_path, logs):
        """Routes are read once at start: an edit is not applied, and the log says so instead of
        ignoring it silently (naming the key, never a value)."""
        old, _ = servers
        hook = old.create_webhook("alerts")
        path = tmp_path / "otel-discord.yaml"
        write_config(path, hook.url, [old.host_port])
        reloader = reload.Reloader(1.0)
        reloader.track(resolve(config_file=path, environ={}), lambda: resolve(config_file=path, environ={}))
        assert reloader.check(100.0) == []
        write_config(path, hook.url, [old.host_port], extra="routes:\n  - {match: {level: error}, channel: default}\n")
        assert reloader.check(101.0) == []  # the channels did not change
        warnings = [r.getMessage() for r in logs if r.levelno == logging.WARNING]
        assert warnings == [
            "configuration changed: config file key 'routes'; it takes effect after a restart "
            "(only channels are reloaded)"
        ]
        assert reloader.check(102.0, force=True) == []
        assert len([r for r in logs if r.levelno == logging.WARNING]) == 1  # said once per edit

    def test_a_broken_new_config_is_logged_once_and_the_old_one_stays(self, servers, tmp_path, logs):
        old, _ = servers
        hook = old.create_webhook("alerts")
        path = tmp_path / "otel-discord.yaml"
        write_config(path, hook.url, [old.host_port])
        reloader = reload.Reloader(1.0)
        reloader.track(resolve(config_file=path, environ={}), lambda: resolve(config_file=path, environ={}))
        reloader.check(0.0)
        write_config(path, "https://discord.com/api/webhooks/1/" + hook.token[:-1] + "!", [old.host_port])
        assert reloader.check(10.0) == [] and reloader.check(40.0, force=True) == []
        errors = [r.getMessage() for r in logs if r.levelno == logging.ERROR]
        assert len(errors) == 1 and "previous one stays" in errors[0] and "channels.default" in errors[0]
        assert hook.token not in errors[0]

    def test_settings_from_the_environment_are_watched(self, servers, monkeypatch):
        """The environment is read again too (every FULL_CHECK seconds, or at once when forced)."""
        old, new = servers
        first, second = rotated(old, new)
        monkeypatch.setenv("OTEL_EXPORTER_DISCORD_ALLOWED_HOSTS", f"{old.host_port},{new.host_port}")
        monkeypatch.setenv("OTEL_EXPORTER_DISCORD_WEBHOOK_URL", first.url)
        monkeypatch.delenv("OTEL_EXPORTER_DISCORD_CONFIG", raising=False)
        reloader = reload.Reloader(1.0)
        reloader.track(resolve("traces"))
        assert reloader.check(0.0) == []
        monkeypatch.setenv("OTEL_EXPORTER_DISCORD_WEBHOOK_URL", second.url)
        ((_, after),) = reloader.check(31.0)
        assert after.channels["default"].webhook.webhook_id == second.id

    def test_webhooks_given_as_arguments_are_not_reloaded(self, servers, monkeypatch):
        """The environment must not override what the code passed: such settings are not watched."""
        old, new = servers
        first, second = rotated(old, new)
        monkeypatch.setenv("OTEL_EXPORTER_DISCORD_ALLOWED_HOSTS", f"{old.host_port},{new.host_port}")
        monkeypatch.setenv("OTEL_EXPORTER_DISCORD_WEBHOOK_URL", second.url)
        reloader = reload.Reloader(1.0)
        reloader.track(resolve("traces", webhook_url=first.url))
        assert reloader.check(0.0, force=True) == []
        assert reloader.check(100.0, force=True) == []


class TestSighup:
    @pytest.fixture(autouse=True)
    def restore(self):
        saved = signal.getsignal(signal.SIGHUP)
        yield
        signal.signal(signal.SIGHUP, saved)

    def test_installed_only_when_the_application_has_no_handler(self):
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        reloader = reload.Reloader(0)
        assert reload.install_sighup(reloader) is True
        os.kill(os.getpid(), signal.SIGHUP)
        assert reloader.requested  # the housekeeping thread checks at its next tick

    @pytest.mark.parametrize("theirs", [signal.SIG_IGN, lambda signum, frame: None])
    def test_the_applications_own_handler_is_never_replaced(self, theirs):
        signal.signal(signal.SIGHUP, theirs)
        assert reload.install_sighup(reload.Reloader(0)) is False
        assert signal.getsignal(signal.SIGHUP) is theirs


def error(i: int) -> Outgoing:
    notice = Notice(
        Kind.ERROR,
        Severity.ERROR,
        Category.ERROR,
        "ValueError: boom",
        fingerprint="fp",
        channel="default",
        description=f"request {i}",
    )
    return Outgoing("default", render_embed(notice), notice)


def seen(message) -> int:
    for field in message.embeds[0].get("fields") or ():
        if field["name"] == "Seen":
            return int(re.match(r"×(\d+)", field["value"]).group(1))
    return 1


def test_a_rotated_webhook_takes_over_spooled_notices_and_groups(servers, tmp_path, logs):
    """The config file gets a new webhook while the old one's host is unreachable: the waiting
    notices go through the new webhook, and the grouped error continues in a fresh message there."""
    old, new = servers
    first, second = rotated(old, new)
    hosts = [old.host_port, new.host_port]
    path = tmp_path / "otel-discord.yaml"
    env = {"OTEL_EXPORTER_DISCORD_RELOAD_INTERVAL": "0.05"}
    write_config(path, first.url, hosts)
    settings = resolve(config_file=path, spool_dir=tmp_path, environ=env)
    engine = DeliveryEngine(settings, retry=RetryPolicy(base=0.05, cap=0.2))
    engine.track(settings, lambda: resolve(config_file=path, spool_dir=tmp_path, environ=env))
    try:
        engine.submit(error(0))
        engine.submit(error(1))
        assert engine.flush(10)
        assert seen(old.messages()[0]) == 2
        old.set_down(True)
        notice = Notice(Kind.EVENT, Severity.SUCCESS, Category.PAYMENT, "invoice #250090 paid", channel="default")
        engine.submit(Outgoing("default", {"title": "invoice #250090 paid"}, notice))
        engine.submit(error(2))
        assert old.wait_for(lambda: old.stats()["dropped"] >= 1, timeout=10)  # retrying the old webhook
        write_config(path, second.url, hosts)
        assert engine.flush(10)
        assert len(old.messages()) == 1
        titles = [m.embeds[0]["title"] for m in new.messages()]
        assert titles[0] == "invoice #250090 paid" and "ValueError" in titles[1] and len(titles) == 2
        assert seen(new.messages()[1]) == 1  # a fresh group through the new webhook
        engine.submit(error(3))
        assert engine.flush(10)
        assert seen(new.messages()[1]) == 2 and len(new.messages()) == 2
        reloaded = [r.getMessage() for r in logs if "configuration reloaded" in r.getMessage()]
        assert len(reloaded) == 1 and f"/webhooks/{second.id}/****" in reloaded[0]
        assert second.token not in "\n".join(r.getMessage() for r in logs)
    finally:
        engine.shutdown(1)
