"""render_embed: what one notice looks like in Discord, within every limit."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from otel_discord.notice import Category, Field, Kind, Notice, Severity
from otel_discord.render import limits
from otel_discord.render.embed import (
    RenderOptions,
    _enforce_budget,
    render_embed,
    valid_url,
)
from otel_discord.render.escape import ZWSP
from otel_discord.render.limits import embed_size
from otel_discord.render.mask import Masker
from otel_discord.render.style import SEVERITY_COLOR

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
NOON = datetime(2024, 5, 1, 12, 5, 10, tzinfo=UTC).timestamp()
JAEGER = "https://jaeger.example.com/trace/{trace_id}"


def error(**changes: object) -> Notice:
    base = Notice(
        kind=Kind.ERROR,
        severity=Severity.ERROR,
        category=Category.ERROR,
        title="ValueError: kaboom",
        timestamp=NOON,
        service="billing",
        environment="prod",
        host="web-1",
    )
    return base.replace(**changes)


def field(embed: dict, name: str) -> str:
    return next(f["value"] for f in embed.get("fields", []) if f["name"] == name)


def visible(embed: dict) -> str:
    """Every text of the embed a reader sees, with zero-width spaces removed."""
    parts = [embed.get("title", ""), embed.get("description", ""), embed.get("footer", {}).get("text", "")]
    parts += [f["name"] + "\n" + f["value"] for f in embed.get("fields", [])]
    return "\n".join(parts)


def traceback_text(frames: int, message: str = "ValueError: kaboom") -> str:
    lines = ["Traceback (most recent call last):"]
    for i in range(frames):
        lines += [
            f'  File "/app/billing/service_{i}.py", line {i + 10}, in step_{i}',
            f"    result = step_{i + 1}(invoice)",
        ]
    return "\n".join([*lines, message])


class TestTitle:
    def test_category_and_severity_emoji_then_title(self) -> None:
        """An error reads "🚨 🔴 ERROR · ValueError: kaboom"."""
        assert render_embed(error())["title"] == "🚨 🔴 ERROR · ValueError: kaboom"

    def test_business_event_title_is_the_templates_own(self) -> None:
        """A business event's template brings its own emoji, so no second prefix is added."""
        notice = error(
            kind=Kind.EVENT, severity=Severity.SUCCESS, category=Category.INVOICE, title="🟢 INVOICE_CREATED"
        )
        assert render_embed(notice)["title"] == "🟢 INVOICE\\_CREATED"

    def test_untitled_business_event_falls_back_to_the_prefix(self) -> None:
        """A business event without title still says what it is about."""
        notice = error(kind=Kind.EVENT, severity=Severity.SUCCESS, category=Category.INVOICE, title="")
        assert render_embed(notice)["title"] == "📄 ✅ INVOICE"

    def test_title_is_one_line_and_fits(self) -> None:
        """Newlines collapse to spaces and a long title is cut to 256 with an ellipsis."""
        title = render_embed(error(title="line one\nline two " + "x" * 400))["title"]
        assert "\n" not in title and "line one line two" in title
        assert len(title) == limits.TITLE and title.endswith("…")

    def test_empty_title_keeps_the_prefix(self) -> None:
        """A notice without title still has a readable embed title."""
        assert render_embed(error(title=" \n "))["title"] == "🚨 🔴 ERROR"


