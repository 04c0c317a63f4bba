"""Stack traces of JavaScript (V8), Java, Go and .NET: frames, the app's frame, the part worth showing.

OTLP from other SDKs reaches otel-discord through the bridge, each with
``exception.stacktrace`` in its own runtime's format:

* Node.js: ``error.stack``: the message, then ``    at fn (file:line:col)``,
  innermost first;
* Java: ``Throwable.printStackTrace()`` (the Java SDK renders exactly that):
  ``\\tat pkg.Class.method(File.java:12)``, then ``Caused by: …`` sections whose
  shared outer frames are folded into ``... N more``;
* Go: ``runtime.Stack`` (``span.RecordError(err, trace.WithStackTrace(true))``)
  or a panic: ``goroutine 1 [running]:``, then per frame a function line and a
  ``\\t/path/file.go:12 +0x1f`` line;
* .NET: ``Exception.ToString()``: the ``Type: message ---> Inner: message``
  header, the innermost exception's frames ``   at Ns.Type.Method(Args) in
  /src/File.cs:line 12``, ``--- End of inner exception stack trace ---``, then
  the outer exception's frames.

All four print the innermost frame first. The frames of the exception that
escaped (Java's first section, .NET's last) are searched for the app's innermost
frame, then its causes, nearest first. What counts as a library is decided per
language by the frame's module (``node_modules/``, ``java.*``,
``org.springframework.*``, Go's standard library and module cache,
``System.*``, ``Microsoft.*``…); packages named in
``OTEL_EXPORTER_DISCORD_APP_PACKAGES`` always count as the app's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from otel_discord.detect.frames import Frame, classifier

_MAX_CHARS: Final = 64 * 1024  # innermost-first formats: the head is what matters
_SCAN_LINES: Final = 400  # enough to tell the format; a huge trace costs no more
_MAX_APP_FRAMES: Final = 15
_LIBRARY_CONTEXT: Final = 2  # innermost library frames kept: where it actually failed
_PLAIN_FRAMES: Final = 8  # frames kept when none is the app's
_MAX_CAUSES: Final = 2
# The Go SDK's RecordError captures the stack where it is called: its own two frames
# say how the error was recorded, not where it happened.
_GO_RECORDER: Final = "go.opentelemetry.io/otel/sdk/trace."

_JS_FRAME: Final = re.compile(r"^\s*at (?:(?P<function>.+?) \((?P<location>.+)\)|(?P<bare>.+?))\s*$")
_JS_LOCATION: Final = re.compile(r"^(?P<file>.+?):(?P<line>\d+)(?::\d+)?$")
_FIREFOX_FRAME: Final = re.compile(r"^(?P<function>[^@\s]*)@(?P<file>.+?):(?P<line>\d+):\d+$")
_JAVA_FRAME: Final = re.compile(
    r"^(?P<indent>\s*)at (?P<function>[^\s()]+)\((?P<source>[^()]*\.(?:java|kt|kts|scala|groovy|clj|jav)"
    r"(?::(?P<line>\d+))?|Native Method|Unknown Source|<generated>)\)\s*$"
)
_JAVA_NO_FILE: Final = frozenset({"Native Method", "Unknown Source", "<generated>"})
_DOTNET_ARGS: Final = re.compile(r"^[\w.`+<>|\[\],]+\((?:|[^()]*[\w\]>&*] [\w@]+(?:, [^()]*)?)\)$")
_DOTNET_INNER_END: Final = "--- End of inner exception stack trace ---"
_DOTNET_ASYNC_MARK: Final = "--- End of stack trace from previous location"
_GO_GOROUTINE: Final = re.compile(r"^goroutine \d+ \[.*\]:\s*$")
_GO_LOCATION: Final = re.compile(r"^\t(?P<file>.+?):(?P<line>\d+)(?: \+0x[0-9a-f]+)?\s*$")

_JS_INTERNAL: Final = ("node:", "internal/", "native", "<anonymous>", "[native code]", "bun:", "deno:", "ext:")
_JAVA_LIBRARIES: Final = tuple(
    prefix + "."
    for prefix in (
        "java",
        "javax",
        "jdk",
        "sun",
        "com.sun",
        "jakarta",
        "kotlin",
        "kotlinx",
        "scala",
        "groovy",
        "org.springframework",
        "org.apache",
        "org.hibernate",
        "org.eclipse",
        "org.jboss",
        "org.glassfish",
        "io.netty",
        "io.opentelemetry",
        "io.micrometer",
        "io.grpc",
        "io.undertow",
        "io.vertx",
        "io.reactivex",
        "reactor",
        "com.fasterxml",
        "com.google",
        "com.zaxxer",
        "com.mysql",
        "org.postgresql",
        "org.h2",
        "org.slf4j",
        "ch.qos.logback",
        "org.junit",
        "org.mockito",
        "okhttp3",
        "okio",
        "retrofit2",
        "feign",
        "akka",
        "org.aspectj",
        "net.bytebuddy",
        "org.yaml",
        "org.thymeleaf",
        "org.flywaydb",
        "org.liquibase",
    )
)
_DOTNET_LIBRARIES: Final = tuple(
    prefix + "."
    for prefix in (
        "System",
        "Microsoft",
        "Npgsql",
        "Newtonsoft",
        "Dapper",
        "Polly",
        "Grpc",
        "OpenTelemetry",
        "Serilog",
        "NLog",
        "Castle",
        "Autofac",
        "MediatR",
        "StackExchange",
        "MongoDB",
        "Swashbuckle",
        "FluentValidation",
        "AutoMapper",
        "Pomelo",
        "Hangfire",
        "RabbitMQ",
        "MassTransit",
        "Azure",
        "Amazon",
        "Google",
        "Xunit",
        "NUnit",
        "Interop",
    )
)

#: Our language names (OpenTelemetry's ``telemetry.sdk.language`` values) → code-block labels.
CODE_LABELS: Final = {"python": "py", "nodejs": "js", "java": "java", "go": "go", "dotnet": "cs"}


@dataclass(slots=True)
class _Entry:
    frame: Frame
    lines: tuple[int, ...]  # indexes of its lines in the text
    rank: int


@dataclass(slots=True)
class _Section:
    header: list[int] = field(default_factory=list)
    entries: list[_Entry] = field(default_factory=list)


# --- which language ------------------------------------------------------------------------


def detect(lines: Sequence[str]) -> str | None:
    """``"nodejs"``, ``"java"``, ``"go"``, ``"dotnet"`` by the shape of the frames, or None."""
    votes = {"nodejs": 0, "java": 0, "go": 0, "dotnet": 0}
    for text in lines[:_SCAN_LINES]:
        stripped = text.strip()
        if stripped.startswith("at "):
            if _JAVA_FRAME.match(text):
                votes["java"] += 1
            elif " in " in stripped and ":line " in stripped:
                votes["dotnet"] += 1
            elif _DOTNET_ARGS.match(stripped[3:]):
                votes["dotnet"] += 1
            elif _js_frame(text) is not None:
                votes["nodejs"] += 1
        elif stripped.startswith("Caused by: ") or (stripped.startswith("... ") and stripped.endswith(" more")):
            votes["java"] += 1
        elif stripped.startswith((_DOTNET_INNER_END, _DOTNET_ASYNC_MARK, "---> ")):
            votes["dotnet"] += 2
        elif _GO_GOROUTINE.match(text) or (text.startswith("\t") and ".go:" in text and _GO_LOCATION.match(text)):
            votes["go"] += 2
        elif _FIREFOX_FRAME.match(stripped):
            votes["nodejs"] += 1
    language, count = max(votes.items(), key=lambda item: item[1])
    return language if count else None


# --- frames per language ---------------------------------------------------------------------


def _js_frame(text: str) -> Frame | None:
    match = _JS_FRAME.match(text)
    if match is None:
        return None
    location = match["location"] if match["location"] is not None else match["bare"]
    function = match["function"] or "<anonymous>"
    if location.startswith("eval at ") and ", " in location:  # "eval at f (file:1:2), <anonymous>:1:3"
        location = location.rsplit(", ", 1)[1]
    place = _JS_LOCATION.match(location)
    if place is None:
        return Frame(location, 0, function) if location in ("native", "<anonymous>") else None
    path = place["file"]
    if path.startswith("file://"):
        path = path[len("file://") :]
    return Frame(path, int(place["line"]), function)


def _js_rank(frame: Frame, wanted: Sequence[str]) -> int:
    path = frame.file.replace("\\", "/")
    if wanted and any(f"/node_modules/{w}/" in path or f"/{w}/" in path for w in wanted):
        return 2
    if "/node_modules/" in path or path.startswith(_JS_INTERNAL) or not path:
        return 0
    return 1


def _dotted_rank(module: str, libraries: tuple[str, ...], wanted: Sequence[str]) -> int:
    if any(module == w or module.startswith(w + ".") for w in wanted):
        return 2
    return 0 if module.startswith(libraries) else 1


def _parse_js(lines: Sequence[str], wanted: Sequence[str]) -> list[_Section]:
    section = _Section()
    for index, text in enumerate(lines):
        frame = _js_frame(text) if text.lstrip().startswith("at ") else None
        if frame is None:
            firefox = _FIREFOX_FRAME.match(text.strip())
            if firefox is not None:
                frame = Frame(firefox["file"], int(firefox["line"]), firefox["function"] or "<anonymous>")
        if frame is not None:
            section.entries.append(_Entry(frame, (index,), _js_rank(frame, wanted)))
        elif not section.entries:
            section.header.append(index)
    return [section]


def _parse_java(lines: Sequence[str], wanted: Sequence[str]) -> list[_Section]:
    sections = [_Section()]
    indent: str | None = None
    for index, text in enumerate(lines):
        match = _JAVA_FRAME.match(text)
        if match is not None:
            if indent is None:
                indent = match["indent"]
            if match["indent"] != indent:
                continue  # a suppressed exception's frames (indented one level deeper)
            function = match["function"].rsplit("/", 1)[-1]  # "java.base/java.lang.Thread.run"
            source = match["source"]
            file = "" if source in _JAVA_NO_FILE else source.split(":")[0]
            frame = Frame(file, int(match["line"] or 0), function)
            cls = function.rsplit(".", 1)[0]
            rank = 0 if source == "<generated>" else _dotted_rank(cls, _JAVA_LIBRARIES, wanted)
            sections[-1].entries.append(_Entry(frame, (index,), rank))
        elif text.startswith("Caused by: "):
            sections.append(_Section([index]))
        elif not sections[-1].entries and not text.lstrip().startswith("..."):
            sections[-1].header.append(index)
    return sections


def _parse_dotnet(lines: Sequence[str], wanted: Sequence[str]) -> list[_Section]:
    sections = [_Section()]
    header = sections[0].header
    for index, text in enumerate(lines):
        stripped = text.strip()
        if stripped.startswith(_DOTNET_INNER_END):
            sections.append(_Section())
            continue
        if stripped.startswith(_DOTNET_ASYNC_MARK):
            continue
        if not stripped.startswith("at "):
            if not any(s.entries for s in sections):
                header.append(index)  # the "Type: message ---> Inner: message" lines
            continue
        # String operations, not one regex: a lazy match over these long lines backtracks badly.
        function, file, line = stripped[3:], "", 0
        where, found, number = function.rpartition(":line ")
        split = where.find(") in ")  # the parameter list ends before the file; a path may hold " in "
        if found and number.isdigit() and split > 0:
            function, file, line = where[: split + 1], where[split + 5 :], int(number)
        name = function.split("(", 1)[0].strip()
        frame = Frame(file, line, name)
        rank = 0 if name.startswith("lambda_method") else _dotted_rank(name, _DOTNET_LIBRARIES, wanted)
        sections[-1].entries.append(_Entry(frame, (index,), rank))
    return sections


def _go_package(function: str) -> str:
    """``net/http.(*conn).serve`` → ``net/http``; ``main.main.func1`` → ``main``."""
    slash = function.rfind("/")
    dot = function.find(".", slash + 1)
    return function[:dot] if dot > 0 else function


def _go_rank(frame: Frame, wanted: Sequence[str]) -> int:
    package = _go_package(frame.function)
    if any(package == w or package.startswith(w + "/") for w in wanted):
        return 2
    path = frame.file.replace("\\", "/")
    if "/pkg/mod/" in path or "/vendor/" in path or "@v" in path:
        return 0  # the module cache or vendored dependencies
    first = package.split("/", 1)[0]
    return 1 if first == "main" or "." in first else 0  # no dot in the first element: the standard library


def _parse_go(lines: Sequence[str], wanted: Sequence[str]) -> list[_Section]:
    section = _Section()
    seen_goroutine = False
    index = 0
    while index < len(lines):
        text = lines[index]
        if _GO_GOROUTINE.match(text):
            if seen_goroutine:
                break  # a full dump: only the first (failing) goroutine counts
            seen_goroutine = True
            section.header.append(index)
        elif index + 1 < len(lines) and not text.startswith("\t") and text.strip():
            location = _GO_LOCATION.match(lines[index + 1])
            if location is not None:
                function = text.strip()
                if function.startswith("created by "):
                    function = function[len("created by ") :].split(" in goroutine ")[0]
                elif function.endswith(")") and "(" in function:
                    function = function[: function.rfind("(")]
                frame = Frame(location["file"], int(location["line"]), function)
                if section.entries or not function.startswith(_GO_RECORDER):
                    section.entries.append(_Entry(frame, (index, index + 1), _go_rank(frame, wanted)))
                index += 2
                continue
            if not section.entries:
                section.header.append(index)
        elif not section.entries and text.strip():
            section.header.append(index)
        index += 1
    return [section]


_PARSERS: Final[dict[str, Callable[[Sequence[str], Sequence[str]], list[_Section]]]] = {
    "nodejs": _parse_js,
    "java": _parse_java,
    "dotnet": _parse_dotnet,
    "go": _parse_go,
}


# --- the app's frame and the text shown ------------------------------------------------------


def _search_order(language: str, sections: list[_Section]) -> list[_Section]:
    """The escaping exception's section first, then its causes, nearest first."""
    if language == "dotnet":
        return sections[::-1]  # ToString() prints the innermost exception's frames first
    return sections


