"""Payload validation without a server, and our extracted schema against Discord's full spec."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from otel_discord.testing.validate import (
    EDIT_SCHEMA,
    EXECUTE_SCHEMA,
    ValidationError,
    build_validator,
    embed_total,
    errors_to_discord_json,
    load_schema,
    validate_edit,
    validate_execute,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
# Discord's own OpenAPI spec (github.com/discord/discord-api-spec, MIT), vendored so a fresh clone
# checks the extract against it without anything from the machine it runs on.
FULL_SPEC = REPO_ROOT / "tests" / "fixtures" / "discord" / "openapi.json"


def codes(errors: list[ValidationError]) -> set[tuple[str, str]]:
    return {(".".join(map(str, e.path)), e.code) for e in errors}


class TestValidateExecute:
    def test_a_full_alert_is_valid(self) -> None:
        """Everything an alert uses, at sensible sizes, passes."""
        payload = {
            "content": "<@&123456789012345678> checkout is failing",
            "username": "otel alerts",
            "avatar_url": "https://example.com/a.png",
            "allowed_mentions": {"parse": [], "roles": ["123456789012345678"]},
            "flags": 4096,
            "embeds": [
                {
                    "title": "ZeroDivisionError in /checkout",
                    "url": "https://grafana.example.com/trace/abc",
                    "description": "```py\nTraceback ...\n```",
                    "color": 0xE74C3C,
                    "timestamp": "2026-08-06T12:00:00.123456+00:00",
                    "author": {"name": "shop", "url": "https://shop.example.com", "icon_url": "attachment://icon.png"},
                    "footer": {"text": "prod · web-1", "icon_url": "https://example.com/f.png"},
                    "thumbnail": {"url": "attachment://icon.png"},
                    "fields": [{"name": "Route", "value": "POST /checkout", "inline": True}],
                }
            ],
            "attachments": [{"id": "0", "filename": "icon.png"}],
        }
        assert validate_execute(payload, files=["icon.png"]) == []

    @pytest.mark.parametrize("stamp", ["2026-08-06T12:00:00Z", "2026-08-06T12:00:00+02:00", "2026-08-06"])
    def test_iso8601_timestamps(self, stamp: str) -> None:
        assert validate_execute({"embeds": [{"title": "t", "timestamp": stamp}]}) == []

    @pytest.mark.parametrize(
        ("payload", "expected"),
        [
            ({"embeds": [{"title": "t", "timestamp": 1700000000}]}, ("embeds.0.timestamp", "STRING_TYPE_CONVERT")),
            ({"embeds": [{"title": "t", "timestamp": "06/08/2026"}]}, ("embeds.0.timestamp", "DATE_TIME_TYPE_PARSE")),
            ({"embeds": [{"title": "t", "color": -1}]}, ("embeds.0.color", "NUMBER_TYPE_MIN")),
            ({"embeds": [{"title": "t", "color": "red"}]}, ("embeds.0.color", "NUMBER_TYPE_COERCE")),
            (
                {"embeds": [{"title": "t", "author": {"name": "a", "url": "attachment://x.png"}}]},
                ("embeds.0.author.url", "URL_TYPE_INVALID_SCHEME"),
            ),
            (
                {"embeds": [{"title": "t", "thumbnail": {"url": "javascript:alert(1)"}}]},
                ("embeds.0.thumbnail.url", "URL_TYPE_INVALID_SCHEME"),
            ),
            (
                {"embeds": [{"title": "t", "footer": {"icon_url": "https://e.com/i.png"}}]},
                ("embeds.0.footer.text", "BASE_TYPE_REQUIRED"),
            ),
            ({"content": "x", "avatar_url": "not a url"}, ("avatar_url", "URL_TYPE_INVALID_URL")),
            ({"content": "x", "username": "Clyde"}, ("username", "USERNAME_INVALID_CONTAINS")),
            ({"content": "x", "flags": 4 | 8}, ("flags", "MESSAGE_FLAGS_INVALID")),
            ({"content": "x", "components": [{"type": 99}]}, ("components.0.type", "UNION_TYPE_CHOICES")),
            ({"content": "x", "tts": "yes"}, ("tts", "BOOLEAN_TYPE_COERCE")),
            ({"embeds": "title"}, ("embeds", "LIST_TYPE_CONVERT")),
            (
                {"embeds": [{"fields": [{"name": None, "value": "v"}]}]},
                ("embeds.0.fields.0.name", "BASE_TYPE_REQUIRED"),
            ),
        ],
    )
    def test_rules(self, payload: dict[str, Any], expected: tuple[str, str]) -> None:
        assert expected in codes(validate_execute(payload))

    def test_not_an_object(self) -> None:
        assert codes(validate_execute([{"content": "x"}])) == {("", "MODEL_TYPE_CONVERT")}

    def test_components_only_count_when_discord_keeps_them(self) -> None:
        row = [{"type": 1, "components": [{"type": 2, "style": 5, "label": "Open", "url": "https://e.com"}]}]
        assert validate_execute({"components": row}) == []
        assert codes(validate_execute({"components": row}, with_components=False)) == {("", "EMPTY_MESSAGE")}

    def test_a_file_alone_is_a_message(self) -> None:
        assert validate_execute({}, files=["report.csv"]) == []
        assert codes(validate_execute({})) == {("", "EMPTY_MESSAGE")}

    def test_errors_are_sorted_by_path(self) -> None:
        errors = validate_execute(
            {"embeds": [{"fields": [{"name": "n", "value": " "}] * 11 + [{"name": " ", "value": "v"}]}]}
        )
        paths = [e.path for e in errors]
        assert paths == [("embeds", 0, "fields", i, "value") for i in range(11)] + [("embeds", 0, "fields", 11, "name")]

    def test_str_names_the_field(self) -> None:
        [error] = validate_execute({"content": "c" * 2001})
        assert str(error) == "content: Must be 2000 or fewer in length. [BASE_TYPE_MAX_LENGTH]"


class TestEmbedTotal:
    def test_counts_the_documented_fields_trimmed(self) -> None:
        embed = {
            "title": " ab ",
            "description": "c",
            "url": "https://not.counted",
            "footer": {"text": "d"},
            "author": {"name": "e"},
            "fields": [{"name": "f", "value": "g"}],
            "provider": {"name": "zzz"},
        }
        assert embed_total([embed, embed]) == 14

    def test_tolerates_wrong_shapes(self) -> None:
        assert embed_total([None, "x", {"fields": [None], "footer": "x", "title": 5}]) == 0
        assert embed_total("not a list") == 0


class TestValidateEdit:
    def test_partial_edit_is_valid(self) -> None:
        assert validate_edit({}) == []
        assert validate_edit({"embeds": [{"title": "count: 3"}], "allowed_mentions": {"parse": []}}) == []

    @pytest.mark.parametrize("key", ["username", "avatar_url", "tts", "thread_name", "applied_tags"])
    def test_fields_an_edit_cannot_change(self, key: str) -> None:
        assert (key, "FIELD_NOT_EDITABLE") in codes(validate_edit({"content": "x", key: None}))

    def test_attachment_reference_may_name_a_kept_attachment(self) -> None:
        payload = {
            "embeds": [{"image": {"url": "attachment://a.png"}}],
            "attachments": [{"id": "1", "filename": "a.png"}],
        }
        assert validate_edit(payload) == []
        assert validate_execute(payload) != []  # on a new message it must be uploaded


class TestDiscordJson:
    def test_nested_errors_format(self) -> None:
        body = errors_to_discord_json(validate_execute({"embeds": [{"fields": [{"name": "n", "value": "v" * 1025}]}]}))
        assert body == {
            "code": 50035,
            "message": "Invalid Form Body",
            "errors": {
                "embeds": {
                    "0": {
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

    def test_empty_alone_is_50006_and_form_errors_win(self) -> None:
        assert errors_to_discord_json(validate_execute({"content": " "}))["code"] == 50006
        assert errors_to_discord_json(validate_execute({"content": 5}))["code"] == 50035

    def test_request_level_errors_sit_at_the_root(self) -> None:
        body = errors_to_discord_json(validate_execute("text"))
        assert body["errors"] == {
            "_errors": [{"code": "MODEL_TYPE_CONVERT", "message": "Expected an object/dictionary."}]
        }


# ------------------------------------------------------------------------- against the full spec

AGREEMENT_CASES: list[tuple[dict[str, Any], bool]] = [
    ({"content": "hello"}, True),
    ({"content": "c" * 2000, "embeds": [{"title": "t" * 256, "fields": [{"name": "n", "value": "v"}] * 25}]}, True),
    ({"embeds": [{"title": "t", "color": 0xFFFFFF, "timestamp": "2026-08-06T12:00:00+00:00"}]}, True),
    ({"allowed_mentions": {"parse": ["users", "everyone"], "roles": ["1"]}, "content": "x"}, True),
    ({"content": None, "embeds": None, "flags": None}, True),
    ({"content": "c" * 2001}, False),
    ({"embeds": [{}] * 11}, False),
    ({"embeds": [{"fields": [{"name": "n"}]}]}, False),
    ({"embeds": [{"fields": [{"name": "n", "value": "v" * 1025}]}]}, False),
    ({"embeds": [{"color": 16777216}]}, False),
    ({"embeds": [{"timestamp": "not a date"}]}, False),
    ({"embeds": [{"url": "no scheme"}]}, False),
    ({"allowed_mentions": {"parse": ["here"]}}, False),
    ({"allowed_mentions": {"users": ["1", "1"]}}, False),
    ({"components": [{"type": 1, "components": []}]}, False),
    ({"poll": {"question": {"text": "q"}, "answers": [{"poll_media": {"text": "a"}}] * 11}}, False),
]


@pytest.fixture(scope="module")
def full_spec() -> dict[str, Any]:
    return json.loads(FULL_SPEC.read_text(encoding="utf-8"))


@pytest.mark.parametrize("schema_name", [EXECUTE_SCHEMA, EDIT_SCHEMA])
@pytest.mark.parametrize(("payload", "valid"), AGREEMENT_CASES)
def test_extract_agrees_with_the_full_spec(
    full_spec: dict[str, Any], schema_name: str, payload: dict[str, Any], valid: bool
) -> None:
    """Same verdict from Discord's full openapi.json and from our extract, and the expected one."""
    from_spec = build_validator(full_spec, schema_name).is_valid(payload)
    from_extract = build_validator(load_schema(), schema_name).is_valid(payload)
    assert from_spec == from_extract == valid


