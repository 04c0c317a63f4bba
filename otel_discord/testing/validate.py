"""Validate webhook payloads as Discord does, without a server.

Two layers, like Discord's own:

1. Discord's published JSON Schema, see ``schema.py``.
2. The rules the schema cannot express: the 6000-character total over all embeds,
   non-blank field names and values, the flags webhooks may set, username rules,
   ``allowed_mentions`` exclusivity, URL schemes, ``attachment://`` references and
   "at least one of content/embeds/components/files/poll".

Errors carry Discord's string codes (the spec types them as integers; real responses
use strings such as ``BASE_TYPE_MAX_LENGTH``). These codes are this module's own, for
rules Discord reports in ways no public source records: ``MESSAGE_FLAGS_INVALID``,
``FIELD_NOT_EDITABLE`` (Discord silently ignores username/avatar_url/tts/thread_name
on edit; we refuse so the mistake shows) and ``ATTACHMENT_NOT_FOUND`` (an
``attachment://`` URL naming no file of the message). Type-conversion codes
(``STRING_TYPE_CONVERT``, ``BOOLEAN_TYPE_COERCE``, ...) follow Discord's naming but are
best effort: assert on paths more than on those codes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final
from urllib.parse import urlsplit

from otel_discord.testing.schema import (
    EDIT_SCHEMA,
    EXECUTE_SCHEMA,
    Path,
    ValidationError,
    build_validator,
    dedupe,
    load_schema,
    schema_errors,
)

__all__ = [
    "EDIT_SCHEMA",
    "EMPTY_MESSAGE",
    "EXECUTE_SCHEMA",
    "ValidationError",
    "build_validator",
    "embed_total",
    "error_tree",
    "errors_to_discord_json",
    "is_empty_message",
    "load_schema",
    "rule_errors",
    "schema_errors",
    "validate_edit",
    "validate_execute",
]

EMBED_TOTAL_LIMIT: Final = 6000
MAX_FILES: Final = 10
SUPPRESS_EMBEDS: Final = 1 << 2
from otel_discord.notice import SUPPRESS_NOTIFICATIONS  # noqa: E402 - the one definition

IS_COMPONENTS_V2: Final = 1 << 15
ALLOWED_FLAGS: Final = SUPPRESS_EMBEDS | SUPPRESS_NOTIFICATIONS | IS_COMPONENTS_V2
EMPTY_MESSAGE: Final = "EMPTY_MESSAGE"  # not a form error: becomes 50006, not 50035
NOT_EDITABLE: Final = ("username", "avatar_url", "tts", "thread_name", "applied_tags")
_HTTP: Final = ("http", "https")
_HTTP_OR_ATTACHMENT: Final = ("http", "https", "attachment")


def _path_key(error: ValidationError) -> tuple[tuple[int, int, str], ...]:
    # Indices sort numerically (10 after 9) and are never compared with names.
    return tuple((0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in error.path)


def _merge(schema: list[ValidationError], rules: list[ValidationError]) -> list[ValidationError]:
    """Schema errors, plus rule errors on paths the schema had nothing to say about; by path."""
    taken = {e.path for e in schema}
    merged = dedupe(schema + [e for e in rules if e.path not in taken])
    return sorted(merged, key=_path_key)


# --- the rules the schema cannot express -------------------------------------------------


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def embed_total(embeds: Any) -> int:
    """Discord's 6000 count: code points of the stripped texts, summed over all embeds."""
    total = 0
    for embed in embeds if isinstance(embeds, list) else ():
        if not isinstance(embed, Mapping):
            continue
        total += len(_text(embed.get("title"))) + len(_text(embed.get("description")))
        for item in embed.get("fields") or () if isinstance(embed.get("fields"), list) else ():
            if isinstance(item, Mapping):
                total += len(_text(item.get("name"))) + len(_text(item.get("value")))
        for part, key in (("footer", "text"), ("author", "name")):
            if isinstance(embed.get(part), Mapping):
                total += len(_text(embed[part].get(key)))
    return total


