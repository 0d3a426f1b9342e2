"""Rate limits on an injected clock: refill, burst, isolation, generation budgets, concurrency, eviction."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from llmforge.auth.ratelimit import RateLimiter, TokenBucket, address_key, caller_keys
from llmforge.errors import RateLimited, UsageError
from llmforge.settings import load_settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limiter(clock: Clock, max_buckets: int = 100, **overrides: Any) -> RateLimiter:
    values = {**load_settings(None, environ={}), **{f"ratelimit.{k}": v for k, v in overrides.items()}}
    return RateLimiter(values, clock=clock, max_buckets=max_buckets)


def test_bucket_burst_then_refill() -> None:
    bucket = TokenBucket(rate_per_s=2, burst=3, now=0)
    assert [bucket.take(now=0) for _ in range(3)] == [0, 0, 0]
    assert bucket.take(now=0) == pytest.approx(0.5)       # one token at 2 per second
    assert bucket.take(now=0.25) == pytest.approx(0.25)
    assert bucket.take(now=0.5) == 0
    assert [bucket.take(now=100) for _ in range(4)][-1] > 0  # refill stops at the burst
    assert bucket.take(n=2, now=100) == pytest.approx(1.0)   # a refusal takes nothing


def test_bucket_is_thread_safe() -> None:
    bucket = TokenBucket(rate_per_s=0.001, burst=500, now=0)
    taken = []

    def take() -> None:
        taken.extend(bucket.take(now=0) == 0 for _ in range(100))

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(taken) == 500


def test_one_exhausted_key_leaves_others_alone() -> None:
    clock = Clock()
    limits = limiter(clock, key_per_minute=60, key_burst=2, user_per_minute=0)
    alice, bob = ["key:aaaa1111", "user:alice"], ["key:bbbb2222", "user:bob"]
    limits.check(alice)
    limits.check(alice)
    with pytest.raises(RateLimited) as refused:
        limits.check(alice)
    assert refused.value.retry_after == pytest.approx(1.0) and "this API key" in str(refused.value)
    limits.check(bob)
    clock.now += 1
    limits.check(alice)


def test_retry_after_is_the_longest_wait_and_a_refusal_charges_nothing() -> None:
    clock = Clock()
    limits = limiter(clock, key_per_minute=60, key_burst=1, user_per_minute=6, user_burst=2)
    limits.check(["key:k1", "user:u"])
    with pytest.raises(RateLimited) as refused:
        limits.check(["key:k1", "user:u"])     # the key is empty (1 s); the user still has one
    assert refused.value.retry_after == pytest.approx(1.0)
    limits.check(["key:k2", "user:u"])         # the refusal did not take the user's second token
    with pytest.raises(RateLimited) as refused:
        limits.check(["key:k3", "user:u"])
    assert refused.value.retry_after == pytest.approx(10.0) and "this user" in str(refused.value)


def test_zero_means_no_limit_and_unknown_kinds_are_refused() -> None:
    limits = limiter(Clock(), key_per_minute=0, key_burst=0)
    for _ in range(1000):
        limits.check(["key:k"])
    with pytest.raises(UsageError):
        limits.check(["team:x"])


def test_bad_keys_from_one_address_starve_only_that_address() -> None:
    clock = Clock()
    limits = limiter(clock, ip_per_minute=60, ip_burst=3)
    refused = 0
    for _ in range(10):                                  # a flood of wrong keys naming a victim's prefix
        try:
            limits.check_address("203.0.113.9")        # before the (costly) key verification
        except RateLimited as exc:
            refused += 1
            assert "client address" in str(exc)
        else:
            limits.charge_failure("203.0.113.9")       # the key did not verify
    assert refused == 7
    limits.check_address("198.51.100.7")                 # another address is untouched
    limits.check(caller_keys(key_prefix="victim00", user="victim", client="203.0.113.9"))  # and so is the key
    clock.now += 1
    limits.check_address("203.0.113.9")                  # the debt is floored: one second earns a try
    assert caller_keys(client="203.0.113.9") == ["ip:203.0.113.9"]


def test_ipv6_addresses_share_their_64_network() -> None:
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::2") == "ip:2001:db8:1:2::/64"
    assert address_key("::ffff:192.0.2.1") == "ip:192.0.2.1"
    assert address_key("testclient") == "ip:testclient"


def test_generation_token_budget() -> None:
    clock = Clock()
    limits = limiter(clock, generation_tokens_per_minute=600)      # 10 tokens a second, burst 600
    caller = ["key:k1", "user:alice"]
    limits.check_generation(caller)
    limits.charge_tokens(caller, 899)                              # a long answer: 299 tokens of debt
    with pytest.raises(RateLimited, match="generated tokens") as refused:
        limits.check_generation(caller)
    assert refused.value.retry_after == pytest.approx(30.0)
    limits.check_generation(["key:k2", "user:bob"])
    clock.now += 29.9
    with pytest.raises(RateLimited):
        limits.check_generation(caller)
    clock.now += 0.1
    limits.check_generation(caller)
    limits.check(caller)                                           # requests have their own budget


def test_concurrent_generations_are_capped_per_caller() -> None:
    limits = limiter(Clock(), max_concurrent_generations=2)
    with limits.generation_slot("user:alice"), limits.generation_slot("user:alice"):
        with pytest.raises(RateLimited, match="2 generations already running") as refused:
            with limits.generation_slot("user:alice"):
                pass
        assert refused.value.retry_after > 0
        with limits.generation_slot("user:bob"):
            pass
    with pytest.raises(ValueError):
        with limits.generation_slot("user:alice"):
            raise ValueError("generation failed")                   # the slot is given back anyway
    with limits.generation_slot("user:alice"), limits.generation_slot("user:alice"):
        pass


def test_idle_buckets_are_evicted_least_recently_used_first() -> None:
    clock = Clock()
    limits = limiter(clock, max_buckets=3, key_per_minute=1, key_burst=1)
    limits.check(["key:a"])
    for name in ("b", "c"):
        clock.now += 1
        limits.check([f"key:{name}"])
    with pytest.raises(RateLimited):
        limits.check(["key:a"])               # a's refusal also marks it used: b is now the oldest
    limits.check(["key:d"])                   # evicts b
    assert limits.bucket_count() == 3
    with pytest.raises(RateLimited):
        limits.check(["key:a"])               # a was kept: still empty
    limits.check(["key:b"])                   # b starts over, full
    for n in range(1000):
        limits.check([f"ip:10.0.{n // 250}.{n % 250}"])
    assert limits.bucket_count() == 3
