"""Only the Collector gets in: the bearer token, the loopback rule and HTTPS (real HTTP on 127.0.0.1)."""

from __future__ import annotations

import json
import logging
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from google.rpc import code_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult
from test_bridge_server import PB, RecordingSink, finished_spans, trace_body
from tls_certs import CertFiles, make_certificates

from otel_discord.bridge.auth import (
    Access,
    BearerCheck,
    RejectCounter,
    Verdict,
    check_exposure,
    listens_on_loopback_only,
    parse_token,
    resolve_access,
)
from otel_discord.bridge.server import BridgeServer, serve
from otel_discord.bridge.tls import server_context
from otel_discord.config import ConfigError

TOKEN = "kq3Vd8-_ZpW2xLr7NcYb1sTu"  # 24 characters of the b64token alphabet
TOKEN_ENV = "OTEL_EXPORTER_DISCORD_BRIDGE_TOKEN"
TOKEN_FILE_ENV = "OTEL_EXPORTER_DISCORD_BRIDGE_TOKEN_FILE"
CERT_ENV = "OTEL_EXPORTER_DISCORD_BRIDGE_TLS_CERT"
KEY_ENV = "OTEL_EXPORTER_DISCORD_BRIDGE_TLS_KEY"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertFiles:
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def guarded(sink: RecordingSink) -> Iterator[BridgeServer]:
    server = serve(sink, port=0, threads=2, token=TOKEN)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def https(sink: RecordingSink, certs: CertFiles) -> Iterator[BridgeServer]:
    server = serve(sink, port=0, threads=2, token=TOKEN, tls=server_context(certs.cert, certs.key))
    try:
        yield server
    finally:
        server.stop()


def post(
    bridge: BridgeServer, body: bytes, content_type: str = PB, verify: str | bool = True, **headers: str
) -> requests.Response:
    return requests.post(
        f"{bridge.url}/v1/traces",
        data=body,
        headers={"Content-Type": content_type, **headers},
        timeout=10,
        verify=verify,
    )


BEARER = {"Authorization": f"Bearer {TOKEN}"}


class TestBearerCheck:
    @pytest.mark.parametrize(
        ("header", "verdict"),
        [
            (f"Bearer {TOKEN}", Verdict.OK),
            (f"bearer {TOKEN}", Verdict.OK),  # the scheme is case-insensitive (RFC 7235)
            (f"  Bearer   {TOKEN}  ", Verdict.OK),
            (None, Verdict.MISSING),
            ("", Verdict.MISSING),
            (TOKEN, Verdict.NOT_BEARER),
            (f"Basic {TOKEN}", Verdict.NOT_BEARER),
            ("Bearer ", Verdict.EMPTY),  # the Collector with OTEL_DISCORD_BRIDGE_TOKEN unset
            ("Bearer", Verdict.EMPTY),
            (f"Bearer {TOKEN[:-1]}", Verdict.WRONG),
            (f"Bearer {TOKEN}x", Verdict.WRONG),
            (f"Bearer {TOKEN.upper()}", Verdict.WRONG),  # the token itself is case-sensitive
            ("Bearer ümlaut-token-ümlaut", Verdict.WRONG),  # latin-1 from WSGI: no exception
        ],
    )
    def test_verdicts(self, header: str | None, verdict: Verdict) -> None:
        """Only the exact token after "Bearer" lets a request in; every other shape says what is wrong."""
        assert BearerCheck(TOKEN)(header) is verdict

    def test_repr_hides_the_token(self) -> None:
        """A check that ends up in a log or a traceback shows the token's length, not the token."""
        assert TOKEN not in repr(BearerCheck(TOKEN)) and "24" in repr(BearerCheck(TOKEN))
        assert TOKEN not in repr(Access(token=TOKEN, token_source=TOKEN_ENV))