def _url_errors(path: Path, url: Any, schemes: Sequence[str], files: Sequence[str]) -> list[ValidationError]:
    if not isinstance(url, str):
        return []
    scheme = urlsplit(url).scheme.lower()
    if scheme not in schemes:
        allowed = ", ".join(repr(s) for s in schemes)
        return [
            ValidationError(
                path,
                "URL_TYPE_INVALID_SCHEME",
                f'Scheme "{scheme}" is not supported. Scheme must be one of ({allowed}).',
            )
        ]
    if scheme == "attachment":
        name = url[len("attachment://") :]
        if name not in files:
            return [
                ValidationError(
                    path, "ATTACHMENT_NOT_FOUND", f'No file named "{name[:100]}" is attached to this message.'
                )
            ]
    return []


def _embed_errors(index: int, embed: Mapping[str, Any], files: Sequence[str]) -> list[ValidationError]:
    at: Path = ("embeds", index)
    errors: list[ValidationError] = []
    fields = embed.get("fields")
    for j, item in enumerate(fields if isinstance(fields, list) else ()):
        for key in ("name", "value"):
            if isinstance(item, Mapping) and isinstance(item.get(key), str) and not item[key].strip():
                errors.append(ValidationError(at + ("fields", j, key), "BASE_TYPE_REQUIRED", "This field is required"))
    # The spec makes these nullable; the docs (and Discord) require them.
    for part, key in (("footer", "text"), ("author", "name")):
        if isinstance(embed.get(part), Mapping) and not _text(embed[part].get(key)):
            errors.append(ValidationError(at + (part, key), "BASE_TYPE_REQUIRED", "This field is required"))
    errors += _url_errors(at + ("url",), embed.get("url"), _HTTP, files)
    for part, key, schemes in (
        ("author", "url", _HTTP),
        ("author", "icon_url", _HTTP_OR_ATTACHMENT),
        ("footer", "icon_url", _HTTP_OR_ATTACHMENT),
        ("image", "url", _HTTP_OR_ATTACHMENT),
        ("thumbnail", "url", _HTTP_OR_ATTACHMENT),
    ):
        if isinstance(embed.get(part), Mapping):
            errors += _url_errors(at + (part, key), embed[part].get(key), schemes, files)
    return errors


def _mention_errors(allowed: Any) -> list[ValidationError]:
    if not isinstance(allowed, Mapping) or not isinstance(allowed.get("parse"), list):
        return []
    errors = []
    for kind in ("users", "roles"):
        if kind in allowed["parse"] and allowed.get(kind):
            errors.append(
                ValidationError(
                    ("allowed_mentions",),
                    "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                    f'parse:["{kind}"] and {kind}: [ids...] are mutually exclusive.',
                )
            )
    return errors


