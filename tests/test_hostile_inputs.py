"""Hostile input: whatever an application puts in its spans and log records, Discord accepts every
payload, nobody is pinged and nothing raises into the application.

Real SDK spans (a ``TracerProvider`` with a synchronous processor around ``DiscordSpanExporter``)
and real log records (``logging`` → ``LoggingHandler`` → ``DiscordLogExporter``) carry text built
from huge strings, every Unicode plane, lone surrogates, control characters, backticks, markdown,
``@everyone``/``@here``, user/role/channel mentions and odd attribute values (nested mappings,
bytes, NaN, huge ints, sequences). Everything goes over real HTTP to the strict local Discord
server, which rejects what Discord would reject. Examples are modest (the suite must stay fast);
the server is shared by the module so the rate limits are paid once.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel_discord import DiscordLogExporter, DiscordSpanExporter
from otel_discord.testing import DiscordServer

EXAMPLES = 75

HOSTILE = [
    "@everyone",
    "@here",
    "@ everyone",
    "@\u200beveryone",
    "<@&123456789012345678>",
    "<@123456789012345678>",
    "<@!123456789012345678>",
    "<#123456789012345678>",
    "</cmd:123456789012345678>",
    "<t:1700000000:R>",
    "```",
    "``",
    "`",
    "```py\nimport os\n```",
    "**bold**",
    "__under__",
    "~~strike~~",
    "||spoiler||",
    "[link](https://evil.example/x)",
    "<https://evil.example>",
    "# Heading",
    "-# small",
    "> quote",
    ">>> ",
    "\x00",
    "\x07",
    "\x1b[31m",
    "\x7f",
    "\u0085",
    "\u2028",
    "\u2029",
    "\r\n",
    "\t",
    "\u202e",
    "\u200b",
    "\ufeff",
    "\ufffd",
    "\ufffe",
    "\uffff",
    "\ud800",
    "\udcff",
    "🙂",
    "👩‍👩‍👧‍👦",
    "🏳️‍🌈",
    "𝕏",
    "\U0001f1f3\U0001f1f1",
    "\U000e0001",
    "\U000f0000",
    "\U0010ffff",
    "Z̷̢̛a̸l̵g̶o̷",
    "%s %d %(x)s",
    "{0}{}",
    "\\",
    "\\`",
    "'\"",
    "</script><script>alert(1)</script>",
    "https://discord.com/api/webhooks/1/abcdefghijklmnop",
    "€ 5.000,00",
    "1e309",
    "-0",
    "NaN",
    "",
]

_piece = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()), max_size=30),
)
_text = st.lists(_piece, max_size=8).map("".join)
hostile_text = st.one_of(
    _text,
    st.tuples(_text, st.integers(1_000, 120_000)).map(lambda t: ((t[0] or "x") * t[1])[: t[1]]),  # huge
)
_scalar = st.one_of(
    hostile_text,
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
)
#: What the SDK accepts as span attributes: scalars and homogeneous sequences of them.
span_value = st.one_of(
    _scalar,
    st.lists(hostile_text, max_size=4),
    st.lists(st.integers(-(2**63), 2**63 - 1), max_size=4),
    st.lists(st.floats(), max_size=4),
)
#: Log attributes are AnyValue: nested mappings, bytes, mixed lists, and huge ints.
log_value = st.recursive(
    st.one_of(_scalar, st.binary(max_size=64), st.none(), st.integers(min_value=2**64, max_value=2**200)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(hostile_text, inner, max_size=3)),
    max_leaves=12,
)
ATTRIBUTE_KEYS = [
    "http.route",
    "url.path",
    "http.target",
    "enduser.id",
    "user_agent.original",
    "client.address",
    "db.statement",
    "db.system",
    "db.query.text",
    "invoice.number",
    "invoice.amount",
    "customer.name",
    "user.email",
    "event.name",
    "event.category",
    "exception.message",
    "code.function",
]
attribute_key = st.one_of(st.sampled_from(ATTRIBUTE_KEYS), hostile_text.filter(lambda k: 0 < len(k) < 200))


class Sandbox:
    """One strict server and one app with both exporters; shared by the module's tests."""

    def __init__(self, tmp: str) -> None:
        self.server = DiscordServer().start()
        hook = self.server.create_webhook("alerts")
        common = dict(allowed_hosts=self.server.host_port, spool_dir=tmp, timeout=5)
        self.spans = DiscordSpanExporter(hook.url, slow_query_ms=0.001, slow_request_ms=0.001, **common)
        self.logs = DiscordLogExporter(hook.url, log_min_level="INFO", log_error_hold_ms=0, **common)
        resource = Resource.create({"service.name": "ozark-finances"})
        self.tracer_provider = TracerProvider(resource=resource)
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.tracer = self.tracer_provider.get_tracer("hostile")
        self.logger_provider = LoggerProvider(resource=resource)
        self.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(self.logs))
        self.handler = LoggingHandler(logger_provider=self.logger_provider)
        self.log = logging.getLogger("hostile.app")
        self.log.propagate = False  # no pytest capture of 100 k-character records
        self.log.setLevel(logging.DEBUG)
        self.log.addHandler(self.handler)

    def flush(self) -> None:
        assert self.spans.force_flush(30_000) and self.logs.force_flush(30_000)

    def close(self) -> None:
        self.log.removeHandler(self.handler)
        self.tracer_provider.shutdown()
        self.logger_provider.shutdown()
        self.server.stop()


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> Iterator[Sandbox]:
    box = Sandbox(str(tmp_path_factory.mktemp("hostile-spool")))
    yield box
    box.close()


