"""Properties: any notice renders, and any batch of rendered notices makes valid messages."""

from __future__ import annotations

import json
import re
import string
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otel_discord.notice import Category, Field, Kind, Notice, Severity
from otel_discord.render import limits
from otel_discord.render.embed import RenderOptions, render_embed
from otel_discord.render.limits import embed_size
from otel_discord.render.mask import Masker
from otel_discord.render.payload import build_payload, pack
from otel_discord.testing.validate import validate_execute

# Every plane, including lone surrogates and control characters.
any_char = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, blacklist_categories=())
nasty = st.sampled_from(
    [
        "```",
        "``",
        "`",
        "\\",
        "**",
        "__",
        "~~",
        "||",
        "> ",
        "# ",
        "-# ",
        "- ",
        "1. ",
        "[x](https://evil.example)",
        "@everyone",
        "@here",
        "<@123>",
        "<@!456>",
        "<@&789>",
        "<#42>",
        "<t:1700000000:R>",
        "\r\n",
        "\r",
        "\n",
        "\x00",
        "\x1b[31m",
        "\u202e",
        "\ud800",
        "\u200b",
        "👩‍💻",
        "🏛️",
        "jan@example.com",
        "NL91ABNA0417164300",
        "4111 1111 1111 1111",
        "+31612345678",
        " ",
        "\t",
        "https://x.example/a_b",
        "https://discord.com/api/webhooks/1/tok",
    ]
)
small_text = st.lists(st.one_of(st.text(any_char, max_size=30), nasty), max_size=12).map("".join)
# Repetition makes big texts cheaply; sizes reach far past every limit (up to ~150k).
huge_text = st.builds(lambda chunk, times: chunk * times, small_text, st.integers(min_value=1, max_value=400))
big_text = st.builds(lambda chunk, times: chunk * times, small_text, st.integers(min_value=1, max_value=30))
texts = st.one_of(small_text, small_text, huge_text)
field_texts = st.one_of(small_text, small_text, big_text)
timestamps = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=0, max_value=4_102_444_800),
)
trace_ids = st.one_of(st.none(), st.text(alphabet="0123456789abcdef", min_size=32, max_size=32), small_text)
urls = st.one_of(
    st.none(),
    small_text,
    st.builds(lambda path: "https://app.example.com/" + path, small_text),
    st.builds(lambda n: "https://x.example/" + "a" * n, st.integers(2000, 2100)),
)


def notices(max_fields: int) -> st.SearchStrategy[Notice]:
    """Notices with anything in every text, and up to ``max_fields`` fields."""
    return st.builds(
        Notice,
        kind=st.sampled_from(Kind),
        severity=st.sampled_from(Severity),
        category=st.sampled_from(Category),
        title=texts,
        description=texts,
        fields=st.lists(st.builds(Field, field_texts, field_texts, st.booleans()), max_size=max_fields).map(tuple),
        code=st.one_of(st.none(), texts),
        code_language=st.one_of(st.just(""), st.sampled_from(["py", "sql"]), small_text),
        url=urls,
        trace_id=trace_ids,
        service=st.one_of(st.none(), small_text),
        environment=st.one_of(st.none(), small_text),
        host=st.one_of(st.none(), small_text),
        timestamp=timestamps,
        count=st.integers(min_value=1, max_value=10**12),
        first_seen=st.one_of(st.none(), timestamps),
    )


options = st.builds(
    RenderOptions,
    trace_url=st.sampled_from(
        [
            None,
            "https://jaeger.example.com/trace/{trace_id}",
            "http://localhost:16686/trace/{trace_id}",
            "https://t.example/{trace_id}?q=(x)",
            "https://g.example/x?q=" + "y" * 1500 + "{trace_id}",
            'https://g.example/explore?left={"q":[{"query":"{trace_id}"}]}',
        ]
    ),
    masker=st.builds(Masker, st.booleans(), st.sampled_from(["keep", "mask", "hash"])),
    footer=st.one_of(st.none(), texts),
    color=st.one_of(st.none(), st.integers(min_value=-5, max_value=0x1000005)),
)

