"""A local Discord preview: the strict server plus a page at ``/`` that shows what it received.

``Preview.start(["default", "finance-activity"])`` starts a ``DiscordServer`` with one
webhook per channel and mounts the page on the same port. The page draws one column
per channel the way Discord's client draws messages (embeds with their colour bar,
markdown, the 3-per-row inline field grid, footers, attached images, mentions, edits
in place) and counts 429s and rejected payloads with Discord's error JSON. It polls
``/preview/state?since=<revision>``, which answers with almost nothing until the
server's revision changes, so it stays live without holding a thread per tab.

Everything shown is untrusted (exception messages, user input): messages are turned
into HTML here, by ``render_markdown`` and friends, where every piece of text passes
through ``html.escape`` and only our own tags and http(s) links come out. The page
also sends a Content-Security-Policy without inline scripts, so even a slip here could
not run code.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any, Final

from otel_discord.testing._http import Request, Response
from otel_discord.testing.server import DiscordServer
from otel_discord.testing.state import WebhookInfo

DEFAULT_PORT: Final = 8085
DEFAULT_CHANNEL: Final = "default"
STATE_PATH: Final = "/preview/state"
STATIC_PREFIX: Final = "/preview/static/"
_STATIC: Final = {"preview.css": "text/css; charset=utf-8", "preview.js": "text/javascript; charset=utf-8"}
_CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: http: https:; connect-src 'self'; base-uri 'none'; form-action 'none'"
)
# The channels of each routing preset, as otel_discord/presets.py defines them (this copy
# only serves an installation without routing); the preview makes one webhook each.
_PRESET_CHANNELS: Final[dict[str, tuple[str, ...]]] = {
    "simple": ("app-activity", "errors-alerts"),
    "focused": ("finance-activity", "system-debug", "user-activity"),
    "detailed": ("finance-logs", "system-logs", "errors-debug", "user-activity"),
    "enterprise": ("financial-ops", "system-health", "user-tracking", "critical-alerts", "audit-logs"),
}
from otel_discord.notice import SUPPRESS_NOTIFICATIONS as _SUPPRESS_NOTIFICATIONS  # noqa: E402

_MAX_DEPTH: Final = 8  # nesting of emphasis: deeper input is shown as text
_MAX_REJECTIONS: Final = 20  # the newest are shown; older ones are only counted
_MAX_MESSAGES: Final = 200  # per channel: a preview left running all day stays quick


def preset_channels() -> dict[str, tuple[str, ...]]:
    """Preset name → the channels its routes send to."""
    try:
        from otel_discord.route.presets import PRESETS
    except ImportError:
        return dict(_PRESET_CHANNELS)
    return {name: tuple(preset.channels) for name, preset in PRESETS.items() if preset.channels}


# --- markdown -------------------------------------------------------------------------
# Discord's rules (simple-markdown plus its own), simplified where our messages never go.
_CODE_BLOCK: Final = re.compile(r"```(?:([A-Za-z0-9_+\-.#]+?)\n)?\n*([^\n][\s\S]*?)\n*```")
_INLINE_RULES: Final = (
    ("escape", re.compile(r"\\([^0-9A-Za-z\s])")),
    ("code", re.compile(r"(`+)([\s\S]*?[^`])\1(?!`)")),
    ("autolink", re.compile(r"<(https?://[^\s>]+)>")),
    ("url", re.compile(r"https?://[^\s<]+[^<.,:;\"')\]\s]")),
    ("link", re.compile(r"\[((?:\\[\s\S]|[^\[\]\\])*)\]\(<?(https?://[^\s()<>]+)>?\)")),
    ("user", re.compile(r"<@!?(\d{1,20})>")),
    ("role", re.compile(r"<@&(\d{1,20})>")),
    ("channel", re.compile(r"<#(\d{1,20})>")),
    ("everyone", re.compile(r"@(everyone|here)\b")),
    ("time", re.compile(r"<t:(-?\d{1,13})(?::([tTdDfFR]))?>")),
    ("emoji", re.compile(r"<a?:(\w{2,32}):\d{1,20}>")),
    ("strong", re.compile(r"\*\*([\s\S]+?)\*\*(?!\*)")),
    ("underline", re.compile(r"__([\s\S]+?)__(?!_)")),
    ("em", re.compile(r"\*(?=\S)([\s\S]*?\S)\*(?!\*)|\b_((?:__|\\[\s\S]|[^\\_])+?)_\b")),
    ("strike", re.compile(r"~~([\s\S]+?)~~")),
    ("spoiler", re.compile(r"\|\|([\s\S]+?)\|\|")),
)
_WRAP: Final = {"strong": "strong", "underline": "u", "em": "em", "strike": "s"}
_SPECIAL: Final = re.compile(r"[\\`<h\[@*_~|]")
_BLOCK: Final = re.compile(r"^(?:(>>> |> )|(#{1,3}) |(-#) |([-*]) )(.*)$")


def _link(url: str, label_html: str) -> str:
    return (
        f'<a class="md-link" href="{html.escape(url, quote=True)}" target="_blank" '
        f'rel="noopener noreferrer nofollow">{label_html}</a>'
    )


def _timestamp_text(seconds: str, style: str | None) -> str:
    try:
        moment = datetime.fromtimestamp(int(seconds), tz=UTC).astimezone()
    except (OverflowError, OSError, ValueError):
        return seconds
    formats = {"t": "%H:%M", "T": "%H:%M:%S", "d": "%d/%m/%Y", "D": "%d %B %Y", "F": "%A, %d %B %Y %H:%M"}
    return moment.strftime(formats.get(style or "f", "%d %B %Y %H:%M"))


def _inline_rule(name: str, match: re.Match[str], depth: int) -> str:
    group = match.group
    if name == "escape":
        return html.escape(group(1))
    if name == "code":
        return f'<code class="md-code">{html.escape(group(2).strip() or group(2))}</code>'
    if name in ("autolink", "url"):
        url = group(1) if name == "autolink" else group(0)
        return _link(url, html.escape(url))
    if name == "link":
        return _link(group(2), render_inline(group(1), depth + 1))
    if name in ("user", "role", "channel"):
        label = {"user": f"@user-{group(1)}", "role": f"@role-{group(1)}", "channel": f"#channel-{group(1)}"}[name]
        return f'<span class="mention" data-mention="{name}">{html.escape(label)}</span>'
    if name == "everyone":
        return f'<span class="mention" data-mention="everyone">@{group(1)}</span>'
    if name == "time":
        return f'<span class="md-time">{html.escape(_timestamp_text(group(1), group(2)))}</span>'
    if name == "emoji":
        return f'<span class="md-emoji">:{html.escape(group(1))}:</span>'
    inner = render_inline(next(g for g in match.groups() if g is not None), depth + 1)
    if name == "spoiler":
        return f'<span class="spoiler" title="spoiler">{inner}</span>'
    return f"<{_WRAP[name]}>{inner}</{_WRAP[name]}>"


def render_inline(text: str, depth: int = 0) -> str:
    """Discord's inline markdown (emphasis, code, links, mentions, escapes) as safe HTML."""
    if depth > _MAX_DEPTH:
        return html.escape(text)
    out: list[str] = []
    pos, end = 0, len(text)
    while pos < end:
        special = _SPECIAL.search(text, pos)
        if special is None:
            out.append(html.escape(text[pos:]))
            break
        if special.start() > pos:
            out.append(html.escape(text[pos : special.start()]))
            pos = special.start()
        for name, rule in _INLINE_RULES:
            match = rule.match(text, pos)
            if match is not None and match.end() > pos:
                out.append(_inline_rule(name, match, depth))
                pos = match.end()
                break
        else:
            out.append(html.escape(text[pos]))
            pos += 1
    return "".join(out)


