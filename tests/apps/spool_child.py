"""A process that delivers through the spool, for the SIGKILL test: ``python spool_child.py submit N`` or ``replay``.

``submit N`` queues N notices while Discord is down, prints ``SPOOLED`` once all of
them are on disk and keeps trying to deliver them until it is killed. ``replay``
submits nothing: a restarted application delivers what the killed one left in
the spool. Settings come from the environment, as for any application.
"""

from __future__ import annotations

import sys
import time

from otel_discord.config import resolve
from otel_discord.deliver.engine import DeliveryEngine, Outgoing
from otel_discord.notice import Category, Kind, Notice, Severity


def main(mode: str, count: int = 0) -> int:
    engine = DeliveryEngine(resolve("traces"))
    for i in range(count):
        notice = Notice(Kind.EVENT, Severity.INFO, Category.INVOICE, f"invoice {i} paid", channel="default")
        engine.submit(Outgoing("default", {"title": notice.title}, notice, content=f"#{i}"))
    if mode == "submit":
        while engine.spool_depth() < count:
            time.sleep(0.01)
        print("SPOOLED", flush=True)
    else:
        print("REPLAYING", flush=True)
    while True:  # until killed
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0))
