"""The preview page's renderer: Discord's markdown, embeds and messages as safe HTML."""

from __future__ import annotations

from html.parser import HTMLParser

from hypothesis import given, settings
from hypothesis import strategies as st

from otel_discord.notice import Category, Field, Kind, Notice, Severity
from otel_discord.render.embed import RenderOptions
from otel_discord.render.embed import render_embed as discord_embed
from otel_discord.testing.preview import (
    field_columns,
    render_embed,
    render_markdown,
    render_message,
)

# Every tag and attribute the renderer may produce; anything else came from the input.
ALLOWED_TAGS = {
    "a",
    "strong",
    "em",
    "u",
    "s",
    "code",
    "pre",
    "span",
    "div",
    "blockquote",
    "img",
    "details",
    "summary",
    "article",
    "time",
}
ALLOWED_ATTRIBUTES = {
    "class",
    "href",
    "target",
    "rel",
    "data-mention",
    "data-lang",
    "title",
    "src",
    "alt",
    "style",
    "data-color",
    "data-id",
    "data-version",
    "aria-hidden",
}


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return parser


def visible(html: str) -> str:
    return "".join(parse(html).text)


class TestMarkdown:
    def test_emphasis_code_and_links(self):
        """Bold, italics, underline, strike, inline code and masked links render like Discord's."""
        html = render_markdown("**bold** *it* _also_ __under__ ~~gone~~ `x = 1` [docs](https://example.com/a)")
        assert "<strong>bold</strong>" in html
        assert html.count("<em>") == 2
        assert "<u>under</u>" in html and "<s>gone</s>" in html
        assert '<code class="md-code">x = 1</code>' in html
        assert 'href="https://example.com/a"' in html and ">docs</a>" in html

    def test_escaped_characters_show_literally(self):
        """What render/escape.py escapes shows as the original characters, with no formatting."""
        html = render_markdown(r"\*\*not bold\*\* ozark\-finances \(threshold\) \# no header \<b\>")
        assert "<strong>" not in html and "<b>" not in html
        assert visible(html) == "**not bold** ozark-finances (threshold) # no header <b>"

    def test_code_block_with_language_keeps_text_verbatim(self):
        """A fenced block keeps its language and shows markup inside it as text."""
        html = render_markdown('Error:\n```py\nraise ValueError("<script>x</script>")\n  **not bold**\n```\nafter')
        tags = parse(html).tags
        assert ("pre", {"class": "md-codeblock", "data-lang": "py"}) in tags
        assert "<strong>" not in html
        assert "raise ValueError(&quot;&lt;script&gt;x&lt;/script&gt;&quot;)\n  **not bold**" in html
        assert visible(html).startswith("Error:") and visible(html).endswith("after")

    def test_javascript_links_are_not_links(self):
        """Only http(s) URLs become links: a masked javascript: link stays text."""
        html = render_markdown("[click](javascript:alert(1)) and <javascript:alert(1)>")
        assert "href" not in html
        assert "javascript:alert(1)" in visible(html)

    def test_mentions_are_highlighted_and_defanged_ones_are_not(self):
        """Mentions show highlighted; the zero-width-space form our renderer sends stays plain text."""
        html = render_markdown("<@123> <@&456> <#789> @everyone @\u200beveryone")
        mentions = [attrs["data-mention"] for tag, attrs in parse(html).tags if attrs.get("class") == "mention"]
        assert mentions == ["user", "role", "channel", "everyone"]
        assert "@user-123" in visible(html)

    def test_block_rules(self):
        """Quotes, headers, subtext and bullets at the start of a line, as in a description."""
        html = render_markdown("> quoted\n# Title\n-# small\n- item\nplain")
        classes = [attrs.get("class") for _, attrs in parse(html).tags]
        assert {"md-quote", "md-h1", "md-subtext", "md-li", "md-p"} <= set(classes)
        assert "<div" not in render_markdown("# Title", blocks=False)

    @settings(max_examples=300, deadline=None)
    @given(st.text(alphabet=st.sampled_from(list("<>&\"'`*_~|[]()\\#-@!: /\nabcjsvript=xhtp.0123")), max_size=120))
    def test_no_input_produces_markup_of_its_own(self, text):
        """Whatever the text, only the renderer's own tags, attributes and http(s) links come out."""
        html = render_markdown(text)
        for tag, attrs in parse(html).tags:
            assert tag in ALLOWED_TAGS, (text, html)
            assert set(attrs) <= ALLOWED_ATTRIBUTES, (text, html)
            if "href" in attrs:
                assert (attrs["href"] or "").startswith(("http://", "https://")), (text, html)
        assert "<script" not in html.lower()

    def test_letters_survive(self):
        """Plain words pass through untouched (no character is dropped by the rules)."""
        assert visible(render_markdown("Invoice 250090 paid by Mulder B.V.")) == "Invoice 250090 paid by Mulder B.V."


