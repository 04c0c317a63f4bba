"""``otel-discord doctor [--send-sample]``: is the configuration right, and does every webhook work?

Checks what it can know from where it runs (the same environment as the app):

1. The settings: prints the effective configuration (tokens masked): channels, preset,
   routes, mentions, filters, schedules, rate cap, privacy, the spool directory.
2. The signals: which exporters ``OTEL_TRACES_EXPORTER``, ``OTEL_METRICS_EXPORTER`` and
   ``OTEL_LOGS_EXPORTER`` name, and whether each is installed. A missing one makes the
   SDK set up nothing at all, so it fails the check; with a variable unset here (flags
   given to ``opentelemetry-instrument`` are not visible to doctor), it says what the
   distro's default would do.
3. Each webhook, with a GET (harmless: nothing is posted): ok, unknown webhook,
   unauthorized, rate limited or unreachable.
4. With ``--send-sample``: posts one notice of each kind to each channel through the real
   pipeline and delivery engine, then flushes.

Advice is not a failed check: when the logs go to Discord, a reminder that Python's
logging drops INFO business events below the logger's level (the level lives in the
app, never in doctor's own process, so doctor cannot read it; ``logging_advice`` is the
same check for the app to run on its own logger).

Exit status: 0 all good, 1 a webhook, a sample or a signal's exporter failed, 2 the
configuration is invalid.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, TextIO

import yaml

from otel_discord.config import Channel, ConfigError, Settings, resolve
from otel_discord.deliver.webhook import Outcome, WebhookClient
from otel_discord.exporters import requested
from otel_discord.notice import Category, Field, Kind, Notice, Severity
from otel_discord.route.rules import load_rules

OK: Final = "ok"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML config file (default: $OTEL_EXPORTER_DISCORD_CONFIG)")
    parser.add_argument(
        "--send-sample",
        action="store_true",
        help="post one notice of each kind to each channel, through the real pipeline",
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for samples to be delivered")


def logging_advice(level: int) -> str | None:
    """Why ``level`` (a logger's effective level, in the app) loses business events, or None if it does not."""
    if level <= logging.INFO:
        return None
    name = logging.getLevelName(level)
    return (
        f"the logger's level is {name}: logger.info(..., extra={{'event.name': ...}}) business events "
        f"are dropped by Python's logging before OpenTelemetry's handler sees them (Python's default is "
        f"WARNING). Set the level of the logger your events use, e.g. "
        f"logging.getLogger('myapp').setLevel(logging.INFO), or logging.basicConfig(level=logging.INFO) "
        f"at startup."
    )


LOGGING_ADVICE: Final = (
    "business events logged at INFO (logger.info(..., extra={'event.name': ...})) reach Discord only if "
    "the app's logger lets INFO through, and Python's default level is WARNING: call "
    "logging.basicConfig(level=logging.INFO) at startup, or logging.getLogger('myapp').setLevel(logging.INFO). "
    "To check in the app: otel_discord.commands.doctor.logging_advice(logging.getLogger('myapp')"
    ".getEffectiveLevel()) returns None when all is well."
)


@dataclass(frozen=True)
class Line:
    """One line of the report: ``✓`` passed, ``✗`` failed (exit 1), ``⚠`` a warning, ``ℹ`` advice, ``·`` a fact."""

    mark: str
    text: str

    @property
    def failed(self) -> bool:
        return self.mark == "✗"

    def __str__(self) -> str:
        return f"{self.mark} {self.text}"


def signal_lines(
    environ: Mapping[str, str], available: requested.Available = requested.installed, distro: bool | None = None
) -> list[Line]:
    """What each signal's ``OTEL_*_EXPORTER`` names here, and whether the SDK will find it.

    ``distro``: whether a distro fills unset variables with ``otlp`` (default: whether one is installed).
    """
    distro = requested.distro_installed() if distro is None else distro
    lines: list[Line] = []
    for signal in requested.SIGNALS:
        variable = requested.ENV[signal]
        set_here = bool(environ.get(variable, "").strip())
        effective = requested.with_distro_defaults(environ) if distro and not set_here else environ
        names = requested.requested(signal, effective)
        shown = ", ".join(asked for asked, _ in names)
        absent = [(asked, name) for asked, name in names if not available(signal, name)]
        if absent:
            what = ", ".join(asked if asked == name else f"{asked} ({name})" for asked, name in absent)
            packages = sorted({requested.PACKAGES[name] for _, name in absent if name in requested.PACKAGES})
            fix = f"pass --{signal}_exporter discord (or none) to opentelemetry-instrument" + (
                f", or pip install {' '.join(packages)}" if packages else ""
            )
            if set_here:
                lines.append(
                    Line(
                        "✗",
                        f"{signal}: {variable}={shown}, but {what} is not installed, so the SDK "
                        f"would set up no signal at all: {fix}",
                    )
                )
            else:
                lines.append(
                    Line(
                        "⚠",
                        f"{signal}: {variable} is not set here, and opentelemetry-distro's default "
                        f"{what} is not installed, so unless opentelemetry-instrument is given "
                        f"--{signal}_exporter the SDK sets up no signal at all: {fix}",
                    )
                )
        elif not set_here:
            default = f" (opentelemetry-distro's default: {shown})" if distro else ""
            lines.append(
                Line(
                    "·",
                    f"{signal}: {variable} is not set here{default}; "
                    f"--{signal}_exporter discord sends {signal} to Discord",
                )
            )
        elif not names:
            lines.append(Line("·", f"{signal}: not exported ({variable}=none)"))
        elif any(name == "discord" for _, name in names):
            lines.append(Line("✓", f"{signal}: {variable}={shown}"))
        else:
            lines.append(Line("·", f"{signal}: {variable}={shown} (not to Discord)"))
    return lines


def logs_to_discord(environ: Mapping[str, str]) -> bool:
    return any(name == "discord" for _, name in requested.requested("logs", environ))


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
        Notice(
            Kind.ERROR,
            Severity.ERROR,
            Category.ERROR,
            "Sample: ValueError: could not convert string to float",
            description=note,
            code='Traceback (most recent call last):\n  File "app.py", line 1, in <module>\n'
            "ValueError: could not convert string to float: 'abc'",
            code_language="py",
            fields=(Field("Route", "GET /sample"),),
            **common,
        ),
        Notice(
            Kind.SLOW_QUERY,
            Severity.WARNING,
            Category.PERFORMANCE,
            "Sample: slow query 1,234 ms",
            description=note,
            code="SELECT * FROM invoices WHERE amount > ?",
            code_language="sql",
            **common,
        ),
        Notice(
            Kind.SLOW_REQUEST,
            Severity.WARNING,
            Category.PERFORMANCE,
            "Sample: slow request 2,345 ms on GET /",
            description=note,
            **common,
        ),
        Notice(
            Kind.EVENT,
            Severity.INFO,
            Category.PAYMENT,
            "Sample: invoice #250090 paid",
            description=note,
            event_name="invoice.paid",
            fields=(Field("Amount", "€5,250.00"), Field("Client", "Sample B.V.")),
            attributes={"invoice.number": "250090", "invoice.amount": 5250.0, "invoice.currency": "EUR"},
            **common,
        ),
        Notice(
            Kind.SUMMARY,
            Severity.INFO,
            Category.SYSTEM,
            "Sample: daily summary",
            description=note,
            fields=(Field("Requests", "1,234"), Field("Errors", "2")),
            **common,
        ),
        Notice(Kind.SYSTEM, Severity.INFO, Category.SYSTEM, "Sample: service started", description=note, **common),
        Notice(
            Kind.THRESHOLD,
            Severity.WARNING,
            Category.SYSTEM,
            "Sample: error rate above 5 %",
            description=note,
            **common,
        ),
        Notice(
            Kind.DIGEST,
            Severity.INFO,
            Category.SYSTEM,
            "Sample: digest of 3 held notices",
            description=f"{note}\n08:01 📘 first\n08:02 📘 second\n08:03 📘 third",
            **common,
        ),
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
    described["acknowledgment by reaction"] = (
        "on (bot token set)"
        if bot
        else "off: no bot token (OTEL_EXPORTER_DISCORD_BOT_TOKEN); escalation stops on resolve, silence or its last step"
    )
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
    print(
        f"{mark} samples: {total} queued ({len(items)} kinds × {len(settings.channels)} channel(s)), "
        f"{sent} delivered, {dropped} dropped" + ("" if delivered else f", not all delivered within {timeout:g} s"),
        file=out,
    )
    return ok


def diagnose(
    settings: Settings,
    out: TextIO,
    *,
    environ: Mapping[str, str] | None = None,
    client: WebhookClient | None = None,
    send_sample: bool = False,
    timeout: float = 30.0,
    available: requested.Available = requested.installed,
) -> int:
    """Run every check on ``settings`` and ``environ`` (the OTEL_* variables), print the report; the exit status."""
    from otel_discord.pipeline import build_stages

    environ = {} if environ is None else environ
    try:
        stages = build_stages(settings)
        rules = load_rules(settings)
    except ConfigError as exc:
        print(f"✗ configuration: {exc}", file=out)
        return 2
    _print_config(settings, stages, out)
    _print_rules(settings, rules, out)
    print("", file=out)
    lines = signal_lines(environ, available)
    if logs_to_discord(environ):
        lines.append(Line("ℹ", f"logging (advice): {LOGGING_ADVICE}"))
        if not available_instrumentor("logging"):
            lines.append(
                Line(
                    "ℹ",
                    "logging (advice): opentelemetry-instrumentation-logging is not installed, so "
                    "Python log records never reach the log exporter: pip install "
                    "opentelemetry-instrumentation-logging",
                )
            )
    for line in lines:
        print(line, file=out)
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
    healthy = all(result.startswith(OK) for result in verdicts.values()) and not any(line.failed for line in lines)
    if send_sample:
        if not all(result.startswith(OK) for result in verdicts.values()):
            print("✗ samples: not sent (fix the webhooks above first)", file=out)
        else:
            healthy = _send_samples(settings, timeout, out) and healthy
    return 0 if healthy else 1


def available_instrumentor(name: str) -> bool:
    """Whether an ``opentelemetry_instrumentor`` entry point called ``name`` is installed."""
    from importlib.metadata import entry_points

    return any(True for _ in entry_points(group="opentelemetry_instrumentor", name=name))


def run(args: argparse.Namespace) -> int:
    try:
        settings = resolve(None, config_file=args.config)
    except ConfigError as exc:
        print(f"✗ configuration: {exc}", file=sys.stdout)
        return 2
    return diagnose(settings, sys.stdout, environ=os.environ, send_sample=args.send_sample, timeout=args.timeout)
