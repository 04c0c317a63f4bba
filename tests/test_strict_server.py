"""The strict local Discord server, driven over real HTTP with ``requests``."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from otel_discord.testing import DiscordServer, Request, Response, WebhookInfo

TIMEOUT = 5


class FakeClock:
    """A monotonic clock the test moves by hand, so 60 s windows pass instantly."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def clocked(clock: FakeClock) -> Iterator[DiscordServer]:
    """A server whose rate-limit windows follow ``clock``."""
    with DiscordServer(clock=clock) as server:
        yield server


def post(hook: WebhookInfo, payload: Any, query: str = "", **kwargs: Any) -> requests.Response:
    kwargs.setdefault("timeout", TIMEOUT)
    return requests.post(hook.url + query, json=payload, **kwargs)


def leaf(body: dict[str, Any], path: str) -> list[dict[str, str]]:
    """``_errors`` at a dotted path of a 50035 body (``embeds.0.title``)."""
    node = body["errors"]
    for part in path.split(".") if path else ():
        node = node[part]
    return node["_errors"]


# ------------------------------------------------------------------------- executing


class TestExecute:
    def test_wait_true_returns_the_created_message(self, discord_server: DiscordServer, webhook: WebhookInfo) -> None:
        """With wait=true Discord answers 200 and the message object, whose id later edits use."""
        payload = {
            "content": "deploy done",
            "embeds": [{"title": "ok", "color": 0x2ECC71}],
            "allowed_mentions": {"parse": []},
        }
        response = post(webhook, payload, "?wait=true")
        assert response.status_code == 200
        body = response.json()
        assert body["id"].isdigit() and 17 <= len(body["id"]) <= 20
        assert body["channel_id"] == webhook.channel_id
        assert body["webhook_id"] == webhook.id
        assert body["content"] == "deploy done"
        assert body["embeds"] == [{"title": "ok", "color": 0x2ECC71, "type": "rich"}]
        assert body["author"]["username"] == "otel-discord" and body["author"]["bot"] is True
        assert "timestamp" in body and body["flags"] == 0
        [message] = discord_server.messages("alerts")
        assert message.id == body["id"] and message.payload == payload and message.edits == 0

    def test_without_wait_answers_204_and_still_records(
        self, discord_server: DiscordServer, webhook: WebhookInfo
    ) -> None:
        """The default (wait=false) gives 204 with no body; the message exists anyway."""
        response = post(webhook, {"content": "quiet"})
        assert response.status_code == 204 and response.content == b""
        assert [m.content for m in discord_server.messages()] == ["quiet"]

    @pytest.mark.parametrize(
        ("value", "status"), [("true", 200), ("1", 200), ("True", 200), ("false", 204), ("0", 204), ("False", 204)]
    )
    def test_wait_accepts_discords_boolean_spellings(self, webhook: WebhookInfo, value: str, status: int) -> None:
        """Discord's boolean query strings are true/1/True and false/0/False."""
        assert post(webhook, {"content": "x"}, f"?wait={value}").status_code == status

    def test_wait_rejects_other_spellings(self, webhook: WebhookInfo) -> None:
        """wait=yes is not a boolean to Discord: 400 with the error under ``wait``."""
        response = post(webhook, {"content": "x"}, "?wait=yes")
        assert response.status_code == 400
        assert leaf(response.json(), "wait")[0]["code"] == "BOOLEAN_TYPE_COERCE"

    @pytest.mark.parametrize("prefix", ["/api/webhooks", "/api/v10/webhooks", "/api/v9/webhooks"])
    def test_versioned_and_unversioned_paths(
        self, discord_server: DiscordServer, webhook: WebhookInfo, prefix: str
    ) -> None:
        """The URL Discord's UI copies has no version; clients send /api/v10."""
        url = f"{discord_server.base_url}{prefix}/{webhook.id}/{webhook.token}?wait=true"
        assert requests.post(url, json={"content": "v"}, timeout=TIMEOUT).status_code == 200

    def test_unsupported_api_version_is_refused(self, discord_server: DiscordServer, webhook: WebhookInfo) -> None:
        url = f"{discord_server.base_url}/api/v5/webhooks/{webhook.id}/{webhook.token}"
        response = requests.post(url, json={"content": "v"}, timeout=TIMEOUT)
        assert response.status_code == 400 and response.json()["code"] == 50041

    def test_thread_id_posts_into_the_thread(self, discord_server: DiscordServer, webhook: WebhookInfo) -> None:
        """A message in a thread reports the thread as its channel and is edited with thread_id."""
        body = post(webhook, {"content": "in thread"}, "?wait=true&thread_id=123456789012345678").json()
        assert body["channel_id"] == "123456789012345678"
        assert discord_server.messages()[0].thread_id == "123456789012345678"
        edit_url = f"{webhook.url}/messages/{body['id']}"
        assert requests.patch(edit_url, json={"content": "e"}, timeout=TIMEOUT).status_code == 404
        ok = requests.patch(edit_url + "?thread_id=123456789012345678", json={"content": "e"}, timeout=TIMEOUT)
        assert ok.status_code == 200

    def test_thread_id_must_be_a_snowflake(self, webhook: WebhookInfo) -> None:
        response = post(webhook, {"content": "x"}, "?thread_id=abc")
        assert response.status_code == 400 and leaf(response.json(), "thread_id")[0]["code"] == "NUMBER_TYPE_COERCE"

    def test_thread_name_needs_a_forum_channel(self, webhook: WebhookInfo) -> None:
        response = post(webhook, {"content": "x", "thread_name": "incident"})
        assert response.status_code == 400 and response.json()["code"] == 220003

    def test_components_are_dropped_without_with_components(
        self, discord_server: DiscordServer, webhook: WebhookInfo
    ) -> None:
        """Without ?with_components=true Discord silently ignores components (buttons vanish)."""
        row = [{"type": 1, "components": [{"type": 2, "style": 5, "label": "Trace", "url": "https://example.com/t"}]}]
        assert post(webhook, {"content": "x", "components": row}, "?wait=true").json()["components"] == []
        only_buttons = post(webhook, {"components": row})
        assert only_buttons.json() == {"code": 50006, "message": "Cannot send an empty message"}
        kept = post(webhook, {"content": "y", "components": row}, "?wait=true&with_components=true")
        assert kept.json()["components"] == row
        assert [m.payload.get("components") for m in discord_server.messages()] == [None, row]


