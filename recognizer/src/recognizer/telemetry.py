"""Prometheus metrics shared by the HTTP layer and the domain layer (served on GET /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

REQUESTS = Counter(
    "facefleet_http_requests_total",
    "HTTP requests by route template, method and outcome",
    ["route", "method", "status", "outcome"],
)
LATENCY = Histogram(
    "facefleet_http_request_duration_seconds",
    "HTTP request latency by route and outcome",
    ["route", "method", "outcome"],
    buckets=LATENCY_BUCKETS,
)
MODEL_SECONDS = Histogram(
    "facefleet_model_seconds",
    "Time in the face pipeline (decode, detect, align, embed)",
    ["outcome"],
    buckets=LATENCY_BUCKETS,
)
LOGINS = Counter("facefleet_login_attempts_total", "Login decisions by mode and result", ["mode", "result"])
INDEX_EMBEDDINGS = Gauge("facefleet_index_embeddings", "Embeddings held in the in-memory 1:N index")
READY = Gauge("facefleet_ready", "1 when the model is loaded and the database answers")
