"""Mask personal data and credentials in text before it leaves the process.

Alerts end up in chat channels that more people can read than the database, so the
renderer masks values that identify a person (e-mail, IBAN, card, phone, optionally
IP addresses) and, always, credentials that slipped into an exception message
(webhook tokens, URL passwords, bearer tokens, JWTs, ``password=`` parameters).

The detectors look at *values*, not key names, and are deliberately narrow: an
alert that masks an invoice number or an amount is useless, so every detector has a
structural check (IBAN mod-97, card Luhn and issuer digit, phone shapes) and stays
away from numbers glued to letters (trace ids) or decimals (amounts).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
from collections.abc import Callable
from typing import Final

from otel_discord.config.webhook_url import redact as _redact_webhooks

IP_MODES: Final = ("keep", "mask", "hash")
STARS: Final = "***"

# One salt per process: hashed IPs correlate within a process (same IP, same hash)
# but cannot be reversed by hashing all 2**32 IPv4 addresses offline.
_PROCESS_SALT: Final = secrets.token_bytes(16)

# --- credentials (always masked) -----------------------------------------------------
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^\s/:@]*:)[^\s/@]+(@)")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9\-._~+/]{12,}=*")
_AUTH_HEADER = re.compile(r"(?i)\b(authorization[\"']?\s*[:=]\s*[\"']?\w+\s+)[^\s\"',;]+")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_SECRET_PARAM = re.compile(
    r"(?i)(?<![A-Za-z0-9])(password|passwd|pwd|secret|client_secret|api[_-]?key|access[_-]?token|refresh[_-]?token|token)"
    # "=" as in query strings and kwargs; ":" only after a quoted key, as in JSON, so
    # prose like "token: expired" is left alone.
    r"(\s*=\s*[\"']?|[\"']\s*:\s*[\"'])(?![\"'\s*])[^\s&\"',;]+"
)

# --- personal data ---------------------------------------------------------------------
# RFC 5322 dot-atom local part, so unusual but valid addresses are caught too. The
# lookbehind makes a match start only where a run of such characters starts: without
# it every position inside a long word is retried, three times slower on a traceback.
_EMAIL = re.compile(r"(?<![\w.!#$%&'*+/=?^`{|}~\-])([\w.!#$%&'*+/=?^`{|}~\-]+)@((?:[\w\-]+\.)+[A-Za-z]{2,63})")
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![A-Za-z0-9])")
# Digits not glued to letters (hex trace ids) nor to a decimal separator (amounts).
_CARD = re.compile(r"(?<![\w])(?<!\d[.,])\d(?:[ \-]?\d){12,18}(?![\w])(?![.,]\d)")
_E164 = re.compile(r"(?<![\w+])\+[1-9](?:[ \-]?(?:\(0\)[ \-]?)?\d){7,14}(?![\w])(?![.,]\d)")
_DUTCH_PHONE = re.compile(
    r"(?<![\w+])(?:06[ \-]?(?:\d{8}|\d{4} \d{4}|\d{2} \d{2} \d{2} \d{2}|\d{3} \d{3} \d{2})"
    r"|0[1-57-9]\d{1,2}[ \-]\d{6,7})(?![\w])(?![.,]\d)"
)
_IPV4 = re.compile(
    r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\w]|\.\d)"
)
# Two colons and a hex digit at least ("::" alone is punctuation in prose); the
# candidate is then checked by ipaddress, which rejects times such as 12:01:03.
_IPV6 = re.compile(r"(?<![\w:.])(?=[0-9A-Fa-f:]*:[0-9A-Fa-f]*:)(?=:*[0-9A-Fa-f])[0-9A-Fa-f:]{3,39}(?![\w:])")
_SEPARATORS = re.compile(r"[ \-]")
_DIGIT = re.compile(r"\d")

# --- cheap pre-checks ---------------------------------------------------------------
# Each detector above starts with a lookbehind, so the regex engine tries it at every
# position of the text: masking a stack trace cost ~200 µs per alert on the SDK's export
# thread. Each hint below is implied by its detector's match, so skipping a detector
# when its hint is absent changes no result; hints start with a literal or a character
# class, which the engine can skip to without trying every position.
_EMAIL_HINT = re.compile(r"@[\w\-]+\.")  # "@", then the first label of the domain and its dot
_IBAN_HINT = re.compile(r"[A-Z][A-Z]\d\d")  # not [A-Z]{2}: a repeat is twice as slow here
_E164_HINT = re.compile(r"\+[1-9]")
# Nine digits with at most one space or dash between neighbours: the shortest Dutch
# number has 9 (010-1234567), a card 13. In ASCII text \d is [0-9], which is faster.
_DIGIT_RUN = re.compile(r"\d(?:[ \-]?\d){8}")
_ASCII_DIGIT_RUN = re.compile(r"[0-9](?:[ \-]?[0-9]){8}")
_IPV4_HINT = re.compile(r"\.\d{1,3}\.\d{1,3}\.\d")  # the dots of a.b.c.d and the octets between them
_IPV6_HINT = re.compile(r":[0-9A-Fa-f]*:")  # two colons with only hex digits between them
_SECRET_HINT = re.compile(r"(?i)(?:passwd|password|pwd|secret|key|token)(?:\s*=|[\"']\s*:)")
_ASCII_DIGITS: Final = "0123456789"
# Digit counts a detector needs at least (\d matches any Unicode decimal digit).
_IBAN_DIGITS: Final = 2
_E164_DIGITS: Final = 8
_RUN_DIGITS: Final = 9
_CARD_DIGITS: Final = 13
# Short texts that needed no masking are remembered per masker: field names, status
# codes, service names and routes repeat in every alert. Only unchanged texts are
# kept, so the memory never holds a value that was masked.
_REMEMBER_CHARS: Final = 200
_REMEMBER_COUNT: Final = 1024


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = ord(ch) - 48
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _iban_valid(compact: str) -> bool:
    if not 15 <= len(compact) <= 34:
        return False
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1


def _looks_like_datetime(digits: str) -> bool:
    # 20240115123045: a compact timestamp, not a card, even when it passes Luhn.
    if len(digits) != 14 or digits[:2] not in ("19", "20"):
        return False
    month, day, hour, minute, second = (int(digits[i : i + 2]) for i in (4, 6, 8, 10, 12))
    return 1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 60


def _card_number(digits: str) -> bool:
    # Issuer digits 2-6 cover Visa, Mastercard, Amex, Discover, JCB, Diners, Maestro,
    # UnionPay and Mir; 1xxxxxxxxxxxx is usually an epoch in milliseconds.
    return 13 <= len(digits) <= 19 and digits[0] in "23456" and _luhn(digits) and not _looks_like_datetime(digits)


def _spans(text: str) -> tuple[list[int], list[int]]:
    """Candidate starts and ends of a sub-number: the edges and every separator."""
    seps = [m.start() for m in _SEPARATORS.finditer(text)]
    return [0] + [i + 1 for i in seps], [len(text)] + seps[::-1]


def _mask_card(match: re.Match[str]) -> str:
    text = match.group(0)
    starts, ends = _spans(text)
    # The regex is greedy over spaces and dashes, so a card may be glued to a
    # neighbouring number ("ref 12 4111 1111 1111 1111"); try the sub-spans.
    for start in starts:
        for end in ends:
            if end <= start:
                break
            digits = _SEPARATORS.sub("", text[start:end])
            if _card_number(digits):
                masked = " ".join(["****"] * max(1, (len(digits) - 4) // 4)) + " " + digits[-4:]
                return text[:start] + masked + text[end:]
    return text


def _mask_iban(match: re.Match[str]) -> str:
    text = match.group(0)
    for end in _spans(text)[1]:
        compact = text[:end].replace(" ", "")
        if _iban_valid(compact):
            groups = " ".join(["****"] * max(1, (len(compact) - 8) // 4))
            return f"{compact[:4]} {groups} {compact[-4:]}" + text[end:]
    return text


def _keep_last_two(match: re.Match[str]) -> str:
    text = match.group(0)
    positions = [m.start() for m in _DIGIT.finditer(text)]
    if len(positions) < 8:
        return text
    hidden = set(positions[:-2])
    return "".join("*" if i in hidden else ch for i, ch in enumerate(text))


def _mask_dutch(match: re.Match[str]) -> str:
    if len(_DIGIT.findall(match.group(0))) != 10:
        return match.group(0)
    return _keep_last_two(match)


def _mask_email(match: re.Match[str]) -> str:
    local, domain = match.group(1), match.group(2)
    first = local[0] if local[0].isalnum() else ""
    return f"{first}{STARS}@{domain}"


def _redact_credentials(text: str) -> str:
    if "/webhooks/" in text:
        text = _redact_webhooks(text)
    if "://" in text and "@" in text:
        text = _URL_PASSWORD.sub(r"\1****\2", text)
    if ".eyJ" in text:
        text = _JWT.sub("eyJ****", text)
    lowered = text.lower()
    if "bearer" in lowered:
        text = _BEARER.sub(r"\1****", text)
    if "authorization" in lowered:
        text = _AUTH_HEADER.sub(r"\1****", text)
    if (
        "pass" in lowered or "pwd" in lowered or "secret" in lowered or "key" in lowered or "token" in lowered
    ) and _SECRET_HINT.search(text):
        text = _SECRET_PARAM.sub(r"\1\2****", text)
    return text


class Masker:
    """Callable that masks personal data in a string; credentials are masked even when disabled.

    ``ip_mode``: ``keep`` leaves IP addresses alone, ``mask`` hides the host part
    (last IPv4 octet; the interface half of an IPv6 address) and ``hash`` replaces
    the address with a salted hash, so repeated addresses stay recognisable.
    """

    __slots__ = ("enabled", "ip_mode", "_salt", "_steps", "_unchanged")

    def __init__(self, enabled: bool = True, ip_mode: str = "keep", *, salt: bytes | None = None) -> None:
        if ip_mode not in IP_MODES:
            raise ValueError(f"ip_mode must be one of {IP_MODES}, got {ip_mode!r}")
        self.enabled = enabled
        self.ip_mode = ip_mode
        self._salt = _PROCESS_SALT if salt is None else salt
        steps: list[Callable[[str], str]] = [_redact_credentials]
        if enabled:
            steps.append(_mask_personal)
            if ip_mode != "keep":
                steps.append(self._mask_ips)
        self._steps: tuple[Callable[[str], str], ...] = tuple(steps)
        self._unchanged: set[str] = set()

    def __call__(self, text: str) -> str:
        """Return ``text`` with personal data and credentials masked."""
        if not text:
            return text
        short = len(text) <= _REMEMBER_CHARS
        if short and text in self._unchanged:
            return text
        masked = text
        for step in self._steps:
            masked = step(masked)
        if short and masked == text:
            unchanged = self._unchanged
            if len(unchanged) >= _REMEMBER_COUNT:
                unchanged.clear()  # simpler than LRU, and a refill costs only one pass per text
            unchanged.add(text)
        return masked

    def __repr__(self) -> str:
        return f"Masker(enabled={self.enabled!r}, ip_mode={self.ip_mode!r})"

    def _mask_ips(self, text: str) -> str:
        if "." in text and _IPV4_HINT.search(text):
            text = _IPV4.sub(self._ip, text)
        if ":" in text and _IPV6_HINT.search(text):
            text = _IPV6.sub(self._ip, text)
        return text

    def _ip(self, match: re.Match[str]) -> str:
        raw = match.group(0)
        try:
            address = ipaddress.ip_address(raw)
        except ValueError:
            return raw  # "12:01:03" and friends
        if self.ip_mode == "hash":
            digest = hmac.new(self._salt, address.packed, hashlib.sha256).hexdigest()
            return f"ip#{digest[:10]}"
        if address.version == 4:
            return raw.rsplit(".", 1)[0] + "." + STARS
        groups = [group.lstrip("0") or "0" for group in address.exploded.split(":")[:4]]
        return ":".join(groups) + ":****"


def _digits(text: str) -> int:
    """How many characters of ``text`` match ``\\d`` (a Unicode decimal digit)."""
    if text.isascii():
        return sum(map(text.count, _ASCII_DIGITS))
    return len(_DIGIT.findall(text))


def _has_digit_run(text: str) -> bool:
    return (_ASCII_DIGIT_RUN if text.isascii() else _DIGIT_RUN).search(text) is not None


def _mask_personal(text: str) -> str:
    if "@" in text and _EMAIL_HINT.search(text):
        text = _EMAIL.sub(_mask_email, text)
    digits = _digits(text)
    if digits < _IBAN_DIGITS:
        return text
    if _IBAN_HINT.search(text):
        masked = _IBAN.sub(_mask_iban, text)
        if masked != text:
            text, digits = masked, _digits(masked)
    if digits >= _E164_DIGITS and "+" in text and _E164_HINT.search(text):
        masked = _E164.sub(_keep_last_two, text)
        if masked != text:
            text, digits = masked, _digits(masked)
    if digits < _RUN_DIGITS or not _has_digit_run(text):
        return text  # no Dutch phone number (9 digits at least) and no card (13)
    if "0" in text:
        masked = _DUTCH_PHONE.sub(_mask_dutch, text)
        if masked != text:
            text, digits = masked, _digits(masked)
            if digits < _CARD_DIGITS or not _has_digit_run(text):
                return text
    if digits < _CARD_DIGITS:
        return text
    return _CARD.sub(_mask_card, text)