class TestMultipart:
    PNG = b"\x89PNG\r\n\x1a\n\x00\r\n\r\nbinary\xff"

    def test_file_upload_with_attachment_image(self, discord_server: DiscordServer, webhook: WebhookInfo) -> None:
        """payload_json plus files[0]; attachment:// names the upload; bytes survive exactly."""
        payload = {"content": "chart", "embeds": [{"title": "cpu", "image": {"url": "attachment://cpu.png"}}]}
        response = requests.post(
            webhook.url,
            data={"payload_json": json.dumps(payload)},
            files={"files[0]": ("cpu.png", self.PNG, "image/png")},
            timeout=TIMEOUT,
        )
        assert response.status_code == 200  # Discord answers 200 with files even without wait
        [attachment] = response.json()["attachments"]
        assert attachment["filename"] == "cpu.png" and attachment["size"] == len(self.PNG)
        [message] = discord_server.messages()
        assert message.files == [("cpu.png", "image/png", self.PNG)]
        assert requests.get(attachment["url"], timeout=TIMEOUT).content == self.PNG

    def test_attachment_reference_without_upload_is_rejected(self, webhook: WebhookInfo) -> None:
        payload = {"embeds": [{"image": {"url": "attachment://missing.png"}}]}
        response = requests.post(
            webhook.url,
            data={"payload_json": json.dumps(payload)},
            files={"files[0]": ("other.png", self.PNG, "image/png")},
            timeout=TIMEOUT,
        )
        assert response.status_code == 400
        assert leaf(response.json(), "embeds.0.image.url")[0]["code"] == "ATTACHMENT_NOT_FOUND"

    def test_too_many_files(self, webhook: WebhookInfo) -> None:
        files = {f"files[{i}]": (f"f{i}.txt", b"x", "text/plain") for i in range(11)}
        response = requests.post(webhook.url, data={"payload_json": "{}"}, files=files, timeout=TIMEOUT)
        assert response.status_code == 400 and leaf(response.json(), "files")[0]["code"] == "BASE_TYPE_MAX_LENGTH"


# ------------------------------------------------------------------------- editing