def _render_lines(text: str, quotes: bool = True) -> str:
    """Block rules line by line (quotes, headers, subtext, bullets); other lines stay inline.

    Discord does not nest quotes, so inside one ``>`` is text (and hostile input cannot
    recurse deeply).
    """
    parts: list[str] = []
    paragraph: list[str] = []
    quote: list[str] = []

    def flush() -> None:
        if any(paragraph):
            parts.append(f'<span class="md-p">{render_inline(chr(10).join(paragraph))}</span>')
        paragraph.clear()
        if quote:
            parts.append(f'<blockquote class="md-quote">{_render_lines(chr(10).join(quote), False)}</blockquote>')
            quote.clear()

    lines = text.split("\n")
    for index, line in enumerate(lines):
        block = _BLOCK.match(line)
        if block is None or (block.group(1) and not quotes):
            if quote:
                flush()
            paragraph.append(line)
            continue
        marker, heading, subtext, bullet, rest = block.groups()
        if marker == ">>> ":
            flush()
            quote.extend([rest, *lines[index + 1 :]])
            break
        if marker:
            if paragraph:
                flush()
            quote.append(rest)
            continue
        flush()
        if heading:
            parts.append(f'<div class="md-h{len(heading)}">{render_inline(rest)}</div>')
        elif subtext:
            parts.append(f'<div class="md-subtext">{render_inline(rest)}</div>')
        else:
            parts.append(f'<div class="md-li">{render_inline(rest)}</div>')
    flush()
    return "".join(parts)


