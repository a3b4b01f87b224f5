"""Prometheus metrics of this process, at ``/metrics``.

Each Daphne process counts its own; point Prometheus at every process's port.
"""

from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

OPEN_SOCKETS = Gauge("chat_open_sockets", "Chat WebSockets open on this process.")
MESSAGES = Counter("chat_messages_total", "Messages this process stored and published, by kind.", ["kind"])
for kind in ("user", "system"):
    MESSAGES.labels(kind)  # shown at 0 from the start, so rates work before the first message
GROUP_SEND_SECONDS = Histogram(
    "chat_group_send_seconds",
    "Time to hand one message to the channel layer's group_send.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)


def metrics(request: HttpRequest) -> HttpResponse:
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)
