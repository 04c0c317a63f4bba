"""Gateway mode end to end, every piece real.

Two instances of a Flask + SQLAlchemy app, under ``opentelemetry-instrument`` with the
stock OTLP/HTTP exporter, send to the gateway Collector (``gateway/build-collector.sh``,
``collector-config.yaml``), which forwards to ``otel-discord serve`` (posting to the strict
local Discord) and, as OTLP/JSON, to a second backend. The embeds must be those of direct
mode (tests/test_e2e_instrument.py), the backend must see the same traces, and stopping
the bridge for ~20 s under traffic must lose nothing: the Collector's persistent queue
and retries carry every alert across, and each arrives exactly once. The bridge demands a
bearer token, which the Collector sends from ``OTEL_DISCORD_BRIDGE_TOKEN``; a Collector
without it is refused (401) and nothing it forwards is posted, over plain HTTP or HTTPS.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from tls_certs import make_certificates

from otel_discord.testing import DiscordServer

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parent.parent
APPS = Path(__file__).parent / "apps"
BUILD_SCRIPT = REPO / "gateway" / "build-collector.sh"
CONFIG = REPO / "collector-config.yaml"
BUILD_TIMEOUT = 1800  # a cold build downloads ~150 modules and compiles for minutes on 2 cores
START_TIMEOUT = 45.0  # opentelemetry-instrument + Flask on 2 busy cores
ARRIVAL_TIMEOUT = 45.0  # the Collector batches for 1 s, the engine lingers 0.25 s
# After ~20 s of failures the Collector's next retry can be ~15-30 s away (backoff from 1 s,
# ×1.5, ±50 %, at most 30 s: collector-config.yaml), then the queue drains.
RECOVERY_TIMEOUT = 100.0
OUTAGE = 20.0
TRACE_URL = "http://jaeger.example:16686/trace/{trace_id}"
TRACE_PREFIX = TRACE_URL.split("{", 1)[0]
ORDER = re.compile(r"RuntimeError: payment for order (\d+) was declined")
BRIDGE_TOKEN = "gW7-pL2_sK9dQ4vH1xZ6mN3b"  # the shared secret of bridge and Collector


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sibling_script(name: str) -> list[str]:
    script = Path(sys.executable).with_name(name)
    assert script.exists(), f"{script} is missing from the virtualenv"
    return [str(script)]


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without any OTEL_* variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


@dataclass
class Processes:
    """Subprocesses in their own process groups, output in files; all killed at the end, whatever happens."""

    logs: Path
    running: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("ab") as out:
            proc = subprocess.Popen(
                argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.running[name] = proc
        return proc

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else "(no output)"

    def tails(self) -> str:
        return "\n".join(f"--- {name} ---\n{self.log(name)[-3000:]}" for name in self.running)

    def check_alive(self) -> None:
        for name, proc in self.running.items():
            if proc.poll() is not None:
                pytest.fail(f"{name} exited with {proc.returncode}\n{self.tails()}")

    def stop(self, name: str, signum: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        proc = self.running.pop(name)
        if proc.poll() is None:
            os.killpg(proc.pid, signum)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            pytest.fail(f"{name} did not stop within {timeout} s of {signal.Signals(signum).name}:\n{self.log(name)}")

    def stop_all(self) -> None:
        for name in list(self.running):
            proc = self.running.pop(name)
            for signum, grace in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 10.0)):
                if proc.poll() is not None:
                    break
                try:
                    os.killpg(proc.pid, signum)
                    proc.wait(grace)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    pass

    def wait(self, condition: Callable[[], bool], what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            self.check_alive()
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{self.tails()}")
            time.sleep(0.2)


class JsonBackend:
    """The "second backend": an OTLP/HTTP endpoint recording the OTLP/JSON the Collector sends."""

    def __init__(self) -> None:
        self.documents: list[dict[str, Any]] = []
        backend = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/v1/traces" and body:
                    backend.documents.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def spans(self) -> list[tuple[str, dict[str, Any]]]:
        """(service.name, span) for every span received."""
        found = []
        for document in list(self.documents):
            for resource_spans in document.get("resourceSpans", []):
                attributes = resource_spans.get("resource", {}).get("attributes", [])
                service = next((a["value"].get("stringValue") for a in attributes if a["key"] == "service.name"), None)
                for scope_spans in resource_spans.get("scopeSpans", []):
                    found.extend((service, span) for span in scope_spans.get("spans", []))
        return found

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def otelcol() -> Path:
    """The gateway Collector binary, built (or reused) by the project's build script; never skipped."""
    try:
        result = subprocess.run([str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"gateway/build-collector.sh did not finish in {BUILD_TIMEOUT} s:\n{exc.stderr}")
    if result.returncode != 0:
        pytest.fail(f"gateway/build-collector.sh failed (exit {result.returncode}):\n{result.stderr[-6000:]}")
    binary = Path(result.stdout.strip().splitlines()[-1])
    assert binary.is_file() and os.access(binary, os.X_OK), f"the build script printed no binary: {result.stdout!r}"
    return binary


@dataclass
class Gateway:
    procs: Processes
    discord: DiscordServer
    backend: JsonBackend
    apps: dict[str, str]  # service name → base URL
    start_bridge: Callable[[], None]
    bridge_url: str

    def embeds(self) -> list[dict[str, Any]]:
        return [e for m in self.discord.messages() for e in m.payload.get("embeds", [])]

    def alerts(self, pattern: re.Pattern[str] | str) -> list[dict[str, Any]]:
        return [e for e in self.embeds() if re.search(pattern, e.get("title", ""))]

    def failures(self, pattern: re.Pattern[str] | str) -> int:
        """How many failures the matching alerts stand for (repeats may be grouped: "Seen ×N")."""
        return sum(occurrences(e) for e in self.alerts(pattern))


@pytest.fixture
def gateway(otelcol: Path, discord_server: DiscordServer, tmp_path: Path) -> Iterator[Gateway]:
    hook = discord_server.create_webhook(channel="alerts")
    procs = Processes(tmp_path)
    backend = JsonBackend()
    bridge_port, otlp_http_port = free_port(), free_port()
    bridge_url = f"http://127.0.0.1:{bridge_port}"
    bridge_env = clean_env(
        OTEL_EXPORTER_DISCORD_WEBHOOK_URL=hook.url,
        OTEL_EXPORTER_DISCORD_ALLOWED_HOSTS=discord_server.host_port,
        OTEL_EXPORTER_DISCORD_SLOW_QUERY_MS="30",
        OTEL_EXPORTER_DISCORD_SPOOL_DIR=str(tmp_path / "spool"),
        OTEL_EXPORTER_DISCORD_TRACE_URL=TRACE_URL,
        # Every alert must be countable on its own: without this the channel's cap (10 a minute)
        # folds the burst after the outage into a digest, which is the digest's own test.
        OTEL_EXPORTER_DISCORD_RATE_CAP="0",
        OTEL_EXPORTER_DISCORD_BRIDGE_TOKEN=BRIDGE_TOKEN,
    )

    def start_bridge() -> None:
        argv = [*sibling_script("otel-discord"), "serve", "--port", str(bridge_port), "--retry-after", "1"]
        procs.start("bridge", argv, bridge_env, tmp_path)

        def healthy() -> bool:
            try:
                return requests.get(f"{bridge_url}/health", timeout=1).json()["status"] == "ok"
            except requests.RequestException:
                return False

        procs.wait(healthy, "the bridge's /health", START_TIMEOUT)

    try:
        start_bridge()
        collector_env = clean_env(
            OTELCOL_OTLP_GRPC_ENDPOINT=f"127.0.0.1:{free_port()}",
            OTELCOL_OTLP_HTTP_ENDPOINT=f"127.0.0.1:{otlp_http_port}",
            OTEL_DISCORD_BRIDGE_ENDPOINT=bridge_url,
            OTEL_DISCORD_BRIDGE_TOKEN=BRIDGE_TOKEN,
            OTELCOL_BACKEND_ENDPOINT=backend.url,
            OTELCOL_QUEUE_DIR=str(tmp_path / "queue"),
        )
        procs.start("collector", [str(otelcol), f"--config={CONFIG}"], collector_env, tmp_path)
        apps = {}
        for service in ("fleet-a", "fleet-b"):
            port = free_port()
            app_env = clean_env(
                OTEL_SERVICE_NAME=service,
                OTEL_RESOURCE_ATTRIBUTES="deployment.environment=test",
                OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
                OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{otlp_http_port}",
                OTEL_BSP_SCHEDULE_DELAY="200",
                MINI_APP_DB=f"sqlite:///{tmp_path / (service + '.db')}",
                PYTHONPATH=os.pathsep.join(filter(None, [str(APPS), os.environ.get("PYTHONPATH")])),
                FLASK_APP="fleet_app",
            )
            argv = [
                *sibling_script("opentelemetry-instrument"),
                "--traces_exporter", "otlp", "--metrics_exporter", "none", "--logs_exporter", "none",
                "flask", "run", "--port", str(port), "--no-reload",
            ]  # fmt: skip
            procs.start(service, argv, app_env, APPS)
            apps[service] = f"http://127.0.0.1:{port}"

        def listening(port: int) -> Callable[[], bool]:
            def check() -> bool:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    return True
                except OSError:
                    return False

            return check

        procs.wait(listening(otlp_http_port), "the Collector's OTLP/HTTP receiver", START_TIMEOUT)
        for service, base in apps.items():
            procs.wait(listening(int(base.rsplit(":", 1)[1])), f"{service} to listen", START_TIMEOUT)
        yield Gateway(procs, discord_server, backend, apps, start_bridge, bridge_url)
    finally:
        procs.stop_all()
        backend.close()


def occurrences(embed: dict[str, Any]) -> int:
    seen = [f["value"] for f in embed.get("fields", []) if f.get("name") == "Seen"]
    return int(seen[0].lstrip("×").split()[0].replace(",", "")) if seen else 1


def pay(base: str, order: int) -> None:
    response = requests.get(f"{base}/orders/{order}/pay", timeout=10)
    assert response.status_code == 500, response.text[:200]


def trace_id(embed: dict[str, Any]) -> str:
    assert embed["url"].startswith(TRACE_PREFIX), embed
    return embed["url"][len(TRACE_PREFIX) :]


def test_fleet_through_collector_alerts_like_direct_mode_and_survives_a_bridge_outage(gateway: Gateway) -> None:
    """Two apps → Collector → bridge: direct mode's embeds, the same traces at the backend, and no alert
    lost or repeated while the bridge is down for 20 s."""
    procs, discord, backend = gateway.procs, gateway.discord, gateway.backend
    fleet = set(gateway.apps)

    # --- 1. the same embeds as direct mode (tests/test_e2e_instrument.py), from both apps
    for base in gateway.apps.values():
        assert requests.get(f"{base}/boom", timeout=10).status_code == 500
        assert requests.get(f"{base}/slow", timeout=30).status_code == 200

    procs.wait(
        lambda: gateway.failures("ValueError") == 2 and gateway.failures("Slow query") == 2,
        "both apps' error and slow query in Discord",
        ARRIVAL_TIMEOUT,
    )
    errors, slow = gateway.alerts("ValueError"), gateway.alerts("Slow query")
    for error in errors:
        text = str(error)
        assert "could not convert string to float" in text
        assert "/boom" in text
        assert "compute_vat" in text and "mini_app.py" in text  # the first application frame
        assert "Anonymous" in text
        assert len([service for service in fleet if service in text]) == 1  # the app it came from
        assert "```" in error.get("description", "")  # the stack trace, in a code block
        assert error["color"] == 0xE74C3C
    for query in slow:
        text = str(query)
        assert "RECURSIVE" in text and "x < ?" in text
        assert "/slow" in text  # the route of the request the query belonged to
        assert "30 ms" in text  # the threshold, a setting of the bridge

    # The second backend received the same spans: those the alerts link to, from both apps.
    alerted = {trace_id(e) for e in errors + slow}
    procs.wait(
        lambda: alerted <= {s["traceId"] for _, s in backend.spans()},
        "the alerted traces at the second backend",
        ARRIVAL_TIMEOUT,
    )
    spans = backend.spans()
    assert {service for service, s in spans if s["name"] == "GET /boom"} == fleet
    for tid in (trace_id(e) for e in errors):
        assert any(s["traceId"] == tid and s["name"] == "GET /boom" for _, s in spans)
    for tid in (trace_id(e) for e in slow):
        assert any(s["traceId"] == tid and "RECURSIVE" in json.dumps(s) for _, s in spans)

    # --- 2. the bridge goes away for OUTAGE seconds while both apps keep failing
    bases = list(gateway.apps.values())
    sent: list[int] = []

    def traffic(orders: range, pause: float = 0.0) -> None:
        for order in orders:
            pay(bases[order % len(bases)], order)
            sent.append(order)
            time.sleep(pause)

    traffic(range(1, 5))
    procs.wait(lambda: gateway.failures(ORDER) == len(sent), "the orders sent before the outage", ARRIVAL_TIMEOUT)

    assert procs.stop("bridge", signal.SIGTERM) == 0
    assert "SIGTERM received" in procs.log("bridge")
    outage_started = time.monotonic()
    order = 5
    while time.monotonic() - outage_started < OUTAGE:
        traffic(range(order, order + 1), pause=0.5)
        order += 1
    assert len(sent) >= 4 + 10, "too little traffic during the outage to mean anything"
    assert gateway.failures(ORDER) == 4  # nothing can have reached Discord meanwhile

    gateway.start_bridge()
    traffic(range(order, order + 4))
    procs.wait(
        lambda: gateway.failures(ORDER) >= len(sent), "every order, after the bridge came back", RECOVERY_TIMEOUT
    )
    # Anything the Collector sent twice would be in by the time the bridge has flushed and stopped.
    assert procs.stop("bridge", signal.SIGTERM) == 0

    # Every failure counted exactly once in Discord; no order alerted twice as a message of its own.
    assert gateway.failures(ORDER) == len(sent)
    alerted_orders = [int(ORDER.search(e["title"]).group(1)) for e in gateway.alerts(ORDER)]
    assert len(alerted_orders) == len(set(alerted_orders)) and set(alerted_orders) <= set(sent)
    # The backend, which never went away, has each order's request exactly once, and every trace
    # an alert links to.
    paid = Counter(s["traceId"] for _, s in backend.spans() if s["name"] == "GET /orders/<order>/pay")
    assert len(paid) == len(sent) and set(paid.values()) == {1}
    assert {trace_id(e) for e in gateway.alerts(ORDER)} <= set(paid)
    # The Collector really held the data and retried against the stopped bridge.
    assert any("Will retry" in line and "otlp_http/discord" in line for line in procs.log("collector").splitlines())
    for message in discord.messages():
        assert message.payload["allowed_mentions"] == {"parse": []}
    assert discord.rejected() == []
    # The Collector was let in by its token, and the token is in nobody's output.
    assert "bearer token required (24 characters" in procs.log("bridge")
    assert "refused" not in procs.log("bridge")
    for name in ("bridge", "collector"):
        assert BRIDGE_TOKEN not in procs.log(name)


def failing_span(order: int) -> ReadableSpan:
    """A server span that raised: an error alert whose title names ``order``."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "billing"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    route = f"/orders/{order}/pay"
    try:
        with provider.get_tracer("flask-app").start_as_current_span(
            f"GET {route}", kind=SpanKind.SERVER, attributes={"http.route": route, "http.method": "GET"}
        ):
            raise RuntimeError(f"payment for order {order} was declined")
    except RuntimeError:
        pass
    (span,) = exporter.get_finished_spans()
    return span


def test_only_the_collector_with_the_token_gets_its_alerts_posted_over_https(
    otelcol: Path, discord_server: DiscordServer, tmp_path: Path
) -> None:
    """A TLS bridge with a token, two Collectors: the one without the token is answered 401, drops its
    batch (no retry) and nothing of it is posted; the one with the token gets its alert into Discord."""
    certs = make_certificates(tmp_path / "tls")
    hook = discord_server.create_webhook(channel="alerts")
    procs = Processes(tmp_path)
    backend = JsonBackend()
    bridge_port = free_port()
    bridge_url = f"https://127.0.0.1:{bridge_port}"

    def bridge_health() -> dict[str, Any]:
        return requests.get(f"{bridge_url}/health", timeout=2, verify=str(certs.ca)).json()

    def healthy() -> bool:
        try:
            return bridge_health()["status"] == "ok"
        except requests.RequestException:
            return False

    try:
        bridge_env = clean_env(
            OTEL_EXPORTER_DISCORD_WEBHOOK_URL=hook.url,
            OTEL_EXPORTER_DISCORD_ALLOWED_HOSTS=discord_server.host_port,
            OTEL_EXPORTER_DISCORD_SPOOL_DIR=str(tmp_path / "spool"),
            OTEL_EXPORTER_DISCORD_BRIDGE_TOKEN=BRIDGE_TOKEN,
            OTEL_EXPORTER_DISCORD_BRIDGE_TLS_CERT=str(certs.cert),
            OTEL_EXPORTER_DISCORD_BRIDGE_TLS_KEY=str(certs.key),
        )
        argv = [*sibling_script("otel-discord"), "serve", "--port", str(bridge_port)]
        procs.start("bridge", argv, bridge_env, tmp_path)
        procs.wait(healthy, "the bridge's /health over HTTPS", START_TIMEOUT)

        receivers = {}
        for name, token in (("collector-without-token", None), ("collector", BRIDGE_TOKEN)):
            receivers[name] = free_port()
            collector_env = clean_env(
                OTELCOL_OTLP_GRPC_ENDPOINT=f"127.0.0.1:{free_port()}",
                OTELCOL_OTLP_HTTP_ENDPOINT=f"127.0.0.1:{receivers[name]}",
                OTEL_DISCORD_BRIDGE_ENDPOINT=bridge_url,
                OTEL_DISCORD_BRIDGE_CA_FILE=str(certs.ca),
                OTELCOL_BACKEND_ENDPOINT=backend.url,
                OTELCOL_QUEUE_DIR=str(tmp_path / f"queue-{name}"),
                **({"OTEL_DISCORD_BRIDGE_TOKEN": token} if token else {}),
            )
            procs.start(name, [str(otelcol), f"--config={CONFIG}"], collector_env, tmp_path)

        def send(collector: str, order: int) -> None:
            exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{receivers[collector]}/v1/traces", timeout=10)
            deadline = time.monotonic() + START_TIMEOUT
            while exporter.export([failing_span(order)]) is not SpanExportResult.SUCCESS:  # still starting
                procs.check_alive()
                assert time.monotonic() < deadline, procs.tails()
                time.sleep(0.5)
            exporter.shutdown()

        # 1. Without the token: refused, and the Collector gives the batch up at once (401 is permanent).
        send("collector-without-token", 401)
        procs.wait(
            lambda: bridge_health()["unauthorized_requests"] >= 1, "the bridge to refuse a request", ARRIVAL_TIMEOUT
        )
        procs.wait(
            lambda: "401" in procs.log("collector-without-token"), "the Collector to log the 401", ARRIVAL_TIMEOUT
        )
        refused_log = procs.log("collector-without-token")
        assert "references unset environment variable" in refused_log and "OTEL_DISCORD_BRIDGE_TOKEN" in refused_log
        assert "Will retry" not in refused_log

        # 2. With it, over the same HTTPS: the alert is posted.
        send("collector", 200)
        procs.wait(
            lambda: any("order 200" in e.get("title", "") for e in discord_embeds(discord_server)),
            "the alert from the Collector with the token",
            ARRIVAL_TIMEOUT,
        )
        health = bridge_health()
        assert health["items"]["traces.accepted"] == 1  # the refused span never got in
        assert procs.stop("bridge", signal.SIGTERM) == 0  # flushes: anything accepted is in Discord now

        titles = [e.get("title", "") for e in discord_embeds(discord_server)]
        assert not any("order 401" in title for title in titles), titles
        bridge_log = procs.log("bridge")
        assert "refused /v1/traces request with an empty bearer token" in bridge_log
        assert f"bridge listening on {bridge_url} " in bridge_log
        for name in ("bridge", "collector", "collector-without-token"):
            assert BRIDGE_TOKEN not in procs.log(name)
    finally:
        procs.stop_all()
        backend.close()


def discord_embeds(discord: DiscordServer) -> list[dict[str, Any]]:
    return [e for m in discord.messages() for e in m.payload.get("embeds", [])]