def render_markdown(text: str, *, blocks: bool = True) -> str:
    """Render Discord markdown as HTML that cannot carry markup of its own.

    Code blocks (with a ``data-lang``), then, with ``blocks``, the line rules that
    Discord applies in descriptions and message content (not in titles or field names).
    """
    out: list[str] = []
    pos = 0
    for match in _CODE_BLOCK.finditer(text):
        before = text[pos : match.start()].removesuffix("\n")
        out.append(_render_lines(before) if blocks else render_inline(before))
        lang = match.group(1) or ""
        out.append(
            f'<pre class="md-codeblock" data-lang="{html.escape(lang, quote=True)}">'
            f"<code>{html.escape(match.group(2))}</code></pre>"
        )
        pos = match.end()
        if text.startswith("\n", pos):
            pos += 1
    rest = text[pos:]
    out.append(_render_lines(rest) if blocks else render_inline(rest))
    return "".join(out)


# --- messages -------------------------------------------------------------------------


def _hex(color: Any) -> str | None:
    if isinstance(color, int) and not isinstance(color, bool) and 0 <= color <= 0xFFFFFF:
        return f"#{color:06x}"
    return None


def _when(iso_text: Any) -> str:
    try:
        moment = datetime.fromisoformat(str(iso_text).replace("Z", "+00:00")).astimezone()
    except ValueError:
        return ""
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _media_url(url: Any, files: dict[str, str]) -> str | None:
    """An image URL the page may load: http(s), or ``attachment://name`` → the uploaded file."""
    if not isinstance(url, str):
        return None
    if url.startswith("attachment://"):
        return files.get(url.removeprefix("attachment://"))
    return url if url.startswith(("http://", "https://")) else None


def _img(url: Any, files: dict[str, str], css: str, alt: str = "") -> str:
    src = _media_url(url, files)
    if src is None:
        return ""
    return f'<img class="{css}" src="{html.escape(src, quote=True)}" alt="{html.escape(alt, quote=True)}">'


def field_columns(fields: Sequence[dict[str, Any]], per_row: int = 3) -> list[tuple[int, int]]:
    """Discord's field grid on 12 columns: inline fields share a row, up to ``per_row``
    (2 beside a thumbnail), evenly; other fields take a row of their own. ``(start, end)`` each."""
    spans: list[tuple[int, int]] = []
    row: list[int] = []

    def close_row() -> None:
        width = 12 // len(row)
        spans.extend((1 + i * width, 1 + (i + 1) * width) for i in range(len(row)))
        row.clear()

    for index, item in enumerate(fields):
        if item.get("inline"):
            row.append(index)
            if len(row) == per_row:
                close_row()
            continue
        if row:
            close_row()
        spans.append((1, 13))
    if row:
        close_row()
    return spans


