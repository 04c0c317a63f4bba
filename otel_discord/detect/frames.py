"""Which Python frames are the application's: decided by package, not by where it is installed.

"Skip every site-packages frame" fails the moment an app is ``pip install``-ed (a
Docker image, a wheel): all of its own frames are in site-packages too, and the
alert blames Flask or SQLAlchemy, or has no location at all. So a frame is judged
by the package it belongs to, with a rank, highest first:

* ``CONFIGURED``: a package named in ``OTEL_EXPORTER_DISCORD_APP_PACKAGES``, for
  the cases no heuristic can settle;
* ``SOURCE``: a file outside site-packages and the standard library (a source
  checkout: the behaviour before installed apps were understood);
* ``INSTALLED``: an installed distribution that is not part of the instrumented
  stack: not Flask, Werkzeug, SQLAlchemy, the OpenTelemetry packages, otel-discord
  or anything those require, and required by no other installed distribution (a
  library is something another package depends on; the app is what nothing does);
* ``UNKNOWN``: a site-packages package this interpreter has no metadata for and
  does not know by name: the traceback came from another host (through the bridge),
  where the app may be installed;
* ``LIBRARY``: the standard library, pseudo files (``<frozen …>``), and every
  other installed or well-known package.

The metadata scan (``importlib.metadata``) runs once per process, lazily, on the
first site-packages frame that needs it. Ranks are memoised per file path (a
bounded map: the same few files recur in every traceback).
"""

from __future__ import annotations

import importlib.metadata as metadata
import re
import sys
import sysconfig
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from otel_discord.health.log import get_logger

_logger = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Frame:
    """One stack frame: file, line, function; ``code`` is the source line Python prints under it, if any."""

    file: str
    line: int
    function: str
    code: str = ""


LIBRARY: Final = 0
UNKNOWN: Final = 1
INSTALLED: Final = 2
SOURCE: Final = 3
CONFIGURED: Final = 4

_LIBRARY_DIRS: Final = ("/site-packages/", "/dist-packages/")
# Tracebacks may come from another interpreter (a worker, a container), so the
# stdlib is also recognised by shape, not only by this interpreter's paths.
_STDLIB_SHAPE: Final = re.compile(r"/lib(?:64)?/python\d+(?:\.\d+)?t?/|/Lib/")
#: Distributions of the instrumented stack; they and everything they require are libraries.
_STACK_SEEDS: Final = frozenset({"flask", "werkzeug", "sqlalchemy", "otel-discord", "gunicorn", "waitress"})
_STACK_PREFIXES: Final = ("opentelemetry-",)
#: Installers and test tools: nothing requires them, yet they are never the app.
_TOOLS: Final = frozenset({"pip", "setuptools", "wheel", "pytest", "pluggy", "virtualenv", "build", "hypothesis"})
#: Top-level names known to be libraries even where they are not installed (the bridge
#: reads other hosts' tracebacks): the stack, its dependencies, and common web and DB libraries.
_KNOWN_LIBRARIES: Final = frozenset(
    {
        "flask",
        "werkzeug",
        "jinja2",
        "markupsafe",
        "itsdangerous",
        "click",
        "blinker",
        "sqlalchemy",
        "alembic",
        "greenlet",
        "opentelemetry",
        "wrapt",
        "deprecated",
        "importlib_metadata",
        "zipp",
        "typing_extensions",
        "google",
        "grpc",
        "requests",
        "urllib3",
        "certifi",
        "idna",
        "charset_normalizer",
        "httpx",
        "httpcore",
        "h11",
        "anyio",
        "sniffio",
        "aiohttp",
        "multidict",
        "yarl",
        "gunicorn",
        "waitress",
        "uvicorn",
        "starlette",
        "fastapi",
        "pydantic",
        "pydantic_core",
        "django",
        "celery",
        "kombu",
        "billiard",
        "redis",
        "psycopg2",
        "psycopg",
        "pymysql",
        "MySQLdb",
        "asyncpg",
        "marshmallow",
        "yaml",
        "botocore",
        "boto3",
        "s3transfer",
        "packaging",
        "setuptools",
        "pkg_resources",
        "pip",
        "_pytest",
        "pytest",
        "pluggy",
        "gevent",
        "eventlet",
        "sentry_sdk",
        "otel_discord",
        "six",
        "attr",
        "attrs",
        "dateutil",
        "pytz",
        "tenacity",
        "jsonschema",
    }
)
_LIBRARY_NAME_PREFIXES: Final = ("flask_", "sqlalchemy_", "opentelemetry", "django_", "pytest_", "_pytest")
_REQUIREMENT_NAME: Final = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_MEMO_SIZE: Final = 4096