def _username_errors(name: Any) -> list[ValidationError]:
    if not isinstance(name, str):
        return []
    lowered = name.strip().lower()
    if not lowered:
        return [ValidationError(("username",), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 80 in length.")]
    for word in ("discord", "clyde"):
        if word in lowered:
            return [ValidationError(("username",), "USERNAME_INVALID_CONTAINS", f'Username cannot contain "{word}"')]
    if lowered in ("everyone", "here"):
        return [ValidationError(("username",), "USERNAME_INVALID", f'Username cannot be "{lowered}"')]
    return []


def _flag_errors(payload: Mapping[str, Any], files: Sequence[str]) -> list[ValidationError]:
    flags = payload.get("flags")
    if not isinstance(flags, int) or isinstance(flags, bool):
        return []
    if flags & ~ALLOWED_FLAGS or flags < 0:
        return [
            ValidationError(
                ("flags",),
                "MESSAGE_FLAGS_INVALID",
                "Only SUPPRESS_EMBEDS (4), SUPPRESS_NOTIFICATIONS (4096) and IS_COMPONENTS_V2 "
                "(32768) can be set by webhooks.",
            )
        ]
    if flags & IS_COMPONENTS_V2:
        legacy = [k for k in ("content", "embeds", "poll") if payload.get(k)] + (["files"] if files else [])
        return [
            ValidationError(
                (key,),
                "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
                "The 'content', 'embeds', 'stickers', and 'poll' fields cannot be used when "
                "using MessageFlags.IS_COMPONENTS_V2",
            )
            for key in legacy
        ]
    return []


def rule_errors(payload: Mapping[str, Any], files: Sequence[str] = ()) -> list[ValidationError]:
    """Errors from the rules Discord enforces beyond its schema (no emptiness check)."""
    errors: list[ValidationError] = []
    embeds = payload.get("embeds")
    for i, embed in enumerate(embeds if isinstance(embeds, list) else ()):
        if isinstance(embed, Mapping):
            errors += _embed_errors(i, embed, files)
    if embed_total(embeds) > EMBED_TOTAL_LIMIT:
        errors.append(
            ValidationError(
                ("embeds",), "MAX_EMBED_SIZE_EXCEEDED", f"Embed size exceeds maximum size of {EMBED_TOTAL_LIMIT}"
            )
        )
    errors += _mention_errors(payload.get("allowed_mentions"))
    errors += _username_errors(payload.get("username"))
    errors += _url_errors(("avatar_url",), payload.get("avatar_url"), _HTTP, files)
    errors += _flag_errors(payload, files)
    if len(files) > MAX_FILES:
        errors.append(ValidationError(("files",), "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_FILES} or fewer in length."))
    return errors


def is_empty_message(payload: Mapping[str, Any], files: Sequence[str] = (), *, with_components: bool = False) -> bool:
    """True when Discord would answer 50006: nothing to show.

    ``components`` count only with ``?with_components=true``: without it Discord ignores
    them on webhooks that no application owns.
    """
    if files or payload.get("embeds") or payload.get("poll"):
        return False
    if with_components and payload.get("components"):
        return False
    return not _text(payload.get("content"))


def _not_a_dict() -> list[ValidationError]:
    return [ValidationError((), "MODEL_TYPE_CONVERT", "Expected an object/dictionary.")]


def validate_execute(payload: Any, files: Sequence[str] = (), *, with_components: bool = True) -> list[ValidationError]:
    """Everything Discord would refuse in an Execute Webhook body, sorted by path.

    ``files`` are the names of the uploaded files; ``with_components`` mirrors the query
    parameter (without it Discord drops ``components``, so they do not make a message).
    An empty list means Discord accepts the payload; a lone ``EMPTY_MESSAGE`` error means
    it answers 50006 "Cannot send an empty message" instead of 50035.
    """
    if not isinstance(payload, Mapping):
        return _not_a_dict()
    errors = _merge(schema_errors(payload, EXECUTE_SCHEMA), rule_errors(payload, files))
    if not errors and is_empty_message(payload, files, with_components=with_components):
        return [ValidationError((), EMPTY_MESSAGE, "Cannot send an empty message")]
    return errors


def validate_edit(payload: Any, files: Sequence[str] = ()) -> list[ValidationError]:
    """Everything Discord would refuse in an Edit Webhook Message body, sorted by path.

    ``files`` are the names of new uploads; the names in the payload's ``attachments``
    (the attachments the message keeps) count as present too. Emptiness depends on the
    message being edited, so it is not checked here: use ``is_empty_message`` on the
    edited result.
    """
    if not isinstance(payload, Mapping):
        return _not_a_dict()
    kept = [a.get("filename") for a in payload.get("attachments") or () if isinstance(a, Mapping)]
    names = [*files, *(n for n in kept if isinstance(n, str))]
    rules = rule_errors(payload, names)
    rules += [
        ValidationError((key,), "FIELD_NOT_EDITABLE", f"{key} cannot be changed by editing a message.")
        for key in NOT_EDITABLE
        if key in payload
    ]
    return _merge(schema_errors(payload, EDIT_SCHEMA), rules)


def error_tree(errors: Iterable[ValidationError]) -> dict[str, Any]:
    """Discord's nested ``errors`` object: keys are fields or indices, leaves ``{"_errors": [...]}``."""
    tree: dict[str, Any] = {}
    for error in errors:
        node = tree
        for key in error.path:
            node = node.setdefault(str(key), {})
        node.setdefault("_errors", []).append({"code": error.code, "message": error.message})
    return tree


def errors_to_discord_json(errors: Sequence[ValidationError]) -> dict[str, Any]:
    """The 400 body Discord sends for ``errors``: 50035 with the nested tree, or 50006."""
    form = [e for e in errors if e.code != EMPTY_MESSAGE]
    if form:
        return {"code": 50035, "message": "Invalid Form Body", "errors": error_tree(form)}
    if errors:
        return {"code": 50006, "message": "Cannot send an empty message"}
    raise ValueError("no errors to report")
