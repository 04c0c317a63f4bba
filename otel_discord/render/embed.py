"""Turn one ``Notice`` into one Discord embed that Discord will accept.

Every text is cleaned, masked and escaped here; every limit is kept here. One embed
always stays within ``EMBED_BUDGET`` (5500 of the 6000 a message may carry), so any
embed can be sent alone and two ordinary ones can share a message.

Where the budget is short, text is cut where it hurts least: the stack trace loses
its outer frames first (the innermost frames and the exception stay), long field
values are trimmed evenly, and whatever was cut says so.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote, urlsplit

from otel_discord.health.log import get_logger
from otel_discord.notice import Field, Kind, Notice
from otel_discord.render import limits
from otel_discord.render.escape import clean, code_block, defang_mentions, escape_markdown, truncate_escaped
from otel_discord.render.limits import embed_size, head_for, tail_lines_for, truncate
from otel_discord.render.mask import Masker
from otel_discord.render.style import color_for, title_prefix

_logger = get_logger(__name__)

#: The description (message + stack trace) is guaranteed this much before fields grow.
DESCRIPTION_RESERVE: Final = 1500
#: Our own cap on the footer; Discord allows 2048, but a footer that long is noise.
FOOTER_BUDGET: Final = 256
EMPTY_VALUE: Final = "—"
EMPTY_NAME: Final = "\u200b"
_CODE_LANGUAGE: Final = {Kind.SLOW_QUERY: "sql", Kind.ERROR: "py"}
_TRACE_ID = re.compile(r"^[0-9a-fA-F]{32}$")
_WHITESPACE = re.compile(r"\s+")
# RFC 3986 reserved and unreserved characters (and "%"): quote() leaves these and
# percent-encodes the rest (non-ASCII, quotes, braces, pipes, backslashes).
_URL_SAFE: Final = "!#$%&'()*+,/:;=?@[]~"
_LATEST_TIMESTAMP: Final = 253402300799.0  # 9999-12-31T23:59:59Z
# Field names, statuses and service lines repeat in every alert; rendering them
# again is most of the work for a field. Short texts that masking left unchanged
# are remembered per RenderOptions (never a text that had something masked).
_MEMO_CHARS: Final = 200
_MEMO_SIZE: Final = 1024


@dataclass(frozen=True)
class RenderOptions:
    """How a channel wants its embeds: trace links, masking, footer and colour."""

    trace_url: str | None = None  # template with {trace_id}, e.g. https://jaeger/trace/{trace_id}
    masker: Masker = field(default_factory=Masker)
    footer: str | None = None  # channel footer text, else "service · environment · host"
    color: int | None = None  # channel colour override (0xRRGGBB)
    _memo: dict[tuple[str, str], str] = field(default_factory=dict, init=False, repr=False, compare=False)


_DEFAULT_OPTIONS: Final = RenderOptions()


def render_embed(notice: Notice, options: RenderOptions = _DEFAULT_OPTIONS) -> dict[str, Any]:
    """Render ``notice`` as one embed dict within every Discord limit and ``EMBED_BUDGET``."""
    mask = options.masker
    trace_id, trace_link = _trace(notice.trace_id, options.trace_url)

    title = _title(notice, mask)
    footer = _footer(notice, options)
    extras = _extra_fields(notice, trace_id, trace_link)
    fields = _fields(notice.fields, limits.FIELDS - len(extras), options) + extras

    text = escape_markdown(mask(clean(head_for(notice.description, limits.DESCRIPTION)))).strip()
    code_tail, cut_before = tail_lines_for(notice.code or "", limits.DESCRIPTION)
    # Mentions in a code block do not render, but previews and copies of it might.
    code = defang_mentions(mask(clean(code_tail)))
    language = clean(notice.code_language or _CODE_LANGUAGE.get(notice.kind, ""))
    code_need = len(code) + len(language) + 8 if code.strip() else 0
    description_need = len(text) + code_need + 1

    available = limits.EMBED_BUDGET - len(title) - len(footer)
    fields_budget = available - min(description_need, DESCRIPTION_RESERVE)
    fields = _fit_fields(fields, fields_budget, keep=len(extras))
    description_budget = min(limits.DESCRIPTION, available - _chars(fields))
    description = _description(text, code, language, description_budget, cut_before)

    embed: dict[str, Any] = {"title": title, "color": color_for(notice.severity, options.color)}
    if description:
        embed["description"] = description
    url = _url(notice.url, mask) or trace_link
    if url:
        embed["url"] = url
    if fields:
        embed["fields"] = [{"name": n, "value": v, "inline": inline} for n, v, inline in fields]
    if footer:
        embed["footer"] = {"text": footer}
    timestamp = _timestamp(notice.timestamp)
    if timestamp:
        embed["timestamp"] = timestamp
    return _enforce_budget(embed)


# --- parts ---------------------------------------------------------------------------


def _one_line(text: str) -> str:
    # Printable means no whitespace but " " (str.isprintable rejects every other
    # character \s matches), so without "  " the substitution would change nothing.
    if "  " not in text and text.isprintable():
        return text.strip()
    return _WHITESPACE.sub(" ", text).strip()


def _title(notice: Notice, mask: Masker) -> str:
    # Business-event templates bring their own emoji ("🟢 INVOICE_CREATED"), so a
    # second category/severity prefix would only repeat it.
    prefix = "" if notice.kind is Kind.EVENT else title_prefix(notice.category, notice.severity)
    body = escape_markdown(mask(_one_line(clean(head_for(notice.title, limits.TITLE)))))
    if not body:
        return (prefix or title_prefix(notice.category, notice.severity)).rstrip(" ·")
    return prefix + truncate_escaped(body, limits.TITLE - len(prefix))


def _memoized(
    options: RenderOptions, kind: str, text: str, prepare: Callable[[str], str], finish: Callable[[str], str]
) -> str:
    """``finish(mask(prepare(text)))``, remembered for texts masking leaves alone (names, routes,
    services repeat in every alert; texts holding personal data are never kept)."""
    key = (kind, text)
    shown = options._memo.get(key)
    if shown is None:
        raw = prepare(text)
        masked = options.masker(raw)
        shown = finish(masked)
        if masked == raw and len(text) <= _MEMO_CHARS:
            if len(options._memo) >= _MEMO_SIZE:
                options._memo.clear()  # simpler than LRU; the texts that repeat are back after one alert
            options._memo[key] = shown
    return shown


def _footer(notice: Notice, options: RenderOptions) -> str:
    if options.footer:
        text = options.footer
    else:
        text = " · ".join(part for part in (notice.service, notice.environment, notice.host) if part)
    # Footers show plain text (no markdown), so nothing is escaped; mentions are defanged
    # only so a copy-paste of the footer cannot turn into one.
    return _memoized(
        options,
        "footer",
        text,
        lambda t: _one_line(clean(head_for(t, FOOTER_BUDGET))),
        lambda m: truncate(defang_mentions(m), FOOTER_BUDGET),
    )


def _field_name(name: str, options: RenderOptions) -> str:
    return _memoized(
        options,
        "name",
        name,
        lambda t: _one_line(clean(head_for(t, limits.FIELD_NAME))),
        lambda m: truncate_escaped(escape_markdown(m), limits.FIELD_NAME) or EMPTY_NAME,
    )


def _field_value(value: str, options: RenderOptions) -> str:
    return _memoized(
        options,
        "value",
        value,
        lambda t: clean(head_for(t, limits.FIELD_VALUE)),
        lambda m: truncate_escaped(escape_markdown(m.strip()), limits.FIELD_VALUE) or EMPTY_VALUE,
    )


def _field(item: Field, options: RenderOptions) -> tuple[str, str, bool]:
    return _field_name(str(item.name), options), _field_value(str(item.value), options), bool(item.inline)


def _fields(items: tuple[Field, ...], slots: int, options: RenderOptions) -> list[tuple[str, str, bool]]:
    """At most ``slots`` fields; the rest become one last field "… N more" listing them."""
    if len(items) <= slots:
        return [_field(item, options) for item in items]
    kept = [_field(item, options) for item in items[: slots - 1]]
    rest = items[slots - 1 :]
    lines: list[str] = []
    length = 0
    for item in rest:  # only as many as can show: the rest would be cut anyway
        name, value, _ = _field(item, options)
        lines.append(f"{name}: {_one_line(value)}")
        length += len(lines[-1]) + 1
        if length > limits.FIELD_VALUE:
            break
    return [*kept, (f"… {len(rest)} more", truncate_escaped("\n".join(lines), limits.FIELD_VALUE), False)]


def _trace(raw: str | None, template: str | None) -> tuple[str | None, str | None]:
    """The trace id to show and, with a template, the link to the trace."""
    if not raw:
        return None, None
    trace_id = clean(raw).strip()
    if not _TRACE_ID.match(trace_id):
        return trace_id or None, None
    trace_id = trace_id.lower()
    link = valid_url(template.replace("{trace_id}", trace_id)) if template else None
    return trace_id, link


def _extra_fields(notice: Notice, trace_id: str | None, link: str | None) -> list[tuple[str, str, bool]]:
    extras: list[tuple[str, str, bool]] = []
    if notice.count > 1:
        extras.append(("Seen", _seen(notice), True))
    if trace_id:
        # ( and ) would end the markdown link early.
        target = link.replace("(", "%28").replace(")", "%29") if link else ""
        if link and len(target) + 14 <= limits.FIELD_VALUE:
            value = f"[{trace_id[:8]}…]({target})"
        elif _TRACE_ID.match(trace_id):
            value = f"`{trace_id}`"
        else:
            value = truncate_escaped(escape_markdown(trace_id), 64) or EMPTY_VALUE
        extras.append(("Trace", value, True))
    return extras


def _clock(ts: float | None) -> datetime | None:
    if ts is None or not math.isfinite(ts) or not 0 <= ts <= _LATEST_TIMESTAMP:
        return None
    return datetime.fromtimestamp(ts, tz=UTC)


def _seen(notice: Notice) -> str:
    parts = [f"×{notice.count}"]
    last = _clock(notice.timestamp)
    first = _clock(notice.first_seen)
    if first is not None:
        same_day = last is not None and first.date() == last.date()
        parts.append("first " + first.strftime("%H:%M:%S UTC" if same_day else "%Y-%m-%d %H:%M:%S UTC"))
    if last is not None:
        parts.append("last " + last.strftime("%H:%M:%S UTC"))
    return " · ".join(parts)


def _timestamp(ts: float) -> str | None:
    moment = _clock(ts)
    return moment.isoformat(timespec="milliseconds") if moment is not None else None


def valid_url(raw: str | None) -> str | None:
    """``raw`` if Discord would accept it as an embed URL, else ``None``.

    http(s), at most 2048 characters, no whitespace, and a host with a dot or an IP
    literal: Discord rejects ``http://localhost:16686/...`` as not well formed.
    """
    if not raw:
        return None
    url = raw.strip()
    # Whitespace, controls or lone surrogates: text around a URL, or not a URL at all.
    if len(url) > limits.URL or url != clean(url) or any(ch.isspace() for ch in url):
        return None
    url = quote(url, safe=_URL_SAFE)
    if len(url) > limits.URL:
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host or "%" in host:
        return None  # "%" in the host: it was not ASCII (IDNA is not worth it here)
    if "." not in host.strip(".") and not _is_ip(host):
        return None
    return url


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _url(raw: str | None, mask: Masker) -> str | None:
    url = valid_url(raw)
    if url is not None and mask(url) != url:
        # A link carrying personal data or a credential cannot be masked without
        # breaking it, so it is left out.
        _logger.debug("embed url left out: it contains masked data")
        return None
    return url


# --- fitting -------------------------------------------------------------------------


def _fit_fields(fields: list[tuple[str, str, bool]], budget: int, keep: int) -> list[tuple[str, str, bool]]:
    """Trim field names and values evenly (longest first) until they fit ``budget``.

    The last ``keep`` fields (Seen, Trace) are short and ours; they are never cut.
    """
    total = _chars(fields)
    if total <= budget or not fields:
        return fields
    ours = fields[len(fields) - keep :] if keep else []
    theirs = fields[: len(fields) - keep]
    room = budget - _chars(ours)
    lengths = sorted(len(text) for n, v, _ in theirs for text in (n, v))
    cap = _water_level(lengths, max(room, 2 * len(lengths)))
    trimmed = [(_cut(n, cap, EMPTY_NAME), _cut(v, cap, EMPTY_VALUE), inline) for n, v, inline in theirs]
    return trimmed + ours


def _chars(fields: list[tuple[str, str, bool]]) -> int:
    """Characters of the fields' names and values (map and sum: this runs on every alert)."""
    return sum(map(len, [text for name, value, _ in fields for text in (name, value)]))