def normalize(name: str) -> str:
    """A distribution name as PEP 503 compares it (``Flask_RESTful`` → ``flask-restful``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements(requires: Iterable[str] | None) -> list[str]:
    """Names of the unconditional requirements (``extra == …`` markers are optional, so skipped)."""
    names = []
    for requirement in requires or ():
        _, _, marker = requirement.partition(";")
        match = _REQUIREMENT_NAME.match(requirement)
        if match and "extra" not in marker:
            names.append(normalize(match[1]))
    return names


@dataclass(frozen=True, slots=True)
class Installed:
    """What this interpreter has installed: top-level module → distributions, and which are libraries."""

    distributions: Mapping[str, tuple[str, ...]]
    libraries: frozenset[str]

    @classmethod
    def scan(cls) -> Installed:
        """Read ``importlib.metadata`` once; a broken environment gives an empty (all-unknown) answer."""
        try:
            requires: dict[str, list[str]] = {}
            for dist in metadata.distributions():
                name = dist.metadata["Name"]
                if name:
                    requires.setdefault(normalize(name), []).extend(_requirements(dist.requires))
            tops = {top: tuple(normalize(d) for d in dists) for top, dists in metadata.packages_distributions().items()}
        except Exception:  # a half-installed package must not break error reporting
            _logger.debug("cannot read the installed distributions", exc_info=True)
            return cls({}, frozenset())
        return cls(tops, _library_closure(requires))

    def rank(self, top: str) -> int:
        """``LIBRARY``, ``INSTALLED`` (an installed root that is not a library) or ``UNKNOWN`` (not installed)."""
        dists = self.distributions.get(top)
        if not dists:
            return UNKNOWN
        return LIBRARY if any(d in self.libraries for d in dists) else INSTALLED


def _library_closure(requires: Mapping[str, list[str]]) -> frozenset[str]:
    """The stack's distributions and their requirements, plus everything any distribution requires."""
    libraries = {name for name in requires if name in _STACK_SEEDS or name.startswith(_STACK_PREFIXES)}
    libraries |= _TOOLS & requires.keys()
    pending = list(libraries)
    while pending:
        for required in requires.get(pending.pop(), ()):
            if required not in libraries:
                libraries.add(required)
                pending.append(required)
    for required in requires.values():
        libraries.update(required)
    return frozenset(libraries)


def _stdlib_prefixes() -> tuple[str, ...]:
    prefixes = set()
    for key in ("stdlib", "platstdlib"):
        try:
            path = sysconfig.get_paths().get(key)
        except Exception:  # a broken sysconfig must not break error reporting
            path = None
        if path:
            prefixes.add(path.replace("\\", "/").rstrip("/") + "/")
    return tuple(sorted(prefixes))


STDLIB_PREFIXES: Final = _stdlib_prefixes()
_STDLIB_NAMES: Final = frozenset(getattr(sys, "stdlib_module_names", ()))


def installed_parts(normalized: str) -> list[str] | None:
    """The module path of a file under site-packages/dist-packages (``["flask", "app.py"]``), else None."""
    for marker in _LIBRARY_DIRS:
        if marker in normalized:
            parts = [p for p in normalized.rsplit(marker, 1)[1].split("/") if p]
            if parts and parts[0].endswith((".egg", ".whl")):  # zipped eggs: the module path is inside
                parts = parts[1:]
            return parts
    return None


def top_level(path: str) -> str | None:
    """The top-level package of an installed file (``…/site-packages/flask/app.py`` → ``flask``)."""
    parts = installed_parts(path.replace("\\", "/"))
    if not parts:
        return None
    return parts[0][:-3] if parts[0].endswith(".py") else parts[0]


class PythonFrames:
    """Ranks Python frame files as application or library (see the module docstring)."""

    def __init__(self, app_packages: Iterable[str] = (), installed: Installed | None = None) -> None:
        self.app_packages: tuple[str, ...] = tuple(p for p in app_packages if p)
        self._wanted = [tuple(p.split(".")) for p in self.app_packages]
        self._installed = installed
        self._lock = threading.Lock()
        self._memo: dict[str, int] = {}

    def with_app_packages(self, app_packages: Iterable[str]) -> PythonFrames:
        """A classifier for other app packages that shares this one's metadata scan."""
        return PythonFrames(app_packages, self._installed)

    def installed(self) -> Installed:
        if self._installed is None:
            with self._lock:
                if self._installed is None:
                    self._installed = Installed.scan()
        return self._installed

    def rank(self, path: str) -> int:
        """The rank of ``path`` (``LIBRARY`` … ``CONFIGURED``); memoised."""
        rank = self._memo.get(path)
        if rank is None:
            rank = self._rank(path)
            if len(self._memo) >= _MEMO_SIZE:
                self._memo.clear()  # rare: a bounded memo beats an unbounded one
            self._memo[path] = rank
        return rank

    def _rank(self, path: str) -> int:
        if not path or path.startswith("<"):
            return LIBRARY
        normalized = path.replace("\\", "/")
        parts = installed_parts(normalized)
        if self._wanted and self._configured(normalized, parts):
            return CONFIGURED
        if parts is None:
            if STDLIB_PREFIXES and normalized.startswith(STDLIB_PREFIXES):
                return LIBRARY
            return LIBRARY if _STDLIB_SHAPE.search(normalized) else SOURCE
        if not parts:
            return LIBRARY
        top = parts[0][:-3] if parts[0].endswith(".py") else parts[0]
        if top in _STDLIB_NAMES or top in _KNOWN_LIBRARIES or top.startswith(_LIBRARY_NAME_PREFIXES):
            return LIBRARY
        return self.installed().rank(top)

    def _configured(self, normalized: str, installed: list[str] | None) -> bool:
        if installed is not None:  # an installed file: its module path starts with the package
            module = [p[:-3] if p.endswith(".py") else p for p in installed]
            return any(tuple(module[: len(w)]) == w for w in self._wanted)
        # A source file: the package's directories appear in the path (the project root is unknown).
        parts = [p[:-3] if p.endswith(".py") else p for p in normalized.split("/") if p]
        return any(tuple(parts[i : i + len(w)]) == w for w in self._wanted for i in range(len(parts) - len(w) + 1))


_current = PythonFrames()


def classifier() -> PythonFrames:
    """The process's classifier (the app packages of the most recently configured exporter)."""
    return _current


def use_app_packages(app_packages: Iterable[str]) -> None:
    """Set the process's app packages (``OTEL_EXPORTER_DISCORD_APP_PACKAGES``), keeping the metadata scan.

    One list per process: every exporter reads the same setting, so the last one
    configured speaks for all of them.
    """
    global _current
    wanted = tuple(app_packages)
    if wanted != _current.app_packages:
        _current = _current.with_app_packages(wanted)
