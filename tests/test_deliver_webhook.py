"""Outcome parsing and WebhookClient over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from otel_discord.config.webhook_url import WebhookURL
from otel_discord.deliver.webhook import USER_AGENT, Outcome, WebhookClient
from otel_discord.testing import DiscordServer
from otel_discord.version import PROJECT_URL, __version__

# ------------------------------------------------------------------ Outcome


class TestOutcome:
    def test_headers_are_case_insensitive(self):
        outcome = Outcome(200, None, {"X-RateLimit-Remaining": "3"})
        assert outcome.header("x-ratelimit-remaining") == "3"
        assert outcome.headers["x-ratelimit-remaining"] == "3"

    @pytest.mark.parametrize(
        ("status", "ok"), [(200, True), (204, True), (299, True), (300, False), (400, False), (None, False)]
    )
    def test_ok(self, status, ok):
        assert Outcome(status).ok is ok

    @pytest.mark.parametrize(
        ("body", "hdrs", "expected"),
        [
            ({"retry_after": 64.57}, {"Retry-After": "65"}, 65.0),  # the larger of the two
            ({"retry_after": 1.5}, {"Retry-After": "1"}, 1.5),
            ({"retry_after": 0.25}, {}, 0.25),
            (None, {"Retry-After": "7"}, 7.0),
            ({"message": "x"}, {}, None),  # neither: the caller decides
            ({"retry_after": "soon"}, {"Retry-After": "later"}, None),
            ({"retry_after": -3}, {}, 0.0),
            ({"retry_after": 1e12}, {}, 3600.0),  # hostile values are clamped
        ],
    )
    def test_retry_after(self, body, hdrs, expected):
        assert Outcome(429, body, hdrs).retry_after == expected

    @pytest.mark.parametrize(
        ("status", "body", "hdrs", "ban"),
        [
            (429, {"code": 0, "message": "You are being blocked"}, {}, True),  # Cloudflare ban
            (429, None, {"Content-Type": "text/html"}, True),  # old "error code: 1015" page
            (429, {"code": 0, "message": "blocked"}, {"X-RateLimit-Limit": "5"}, True),
            (
                429,
                {"retry_after": 1.0, "global": False},
                {"X-RateLimit-Remaining": "0", "X-RateLimit-Scope": "user"},
                False,
            ),
            (500, None, {}, False),
        ],
    )
    def test_is_ban(self, status, body, hdrs, ban):
        assert Outcome(status, body, hdrs).is_ban is ban

    @pytest.mark.parametrize(
        ("body", "hdrs", "is_global"),
        [
            ({"global": True}, {}, True),
            ({}, {"X-RateLimit-Global": "true"}, True),
            ({}, {"X-RateLimit-Scope": "global"}, True),
            ({"global": False}, {"X-RateLimit-Scope": "shared"}, False),
        ],
    )
    def test_is_global(self, body, hdrs, is_global):
        assert Outcome(429, body, hdrs).is_global is is_global

    @pytest.mark.parametrize(
        ("status", "code", "gone"),
        [
            (404, 10015, True),  # Unknown Webhook
            (401, 50027, True),  # Invalid Webhook Token
            (403, 10015, True),
            (404, None, True),  # Discord: never reuse a webhook that answered 404
            (401, None, True),
            (404, 10008, False),  # Unknown Message: an edit target, not the webhook
            (403, 50013, False),  # Missing Permissions
            (400, 50035, False),
            (500, None, False),
        ],
    )
    def test_webhook_gone(self, status, code, gone):
        body = {"message": "x", "code": code} if code is not None else None
        assert Outcome(status, body).webhook_gone is gone

    def test_discord_code_ignores_non_integers(self):
        assert Outcome(400, {"code": 50035}).discord_code == 50035
        assert Outcome(400, {"code": "50035"}).discord_code is None
        assert Outcome(400, {"code": True}).discord_code is None
        assert Outcome(400, ["not", "a", "dict"]).discord_code is None

    def test_describe_flattens_form_errors(self):
        """A 400 reads as one line naming the offending field."""
        body = {
            "code": 50035,
            "message": "Invalid Form Body",
            "errors": {
                "embeds": {
                    "3": {
                        "fields": {
                            "0": {
                                "value": {
                                    "_errors": [
                                        {"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 1024 or fewer in length."}
                                    ]
                                }
                            }
                        }
                    }
                }
            },
        }
        text = Outcome(400, body).describe()
        assert (
            text
            == "HTTP 400 Invalid Form Body (code 50035) — embeds.3.fields.0.value: Must be 1024 or fewer in length."
        )

    def test_describe_transport_error(self):
        assert Outcome(None, error="connection failed: refused").describe() == "connection failed: refused"


# ------------------------------------------------------------------ a recording HTTP server


class _Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    log = []  # replaced per server
    reply: tuple[int, dict, dict] = (200, {}, {})

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.log.append((self.command, self.path, dict(self.headers), body))
        status, payload, headers = self.reply
        data = json.dumps(payload).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = _answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[ThreadingHTTPServer, list]]:
    log: list = []
    handler = type("Handler", (_Recorder,), {"log": log, "reply": (200, {"id": "42", "channel_id": "7"}, {})})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server, log
    server.shutdown()
    server.server_close()


TOKEN = "tok-" + "x" * 64


def _hook(server: ThreadingHTTPServer, thread: str | None = None) -> WebhookURL:
    host, port = server.server_address[:2]
    query = f"?thread_id={thread}" if thread else ""
    return WebhookURL.parse(f"http://{host}:{port}/api/webhooks/123/{TOKEN}{query}", [f"{host}:{port}"])


class TestWebhookClient:
    def test_execute_posts_json_with_wait_and_user_agent(self, recorder):
        """POST …/api/v10/webhooks/id/token?wait=true with Discord's required User-Agent."""
        server, log = recorder
        outcome = WebhookClient(timeout=5).execute(_hook(server), {"content": "hi"})
        assert outcome.ok and outcome.json["id"] == "42"
        method, path, headers, body = log[0]
        assert method == "POST"
        assert path == f"/api/v10/webhooks/123/{TOKEN}?wait=true"
        assert headers["User-Agent"] == f"DiscordBot ({PROJECT_URL}, {__version__})" == USER_AGENT
        assert headers["Content-Type"] == "application/json"
        assert json.loads(body) == {"content": "hi"}

    def test_thread_id_is_passed_on(self, recorder):
        server, log = recorder
        client = WebhookClient(timeout=5)
        client.execute(_hook(server, thread="99"), {"content": "hi"})
        client.edit(_hook(server, thread="99"), "555", {"content": "edited"})
        assert log[0][1].endswith("?wait=true&thread_id=99")
        assert log[1][0] == "PATCH" and log[1][1] == f"/api/v10/webhooks/123/{TOKEN}/messages/555?thread_id=99"

    def test_files_go_as_multipart_with_payload_json(self, recorder):
        server, log = recorder
        WebhookClient(timeout=5).execute(
            _hook(server), {"content": "see file"}, files=[("trace.txt", b"line 1\n", "text/plain")]
        )
        _method, _path, headers, body = log[0]
        assert headers["Content-Type"].startswith("multipart/form-data; boundary=")
        assert b'name="payload_json"' in body and b'{"content": "see file"}' in body
        assert b'name="files[0]"; filename="trace.txt"' in body and b"line 1\n" in body

    def test_info_gets_the_webhook(self, recorder):
        server, log = recorder
        outcome = WebhookClient(timeout=5).info(_hook(server))
        assert log[0][0] == "GET" and outcome.json["channel_id"] == "7"

    def test_edit_refuses_a_non_numeric_message_id(self, recorder):
        """A message id can never smuggle a path segment into the URL."""
        server, log = recorder
        outcome = WebhookClient(timeout=5).edit(_hook(server), "../../x", {"content": "y"})
        assert outcome.status is None and not log

    def test_refused_connection_is_an_outcome_without_token(self):
        """Nothing listening: no exception, a token-free error."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        hook = WebhookURL.parse(f"http://127.0.0.1:{port}/api/webhooks/123/{TOKEN}", [f"127.0.0.1:{port}"])
        outcome = WebhookClient(timeout=2).execute(hook, {"content": "x"})
        assert outcome.status is None and not outcome.ok
        assert outcome.error and "connection failed" in outcome.error
        assert TOKEN not in outcome.error and TOKEN not in repr(outcome)

    def test_timeout_is_an_outcome(self):
        """A server that accepts but never answers: the client gives up after its timeout."""
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(1)
            port = listener.getsockname()[1]
            hook = WebhookURL.parse(f"http://127.0.0.1:{port}/api/webhooks/123/{TOKEN}", [f"127.0.0.1:{port}"])
            outcome = WebhookClient(timeout=0.3).execute(hook, {"content": "x"})
        assert outcome.status is None and "0.3" in (outcome.error or "")

    def test_redirects_are_not_followed(self, recorder):
        """A redirect would re-send the payload elsewhere; the 3xx is reported instead."""
        server, log = recorder
        server.RequestHandlerClass.reply = (307, {}, {"Location": "http://127.0.0.1:9/elsewhere"})
        outcome = WebhookClient(timeout=5).execute(_hook(server), {"content": "x"})
        assert outcome.status == 307 and not outcome.ok and len(log) == 1

    def test_against_strict_server(self):
        """Error bodies of a Discord-like server become codes and token-free descriptions."""
        with DiscordServer() as server:
            info = server.create_webhook("alerts")
            hook = WebhookURL.parse(info.url, [server.host_port])
            client = WebhookClient(timeout=5)
            good = client.execute(hook, {"content": "hello"})
            assert good.ok and good.json["channel_id"] == info.channel_id
            assert good.header("X-RateLimit-Limit") == "5"
            bad = client.execute(hook, {"embeds": [{"title": "t" * 300}]})
            assert bad.status == 400 and bad.discord_code == 50035
            assert "embeds.0.title" in (bad.error or "")
            looked_up = client.info(hook)
            assert looked_up.json["channel_id"] == info.channel_id
            assert info.token not in repr(looked_up)  # Discord returns the token in the webhook object
            server.delete_webhook(info.id)
            gone = client.execute(hook, {"content": "x"})
            assert gone.status == 404 and gone.discord_code == 10015 and gone.webhook_gone
            assert info.token not in (bad.error or "") + (gone.error or "")
            client.close()