def _cut(text: str, cap: int, empty: str) -> str:
    return truncate_escaped(text, cap) or empty


def _water_level(sorted_lengths: list[int], budget: int) -> int:
    """The largest cap such that ``sum(min(length, cap)) <= budget`` (at least 1)."""
    remaining = budget
    count = len(sorted_lengths)
    for i, length in enumerate(sorted_lengths):
        share = remaining // (count - i)
        if length > share:
            return max(1, share)
        remaining -= length
    return max(1, sorted_lengths[-1] if sorted_lengths else 1)


def _description(text: str, code: str, language: str, budget: int, cut_before: int) -> str:
    """The escaped message, then the code block; the block keeps its innermost lines."""
    if budget <= 0:
        return ""
    if not code.strip():
        return truncate_escaped(text, budget)
    text_cap = budget
    if text:
        # Both long: the message gets at most a third, the stack trace the rest.
        full_block = len(code_block(code, language, 1 << 30, cut_before=cut_before))
        text_cap = max(budget - full_block - 1, min(len(text), budget // 3))
    text_part = truncate_escaped(text, text_cap)
    block = code_block(code, language, budget - len(text_part) - (1 if text_part else 0), cut_before=cut_before)
    if not block:
        return truncate_escaped(text, budget)
    return f"{text_part}\n{block}" if text_part else block


def _enforce_budget(embed: dict[str, Any]) -> dict[str, Any]:
    """Last line of defence: the arithmetic above should make this a no-op.

    An embed over budget would be refused with a 400 and the alert lost, so if it
    ever happens the code block goes first (cutting into it could leave it open),
    then message text, then fields from the end.
    """
    excess = embed_size(embed) - limits.EMBED_BUDGET
    if excess <= 0:
        return embed
    _logger.warning("rendered embed was %d characters over budget; cutting it", excess)
    text = embed.pop("description", "").split("```", 1)[0].strip()
    keep = len(text) - max(0, embed_size(embed) + len(text) - limits.EMBED_BUDGET)
    if keep > 0:
        embed["description"] = truncate_escaped(text, keep)
    fields = embed.get("fields") or []
    while fields and embed_size(embed) > limits.EMBED_BUDGET:
        fields.pop()
    if not fields:
        embed.pop("fields", None)
    return embed
