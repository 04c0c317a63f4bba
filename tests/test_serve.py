"""``otel-discord serve`` as an operator runs it: a real process, real HTTP, the strict local Discord."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from google.rpc import code_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from tls_certs import make_certificates

from otel_discord.testing import DiscordServer, WebhookInfo

pytestmark = pytest.mark.e2e

PB = "application/x-protobuf"
START_TIMEOUT = 30.0  # importing the SDK on 2 busy cores can take seconds
EXIT_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def otel_discord_command() -> list[str]:
    script = Path(sys.executable).with_name("otel-discord")
    return [str(script)] if script.exists() else [sys.executable, "-m", "otel_discord.cli"]


class Bridge:
    """One ``otel-discord serve`` process; stderr goes to a file so it can never block."""

    def __init__(
        self, env: dict[str, str], log: Path, *args: str, port: int | None = None, ca: Path | None = None
    ) -> None:
        self.port = port or free_port()
        self.url = f"{'https' if ca else 'http'}://127.0.0.1:{self.port}"
        self.verify: str | bool = str(ca) if ca else True  # the CA of an HTTPS bridge's certificate
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [*otel_discord_command(), "serve", "--port", str(self.port), *args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self) -> dict:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited with {self.proc.returncode}:\n{self.output()}")
            try:
                return requests.get(f"{self.url}/health", timeout=1, verify=self.verify).json()
            except requests.ConnectionError:
                time.sleep(0.1)
        raise AssertionError(f"serve did not answer /health within {START_TIMEOUT} s:\n{self.output()}")

    def health(self) -> dict:
        return requests.get(f"{self.url}/health", timeout=5, verify=self.verify).json()

    def stop(self, signum: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        return self.wait_exit()

    def wait_exit(self) -> int:
        try:
            return self.proc.wait(EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"serve did not exit within {EXIT_TIMEOUT} s:\n{self.output()}") from None

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def post_spans(self, spans: list[ReadableSpan], **headers: str) -> requests.Response:
        body = encode_spans(spans).SerializeToString()
        return requests.post(
            f"{self.url}/v1/traces", data=body, headers={"Content-Type": PB, **headers}, timeout=10, verify=self.verify
        )


@pytest.fixture
def bridge_env(discord_server: DiscordServer, webhook: WebhookInfo, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(
        OTEL_EXPORTER_DISCORD_WEBHOOK_URL=webhook.url,
        OTEL_EXPORTER_DISCORD_ALLOWED_HOSTS=discord_server.host_port,
        OTEL_EXPORTER_DISCORD_SPOOL_DIR=str(tmp_path / "spool"),
    )
    return env


@pytest.fixture
def start_bridge(bridge_env: dict[str, str], tmp_path: Path) -> Iterator:
    started: list[Bridge] = []

    def start(*args: str, env: dict[str, str] | None = None, port: int | None = None, ca: Path | None = None) -> Bridge:
        bridge = Bridge(env or bridge_env, tmp_path / f"serve-{len(started)}.log", *args, port=port, ca=ca)
        started.append(bridge)
        return bridge

    yield start
    for bridge in started:
        bridge.kill()


def failing_request(order: int, route: str = "/orders/<id>") -> ReadableSpan:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "billing"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        with provider.get_tracer("flask-app").start_as_current_span(
            f"GET {route}", kind=SpanKind.SERVER, attributes={"http.route": route, "http.method": "GET"}
        ):
            raise KeyError(f"order {order}")
    except KeyError:
        pass
    (span,) = exporter.get_finished_spans()
    return span


def distinct_failure(order: int) -> ReadableSpan:
    """A failure of its own (another route): repeats of one failure would be grouped, not queued."""
    return failing_request(order, route=f"/orders/{order}/pay")


def titles(discord_server: DiscordServer) -> list[str]:
    return [embed["title"] for message in discord_server.messages() for embed in message.payload.get("embeds", [])]


def failures(discord_server: DiscordServer) -> int:
    """How many failures the KeyError alerts in Discord stand for (a grouped repeat shows "Seen ×N")."""
    total = 0
    for message in discord_server.messages():
        for embed in message.payload.get("embeds", []):
            if "KeyError" in embed.get("title", ""):
                seen = [f["value"] for f in embed.get("fields", []) if f.get("name") == "Seen"]
                total += int(seen[0].lstrip("×").split()[0].replace(",", "")) if seen else 1
    return total


def test_serve_posts_errors_reports_health_and_stops_on_sigterm(start_bridge, discord_server, webhook):
    """Started from the environment, it says where it posts (token masked), delivers, and exits 0."""
    bridge = start_bridge()
    health = bridge.wait_ready()
    assert health["status"] == "ok"
    assert health["signals"]["traces"] == "on"

    assert bridge.post_spans([failing_request(250090)]).status_code == 200
    assert discord_server.wait_for(lambda: failures(discord_server) == 1, timeout=15), titles(discord_server)
    (title,) = [t for t in titles(discord_server) if "KeyError" in t]
    assert "250090" in title
    assert bridge.health()["items"]["traces.accepted"] == 1

    assert bridge.stop(signal.SIGTERM) == 0
    output = bridge.output()
    startup = next(line for line in output.splitlines() if "listening on" in line)
    assert bridge.url in startup
    assert f"default → http://{discord_server.host_port}/api/" in startup
    assert f"/webhooks/{webhook.id}/****" in startup
    assert "SIGTERM received" in output
    assert webhook.token not in output


def test_sigint_delivers_what_is_queued_before_exiting(start_bridge, discord_server):
    """Alerts accepted while Discord was unreachable still reach it after Ctrl-C, before the process ends."""
    bridge = start_bridge("--shutdown-timeout", "20")
    bridge.wait_ready()
    discord_server.set_down(True)  # nothing can be delivered before the signal
    for order in (1, 2, 3):
        assert bridge.post_spans([failing_request(order)]).status_code == 200

    bridge.proc.send_signal(signal.SIGINT)
    discord_server.set_down(False)
    assert bridge.wait_exit() == 0
    assert failures(discord_server) == 3
    assert "SIGINT received" in bridge.output()
    assert "nothing left queued" in bridge.output()


def test_full_backlog_answers_503_with_retry_after_then_recovers(start_bridge, bridge_env, discord_server):
    """Discord down: the bridge refuses with 503 + Retry-After before it would drop, and delivers all later."""
    discord_server.set_down(True)
    limits = {"OTEL_EXPORTER_DISCORD_QUEUE_SIZE": "10", "OTEL_EXPORTER_DISCORD_SPOOL_MAX_ROWS": "10"}
    bridge = start_bridge("--retry-after", "2", env={**bridge_env, **limits})
    bridge.wait_ready()

    answers = [bridge.post_spans([distinct_failure(order)]) for order in range(12)]
    statuses = [r.status_code for r in answers]
    accepted = statuses.count(200)
    assert statuses == [200] * accepted + [503] * (12 - accepted)  # refused from 90 % of 10 on
    assert 0 < accepted < 12
    refused = answers[-1]
    assert refused.headers["Retry-After"] == "2"
    assert refused.headers["Content-Type"] == PB
    assert status_pb2.Status.FromString(refused.content).code == code_pb2.UNAVAILABLE
    health = bridge.health()
    assert health["status"] == "full" and health["queue"]["capacity"] == 10

    discord_server.set_down(False)
    assert discord_server.wait_for(lambda: bridge.health()["queue"]["pending"] == 0, timeout=30), bridge.health()
    assert bridge.post_spans([distinct_failure(99)]).status_code == 200  # the Collector's retry now succeeds
    assert discord_server.wait_for(lambda: failures(discord_server) == accepted + 1, timeout=30), titles(discord_server)
    health = bridge.health()
    assert health["dropped_notices"] == 0 and health["status"] == "ok"
    assert bridge.stop() == 0


def test_bad_or_missing_settings_exit_2_naming_the_variable(start_bridge, bridge_env, webhook):
    """A misconfigured gateway refuses to start, says which variable is wrong, and never prints the token."""
    bad = start_bridge(env={**bridge_env, "OTEL_EXPORTER_DISCORD_SLOW_QUERY_MS": "fast"})
    assert bad.wait_exit() == 2
    assert "OTEL_EXPORTER_DISCORD_SLOW_QUERY_MS" in bad.output()
    assert webhook.token not in bad.output()

    unset = {k: v for k, v in bridge_env.items() if k != "OTEL_EXPORTER_DISCORD_WEBHOOK_URL"}
    missing = start_bridge(env=unset)
    assert missing.wait_exit() == 2
    assert "OTEL_EXPORTER_DISCORD_WEBHOOK_URL is not set" in missing.output()


def test_port_in_use_exits_1(start_bridge):
    """Another process on the port: a clear error and exit 1, not a traceback."""
    bridge = start_bridge()
    bridge.wait_ready()
    again = start_bridge(port=bridge.port)
    assert again.wait_exit() == 1
    assert f"cannot listen on 127.0.0.1:{bridge.port}" in again.output()
    assert "Traceback" not in again.output()
    assert bridge.stop() == 0


BRIDGE_TOKEN = "Rr4-Yq9_wE2tZ8uX0cV6bN1m"  # 24 characters


def test_beyond_loopback_without_a_token_refuses_to_start(start_bridge, bridge_env, discord_server):
    """`--host 0.0.0.0` and no token: exit 2 naming the setting, no traceback, nothing posted to Discord."""
    exposed = start_bridge("--host", "0.0.0.0")
    assert exposed.wait_exit() == 2
    output = exposed.output()
    assert "refusing to listen on 0.0.0.0 without a bearer token" in output
    assert "OTEL_EXPORTER_DISCORD_BRIDGE_TOKEN" in output
    assert "Traceback" not in output
    assert discord_server.messages() == []  # not even the bridge's "started" notice

    short = "tooshort-123"
    weak = start_bridge("--host", "0.0.0.0", env={**bridge_env, "OTEL_EXPORTER_DISCORD_BRIDGE_TOKEN": short})
    assert weak.wait_exit() == 2
    assert "OTEL_EXPORTER_DISCORD_BRIDGE_TOKEN is 12 characters long; at least 16" in weak.output()
    assert short not in weak.output() and "Traceback" not in weak.output()


def test_token_file_and_tls_let_only_the_token_holder_post(start_bridge, bridge_env, discord_server, tmp_path):
    """HTTPS from the environment, the token from `--token-file`: 401 without it (nothing reaches Discord),
    the alert with it; the startup line says how clients authenticate and never shows the token."""
    certs = make_certificates(tmp_path / "tls")
    secret = tmp_path / "bridge-token"
    secret.write_text(BRIDGE_TOKEN + "\n")
    env = {
        **bridge_env,
        "OTEL_EXPORTER_DISCORD_BRIDGE_TLS_CERT": str(certs.cert),
        "OTEL_EXPORTER_DISCORD_BRIDGE_TLS_KEY": str(certs.key),
    }
    bridge = start_bridge("--token-file", str(secret), env=env, ca=certs.ca)
    assert bridge.wait_ready()["unauthorized_requests"] == 0

    refused = bridge.post_spans([failing_request(401)])
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer ")
    assert bridge.post_spans([failing_request(402)], Authorization="Bearer " + "x" * 24).status_code == 401
    assert bridge.post_spans([failing_request(200)], Authorization=f"Bearer {BRIDGE_TOKEN}").status_code == 200
    assert discord_server.wait_for(lambda: failures(discord_server) == 1, timeout=15), titles(discord_server)
    health = bridge.health()
    assert health["unauthorized_requests"] == 2 and health["items"]["traces.accepted"] == 1

    assert bridge.stop() == 0
    (alert,) = [t for t in titles(discord_server) if "KeyError" in t]
    assert "order 200" in alert  # the refused orders 401 and 402 never got in
    output = bridge.output()
    startup = next(line for line in output.splitlines() if "listening on" in line)
    assert startup.startswith(f"otel-discord INFO: bridge listening on https://127.0.0.1:{bridge.port} ")
    assert "bearer token required (24 characters, from --token-file); TLS" in startup
    assert "no Authorization header" in output and "a wrong bearer token" in output
    assert BRIDGE_TOKEN not in output