def test_username_is_only_limited_on_execute(full_spec: dict[str, Any]) -> None:
    """Why we validate POSTs against IncomingWebhookRequestPartial, not the spec's request union.

    The spec's POST body is anyOf(execute, update); the update schema does not forbid
    ``username``, so the union lets an 81-character username through.
    """
    payload = {"content": "x", "username": "u" * 81}
    assert build_validator(full_spec, EXECUTE_SCHEMA).is_valid(payload) is False
    assert build_validator(full_spec, EDIT_SCHEMA).is_valid(payload) is True
    assert ("username", "BASE_TYPE_BAD_LENGTH") in codes(validate_execute(payload))


def test_extract_is_up_to_date_and_names_its_source() -> None:
    """The committed discord_schema.json is exactly what the script makes from ../shared."""
    spec = importlib.util.spec_from_file_location(
        "extract_discord_schema", REPO_ROOT / "scripts" / "extract_discord_schema.py"
    )
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    committed = (REPO_ROOT / "otel_discord" / "testing" / "discord_schema.json").read_text(encoding="utf-8")
    assert script.build(FULL_SPEC) == committed
    digest = hashlib.sha256(FULL_SPEC.read_bytes()).hexdigest()
    assert digest in load_schema()["$comment"]
    names = set(load_schema()["components"]["schemas"])
    assert {EXECUTE_SCHEMA, EDIT_SCHEMA, "RichEmbed", "RichEmbedField", "MessageAllowedMentionsRequest"} <= names
    assert names == set(
        script.reachable_schemas(json.loads(FULL_SPEC.read_text())["components"]["schemas"], script.ROOT_SCHEMAS)
    )
