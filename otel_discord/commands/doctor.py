"""``otel-discord doctor [--send-sample]``: is the configuration right, and does every webhook work?

1. Prints the effective configuration (tokens masked): channels, preset, routes,
   mentions, filters, schedules, rate cap, privacy.
2. Warns when the Python root logger's level would drop INFO business events
   before OpenTelemetry sees them, and says how to fix it.
3. Checks each webhook with a GET (harmless: nothing is posted) and gives a
   verdict per channel: ok, unknown webhook, unauthorized, rate limited or unreachable.
4. With ``--send-sample``: posts one notice of each kind to each channel through
   the real pipeline and delivery engine, then flushes.

Exit status: 0 all good, 1 a webhook or a sample failed, 2 the configuration is invalid.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Mapping
from typing import Any, Final, TextIO

import yaml

from otel_discord.config import Channel, ConfigError, Settings, resolve
from otel_discord.deliver.webhook import Outcome, WebhookClient
from otel_discord.notice import Category, Field, Kind, Notice, Severity

NAME: Final = "doctor"
HELP: Final = "check the configuration and every webhook; --send-sample posts one notice of each kind"

OK: Final = "ok"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML config file (default: $OTEL_EXPORTER_DISCORD_CONFIG)")
    parser.add_argument("--send-sample", action="store_true",
                        help="post one notice of each kind to each channel, through the real pipeline")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for samples to be delivered")


def logging_advice(level: int) -> str | None:
    """Why ``level`` (the root logger's effective level) loses business events, or None if it does not."""
    if level <= logging.INFO:
        return None
    name = logging.getLevelName(level)
    return (
        f"the root logger's level is {name}: logger.info(..., extra={{'event.name': ...}}) business events "
        f"are dropped by Python's logging before OpenTelemetry's handler sees them (Python's default is "
        f"WARNING). Set the level of the logger your events use, e.g. "
        f"logging.getLogger('myapp').setLevel(logging.INFO), or logging.basicConfig(level=logging.INFO) "
        f"at startup. (Checked in this process; run the check in your app with "
        f"otel_discord.commands.doctor.logging_advice(logging.getLogger('myapp').getEffectiveLevel()).)"
    )


def verdict(outcome: Outcome) -> str:
    """One word or phrase for a webhook GET."""
    if outcome.ok:
        return OK
    if outcome.status is None:
        return f"unreachable ({outcome.error or 'no response'})"
    if outcome.status == 404:
        return "unknown webhook (deleted, or a wrong id)"
    if outcome.status == 401 or (outcome.status == 403 and outcome.webhook_gone):
        return "unauthorized (wrong token)"
    if outcome.status == 429:
        return "rate limited (try again in a minute)"
    return f"unexpected answer: {outcome.describe()}"


def check_webhooks(channels: Mapping[str, Channel], client: WebhookClient) -> dict[str, str]:
    """Channel name → verdict, one GET per distinct webhook."""
    verdicts: dict[str, str] = {}
    seen: dict[str, str] = {}
    for name, channel in channels.items():
        key = channel.webhook.masked
        if key not in seen:
            outcome = client.info(channel.webhook)
            seen[key] = verdict(outcome)
            if outcome.ok and isinstance(outcome.json, Mapping) and outcome.json.get("name"):
                seen[key] = f"{OK} (webhook {str(outcome.json['name'])[:80]!r})"
        verdicts[name] = seen[key]
    return verdicts


def samples(now: float) -> list[Notice]:
    """One notice of each kind, clearly marked as a sample."""
    common: dict[str, Any] = {"service": "otel-discord doctor", "timestamp": now, "fingerprint": ""}
    note = "Sample from `otel-discord doctor --send-sample`: nothing happened."
    return [
        Notice(Kind.ERROR, Severity.ERROR, Category.ERROR, "Sample: ValueError: could not convert string to float",
               description=note, code='Traceback (most recent call last):\n  File "app.py", line 1, in <module>\n'
               "ValueError: could not convert string to float: 'abc'", code_language="py",
               fields=(Field("Route", "GET /sample"),), **common),
        Notice(Kind.SLOW_QUERY, Severity.WARNING, Category.PERFORMANCE, "Sample: slow query 1,234 ms",
               description=note, code="SELECT * FROM invoices WHERE amount > ?", code_language="sql", **common),
        Notice(Kind.SLOW_REQUEST, Severity.WARNING, Category.PERFORMANCE, "Sample: slow request 2,345 ms on GET /",
               description=note, **common),
        Notice(Kind.EVENT, Severity.INFO, Category.PAYMENT, "Sample: invoice #250090 paid", description=note,
               event_name="invoice.paid", fields=(Field("Amount", "€5,250.00"), Field("Client", "Sample B.V.")),
               attributes={"invoice.number": "250090", "invoice.amount": 5250.0, "invoice.currency": "EUR"},
               **common),
        Notice(Kind.SUMMARY, Severity.INFO, Category.SYSTEM, "Sample: daily summary", description=note,
               fields=(Field("Requests", "1,234"), Field("Errors", "2")), **common),
        Notice(Kind.SYSTEM, Severity.INFO, Category.SYSTEM, "Sample: service started", description=note, **common),
        Notice(Kind.THRESHOLD, Severity.WARNING, Category.SYSTEM, "Sample: error rate above 5 %",
               description=note, **common),
        Notice(Kind.DIGEST, Severity.INFO, Category.SYSTEM, "Sample: digest of 3 held notices",
               description=f"{note}\n08:01 📘 first\n08:02 📘 second\n08:03 📘 third", **common),
    ]


def _print_config(settings: Settings, stages: Any, out: TextIO) -> None:
    config = {"settings": settings.describe(), "routing": stages.describe()}
    print("Effective configuration (webhook tokens masked):", file=out)
    text = yaml.safe_dump(config, sort_keys=False, allow_unicode=True, default_flow_style=False, width=110)
    print("  " + text.rstrip().replace("\n", "\n  "), file=out)


def _print_rules(settings: Settings, rules: Any, out: TextIO) -> None:
    """Notification rules: each escalation chain with who is on call now and at the next handover."""
    if not rules.configured:
        return
    described = rules.describe(time.time())
    bot = any(str(settings.env.get(k) or "").strip() for k in ("OTEL_EXPORTER_DISCORD_BOT_TOKEN",))
    described["acknowledgment by reaction"] = "on (bot token set)" if bot else \
        "off: no bot token (OTEL_EXPORTER_DISCORD_BOT_TOKEN); escalation stops on resolve, silence or its last step"
    print("Notification rules (docs/notification-rules.md):", file=out)
    text = yaml.safe_dump(described, sort_keys=False, allow_unicode=True, default_flow_style=False, width=110)
    print("  " + text.rstrip().replace("\n", "\n  "), file=out)


def _send_samples(settings: Settings, timeout: float, out: TextIO) -> bool:
    from otel_discord.pipeline import Pipeline

    pipeline = Pipeline(settings)
    engine = pipeline.engine
    before = engine.stats.dropped()
    sent_before = engine.stats.snapshot().get("sent_embeds", 0)
    items = samples(time.time())
    accepted = sum(pipeline.deliver(notice, name) for name in settings.channels for notice in items)
    delivered = pipeline.flush(timeout)
    dropped = engine.stats.dropped() - before
    sent = engine.stats.snapshot().get("sent_embeds", 0) - sent_before
    pipeline.release(min(timeout, 5.0))
    total = len(items) * len(settings.channels)
    ok = delivered and dropped == 0 and accepted == total
    mark = "✓" if ok else "✗"
    print(f"{mark} samples: {total} queued ({len(items)} kinds × {len(settings.channels)} channel(s)), "
          f"{sent} delivered, {dropped} dropped" + ("" if delivered else f", not all delivered within {timeout:g} s"),
          file=out)
    return ok


def diagnose(
    settings: Settings,
    out: TextIO,
    *,
    root_level: int,
    client: WebhookClient | None = None,
    send_sample: bool = False,
    timeout: float = 30.0,
) -> int:
    """Run every check on ``settings``, print the report to ``out``; return the exit status."""
    from otel_discord.pipeline import build_stages

    from otel_discord.route.rules import load_rules

    try:
        stages = build_stages(settings)
        rules = load_rules(settings)
    except ConfigError as exc:
        print(f"✗ configuration: {exc}", file=out)
        return 2
    _print_config(settings, stages, out)
    _print_rules(settings, rules, out)
    print("", file=out)
    advice = logging_advice(root_level)
    print(f"⚠ logging: {advice}" if advice else "✓ logging: INFO records reach OpenTelemetry", file=out)
    owned = client is None
    client = client or WebhookClient(timeout=min(settings.timeout, 10.0))
    try:
        verdicts = check_webhooks(settings.channels, client)
    finally:
        if owned:
            client.close()
    for name, result in verdicts.items():
        mark = "✓" if result.startswith(OK) else "✗"
        print(f"{mark} channel {name} ({settings.channels[name].webhook}): {result}", file=out)
    healthy = all(result.startswith(OK) for result in verdicts.values())
    if send_sample:
        if not healthy:
            print("✗ samples: not sent (fix the webhooks above first)", file=out)
        else:
            healthy = _send_samples(settings, timeout, out) and healthy
    return 0 if healthy else 1


def run(args: argparse.Namespace) -> int:
    try:
        settings = resolve(None, config_file=args.config)
    except ConfigError as exc:
        print(f"✗ configuration: {exc}", file=sys.stdout)
        return 2
    return diagnose(settings, sys.stdout, root_level=logging.getLogger().getEffectiveLevel(),
                    send_sample=args.send_sample, timeout=args.timeout)