class TestTokenSettings:
    @pytest.mark.parametrize(
        ("text", "problem"),
        [
            ("", "is empty"),
            ("   \n", "is empty"),
            ("short-token-1234"[:15], "15 characters long; at least 16"),
            ("has spaces in the middle ok", "may only contain"),
            ('quote"d-token-that-is-long', "may only contain"),
            ("x" * 5000, "5000 characters long, more than 4096"),
        ],
    )
    def test_bad_tokens_are_refused_without_echoing_them(self, text: str, problem: str) -> None:
        """A bad token names the setting and what is wrong, and never repeats the value."""
        with pytest.raises(ConfigError) as caught:
            parse_token(text, TOKEN_ENV)
        message = str(caught.value)
        assert TOKEN_ENV in message and problem in message
        if text.strip():
            assert text.strip() not in message

    def test_good_token_has_surrounding_whitespace_removed(self) -> None:
        """A file written by `echo` ends in a newline; the token is what is between."""
        assert parse_token(f"  {TOKEN}\n", TOKEN_ENV) == TOKEN
        assert parse_token("YWJjZGVmZ2hpamtsbW5vcA==", TOKEN_ENV) == "YWJjZGVmZ2hpamtsbW5vcA=="  # base64 padding

    def test_from_the_environment(self) -> None:
        access = resolve_access({TOKEN_ENV: TOKEN})
        assert (access.token, access.token_source, access.tls) == (TOKEN, TOKEN_ENV, False)
        assert resolve_access({TOKEN_ENV: "  "}).token is None  # set but blank means unset, as elsewhere

    def test_from_a_file(self, tmp_path: Path) -> None:
        """A mounted secret: the variable names the file, the flag overrides the variable."""
        secret = tmp_path / "token"
        secret.write_text(TOKEN + "\n")
        access = resolve_access({TOKEN_FILE_ENV: str(secret)})
        assert (access.token, access.token_source) == (TOKEN, TOKEN_FILE_ENV)
        other = tmp_path / "other"
        other.write_text("another-token-of-enough-length")
        flagged = resolve_access({TOKEN_ENV: TOKEN}, token_file=str(other))
        assert (flagged.token, flagged.token_source) == ("another-token-of-enough-length", "--token-file")

    def test_file_problems_name_the_setting_and_the_path(self, tmp_path: Path) -> None:
        missing = tmp_path / "nope"
        with pytest.raises(ConfigError, match=rf"{TOKEN_FILE_ENV}: cannot read {missing}: No such file"):
            resolve_access({TOKEN_FILE_ENV: str(missing)})
        empty = tmp_path / "empty"
        empty.write_text("\n")
        with pytest.raises(ConfigError, match=rf"--token-file \({empty}\) is empty"):
            resolve_access({}, token_file=str(empty))

    def test_token_and_token_file_together_is_an_error(self, tmp_path: Path) -> None:
        secret = tmp_path / "token"
        secret.write_text(TOKEN)
        with pytest.raises(ConfigError, match=f"{TOKEN_ENV} and {TOKEN_FILE_ENV} are both set"):
            resolve_access({TOKEN_ENV: TOKEN, TOKEN_FILE_ENV: str(secret)})

    def test_tls_settings(self, certs: CertFiles) -> None:
        access = resolve_access({CERT_ENV: str(certs.cert), KEY_ENV: str(certs.key)})
        assert (access.cert_file, access.key_file, access.tls) == (certs.cert, certs.key, True)
        flagged = resolve_access({CERT_ENV: "/elsewhere.pem"}, cert_file=str(certs.cert))
        assert flagged.cert_file == certs.cert and flagged.key_file is None
        with pytest.raises(ConfigError, match=f"{KEY_ENV} .* without {CERT_ENV}"):
            resolve_access({KEY_ENV: str(certs.key)})


class TestExposure:
    @pytest.mark.parametrize(
        ("host", "loopback"),
        [
            ("127.0.0.1", True),
            ("127.3.4.5", True),
            ("::1", True),
            ("[::1]", True),
            ("localhost", True),
            ("0.0.0.0", False),
            ("::", False),
            ("", False),
            ("192.0.2.10", False),
            ("10.1.2.3", False),
        ],
    )
    def test_loopback_addresses(self, host: str, loopback: bool) -> None:
        assert listens_on_loopback_only(host) is loopback

    @pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "192.0.2.10"])
    def test_beyond_loopback_without_a_token_is_refused(self, host: str) -> None:
        """The refusal names the settings to set and the Collector's side of it."""
        with pytest.raises(ConfigError) as caught:
            check_exposure(host, Access())
        message = str(caught.value)
        assert "refusing to listen" in message
        assert TOKEN_ENV in message and TOKEN_FILE_ENV in message and "OTEL_DISCORD_BRIDGE_TOKEN" in message

    def test_with_a_token_or_on_loopback_it_may_listen(self) -> None:
        check_exposure("0.0.0.0", Access(token=TOKEN, token_source=TOKEN_ENV))
        check_exposure("127.0.0.1", Access())


def test_reject_counter_logs_the_first_and_then_ever_more_rarely() -> None:
    """1, 2, 4, 8, … : a scanner cannot flood the log, and the first refusal is reported at once."""
    counter = RejectCounter()
    logged = [total for total in (counter.add() for _ in range(40)) if total is not None]
    assert logged == [1, 2, 4, 8, 16, 32]
    assert counter.count == 40


