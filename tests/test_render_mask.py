"""Masking personal data and credentials, and leaving business numbers alone."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_discord.render.mask import Masker

MASK = Masker()

MASKED = [
    # (label, text, expected)
    ("email", "mail jan.jansen@example.com now", "mail j***@example.com now"),
    ("email plus tag", "to: Piet+billing@sub.example.nl.", "to: P***@sub.example.nl."),
    ("iban compact", "IBAN NL91ABNA0417164300", "IBAN NL91 **** **** 4300"),
    ("iban spaced", "NL91 ABNA 0417 1643 00 EUR", "NL91 **** **** 4300 EUR"),
    ("iban german", "DE89 3704 0044 0532 0130 00", "DE89 **** **** **** 3000"),
    ("iban glued to next word", "BE68 5390 0754 7034 EURO", "BE68 **** **** 7034 EURO"),
    ("visa", "card 4111 1111 1111 1111 exp", "card **** **** **** 1111 exp"),
    ("visa compact", "4242424242424242", "**** **** **** 4242"),
    ("amex dashes", "3782-822463-10005", "**** **** 0005"),
    ("card after a number", "ref 12 4111 1111 1111 1111", "ref 12 **** **** **** 1111"),
    ("e164", "call +31 6 12345678", "call +** * ******78"),
    ("e164 compact", "+31612345678", "+*********78"),
    ("e164 with (0)", "+31 (0)20 1234567", "+** (*)** *****67"),
    ("dutch mobile", "bel 06-12345678", "bel **-******78"),
    ("dutch mobile spaced", "06 12 34 56 78", "** ** ** ** 78"),
    ("dutch landline", "010-1234567", "***-*****67"),
]

KEPT = [
    ("amount euro", "€2,450.00"),
    ("amount dutch", "1.234,56 en € 1.234.567,89"),
    ("amount big", "total 4111111111111111.00 cents"),
    ("invoice hash", "#250089"),
    ("invoice code", "INV-2024-001"),
    ("iso date", "2024-01-15 12:30:45"),
    ("dutch date", "06-12-2024 12:30"),
    ("compact datetime", "20240115123045"),
    ("epoch ms", "1700000000000"),
    ("trace id", "4bf92f3577b34da6a3ce929d0e0e4736"),
    ("trace id with digit run", "0612345678abcdef4111111111111111"),
    ("span id", "00f067aa0ba902b7"),
    ("uuid", "123e4567-e89b-12d3-a456-426614174000"),
    ("kvk number", "KvK 12345678"),
    ("btw number", "NL123456789B01"),
    ("non-luhn 16 digits", "4111 1111 1111 1112"),
    ("ip kept by default", "from 192.168.1.23"),
    ("time", "12:01:03"),
    ("version", "v1.2.3"),
    ("decorator", "@app.route('/x')"),
]


@pytest.mark.parametrize(("label", "text", "expected"), MASKED, ids=[row[0] for row in MASKED])
def test_masks_personal_data(label: str, text: str, expected: str) -> None:
    """Each kind of personal data is masked to its documented shape."""
    assert MASK(text) == expected


# The shortest and oddest shapes each detector accepts or rejects. Masking skips a
# detector when a cheap pre-check says it cannot match; these pin that it never
# skips one that would have.
EDGES = [
    ("card with 13 digits", "visa 13 digits 4222222222222 ok", "visa 13 digits **** **** 2222 ok"),
    ("card in non-ASCII text", "café 4111 1111 1111 1111 payé", "café **** **** **** 1111 payé"),
    ("iban with Arabic-Indic check digits", "NL٩١ABNA0417164300", "NL٩١ **** **** 4300"),
    ("e164 with (0) and eight digits", "+1 (0)234 5678", "+* (*)*** **78"),
    ("e164 in non-ASCII text", "tél +31612345678", "tél +*********78"),
    ("dutch mobile after an e-mail", "jan@example.com 06-12345678", "j***@example.com **-******78"),
    ("secret with spaces", "password = hunter2", "password = ****"),
    ("json secret with spaces", '{"api_key" : "abc123"}', '{"api_key" : "****"}'),
    ("url password", "https://u:pa55@db.example/x", "https://u:***@db.example/x"),
    ("nine digits apart", "ref 12345678 9", "ref 12345678 9"),
    ("card split by two spaces", "4111  1111 1111 1111", "4111  1111 1111 1111"),
    ("landline one digit short", "010-123456", "010-123456"),
    ("plus zero is no country code", "+0 123 456 789", "+0 123 456 789"),
    ("key error is no secret", "KeyError: 'token'", "KeyError: 'token'"),
    ("url without password", "http://user@host/x", "http://user@host/x"),
    ("domain without a dot", "a@b", "a@b"),
]


@pytest.mark.parametrize(("label", "text", "expected"), EDGES, ids=[row[0] for row in EDGES])
def test_edge_shapes(label: str, text: str, expected: str) -> None:
    """Edge shapes are masked (or left alone) exactly as the detectors say, also in a longer text."""
    assert MASK(text) == expected
    filler = "Traceback line 12, in f: x.y = 3\n" * 20  # digits, dots and colons: every pre-check passes
    assert MASK(filler + text + "\n" + filler) == MASK(filler) + expected + "\n" + MASK(filler)


@pytest.mark.parametrize(("label", "text"), KEPT, ids=[row[0] for row in KEPT])
def test_leaves_business_numbers_alone(label: str, text: str) -> None:
    """Amounts, invoice numbers, dates and trace ids are never masked."""
    assert MASK(text) == text


class TestIpModes:
    def test_keep_leaves_addresses(self) -> None:
        """ip_mode=keep shows IP addresses as they are."""
        assert Masker(ip_mode="keep")("10.1.2.3 and ::1") == "10.1.2.3 and ::1"

    def test_mask_hides_the_host_part(self) -> None:
        """ip_mode=mask hides the last IPv4 octet and the IPv6 interface half."""
        out = Masker(ip_mode="mask")("from 192.168.1.23 and 2001:db8:85a3::8a2e:370:7334 at 12:01:03")
        assert out == "from 192.168.1.*** and 2001:db8:85a3:0:**** at 12:01:03"

    def test_mask_leaves_times_and_double_colons(self) -> None:
        """Clock times, "::" in prose and amounts are not IP addresses."""
        text = "at 12:01:03 :: total €1.234,56 :: done"
        assert Masker(ip_mode="mask")(text) == text
        assert Masker(ip_mode="hash")(text) == text

    def test_hash_is_stable_and_hides_the_address(self) -> None:
        """ip_mode=hash maps one address to one token that does not contain it."""
        masker = Masker(ip_mode="hash", salt=b"test")
        out = masker("a 203.0.113.9 b 203.0.113.9 c 203.0.113.10")
        tokens = [word for word in out.split() if word.startswith("ip#")]
        assert len(tokens) == 3 and tokens[0] == tokens[1] != tokens[2] and "203.0.113" not in out

    def test_mask_edge_shapes(self) -> None:
        """A trailing dot after an address, and short dotted numbers that are no address."""
        out = Masker(ip_mode="mask")("ip 10.0.0.1. and 1.2.3 and 999.1.1.1 and fe80::1%eth0")
        assert out == "ip 10.0.0.***. and 1.2.3 and 999.1.1.1 and fe80:0:0:0:****%eth0"

    def test_unknown_mode_is_rejected(self) -> None:
        """A typo in ip_mode fails loudly."""
        with pytest.raises(ValueError, match="ip_mode"):
            Masker(ip_mode="hide")


class TestCredentials:
    def test_webhook_tokens_url_passwords_and_bearer_tokens(self) -> None:
        """Credentials in an exception message are masked."""
        text = (
            "POST https://discord.com/api/webhooks/123/abcDEF_tok-en failed; "
            "db postgres://app:s3cret@db:5432/x; Authorization: Bearer abcdefghijklmnop1234"
        )
        out = MASK(text)
        for secret in ("abcDEF_tok-en", "s3cret", "abcdefghijklmnop1234"):
            assert secret not in out
        assert "/webhooks/123/****" in out

    def test_secret_parameters_and_jwts(self) -> None:
        """password=, api_key=, JSON "token" values and JWTs are masked."""
        jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
        out = MASK(f'DB_PASSWORD=hunter2 ?api_key=k3y&x=1 {{"token": "t0k"}} {jwt}')
        assert "hunter2" not in out and "k3y" not in out and "t0k" not in out and jwt not in out
        assert "x=1" in out

    def test_prose_about_tokens_is_kept(self) -> None:
        """Words like 'token: expired' are not mistaken for secrets."""
        assert MASK("token: expired, password must be longer") == "token: expired, password must be longer"

    def test_credentials_are_masked_even_when_disabled(self) -> None:
        """Turning PII masking off still never shows a webhook token."""
        out = Masker(enabled=False)("jan@example.com https://discord.com/api/webhooks/1/secret")
        assert out == "jan@example.com https://discord.com/api/webhooks/1/****"


class TestRepeatedTexts:
    def test_masked_text_is_masked_every_time(self) -> None:
        """A text with personal data is masked on every call, not only the first."""
        masker = Masker(ip_mode="mask")
        text = "jan@example.com from 10.1.2.3"
        assert [masker(text) for _ in range(3)] == ["j***@example.com from 10.1.2.***"] * 3

    def test_hashed_address_is_stable_across_calls(self) -> None:
        """ip_mode=hash gives one address the same token on every call."""
        masker = Masker(ip_mode="hash", salt=b"test")
        first = masker("from 203.0.113.9")
        assert first != "from 203.0.113.9" and masker("from 203.0.113.9") == first

    def test_many_distinct_texts_then_a_repeat(self) -> None:
        """After thousands of distinct texts, known texts and personal data come out as before."""
        masker = Masker()
        for i in range(5000):
            assert masker(f"POST /reports/{i}") == f"POST /reports/{i}"
        assert masker("Route") == "Route"
        assert masker("call 06-12345678") == "call **-******78"


def test_disabled_masker_shows_personal_data() -> None:
    """With masking off, e-mails, IBANs and phones are shown."""
    text = "jan@example.com NL91ABNA0417164300 +31612345678"
    assert Masker(enabled=False)(text) == text


def test_repr_shows_settings() -> None:
    """repr tells how the masker is configured."""
    assert repr(Masker(ip_mode="hash")) == "Masker(enabled=True, ip_mode='hash')"


# --- properties ------------------------------------------------------------------------


def _luhn_complete(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        n = int(ch)
        if i % 2 == 0:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return body + str((10 - total % 10) % 10)


def _iban(country: str, bban: str) -> str:
    moved = bban + country + "00"
    check = 98 - int("".join(str(int(ch, 36)) for ch in moved)) % 97
    return f"{country}{check:02d}{bban}"


_local = st.from_regex(r"[a-z0-9][a-z0-9._%+-]{0,20}", fullmatch=True)
_domain = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?(\.[a-z0-9]{1,10}){0,2}\.[a-z]{2,6}", fullmatch=True)
emails = st.builds(lambda local, domain: f"{local}@{domain}", _local, _domain)
ibans = st.builds(
    _iban,
    st.sampled_from(["NL", "DE", "BE", "FR", "GB", "ES", "IT"]),
    st.text(alphabet=string.ascii_uppercase + string.digits, min_size=11, max_size=30),
)
cards = st.builds(
    _luhn_complete,
    st.builds(
        lambda first, rest: first + rest,
        st.sampled_from("3456"),
        st.text(alphabet=string.digits, min_size=14, max_size=14),
    ),
)
amounts = st.one_of(
    st.decimals(min_value=0, max_value=10**9, places=2).map(lambda d: f"€{d:,.2f}"),
    st.decimals(min_value=0, max_value=10**9, places=2).map(
        lambda d: f"{d:,.2f}".replace(",", "_").replace(".", ",").replace("_", ".")
    ),
)
invoices = st.one_of(
    st.integers(min_value=0, max_value=10**9).map(lambda n: f"#{n}"),
    st.builds(lambda y, n: f"INV-{y}-{n:03d}", st.integers(2000, 2099), st.integers(0, 99999)),
)
# Filler that cannot glue onto a value (a space on both sides keeps tokens apart).
filler = st.text(alphabet=string.ascii_letters + " .,:;!?()€", max_size=20).map(lambda s: f" {s} ")


def _spaced(iban: str) -> str:
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))


@settings(max_examples=200, deadline=None)
@given(emails, filler, filler)
def test_emails_never_survive(email: str, before: str, after: str) -> None:
    """No e-mail address appears unmasked, wherever it sits in the text."""
    assert email not in MASK(before + email + after)


@settings(max_examples=200, deadline=None)
@given(ibans, st.booleans(), filler, filler)
def test_ibans_never_survive(iban: str, spaced: bool, before: str, after: str) -> None:
    """No valid IBAN appears unmasked, compact or in groups of four."""
    shown = _spaced(iban) if spaced else iban
    out = MASK(before + shown + after)
    assert shown not in out and iban not in out.replace(" ", "")


@settings(max_examples=200, deadline=None)
@given(cards, filler, filler)
def test_card_numbers_never_survive(card: str, before: str, after: str) -> None:
    """No Luhn-valid card number appears; its last four digits do."""
    out = MASK(before + card + after)
    assert card not in out and out.rstrip().endswith(card[-4:] + after.rstrip())


# Prose between values; random letters could spell "bearer" or "password=", after
# which masking the next token is exactly right.
glue = st.one_of(
    st.sampled_from([" ", ", ", " en ", " and ", "; ", " total ", "\n", " for invoice ", " = ", " / "]),
    st.text(alphabet=" .,:;!?()€\n", min_size=1, max_size=5).map(lambda s: f" {s} "),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(amounts, invoices), min_size=1, max_size=5), glue)
def test_amounts_and_invoice_numbers_always_survive(values: list[str], glue: str) -> None:
    """Amounts and invoice numbers pass through every masker mode unchanged."""
    text = glue.join(values)
    for masker in (MASK, Masker(ip_mode="mask"), Masker(ip_mode="hash")):
        assert masker(text) == text


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_masking_is_idempotent_and_total(text: str) -> None:
    """Masking never raises, and masking masked text changes nothing."""
    once = MASK(text)
    assert MASK(once) == once