class TestDescription:
    def test_message_is_escaped_then_code_block(self) -> None:
        """Markdown in the message does not format, and the code follows in a fenced block."""
        embed = render_embed(
            error(description="**not bold**", code="Traceback...\nValueError: kaboom", code_language="py")
        )
        assert embed["description"] == "\\*\\*not bold\\*\\*\n```py\nTraceback...\nValueError: kaboom\n```"

    def test_backticks_in_an_exception_cannot_close_the_code_block(self) -> None:
        """``` in the exception message stays inside the block; nothing after it renders as markdown."""
        message = "ValueError: bad input ``` **@everyone** [click](https://evil.example) ```"
        embed = render_embed(error(description=message, code=traceback_text(2, message)))
        description = embed["description"]
        fence_start = description.index("```py\n")
        inner = description[fence_start + len("```py\n") :]
        assert inner.endswith("\n```")
        assert "``" not in inner[: -len("\n```")]
        assert "```" not in description[:fence_start]

    def test_slow_query_sql_block(self) -> None:
        """A slow query shows its SQL in an sql code block."""
        notice = error(
            kind=Kind.SLOW_QUERY,
            severity=Severity.WARNING,
            category=Category.PERFORMANCE,
            title="Slow query 2.4 s",
            code="SELECT * FROM invoice WHERE id = ?",
        )
        assert "```sql\nSELECT * FROM invoice WHERE id = ?\n```" in render_embed(notice)["description"]

    def test_huge_trace_keeps_innermost_frames_and_says_so(self) -> None:
        """A 2000-frame trace keeps its last frames and the exception, and says lines were cut."""
        embed = render_embed(error(description="boom", code=traceback_text(2000)))
        description = embed["description"]
        assert description.startswith("boom\n```py\n… ") and "earlier lines cut" in description
        assert description.endswith("in step_1999\n    result = step_2000(invoice)\nValueError: kaboom\n```")
        assert len(description) <= limits.DESCRIPTION and embed_size(embed) <= limits.EMBED_BUDGET

    def test_enormous_trace_counts_every_cut_line(self) -> None:
        """Even a trace of 200,001 lines says exactly how many lines are not shown."""
        code = traceback_text(100_000)
        description = render_embed(error(code=code))["description"]
        body = description[len("```py\n") : -len("\n```")].split("\n")
        assert body[0] == f"… {code.count(chr(10)) + 1 - (len(body) - 1)} earlier lines cut"
        assert body[-1] == "ValueError: kaboom"

    def test_huge_message_and_trace_share_the_space(self) -> None:
        """A giant message is cut so that the trace's innermost lines still show."""
        embed = render_embed(error(description="m" * 10_000, code=traceback_text(500)))
        description = embed["description"]
        assert description.startswith("m" * 100) and "…\n```py\n" in description
        assert description.endswith("ValueError: kaboom\n```") and len(description) <= limits.DESCRIPTION

    def test_no_description_key_when_empty(self) -> None:
        """An empty description is left out rather than sent empty."""
        assert "description" not in render_embed(error())


class TestFields:
    def test_fields_keep_order_and_inline(self) -> None:
        """Notice fields appear in order with their inline flag."""
        embed = render_embed(error(fields=(Field("Route", "/invoices"), Field("User", "42", inline=False))))
        assert embed["fields"][:2] == [
            {"name": "Route", "value": "/invoices", "inline": True},
            {"name": "User", "value": "42", "inline": False},
        ]

    def test_empty_names_and_values_get_placeholders(self) -> None:
        """Discord rejects empty field texts, so placeholders are shown instead."""
        embed = render_embed(error(fields=(Field("", ""), Field("  ", "\n\t"))))
        for item in embed["fields"]:
            assert item["name"].strip() and item["value"].strip()

    def test_long_name_and_value_are_cut_to_their_limits(self) -> None:
        """Field names stay ≤256 and values ≤1024 characters."""
        item = render_embed(error(fields=(Field("n" * 1000, "v" * 5000),)))["fields"][0]
        assert len(item["name"]) <= limits.FIELD_NAME and len(item["value"]) <= limits.FIELD_VALUE
        assert item["value"].endswith("…")

    def test_more_than_25_fields_fold_into_a_last_field(self) -> None:
        """Fields beyond the 25th are summarised in a final "… N more" field."""
        notice = error(fields=tuple(Field(f"k{i}", f"v{i}") for i in range(40)))
        fields = render_embed(notice)["fields"]
        assert len(fields) == limits.FIELDS
        assert fields[-1]["name"] == "… 16 more" and fields[-1]["value"].startswith("k24: v24\nk25: v25")

    def test_many_big_fields_fit_the_budget(self) -> None:
        """100 fields of maximum size still make an embed within budget, description included."""
        notice = error(
            description="why", code=traceback_text(50), fields=tuple(Field("n" * 300, "v" * 2000) for _ in range(100))
        )
        embed = render_embed(notice)
        assert embed_size(embed) <= limits.EMBED_BUDGET and len(embed["fields"]) == limits.FIELDS
        assert "ValueError: kaboom" in embed["description"]

    def test_field_markup_is_escaped(self) -> None:
        """Field names and values cannot carry links or mentions."""
        item = render_embed(error(fields=(Field("[x](https://e.example)", "<@&123> @here"),)))["fields"][0]
        assert item["name"].startswith("\\[x\\]\\(")
        assert "<@&123>" not in item["value"] and "@here" not in item["value"]


