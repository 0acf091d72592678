"""What an integration test needs from the machine: missing here, the test is skipped; missing in CI
(`CI=true`, which .ci/run sets), it fails, so a green CI run never hides a test that did not run."""

import os

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def need(condition, why: str) -> None:
    """Go on if `condition` holds; otherwise skip with `why`, or under CI fail with it."""
    if condition:
        return
    if in_ci():
        pytest.fail(f"CI needs this and it is missing: {why}", pytrace=False)
    pytest.skip(why)


def redis_reachable(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping())
    except redis.RedisError:
        return False
