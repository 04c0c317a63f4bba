"""otel-discord's account of itself: its own log, what it lost and why, its own metrics.

* ``log``: the ``otel_discord`` logger, masked and kept out of the OpenTelemetry logging bridge;
* ``drops``: the fixed vocabulary of drop reasons, the counters, and ``guard()``, which keeps
  our own bugs out of the application;
* ``selftelemetry``: those counters as OpenTelemetry metrics of meter ``otel_discord``.

Every stage may import this package; it imports none of them.
"""