class TestTraceAndSeen:
    def test_trace_link_with_template(self) -> None:
        """With a trace URL template the embed links to the trace and shows a short id."""
        embed = render_embed(error(trace_id=TRACE_ID), RenderOptions(trace_url=JAEGER))
        link = JAEGER.format(trace_id=TRACE_ID)
        assert embed["url"] == link
        assert field(embed, "Trace") == f"[4bf92f35…]({link})"

    def test_trace_id_without_template(self) -> None:
        """Without a template the full trace id is shown as copyable code."""
        embed = render_embed(error(trace_id=TRACE_ID))
        assert field(embed, "Trace") == f"`{TRACE_ID}`" and "url" not in embed

    def test_notice_url_wins_over_trace_link(self) -> None:
        """The notice's own link (an invoice page) is the title link."""
        embed = render_embed(
            error(url="https://app.example.com/invoices/1", trace_id=TRACE_ID), RenderOptions(trace_url=JAEGER)
        )
        assert embed["url"] == "https://app.example.com/invoices/1"

    def test_seen_field_for_grouped_notices(self) -> None:
        """A notice seen 37 times says so with first and last time in UTC."""
        first = datetime(2024, 5, 1, 12, 1, 3, tzinfo=UTC).timestamp()
        embed = render_embed(error(count=37, first_seen=first))
        assert field(embed, "Seen") == "×37 · first 12:01:03 UTC · last 12:05:10 UTC"

    def test_no_seen_field_for_a_single_occurrence(self) -> None:
        """count == 1 adds no Seen field."""
        assert "fields" not in render_embed(error())


class TestUrls:
    def test_invalid_urls_are_left_out(self) -> None:
        """Non-http, too long, spaced or host-without-dot URLs are omitted."""
        for url in (
            "javascript:alert(1)",
            "ftp://x.example/a",
            "https://x.example/" + "a" * 2100,
            "https://x.example/a b",
            "http://localhost:16686/trace/1",
            "not a url",
        ):
            assert "url" not in render_embed(error(url=url)), url

    def test_localhost_trace_template_shows_plain_id(self) -> None:
        """A trace template Discord would reject gives no link, only the id."""
        embed = render_embed(
            error(trace_id=TRACE_ID), RenderOptions(trace_url="http://localhost:16686/trace/{trace_id}")
        )
        assert "url" not in embed and field(embed, "Trace") == f"`{TRACE_ID}`"

    def test_url_with_personal_data_is_left_out(self) -> None:
        """A link that would leak an e-mail address is not shown."""
        assert "url" not in render_embed(error(url="https://app.example.com/users?email=jan@example.com"))

    def test_valid_url_accepts_ip_literals_and_encodes_unicode_paths(self) -> None:
        """IP hosts pass and non-ASCII paths are percent-encoded."""
        assert valid_url("http://10.0.0.5:8080/x") == "http://10.0.0.5:8080/x"
        assert valid_url("http://[2001:db8::1]/x") == "http://[2001:db8::1]/x"
        assert valid_url("https://app.example.com/café") == "https://app.example.com/caf%C3%A9"
        assert valid_url("https://exämple.com/") is None

    def test_grafana_style_template_is_encoded(self) -> None:
        """Quotes and braces in a trace URL template are percent-encoded, not sent raw."""
        template = 'https://grafana.example.com/explore?left={"queries":[{"query":"{trace_id}"}]}'
        embed = render_embed(error(trace_id=TRACE_ID), RenderOptions(trace_url=template))
        assert (
            embed["url"]
            == f"https://grafana.example.com/explore?left=%7B%22queries%22:[%7B%22query%22:%22{TRACE_ID}%22%7D]%7D"
        )

    def test_very_long_trace_link_falls_back_to_the_id(self) -> None:
        """A trace link too long for a field value shows the plain id; the title still links."""
        template = "https://grafana.example.com/explore?q=" + "x" * 1500 + "{trace_id}"
        embed = render_embed(error(trace_id=TRACE_ID), RenderOptions(trace_url=template))
        assert field(embed, "Trace") == f"`{TRACE_ID}`" and embed["url"].endswith(TRACE_ID)