def render_embed(embed: dict[str, Any], files: dict[str, str]) -> str:
    """One embed as Discord draws it; ``files`` maps attachment names to their URLs."""
    color = _hex(embed.get("color"))
    style = f' style="border-left-color:{color}"' if color else ""
    parts: list[str] = []
    author = embed.get("author") if isinstance(embed.get("author"), dict) else None
    if author and author.get("name"):
        name = html.escape(str(author["name"]))
        if str(author.get("url") or "").startswith(("http://", "https://")):
            name = _link(str(author["url"]), name)
        parts.append(
            f'<div class="embed-author">{_img(author.get("icon_url"), files, "embed-author-icon")}'
            f"<span>{name}</span></div>"
        )
    if embed.get("title"):
        title = render_inline(str(embed["title"]))
        url = str(embed.get("url") or "")
        linked = _link(url, title) if url.startswith(("http://", "https://")) else title
        parts.append(f'<div class="embed-title">{linked}</div>')
    if embed.get("description"):
        parts.append(f'<div class="embed-description md">{render_markdown(str(embed["description"]))}</div>')
    fields = [f for f in embed.get("fields") or [] if isinstance(f, dict)]
    thumbnail = embed.get("thumbnail") if isinstance(embed.get("thumbnail"), dict) else {}
    if fields:
        cells = []
        for item, (start, stop) in zip(fields, field_columns(fields, 2 if thumbnail else 3)):
            cells.append(
                f'<div class="embed-field" style="grid-column:{start} / {stop}">'
                f'<div class="embed-field-name">{render_inline(str(item.get("name", "")))}</div>'
                f'<div class="embed-field-value md">{render_markdown(str(item.get("value", "")))}</div></div>'
            )
        parts.append(f'<div class="embed-fields">{"".join(cells)}</div>')
    image = embed.get("image") if isinstance(embed.get("image"), dict) else {}
    parts.append(_img(image.get("url"), files, "embed-image", "embed image"))
    footer = embed.get("footer") if isinstance(embed.get("footer"), dict) else {}
    stamp = _when(embed["timestamp"]) if embed.get("timestamp") else ""
    if footer.get("text") or stamp:
        text = " • ".join(html.escape(p) for p in (str(footer.get("text") or ""), stamp) if p)
        parts.append(
            f'<div class="embed-footer">{_img(footer.get("icon_url"), files, "embed-footer-icon")}'
            f"<span>{text}</span></div>"
        )
    thumb = _img(thumbnail.get("url"), files, "embed-thumbnail", "thumbnail")
    return (
        f'<div class="embed"{style} data-color="{color or ""}"><div class="embed-main">{"".join(parts)}</div>'
        f"{thumb}</div>"
    )


def render_message(message: dict[str, Any]) -> str:
    """A message object (``DiscordServer.message_json``) as Discord's client shows it."""
    author = str((message.get("author") or {}).get("username") or "webhook")
    files = {a["filename"]: a["url"] for a in message.get("attachments") or []}
    used = {
        str(u).removeprefix("attachment://")
        for e in message.get("embeds") or []
        for u in _embed_urls(e)
        if str(u).startswith("attachment://")
    }
    edited = message.get("edited_timestamp")
    silent = bool(int(message.get("flags") or 0) & _SUPPRESS_NOTIFICATIONS)
    pings = [f"@user-{u['id']}" for u in message.get("mentions") or []]
    pings += [f"@role-{r}" for r in message.get("mention_roles") or []]
    pings += ["@everyone"] if message.get("mention_everyone") else []
    badges = []
    if silent:
        badges.append('<span class="badge silent" title="SUPPRESS_NOTIFICATIONS: no phone buzzes">🔕 silent</span>')
    if pings:
        badges.append(f'<span class="badge pings" title="who is notified">🔔 {html.escape(", ".join(pings))}</span>')
    # Discord writes "(edited)" after the text, or after the embeds when there is none.
    marker = f'<span class="edited" title="{html.escape(_when(edited))}">(edited)</span>' if edited else ""
    body = [
        f'<div class="msg-content md">{render_markdown(str(message["content"]))}{marker}</div>'
        if message.get("content")
        else ""
    ]
    body += [render_embed(e, files) for e in message.get("embeds") or [] if isinstance(e, dict)]
    for attachment in message.get("attachments") or []:
        if attachment["filename"] in used:
            continue
        url = html.escape(attachment["url"], quote=True)
        if str(attachment.get("content_type", "")).startswith("image/"):
            body.append(f'<img class="msg-attachment" src="{url}" alt="{html.escape(attachment["filename"])}">')
        else:
            body.append(f'<a class="msg-file" href="{url}">📎 {html.escape(attachment["filename"])}</a>')
    if marker and not message.get("content"):
        body.append(marker)
    raw = html.escape(json.dumps(message, indent=2, ensure_ascii=False))
    return (
        f'<article class="msg" data-id="{html.escape(str(message["id"]))}" '
        f'data-version="{html.escape(_version(message), quote=True)}">'
        f'<div class="avatar" aria-hidden="true">{html.escape(author[:1].upper())}</div>'
        f'<div class="msg-main"><div class="msg-header"><span class="author">{html.escape(author)}</span>'
        f'<span class="app-tag">APP</span><time>{html.escape(_when(message.get("timestamp")))}</time>'
        f"{''.join(badges)}</div>{''.join(body)}"
        f'<details class="raw"><summary>JSON</summary><pre>{raw}</pre></details></div></article>'
    )


