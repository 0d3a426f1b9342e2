"""Rate limits: token buckets per API key, per user and per client address, in memory.

A caller is named by bucket keys: ``key:<prefix>`` and ``user:<name>`` once its credentials are
verified, else ``ip:<address>`` (an IPv6 address counts as its /64 network, which one machine
usually holds whole). Requests without credentials and failed authentications are charged to the
address only, never to the key or user they name, so a flood of bad keys cannot use up anyone
else's budget; it only exhausts its own address's.

Generation routes have a second, smaller budget counted in generated tokens
(``ratelimit.generation_tokens_per_minute``): :meth:`RateLimiter.check_generation` before a
generation refuses a caller in debt, :meth:`RateLimiter.charge_tokens` after it charges what was
generated (the bucket may go below zero: a long answer is paid back by waiting). And at most
``ratelimit.max_concurrent_generations`` run at once per caller (:meth:`RateLimiter.generation_slot`).

Memory is bounded: each table keeps at most ``MAX_BUCKETS`` buckets and evicts the least recently
used. An evicted bucket starts full when its caller returns, so a caller that cycles through more
than ``MAX_BUCKETS`` identities between two of its own requests escapes the limit; that takes
that many addresses or valid keys. Limits are per server process and reset when it restarts.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from llmforge.errors import RateLimited, UsageError

log = logging.getLogger(__name__)

MAX_BUCKETS = 10_000
GENERATION_RETRY_SECONDS = 1.0     # a guess: generations are seconds long; the caller learns when it asks again
KINDS = ("key", "user", "ip")
_WHO = {"key": "this API key", "user": "this user", "ip": "this client address"}


class TokenBucket:
    """``burst`` tokens at most, refilled at ``rate_per_s``; thread-safe.

    Times are seconds on a monotonic clock (``now``; default :func:`time.monotonic`), so tests can
    pass their own.
    """

    def __init__(self, rate_per_s: float, burst: float, now: float | None = None) -> None:
        self.rate = float(rate_per_s)
        self.burst = float(burst)
        self._tokens = self.burst
        self._updated = time.monotonic() if now is None else now
        self._lock = threading.Lock()

    def _refill(self, now: float | None) -> None:
        now = time.monotonic() if now is None else now
        if now > self._updated:
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now

    def _wait(self, n: float) -> float:
        missing = n - self._tokens
        if missing <= 1e-9:   # a clock's float residue is no reason to refuse
            return 0.0
        return missing / self.rate if self.rate > 0 else float("inf")

    def take(self, n: float = 1, now: float | None = None) -> float:
        """Take ``n`` tokens if there are; returns 0 when taken, else the seconds until they will be."""
        with self._lock:
            self._refill(now)
            wait = self._wait(n)
            if wait == 0:
                self._tokens -= n
            return wait

    def wait(self, n: float = 1, now: float | None = None) -> float:
        """Seconds until ``n`` tokens are there (0: now), taking none."""
        with self._lock:
            self._refill(now)
            return self._wait(n)

    def charge(self, n: float, now: float | None = None, floor: float = float("-inf")) -> None:
        """Take ``n`` tokens whether or not they are there, down to ``floor`` (a debt refills first)."""
        with self._lock:
            self._refill(now)
            self._tokens = max(floor, self._tokens - n)

    def is_full(self, now: float | None = None) -> bool:
        with self._lock:
            self._refill(now)
            return self._tokens >= self.burst


def address_key(client: str) -> str:
    """``ip:<address>`` for a client address; an IPv6 address is reduced to its /64 network."""
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return f"ip:{client}"   # not an address (a test client, a unix socket): use it as given
    if address.version == 6:
        if address.ipv4_mapped:
            return f"ip:{address.ipv4_mapped}"
        return f"ip:{ipaddress.ip_network(f'{address}/64', strict=False)}"
    return f"ip:{address}"


def caller_keys(*, key_prefix: str | None = None, user: str | None = None, client: str | None = None) -> list[str]:
    """The bucket keys of a caller: its key and user once authenticated, else its address."""
    keys = ([f"key:{key_prefix}"] if key_prefix else []) + ([f"user:{user}"] if user else [])
    if not keys and client:
        keys.append(address_key(client))
    return keys


class _Buckets:
    """Buckets by key, least recently used first, at most ``cap`` of them."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._table: OrderedDict[str, TokenBucket] = OrderedDict()

    def get(self, key: str, rate_per_s: float, burst: float, now: float) -> TokenBucket:
        bucket = self._table.get(key)
        if bucket is None:
            bucket = self._table[key] = TokenBucket(rate_per_s, burst, now)
            while len(self._table) > self.cap:
                evicted_key, evicted = self._table.popitem(last=False)
                if not evicted.is_full(now):
                    log.info("rate limit bucket %s evicted before it refilled (over %d callers)", evicted_key, self.cap)
        self._table.move_to_end(key)
        return bucket

    def __len__(self) -> int:
        return len(self._table)

    def __contains__(self, key: str) -> bool:
        return key in self._table