class TestLook:
    def test_colour_follows_severity(self) -> None:
        """Each severity has its own colour, and critical differs from error."""
        for severity in Severity:
            assert render_embed(error(severity=severity))["color"] == SEVERITY_COLOR[severity]
        assert SEVERITY_COLOR[Severity.CRITICAL] != SEVERITY_COLOR[Severity.ERROR]

    def test_channel_colour_override(self) -> None:
        """A channel colour replaces the severity colour."""
        assert render_embed(error(), RenderOptions(color=0x123456))["color"] == 0x123456

    def test_footer_defaults_to_service_environment_host(self) -> None:
        """The footer names where it happened."""
        assert render_embed(error())["footer"] == {"text": "billing · prod · web-1"}

    def test_channel_footer_replaces_default(self) -> None:
        """A configured footer is used instead."""
        assert render_embed(error(), RenderOptions(footer="Team Billing"))["footer"] == {"text": "Team Billing"}

    def test_timestamp_is_iso8601_utc(self) -> None:
        """The embed timestamp is the notice time in UTC."""
        stamp = render_embed(error())["timestamp"]
        assert datetime.fromisoformat(stamp) == datetime.fromtimestamp(NOON, tz=UTC)
        assert stamp.endswith("+00:00")

    def test_impossible_timestamp_is_left_out(self) -> None:
        """A NaN or out-of-range time gives no timestamp rather than a rejected embed."""
        assert "timestamp" not in render_embed(error(timestamp=float("nan")))
        assert "timestamp" not in render_embed(error(timestamp=1e20))


