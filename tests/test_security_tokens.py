"""Security sweep: a webhook token never shows up anywhere a person or a log shipper could read it.

One scenario walks every error path (bad configuration, 401, 404, 5xx, a timeout, an
outage, a reload to another webhook, a shutdown with notices left over) with logging at
DEBUG everywhere (the application's root logger included: urllib3 logs request lines
there), then greps stderr, every log line, every exception text and repr, the spool
database bytes, the fallback log and ``dropped.jsonl`` for each token.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes import FAST_RETRY

from otel_discord.config import ConfigError, resolve
from otel_discord.deliver.engine import DeliveryEngine, Outgoing
from otel_discord.deliver.fallback import FILE_NAME as FALLBACK_FILE
from otel_discord.deliver.spool import FILE_NAME as SPOOL_FILE
from otel_discord.deliver.webhook import WebhookClient
from otel_discord.notice import Category, Kind, Notice, Severity
from otel_discord.testing import DiscordServer

PACKAGE = Path(__file__).resolve().parents[1] / "otel_discord"


def item(i: int | str, channel: str = "default") -> Outgoing:
    title = f"notice {i}"
    notice = Notice(Kind.EVENT, Severity.INFO, Category.SYSTEM, title, channel=channel)
    return Outgoing(channel=channel, embed={"title": title, "description": f"happened ({i})"}, notice=notice)


@pytest.fixture
def every_log_line() -> Iterator[list[str]]:
    """Every record at DEBUG from the Python root (third-party libraries) and from otel_discord
    (which does not propagate), formatted with tracebacks as a user's handler would print them."""
    lines: list[str] = []
    formatter = logging.Formatter("%(levelname)s %(name)s: %(message)s")

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(formatter.format(record))

    handler = Capture(logging.DEBUG)
    saved = []
    for name in ("", "otel_discord", "urllib3", "requests"):
        logger = logging.getLogger(name)
        saved.append((logger, logger.level))
        logger.setLevel(logging.DEBUG)
    for name in ("", "otel_discord"):
        logging.getLogger(name).addHandler(handler)
    yield lines
    for name in ("", "otel_discord"):
        logging.getLogger(name).removeHandler(handler)
    for logger, level in saved:
        logger.setLevel(level)


def wait_until(predicate, timeout: float = 10.0) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def spool_bytes(directory: Path) -> bytes:
    """The spool file and its journal as they are on disk, plus every text value SQLite holds."""
    data = b"".join(p.read_bytes() for p in sorted(directory.glob(SPOOL_FILE + "*")) if p.is_file())
    if (directory / SPOOL_FILE).exists():
        with sqlite3.connect(directory / SPOOL_FILE) as db:
            for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall():
                for row in db.execute(f'SELECT * FROM "{table}"').fetchall():
                    data += repr(row).encode()
    return data


