"""Turn an SQL statement into its shape: literals become ``?``, comments go.

Two reasons. Grouping: ``WHERE id = 41`` and ``WHERE id = 42`` are the same slow
query and must share a fingerprint. Privacy: literals are where e-mail addresses,
names and tokens live, and the statement is posted to a chat channel. So when
in doubt a literal is swallowed whole (an unterminated string runs to the end)
rather than partly shown.

Placeholders (``?``, ``?1``, ``$1``, ``%s``, ``%(name)s``, ``:name``) and quoted
identifiers are kept; whitespace runs become one space; ``IN (1, 2, 3)`` becomes
``IN (?)`` and repeated ``VALUES`` rows become one, so list lengths do not split
a group.
"""

from __future__ import annotations

import re
from typing import Final

# Statements from bulk inserts can be megabytes; a chat message shows a few
# hundred characters, so only the head is normalised.
MAX_STATEMENT_CHARS: Final = 16 * 1024

# Dialects where "…" is a string literal, not an identifier (MySQL without ANSI_QUOTES).
_MYSQL_DIALECTS: Final = frozenset({"mysql", "mariadb"})

_TOKEN_PATTERN: Final = r"""
    (?P<space>\s+)
  | (?P<comment>--[^\n]*|/\*.*?(?:\*/|\Z){hash_comment})
    # Strings, with the optional prefix of E'…', N'…', X'…' (hex), B'…' (bits)
    # or a MySQL charset introducer (_utf8mb4'…'). Backslash escapes are
    # honoured (MySQL); for standard SQL that can only make a string longer,
    # never leak part of one.
  | (?P<string>(?:[EeNnXxBb]|_[A-Za-z0-9]+)?'(?:[^'\\]|\\.|'')*\\?(?:'|\Z))
  | (?P<dollar>\$(?P<tag>[A-Za-z_][A-Za-z0-9_]*|)\$.*?(?:\$(?P=tag)\$|\Z))
    # Quoted identifiers must close on their line: an unterminated one would
    # otherwise keep the rest of the statement, literals included, verbatim.
  | (?P<dquote>{dquote})
  | (?P<ident>`[^`\n]*`|\[[^\]\n]*\]|[^\W\d]\w*(?:\$\w*)*)
  | (?P<param>\?\d*|\$\d+|%\([^)\n]*\)s|%s|::|:[^\W\d]\w*|@@?\w+)
  | (?P<number>0[xX][0-9A-Fa-f]+|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<other>.)
"""
_TOKEN: Final = re.compile(_TOKEN_PATTERN.format(hash_comment="", dquote=r'"(?:[^"\n]|"")*"'), re.VERBOSE | re.DOTALL)
# MySQL: "#" starts a comment (in PostgreSQL it is an operator: #>, #-), and
# "…" is a string, swallowed to the end when unterminated like '…'.
_TOKEN_MYSQL: Final = re.compile(
    _TOKEN_PATTERN.format(hash_comment=r"|\#[^\n]*", dquote=r'"(?:[^"\\]|\\.|"")*\\?(?:"|\Z)'),
    re.VERBOSE | re.DOTALL,
)
# A sign right after one of these is unary, part of the number (``= -5``);
# after an operand it is arithmetic (``x - 5``).
_PREFIX_KEYWORDS: Final = frozenset(
    {
        "select", "where", "and", "or", "not", "on", "set", "values", "in", "is", "like", "between",
        "when", "then", "else", "case", "return", "returning", "limit", "offset", "by", "having",
        "as", "from", "interval",
    }
)  # fmt: skip
_OPERAND_KINDS: Final = frozenset({"ident", "param", "literal", "dquote"})
# What may fill an IN list or a VALUES row once literals are gone: "?" or a
# driver placeholder, whose numbering ($1, $2 / %(id_1)s) varies with the length.
_ITEM: Final = r"(?:\?\d*|\$\d+|%s|%\([^)\n]*\)s|:[^\W\d]\w*)"
_ROW: Final = rf"\(\s*{_ITEM}(?:\s*,\s*{_ITEM})*\s*\)"
_IN_LIST: Final = re.compile(rf"\b(IN)\s*{_ROW}", re.IGNORECASE)
_REPEATED_ROWS: Final = re.compile(rf"({_ROW})(?:\s*,\s*{_ROW})+")
_WORD: Final = re.compile(r"[A-Za-z]+")
_SQLITE_SUFFIXES: Final = (".db", ".sqlite", ".sqlite3")


