"""Job monitoring: a failure alerts at once; a job that stops reporting trips the dead man's switch."""

from __future__ import annotations

import pytest
from test_summary_support import Clock, drain_observations, local, make_monitor

from otel_discord.detect import observations as observe
from otel_discord.notice import Severity

JOBS = [{"name": "nightly-backup", "every": "24h", "grace": "1h"}]
HOUR = 3600.0


@pytest.fixture(autouse=True)
def clean_observe():
    drain_observations()
    yield
    drain_observations()


def job_notices(posts):
    return [p.notice for p in posts if "job.name" in p.notice.attributes]


def completed(name="nightly-backup", ms=1234):
    observe.business_event("job.completed", {"job.name": name, "job.duration_ms": ms})


def test_a_failure_is_not_alerted_twice(tmp_path):
    """The log exporter already posted job.failed when it was logged; the monitor stays quiet about it."""
    clock = Clock(local(2025, 10, 14, 3, 0))
    monitor = make_monitor(tmp_path, summaries="off", jobs=JOBS)
    completed()
    monitor.process(None, clock())
    clock.advance(HOUR)
    observe.business_event(
        "job.failed",
        {
            "job.name": "nightly-backup",
            "job.duration_ms": 800,
            "error.type": "OSError",
            "exception.message": "disk full",
        },
    )
    assert job_notices(monitor.process(None, clock())) == []


def test_dead_mans_switch(tmp_path):
    """Completed at 03:00; silent: nothing until 04:00 the next day (24 h + 1 h grace), then one alert,
    another a day later, and one 'completed again' when it reports."""
    clock = Clock(local(2025, 10, 14, 3, 0))
    monitor = make_monitor(tmp_path, summaries="off", jobs=JOBS)
    completed()
    assert job_notices(monitor.process(None, clock())) == []

    clock.now = local(2025, 10, 15, 3, 59)
    assert job_notices(monitor.process(None, clock())) == []
    clock.now = local(2025, 10, 15, 4, 1)
    (late,) = job_notices(monitor.process(None, clock()))
    assert late.severity is Severity.ERROR
    assert late.title == "Job nightly-backup has not completed for 25 h 1 min"
    clock.advance(HOUR)
    assert job_notices(monitor.process(None, clock())) == []

    # A restart remembers both the last success and that this deadline was alerted.
    restarted = make_monitor(tmp_path, summaries="off", jobs=JOBS)
    assert job_notices(restarted.process(None, clock())) == []
    clock.now = local(2025, 10, 16, 4, 1)
    (again,) = job_notices(restarted.process(None, clock()))
    assert again.title == "Job nightly-backup has not completed for 2 d 1 h"

    completed()
    (recovered,) = job_notices(restarted.process(None, clock()))
    assert recovered.severity is Severity.SUCCESS and recovered.title == "Job nightly-backup completed again"
    clock.advance(20 * HOUR)
    assert job_notices(restarted.process(None, clock())) == []


def test_a_job_never_seen_is_measured_from_when_monitoring_began(tmp_path):
    clock = Clock(local(2025, 10, 14, 12, 0))
    monitor = make_monitor(tmp_path, summaries="off", jobs=[{"name": "hourly-sync", "every": "1h"}])
    assert job_notices(monitor.process(None, clock())) == []
    clock.advance(HOUR + 60)
    (notice,) = job_notices(monitor.process(None, clock()))
    assert "Never seen since monitoring started" in notice.description


def test_exactly_one_process_alerts_a_missed_deadline(tmp_path):
    clock = Clock(local(2025, 10, 14, 3, 0))
    first = make_monitor(tmp_path, summaries="off", jobs=JOBS)
    second = make_monitor(tmp_path, summaries="off", jobs=JOBS)
    completed()
    first.process(None, clock())
    clock.now = local(2025, 10, 15, 5, 0)
    notices = job_notices(first.process(None, clock())) + job_notices(second.process(None, clock()))
    assert len(notices) == 1
