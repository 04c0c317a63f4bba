"""How a business event reads: built-in templates, overrides from the config file, link templates.

A template is made of format strings over the event's attributes, e.g.
``"Invoice #{invoice.number} created"``. Formatting is deliberately not Python's
``str.format``: a placeholder is an attribute *name* looked up literally (no
attribute access, no indexing), and the only format specs are a fixed vocabulary
(``money``, ``count``, ``ms``, ``seconds``, ``bytes``, ``upper``, ``lower``), so a
config file or an attribute value cannot reach into objects or ask for a
gigabyte of padding. Templates are parsed once, when the exporter starts, and a
mistake is a ``ConfigError`` naming the template.

A description is a list of parts joined with " - ". A built-in part whose
attributes are missing is left out ("Client: ?" helps nobody); in a template
written as one string, a missing attribute renders as ``?``.
"""

from __future__ import annotations

import fnmatch
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final
from urllib.parse import quote

from otel_discord.config import ConfigError
from otel_discord.detect.money import format_bytes, format_count, format_money, format_ms, format_seconds

MISSING: Final = "?"
SEPARATOR: Final = " - "
_MAX_VALUE: Final = 1024  # one substituted value; render cuts the whole text to Discord's limits
_URL_PREFIX: Final = re.compile(r"^https?://[^/{}\s]+/")


# --- safe formatting -------------------------------------------------------------------