class TestBearerOverHTTP:
    def test_no_token_is_401_with_a_challenge_and_nothing_reaches_the_sink(
        self, guarded: BridgeServer, sink: RecordingSink, caplog: pytest.LogCaptureFixture
    ) -> None:
        """OTLP clients get a proper 401: WWW-Authenticate and a google.rpc.Status in the request's encoding."""
        with caplog.at_level(logging.WARNING, logger="otel_discord"):
            response = post(guarded, trace_body())
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="otel-discord"'
        assert response.headers["Content-Type"] == PB
        assert status_pb2.Status.FromString(response.content).code == code_pb2.UNAUTHENTICATED
        assert sink.calls == 0 and sink.spans == []
        assert "no Authorization header" in caplog.text

    def test_wrong_or_empty_token_is_401_invalid_token_in_json(
        self, guarded: BridgeServer, sink: RecordingSink, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A presented but wrong token: `error="invalid_token"`; neither token is logged."""
        wrong = "Z" * len(TOKEN)
        with caplog.at_level(logging.WARNING, logger="otel_discord"):
            for header in (f"Bearer {wrong}", "Bearer "):
                response = post(guarded, b"{}", "application/json", Authorization=header)
                assert response.status_code == 401
                assert response.headers["WWW-Authenticate"] == 'Bearer realm="otel-discord", error="invalid_token"'
                assert json.loads(response.content)["code"] == code_pb2.UNAUTHENTICATED
        assert sink.calls == 0
        assert "a wrong bearer token" in caplog.text and "an empty bearer token" in caplog.text
        assert wrong not in caplog.text and TOKEN not in caplog.text
        assert requests.get(f"{guarded.url}/health", timeout=5).json()["unauthorized_requests"] == 2

    def test_the_token_lets_the_request_in(self, guarded: BridgeServer, sink: RecordingSink) -> None:
        response = post(guarded, trace_body(), **BEARER)
        assert response.status_code == 200
        assert [span.name for span in sink.spans] == ["GET /boom"]

    def test_health_needs_no_token(self, guarded: BridgeServer) -> None:
        """Liveness probes send no token; /health holds counts only."""
        response = requests.get(f"{guarded.url}/health", timeout=5)
        assert response.status_code == 200
        assert response.json()["unauthorized_requests"] == 0

    def test_unknown_paths_stay_404(self, guarded: BridgeServer) -> None:
        assert requests.get(f"{guarded.url}/v2/traces", timeout=5).status_code == 404

    def test_sdk_otlp_exporter_with_and_without_the_header(self, guarded: BridgeServer, sink: RecordingSink) -> None:
        """The stock OTLP/HTTP exporter: the header gets its spans in; without it, a failure and nothing kept."""
        without = OTLPSpanExporter(endpoint=f"{guarded.url}/v1/traces", timeout=10)
        assert without.export(finished_spans()) is SpanExportResult.FAILURE
        assert sink.spans == []
        with_token = OTLPSpanExporter(endpoint=f"{guarded.url}/v1/traces", headers=BEARER, timeout=10)
        assert with_token.export(finished_spans()) is SpanExportResult.SUCCESS
        assert len(sink.spans) == 1
        without.shutdown()
        with_token.shutdown()

    def test_without_a_token_every_request_is_let_in(self, sink: RecordingSink) -> None:
        """No token configured (loopback only): the Collector's empty "Bearer " header is not an obstacle."""
        with serve(sink, port=0, threads=1) as open_bridge:
            assert post(open_bridge, trace_body(), Authorization="Bearer ").status_code == 200
        assert len(sink.spans) == 1


class TestHTTPS:
    def test_trusted_client_with_token_is_served(
        self, https: BridgeServer, sink: RecordingSink, certs: CertFiles
    ) -> None:
        """HTTPS with the test CA: keep-alive requests on one connection, all answered, all kept."""
        assert https.url.startswith("https://127.0.0.1:")
        with requests.Session() as session:
            for _ in range(3):
                response = session.post(
                    f"{https.url}/v1/traces",
                    data=trace_body(),
                    headers={"Content-Type": PB, **BEARER},
                    timeout=10,
                    verify=str(certs.ca),
                )
                assert response.status_code == 200
        assert len(sink.spans) == 3

    def test_token_is_still_required_over_tls(self, https: BridgeServer, sink: RecordingSink, certs: CertFiles) -> None:
        assert post(https, trace_body(), verify=str(certs.ca)).status_code == 401
        assert sink.calls == 0

    def test_a_body_of_many_tls_records_arrives_whole(
        self, https: BridgeServer, sink: RecordingSink, certs: CertFiles
    ) -> None:
        """Megabytes in both directions' records: every span of a large batch is decoded."""
        spans = finished_spans() * 4000
        body = encode_spans(spans).SerializeToString()
        assert len(body) > 1_000_000
        response = post(https, body, verify=str(certs.ca), **BEARER)
        assert response.status_code == 200
        assert len(sink.spans) == 4000

    def test_untrusted_certificate_and_plain_http_are_refused(
        self, https: BridgeServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A client that does not trust the CA refuses; plain HTTP to the HTTPS port gets no answer and a hint."""
        with pytest.raises(requests.exceptions.SSLError):
            post(https, trace_body(), **BEARER)  # the system CAs do not include the test CA
        with caplog.at_level(logging.WARNING, logger="otel_discord"), pytest.raises(requests.ConnectionError):
            requests.post(
                https.url.replace("https://", "http://") + "/v1/traces",
                data=trace_body(),
                headers={"Content-Type": PB, **BEARER},
                timeout=10,
            )
        assert "spoke plain HTTP: use an https:// URL" in caplog.text

    @pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
    def test_tls_1_2_is_accepted_and_older_versions_are_not(self, https: BridgeServer, certs: CertFiles) -> None:
        """TLS 1.3 by default, 1.2 when the client tops out there, nothing older even when the client offers it."""

        def handshake(context: ssl.SSLContext) -> str | None:
            with (
                socket.create_connection((https.host, https.port), timeout=10) as raw,
                context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
            ):
                return tls.version()

        modern = ssl.create_default_context(cafile=str(certs.ca))
        assert handshake(modern) == "TLSv1.3"
        modern.maximum_version = ssl.TLSVersion.TLSv1_2
        assert handshake(modern) == "TLSv1.2"

        legacy = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        legacy.load_verify_locations(str(certs.ca))
        legacy.set_ciphers("DEFAULT:@SECLEVEL=0")  # let this client really offer TLS 1.1
        legacy.minimum_version = ssl.TLSVersion.TLSv1
        legacy.maximum_version = ssl.TLSVersion.TLSv1_1
        with pytest.raises(ssl.SSLError):
            handshake(legacy)

    def test_stop_closes_open_tls_connections_and_the_port(self, sink: RecordingSink, certs: CertFiles) -> None:
        """A keep-alive connection left open does not keep the bridge alive; the port is free afterwards."""
        bridge = serve(sink, port=0, threads=1, token=TOKEN, tls=server_context(certs.cert, certs.key))
        session = requests.Session()
        assert (
            session.post(
                f"{bridge.url}/v1/traces",
                data=trace_body(),
                headers={"Content-Type": PB, **BEARER},
                timeout=10,
                verify=str(certs.ca),
            ).status_code
            == 200
        )
        bridge.stop(timeout=5)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((bridge.host, bridge.port), timeout=5).close()
        with pytest.raises(requests.ConnectionError):
            session.post(
                f"{bridge.url}/v1/traces",
                data=trace_body(),
                headers={"Content-Type": PB, **BEARER},
                timeout=10,
                verify=str(certs.ca),
            )
        session.close()


class TestCertificateSettings:
    def test_missing_files_name_the_setting(self, tmp_path: Path, certs: CertFiles) -> None:
        with pytest.raises(ConfigError, match=f"{CERT_ENV}: {tmp_path / 'none.pem'} is not a readable file"):
            server_context(tmp_path / "none.pem", certs.key)
        with pytest.raises(ConfigError, match=f"{KEY_ENV}: {tmp_path / 'none.key'} is not a readable file"):
            server_context(certs.cert, tmp_path / "none.key")

    @pytest.mark.parametrize("which", ["encrypted_key", "other_key", "ca_as_key"])
    def test_keys_that_do_not_load_are_a_config_error(self, certs: CertFiles, which: str) -> None:
        """A passphrase-protected key fails at once (no prompt on the terminal), as does a key of another cert."""
        key = certs.ca if which == "ca_as_key" else getattr(certs, which)
        with pytest.raises(ConfigError, match=f"{CERT_ENV} .* and {KEY_ENV} .* do not load"):
            server_context(certs.cert, key)

    def test_certificate_and_key_in_one_file(self, certs: CertFiles, tmp_path: Path) -> None:
        bundle = tmp_path / "bundle.pem"
        bundle.write_text(certs.cert.read_text() + certs.key.read_text())
        assert isinstance(server_context(bundle), ssl.SSLContext)
