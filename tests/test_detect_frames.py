"""Python frames: application or library by package (installed distributions, the setting), not by location."""

from __future__ import annotations

import pytest

from otel_discord.config import ConfigError, resolve
from otel_discord.detect import frames
from otel_discord.detect.frames import (
    CONFIGURED,
    INSTALLED,
    LIBRARY,
    SOURCE,
    UNKNOWN,
    Installed,
    PythonFrames,
    _library_closure,
    _requirements,
)
from otel_discord.exporters._base import configure, no_features

SP = "/app/.venv/lib/python3.12/site-packages"
WEBHOOK = "https://discord.com/api/webhooks/123/tok"


class TestLibraryClosure:
    def test_stack_dependencies_and_required_packages_are_libraries(self):
        """The stack and what it requires are libraries; so is anything another package requires; roots are not."""
        requires = {
            "shop": ["flask", "flask-restful", "stripe"],
            "flask": ["werkzeug", "jinja2"],
            "werkzeug": ["markupsafe"],
            "jinja2": ["markupsafe"],
            "flask-restful": ["flask", "aniso8601"],
            "aniso8601": [],
            "stripe": ["requests"],
            "requests": [],
            "markupsafe": [],
            "opentelemetry-sdk": ["opentelemetry-api", "typing-extensions"],
            "opentelemetry-api": ["importlib-metadata"],
            "importlib-metadata": [],
            "typing-extensions": [],
            "pip": [],
            "ruff": [],
        }
        libraries = _library_closure(requires)
        assert "shop" not in libraries and "ruff" not in libraries  # nothing requires them
        assert {
            "flask",
            "werkzeug",
            "jinja2",
            "markupsafe",
            "flask-restful",
            "aniso8601",
            "stripe",
            "requests",
            "opentelemetry-sdk",
            "opentelemetry-api",
            "importlib-metadata",
            "typing-extensions",
            "pip",
        } <= libraries

    @pytest.mark.parametrize(
        ("requires", "names"),
        [
            (["Werkzeug>=3.1", "Jinja2 (>=3.1.2)", "click>=8.1.3"], ["werkzeug", "jinja2", "click"]),
            (['asgiref>=3.2 ; extra == "async"', "blinker>=1.9"], ["blinker"]),  # extras are optional
            (['importlib-metadata>=3.6; python_version < "3.10"'], ["importlib-metadata"]),
            (["zope.interface"], ["zope-interface"]),
            (None, []),
        ],
    )
    def test_requirement_names(self, requires, names):
        """Requirement lines give normalised names; optional extras do not make a dependency."""
        assert _requirements(requires) == names


class TestRanks:
    INSTALLED_HERE = Installed(
        distributions={"shop": ("shop",), "stripe": ("stripe",), "ruffled": ("ruffled",)},
        libraries=frozenset({"stripe"}),
    )

    @pytest.mark.parametrize(
        ("path", "rank"),
        [
            (f"{SP}/shop/views.py", INSTALLED),  # installed, and nothing requires it: the app
            (f"{SP}/stripe/api.py", LIBRARY),  # required by another distribution
            (f"{SP}/flask/app.py", LIBRARY),  # the stack, by name
            (f"{SP}/flask_login/utils.py", LIBRARY),  # a Flask extension
            (f"{SP}/opentelemetry/trace/__init__.py", LIBRARY),
            (f"{SP}/json/decoder.py", LIBRARY),  # a stdlib name (a backport) in site-packages
            (f"{SP}/nothere/x.py", UNKNOWN),  # not installed here: another host's package
            (f"{SP}/shop-1.0-py3.12.egg/shop/views.py", INSTALLED),
            ("/usr/lib/python3/dist-packages/shop/views.py", INSTALLED),
            ("/srv/shop/views.py", SOURCE),
            ("C:\\shop\\views.py", SOURCE),
            ("/usr/lib/python3.12/json/decoder.py", LIBRARY),
            ("<frozen runpy>", LIBRARY),
            ("", LIBRARY),
        ],
    )
    def test_rank_table(self, path, rank):
        """Each file is ranked by the package it belongs to, wherever it is installed."""
        assert PythonFrames((), self.INSTALLED_HERE).rank(path) == rank

    @pytest.mark.parametrize(
        ("packages", "path", "rank"),
        [
            (["stripe"], f"{SP}/stripe/api.py", CONFIGURED),
            (["shop.jobs"], f"{SP}/shop/jobs/nightly.py", CONFIGURED),
            (["shop.jobs"], f"{SP}/shop/views.py", INSTALLED),
            (["shop"], "/home/me/src/shop/views.py", CONFIGURED),
            (["shop"], "/home/me/src/other/views.py", SOURCE),
            (["app"], f"{SP}/flask/app.py", LIBRARY),  # only the module path counts in site-packages
        ],
    )
    def test_configured_packages(self, packages, path, rank):
        """Packages named in the setting outrank everything; inside site-packages only the module path counts."""
        assert PythonFrames(packages, self.INSTALLED_HERE).rank(path) == rank

    def test_this_interpreters_stack_is_library(self):
        """The real metadata scan: Flask, SQLAlchemy, OpenTelemetry and their dependencies are libraries."""
        installed = Installed.scan()
        for top in ("flask", "werkzeug", "sqlalchemy", "jinja2", "opentelemetry", "requests", "yaml", "waitress"):
            assert installed.rank(top) == LIBRARY, top
        assert installed.rank("surely_not_installed_here") == UNKNOWN


class TestSetting:
    @pytest.fixture(autouse=True)
    def _restore(self):
        before = frames.classifier().app_packages
        yield
        frames.use_app_packages(before)

    def test_parsed_from_the_environment(self):
        """A comma list; Java, .NET, Go and npm names are accepted as written (case kept)."""
        environ = {"OTEL_EXPORTER_DISCORD_APP_PACKAGES": " shop, com.Acme.Shop ,github.com/acme/shop,@acme/api,"}
        settings = resolve(webhook_url=WEBHOOK, environ=environ)
        assert settings.app_packages == ("shop", "com.Acme.Shop", "github.com/acme/shop", "@acme/api")
        assert resolve(webhook_url=WEBHOOK, environ={}).app_packages == ()

    def test_bad_value_names_the_setting(self):
        """A value that is no package name is refused with the variable's name."""
        with pytest.raises(ConfigError, match="OTEL_EXPORTER_DISCORD_APP_PACKAGES: 'my app'"):
            resolve(webhook_url=WEBHOOK, environ={"OTEL_EXPORTER_DISCORD_APP_PACKAGES": "shop,my app"})

    def test_an_exporter_applies_it_to_the_process(self, monkeypatch, tmp_path):
        """Building an exporter's settings makes the process read stack traces with its app packages."""
        monkeypatch.setenv("OTEL_EXPORTER_DISCORD_WEBHOOK_URL", WEBHOOK)
        monkeypatch.setenv("OTEL_EXPORTER_DISCORD_SPOOL_DIR", str(tmp_path))
        monkeypatch.setenv("OTEL_EXPORTER_DISCORD_APP_PACKAGES", "billing")
        assert configure("traces", "span", strict=False, core={}, features=no_features) is not None
        assert frames.classifier().app_packages == ("billing",)
        assert frames.classifier().rank(f"{SP}/billing/charge.py") == CONFIGURED
