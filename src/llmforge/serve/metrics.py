"""Prometheus text-format metrics, kept in process (no client library needed for a few series)."""

from __future__ import annotations

import threading
from collections import defaultdict

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self.latency_buckets: dict[str, list[int]] = defaultdict(lambda: [0] * len(BUCKETS))
        self.latency_sum: dict[str, float] = defaultdict(float)
        self.latency_count: dict[str, int] = defaultdict(int)
        self.tokens: dict[tuple[str, str], int] = defaultdict(int)
        self.in_flight = 0
        self.queue_depth = 0

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(method, route, status)] += 1
            buckets = self.latency_buckets[route]
            for index, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    buckets[index] += 1
            self.latency_sum[route] += seconds
            self.latency_count[route] += 1

    def add_tokens(self, model: str, kind: str, count: int) -> None:
        with self._lock:
            self.tokens[(model, kind)] += count

    def render(self) -> str:
        """The metrics in Prometheus' text exposition format (version 0.0.4)."""
        lines = ["# HELP llmforge_requests_total HTTP requests by method, route and status.",
                 "# TYPE llmforge_requests_total counter"]
        with self._lock:
            for (method, route, status), count in sorted(self.requests.items()):
                lines.append(f'llmforge_requests_total{{method="{method}",route="{route}",status="{status}"}} {count}')
            lines += ["# HELP llmforge_request_duration_seconds Request latency by route.",
                      "# TYPE llmforge_request_duration_seconds histogram"]
            for route in sorted(self.latency_count):
                for bound, count in zip(BUCKETS, self.latency_buckets[route]):
                    lines.append(f'llmforge_request_duration_seconds_bucket{{route="{route}",le="{bound}"}} {count}')
                lines.append(f'llmforge_request_duration_seconds_bucket{{route="{route}",le="+Inf"}} '
                             f"{self.latency_count[route]}")
                lines.append(f'llmforge_request_duration_seconds_sum{{route="{route}"}} {self.latency_sum[route]:.6f}')
                lines.append(f'llmforge_request_duration_seconds_count{{route="{route}"}} {self.latency_count[route]}')
            lines += ["# HELP llmforge_tokens_total Tokens processed by model and kind.",
                      "# TYPE llmforge_tokens_total counter"]
            for (model, kind), count in sorted(self.tokens.items()):
                lines.append(f'llmforge_tokens_total{{model="{model}",kind="{kind}"}} {count}')
            lines += ["# HELP llmforge_requests_in_flight Requests being served now.",
                      "# TYPE llmforge_requests_in_flight gauge", f"llmforge_requests_in_flight {self.in_flight}",
                      "# HELP llmforge_queue_depth Requests waiting for a model.",
                      "# TYPE llmforge_queue_depth gauge", f"llmforge_queue_depth {self.queue_depth}"]
        return "\n".join(lines) + "\n"
