"""Prometheus metrics on a per-app registry (so several apps in one test process never collide),
and a pure ASGI middleware that counts requests and times them by route template."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["Metrics", "MetricsMiddleware"]

_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("recsys_requests_total", "HTTP requests by route and status",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("recsys_request_seconds", "HTTP request latency by route",
                                 ["method", "route"], buckets=_BUCKETS, registry=self.registry)
        self.index_version = Gauge("recsys_index_info", "1 for the index version a tenant serves now",
                                   ["tenant", "version"], registry=self.registry)
        self.events = Counter("recsys_events_ingested_total", "Events durably stored",
                              ["tenant", "event_type"], registry=self.registry)
        self.replayed = Counter("recsys_answers_replayed_total", "Repeated GETs answered from the bytes sent "
                                "before for the same still-valid cached answer", ["tenant"], registry=self.registry)
        self.reloads = Counter("recsys_index_reloads_total", "Index reload attempts by outcome",
                               ["tenant", "outcome"], registry=self.registry)
        self.shed = Counter("recsys_connections_shed_total", "Keep-alive connections this worker closed after a "
                            "response because it held more than its share of all workers' connections",
                            registry=self.registry)

    def watch_caches(self, tenants: Callable[[], Mapping[str, Any]]) -> None:
        """Export the hits and misses of every tenant's answer, user-state, portrait and text-search caches,
        read at scrape time from the versions served then (a reload starts new caches, so the counters
        restart from zero, which Prometheus reads as a counter reset)."""
        self.registry.register(_CacheCollector(tenants))

    def set_version(self, tenant: str, version: str, previous: str | None = None) -> None:
        if previous is not None and previous != version:
            self.index_version.remove(tenant, previous)
        self.index_version.labels(tenant, version).set(1)


class _CacheCollector(Collector):
    def __init__(self, tenants: Callable[[], Mapping[str, Any]]) -> None:
        self._tenants = tenants

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily("recsys_cache_lookups",
                                     "Answer, user-state, portrait and text-search cache lookups by result",
                                     labels=["tenant", "cache", "result"])
        for name, tenant in self._tenants().items():
            served = tenant.served
            caches = [("answers", served.answers), ("states", served.states), ("portraits", served.portraits)]
            if served.text_index is not None:
                caches.append(("text_searches", served.text_index))
            for cache, counts in caches:
                family.add_metric([name, cache, "hit"], counts.hits)
                family.add_metric([name, cache, "miss"], counts.misses)
        yield family


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.latency.labels(method, template).observe(time.perf_counter() - start)