def assert_discord_happy(box: Sandbox, at_least: int) -> None:
    box.flush()
    messages = box.server.messages()
    assert box.server.rejected() == []
    assert len(messages) >= at_least
    pinging = [(m.id, m.content[:200], m.pings) for m in messages if m.pings]
    assert pinging == []
    # Mentions in embeds never notify; allowed_mentions must still say "nobody" on every message.
    for message in messages:
        allowed = message.payload.get("allowed_mentions")
        assert isinstance(allowed, dict) and allowed.get("parse") == [], message.payload.get("allowed_mentions")
    # Nothing was given up as undeliverable (a payload the engine could not encode or Discord refused).
    drops = {k: v for k, v in box.spans._pipeline.engine.stats.snapshot().items() if k.startswith("dropped")}
    assert drops in ({}, {"dropped": 0}), drops


def test_nan_infinite_and_huge_amounts_in_a_business_event(sandbox: Sandbox) -> None:
    """Amounts no invoice has: each event still arrives, accepted, without a ping. (First in the
    file: after the property tests the noise cap would rightly hold back more alerts.)"""
    amounts = (math.nan, math.inf, -math.inf, 10**30, -0.0)
    for i, amount in enumerate(amounts):
        sandbox.log.warning(
            "paid",
            extra={
                "event.name": "invoice.paid",
                "invoice.amount": amount,
                "invoice.number": f"@everyone <@&123456789012345678> {i}",
            },
        )
    assert_discord_happy(sandbox, at_least=1)
    assert sum(len(m.embeds) for m in sandbox.server.messages()) >= len(amounts)


_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)


@_SETTINGS
@given(
    name=hostile_text,
    message=hostile_text,
    attributes=st.dictionaries(attribute_key, span_value, max_size=6),
    kind=st.sampled_from([SpanKind.SERVER, SpanKind.CLIENT, SpanKind.INTERNAL]),
    status=st.integers(200, 599),
)
def test_hostile_spans(sandbox: Sandbox, name, message, attributes, kind, status) -> None:
    """A failing span and a slow one with hostile names, messages and attributes; end() never raises."""
    with sandbox.tracer.start_as_current_span(name or "span", kind=kind) as span:
        span.set_attributes({"http.request.method": "GET", "http.response.status_code": status, **attributes})
        span.record_exception(ValueError(message))
        span.add_event("invoice.paid", {"invoice.amount": 12_345.5, "note": message[:2000]})
        span.set_status(Status(StatusCode.ERROR, message[:5000]))


def test_hostile_spans_were_all_accepted(sandbox: Sandbox) -> None:
    """Runs after the property test above (file order): every span's alert arrived, none rejected."""
    assert_discord_happy(sandbox, at_least=1)


@_SETTINGS
@given(
    message=hostile_text,
    extra=st.dictionaries(attribute_key, log_value, max_size=6),
    level=st.sampled_from([logging.WARNING, logging.ERROR, logging.CRITICAL]),
    event=st.one_of(
        st.none(),
        st.sampled_from(["invoice.paid", "invoice.created", "auth.login_failed", "import.failed"]),
        hostile_text,
    ),
    with_exception=st.booleans(),
)
def test_hostile_log_records(sandbox: Sandbox, message, extra, level, event, with_exception) -> None:
    """Business events and errors logged with hostile text and odd ``extra=`` values; logging never raises."""
    extra = {key.replace(".", "_") if key in ("message", "asctime") else key: value for key, value in extra.items()}
    extra = {k: v for k, v in extra.items() if k not in logging.LogRecord("", 0, "", 0, "", (), None).__dict__}
    if event is not None:
        extra["event.name"] = event
    if with_exception:
        try:
            raise RuntimeError(message)
        except RuntimeError:
            sandbox.log.log(level, "%s", message, exc_info=True, extra=extra)
    else:
        sandbox.log.log(level, message, extra=extra)  # the message as a format string: '%' in it too


def test_hostile_log_records_were_all_accepted(sandbox: Sandbox) -> None:
    assert_discord_happy(sandbox, at_least=2)