class TestSafety:
    NOTICE = error(
        title="Payment failed for jan@example.com",
        description="IBAN NL91ABNA0417164300 card 4111 1111 1111 1111 @everyone <@&123>",
        code="Traceback...\nValueError: customer piet@example.org phoned from +31612345678",
        fields=(Field("Customer jan@example.com", "NL91 ABNA 0417 1643 00"),),
        host="mail.jan@example.com",
    )

    def test_masking_reaches_every_text(self) -> None:
        """Title, description, code, field names and values, and footer are masked."""
        seen = visible(render_embed(self.NOTICE)).replace("\\", "")
        for secret in (
            "jan@example.com",
            "piet@example.org",
            "ABNA0417164300",
            "ABNA 0417",
            "4111 1111 1111 1111",
            "+31612345678",
        ):
            assert secret not in seen, secret

    def test_masking_can_be_turned_off(self) -> None:
        """With masking disabled the data is shown."""
        embed = render_embed(self.NOTICE, RenderOptions(masker=Masker(enabled=False)))
        assert "jan@example.com" in embed["title"].replace("\\", "")

    def test_mentions_are_defanged(self) -> None:
        """@everyone and <@&123> in text are broken so they cannot even look like mentions."""
        description = render_embed(self.NOTICE)["description"]
        assert "@everyone" not in description and "<@&123>" not in description
        assert "@" + ZWSP + "everyone" in description

    def test_webhook_token_in_an_exception_is_never_shown(self) -> None:
        """A webhook URL inside an error message loses its token, even with masking off."""
        leak = "POST https://discord.com/api/webhooks/123456/SECRET_token-x failed"
        embed = render_embed(
            error(title=leak, description=leak, code=leak), RenderOptions(masker=Masker(enabled=False))
        )
        assert "SECRET_token-x" not in str(embed)

    def test_control_characters_never_reach_discord(self) -> None:
        """NUL, ESC and lone surrogates are stripped from every text."""
        embed = render_embed(error(title="a\x00b\x1b[0m", description="x\ud800y", fields=(Field("\x07", "\x1b"),)))
        assert not re.search("[\x00-\x08\x1b\ud800-\udfff]", str(embed))
        str(embed).encode("utf-8")


class TestRepeatedAlerts:
    """One RenderOptions renders every alert of a channel: what repeats must render as the first time."""

    def test_personal_data_is_masked_in_every_alert(self) -> None:
        """The same customer in two alerts is masked in both, field name, value and footer alike."""
        options = RenderOptions(masker=Masker(ip_mode="mask"))
        notice = error(fields=(Field("jan@example.com", "from 10.1.2.3"),), host="10.9.8.7")
        first, second = render_embed(notice, options), render_embed(notice, options)
        assert first == second
        assert "jan@example.com" not in str(second).replace("\\", "") and "10.1.2.3" not in str(second)
        assert second["footer"]["text"] == "billing · prod · 10.9.8.***"

    def test_a_text_renders_as_name_and_as_value(self) -> None:
        """A text used as a field name in one alert and as a value in the next is rendered for each role."""
        options = RenderOptions()
        text = "two   words\nand_a line"
        as_name = render_embed(error(fields=(Field(text, "v"),)), options)["fields"][0]
        as_value = render_embed(error(fields=(Field("n", text),)), options)["fields"][0]
        again = render_embed(error(fields=(Field(text, text),)), options)["fields"][0]
        assert as_name["name"] == "two words and\\_a line"
        assert as_value["value"] == "two   words\nand\\_a line"
        assert (again["name"], again["value"]) == (as_name["name"], as_value["value"])

    def test_each_channel_keeps_its_own_footer(self) -> None:
        """Two channels' options render the same notice with their own footer, however often."""
        billing, ops = RenderOptions(footer="Team Billing"), RenderOptions()
        for _ in range(2):
            assert render_embed(error(), billing)["footer"] == {"text": "Team Billing"}
            assert render_embed(error(), ops)["footer"] == {"text": "billing · prod · web-1"}

    def test_thousands_of_distinct_values_then_a_repeat(self) -> None:
        """After many distinct routes, a repeated route and field name still render the same."""
        options = RenderOptions()
        first = render_embed(error(fields=(Field("Route", "POST /a_b"),)), options)
        for i in range(3000):
            render_embed(error(fields=(Field("Route", f"POST /reports/{i}"),)), options)
        assert render_embed(error(fields=(Field("Route", "POST /a_b"),)), options) == first


def test_last_resort_cut_drops_the_code_block_before_breaking_it() -> None:
    """An embed over budget loses its code block whole, never its closing fence."""
    embed = {
        "title": "t",
        "description": "message\n```py\n" + "x" * 4000 + "\n```",
        "fields": [{"name": "n", "value": "v" * 1000, "inline": True}] * 3,
    }
    out = _enforce_budget(embed)
    assert embed_size(out) <= limits.EMBED_BUDGET
    assert out["description"] == "message" and len(out["fields"]) == 3
