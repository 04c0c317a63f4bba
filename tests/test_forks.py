"""Fork safety outside deliver/: one at-fork hook resets every registered piece of process state."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import otel_discord
from otel_discord.detect import observations
from otel_discord.health import forks


def test_package_has_at_most_three_fork_hooks() -> None:
    root = Path(otel_discord.__file__).parent
    hooks = [p for p in root.rglob("*.py") for _ in re.finditer(r"^\s*os\.register_at_fork\(", p.read_text(), re.M)]
    outside_deliver = [p for p in hooks if "deliver" not in p.parts]
    assert len(outside_deliver) == 1, outside_deliver


def test_child_gets_fresh_lock_and_empty_observations_while_parent_thread_holds_lock() -> None:
    class Holder:
        def __init__(self) -> None:
            self.lock = threading.Lock()
            forks.in_child(self.reset)

        def reset(self) -> None:
            self.lock = threading.Lock()

    holder = Holder()
    observations.count("db.queries", 3)
    holder.lock.acquire()  # as if another thread of the parent were inside it at fork time
    try:
        pid = os.fork()
        if pid == 0:  # child: must neither deadlock nor count the parent's observations
            ok = holder.lock.acquire(timeout=2) and observations.drain()[0] == {}
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
    finally:
        holder.lock.release()
    assert os.waitstatus_to_exitcode(status) == 0
    assert observations.drain()[0] == {"db.queries": 3}  # the parent keeps its own