def test_no_token_in_any_output_across_every_error_path(tmp_path, capfd, every_log_line):
    server = DiscordServer().start()
    seen: list[str] = []  # exception texts and reprs collected along the way
    try:
        hook = server.create_webhook("alerts")
        other = server.create_webhook("alerts", name="second")
        victim = server.create_webhook("alerts", name="third")
        forged = victim.url.replace(victim.token, "f" * 68)  # right id, wrong token: 401
        tokens = [hook.token, other.token, victim.token, "f" * 68]

        # Bad configuration: a host not allowed, a malformed id, a channel with a bad URL.
        for kwargs in (
            {"webhook_url": hook.url},  # 127.0.0.1 not in allowed_hosts
            {"channels": {"alerts": hook.url + "/extra?x=1"}, "allowed_hosts": server.host_port},
        ):
            with pytest.raises(ConfigError) as raised:
                resolve(spool_dir=tmp_path, environ={}, **kwargs)
            seen += [str(raised.value), repr(raised.value)]

        config = tmp_path / "otel-discord.yaml"
        config.write_text(f"channels:\n  default:\n    webhook_url: {hook.url}\n  forged:\n    webhook_url: {forged}\n")
        settings = resolve(
            config_file=config, allowed_hosts=server.host_port, spool_dir=tmp_path, timeout=0.3, environ={}
        )
        client = WebhookClient(timeout=0.3)
        engine = DeliveryEngine(settings, client=client, retry=FAST_RETRY, linger=0.0)
        engine.track(
            settings,
            lambda: resolve(
                config_file=config, allowed_hosts=server.host_port, spool_dir=tmp_path, timeout=0.3, environ={}
            ),
        )
        seen += [repr(client), repr(engine), repr(settings.channels), str(settings.channels)]

        # 401: the forged token.
        engine.submit(item("forged", channel="forged"))
        # 5xx, then delivered.
        server.fail_next(2, 502)
        engine.submit(item("after 502"))
        assert engine.flush(10)
        # A timeout: Discord answers after the client gave up.
        server.set_latency(0.6)
        engine.submit(item("slow"))
        assert wait_until(lambda: engine.stats.snapshot().get("transport_errors", 0) >= 1), engine.stats.snapshot()
        server.set_latency(0.0)
        assert engine.flush(10)
        # An outage: rows wait in the spool; read its bytes while they are there.
        server.set_down(True)
        for i in range(3):
            engine.submit(item(f"outage {i}"))
        assert wait_until(lambda: engine.spool_depth() >= 1)
        during_outage = spool_bytes(tmp_path)
        server.set_down(False)
        assert engine.flush(10)
        # A reload to another webhook (its warning names both webhooks).
        config.write_text(f"channels:\n  default:\n    webhook_url: {other.url}\n")
        assert engine.reload_now()
        engine.submit(item("after reload"))
        assert engine.flush(10)
        # 404 Unknown Webhook: deleted mid-run.
        server.delete_webhook(other.id)
        engine.submit(item("deleted"))
        assert engine.flush(10)
        seen.append(repr(engine))
        # Shutdown with notices that cannot go anywhere: the fallback log gets them.
        server.set_down(True)
        for i in range(3):
            engine.submit(item(f"left {i}"))
        engine.shutdown(0.3)
        seen.append(repr(engine))
        snapshot = engine.stats.snapshot()
    finally:
        server.stop()

    out, err = capfd.readouterr()
    logs = "\n".join(every_log_line)
    fallback = tmp_path / FALLBACK_FILE
    sources = {
        "stderr": err,
        "stdout": out,
        "log lines": logs,
        "exceptions and reprs": "\n".join(seen),
        "stats": repr(snapshot),
        "spool during the outage": during_outage.decode("utf-8", "replace"),
        "spool at the end": spool_bytes(tmp_path).decode("utf-8", "replace"),
        "dropped.jsonl": fallback.read_text() if fallback.exists() else "",
    }
    # The scenario did walk the error paths it claims to (else the grep proves nothing).
    assert "401" in logs or "50027" in logs, logs[-2000:]
    assert "10015" in logs and "502" in logs and "configuration reloaded" in logs
    assert during_outage and sources["dropped.jsonl"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(SPOOL_FILE)]
    for token in tokens:
        leaks = {name: _around(text, token) for name, text in sources.items() if token in text}
        assert leaks == {}, f"token found in {leaks}"


def _around(text: str, token: str) -> list[str]:
    return [line[:300] for line in text.splitlines() if token in line][:3]


def test_settings_repr_hides_tokens_from_the_config_file(tmp_path):
    """``Settings`` keeps the parsed file (``raw_file``) for later stages; the file holds the
    webhook URLs (after ``${VAR}`` substitution), so its repr must not show that mapping."""
    token = "T0ken-" + "y" * 62
    config = tmp_path / "otel-discord.yaml"
    config.write_text("channels:\n  default:\n    webhook_url: ${HOOK}\n")
    settings = resolve(
        config_file=config,
        allowed_hosts="127.0.0.1:9",
        spool_dir=tmp_path,
        environ={"HOOK": f"http://127.0.0.1:9/api/webhooks/123456789012345678/{token}"},
    )
    assert settings.default_channel is not None  # the token did arrive
    assert token not in repr(settings) and token not in str(settings)


