"""The distro trap: ``--traces_exporter discord`` alone, with opentelemetry-distro's ``otlp`` defaults for the
other signals and no gRPC OTLP exporter installed (the dev environment has only the HTTP one).

Without help the SDK prints 40 lines of traceback about ``otlp_proto_grpc`` and configures nothing; the user
should instead read one line that names otel-discord and the flags (or package) that fix it.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from procs import venv_bin

from otel_discord.exporters.requested import (
    Missing,
    fix_line,
    missing,
    requested,
    with_distro_defaults,
)

pytestmark = pytest.mark.e2e

PROBE = "from opentelemetry import trace; print('provider:', type(trace.get_tracer_provider()).__name__)"


def _instrument(tmp_path, *flags: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    environ.update(env)
    return subprocess.run(
        [venv_bin("opentelemetry-instrument"), *flags, sys.executable, "-c", PROBE],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_missing_default_exporters_are_explained_in_one_line(webhook, discord_server, tmp_path):
    """The app runs uninstrumented (the SDK's doing), but stderr says why in one otel-discord line naming the
    flags for the signals that lack an exporter, and shows no traceback."""
    ran = _instrument(
        tmp_path,
        "--traces_exporter",
        "discord",
        OTEL_EXPORTER_DISCORD_WEBHOOK_URL=webhook.url,
        OTEL_EXPORTER_DISCORD_ALLOWED_HOSTS=discord_server.host_port,
    )
    assert ran.returncode == 0, ran.stderr
    assert "provider: ProxyTracerProvider" in ran.stdout  # nothing was configured
    ours = [line for line in ran.stderr.splitlines() if line.startswith("otel-discord")]
    assert len(ours) == 1, ran.stderr
    assert "metrics 'otlp_proto_grpc' (from 'otlp'), logs 'otlp_proto_grpc' (from 'otlp')" in ours[0]
    assert "--metrics_exporter none --logs_exporter none" in ours[0]
    assert "pip install opentelemetry-exporter-otlp" in ours[0]
    assert "--traces_exporter none" not in ours[0]  # traces were fine
    assert "Traceback" not in ran.stderr
    assert len(ran.stderr.strip().splitlines()) == 2, ran.stderr  # ours, and the SDK's own line, shortened


def test_the_suggested_flags_fix_it(webhook, discord_server, tmp_path):
    """With the flags from that line the SDK is configured and otel-discord says nothing about exporters."""
    ran = _instrument(
        tmp_path,
        "--traces_exporter",
        "discord",
        "--metrics_exporter",
        "none",
        "--logs_exporter",
        "none",
        OTEL_EXPORTER_DISCORD_WEBHOOK_URL=webhook.url,
        OTEL_EXPORTER_DISCORD_ALLOWED_HOSTS=discord_server.host_port,
    )
    assert ran.returncode == 0, ran.stderr
    assert "provider: TracerProvider" in ran.stdout
    assert "not installed" not in ran.stderr and "Traceback" not in ran.stderr


def test_http_protobuf_finds_the_installed_otlp_exporter(webhook, discord_server, tmp_path):
    """OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf makes ``otlp`` the HTTP exporter, which is installed: no line."""
    ran = _instrument(
        tmp_path,
        "--traces_exporter",
        "discord",
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9",
        OTEL_METRIC_EXPORT_INTERVAL="600000",
        OTEL_EXPORTER_DISCORD_WEBHOOK_URL=webhook.url,
        OTEL_EXPORTER_DISCORD_ALLOWED_HOSTS=discord_server.host_port,
    )
    assert "provider: TracerProvider" in ran.stdout, ran.stderr
    assert "not installed" not in ran.stderr


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, {"traces": [], "metrics": [], "logs": []}),
        (
            {"OTEL_TRACES_EXPORTER": "discord, console", "OTEL_LOGS_EXPORTER": "None"},
            {"traces": [("discord", "discord"), ("console", "console")], "metrics": [], "logs": []},
        ),
        ({"OTEL_METRICS_EXPORTER": "otlp"}, {"traces": [], "metrics": [("otlp", "otlp_proto_grpc")], "logs": []}),
        (
            {"OTEL_METRICS_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
            {"traces": [], "metrics": [("otlp", "otlp_proto_http")], "logs": []},
        ),
        (
            {
                "OTEL_LOGS_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL": "grpc",
            },
            {"traces": [], "metrics": [], "logs": [("otlp", "otlp_proto_grpc")]},
        ),
    ],
)
def test_names_follow_the_sdks_rules(environ, expected):
    """``otlp`` becomes the gRPC or HTTP entry point by the (per-signal) protocol; ``none`` and unset ask for nothing."""
    assert {signal: requested(signal, environ) for signal in expected} == expected


def test_distro_defaults_and_the_fix_line():
    """Unset variables become the distro's otlp over gRPC; the line names each signal's flag and the package."""
    environ = with_distro_defaults({"OTEL_TRACES_EXPORTER": "discord", "OTEL_LOGS_EXPORTER": ""})
    found = missing(environ, available=lambda signal, name: name == "discord")
    assert found == [Missing("metrics", "otlp_proto_grpc", "otlp"), Missing("logs", "otlp_proto_grpc", "otlp")]
    line = fix_line(found)
    assert "--metrics_exporter none --logs_exporter none" in line
    assert line.endswith("or pip install opentelemetry-exporter-otlp")
    typo = fix_line([Missing("traces", "discrod", "discrod")])
    assert "traces 'discrod'" in typo and "pip install" not in typo
