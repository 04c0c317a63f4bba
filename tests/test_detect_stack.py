"""Traceback text → frames, the application's frame, the part worth showing."""

from __future__ import annotations

import json
import os
import traceback

import pytest
import sqlalchemy

from otel_discord.detect.stack import (
    Frame,
    app_traceback,
    describe_frame,
    display_path,
    first_app_frame,
    is_app_file,
    parse_frames,
    read_traceback,
)


def _parse_json_in_app() -> None:
    json.loads("{not json")  # raises inside the standard library


def _load_settings() -> None:
    try:
        {}["missing"]
    except KeyError:
        raise RuntimeError("settings are broken")  # "During handling of the above exception"


def _connect_in_app() -> None:
    try:
        _parse_json_in_app()
    except ValueError as exc:
        raise LookupError("could not read the config") from exc  # "direct cause"


def _library_raises() -> None:
    sqlalchemy.create_engine("nosuchdialect://")  # raises inside site-packages


def _capture(func) -> tuple[BaseException, str]:
    try:
        func()
    except Exception as exc:  # noqa: BLE001 - we want the real traceback of anything
        return exc, traceback.format_exc()
    raise AssertionError("expected an exception")


def _as_frames(exc: BaseException) -> list[Frame]:
    return [Frame(f.filename, f.lineno, f.name, f.line or "") for f in traceback.extract_tb(exc.__traceback__)]


class TestParseFrames:
    def test_matches_the_interpreters_own_frames(self):
        """Every frame of a real traceback is read with file, line, function and source line."""
        exc, text = _capture(_parse_json_in_app)
        frames = parse_frames(text)
        assert frames == _as_frames(exc)
        assert frames[-1].file.endswith(os.path.join("json", "decoder.py"))

    def test_chained_cause_reads_the_last_traceback(self):
        """With 'direct cause' chaining, the frames are those of the exception that escaped."""
        exc, text = _capture(_connect_in_app)
        assert "The above exception was the direct cause" in text
        frames = parse_frames(text)
        assert frames == _as_frames(exc)
        assert [f.function for f in frames] == ["_capture", "_connect_in_app"]

    def test_during_handling_reads_the_last_traceback(self):
        """With implicit chaining the frames come from the last traceback, not the first."""
        exc, text = _capture(_load_settings)
        assert "During handling of the above exception" in text
        assert parse_frames(text) == _as_frames(exc)

    def test_text_without_traceback_has_no_frames(self):
        """Free text, empty text and non-strings give no frames instead of failing."""
        assert parse_frames("ValueError: nothing to see") == []
        assert parse_frames("") == []
        assert parse_frames(None) == []  # type: ignore[arg-type]

    def test_syntax_error_location_is_not_a_frame(self):
        """The 'File …, line N' location printed by SyntaxError is part of the message, not a frame."""
        text = (
            "Traceback (most recent call last):\n"
            '  File "/srv/app/main.py", line 3, in <module>\n'
            "    import broken\n"
            '  File "/srv/app/broken.py", line 7\n'
            "    x = (\n"
            "        ^\n"
            "SyntaxError: '(' was never closed\n"
        )
        assert parse_frames(text) == [Frame("/srv/app/main.py", 3, "<module>", "import broken")]

    def test_frames_without_source_lines(self):
        """Frames whose source is unavailable have an empty code line."""
        text = (
            "Traceback (most recent call last):\n"
            '  File "<stdin>", line 1, in <module>\n'
            '  File "/srv/app/x.py", line 2, in f\n'
            "ZeroDivisionError: division by zero\n"
        )
        assert parse_frames(text) == [Frame("<stdin>", 1, "<module>", ""), Frame("/srv/app/x.py", 2, "f", "")]


class TestFirstAppFrame:
    def test_skips_standard_library_frames(self):
        """When the stdlib raises, the culprit is the app line that called it."""
        exc, text = _capture(_parse_json_in_app)
        frame = first_app_frame(parse_frames(text))
        expected = [f for f in _as_frames(exc) if f.file == __file__][-1]
        assert frame == expected
        assert frame.function == "_parse_json_in_app"

    def test_skips_site_packages_frames(self):
        """When an installed package raises, the culprit is the app line that called it."""
        exc, text = _capture(_library_raises)
        frames = parse_frames(text)
        assert "site-packages" in frames[-1].file
        frame = first_app_frame(frames)
        assert frame is not None and frame.function == "_library_raises" and frame.file == __file__

    def test_chained_exception_uses_the_last_traceback(self):
        """The app frame comes from the escaping exception, not from its cause."""
        _, text = _capture(_connect_in_app)
        frame = first_app_frame(parse_frames(text))
        assert frame is not None
        assert frame.function == "_connect_in_app"
        assert frame.code == 'raise LookupError("could not read the config") from exc  # "direct cause"'

    def test_no_app_frame(self):
        """A traceback made only of library frames has no application frame."""
        frames = [
            Frame("/venv/lib/python3.11/site-packages/flask/app.py", 1, "wsgi_app"),
            Frame("/usr/lib/python3.11/json/decoder.py", 2, "decode"),
            Frame("/usr/lib/python3/dist-packages/requests/api.py", 3, "get"),
            Frame("<frozen runpy>", 4, "_run_code"),
            Frame("C:\\Python311\\Lib\\json\\decoder.py", 5, "decode"),
        ]
        assert first_app_frame(frames) is None
        assert first_app_frame([]) is None

    @pytest.mark.parametrize(
        ("path", "is_app"),
        [
            ("/srv/shop/views/orders.py", True),
            ("C:\\shop\\views.py", True),
            ("/srv/shop/.venv/lib/python3.12/site-packages/sqlalchemy/engine/base.py", False),
            ("/usr/local/lib/python3.11/dist-packages/flask/app.py", False),
            ("/opt/python/lib/python3.13t/asyncio/events.py", False),
            ("<frozen importlib._bootstrap>", False),
            ("", False),
        ],
    )
    def test_app_file_table(self, path, is_app):
        """Installed packages, the stdlib and pseudo files are not the application."""
        assert is_app_file(path) is is_app