class TestEdit:
    def test_edit_applies_and_keeps_untouched_fields(self, discord_server: DiscordServer, webhook: WebhookInfo) -> None:
        """PATCH replaces the fields it names; the rest of the message stays."""
        first = post(
            webhook, {"content": "1 error", "embeds": [{"title": "boom"}], "username": "alerts"}, "?wait=true"
        ).json()
        response = requests.patch(
            f"{webhook.url}/messages/{first['id']}",
            json={"embeds": [{"title": "boom", "description": "seen 3 times"}]},
            timeout=TIMEOUT,
        )
        assert response.status_code == 200
        assert response.json()["embeds"][0]["description"] == "seen 3 times"
        assert response.json()["edited_timestamp"] is not None
        [message] = discord_server.messages()
        assert message.edits == 1 and message.edited_at is not None
        assert message.content == "1 error" and message.payload["username"] == "alerts"
        assert message.embeds == [{"title": "boom", "description": "seen 3 times"}]
        assert discord_server.stats()["edits"] == 1

    def test_edit_cannot_change_username(self, webhook: WebhookInfo) -> None:
        first = post(webhook, {"content": "x"}, "?wait=true").json()
        response = requests.patch(f"{webhook.url}/messages/{first['id']}", json={"username": "other"}, timeout=TIMEOUT)
        assert response.status_code == 400 and leaf(response.json(), "username")[0]["code"] == "FIELD_NOT_EDITABLE"

    def test_edit_to_nothing_is_an_empty_message(self, webhook: WebhookInfo) -> None:
        first = post(webhook, {"content": "x"}, "?wait=true").json()
        response = requests.patch(f"{webhook.url}/messages/{first['id']}", json={"content": None}, timeout=TIMEOUT)
        assert response.json() == {"code": 50006, "message": "Cannot send an empty message"}

    def test_edit_is_validated_like_a_post(self, webhook: WebhookInfo) -> None:
        first = post(webhook, {"content": "x"}, "?wait=true").json()
        response = requests.patch(
            f"{webhook.url}/messages/{first['id']}", json={"embeds": [{"title": "t" * 257}]}, timeout=TIMEOUT
        )
        assert leaf(response.json(), "embeds.0.title")[0]["code"] == "BASE_TYPE_MAX_LENGTH"

    def test_another_webhooks_message_is_unknown(self, discord_server: DiscordServer, webhook: WebhookInfo) -> None:
        other = discord_server.create_webhook("alerts")
        first = post(webhook, {"content": "x"}, "?wait=true").json()
        response = requests.patch(f"{other.url}/messages/{first['id']}", json={"content": "y"}, timeout=TIMEOUT)
        assert response.status_code == 404 and response.json()["code"] == 10008

    def test_get_and_delete_message(self, discord_server: DiscordServer, webhook: WebhookInfo) -> None:
        first = post(webhook, {"content": "x"}, "?wait=true").json()
        url = f"{webhook.url}/messages/{first['id']}"
        assert requests.get(url, timeout=TIMEOUT).json()["content"] == "x"
        assert requests.delete(url, timeout=TIMEOUT).status_code == 204
        assert requests.get(url, timeout=TIMEOUT).json()["code"] == 10008
        assert discord_server.messages() == []


# ------------------------------------------------------------------------- validation


LIMIT_CASES = [
    ({"content": "c" * 2001}, "content", "BASE_TYPE_MAX_LENGTH"),
    ({"embeds": [{"title": "t"}] * 11}, "embeds", "BASE_TYPE_MAX_LENGTH"),
    ({"embeds": [{"title": "t" * 257}]}, "embeds.0.title", "BASE_TYPE_MAX_LENGTH"),
    ({"embeds": [{"description": "d" * 4097}]}, "embeds.0.description", "BASE_TYPE_MAX_LENGTH"),
    ({"embeds": [{"fields": [{"name": "n", "value": "v"}] * 26}]}, "embeds.0.fields", "BASE_TYPE_MAX_LENGTH"),
    ({"embeds": [{"fields": [{"name": "n" * 257, "value": "v"}]}]}, "embeds.0.fields.0.name", "BASE_TYPE_MAX_LENGTH"),
    ({"embeds": [{"fields": [{"name": "n", "value": "v" * 1025}]}]}, "embeds.0.fields.0.value", "BASE_TYPE_MAX_LENGTH"),
    ({"embeds": [{"fields": [{"name": "n", "value": "  "}]}]}, "embeds.0.fields.0.value", "BASE_TYPE_REQUIRED"),
    ({"embeds": [{"fields": [{"name": "n"}]}]}, "embeds.0.fields.0.value", "BASE_TYPE_REQUIRED"),
    ({"embeds": [{"footer": {"text": "f" * 2049}}]}, "embeds.0.footer.text", "BASE_TYPE_MAX_LENGTH"),
    ({"embeds": [{"author": {"name": "a" * 257}}]}, "embeds.0.author.name", "BASE_TYPE_MAX_LENGTH"),
    ({"embeds": [{"title": "t", "color": 0x1000000}]}, "embeds.0.color", "NUMBER_TYPE_MAX"),
    ({"embeds": [{"title": "t", "timestamp": "yesterday"}]}, "embeds.0.timestamp", "DATE_TIME_TYPE_PARSE"),
    ({"embeds": [{"title": "t", "url": "ftp://example.com/x"}]}, "embeds.0.url", "URL_TYPE_INVALID_SCHEME"),
    ({"embeds": [{"title": "t", "url": "http://localhost:16686/trace"}]}, "embeds.0.url", "URL_TYPE_INVALID_URL"),
    ({"content": "x", "username": "u" * 81}, "username", "BASE_TYPE_BAD_LENGTH"),
    ({"content": "x", "username": "Discord alerts"}, "username", "USERNAME_INVALID_CONTAINS"),
    ({"content": "x", "username": "everyone"}, "username", "USERNAME_INVALID"),
    ({"content": "x", "flags": 1 << 1}, "flags", "MESSAGE_FLAGS_INVALID"),
]


