"""Read stack traces as text: frames, the application's own frame, the part worth showing.

A span's ``exception.stacktrace`` from the Python SDK is ``traceback.format_exc()``
output: it starts inside OpenTelemetry's ``use_span`` and walks through Flask
before it reaches the application, and with chained exceptions ("During handling
of the above exception ...") it holds several tracebacks, the one that escaped
printed last. People want to see where *their* code failed, so everything here
works on the last traceback and tells application frames from library frames by
package, wherever the app is installed (``frames.py``).

Through the bridge the same attribute arrives from the JavaScript, Java, Go and
.NET SDKs in their own formats; ``languages.py`` reads those. The text's shape
says which language it is (the text is what is parsed and shown); the
resource's ``telemetry.sdk.language`` settles text whose shape says nothing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any, Final

from otel_discord.detect import languages
from otel_discord.detect.frames import (
    INSTALLED,
    LIBRARY,
    STDLIB_PREFIXES,
    UNKNOWN,
    Frame,
    classifier,
    installed_parts,
    top_level,
)

__all__ = [
    "Frame",
    "app_traceback",
    "describe_frame",
    "display_path",
    "first_app_frame",
    "is_app_file",
    "language_of",
    "parse_frames",
    "read_traceback",
    "stack_language",
]

# Only the tail is read: the escaping exception is printed last, and a runaway
# recursion traceback should not cost more than a bounded amount of parsing.
_MAX_CHARS: Final = 64 * 1024
_HEADER: Final = "Traceback (most recent call last):"
# ", in <function>" is required: SyntaxError prints a 'File "x", line 3' location
# line without it, which is part of the exception message, not a frame.
_FRAME: Final = re.compile(r'^[ \t|+]*File "(?P<file>[^"\n]*)", line (?P<line>\d+), in (?P<function>[^\n]*?)\s*$')
_CARETS: Final = re.compile(r"^[ \t|]*[\^~]+[ \t]*$")
_STDLIB_SHAPE: Final = re.compile(r"/lib(?:64)?/python\d+(?:\.\d+)?t?/|/Lib/")
# Where other runtimes keep their dependencies: stripped like site-packages when shown.
_DEPENDENCY_DIRS: Final = ("/node_modules/", "/pkg/mod/")
_KEEP_COMPONENTS: Final = 3
_SDK_LANGUAGE: Final = "telemetry.sdk.language"
_SDK_LANGUAGES: Final = {
    "python": "python",
    "nodejs": "nodejs",
    "webjs": "nodejs",
    "java": "java",
    "go": "go",
    "dotnet": "dotnet",
}
_STDLIB_PREFIXES: Final = STDLIB_PREFIXES

_last_shape: tuple[str, str | None] = ("", None)  # the last text's language: every notice asks twice


def _shape(stacktrace: str) -> str | None:
    """The language the text looks like (``python``, ``nodejs``, ``java``, ``go``, ``dotnet``) or None."""
    global _last_shape
    last = _last_shape
    if last[0] is stacktrace:
        return last[1]
    if _HEADER in stacktrace or (
        'File "' in stacktrace
        and any(_FRAME.match(line) for line in stacktrace[-_MAX_CHARS:].splitlines() if 'File "' in line)
    ):
        found: str | None = "python"
    else:
        found = languages.detect(stacktrace[:_MAX_CHARS].splitlines())
    _last_shape = (stacktrace, found)
    return found


def language_of(stacktrace: str, resource: Any = None) -> str | None:
    """The language of a stack trace: its shape, else the resource's ``telemetry.sdk.language``."""
    shape = _shape(stacktrace) if isinstance(stacktrace, str) and stacktrace else None
    if shape is not None:
        return shape
    attributes = getattr(resource, "attributes", resource)
    hint = attributes.get(_SDK_LANGUAGE) if hasattr(attributes, "get") else None
    return _SDK_LANGUAGES.get(hint) if isinstance(hint, str) else None


def stack_language(stacktrace: str, resource: Any = None) -> str:
    """The code-block label for a stack trace: ``py``, ``js``, ``java``, ``go``, ``cs`` (``py`` if unsure)."""
    return languages.CODE_LABELS.get(language_of(stacktrace, resource) or "python", "py")


def _last_section(stacktrace: str) -> list[str]:
    """The lines of the last traceback (the exception that escaped), header excluded."""
    lines = stacktrace[-_MAX_CHARS:].splitlines()
    for index in range(len(lines) - 1, -1, -1):
        line = lines[index]
        if _HEADER in line and line.lstrip(" \t|+").startswith(_HEADER):  # `in` rules out most lines cheaply
            return lines[index + 1 :]
    return lines


# The substring tests rule out most lines before the regexes run.
def _is_frame(line: str) -> bool:
    return 'File "' in line and _FRAME.match(line) is not None


def _is_carets(line: str) -> bool:
    return ("^" in line or "~" in line) and _CARETS.match(line) is not None


def _frame_lines(lines: Sequence[str]) -> list[tuple[int, re.Match[str]]]:
    """``(line index, match)`` for every frame line in ``lines``."""
    found = []
    for index, text in enumerate(lines):
        if 'File "' in text:
            match = _FRAME.match(text)
            if match is not None:
                found.append((index, match))
    return found


def _frame(lines: Sequence[str], index: int, match: re.Match[str]) -> Frame:
    """The frame of the line at ``index``, with the source line printed under it, if any."""
    code = ""
    if index + 1 < len(lines):
        following = lines[index + 1]
        if following.startswith("    ") and not _is_frame(following) and not _is_carets(following):
            code = following.strip()
    return Frame(match["file"], int(match["line"]), match["function"], code)