class TestDisplayPath:
    @pytest.mark.parametrize(
        ("path", "shown"),
        [
            ("/srv/venv/lib/python3.11/site-packages/sqlalchemy/engine/base.py", "sqlalchemy/engine/base.py"),
            ("/srv/venv/lib/python3.11/site-packages/flask/app.py", "flask/app.py"),
            ("/home/deploy/releases/42/shop/billing/invoices/pdf.py", "billing/invoices/pdf.py"),
            ("C:\\inetpub\\shop\\views.py", "inetpub/shop/views.py"),
            ("/usr/lib/python3.11/json/decoder.py", "json/decoder.py"),
        ],
    )
    def test_short_paths(self, path, shown):
        """Paths lose their machine-specific prefix and keep at most three components."""
        assert display_path(path) == shown

    def test_relative_to_working_directory(self, tmp_path, monkeypatch):
        """A file under the current directory is shown relative to it."""
        monkeypatch.chdir(tmp_path)
        assert display_path(str(tmp_path / "app" / "views.py")) == "app/views.py"

    def test_describe_frame(self, tmp_path, monkeypatch):
        monkeypatch.chdir(tmp_path)
        frame = Frame(str(tmp_path / "app.py"), 45, "boom", "raise ValueError()")
        assert describe_frame(frame) == "app.py:45 in boom"


class TestAppTraceback:
    def test_drops_wrapper_frames_before_the_app(self):
        """Leading library frames (OTel, Flask) go; app frames onward and the exception line stay."""
        text = (
            "Traceback (most recent call last):\n"
            '  File "/v/lib/python3.11/site-packages/opentelemetry/trace/__init__.py", line 602, in use_span\n'
            "    yield span\n"
            '  File "/v/lib/python3.11/site-packages/flask/app.py", line 917, in full_dispatch_request\n'
            "    rv = self.dispatch_request()\n"
            "         ^^^^^^^^^^^^^^^^^^^^^^^\n"
            '  File "/srv/app/app.py", line 45, in boom\n'
            "    data = json.loads(body)\n"
            "           ^^^^^^^^^^^^^^^^\n"
            '  File "/usr/lib/python3.11/json/__init__.py", line 346, in loads\n'
            "    return _default_decoder.decode(s)\n"
            "ValueError: kaboom\n"
            "second line of the message\n"
        )
        assert app_traceback(text) == (
            "Traceback (most recent call last):\n"
            '  File "/srv/app/app.py", line 45, in boom\n'
            "    data = json.loads(body)\n"
            '  File "/usr/lib/python3.11/json/__init__.py", line 346, in loads\n'
            "    return _default_decoder.decode(s)\n"
            "ValueError: kaboom\n"
            "second line of the message"
        )

    def test_real_chained_traceback_keeps_only_the_escaping_part(self):
        """The cause's traceback is dropped; the final exception line is kept."""
        _, text = _capture(_connect_in_app)
        shown = app_traceback(text)
        assert shown.startswith("Traceback (most recent call last):\n")
        assert shown.endswith("LookupError: could not read the config")
        assert "The above exception was the direct cause" not in shown
        assert "_parse_json_in_app" not in shown and "decoder.py" not in shown
        assert "_connect_in_app" in shown

    def test_without_app_frames_keeps_the_last_traceback(self):
        """With no app frame nothing is cut except marker lines."""
        text = (
            "Traceback (most recent call last):\n"
            '  File "/v/lib/python3.11/site-packages/werkzeug/x.py", line 1, in f\n'
            "    g()\n"
            "    ^^^\n"
            "werkzeug.Error: boom\n"
        )
        assert app_traceback(text) == text.replace("    ^^^\n", "").rstrip("\n")

    def test_non_traceback_text(self):
        assert app_traceback("just a message") == "just a message"
        assert app_traceback("") == ""