@pytest.mark.parametrize(("payload", "path", "code"), LIMIT_CASES, ids=[c[1] + ":" + c[2] for c in LIMIT_CASES])
def test_each_limit_gets_discords_error_path(
    discord_server: DiscordServer, webhook: WebhookInfo, payload: dict[str, Any], path: str, code: str
) -> None:
    """A violated limit → 400 / 50035 with the code at the field's path; nothing is posted."""
    response = post(webhook, payload)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == 50035 and body["message"] == "Invalid Form Body"
    assert code in [error["code"] for error in leaf(body, path)]
    assert discord_server.messages() == []
    [rejection] = discord_server.rejected()
    assert rejection.status == 400 and rejection.payload == payload and rejection.error == body


def test_values_at_the_limits_are_accepted(webhook: WebhookInfo) -> None:
    """All limits are inclusive."""
    embed = {
        "title": "t" * 256,
        "description": "d" * 1000,
        "footer": {"text": "f" * 100},
        "author": {"name": "a" * 256},
        "fields": [{"name": "n" * 10, "value": "v" * 100}] * 25,
    }
    payload = {"content": "c" * 2000, "username": "u" * 80, "embeds": [embed], "flags": 4 | 4096}
    assert post(webhook, payload).status_code == 204


class TestEmbedTotal:
    @staticmethod
    def embeds(total: int, pad: str = "") -> list[dict[str, Any]]:
        # 4096 + 256 + 1024 + 256 + the rest in footer.text, spread over two embeds.
        rest = total - 4096 - 256 - 1024 - 256
        return [
            {"title": "t" * 256, "description": "d" * 4096},
            {"fields": [{"name": "n" * 256, "value": "v" * 1024}], "footer": {"text": pad + "f" * rest + pad}},
        ]

    def test_6000_across_embeds_is_accepted(self, webhook: WebhookInfo) -> None:
        assert post(webhook, {"embeds": self.embeds(6000)}).status_code == 204

    def test_6001_is_rejected_under_embeds(self, webhook: WebhookInfo) -> None:
        response = post(webhook, {"embeds": self.embeds(6001)})
        assert response.status_code == 400
        [error] = leaf(response.json(), "embeds")
        assert error == {"code": "MAX_EMBED_SIZE_EXCEEDED", "message": "Embed size exceeds maximum size of 6000"}

    def test_surrounding_whitespace_does_not_count(self, webhook: WebhookInfo) -> None:
        assert post(webhook, {"embeds": self.embeds(6000, pad="   \n")}).status_code == 204

    def test_counted_in_code_points(self, webhook: WebhookInfo) -> None:
        """Discord counts like Python's len(); an emoji is one character, not two UTF-16 units."""
        embeds = [{"description": "🚀" * 4096}, {"description": "é" * 1904}]
        assert post(webhook, {"embeds": embeds}).status_code == 204
        embeds[1]["description"] += "é"
        assert post(webhook, {"embeds": embeds}).status_code == 400


@pytest.mark.parametrize(
    "payload", [{}, {"content": "   \n"}, {"content": None}, {"embeds": []}, {"allowed_mentions": {"parse": []}}]
)
def test_empty_message(webhook: WebhookInfo, payload: dict[str, Any]) -> None:
    """Nothing to show → 50006, not a form error."""
    response = post(webhook, payload)
    assert response.status_code == 400
    assert response.json() == {"code": 50006, "message": "Cannot send an empty message"}


class TestMentions:
    def test_parse_and_ids_of_the_same_type_conflict(self, webhook: WebhookInfo) -> None:
        response = post(webhook, {"content": "<@1>", "allowed_mentions": {"parse": ["users"], "users": ["1"]}})
        assert leaf(response.json(), "allowed_mentions")[0]["code"] == "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE"

    def test_parse_everyone_with_user_ids_is_fine(self, webhook: WebhookInfo) -> None:
        payload = {"content": "<@1>", "allowed_mentions": {"parse": ["everyone"], "users": ["1"], "roles": []}}
        assert post(webhook, payload).status_code == 204

    @pytest.mark.parametrize(
        ("mentions", "path", "code"),
        [
            ({"parse": "users"}, "allowed_mentions.parse", "LIST_TYPE_CONVERT"),
            ({"parse": ["user"]}, "allowed_mentions.parse.0", "BASE_TYPE_CHOICES"),
            ({"users": ["12ab"]}, "allowed_mentions.users.0", "NUMBER_TYPE_COERCE"),
            ({"roles": [str(i) for i in range(101)]}, "allowed_mentions.roles", "BASE_TYPE_MAX_LENGTH"),
        ],
    )
    def test_shape(self, webhook: WebhookInfo, mentions: dict[str, Any], path: str, code: str) -> None:
        response = post(webhook, {"content": "x", "allowed_mentions": mentions})
        assert response.status_code == 400 and leaf(response.json(), path)[0]["code"] == code