@pytest.mark.parametrize(
    "shape",
    [
        "{base}/api/webhooks/not-a-number/{token}",  # a typo in the id
        "{base}/api/webhook/{id}/{token}",  # "webhook" for "webhooks"
        "{base}/webhooks/{id}/{token}/",  # no /api
        "{base}/api/webhooks/{id}/{token}/slack",  # Slack-compatible suffix
        "{base}/api/webhooks/{id}/{token} trailing",  # pasted with a comment
    ],
)
def test_config_error_for_a_mistyped_url_hides_the_token(shape):
    """A typo in the URL is the likeliest config error: its message (logged at startup, often
    shipped to a log service) must still hide the token."""
    token = "T0ken-" + "x" * 62
    raw = shape.format(base="http://127.0.0.1:9", id="123456789012345678", token=token)
    with pytest.raises(ConfigError) as raised:
        resolve(webhook_url=raw, allowed_hosts="127.0.0.1:9", environ={})
    assert token not in str(raised.value) and token not in repr(raised.value)
    assert "webhook" in str(raised.value).lower()  # still says what is wrong


def test_http_session_always_verifies_tls(discord_server, webhook):
    """The URL is the credential: certificates are always checked, whatever the environment says."""
    client = WebhookClient(timeout=2)
    try:
        outcome = client.info(_url(webhook.url))
        assert outcome.status == 200 and "token" not in (outcome.json or {})
        session = client._get_session()
        assert session.verify is True
        assert session.verify is not False and not isinstance(session.verify, str)
    finally:
        client.close()


def test_requests_are_sent_with_verify_true(monkeypatch, discord_server, webhook):
    """Every request passes verify=True itself, so an environment's REQUESTS_CA_BUNDLE="" or a
    session patched elsewhere cannot turn verification off."""
    import requests

    calls: list[object] = []
    original = requests.Session.request

    def spy(self, method, url, **kwargs):
        calls.append(kwargs.get("verify"))
        return original(self, method, url, **kwargs)

    monkeypatch.setattr(requests.Session, "request", spy)
    client = WebhookClient(timeout=2)
    try:
        client.execute(_url(webhook.url), {"content": "x"})
        client.info(_url(webhook.url))
    finally:
        client.close()
    assert calls == [True, True]


def test_no_verify_false_anywhere_in_the_package():
    offenders = [str(p) for p in PACKAGE.rglob("*.py") if re.search(r"verify\s*=\s*False", p.read_text())]
    assert offenders == []


def test_no_pickle_anywhere_in_the_package():
    """Spooled and stored data is JSON: unpickling a file another user could write runs their code."""
    modules = r"(c?[Pp]ickle|_pickle|shelve|marshal|dill|cloudpickle|jsonpickle)"
    pattern = re.compile(rf"^\s*(import|from)\s+{modules}\b|\b{modules}\.\w+|__import__\(\s*['\"]{modules}")
    offenders = [
        f"{p.relative_to(PACKAGE)}:{n}: {line.strip()}"
        for p in PACKAGE.rglob("*.py")
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if pattern.search(line) and not line.lstrip().startswith("#")
    ]
    assert offenders == []


def _url(url: str):
    from otel_discord.config.webhook_url import WebhookURL

    return WebhookURL.parse(url, allowed_hosts=(url.split("/")[2],))


def test_a_handler_on_the_package_logger_gets_child_records_masked():
    """A handler a user attaches to ``otel_discord`` receives records from child loggers
    (``otel_discord.deliver.sender`` …): a logger's own filters never run for those, so each of
    our loggers masks at the source. Message, traceback and stack text alike."""
    import logging

    from otel_discord.health.log import get_logger

    token = "Zx9" + "k" * 60
    url = f"https://discord.com/api/webhooks/1234567890/{token}"
    seen: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(logging.Formatter("%(message)s").format(record))

    handler = Collect(logging.DEBUG)
    package = logging.getLogger("otel_discord")
    package.addHandler(handler)
    try:
        child = get_logger("otel_discord.deliver.sender_test_child")
        child.warning("posting to %s failed", url)
        try:
            raise ConnectionError(f"cannot reach {url}")
        except ConnectionError:
            child.error("delivery failed", exc_info=True)
        child.warning("where: %s", url, stack_info=True)
    finally:
        package.removeHandler(handler)
    assert len(seen) == 3 and all(token not in line for line in seen), seen
    assert "1234567890/****" in seen[0] and "cannot reach" in seen[1]