class TestReadTraceback:
    """read_traceback: the Location frame and the code block of an error notice, from one parse."""

    @pytest.mark.parametrize("func", [_parse_json_in_app, _load_settings, _connect_in_app, _library_raises])
    def test_same_as_reading_frames_and_code_separately(self, func):
        """For real tracebacks (chained, library-raised) it gives exactly the frame and text of the two readers."""
        _, text = _capture(func)
        frame, shown = read_traceback(text)
        assert frame == first_app_frame(parse_frames(text)) and frame is not None
        assert shown == app_traceback(text)

    def test_frame_keeps_its_source_line(self):
        """The frame shown carries the source line printed under it."""
        text = (
            "Traceback (most recent call last):\n"
            '  File "/srv/app/app.py", line 45, in boom\n'
            "    data = json.loads(body)\n"
            "           ^^^^^^^^^^^^^^^^\n"
            '  File "/usr/lib/python3.11/json/__init__.py", line 346, in loads\n'
            "    return _default_decoder.decode(s)\n"
            "ValueError: kaboom\n"
        )
        frame, shown = read_traceback(text)
        assert frame == Frame("/srv/app/app.py", 45, "boom", "data = json.loads(body)")
        assert "^^^" not in shown and shown.endswith("ValueError: kaboom")

    def test_no_app_frame_and_no_traceback(self):
        """Only library frames: no frame, the trace minus markers; plain text and non-text: nothing to show."""
        text = '  File "/v/lib/python3.11/site-packages/werkzeug/x.py", line 1, in f\nwerkzeug.Error: boom'
        assert read_traceback(text) == (None, app_traceback(text))
        assert read_traceback("just a message") == (None, "just a message")
        assert read_traceback("") == (None, "") and read_traceback(None) == (None, "")  # type: ignore[arg-type]


def _py_traceback(*files: str, error: str = "sqlalchemy.exc.OperationalError: no such table: orders") -> str:
    lines = ["Traceback (most recent call last):"]
    for number, file in enumerate(files, start=1):
        lines += [f'  File "{file}", line {number * 10}, in f{number}', f"    step_{number}()"]
    return "\n".join([*lines, error])


SP = "/usr/local/lib/python3.12/site-packages"


class TestInstalledApps:
    """An app pip-installed into site-packages is found by package, not skipped with its libraries."""

    @pytest.mark.parametrize(
        ("files", "location", "shown_from"),
        [
            (  # the app installed next to Flask and SQLAlchemy (a Docker image)
                [
                    f"{SP}/opentelemetry/trace/__init__.py",
                    f"{SP}/flask/app.py",
                    f"{SP}/shopapp/views.py",
                    f"{SP}/shopapp/store.py",
                    f"{SP}/sqlalchemy/engine/base.py",
                    "/usr/local/lib/python3.12/sqlite3/x.py",
                ],
                f"{SP}/shopapp/store.py",
                f"{SP}/shopapp/views.py",
            ),
            (  # a library the app calls raises: the app's line that called it, not the library's
                [f"{SP}/flask/app.py", f"{SP}/shopapp/views.py", f"{SP}/vendorlib/validate.py"],
                f"{SP}/shopapp/views.py",
                f"{SP}/shopapp/views.py",
            ),
            (  # a source checkout still wins over installed packages (the old behaviour)
                [f"{SP}/flask/app.py", "/srv/shop/views.py", f"{SP}/shopapp/util.py"],
                "/srv/shop/views.py",
                "/srv/shop/views.py",
            ),
            (  # Flask extensions and Debian's dist-packages are libraries by name
                [
                    f"{SP}/flask_restful/__init__.py",
                    "/usr/lib/python3/dist-packages/requests/api.py",
                    f"{SP}/shopapp/api.py",
                    f"{SP}/sqlalchemy_utils/types.py",
                ],
                f"{SP}/shopapp/api.py",
                f"{SP}/shopapp/api.py",
            ),
            (  # only the stack: no Location, the whole traceback
                [f"{SP}/werkzeug/serving.py", f"{SP}/flask/app.py", "<frozen runpy>"],
                None,
                f"{SP}/werkzeug/serving.py",
            ),
        ],
    )
    def test_location_table(self, files, location, shown_from):
        """The Location is the innermost frame of the app's package; the code block starts at its outermost."""
        text = _py_traceback(*files)
        frame, shown = read_traceback(text)
        assert (frame.file if frame else None) == location
        assert first_app_frame(parse_frames(text)) == frame
        assert shown.splitlines()[1].startswith(f'  File "{shown_from}", line {(files.index(shown_from) + 1) * 10},')

    def test_configured_package_wins(self):
        """OTEL_EXPORTER_DISCORD_APP_PACKAGES settles what the heuristic cannot: a library-looking package."""
        from otel_discord.detect import frames

        text = _py_traceback(f"{SP}/flask/app.py", "/srv/tools/run.py", f"{SP}/flask_shop/views.py")
        before = frames.classifier().app_packages
        try:
            frames.use_app_packages([])
            assert read_traceback(text)[0].file == "/srv/tools/run.py"
            frames.use_app_packages(["flask_shop"])
            assert read_traceback(text)[0].file == f"{SP}/flask_shop/views.py"
        finally:
            frames.use_app_packages(before)