class TestRequestErrors:
    def test_invalid_json(self, webhook: WebhookInfo) -> None:
        response = requests.post(
            webhook.url, data=b'{"content": ', headers={"Content-Type": "application/json"}, timeout=TIMEOUT
        )
        assert response.status_code == 400 and response.json()["code"] == 50109

    def test_wrong_content_type(self, webhook: WebhookInfo) -> None:
        response = requests.post(webhook.url, data=b"hello", headers={"Content-Type": "text/plain"}, timeout=TIMEOUT)
        assert response.status_code == 400 and leaf(response.json(), "")[0]["code"] == "CONTENT_TYPE_INVALID"

    def test_wrong_token_and_unknown_webhook(self, discord_server: DiscordServer, webhook: WebhookInfo) -> None:
        wrong = webhook.url[:-4] + "AAAA"
        response = requests.post(wrong, json={"content": "x"}, timeout=TIMEOUT)
        assert response.status_code == 401
        assert response.json() == {"message": "Invalid Webhook Token", "code": 50027}
        unknown = f"{discord_server.base_url}/api/webhooks/123456789012345678/{webhook.token}"
        response = requests.post(unknown, json={"content": "x"}, timeout=TIMEOUT)
        assert response.status_code == 404 and response.json()["code"] == 10015

    def test_get_webhook(self, webhook: WebhookInfo) -> None:
        body = requests.get(webhook.url, timeout=TIMEOUT).json()
        assert body["id"] == webhook.id and body["type"] == 1 and body["token"] == webhook.token
        assert body["channel_id"] == webhook.channel_id and body["name"] == "otel-discord"

    def test_token_never_appears_in_records_reprs_or_logs(
        self, discord_server: DiscordServer, webhook: WebhookInfo
    ) -> None:
        records: list[logging.LogRecord] = []
        handler = logging.Handler()
        handler.emit = records.append  # type: ignore[method-assign]
        logger = logging.getLogger("otel_discord")
        old_level = logger.level
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
        try:
            post(webhook, {"content": "x" * 3000})
            requests.post(webhook.url[:-4] + "AAAA", json={"content": "x"}, timeout=TIMEOUT)
        finally:
            logger.removeHandler(handler)
            logger.setLevel(old_level)
        assert records, "the server logs requests at DEBUG"
        text = " ".join(r.getMessage() for r in records) + repr(discord_server.rejected()) + repr(webhook)
        assert webhook.token not in text and webhook.token[:-4] not in text
        assert all("/****" in r.path for r in discord_server.rejected())


# ------------------------------------------------------------------------- rate limits


