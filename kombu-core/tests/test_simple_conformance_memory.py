"""The kit's patterns area (SimpleQueue, pools, ConsumerMixin, pidbox, hub) on memory://."""

from __future__ import annotations

from kombu.testing.suites.patterns import PatternsConformance


class TestPatternsOnMemory(PatternsConformance):
    url = "memory://"