_LIVE_MENTION = re.compile(r"@(everyone|here)|<(@[!&]?|#)\d")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def texts_of(embed: dict[str, Any]) -> list[str]:
    parts = [embed["title"], embed.get("description", ""), embed.get("footer", {}).get("text", "")]
    return parts + [text for item in embed.get("fields", []) for text in (item["name"], item["value"])]


def check_embed(embed: dict[str, Any]) -> None:
    """Our own reading of every documented limit, independent of the validator."""
    assert 0 < len(embed["title"]) <= limits.TITLE
    assert len(embed.get("description", "")) <= limits.DESCRIPTION
    assert len(embed.get("fields", [])) <= limits.FIELDS
    for item in embed.get("fields", []):
        assert 0 < len(item["name"].strip()) and len(item["name"]) <= limits.FIELD_NAME
        assert 0 < len(item["value"].strip()) and len(item["value"]) <= limits.FIELD_VALUE
        assert isinstance(item["inline"], bool)
    assert len(embed.get("footer", {}).get("text", "")) <= limits.FOOTER
    if "footer" in embed:
        assert embed["footer"]["text"].strip()
    if "url" in embed:
        assert embed["url"].startswith(("http://", "https://")) and len(embed["url"]) <= limits.URL
    assert 0 <= embed["color"] <= 0xFFFFFF
    assert embed_size(embed) <= limits.EMBED_BUDGET
    for text in texts_of(embed):
        assert not _CONTROL.search(text)
        assert not _LIVE_MENTION.search(text)
    # Exactly one fenced block or none: no backticks in the text can open or close one.
    # (The footer is plain text in Discord, so backticks there are shown as they are.)
    assert embed.get("description", "").count("```") in (0, 2)
    markdown = [embed["title"]] + [text for item in embed.get("fields", []) for text in (item["name"], item["value"])]
    assert all("``" not in text for text in markdown)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(notices(max_fields=100), options)
def test_any_notice_renders_within_every_limit(notice: Notice, render_options: RenderOptions) -> None:
    """Whatever a notice holds, it renders to an embed Discord accepts on its own."""
    embed = render_embed(notice, render_options)
    check_embed(embed)
    json.dumps(embed, ensure_ascii=False).encode("utf-8")
    assert validate_execute(build_payload([embed])) == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(notices(max_fields=30), min_size=1, max_size=14), st.one_of(st.none(), texts))
def test_any_batch_packs_into_valid_messages(batch: list[Notice], content: str | None) -> None:
    """pack + build_payload turn any batch into messages within every per-message limit."""
    embeds = [render_embed(notice) for notice in batch]
    groups = pack(embeds)
    assert [e for group in groups for e in group] == embeds
    for group in groups:
        payload = build_payload(group, content=content, mention_roles=["123456789012345678"])
        assert len(payload["embeds"]) <= limits.EMBEDS_PER_MESSAGE
        assert sum(embed_size(e) for e in payload["embeds"]) <= limits.TOTAL_PER_MESSAGE
        assert len(payload.get("content", "")) <= limits.CONTENT
        urls = [e["url"] for e in payload["embeds"] if "url" in e]
        assert len(urls) == len(set(urls))
        assert payload["allowed_mentions"]["parse"] == []
        assert validate_execute(payload) == []


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=string.printable + "`", max_size=2000), st.sampled_from(["py", "sql", ""]))
def test_backticks_in_code_never_break_the_fence(code: str, language: str) -> None:
    """Whatever backticks a trace holds, the description has one intact code block."""
    notice = Notice(
        kind=Kind.ERROR,
        severity=Severity.ERROR,
        category=Category.ERROR,
        title="t",
        description="msg ``` end",
        code=code,
        code_language=language,
    )
    description = render_embed(notice).get("description", "")
    assert description.count("```") in (0, 2)
    if description.count("```") == 2:
        assert description.endswith("\n```")