class TestRateLimits:
    def test_headers_count_down_and_the_sixth_is_429(self, clocked: DiscordServer, clock: FakeClock) -> None:
        hook = clocked.create_webhook()
        responses = [post(hook, {"content": str(i)}) for i in range(5)]
        assert [r.headers["X-RateLimit-Remaining"] for r in responses] == ["4", "3", "2", "1", "0"]
        assert {r.headers["X-RateLimit-Limit"] for r in responses} == {"5"}
        assert {r.headers["X-RateLimit-Reset-After"] for r in responses} == {"2.000"}
        assert len({r.headers["X-RateLimit-Reset"] for r in responses}) == 1
        float(responses[0].headers["X-RateLimit-Reset"])
        assert len({r.headers["X-RateLimit-Bucket"] for r in responses}) == 1
        clock.advance(0.5)
        sixth = post(hook, {"content": "6"})
        assert sixth.status_code == 429
        assert sixth.headers["Retry-After"] == "2"  # 1.5 s, rounded up
        assert sixth.headers["X-RateLimit-Scope"] == "user"
        assert sixth.headers["X-RateLimit-Remaining"] == "0"
        assert sixth.json() == {"message": "You are being rate limited.", "retry_after": 1.5, "global": False}
        assert len(clocked.messages()) == 5
        clock.advance(1.5)
        after = post(hook, {"content": "7"})
        assert after.status_code == 204 and after.headers["X-RateLimit-Remaining"] == "4"
        assert clocked.stats()["rate_limited"]["user"] == 1

    def test_buckets_are_per_webhook(self, clocked: DiscordServer) -> None:
        first, second = clocked.create_webhook(), clocked.create_webhook()
        for _ in range(5):
            post(first, {"content": "x"})
        assert post(first, {"content": "x"}).status_code == 429
        reply = post(second, {"content": "x"})
        assert reply.status_code == 204 and reply.headers["X-RateLimit-Remaining"] == "4"
        assert reply.headers["X-RateLimit-Bucket"] != post(first, {"content": "x"}).headers["X-RateLimit-Bucket"]

    def test_rejected_requests_count_too(self, clocked: DiscordServer) -> None:
        """Like Discord, a 400 uses up the bucket as much as a success."""
        hook = clocked.create_webhook()
        for _ in range(5):
            assert post(hook, {}).status_code == 400
        assert post(hook, {"content": "valid"}).status_code == 429

    def test_channel_limit_is_shared_by_its_webhooks(self, clocked: DiscordServer, clock: FakeClock) -> None:
        """30 messages per 60 s per channel, whichever webhook sends them; headers look normal."""
        first, second = clocked.create_webhook("ops"), clocked.create_webhook("ops")
        elsewhere = clocked.create_webhook("sales")
        for i in range(30):
            if i % 10 == 0 and i:
                clock.advance(2.0)  # each webhook used its 5 per 2 s
            assert post(first if i % 2 else second, {"content": str(i)}).status_code == 204
        clock.advance(2.0)
        blocked = post(first, {"content": "31st"})
        assert blocked.status_code == 429
        assert blocked.headers["X-RateLimit-Scope"] == "shared"
        assert blocked.headers["X-RateLimit-Remaining"] == "4"  # the webhook's own bucket is fine
        body = blocked.json()
        assert body["message"] == "The resource is being rate limited." and body["global"] is False
        assert body["retry_after"] == pytest.approx(54.0)  # the window opened 6 s ago
        assert blocked.headers["Retry-After"] == "54"
        assert post(second, {"content": "also"}).status_code == 429
        assert post(elsewhere, {"content": "other channel"}).status_code == 204
        clock.advance(54.0)
        assert post(second, {"content": "new window"}).status_code == 204
        assert clocked.stats()["rate_limited"]["shared"] == 2
        assert len(clocked.messages("ops")) == 31

    def test_edits_do_not_count_against_the_channel(self, clock: FakeClock) -> None:
        server = DiscordServer(channel_limit=1, clock=clock).start()
        try:
            hook = server.create_webhook()
            first = post(hook, {"content": "1"}, "?wait=true").json()
            assert post(hook, {"content": "2"}).status_code == 429
            edited = requests.patch(f"{hook.url}/messages/{first['id']}", json={"content": "1b"}, timeout=TIMEOUT)
            assert edited.status_code == 200
        finally:
            server.stop()


# ------------------------------------------------------------------------- faults