def read(stacktrace: str, language: str) -> tuple[Frame | None, str]:
    """``(the app's innermost frame, the text for the code block)`` of a non-Python stack trace."""
    parser = _PARSERS.get(language)
    if parser is None or not stacktrace:
        return None, stacktrace or ""
    lines = stacktrace[:_MAX_CHARS].splitlines()
    sections = parser(lines, classifier().app_packages)
    order = _search_order(language, sections)
    escaping = order[0]
    chosen, frame = escaping, None
    for section in order:
        best = max((entry.rank for entry in section.entries), default=0)
        if best > 0:
            chosen = section
            frame = next(entry.frame for entry in section.entries if entry.rank == best)
            break
    return frame, _text(lines, sections, escaping, chosen, language)


def _text(lines: Sequence[str], sections: list[_Section], escaping: _Section, chosen: _Section, language: str) -> str:
    header = sections[0].header if language == "dotnet" else escaping.header
    out = [lines[i] for i in header[:3] if lines[i].strip()]
    if chosen is not escaping and chosen.header:
        out.append(lines[chosen.header[0]])  # "Caused by: …" of the section the app frame is in
    if not chosen.entries:
        return "\n".join(out or list(lines[:20]))
    out.extend(_compact(lines, chosen.entries, language, _MAX_APP_FRAMES, _LIBRARY_CONTEXT))
    if language == "java":  # the root causes' messages (and app frames) often say what really failed
        for cause in sections[sections.index(chosen) + 1 :][:_MAX_CAUSES]:
            if cause.header:
                out.append(lines[cause.header[0]])
                out.extend(_compact(lines, cause.entries, language, 3, 0))
    return "\n".join(out)