def _version(message: dict[str, Any]) -> str:
    """Changes on every edit, so the page knows which messages to redraw."""
    return str(message.get("edited_timestamp") or "0")


def _embed_urls(embed: Any) -> list[Any]:
    if not isinstance(embed, dict):
        return []
    return [
        (embed.get(key) or {}).get(attr)
        for key, attr in (("image", "url"), ("thumbnail", "url"), ("author", "icon_url"), ("footer", "icon_url"))
        if isinstance(embed.get(key), dict)
    ]


# --- the preview ----------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """What the preview received: messages per channel, embeds, edits, 429s, rejections."""

    messages: dict[str, int]
    embeds: int
    edits: int
    rate_limited: int
    rejected: int

    @property
    def total(self) -> int:
        return sum(self.messages.values())

    def line(self) -> str:
        per_channel = ", ".join(f"#{name} {count}" for name, count in self.messages.items() if count)
        return (
            f"{self.total} message{'s' if self.total != 1 else ''}"
            f"{f' ({per_channel})' if per_channel else ''}, {self.embeds} embed{'s' if self.embeds != 1 else ''},"
            f" {self.edits} edited, {self.rate_limited} rate-limited (429), {self.rejected} rejected"
        )


def env_name(channel: str) -> str:
    """``finance-activity`` → ``OTEL_EXPORTER_DISCORD_WEBHOOK_URL_FINANCE_ACTIVITY``."""
    return "OTEL_EXPORTER_DISCORD_WEBHOOK_URL_" + re.sub(r"[^A-Z0-9]", "_", channel.upper())


