"""Layer 1 of validation: Discord's own JSON Schema, with Discord's error codes.

The schemas come from ``discord_schema.json`` (extracted from discord/discord-api-spec by
``scripts/extract_discord_schema.py``) and run under ``jsonschema`` Draft 2020-12, as the
spec is OpenAPI 3.1. Spec artefacts such as the 152133 ``maxLength`` placeholders are
permissive, so they are left alone. jsonschema's errors are turned into Discord's: a
path into the payload and a string code such as ``BASE_TYPE_MAX_LENGTH``.
"""

from __future__ import annotations

import functools
import ipaddress
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any, Final
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError as SchemaError

EXECUTE_SCHEMA: Final = "IncomingWebhookRequestPartial"
EDIT_SCHEMA: Final = "IncomingWebhookUpdateRequestPartial"
_HTTP: Final = ("http", "https")

Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class ValidationError:
    """One problem: where (``path`` into the payload), Discord's ``code``, and a message."""

    path: Path
    code: str
    message: str

    def __str__(self) -> str:
        where = ".".join(str(p) for p in self.path) or "<body>"
        return f"{where}: {self.message} [{self.code}]"


def _check_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    datetime.fromisoformat(value)  # 3.11 reads ISO 8601 incl. "Z"; raises ValueError otherwise
    return True


def _check_uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    # Any absolute URI passes (RFC 3986, as the "uri" format means); which schemes a
    # field takes is a rule of its own (URL_TYPE_INVALID_SCHEME).
    parts = urlsplit(value)
    if not parts.scheme or any(c.isspace() for c in value):
        raise ValueError("not a well formed URL")
    if parts.scheme.lower() in _HTTP and not _public_host(parts.hostname or ""):
        # Discord refuses hosts without a dot ("http://localhost:16686/..."); such a link
        # would not work for anyone reading the channel anyway.
        raise ValueError("not a well formed URL")
    return True


def _public_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return "." in host.strip(".")


def format_checker() -> FormatChecker:
    """Checks for the formats the webhook schemas use (jsonschema's need extra packages)."""
    checker = FormatChecker(formats=())
    checker.checks("date-time", raises=ValueError)(_check_date_time)
    checker.checks("uri", raises=ValueError)(_check_uri)
    return checker


@functools.lru_cache(maxsize=1)
def _schema_text() -> str:
    return resources.files("otel_discord.testing").joinpath("discord_schema.json").read_text("utf-8")


def load_schema() -> dict[str, Any]:
    """The packaged extract of Discord's OpenAPI schemas (a fresh copy)."""
    return json.loads(_schema_text())


def build_validator(document: Mapping[str, Any], root: str) -> Draft202012Validator:
    """A validator for ``#/components/schemas/<root>`` of an OpenAPI document.

    Works on the packaged extract and on Discord's full ``openapi.json`` alike, since
    both keep the spec's ``components/schemas`` layout and its local ``$ref`` paths.
    """
    schema = {"$ref": f"#/components/schemas/{root}", "components": document["components"]}
    return Draft202012Validator(schema, format_checker=format_checker())


@functools.cache
def _validator(root: str) -> Draft202012Validator:
    return build_validator(load_schema(), root)


def schema_errors(
    payload: Any, root: str = EXECUTE_SCHEMA, validator: Draft202012Validator | None = None
) -> list[ValidationError]:
    """Errors from Discord's schema alone, converted to Discord's codes."""
    validator = validator or _validator(root)
    found: list[ValidationError] = []
    for error in validator.iter_errors(payload):
        found.extend(_convert(error))
    return dedupe(found)


def dedupe(errors: Iterable[ValidationError]) -> list[ValidationError]:
    return list(dict.fromkeys(errors))


def _branches(error: SchemaError) -> list[list[SchemaError]]:
    grouped: dict[Any, list[SchemaError]] = {}
    for sub in error.context or ():
        grouped.setdefault(sub.relative_schema_path[0], []).append(sub)
    return list(grouped.values())


def _is_mismatch(error: SchemaError) -> bool:
    """True if ``error`` says the instance is another kind of thing, not a bad one of this kind."""
    where = list(error.relative_path)
    if not where and error.validator in ("type", "const", "enum"):
        return True
    if where == ["type"] and error.validator in ("const", "enum"):
        return True  # a component union's discriminator
    if not where and error.validator in ("oneOf", "anyOf"):
        return all(any(_is_mismatch(s) for s in branch) for branch in _branches(error))
    return False


