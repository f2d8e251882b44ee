"""The chaos suite: numbered messages through real brokers while faults happen.

For each target transport (``chaos/targets/<name>.py``) and each fault it
supports, :func:`chaos.scenario.run_scenario` publishes N numbered messages
with ``retry=True`` and consumes them with acks in a separate consumer
process while the fault happens, then reports how many were lost (must be
0), how many were delivered twice (allowed, counted), how long the flow took
to resume, and whether the consumer was still running. ``python -m chaos``
runs it and prints the table; ``chaos/test_chaos.py`` is its bounded form
for ``make test``. Only 127.0.0.1; every loop is bounded in time.
"""