def _compact(lines: Sequence[str], entries: list[_Entry], language: str, max_app: int, context: int) -> list[str]:
    """The frames worth showing, innermost first: the app's, the innermost ``context`` library frames
    (where it failed), the library frame the app called and the one that called the app; other runs
    of library frames become one ``... N library frames`` line."""
    if not entries:
        return []
    first = lines[entries[0].lines[0]]
    indent = "" if language == "go" else first[: len(first) - len(first.lstrip())]
    app = [i for i, entry in enumerate(entries) if entry.rank > 0][:max_app]
    if app:
        keep = set(app) | set(range(min(context, app[0])))
        keep |= {app[0] - 1, app[-1] + 1} & set(range(len(entries)))
    else:
        keep = set(range(min(_PLAIN_FRAMES, len(entries))))
    out: list[str] = []
    skipped = 0
    for i, entry in enumerate(entries[: max(keep) + 1]):
        if i not in keep:
            skipped += 1
            continue
        if skipped:
            out.append(f"{indent}... {skipped} library frame{'s' if skipped > 1 else ''}")
            skipped = 0
        out.extend(lines[j] for j in entry.lines)
    rest = len(entries) - max(keep) - 1
    if rest > 0:
        out.append(f"{indent}... {rest} more frame{'s' if rest > 1 else ''}")
    return out
