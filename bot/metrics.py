"""Prometheus metrics (per worker process; see README for several workers)."""

from bisect import bisect_left
from functools import lru_cache

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

REGISTRY = CollectorRegistry(auto_describe=True)


class RequestStats(Collector):
    """HTTP requests by route and status, and their latency by route, kept
    in plain dicts and list slots by the event loop's thread (the only one
    that serves requests) and turned into Prometheus families when /metrics
    is read. prometheus_client's labelled metrics take a lock on every
    update: the two of them cost a WeChat push a fortieth of its time."""

    BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}
        self.latency: dict[str, list] = {}  # route → [count per bucket…, over the last, sum of seconds]

    def observe(self, route: str, status: str, seconds: float) -> None:
        key = (route, status)
        self.counts[key] = self.counts.get(key, 0) + 1
        slots = self.latency.get(route)
        if slots is None:
            slots = self.latency[route] = [0] * (len(self.BUCKETS) + 1) + [0.0]
        slots[bisect_left(self.BUCKETS, seconds)] += 1  # the first bucket whose bound is >= seconds
        slots[-1] += seconds

    def collect(self):
        requests = CounterMetricFamily("intake_http_requests", "HTTP requests by route and status",
                                       labels=["route", "status"])
        for (route, status), n in list(self.counts.items()):
            requests.add_metric([route, status], n)
        yield requests
        latency = HistogramMetricFamily("intake_http_request_seconds", "HTTP request latency by route",
                                        labels=["route"])
        for route, slots in list(self.latency.items()):
            total, buckets = 0, []
            for bound, n in zip((*map(floatToGoString, self.BUCKETS), "+Inf"), slots):
                total += n
                buckets.append((bound, total))
            latency.add_metric([route], buckets, slots[-1])
        yield latency


HTTP = RequestStats()
REGISTRY.register(HTTP)

MESSAGES = Counter(
    "intake_messages_total", "Inbound messages by channel and outcome", ["channel", "outcome"], registry=REGISTRY
)
REJECTED = Counter(
    "intake_rejected_total", "Requests refused, by channel and reason", ["channel", "reason"], registry=REGISTRY
)
COMMIT_BATCH = Histogram(
    "intake_commit_batch_size", "Messages per group commit", registry=REGISTRY,
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
# answers (issue 7): what the account answered itself, e.g. on the siren day
AUTO_ANSWERS = Counter(
    "intake_wechat_answers_total", "WeChat messages the account answered itself, by how (rule, kb, click) and entry",
    ["how", "entry"], registry=REGISTRY,
)


@lru_cache(maxsize=2048)
def labelled(metric, *values: str):
    """``metric.labels(*values)``, kept: ``labels`` takes a lock and builds a
    key on every call, a few percent of a WeChat request. The label values
    are a small fixed set (routes, statuses, outcomes)."""
    return metric.labels(*values)
