"""Figures for /metrics, in Prometheus' text format (``prometheus-client``).

Two kinds: what this process saw (requests by command and outcome, how long each took to
be acknowledged), counted as it happens; and what the database says (outbox entries
owed, dead, how long the longest-due one has waited; SLA reminders delivered; breaches
open), read when /metrics is scraped, so every instance of a deployment reports the same.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from bot.store.operations import Figures

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Slack waits three seconds for an acknowledgement: the buckets are finest below that.
ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)


class _FiguresCollector(Collector):
    def __init__(self) -> None:
        self.latest: tuple[Figures, dt.datetime] | None = None

    def collect(self) -> Iterator[Metric]:
        if self.latest is None:
            return
        figures, now = self.latest
        yield GaugeMetricFamily(
            "supportbot_outbox_pending",
            "Outbox entries still owed to Slack",
            figures.outbox_pending,
        )
        yield GaugeMetricFamily(
            "supportbot_outbox_dead",
            "Outbox entries given up (supportbot outbox list)",
            figures.outbox_dead,
        )
        yield GaugeMetricFamily(
            "supportbot_outbox_oldest_due_age_seconds",
            "How long the longest-due pending outbox entry has waited since it fell due",
            figures.oldest_due_age(now),
        )
        yield CounterMetricFamily(
            "supportbot_sla_reminders_sent",
            "SLA reminders (75 % mark and breach) delivered to Slack",
            figures.reminders_sent,
        )
        yield GaugeMetricFamily(
            "supportbot_sla_breaches_open",
            "First-response clocks past their due time on open tickets, still unanswered",
            figures.breaches_open,
        )


class Metrics:
    """One registry per app, so that several apps in one process (tests) stay apart."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "supportbot_requests",
            "Slack requests handled, by command (or interaction type) and outcome",
            ("command", "outcome"),
            registry=self.registry,
        )
        self.ack_latency = Histogram(
            "supportbot_ack_latency_seconds",
            "Time from a request reaching the app to its acknowledgement",
            ("command",),
            buckets=ACK_BUCKETS,
            registry=self.registry,
        )
        self._figures = _FiguresCollector()
        self.registry.register(self._figures)
        # The labelled series of each (command, outcome): looked up once, not per request.
        self._series: dict[tuple[str, str], tuple[Any, Any]] = {}

    def observe_request(self, command: str, outcome: str, seconds: float) -> None:
        series = self._series.get((command, outcome))
        if series is None:
            series = (
                self.requests.labels(command=command, outcome=outcome),
                self.ack_latency.labels(command=command),
            )
            self._series[(command, outcome)] = series
        series[0].inc()
        series[1].observe(seconds)

    def exposition(self, figures: Figures | None, now: dt.datetime) -> bytes:
        """The text format, with the database figures just read (None: left out, when
        the database did not answer)."""
        self._figures.latest = None if figures is None else (figures, now)
        return generate_latest(self.registry)
