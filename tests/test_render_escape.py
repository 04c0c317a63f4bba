"""Cleaning, markdown escaping, mention defanging and unbreakable code blocks."""

from __future__ import annotations

import re

from otel_discord.render.escape import (
    ZWSP,
    clean,
    code_block,
    defang_mentions,
    escape_markdown,
    truncate_escaped,
)

# Discord's markdown treats "\x" as a literal x for any ASCII punctuation x.
_UNESCAPE = re.compile(r"\\([^0-9A-Za-z\s])")


def rendered(text: str) -> str:
    """What a reader sees: escapes resolved, zero-width spaces invisible."""
    return _UNESCAPE.sub(r"\1", text).replace(ZWSP, "")


class TestClean:
    def test_normalises_newlines(self) -> None:
        """Windows and old-Mac newlines become \\n."""
        assert clean("a\r\nb\rc\u2028d") == "a\nb\nc\nd"

    def test_drops_control_characters_but_keeps_tab_and_newline(self) -> None:
        """NUL, escape sequences and C1 controls go; \\t and \\n stay."""
        assert clean("a\x00b\x1b[31mc\x7f\x85d\te\nf\x9b") == "ab[31mc\nd\te\nf"

    def test_drops_lone_surrogates_and_bidi_overrides(self) -> None:
        """Unencodable surrogates and text-reordering controls are removed."""
        assert clean("a\ud800b\u202ec\u2066d") == "abcd"
        clean("x\udfff").encode("utf-8")

    def test_keeps_ordinary_unicode(self) -> None:
        """Emoji (with joiners), accents and CJK survive."""
        text = "café 👩‍💻 日本 €"
        assert clean(text) == text


class TestEscapeMarkdown:
    def test_escapes_formatting_characters(self) -> None:
        """Bold, italics, strike, spoilers, code and quotes do not format."""
        out = escape_markdown("**bold** _it_ ~~del~~ ||spoiler|| `code` > quote")
        assert "**" not in out.replace("\\*", "") and "\\|\\|" in out and "\\`" in out and "\\>" in out
        assert rendered(out) == "**bold** _it_ ~~del~~ ||spoiler|| `code` > quote"

    def test_masked_links_cannot_be_faked(self) -> None:
        """[text](url) does not become a link that hides its target."""
        out = escape_markdown("[your bank](https://evil.example)")
        assert "\\[your bank\\]\\(" in out

    def test_headers_and_lists_at_line_start(self) -> None:
        """# headers, -# subtext, - bullets and 1. lists are escaped."""
        out = escape_markdown("# big\n-# small\n- item\n1. first")
        assert out == "\\# big\n\\-\\# small\n\\- item\n1\\. first"

    def test_backslash_is_escaped_first(self) -> None:
        """A backslash in the text cannot escape our escapes."""
        assert escape_markdown("\\*") == "\\\\\\*"
        assert rendered(escape_markdown("a\\*b*")) == "a\\*b*"

    def test_bare_links_stay_clickable(self) -> None:
        """A plain URL keeps its underscores unescaped, so Discord links it correctly."""
        out = escape_markdown("see https://example.com/a_b/c*d?x=1, then _x_")
        assert "https://example.com/a_b/c*d?x=1," in out and "\\_x\\_" in out

    def test_also_defangs_mentions(self) -> None:
        """escape_markdown leaves no live mention syntax."""
        out = escape_markdown("@everyone <@123>")
        assert "@everyone" not in out and "<@123>" not in out

    def test_rendering_shows_the_original_text(self) -> None:
        """Escaping changes nothing a reader sees."""
        text = "SELECT * FROM t WHERE a_b = 'x' -- #1 (ok) [y] <z> ~w~ |v|"
        assert rendered(escape_markdown(text)) == text


