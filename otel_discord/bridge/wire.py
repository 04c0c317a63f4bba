"""OTLP/HTTP on the wire: media types, compression, and parsing bodies into protobuf messages.

Wire formats: protobuf (``application/x-protobuf``) and OTLP/JSON (``application/json``),
optionally compressed with gzip or deflate. OTLP/JSON differs from protobuf's canonical
JSON mapping in one way that matters: trace and span ids are hex, not base64
(https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding), so they are converted
before ``json_format`` sees them.

Every problem is a ``DecodeError`` (or a subclass the server maps to its own status code),
never a protobuf, zlib or JSON exception.
"""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any, Final, TypeVar

from google.protobuf import json_format
from google.protobuf.message import DecodeError as _ProtobufDecodeError
from google.protobuf.message import Message

__all__ = [
    "BodyTooLarge", "DecodeError", "JSON", "MAX_DECOMPRESSED_BYTES", "PROTOBUF", "UnsupportedMediaType",
    "decompress", "media_type", "parse_request",
]  # fmt: skip

PROTOBUF: Final = "application/x-protobuf"
JSON: Final = "application/json"
# Bounds what a small compressed body may expand to (a "zip bomb" would otherwise
# exhaust memory). Far above any batch the Collector sends by default.
MAX_DECOMPRESSED_BYTES: Final = 64 * 1024 * 1024

# OTLP/JSON fields that hold hex ids instead of protobuf-JSON's base64.
_HEX_ID_KEYS: Final = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})

_M = TypeVar("_M", bound=Message)


class DecodeError(ValueError):
    """The request body is not a valid OTLP request (the sender should not retry it)."""


class UnsupportedMediaType(DecodeError):
    """Content-Type or Content-Encoding is not one the bridge understands."""


class BodyTooLarge(DecodeError):
    """The body expands beyond ``MAX_DECOMPRESSED_BYTES``."""


def media_type(content_type: str | None) -> str:
    """Return ``PROTOBUF`` or ``JSON`` for a Content-Type header (parameters ignored)."""
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    if mime in (PROTOBUF, JSON):
        return mime
    raise UnsupportedMediaType(f"unsupported Content-Type {content_type!r}: OTLP/HTTP uses {PROTOBUF} or {JSON}")


def decompress(body: bytes, content_encoding: str | None, *, limit: int = MAX_DECOMPRESSED_BYTES) -> bytes:
    """Undo a gzip or deflate Content-Encoding, refusing output larger than ``limit``."""
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding in ("gzip", "x-gzip"):
        return _inflate(body, 16 + zlib.MAX_WBITS, limit, "gzip")
    if encoding == "deflate":
        # HTTP "deflate" is zlib-wrapped, but some clients send raw deflate (RFC 9110 §8.4.1.2).
        try:
            return _inflate(body, zlib.MAX_WBITS, limit, "deflate")
        except BodyTooLarge:
            raise
        except DecodeError:
            return _inflate(body, -zlib.MAX_WBITS, limit, "deflate")
    raise UnsupportedMediaType(f"unsupported Content-Encoding {content_encoding!r}: use gzip, deflate or none")


def _inflate(body: bytes, wbits: int, limit: int, name: str) -> bytes:
    out = bytearray()
    data = body
    try:
        while True:  # gzip allows several concatenated members
            inflater = zlib.decompressobj(wbits)
            out += inflater.decompress(data, limit + 1 - len(out))
            if len(out) > limit or inflater.unconsumed_tail:
                raise BodyTooLarge(f"{name} body expands beyond {limit} bytes")
            if not inflater.eof:
                raise DecodeError(f"{name} body is truncated")
            data = inflater.unused_data
            if wbits < 16 or not data:
                return bytes(out)
    except zlib.error as exc:
        raise DecodeError(f"body is not valid {name}: {exc}") from None


def parse_request(message: type[_M], body: bytes, content_type: str, content_encoding: str | None) -> _M:
    """Parse an OTLP request body of type ``message`` from either wire format."""
    mime = media_type(content_type)
    raw = decompress(body, content_encoding)
    what = message.DESCRIPTOR.name
    if mime == PROTOBUF:
        try:
            return message.FromString(raw)
        except (_ProtobufDecodeError, RecursionError) as exc:
            raise DecodeError(f"body is not a protobuf {what}: {exc}") from None
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise DecodeError(f"body is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise DecodeError(f"OTLP/JSON body must be an object, got {type(document).__name__}")
    _hex_ids_to_base64(document)
    parsed = message()
    try:
        # Unknown fields are ignored, as the OTLP spec requires of receivers.
        json_format.ParseDict(document, parsed, ignore_unknown_fields=True)
    except (json_format.ParseError, RecursionError, ValueError, TypeError) as exc:
        raise DecodeError(f"body is not an OTLP/JSON {what}: {exc}") from None
    return parsed


def _hex_ids_to_base64(document: dict[str, Any]) -> None:
    stack: list[Any] = [document]
    while stack:  # iterative: a hostile body must not hit the recursion limit here
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            for key, value in node.items():
                if key in _HEX_ID_KEYS and isinstance(value, str):
                    try:
                        node[key] = base64.b64encode(bytes.fromhex(value)).decode("ascii")
                    except ValueError:
                        raise DecodeError(f"{key} {value[:64]!r} is not hex (OTLP/JSON ids are hex strings)") from None
                elif isinstance(value, (dict, list)):
                    stack.append(value)