def short_db_name(name: str | None, system: str | None) -> str | None:
    """The database name to show: SQLite's is a file path, shortened to the file name."""
    # The full path is long and shows the server's directory layout to the channel.
    if name and (system == "sqlite" or name.endswith(_SQLITE_SUFFIXES)):
        return name.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] or name
    return name


def sql_operation(operation: str | None, statement: str | None, fallback: str) -> str:
    """``SELECT``, ``INSERT``, ``WITH``…: the first keyword of the operation attribute or the statement."""
    # The SQLAlchemy instrumentation sets db.operation(.name) to the span name,
    # "SELECT /path/app.sqlite3", so only its first word is trusted.
    for source in (operation, statement):
        if source:
            match = _WORD.match(source.lstrip(" ("))
            if match:
                return match.group().upper()
    return fallback


# SQLAlchemy appends the statement and its bound values to every DBAPI error:
# "[SQL: SELECT … WHERE email = 'x']" and "[parameters: ('bob@example.com',)]".
_SQLALCHEMY_SQL: Final = re.compile(r"\[SQL: (.*?)\](?=\n\[parameters: |\n\(Background on this error|\s*$)", re.DOTALL)
_SQLALCHEMY_PARAMETERS: Final = re.compile(r"\[parameters: [^\n]*\]")


def scrub_db_error(message: str) -> str:
    """Hide the literals and bound values that SQLAlchemy puts into its exception messages."""
    if "[SQL: " not in message and "[parameters: " not in message:
        return message
    message = _SQLALCHEMY_PARAMETERS.sub("[parameters: hidden]", message)
    return _SQLALCHEMY_SQL.sub(lambda match: f"[SQL: {normalize_sql(match.group(1))}]", message)


def _drop_unary_sign(out: list[str], kinds: list[str]) -> None:
    """Remove a ``-``/``+`` just emitted when it is the sign of the number that follows."""
    index = len(out) - 1
    if index >= 0 and kinds[index] == "space":
        index -= 1
    if index < 0 or out[index] not in ("-", "+"):
        return
    before = index - 1
    if before >= 0 and kinds[before] == "space":
        before -= 1
    if before >= 0:
        kind = kinds[before]
        if kind in _OPERAND_KINDS and not (kind == "ident" and out[before].lower() in _PREFIX_KEYWORDS):
            return
        if out[before] == ")":
            return
    del out[index:]
    del kinds[index:]


def normalize_sql(statement: str, *, dialect: str | None = None) -> str:
    """Return ``statement`` with literals (strings, numbers, hex, IN lists) replaced by ``?``.

    ``dialect`` is the ``db.system`` value; for MySQL/MariaDB double-quoted text
    is a string literal and is replaced too, elsewhere it is an identifier and kept.
    Never raises for any ``str``; other types give ``""``.
    """
    if not isinstance(statement, str):
        return ""
    double_quoted_is_string = isinstance(dialect, str) and dialect.lower() in _MYSQL_DIALECTS
    out: list[str] = []
    kinds: list[str] = []
    token = _TOKEN_MYSQL if double_quoted_is_string else _TOKEN
    for match in token.finditer(statement[:MAX_STATEMENT_CHARS]):
        kind = match.lastgroup or "other"
        if kind in ("space", "comment"):
            if out and kinds[-1] != "space":
                out.append(" ")
                kinds.append("space")
            continue
        if kind == "number":
            _drop_unary_sign(out, kinds)
            text, kind = "?", "literal"
        elif kind in ("string", "dollar") or (kind == "dquote" and double_quoted_is_string):
            text, kind = "?", "literal"
        else:
            text = match.group()
        out.append(text)
        kinds.append(kind)
    result = "".join(out).strip()
    result = _IN_LIST.sub(r"\1 (?)", result)
    return _REPEATED_ROWS.sub(r"\1", result)
