"""Read Python tracebacks as text: frames, the application's own frame, the part worth showing.

A span's ``exception.stacktrace`` is ``traceback.format_exc()`` output: it starts
inside OpenTelemetry's ``use_span`` and walks through Flask before it reaches the
application, and with chained exceptions ("During handling of the above exception
...") it holds several tracebacks, the one that escaped printed last. People want
to see where *their* code failed, so everything here works on the last traceback
and tells application frames from interpreter and installed-package frames.
"""

from __future__ import annotations

import os
import re
import sysconfig
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

# Only the tail is read: the escaping exception is printed last, and a runaway
# recursion traceback should not cost more than a bounded amount of parsing.
_MAX_CHARS: Final = 64 * 1024
_HEADER: Final = "Traceback (most recent call last):"
# ", in <function>" is required: SyntaxError prints a 'File "x", line 3' location
# line without it, which is part of the exception message, not a frame.
_FRAME: Final = re.compile(r'^[ \t|+]*File "(?P<file>[^"\n]*)", line (?P<line>\d+), in (?P<function>[^\n]*?)\s*$')
_CARETS: Final = re.compile(r"^[ \t|]*[\^~]+[ \t]*$")
_LIBRARY_DIRS: Final = ("/site-packages/", "/dist-packages/")
# Tracebacks may come from another interpreter (a worker, a container), so the
# stdlib is also recognised by shape, not only by this interpreter's paths.
_STDLIB_SHAPE: Final = re.compile(r"/lib(?:64)?/python\d+(?:\.\d+)?t?/|/Lib/")
_KEEP_COMPONENTS: Final = 3


@dataclass(frozen=True, slots=True)
class Frame:
    """One ``File "…", line N, in f`` entry; ``code`` is the source line shown under it, if any."""

    file: str
    line: int
    function: str
    code: str = ""


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


_STDLIB_PREFIXES: Final = _stdlib_prefixes()


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
    """False for installed packages, the standard library and ``<frozen …>``-style pseudo files."""
    if not path or path.startswith("<"):
        return False
    normalized = path.replace("\\", "/")
    for marker in _LIBRARY_DIRS:
        if marker in normalized:
            return False
    if _STDLIB_PREFIXES and normalized.startswith(_STDLIB_PREFIXES):
        return False
    return _STDLIB_SHAPE.search(normalized) is None


def first_app_frame(frames: Sequence[Frame]) -> Frame | None:
    """The application frame closest to where the exception was raised, or ``None``.

    Walks from the innermost frame outwards, skipping interpreter (stdlib) and
    site-packages/dist-packages frames: when a library raises, the culprit shown
    to a person is the line of *their* code that called it.
    """
    for frame in reversed(frames):
        if is_app_file(frame.file):
            return frame
    return None


def display_path(path: str) -> str:
    """A short, machine-independent form of ``path``: relative to the app, at most 3 components.

    Strips everything up to and including ``site-packages/`` (or the stdlib
    directory, or the current directory), so the same bug on two hosts installed
    in different places reads, and fingerprints, the same.
    """
    normalized = path.replace("\\", "/")
    rest = None
    for marker in _LIBRARY_DIRS:
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
    parts = [part for part in rest.split("/") if part]
    return "/".join(parts[-_KEEP_COMPONENTS:]) or path


def describe_frame(frame: Frame, path: str | None = None) -> str:
    """``file:line in function`` with the short path (``path``, if the caller has it already)."""
    return f"{path if path is not None else display_path(frame.file)}:{frame.line} in {frame.function}"


def app_traceback(stacktrace: str) -> str:
    """The last traceback from the outermost application frame onwards, with the exception line.

    The leading wrapper frames (OpenTelemetry's ``use_span``, Flask's dispatch)
    are dropped when an application frame exists, so a truncated code block
    still shows the interesting part; chained causes and ``^^^`` marker lines
    are dropped too. Without any frame the text is returned unchanged, minus
    markers.
    """
    if not isinstance(stacktrace, str) or not stacktrace:
        return ""
    lines = _last_section(stacktrace)
    return _app_text(lines, _frame_lines(lines))


def read_traceback(stacktrace: str) -> tuple[Frame | None, str]:
    """``(first_app_frame(parse_frames(s)), app_traceback(s))`` from one parse of ``s``.

    Every error notice needs both (its Location field and its code block), and
    parsing is the costly part, so detectors call this once per exception.
    """
    if not isinstance(stacktrace, str) or not stacktrace:
        return None, ""
    lines = _last_section(stacktrace)
    parsed = _frame_lines(lines)
    frame = None
    for index, match in reversed(parsed):  # as first_app_frame; only the frame shown is built
        if is_app_file(match["file"]):
            frame = _frame(lines, index, match)
            break
    return frame, _app_text(lines, parsed)


def _app_text(lines: list[str], parsed: list[tuple[int, re.Match[str]]]) -> str:
    start = 0
    for index, match in parsed:
        if is_app_file(match["file"]):
            start = index
            break
    kept = [line for line in lines[start:] if not (("^" in line or "~" in line) and _CARETS.match(line))]
    while kept and not kept[-1].strip():
        kept.pop()
    if not parsed:
        return "\n".join(kept)
    return "\n".join([_HEADER, *kept])