def _convert(error: SchemaError) -> list[ValidationError]:
    if error.validator in ("oneOf", "anyOf") and error.context:
        viable = [b for b in _branches(error) if not any(_is_mismatch(s) for s in b)]
        if len(viable) == 1:
            return [converted for sub in viable[0] for converted in _convert(sub)]
        return [_union_mismatch(error)]
    path: Path = tuple(error.absolute_path)
    value, instance = error.validator_value, error.instance
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    kind = error.validator
    if kind == "required":
        missing = [name for name in value if isinstance(instance, Mapping) and name not in instance]
        return [ValidationError(path + (name,), "BASE_TYPE_REQUIRED", "This field is required") for name in missing]
    if kind in ("maxLength", "maxItems"):
        low = schema.get("minLength" if kind == "maxLength" else "minItems", 0)
        if low:
            return [ValidationError(path, "BASE_TYPE_BAD_LENGTH", f"Must be between {low} and {value} in length.")]
        return [ValidationError(path, "BASE_TYPE_MAX_LENGTH", f"Must be {value} or fewer in length.")]
    if kind in ("minLength", "minItems"):
        high = schema.get("maxLength" if kind == "minLength" else "maxItems")
        if high is not None:
            return [ValidationError(path, "BASE_TYPE_BAD_LENGTH", f"Must be between {value} and {high} in length.")]
        return [ValidationError(path, "BASE_TYPE_MIN_LENGTH", f"Must be {value} or more in length.")]
    if kind == "type":
        return [_type_error(path, value, instance)]
    if kind == "maximum":
        return [ValidationError(path, "NUMBER_TYPE_MAX", f"int value should be less than or equal to {value}.")]
    if kind == "minimum":
        return [ValidationError(path, "NUMBER_TYPE_MIN", f"int value should be greater than or equal to {value}.")]
    if kind == "pattern":
        return [ValidationError(path, "NUMBER_TYPE_COERCE", f'Value "{_short(instance)}" is not snowflake.')]
    if kind == "format" and value == "date-time":
        return [
            ValidationError(path, "DATE_TIME_TYPE_PARSE", f"Could not parse {_short(instance)}. Should be ISO8601.")
        ]
    if kind == "format":
        return [ValidationError(path, "URL_TYPE_INVALID_URL", "Not a well formed URL.")]
    if kind in ("enum", "const"):
        choices = value if kind == "enum" else [value]
        return [_choices(path, choices)]
    if kind == "uniqueItems":
        return [ValidationError(path, "SET_TYPE_ALREADY_CONTAINS_VALUE", "The set already contains this value")]
    return [ValidationError(path, f"BASE_TYPE_{kind.upper()}", error.message[:200])]


def _short(value: Any) -> str:
    return str(value)[:100]


def _choices(path: Path, choices: Iterable[Any]) -> ValidationError:
    shown = ", ".join(repr(c) for c in choices)
    return ValidationError(path, "BASE_TYPE_CHOICES", f"Value must be one of ({shown}).")


_TYPE_ERRORS: Final = {
    "string": ("STRING_TYPE_CONVERT", 'Could not interpret "{}" as string.'),
    "integer": ("NUMBER_TYPE_COERCE", 'Value "{}" is not int.'),
    "number": ("NUMBER_TYPE_COERCE", 'Value "{}" is not a number.'),
    "boolean": ("BOOLEAN_TYPE_COERCE", 'Value "{}" is not boolean.'),
    "array": ("LIST_TYPE_CONVERT", "Only iterables may be used in a ListType"),
    "object": ("DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType"),
}


def _type_error(path: Path, expected: Any, instance: Any) -> ValidationError:
    if instance is None:  # Discord reads null as "not given"
        return ValidationError(path, "BASE_TYPE_REQUIRED", "This field is required")
    wanted = [expected] if isinstance(expected, str) else [t for t in expected if t != "null"]
    code, template = _TYPE_ERRORS.get(wanted[0] if wanted else "null", ("BASE_TYPE_INVALID", "Invalid value {}."))
    return ValidationError(path, code, template.format(_short(instance)))


def _leaves(error: SchemaError, depth: int) -> Iterable[tuple[list[Any], SchemaError]]:
    """Innermost errors of a union, each with its path relative to the union's value."""
    for sub in error.context or ():
        if sub.validator in ("oneOf", "anyOf", "allOf") and sub.context:
            yield from _leaves(sub, depth)
        else:
            yield list(sub.absolute_path)[depth:], sub


def _union_mismatch(error: SchemaError) -> ValidationError:
    """One error for a value that fits none of a union's alternatives."""
    path: Path = tuple(error.absolute_path)
    leaves = list(_leaves(error, len(path)))
    # A component union: each branch pins "type" with an enum; report the allowed tags.
    tags = [v for where, s in leaves if where == ["type"] and s.validator == "enum" for v in s.validator_value]
    if tags:
        shown = ", ".join(str(t) for t in dict.fromkeys(tags))
        return ValidationError(
            path + ("type",), "UNION_TYPE_CHOICES", f'Value of field "type" must be one of ({shown}).'
        )
    consts = [s.validator_value for where, s in leaves if not where and s.validator == "const"]
    if consts:
        return _choices(path, dict.fromkeys(consts))
    types = [s.validator_value for where, s in leaves if not where and s.validator == "type"]
    expected = [t for t in types if t != "null"] or ["null"]
    return _type_error(path, expected[0], error.instance)
