"""Periodic summaries, threshold alerts, system events and job monitoring for the metric exporter.

The metric exporter hands every ``MetricsData`` to ``monitor.Monitor``, which:

* turns cumulative or delta points into per-interval deltas (``accumulate``),
* reads HTTP, database and business figures out of them (``collect``, ``tally``),
* persists each process's share in a small SQLite file (``state``) so that many
  worker processes, restarts and crashes all add up to one set of numbers,
* elects one process per schedule tick to post the summary (``schedules``,
  ``report``, ``chart``), and evaluates ``thresholds``, ``jobs``, ``milestones``
  and ``lifecycle`` (startup, shutdown, unclean stop, heartbeat).
"""