class TestFieldGrid:
    def test_three_inline_fields_share_a_row(self):
        """Discord puts up to three inline fields side by side, evenly."""
        fields = [{"inline": True}] * 4 + [{"inline": False}] + [{"inline": True}] * 2
        assert field_columns(fields) == [(1, 5), (5, 9), (9, 13), (1, 13), (1, 13), (1, 7), (7, 13)]

    def test_two_per_row_beside_a_thumbnail(self):
        """Beside a thumbnail Discord fits two inline fields to a row."""
        assert field_columns([{"inline": True}] * 3, per_row=2) == [(1, 7), (7, 13), (1, 13)]


def _error_notice(**changes) -> Notice:
    base = dict(
        kind=Kind.ERROR,
        severity=Severity.ERROR,
        category=Category.ERROR,
        title="ValueError: could not convert 'twelve euros'",
        description="could not convert string to float",
        code='File "app.py", line 21\nValueError',
        fields=(Field("Route", "GET /boom"), Field("Status", "500"), Field("User", "Anonymous")),
        service="ozark-finances",
        environment="demo",
        timestamp=1_764_000_000.0,
    )
    base.update(changes)
    return Notice(**base)


class TestEmbed:
    def test_a_rendered_notice_looks_like_discord(self):
        """Our own renderer's embed: colour bar, title with the escapes undone, code block, fields, footer."""
        embed = discord_embed(_error_notice(), RenderOptions())
        html = render_embed(embed, {})
        tags = parse(html).tags
        assert tags[0] == ("div", {"class": "embed", "style": "border-left-color:#e74c3c", "data-color": "#e74c3c"})
        text = visible(html)
        assert "ValueError: could not convert 'twelve euros'" in text
        assert ("pre", {"class": "md-codeblock", "data-lang": "py"}) in tags
        grid = [a["style"] for t, a in tags if a.get("class") == "embed-field"]
        assert grid == ["grid-column:1 / 5", "grid-column:5 / 9", "grid-column:9 / 13"]
        assert "ozark-finances · demo" in text

    def test_attachment_image_points_at_the_uploaded_file(self):
        """``attachment://chart.png`` shows the file uploaded with the message; other schemes show nothing."""
        files = {"chart.png": "http://127.0.0.1:1/attachments/1/2/chart.png"}
        html = render_embed(
            {"title": "t", "image": {"url": "attachment://chart.png"}, "thumbnail": {"url": "javascript:alert(1)"}},
            files,
        )
        images = [a for t, a in parse(html).tags if t == "img"]
        assert [a["src"] for a in images] == ["http://127.0.0.1:1/attachments/1/2/chart.png"]

    def test_author_and_footer_are_plain_text(self):
        """Author names and footers do not render markdown (Discord shows them as typed)."""
        html = render_embed({"author": {"name": "**Ozark** <b>"}, "footer": {"text": "_svc_"}}, {})
        assert "<strong>" not in html and "<em>" not in html and "<b>" not in html
        assert "**Ozark** <b>" in visible(html) and "_svc_" in visible(html)


class TestMessage:
    def _message(self, **changes):
        message = {
            "id": "1",
            "content": "",
            "author": {"username": "Ozark alerts"},
            "embeds": [],
            "attachments": [],
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": False,
            "flags": 0,
            "timestamp": "2026-11-25T12:00:00+00:00",
            "edited_timestamp": None,
        }
        message.update(changes)
        return message

    def test_edited_marker_and_version(self):
        """An edited message says so and carries a version that changes with each edit."""
        plain = render_message(self._message())
        edited = render_message(self._message(edited_timestamp="2026-11-25T12:01:00+00:00"))
        assert "(edited)" not in visible(plain) and "(edited)" in visible(edited)
        assert 'data-version="0"' in plain and 'data-version="2026-11-25T12:01:00+00:00"' in edited

    def test_silent_and_pinging_messages_are_marked(self):
        """SUPPRESS_NOTIFICATIONS shows as silent; a mention that notifies shows who it pings."""
        silent = visible(render_message(self._message(flags=4096, content="fyi")))
        loud = visible(render_message(self._message(content="<@&42> look", mention_roles=["42"])))
        assert "silent" in silent and "🔔" not in silent
        assert "🔔 @role-42" in loud

    def test_other_attachments_are_listed(self):
        """Files not used by an embed show below the message: images inline, others as links."""
        base = "http://127.0.0.1:1/attachments/1"
        attachments = [
            {"filename": "a.png", "url": f"{base}/2/a.png", "content_type": "image/png"},
            {"filename": "d.csv", "url": f"{base}/3/d.csv", "content_type": "text/csv"},
        ]
        tags = parse(render_message(self._message(attachments=attachments))).tags
        assert ("img", {"class": "msg-attachment", "src": attachments[0]["url"], "alt": "a.png"}) in tags
        assert ("a", {"class": "msg-file", "href": attachments[1]["url"]}) in tags
