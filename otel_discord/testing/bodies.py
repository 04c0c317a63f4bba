"""Turn a request body into ``(payload, files)`` the way Discord accepts them.

Discord takes ``application/json``, ``multipart/form-data`` (a ``payload_json`` part plus
``files[n]`` parts) and ``application/x-www-form-urlencoded``. Anything else, or broken
JSON, is refused with the error body Discord sends.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from email.message import Message as _MimeHeaders
from email.parser import HeaderParser
from typing import Any, Final
from urllib.parse import parse_qsl

from otel_discord.testing.state import File

MAX_FILE_BYTES: Final = 10 * 1024 * 1024  # the default upload limit for webhooks since 2025
_BOOLEANS: Final = {"true": True, "1": True, "True": True, "false": False, "0": False, "False": False}
INVALID_JSON: Final = {"code": 50109, "message": "The request body contains invalid JSON."}
TOO_LARGE: Final = {"code": 40005, "message": "Request entity too large"}
_ACCEPTED: Final = ("application/json", "application/x-www-form-urlencoded", "multipart/form-data")


class BodyError(Exception):
    """The body cannot be read; ``status`` and ``body`` are Discord's response."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("message", ""))
        self.status = status
        self.body = body


@dataclass
class ParsedBody:
    payload: Any
    files: list[File] = field(default_factory=list)


def _form_error(code: str, message: str) -> BodyError:
    return BodyError(
        400,
        {"code": 50035, "message": "Invalid Form Body", "errors": {"_errors": [{"code": code, "message": message}]}},
    )


def _content_type(header: str) -> tuple[str, _MimeHeaders]:
    headers = _MimeHeaders()
    headers["content-type"] = header
    return headers.get_content_type(), headers


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity; Discord's parser does not.
    raise ValueError(f"invalid JSON constant {name}")


def parse_json(raw: bytes) -> Any:
    """Parse strict JSON or raise the 50109 ``BodyError``."""
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError):
        raise BodyError(400, dict(INVALID_JSON)) from None


def parse_body(content_type: str | None, raw: bytes) -> ParsedBody:
    """Read a POST/PATCH body; an empty body without a Content-Type is an empty payload."""
    if not raw.strip() and not content_type:
        return ParsedBody({})
    kind, headers = _content_type(content_type or "")
    if not content_type or kind not in _ACCEPTED:
        raise _form_error(
            "CONTENT_TYPE_INVALID",
            "Expected \"Content-Type\" header to be one of {'application/json', "
            "'application/x-www-form-urlencoded', 'multipart/form-data'}.",
        )
    if kind == "application/json":
        return ParsedBody(parse_json(raw))
    if kind == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(raw))
        except (UnicodeDecodeError, ValueError):
            raise BodyError(400, dict(INVALID_JSON)) from None
        return _from_fields(dict(pairs), [])
    boundary = headers.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise _form_error("CONTENT_TYPE_INVALID", "multipart/form-data needs a boundary.")
    fields, files = _parse_multipart(raw, boundary.encode("latin-1"))
    return _from_fields(fields, files)


def _from_fields(fields: dict[str, str], files: list[File]) -> ParsedBody:
    if "payload_json" in fields:
        payload = parse_json(fields["payload_json"].encode("utf-8"))
    else:
        # Without payload_json Discord reads plain form fields: all text, so coerce the
        # two non-text fields a form can carry.
        payload: dict[str, Any] = dict(fields)
        if "tts" in payload:
            payload["tts"] = _BOOLEANS.get(payload["tts"], payload["tts"])
        if payload.get("flags", "").isdigit():
            payload["flags"] = int(payload["flags"])
    return ParsedBody(payload, files)


def _parse_multipart(raw: bytes, boundary: bytes) -> tuple[dict[str, str], list[File]]:
    # Split by hand rather than with the email package, which may rewrite line endings
    # inside binary parts. The delimiter is CRLF "--" boundary (RFC 2046 §5.1.1).
    delimiter = b"\r\n--" + boundary
    chunks = (b"\r\n" + raw).split(delimiter)
    if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
        raise _form_error("MULTIPART_INVALID", "The multipart body is malformed.")
    fields: dict[str, str] = {}
    files: list[File] = []
    for chunk in chunks[1:-1]:
        if not chunk.startswith(b"\r\n"):
            raise _form_error("MULTIPART_INVALID", "The multipart body is malformed.")
        head, sep, data = chunk[2:].partition(b"\r\n\r\n")
        if not sep:
            raise _form_error("MULTIPART_INVALID", "A multipart part has no header block.")
        part = HeaderParser().parsestr(head.decode("utf-8", "replace"))
        name = part.get_param("name", header="content-disposition")
        filename = part.get_filename()
        if filename is not None:
            if len(data) > MAX_FILE_BYTES:
                raise BodyError(413, dict(TOO_LARGE))
            content_type = part.get_content_type() if part["content-type"] else "application/octet-stream"
            files.append(File(filename, content_type, data))
        elif isinstance(name, str):
            fields[name] = data.decode("utf-8", "replace")
    return fields, files