def parse_frames(stacktrace: str) -> list[Frame]:
    """Frames of the last traceback in ``stacktrace``, outermost first (as Python prints them).

    With chained exceptions only the last traceback counts: it belongs to the
    exception that escaped and runs from the entry point to where it was raised.
    Text that is not a traceback gives an empty list.
    """
    if not isinstance(stacktrace, str) or not stacktrace:
        return []
    lines = _last_section(stacktrace)
    return [_frame(lines, index, match) for index, match in _frame_lines(lines)]


def is_app_file(path: str) -> bool:
    """Whether a Python frame's file may be the application's (any rank above ``LIBRARY``, see ``frames.py``).

    False for the standard library, ``<frozen …>``-style pseudo files, and packages
    known to be libraries: the instrumented stack and whatever installed
    distributions require.
    """
    return classifier().rank(path) > LIBRARY if isinstance(path, str) else False


def _choose(files: Sequence[str]) -> tuple[int, int] | None:
    """``(index of the app's innermost frame, index of its outermost one)`` in ``files``, or None.

    The highest rank present wins. For installed packages the app is the package
    of the outermost such frame: the first code the framework called. A package
    that code calls in turn (a validation library raising) is one of its libraries.
    """
    ranks = [classifier().rank(file) for file in files]
    best = max(ranks, default=LIBRARY)
    if best == LIBRARY:
        return None
    chosen = [index for index, rank in enumerate(ranks) if rank == best]
    if best in (INSTALLED, UNKNOWN):
        app = top_level(files[chosen[0]])
        chosen = [index for index in chosen if top_level(files[index]) == app]
    return chosen[-1], chosen[0]


def first_app_frame(frames: Sequence[Frame]) -> Frame | None:
    """The application frame closest to where the exception was raised, or ``None``.

    When a library raises, the culprit shown to a person is the line of *their*
    code that called it; "their code" is decided by package (``frames.py``), so an
    app installed into site-packages is found as well as one in a source checkout.
    """
    choice = _choose([frame.file for frame in frames])
    return frames[choice[0]] if choice is not None else None


def display_path(path: str) -> str:
    """A short, machine-independent form of ``path``: relative to the app, at most 3 components.

    Strips everything up to and including ``site-packages/`` (or ``node_modules/``,
    Go's module cache, the stdlib directory, the current directory), so the same
    bug on two hosts installed in different places reads, and fingerprints, the same.
    """
    normalized = path.replace("\\", "/")
    parts = installed_parts(normalized)
    rest = "/".join(parts) if parts is not None else None
    if rest is None:
        for marker in _DEPENDENCY_DIRS:
            if marker in normalized:
                rest = normalized.rsplit(marker, 1)[1]
                break
    if rest is None:
        try:
            cwd = os.getcwd().replace("\\", "/").rstrip("/") + "/"
        except OSError:  # the working directory was deleted
            cwd = ""
        if cwd and cwd != "/" and normalized.startswith(cwd):
            rest = normalized[len(cwd) :]
        else:
            for prefix in _STDLIB_PREFIXES:
                if normalized.startswith(prefix):
                    rest = normalized[len(prefix) :]
                    break
    if rest is None:
        shape = _STDLIB_SHAPE.search(normalized)
        rest = normalized[shape.end() :] if shape else normalized
    kept = [part for part in rest.split("/") if part]
    return "/".join(kept[-_KEEP_COMPONENTS:]) or path


def describe_frame(frame: Frame, path: str | None = None) -> str:
    """``file:line in function`` with the short path (``path``, if the caller has it already).

    A frame without a file (a .NET build without symbols, Java's ``Native Method``)
    is just its function.
    """
    if not frame.file:
        return frame.function
    where = path if path is not None else display_path(frame.file)
    return f"{where}:{frame.line} in {frame.function}" if frame.line else f"{where} in {frame.function}"


def app_traceback(stacktrace: str) -> str:
    """The last traceback from the outermost application frame onwards, with the exception line.

    The leading wrapper frames (OpenTelemetry's ``use_span``, Flask's dispatch)
    are dropped when an application frame exists, so a truncated code block
    still shows the interesting part; chained causes and ``^^^`` marker lines
    are dropped too. Without any frame the text is returned unchanged, minus
    markers. Other languages' traces are cut to the app's innermost frames.
    """
    return read_traceback(stacktrace)[1]


def read_traceback(stacktrace: str, resource: Any = None) -> tuple[Frame | None, str]:
    """``(the app's innermost frame, the text for the code block)`` from one parse of ``stacktrace``.

    Every error notice needs both (its Location field and its code block), and
    parsing is the costly part, so detectors call this once per exception. Python
    tracebacks are read here; JavaScript, Java, Go and .NET ones in ``languages.py``.
    ``resource`` (its ``telemetry.sdk.language``) only matters for text whose shape
    names no language.
    """
    if not isinstance(stacktrace, str) or not stacktrace:
        return None, ""
    language = language_of(stacktrace, resource)
    if language is not None and language != "python":
        return languages.read(stacktrace, language)
    lines = _last_section(stacktrace)
    parsed = _frame_lines(lines)
    choice = _choose([match["file"] for _, match in parsed])
    frame = _frame(lines, *parsed[choice[0]]) if choice is not None else None
    start = parsed[choice[1]][0] if choice is not None else 0
    kept = [line for line in lines[start:] if not (("^" in line or "~" in line) and _CARETS.match(line))]
    while kept and not kept[-1].strip():
        kept.pop()
    if not parsed:
        return frame, "\n".join(kept)
    return frame, "\n".join([_HEADER, *kept])
