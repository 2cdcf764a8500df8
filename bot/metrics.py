"""Prometheus metrics (per worker process; see README for several workers)."""

from functools import lru_cache

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "intake_http_requests_total", "HTTP requests by route and status", ["route", "status"], registry=REGISTRY
)
HTTP_LATENCY = Histogram(
    "intake_http_request_seconds", "HTTP request latency by route", ["route"], registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
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