class TestFaults:
    def test_down_refuses_connections_then_recovers(self, discord_server: DiscordServer, webhook: WebhookInfo) -> None:
        session = requests.Session()
        assert session.post(webhook.url, json={"content": "a"}, timeout=TIMEOUT).status_code == 204
        discord_server.set_down(True)
        with pytest.raises(requests.ConnectionError):
            session.post(webhook.url, json={"content": "b"}, timeout=TIMEOUT)  # kept-alive connection
        with pytest.raises(requests.ConnectionError):
            requests.post(webhook.url, json={"content": "c"}, timeout=TIMEOUT)  # new connection
        discord_server.set_down(False)
        assert requests.post(webhook.url, json={"content": "d"}, timeout=TIMEOUT).status_code == 204
        assert [m.content for m in discord_server.messages()] == ["a", "d"]

    def test_fail_next(self, discord_server: DiscordServer, webhook: WebhookInfo) -> None:
        discord_server.fail_next(2, status=503)
        statuses = [post(webhook, {"content": str(i)}) for i in range(3)]
        assert [r.status_code for r in statuses] == [503, 503, 204]
        assert statuses[0].json() == {"message": "503: Service Unavailable", "code": 0}
        assert [m.content for m in discord_server.messages()] == ["2"]
        assert discord_server.stats()["faults"] == 2

    def test_latency_delays_responses(self, discord_server: DiscordServer, webhook: WebhookInfo) -> None:
        discord_server.set_latency(2.0)
        with pytest.raises(requests.Timeout):
            post(webhook, {"content": "slow"}, timeout=0.2)  # overrides TIMEOUT
        discord_server.set_latency(0)
        assert post(webhook, {"content": "fast"}).status_code == 204

    def test_deleted_webhook_is_unknown(self, discord_server: DiscordServer, webhook: WebhookInfo) -> None:
        discord_server.delete_webhook(webhook.id)
        for response in (post(webhook, {"content": "x"}), requests.get(webhook.url, timeout=TIMEOUT)):
            assert response.status_code == 404
            assert response.json() == {"code": 10015, "message": "Unknown Webhook"}

    def test_deleted_message_cannot_be_edited(self, discord_server: DiscordServer, webhook: WebhookInfo) -> None:
        first = post(webhook, {"content": "x"}, "?wait=true").json()
        discord_server.delete_message(first["id"])
        response = requests.patch(f"{webhook.url}/messages/{first['id']}", json={"content": "y"}, timeout=TIMEOUT)
        assert response.status_code == 404
        assert response.json() == {"code": 10008, "message": "Unknown Message"}
        assert discord_server.messages() == []

    def test_ban_is_a_bare_429(self, clocked: DiscordServer, clock: FakeClock) -> None:
        hook = clocked.create_webhook()
        clocked.ban(600)
        response = post(hook, {"content": "x"})
        assert response.status_code == 429
        assert not [h for h in response.headers if h.lower().startswith("x-ratelimit")]
        assert "Retry-After" not in response.headers and "Via" not in response.headers
        assert response.json()["code"] == 0
        assert response.json()["message"].startswith("You are being blocked from accessing our API temporarily")
        clock.advance(600)
        assert post(hook, {"content": "x"}).status_code == 204
        assert clocked.stats()["banned"] == 1

    def test_global_rate_limit(self, clocked: DiscordServer, clock: FakeClock) -> None:
        hook = clocked.create_webhook()
        clocked.global_rate_limit(3.25)
        response = post(hook, {"content": "x"})
        assert response.status_code == 429
        assert response.headers["X-RateLimit-Global"] == "true"
        assert response.headers["X-RateLimit-Scope"] == "global"
        assert response.headers["Retry-After"] == "4"
        assert response.json() == {"message": "You are being rate limited.", "retry_after": 3.25, "global": True}
        clock.advance(3.25)
        assert post(hook, {"content": "x"}).status_code == 204
        assert clocked.stats()["rate_limited"]["global"] == 1


# ------------------------------------------------------------------------- state access


class TestState:
    def test_reset_forgets_messages_stats_and_windows(self, clocked: DiscordServer) -> None:
        hook = clocked.create_webhook()
        for _ in range(6):
            post(hook, {"content": "x"})
        post(hook, {})
        clocked.reset()
        assert clocked.messages() == [] and clocked.rejected() == []
        assert clocked.stats()["requests"] == 0 and clocked.stats()["rate_limited"]["user"] == 0
        assert post(hook, {"content": "after reset"}).headers["X-RateLimit-Remaining"] == "4"

    def test_wait_for_messages(self, discord_server: DiscordServer, webhook: WebhookInfo) -> None:
        """Returns the messages once enough arrived; otherwise says what did arrive and why."""
        post(webhook, {"content": "first"})
        post(webhook, {"content": "c" * 2001})
        with pytest.raises(AssertionError, match=r"got 1: \[\('alerts', 'first', 0\)\].*BASE_TYPE_MAX_LENGTH"):
            discord_server.wait_for_messages(2, timeout=0.05)
        sender = threading.Thread(target=lambda: post(webhook, {"content": "second"}))
        sender.start()
        arrived = discord_server.wait_for_messages(2, channel="alerts", timeout=TIMEOUT)
        sender.join()
        assert [m.content for m in arrived] == ["first", "second"]
        assert discord_server.wait_for(lambda: discord_server.stats()["accepted"] == 2, timeout=TIMEOUT)

    def test_messages_are_copies(self, discord_server: DiscordServer, webhook: WebhookInfo) -> None:
        post(webhook, {"content": "x", "embeds": [{"title": "t"}]})
        discord_server.messages()[0].payload["embeds"][0]["title"] = "changed"
        assert discord_server.messages()[0].embeds == [{"title": "t"}]

    def test_webhook_shape(self, discord_server: DiscordServer) -> None:
        hook = discord_server.create_webhook("billing", name="billing-bot")
        again = discord_server.create_webhook("billing")
        assert hook.channel_id == again.channel_id != discord_server.create_webhook("ops").channel_id
        assert len(hook.token) == 68 and set(hook.token) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
        )
        assert 18 <= len(hook.id) <= 19 and hook.id.isdigit()
        assert hook.url == f"{discord_server.base_url}/api/webhooks/{hook.id}/{hook.token}"
        assert discord_server.base_url == f"http://{discord_server.host_port}"
        assert hook.token not in repr(hook)

    def test_stop_closes_kept_alive_connections(self, webhook: WebhookInfo, discord_server: DiscordServer) -> None:
        session = requests.Session()
        assert session.post(webhook.url, json={"content": "a"}, timeout=TIMEOUT).status_code == 204
        discord_server.stop()
        with pytest.raises(requests.ConnectionError):
            session.post(webhook.url, json={"content": "b"}, timeout=TIMEOUT)