class Preview:
    """A ``DiscordServer`` with the preview page mounted and one webhook per channel."""

    def __init__(
        self, server: DiscordServer, title: str = "otel-discord preview", webhook_name: str = "Captain Hook"
    ) -> None:
        self.server = server
        self.title = title
        self.webhook_name = webhook_name  # Discord's own default name for a new webhook
        self.webhooks: dict[str, WebhookInfo] = {}
        server.add_route("GET", "/", self._page)
        server.add_route("GET", STATE_PATH, self._state)
        server.add_route("GET", STATIC_PREFIX + "*", self._static)
        # Browsers ask for it on their own; unanswered it would be logged as a rejected API call.
        server.add_route("GET", "/favicon.ico", lambda request: Response(204, headers={"Via": ""}))

    @classmethod
    def start(
        cls,
        channels: Sequence[str] = (DEFAULT_CHANNEL,),
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        webhook_name: str = "Captain Hook",
        **server_options: Any,
    ) -> Preview:
        """Start a server (Discord's real rate limits by default) with one webhook per channel."""
        preview = cls(DiscordServer(host, port, **server_options).start(), webhook_name=webhook_name)
        for channel in dict.fromkeys(channels):
            preview.add_channel(channel)
        return preview

    def add_channel(self, channel: str) -> WebhookInfo:
        hook = self.webhooks.get(channel) or self.server.create_webhook(channel, name=self.webhook_name)
        self.webhooks[channel] = hook
        return hook

    def stop(self) -> None:
        self.server.stop()

    @property
    def url(self) -> str:
        return self.server.base_url + "/"

    def env(self) -> dict[str, str]:
        """The variables that point otel-discord at these webhooks.

        The ``default`` channel (else the first) is ``OTEL_EXPORTER_DISCORD_WEBHOOK_URL``;
        every other channel gets its ``…_WEBHOOK_URL_<CHANNEL>`` variable.
        """
        if not self.webhooks:
            return {}
        default = DEFAULT_CHANNEL if DEFAULT_CHANNEL in self.webhooks else next(iter(self.webhooks))
        env = {"OTEL_EXPORTER_DISCORD_WEBHOOK_URL": self.webhooks[default].url}
        env.update({env_name(name): hook.url for name, hook in self.webhooks.items() if name != default})
        env["OTEL_EXPORTER_DISCORD_ALLOWED_HOSTS"] = self.server.host_port
        return env

    def summary(self) -> Summary:
        messages = self.server.messages()
        per_channel = dict.fromkeys(self.server.channels(), 0)
        for message in messages:
            per_channel[message.channel] = per_channel.get(message.channel, 0) + 1
        stats = self.server.stats()
        return Summary(
            per_channel,
            sum(len(m.embeds) for m in messages),
            sum(1 for m in messages if m.edits),
            sum(stats["rate_limited"].values()) + stats["banned"],
            stats["rejected"],
        )

    # ------------------------------------------------------------------ state and page
    def state(self, since: int | None = None) -> dict[str, Any]:
        """The page's data; with ``since`` equal to the current revision, only the revision."""
        revision = self.server.revision  # read first: a change while we collect shows next poll
        if since is not None and since == revision:
            return {"revision": revision}
        server = self.server
        channels: dict[str, list[str]] = {name: [] for name in server.channels()}
        for message in server.messages():
            channels.setdefault(message.channel, []).append(message.id)
        rejected = server.rejected()
        stats = server.stats()
        return {
            "revision": revision,
            "channels": [
                {"name": name, "total": len(ids), "messages": [self._entry(i) for i in ids[-_MAX_MESSAGES:]]}
                for name, ids in channels.items()
            ],
            "stats": stats,
            "rejected": [
                {"method": r.method, "path": r.path, "status": r.status, "error": r.error, "payload": r.payload}
                for r in rejected[-_MAX_REJECTIONS:][::-1]
            ],
        }

    def _entry(self, message_id: str) -> dict[str, Any]:
        as_json = self.server.message_json(message_id)
        return {"id": message_id, "version": _version(as_json), "html": render_message(as_json), "json": as_json}

    def page(self) -> str:
        """The whole page, already filled with the current state (the script keeps it live)."""
        template = resources.files("otel_discord.testing").joinpath("static", "index.html").read_text("utf-8")
        state = self.state()
        columns = "".join(
            f'<section class="channel{"" if c["messages"] else " empty"}" '
            f'data-channel="{html.escape(c["name"], quote=True)}">'
            f'<h2><span class="hash">#</span>{html.escape(c["name"])}</h2><div class="messages">'
            + "".join(m["html"] for m in c["messages"])
            + "</div></section>"
            for c in state["channels"]
        )
        values = {
            "title": html.escape(self.title),
            "revision": str(state["revision"]),
            "columns": columns,
            "hooks": html.escape(", ".join(f"#{n} → {h.masked_url}" for n, h in self.webhooks.items())),
        }
        return re.sub(r"\{\{(\w+)\}\}", lambda m: values[m.group(1)], template)

    # ------------------------------------------------------------------ routes
    def _page(self, request: Request) -> Response:
        return Response(200, raw=self.page().encode(), content_type="text/html; charset=utf-8", headers=_page_headers())

    def _state(self, request: Request) -> Response:
        since = request.query.get("since", "")
        state = self.state(int(since) if since.isdigit() else None)
        return Response(
            200,
            raw=json.dumps(state).encode(),
            content_type="application/json",
            headers={**_page_headers(), "Cache-Control": "no-store"},
        )

    def _static(self, request: Request) -> Response:
        name = request.path.removeprefix(STATIC_PREFIX)
        if name not in _STATIC:  # a fixed list: no path ever reaches the file system
            return Response(404, {"code": 0, "message": "404: Not Found"})
        data = resources.files("otel_discord.testing").joinpath("static", name).read_bytes()
        return Response(200, raw=data, content_type=_STATIC[name], headers=_page_headers())


def _page_headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": _CSP,
        "X-Content-Type-Options": "nosniff",
        "Via": "",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }
