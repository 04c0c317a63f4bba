"""Templates: the built-in texts, overrides from the config file, safe formatting and link templates."""

from __future__ import annotations

import pytest

from otel_discord.config import ConfigError
from otel_discord.detect.templates import (
    BUILT_IN,
    MISSING,
    Templates,
    Text,
    display_name,
)

INVOICE = {
    "event.name": "invoice.created",
    "invoice.number": "250089",
    "invoice.amount": 2450.0,
    "invoice.currency": "EUR",
    "invoice.client": "Bakkerij de Vries",
    "invoice.due_date": "2025-10-31",
}


def render(name, values, style="en", templates=None):
    template, _ = (templates or Templates()).template(name, "INFO")
    return template.render(values, style)


class TestBuiltIn:
    def test_invoice_created_reads_like_the_mission_example(self):
        """Title in capitals with an emoji, description with number, amount and client."""
        title, description, fields = render("invoice.created", INVOICE)
        assert title == "🟢 INVOICE_CREATED"
        assert description == "Invoice #250089 created - Amount: €2,450.00 - Client: Bakkerij de Vries"
        assert ("Due", "2025-10-31") in fields

    def test_amount_style_nl(self):
        """The same event in the Dutch style."""
        _, description, _ = render("invoice.created", INVOICE, style="nl")
        assert "Amount: €2.450,00" in description

    def test_missing_attributes_drop_their_part(self):
        """A built-in part whose attribute is missing is left out instead of showing '?'."""
        _, description, fields = render("invoice.created", {"invoice.number": "7"})
        assert description == "Invoice #7 created"
        assert fields == []

    def test_btw_shows_manual_calculated_and_difference(self):
        """BTW payment: both amounts and their difference."""
        values = {
            "btw.quarter": "2025-Q3",
            "btw.manual_amount": 5120.0,
            "btw.calculated_amount": 5145.0,
            "btw.difference": -25.0,
            "btw.currency": "EUR",
        }
        title, description, _ = render("btw.payment.updated", values)
        assert title == "🏛️ BTW_PAYMENT_UPDATED"
        assert description == (
            "BTW 2025-Q3 payment updated - Manual: €5,120.00 - Calculated: €5,145.00 - Difference: -€25.00"
        )

    def test_import_summary_has_counts_and_first_reasons(self):
        """Import: rows read, imported, rejected and the first problems."""
        values = {
            "import.filename": "facturen.csv",
            "import.rows_read": 3,
            "import.rows_imported": 2,
            "import.rows_rejected": 1,
            "import.errors": "row 4: amount 'twaalf euro' is not a number",
            "import.amount": 2214.56,
        }
        _, description, fields = render("import.completed", values)
        assert description == "Imported 2 of 3 rows from facturen.csv - Amount: €2,214.56"
        assert dict(fields) == {
            "Rows read": "3",
            "Imported": "2",
            "Rejected": "1",
            "First problems": "row 4: amount 'twaalf euro' is not a number",
        }

    def test_conditional_parts(self):
        """'days late' only when paid late; the previous amount only when it changed."""
        _, on_time, _ = render("invoice.paid", {**INVOICE, "invoice.days_late": 0, "invoice.paid_late": False})
        _, late, _ = render("invoice.paid", {**INVOICE, "invoice.days_late": 4, "invoice.paid_late": True})
        assert "late" not in on_time and late.endswith("4 days late")
        _, changed, _ = render("invoice.updated", {**INVOICE, "invoice.previous_amount": 2000.0})
        _, same, _ = render("invoice.updated", INVOICE)
        assert "Amount: €2,000.00 → €2,450.00" in changed
        assert "Amount: €2,450.00" in same and "→" not in same

    def test_every_built_in_renders_with_no_attributes(self):
        """No built-in template fails or prints '?' when an app sends fewer attributes."""
        for name, template in BUILT_IN.items():
            title, description, fields = template.render({}, "en")
            assert title.endswith(display_name(name)), name
            assert MISSING not in description and all(MISSING not in v for _, v in fields), name

    def test_unknown_event_gets_its_name_and_message(self):
        """An event without a template is titled by its name; the caller shows the message."""
        template, _ = Templates().template("order.shipped", "SUCCESS")
        title, description, _ = template.render({}, "en")
        assert title == "🟢 ORDER_SHIPPED"
        assert description == ""


class TestOverrides:
    def test_override_from_config(self):
        """The config file's template replaces the built-in description; unknown keys render '?'."""
        templates = Templates.from_config(
            {
                "templates": {
                    "invoice.created": {
                        "description": "Invoice #{invoice.number} for {invoice.client}: {invoice.amount:money} ({invoice.vat})",
                    }
                }
            }
        )
        title, description, _ = render("invoice.created", INVOICE, templates=templates)
        assert title == "🟢 INVOICE_CREATED"  # only what the file sets changes
        assert description == "Invoice #250089 for Bakkerij de Vries: €2,450.00 (?)"

    def test_title_fields_lists_and_globs(self):
        """Overrides may set the title and fields, use a list of optional parts, and match with globs."""
        templates = Templates.from_config(
            {
                "templates": {
                    "invoice.*": {
                        "title": "🧾 {event.name:upper}",
                        "description": ["#{invoice.number}", "{missing}"],
                        "fields": {"Klant": "{invoice.client}", "Nothing": "{missing}"},
                    },
                    "invoice.paid": "Paid: {invoice.amount:money}",
                }
            }
        )
        title, description, fields = render("invoice.created", INVOICE, templates=templates)
        assert (title, description, fields) == ("🧾 INVOICE.CREATED", "#250089", [("Klant", "Bakkerij de Vries")])
        title, description, _ = render("invoice.paid", INVOICE, templates=templates)
        assert title == "💶 INVOICE_PAID" and description == "Paid: €2,450.00"  # exact name beats the glob

    @pytest.mark.parametrize(
        ("spec", "message"),
        [
            ({"description": "{invoice.amount:>99999999}"}, "unknown format"),
            ({"description": "{invoice.amount!r}"}, "conversions"),
            ({"description": "{}"}, "attribute name"),
            ({"description": "Invoice {invoice.number"}, "invoice.created.description"),
            ({"colour": "red"}, "unknown key"),
            ({"description": 5}, "must be text"),
            ({"fields": ["a"]}, "fields"),
        ],
    )
    def test_mistakes_are_config_errors_naming_the_template(self, spec, message):
        """A bad template is refused when the exporter starts, naming where it is."""
        with pytest.raises(ConfigError, match=message) as info:
            Templates.from_config({"templates": {"invoice.created": spec}})
        assert "templates.invoice.created" in str(info.value)


class TestSafeFormatting:
    def test_no_attribute_access_or_indexing(self):
        """Dots and brackets are part of an attribute name, never a path into an object."""
        text = Text.parse("{body.__class__} {x[0]} {__import__}", "test")
        assert text.render({"body": "hi", "x": ["secret"]}, "en") == "? ? ?"

    def test_values_are_not_formatted_again(self):
        """An attribute value containing braces is shown literally, not expanded."""
        text = Text.parse("Client: {invoice.client}", "test")
        assert (
            text.render({"invoice.client": "{invoice.number} {0.__class__}"}, "en")
            == "Client: {invoice.number} {0.__class__}"
        )

    def test_escaped_braces_and_long_values(self):
        """{{ }} are literal braces; one huge value is capped."""
        text = Text.parse("{{x}} {v}", "test")
        rendered = text.render({"v": "a" * 100_000}, "en")
        assert rendered.startswith("{x} a") and len(rendered) < 2000


class TestLinks:
    def test_link_per_event_pattern_with_quoted_values(self):
        """A link template becomes the URL; values are percent-encoded so they cannot change the path or host."""
        templates = Templates.from_config({"links": {"invoice.*": "https://ozark.example/invoices/{invoice.number}"}})
        assert templates.link("invoice.paid", INVOICE, "en") == "https://ozark.example/invoices/250089"
        hostile = {**INVOICE, "invoice.number": "../../admin?x=1#"}
        assert (
            templates.link("invoice.paid", hostile, "en") == "https://ozark.example/invoices/..%2F..%2Fadmin%3Fx%3D1%23"
        )
        assert templates.link("btw.payment.updated", INVOICE, "en") is None
        assert templates.link("invoice.paid", {}, "en") is None  # no number, no link (not ".../?")

    @pytest.mark.parametrize(
        "url", ["ftp://ozark.example/{x}", "https://{host}/invoices", "https://ozark.example{path}", "/relative/{x}"]
    )
    def test_link_templates_must_fix_scheme_and_host(self, url):
        """A placeholder may not decide where the link points."""
        with pytest.raises(ConfigError, match="links.invoice"):
            Templates.from_config({"links": {"invoice.*": url}})