# ------------------------------------------------------------------------- extras for users and previews


class TestExtras:
    def test_add_route_mounts_a_page_that_faults_do_not_touch(
        self, discord_server: DiscordServer, webhook: WebhookInfo
    ) -> None:
        """A preview page lives on the same server, outside Discord's faults, limits and stats."""
        seen: list[str] = []

        def page(request: Request) -> Response:
            seen.append(request.path)
            return Response(
                200,
                raw=f"<p>{len(discord_server.messages())} messages</p>".encode(),
                content_type="text/html; charset=utf-8",
            )

        discord_server.add_route("GET", "/preview/*", page)
        post(webhook, {"content": "x"})
        discord_server.set_down(True)
        discord_server.ban(60)
        response = requests.get(f"{discord_server.base_url}/preview/alerts", timeout=TIMEOUT)
        assert response.status_code == 200 and response.text == "<p>1 messages</p>"
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
        assert seen == ["/preview/alerts"]
        assert discord_server.stats()["requests"] == 1

    def test_pings_follow_allowed_mentions(self, discord_server: DiscordServer, webhook: WebhookInfo) -> None:
        """Without allowed_mentions the server assumes the worst, so a missing one shows up as a ping."""
        content = "@everyone <@111111111111111111> <@&222222222222222222>"
        loud = post(webhook, {"content": content}, "?wait=true").json()
        assert loud["mention_everyone"] is True and loud["mention_roles"] == ["222222222222222222"]
        assert [user["id"] for user in loud["mentions"]] == ["111111111111111111"]
        post(webhook, {"content": content, "allowed_mentions": {"parse": []}})
        post(webhook, {"content": content, "allowed_mentions": {"parse": [], "roles": ["222222222222222222"]}})
        post(webhook, {"content": "x", "embeds": [{"description": content}]})  # embeds never ping
        pings = [m.pings for m in discord_server.messages()]
        assert pings[0].everyone and pings[0].users == ("111111111111111111",)
        assert not pings[1]
        assert pings[2].roles == ("222222222222222222",) and not pings[2].everyone and not pings[2].users
        assert not pings[3]

    def test_gets_report_the_bucket_without_using_it(self, clocked: DiscordServer) -> None:
        hook = clocked.create_webhook()
        post(hook, {"content": "x"})
        remaining = [requests.get(hook.url, timeout=TIMEOUT).headers["X-RateLimit-Remaining"] for _ in range(6)]
        assert remaining == ["4"] * 6
        assert post(hook, {"content": "y"}).headers["X-RateLimit-Remaining"] == "3"

    def test_chunked_body(self, discord_server: DiscordServer, webhook: WebhookInfo) -> None:
        chunks = iter([b'{"content": ', b'"sent in chunks"}'])
        response = requests.post(
            webhook.url, data=chunks, headers={"Content-Type": "application/json"}, timeout=TIMEOUT
        )
        assert response.status_code == 204
        assert [m.content for m in discord_server.messages()] == ["sent in chunks"]

    def test_oversized_body_is_413_without_reading_it(
        self, discord_server: DiscordServer, webhook: WebhookInfo
    ) -> None:
        path = webhook.url.removeprefix(discord_server.base_url)
        with socket.create_connection(
            ("127.0.0.1", int(discord_server.host_port.rsplit(":", 1)[1])), timeout=TIMEOUT
        ) as conn:
            conn.sendall(
                f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {30 * 1024 * 1024}\r\n\r\n".encode()
            )
            received = b""
            while chunk := conn.recv(4096):  # the server hangs up after answering
                received += chunk
        reply = received.decode("latin-1")
        assert reply.startswith("HTTP/1.1 413")
        assert '{"code": 40005, "message": "Request entity too large"}' in reply

    def test_thread_name_and_thread_id_together(self, webhook: WebhookInfo) -> None:
        response = post(webhook, {"content": "x", "thread_name": "t"}, "?thread_id=123456789012345678")
        assert response.status_code == 400 and response.json()["code"] == 220002

    def test_deleting_the_webhook_over_http(self, discord_server: DiscordServer, webhook: WebhookInfo) -> None:
        assert requests.delete(webhook.url, timeout=TIMEOUT).status_code == 204
        assert post(webhook, {"content": "x"}).json() == {"code": 10015, "message": "Unknown Webhook"}
        assert discord_server.webhooks() == [webhook]

    def test_revision_grows_with_changes(self, discord_server: DiscordServer, webhook: WebhookInfo) -> None:
        before = discord_server.revision
        post(webhook, {"content": "x"})
        assert discord_server.revision > before
