"""SQL statements → their shape, with no literal left to leak into a chat channel."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_discord.detect.sql import (
    MAX_STATEMENT_CHARS,
    normalize_sql,
    scrub_db_error,
    short_db_name,
    sql_operation,
)

TABLE = [
    # strings, with doubled quotes, backslash escapes and prefixes
    ("SELECT * FROM users WHERE email = 'bob@example.com'", "SELECT * FROM users WHERE email = ?"),
    ("SELECT * FROM t WHERE name = 'O''Brien' AND x = 1", "SELECT * FROM t WHERE name = ? AND x = ?"),
    ("SELECT * FROM t WHERE name = 'it\\'s secret'", "SELECT * FROM t WHERE name = ?"),
    ("SELECT E'line\\n', N'héllo', B'0101', _utf8mb4'x' FROM t", "SELECT ?, ?, ?, ? FROM t"),
    ("SELECT $$body secret$$, $fn$ a $ b $fn$ FROM t", "SELECT ?, ? FROM t"),
    ("SELECT * FROM t WHERE note = 'never closed secret", "SELECT * FROM t WHERE note = ?"),
    # numbers: integers, decimals, exponents, negatives, hex
    (
        "SELECT * FROM t WHERE a = 42 AND b = 3.14 AND c = 1e-5 AND d = .5",
        "SELECT * FROM t WHERE a = ? AND b = ? AND c = ? AND d = ?",
    ),  # noqa: E501
    ("SELECT * FROM t WHERE a = -5 AND b=-2.5 AND c IN (-1, +2)", "SELECT * FROM t WHERE a = ? AND b=? AND c IN (?)"),
    ("SELECT a - 5, a-5, (b) - 1 FROM t LIMIT -1", "SELECT a - ?, a-?, (b) - ? FROM t LIMIT ?"),
    ("SELECT * FROM t WHERE h = 0xDEADBEEF OR h = X'BEEF'", "SELECT * FROM t WHERE h = ? OR h = ?"),
    # identifiers with digits are not numbers
    ("SELECT t1.col2, x3 FROM table1 t1", "SELECT t1.col2, x3 FROM table1 t1"),
    # IN lists of any length become one
    ("SELECT * FROM t WHERE id IN (1, 2, 3, 4)", "SELECT * FROM t WHERE id IN (?)"),
    ("SELECT * FROM t WHERE id in ('a','b')", "SELECT * FROM t WHERE id in (?)"),
    ("SELECT * FROM t WHERE id IN (?, ?, ?)", "SELECT * FROM t WHERE id IN (?)"),
    ("SELECT * FROM t WHERE id IN ($1, $2, $3)", "SELECT * FROM t WHERE id IN (?)"),
    ("SELECT * FROM t WHERE id IN (%(id_1_1)s, %(id_1_2)s)", "SELECT * FROM t WHERE id IN (?)"),
    (
        "SELECT * FROM t WHERE id IN (SELECT x FROM y WHERE z = 1)",
        "SELECT * FROM t WHERE id IN (SELECT x FROM y WHERE z = ?)",
    ),  # noqa: E501
    # multi-row VALUES collapse to one row
    ("INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y'), (3, 'z')", "INSERT INTO t (a, b) VALUES (?, ?)"),
    ("INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)", "INSERT INTO t (a, b) VALUES ($1, $2)"),
    # comments go, whitespace collapses
    ("SELECT a /* user 42: bob */ FROM t -- trailing 7\nWHERE b = 1", "SELECT a FROM t WHERE b = ?"),
    ("SELECT a\n\t  FROM   t\n", "SELECT a FROM t"),
    # placeholders already in the statement stay
    ("SELECT * FROM t WHERE a = ? AND b = ?2", "SELECT * FROM t WHERE a = ? AND b = ?2"),
    (
        "SELECT * FROM t WHERE a = $1 AND b = %s AND c = %(name)s AND d = :name",
        "SELECT * FROM t WHERE a = $1 AND b = %s AND c = %(name)s AND d = :name",
    ),
    ("SELECT x::int, y::numeric(10, 2) FROM t", "SELECT x::int, y::numeric(?, ?) FROM t"),
    # quoted identifiers stay (PostgreSQL, SQLite, MySQL backticks, SQL Server brackets)
    (
        'SELECT "user"."id" FROM "user" WHERE "user".name = \'x\'',
        'SELECT "user"."id" FROM "user" WHERE "user".name = ?',
    ),  # noqa: E501
    ("SELECT `order`.id, [from].x FROM `order`", "SELECT `order`.id, [from].x FROM `order`"),
    # ...but an unterminated quote does not keep the rest of the statement verbatim
    ("SELECT `col FROM t WHERE a = 'secret'", "SELECT `col FROM t WHERE a = ?"),
    ("SELECT \"col FROM t WHERE a = 'secret' AND b = 2", 'SELECT "col FROM t WHERE a = ? AND b = ?'),
    # the SQLAlchemy recursive CTE seen in the research demo
    (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < ?) SELECT count(*) FROM c",
        "WITH RECURSIVE c(x) AS (SELECT ? UNION ALL SELECT x+? FROM c WHERE x < ?) SELECT count(*) FROM c",
    ),
    ("", ""),
]


@pytest.mark.parametrize(("statement", "expected"), TABLE)
def test_normalize_table(statement, expected):
    """Literals become ?, the structure stays readable."""
    assert normalize_sql(statement) == expected


def test_same_shape_same_text():
    """Two runs of one query with different values normalise to the same text (one group)."""
    first = normalize_sql("SELECT * FROM orders WHERE customer = 'alice' AND id IN (1, 2) AND total > -10.5")
    second = normalize_sql("SELECT * FROM orders WHERE customer = 'bob' AND id IN (7, 8, 9, 10) AND total > 3")
    assert first == second


def test_mysql_double_quotes_are_strings():
    """In MySQL "…" is a string literal, so it is hidden; '#' starts a comment there."""
    statement = 'SELECT * FROM t WHERE name = "bob@example.com" # by carol\nAND a = 1'
    assert normalize_sql(statement, dialect="mysql") == "SELECT * FROM t WHERE name = ? AND a = ?"
    # Elsewhere "…" is an identifier and '#' an operator.
    assert normalize_sql("SELECT \"name\" FROM t WHERE data #> '{a}' IS NULL", dialect="postgresql") == (
        'SELECT "name" FROM t WHERE data #> ? IS NULL'
    )


def test_long_statements_are_bounded():
    """A megabyte bulk insert is cut to a bounded head before normalising."""
    statement = "INSERT INTO t (a) VALUES " + ", ".join(f"({i})" for i in range(200_000))
    result = normalize_sql(statement)
    assert result.startswith("INSERT INTO t (a) VALUES (?)")
    assert len(result) <= MAX_STATEMENT_CHARS


def test_non_string_input():
    assert normalize_sql(None) == ""  # type: ignore[arg-type]
    assert normalize_sql(b"SELECT 1") == ""  # type: ignore[arg-type]


_secret = st.text(alphabet=st.characters(blacklist_characters="'\\\x00", blacklist_categories=("Cs",)), min_size=1)


@settings(max_examples=200, deadline=None)
@given(secret=_secret, number=st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False)))
def test_no_literal_survives(secret, number):
    """Whatever a string literal holds, and whatever the number, the output is the bare shape."""
    escaped = secret.replace("'", "''")
    statement = f"SELECT * FROM t WHERE a = '{escaped}' AND b = {number!r} AND c IN ('{escaped}', {number!r})"
    assert normalize_sql(statement) == "SELECT * FROM t WHERE a = ? AND b = ? AND c IN (?)"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300), st.sampled_from([None, "mysql", "postgresql", "sqlite", "MariaDB"]))
def test_never_raises(statement, dialect):
    """Any text gives a string without line breaks (never an exception)."""
    result = normalize_sql(statement, dialect=dialect)
    assert isinstance(result, str)
    assert "\n" not in result


@pytest.mark.parametrize(
    ("name", "system", "shown"),
    [
        ("/srv/app/data/shop.sqlite3", "sqlite", "shop.sqlite3"),
        ("C:\\data\\shop.db", "sqlite", "shop.db"),
        (":memory:", "sqlite", ":memory:"),
        ("shop_production", "postgresql", "shop_production"),
        (None, "postgresql", None),
    ],
)
def test_short_db_name(name, system, shown):
    """SQLite paths are shortened to the file name; server database names stay."""
    assert short_db_name(name, system) == shown


@pytest.mark.parametrize(
    ("operation", "statement", "expected"),
    [
        ("SELECT /srv/app/demo.sqlite3", "SELECT 1", "SELECT"),  # the SQLAlchemy instrumentation's value
        (None, "  with recursive c(x) AS (SELECT 1) SELECT * FROM c", "WITH"),
        (None, "(SELECT 1) UNION (SELECT 2)", "SELECT"),
        (None, None, "connect"),
        ("", "", "connect"),
    ],
)
def test_sql_operation(operation, statement, expected):
    """The operation shown is the first SQL keyword, whatever the attribute holds."""
    assert sql_operation(operation, statement, "connect") == expected


def test_scrub_sqlalchemy_error_message():
    """Statements and bound values inside SQLAlchemy exception messages lose their literals."""
    message = (
        "(psycopg2.errors.UniqueViolation) duplicate key\n"
        "[SQL: INSERT INTO users (email, age) VALUES (%(email)s, 42)]\n"
        "[parameters: {'email': 'bob@example.com'}]\n"
        "(Background on this error at: https://sqlalche.me/e/20/gkpj)"
    )
    assert scrub_db_error(message) == (
        "(psycopg2.errors.UniqueViolation) duplicate key\n"
        "[SQL: INSERT INTO users (email, age) VALUES (%(email)s, ?)]\n"
        "[parameters: hidden]\n"
        "(Background on this error at: https://sqlalche.me/e/20/gkpj)"
    )
    assert scrub_db_error("[SQL: SELECT 'a]b' FROM t]") == "[SQL: SELECT ? FROM t]"
    assert scrub_db_error("plain message 42") == "plain message 42"