def _number_text(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else format(value, ".15g")


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return _number_text(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(_plain(item) for item in value)
    return str(value)


_NUMBERS: Final[dict[str, Callable[[Any, str], str | None]]] = {
    "count": format_count,
    "ms": format_ms,
    "seconds": format_seconds,
    "bytes": format_bytes,
}
_TEXTS: Final[dict[str, Callable[[str], str]]] = {"upper": str.upper, "lower": str.lower}
SPECS: Final = ("money", *_NUMBERS, *_TEXTS)


@dataclass(frozen=True, slots=True)
class Text:
    """A parsed format string: ``(literal, key, spec)`` pieces; ``key`` None for trailing text."""

    source: str
    pieces: tuple[tuple[str, str | None, str], ...]

    @classmethod
    def parse(cls, source: Any, where: str) -> Text:
        """Parse ``source``; a ``ConfigError`` naming ``where`` on any mistake."""
        if not isinstance(source, str):
            raise ConfigError(f"{where}: must be text, got {type(source).__name__}")
        pieces = []
        try:
            parsed = list(string.Formatter().parse(source))
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc} in {source!r} (write {{{{ and }}}} for literal braces)") from None
        for literal, key, spec, conversion in parsed:
            if key is not None:
                if not key.strip():
                    raise ConfigError(f"{where}: an empty {{}} needs an attribute name, e.g. {{invoice.number}}")
                if conversion:
                    raise ConfigError(f"{where}: conversions like !{conversion} are not supported")
                if spec and spec not in SPECS:
                    raise ConfigError(f"{where}: unknown format {spec!r} (use one of: {', '.join(SPECS)})")
            pieces.append((literal, key.strip() if key else None, spec or ""))
        return cls(source, tuple(pieces))

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(key for _, key, _ in self.pieces if key is not None)

    def render(self, values: Mapping[str, Any], style: str, *, quote_values: bool = False) -> str:
        out = []
        for literal, key, spec in self.pieces:
            out.append(literal)
            if key is None:
                continue
            value = values.get(key)
            text = MISSING if _absent(value) else format_value(key, value, spec, values, style)
            text = text[:_MAX_VALUE]
            out.append(quote(text, safe="") if quote_values else text)
        return "".join(out)


def _absent(value: Any) -> bool:
    return value is None or value == "" or value == () or value == []


def format_value(key: str, value: Any, spec: str, values: Mapping[str, Any], style: str) -> str:
    """One placeholder's text; ``money`` reads the currency from ``<prefix>.currency`` beside ``key``."""
    if spec == "money":
        prefix = key.rsplit(".", 1)[0] if "." in key else key
        return format_money(value, values.get(f"{prefix}.currency"), style)
    if spec in _NUMBERS:
        return _NUMBERS[spec](value, style) or _plain(value)
    if spec in _TEXTS:
        return _TEXTS[spec](_plain(value))
    return _plain(value)


# --- templates ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Part:
    """A piece of a description or a field value.

    ``optional``: left out when one of its attributes is missing (else ``?``).
    ``when``/``unless``: an attribute that must be truthy / must not be truthy.
    """

    text: Text
    optional: bool = True
    when: str | None = None
    unless: str | None = None

    def render(self, values: Mapping[str, Any], style: str) -> str | None:
        if self.when is not None and not _truthy(values.get(self.when)):
            return None
        if self.unless is not None and _truthy(values.get(self.unless)):
            return None
        if self.optional and any(_absent(values.get(key)) for key in self.text.keys):
            return None
        return self.text.render(values, style)


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("", "0", "false", "no")
    return bool(value)


@dataclass(frozen=True, slots=True)
class Template:
    """Title, description parts and fields (name, part) of one event."""

    title: Text
    description: tuple[Part, ...] = ()
    fields: tuple[tuple[str, Part], ...] = ()

    def render(self, values: Mapping[str, Any], style: str) -> tuple[str, str, list[tuple[str, str]]]:
        """``(title, description, [(field name, value)])``; an empty description means "use the message"."""
        parts = [text for part in self.description if (text := part.render(values, style))]
        fields = [(name, text) for name, part in self.fields if (text := part.render(values, style))]
        return self.title.render(values, style), SEPARATOR.join(parts), fields


def _p(source: str, **options: Any) -> Part:
    return Part(Text.parse(source, "built-in template"), **options)


def _t(title: str, *parts: Part, fields: tuple[tuple[str, Part], ...] = ()) -> Template:
    return Template(Text.parse(title, "built-in template"), tuple(parts), fields)


_NUMBER = "Invoice #{invoice.number}"
_AMOUNT = _p("Amount: {invoice.amount:money}")
_CLIENT = _p("Client: {invoice.client}")
_DUE = ("Due", _p("{invoice.due_date}"))
_IMPORT_FIELDS = (
    ("Rows read", _p("{import.rows_read:count}")),
    ("Imported", _p("{import.rows_imported:count}")),
    ("Rejected", _p("{import.rows_rejected:count}")),
    ("First problems", _p("{import.errors}")),
)

#: The built-in template of each known event (its title: emoji + the name in capitals).
BUILT_IN: Final[dict[str, Template]] = {
    "invoice.created": _t("🟢 INVOICE_CREATED", _p(f"{_NUMBER} created"), _AMOUNT, _CLIENT, fields=(_DUE,)),
    "invoice.updated": _t(
        "✏️ INVOICE_UPDATED",
        _p(f"{_NUMBER} updated"),
        _p("Changed: {invoice.changed_fields}"),
        _p("Amount: {invoice.previous_amount:money} → {invoice.amount:money}"),
        _p("Amount: {invoice.amount:money}", unless="invoice.previous_amount"),
        _CLIENT,
    ),
    "invoice.deleted": _t(
        "🗑️ INVOICE_DELETED",
        _p(f"{_NUMBER} deleted"),
        _AMOUNT,
        _CLIENT,
        _p("It was already paid", when="invoice.was_paid"),
    ),
    "invoice.paid": _t(
        "💶 INVOICE_PAID",
        _p(f"{_NUMBER} paid"),
        _AMOUNT,
        _CLIENT,
        _p("{invoice.days_late} days late", when="invoice.paid_late"),
    ),
    "invoice.overdue": _t(
        "⏰ INVOICE_OVERDUE",
        _p(f"{_NUMBER} is {{invoice.days_overdue}} days overdue"),
        _AMOUNT,
        _CLIENT,
        fields=(_DUE,),
    ),
    "btw.payment.updated": _t(
        "🏛️ BTW_PAYMENT_UPDATED",
        _p("BTW {btw.quarter} payment updated"),
        _p("Manual: {btw.manual_amount:money}"),
        _p("Calculated: {btw.calculated_amount:money}"),
        _p("Difference: {btw.difference:money}"),
        fields=(("Net invoiced", _p("{btw.net_invoiced:money}")),),
    ),
    "import.completed": _t(
        "📥 IMPORT_COMPLETED",
        _p("Imported {import.rows_imported:count} of {import.rows_read:count} rows from {import.filename}"),
        _p("Amount: {import.amount:money}"),
        fields=_IMPORT_FIELDS,
    ),
    "import.failed": _t(
        "❌ IMPORT_FAILED",
        _p("Import of {import.filename} failed"),
        _p("{import.rows_rejected:count} of {import.rows_read:count} rows rejected"),
        fields=_IMPORT_FIELDS,
    ),
    "export.downloaded": _t(
        "📤 EXPORT_DOWNLOADED",
        _p("Export {export.filename} downloaded"),
        _p("{export.rows:count} rows"),
        _p("Total: {export.amount:money}"),
    ),
    "auth.login": _t("🔓 AUTH_LOGIN", _p("{user.name} logged in"), _p("From: {client.address}")),
    "auth.login_failed": _t(
        "⛔ AUTH_LOGIN_FAILED",
        _p("Failed login for {user.name}"),
        _p("From: {client.address}"),
        _p("Reason: {auth.reason}"),
    ),
    "auth.logout": _t("👋 AUTH_LOGOUT", _p("{user.name} logged out")),
    "auth.session_timeout": _t(
        "⌛ AUTH_SESSION_TIMEOUT",
        _p("Session of {user.name} expired after {auth.idle_seconds:seconds} idle"),
    ),
    "form.submitted": _t(
        "📝 FORM_SUBMITTED",
        _p("Form {form.name} submitted"),
        _p("Topic: {form.topic}"),
        _p("{form.message_length:count} characters"),
    ),
    "job.completed": _t(
        "✅ JOB_COMPLETED",
        _p("Job {job.name} completed in {job.duration_ms:ms}"),
        _p("Output: {job.output}"),
        _p("Size: {job.size_bytes:bytes}"),
        _p("{job.pruned} old copies pruned", when="job.pruned"),
    ),
    "job.failed": _t(
        "❌ JOB_FAILED",
        _p("Job {job.name} failed after {job.duration_ms:ms}"),
        _p("Error: {error.type}"),
    ),
    "config.changed": _t(
        "⚙️ CONFIG_CHANGED",
        _p("Setting {config.key} changed"),
        _p("{config.previous_value} → {config.value}"),
        _p("By {user.name}"),
    ),
    "schema.changed": _t(
        "🛠️ SCHEMA_CHANGED",
        _p("{schema.count} schema change(s) on {db.namespace}"),
        _p("{schema.summary}"),
    ),
    "suspicious.duplicate_entry": _t(
        "🚩 SUSPICIOUS_DUPLICATE_ENTRY",
        _p("Possible duplicate entry: #{duplicate.number} repeats #{duplicate.previous_number}"),
        _p("Client: {duplicate.client}"),
        _p("Amount: {duplicate.amount:money}"),
        _p("{duplicate.seconds_apart:seconds} apart"),
    ),
    "suspicious.failed_logins": _t(
        "🚨 SUSPICIOUS_FAILED_LOGINS",
        _p("{auth.failures} failed logins from {client.address} within {auth.window_seconds:seconds}"),
        _p("Users tried: {auth.usernames}"),
    ),
}

HIGH_VALUE_TITLE: Final = Text.parse("💰 HIGH_VALUE_TRANSACTION", "built-in template")
HIGH_VALUE_NOTE: Final = _p("⚠️ Amount exceeds threshold ({high_value.threshold:money})")
_GENERIC_EMOJI: Final = {"DEBUG": "⚪", "INFO": "🔵", "SUCCESS": "🟢", "WARNING": "🟠", "ERROR": "🔴", "CRITICAL": "💥"}


def display_name(event_name: str) -> str:
    """``invoice.created`` → ``INVOICE_CREATED``."""
    return re.sub(r"[^0-9A-Za-z]+", "_", event_name).strip("_").upper() or "EVENT"


def generic(event_name: str, severity_name: str) -> Template:
    """The template of an event nobody wrote one for: its name as title, its message as description."""
    emoji = _GENERIC_EMOJI.get(severity_name, "🔵")
    title = f"{emoji} {display_name(event_name)}".replace("{", "{{").replace("}", "}}")
    return Template(Text.parse(title, "event name"))


# --- overrides from the config file -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Override:
    """What the config file changes for events matching ``pattern``; None keeps the built-in."""

    pattern: str
    title: Text | None = None
    description: tuple[Part, ...] | None = None
    fields: tuple[tuple[str, Part], ...] | None = None

    def apply(self, base: Template) -> Template:
        return replace(
            base,
            title=self.title if self.title is not None else base.title,
            description=self.description if self.description is not None else base.description,
            fields=self.fields if self.fields is not None else base.fields,
        )


def _specificity(pattern: str) -> tuple[bool, int]:
    """Exact names first, then the glob with the most literal characters."""
    wild = any(ch in pattern for ch in "*?[")
    return (not wild, len(pattern.replace("*", "").replace("?", "")))


class _Patterns:
    """Event-name patterns (exact or ``fnmatch`` globs), most specific first, with a match cache."""

    def __init__(self, items: Mapping[str, Any]) -> None:
        self._items = sorted(items.items(), key=lambda kv: _specificity(kv[0]), reverse=True)
        self._cache: dict[str, Any] = {}

    def match(self, name: str) -> Any:
        if name not in self._cache:
            found = next((value for pattern, value in self._items if fnmatch.fnmatchcase(name, pattern)), None)
            if len(self._cache) < 1024:  # event names are few; a flood of odd ones must not grow this
                self._cache[name] = found
            return found
        return self._cache[name]


def _parse_override(pattern: str, spec: Any) -> Override:
    where = f"config file templates.{pattern}"
    if isinstance(spec, str):
        spec = {"description": spec}
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: must be a mapping with title, description and/or fields")
    unknown = set(spec) - {"title", "description", "fields"}
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    title = Text.parse(spec["title"], f"{where}.title") if "title" in spec else None
    description = None
    if "description" in spec:
        raw = spec["description"]
        if isinstance(raw, list):
            description = tuple(Part(Text.parse(p, f"{where}.description[{i}]")) for i, p in enumerate(raw))
        else:
            description = (Part(Text.parse(raw, f"{where}.description"), optional=False),)
    fields = None
    if "fields" in spec:
        raw_fields = spec["fields"]
        if not isinstance(raw_fields, Mapping):
            raise ConfigError(f"{where}.fields: must be a mapping of field name → template")
        fields = tuple(
            (str(name), Part(Text.parse(value, f"{where}.fields.{name}"))) for name, value in raw_fields.items()
        )
    return Override(pattern, title, description, fields)


def _section(raw_file: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    section = raw_file.get(key) or {}
    if not isinstance(section, Mapping):
        raise ConfigError(f"config file key {key!r} must be a mapping of event name → template")
    return section


class Templates:
    """Looks up the template and the link of an event; built from the config file once."""

    def __init__(self, overrides: Mapping[str, Override] | None = None, links: Mapping[str, Text] | None = None):
        self._overrides = _Patterns(overrides or {})
        self._links = _Patterns(links or {})

    @classmethod
    def from_config(cls, raw_file: Mapping[str, Any]) -> Templates:
        """Read ``templates:`` and ``links:`` from the parsed config file; ``ConfigError`` on mistakes."""
        sections = _section(raw_file, "templates").items()
        overrides = {str(name): _parse_override(str(name), spec) for name, spec in sections}
        links = {}
        for name, url in _section(raw_file, "links").items():
            where = f"config file links.{name}"
            text = Text.parse(url, where)
            if not url.startswith(("http://", "https://")):
                raise ConfigError(f"{where}: must be an http(s) URL")
            if text.keys and not _URL_PREFIX.match(url.split("{", 1)[0]):
                raise ConfigError(f"{where}: placeholders are allowed only after the host, e.g. https://host/x/{{id}}")
            links[str(name)] = text
        return cls(overrides, links)

    def template(self, event_name: str, severity_name: str) -> tuple[Template, bool]:
        """The template for ``event_name`` and whether the config file overrides its title."""
        base = BUILT_IN.get(event_name) or generic(event_name, severity_name)
        override: Override | None = self._overrides.match(event_name)
        if override is None:
            return base, False
        return override.apply(base), override.title is not None

    def link(self, event_name: str, values: Mapping[str, Any], style: str) -> str | None:
        """The event's URL from its link template; None when there is none or an attribute is missing."""
        text: Text | None = self._links.match(event_name)
        if text is None or any(_absent(values.get(key)) for key in text.keys):
            return None
        return text.render(values, style, quote_values=True)