class TestDefangMentions:
    def test_everyone_and_here(self) -> None:
        """@everyone and @here no longer read as mentions."""
        out = defang_mentions("hi @everyone and @here")
        assert "@everyone" not in out and "@here" not in out and out.replace(ZWSP, "") == "hi @everyone and @here"

    def test_user_role_and_channel_mentions(self) -> None:
        """<@id>, <@!id>, <@&id> and <#id> are broken by a zero-width space."""
        out = defang_mentions("<@123> <@!456> <@&789> <#42>")
        assert not re.search(r"<(@[!&]?|#)\d+>", out)
        assert out.replace(ZWSP, "") == "<@123> <@!456> <@&789> <#42>"

    def test_idempotent(self) -> None:
        """Defanging twice adds nothing."""
        once = defang_mentions("@here <@&1>")
        assert defang_mentions(once) == once

    def test_leaves_other_at_signs(self) -> None:
        """An e-mail or a decorator is not touched."""
        assert defang_mentions("a@b.c @app.route") == "a@b.c @app.route"


class TestCodeBlock:
    def test_wraps_with_language(self) -> None:
        """The text is fenced with the language tag."""
        assert code_block("print(1)", "py", 100) == "```py\nprint(1)\n```"

    def test_backticks_inside_cannot_close_the_block(self) -> None:
        """``` in an exception message does not end the block early."""
        out = code_block("ValueError: bad ```\n@everyone **not code**\n``````", "py", 500)
        assert out.startswith("```py\n") and out.endswith("\n```")
        inner = out[len("```py\n") : -len("\n```")]
        assert "``" not in inner
        assert inner.replace(ZWSP, "") == "ValueError: bad ```\n@everyone **not code**\n``````"

    def test_odd_language_is_dropped(self) -> None:
        """A language tag that could inject text is left out."""
        assert code_block("x", "py\n```evil", 100) == "```\nx\n```"

    def test_cut_block_keeps_the_tail_and_fits(self) -> None:
        """A long trace keeps its last lines and the whole block stays within the limit."""
        trace = "\n".join(f"frame {i}" for i in range(500)) + "\nKeyError: 'x'"
        out = code_block(trace, "py", 200)
        assert len(out) <= 200 and out.endswith("frame 499\nKeyError: 'x'\n```") and "earlier lines cut" in out

    def test_empty_text_gives_no_block(self) -> None:
        """Nothing to show means no empty fence."""
        assert code_block(" \n ", "py", 100) == ""
        assert code_block("x", "py", 10) == ""


class TestTruncateEscaped:
    def test_never_leaves_half_an_escape(self) -> None:
        """A cut between a backslash and the character it escapes drops the backslash."""
        text = escape_markdown("ab*cd")  # ab\*cd
        assert truncate_escaped(text, 4) == "ab…"

    def test_keeps_whole_escapes_and_literal_backslashes(self) -> None:
        """An escaped backslash (two backslashes) right before the cut stays whole."""
        text = escape_markdown("a\\bcdef")  # a, two backslashes, bcdef
        assert truncate_escaped(text, 4) == "a\\\\…"

    def test_short_text_unchanged(self) -> None:
        """Text within the limit is returned as is."""
        assert truncate_escaped("a\\*", 10) == "a\\*"


class TestMultiLineText:
    def test_stack_trace_keeps_lines_and_loses_controls(self) -> None:
        """A multi-line text without \\r keeps its lines and tabs; a stray control in it still goes."""
        trace = 'Traceback (most recent call last):\n  File "/app/x.py", line 3, in f\n\tboom()\nValueError: x'
        assert clean(trace) == trace
        assert clean(trace.replace("boom", "bo\x1bom")) == trace

    def test_every_newline_form_in_one_text(self) -> None:
        """\\r\\n, \\r, NEL, LINE SEPARATOR and PARAGRAPH SEPARATOR each become one \\n."""
        assert clean("a\r\nb\rc\x85d\u2028e\u2029f") == "a\nb\nc\nd\ne\nf"


class TestEveryMarkdownCharacter:
    def test_each_gets_one_backslash(self) -> None:
        """Each markdown character gets exactly one backslash, the backslash itself included."""
        specials = "\\*_~`|>#-[]()<"
        assert escape_markdown(f"a{specials}b") == "a" + "".join("\\" + char for char in specials) + "b"
        assert rendered(escape_markdown(f"x {specials} y")) == f"x {specials} y"