class RateLimiter:
    """Every rate limit of one server, from the ``ratelimit.*`` settings (a value of 0: no limit).

    Args:
        settings: the project's settings (any mapping with the ``ratelimit.*`` names).
        clock: seconds on a monotonic clock; tests pass their own.
        max_buckets: buckets kept per table before the least recently used is evicted.
    """

    def __init__(self, settings: Mapping[str, Any], clock: Callable[[], float] = time.monotonic,
                 max_buckets: int = MAX_BUCKETS) -> None:
        self._limits = {kind: (float(settings[f"ratelimit.{kind}_per_minute"]) / 60,
                               max(1.0, float(settings[f"ratelimit.{kind}_burst"]))) for kind in KINDS}
        per_minute = float(settings["ratelimit.generation_tokens_per_minute"])
        self._generation = (per_minute / 60, per_minute)
        self.max_concurrent = int(settings["ratelimit.max_concurrent_generations"])
        self._clock = clock
        self._requests = _Buckets(max_buckets)
        self._tokens = _Buckets(max_buckets)
        self._running: dict[str, int] = {}
        self._lock = threading.Lock()

    def _request_bucket(self, key: str, now: float) -> TokenBucket | None:
        kind = key.partition(":")[0]
        if kind not in self._limits:
            raise UsageError(f"rate limit key {key!r} must start with one of {', '.join(k + ':' for k in KINDS)}")
        rate, burst = self._limits[kind]
        return self._requests.get(key, rate, burst, now) if rate > 0 else None

    def _token_bucket(self, key: str, now: float) -> TokenBucket | None:
        rate, burst = self._generation
        return self._tokens.get(key, rate, burst, now) if rate > 0 else None

    @staticmethod
    def _refuse(waits: dict[str, float], what: str) -> None:
        key, wait = max(waits.items(), key=lambda item: item[1], default=("", 0.0))
        if wait > 0:
            who = _WHO.get(key.partition(":")[0], "this caller")
            raise RateLimited(f"too many {what} from {who}; retry in {wait:.1f} s", retry_after=wait)

    def check(self, identity_keys: list[str]) -> None:
        """Count one request against every bucket named, or none of them.

        Raises:
            RateLimited: a bucket is empty; ``retry_after`` is the longest wait among them.
        """
        with self._lock:
            now = self._clock()
            buckets = {key: bucket for key in identity_keys if (bucket := self._request_bucket(key, now))}
            self._refuse({key: bucket.wait(1, now) for key, bucket in buckets.items()}, "requests")
            for bucket in buckets.values():
                bucket.take(1, now)

    def check_address(self, client: str) -> None:
        """Before verifying presented credentials: refuse an address whose budget failures used up
        (nothing is taken; a success costs the address nothing)."""
        key = address_key(client)
        with self._lock:
            now = self._clock()
            bucket = self._request_bucket(key, now)
            if bucket:
                self._refuse({key: bucket.wait(1, now)}, "failed or unauthenticated requests")

    def charge_failure(self, client: str) -> None:
        """After credentials failed to verify: charge the address (never the key or user they named)."""
        key = address_key(client)
        with self._lock:
            now = self._clock()
            bucket = self._request_bucket(key, now)
            if bucket:
                bucket.charge(1, now, floor=0)

    def check_generation(self, caller_keys: list[str]) -> None:
        """Before a generation: refuse a caller whose generated-token budget is spent.

        Raises:
            RateLimited: with the seconds until the budget is positive again.
        """
        with self._lock:
            now = self._clock()
            buckets = {key: bucket for key in caller_keys if (bucket := self._token_bucket(key, now))}
            self._refuse({key: bucket.wait(1, now) for key, bucket in buckets.items()}, "generated tokens")

    def charge_tokens(self, caller_keys: list[str], n: int) -> None:
        """After a generation: charge the ``n`` tokens it generated to each of the caller's budgets."""
        with self._lock:
            now = self._clock()
            for key in caller_keys:
                bucket = self._token_bucket(key, now)
                if bucket:
                    bucket.charge(n, now)

    @contextmanager
    def generation_slot(self, caller_key: str) -> Iterator[None]:
        """Hold one of the caller's ``ratelimit.max_concurrent_generations`` slots for the block.

        Raises:
            RateLimited: the caller already runs that many generations.
        """
        if self.max_concurrent <= 0:
            yield
            return
        with self._lock:
            running = self._running.get(caller_key, 0)
            if running >= self.max_concurrent:
                raise RateLimited(f"{running} generations already running for this caller; wait for one to end",
                                  retry_after=GENERATION_RETRY_SECONDS)
            self._running[caller_key] = running + 1
        try:
            yield
        finally:
            with self._lock:
                self._running[caller_key] -= 1
                if not self._running[caller_key]:
                    del self._running[caller_key]

    def bucket_count(self) -> int:
        """Buckets held now (requests and generated tokens), for metrics and tests."""
        with self._lock:
            return len(self._requests) + len(self._tokens)
