"""Per-client rate limiting through the Workers rate-limit binding, in workerd (Miniflare's
local limiter: per key, fixed windows of `period` seconds)."""

from __future__ import annotations

import re
import time

import pytest

from harness import ROOT, Worker, post_json

LIMIT = 5


def documented_binding(limit: int) -> str:
    """The commented-out `[[ratelimits]]` block of the production wrangler.toml, uncommented,
    with a small limit: the tests run the configuration the operator is told to use."""
    lines = (ROOT / "wrangler.toml").read_text().splitlines()
    start = lines.index("# [[ratelimits]]")
    block = "\n".join(line.removeprefix("# ") for line in lines[start:start + 4])
    assert 'name = "MCP_RATE_LIMITER"' in block and "period = 60" in block, block
    return re.sub(r"limit = \d+", f"limit = {limit}", block)


RATELIMIT_CONFIG = documented_binding(LIMIT)
# One token only for the readiness ping, so the tests start with full budgets.
READY, ALICE, BOB = "tok-ready-Rl1", "tok-alice-Rl2", "tok-bob-Rl3"
PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}


@pytest.fixture(scope="module")
def limited_worker() -> str:
    worker = Worker("ratelimit", {"MCP_ACCESS_TOKENS": f"{READY},{ALICE},{BOB}"}, RATELIMIT_CONFIG)
    try:
        yield worker.wait_ready({"Authorization": f"Bearer {READY}"}).url
    finally:
        worker.stop()


def fresh_window() -> None:
    """The local limiter's windows are aligned to the minute: start a burst well inside one."""
    if time.time() % 60 > 45:
        time.sleep(60 - time.time() % 60 + 0.5)


def burst(url: str, headers: dict[str, str], count: int) -> list[tuple[int, dict, dict]]:
    return [post_json(url, PING, headers) for _ in range(count)]


def test_a_token_over_the_limit_gets_429_and_other_tokens_are_unaffected(limited_worker):
    fresh_window()
    answers = burst(limited_worker, {"Authorization": f"Bearer {ALICE}"}, LIMIT + 2)
    assert [status for status, _, _ in answers] == [200] * LIMIT + [429, 429]
    status, headers, body = answers[LIMIT]
    headers = {k.lower(): v for k, v in headers.items()}
    assert headers["retry-after"] == "60"
    assert headers["content-type"] == "application/json"
    assert headers["x-request-id"]
    assert body["jsonrpc"] == "2.0" and body["id"] is None
    assert body["error"]["code"] == -32029 and body["error"]["data"] == {"retryAfterSeconds": 60}
    message = body["error"]["message"]
    assert message.startswith("Rate limit exceeded") and "your access token" in message and "60 seconds" in message
    assert ALICE not in message

    # Another client, keyed by its own token, still has its whole budget.
    assert [status for status, _, _ in burst(limited_worker, {"Authorization": f"Bearer {BOB}"}, LIMIT)] == [200] * LIMIT


def test_without_a_valid_token_requests_count_against_the_address(limited_worker):
    """Rotating wrong tokens gains nothing: they are all keyed by the caller's address
    (locally Miniflare keeps a CF-Connecting-IP the client sends; Cloudflare's edge sets it)."""
    fresh_window()
    attacker = [post_json(limited_worker, PING, {"Authorization": f"Bearer wrong-{i}", "CF-Connecting-IP": "203.0.113.7"})
                for i in range(LIMIT + 1)]
    assert [status for status, _, _ in attacker] == [401] * LIMIT + [429]
    assert "your IP address" in attacker[-1][2]["error"]["message"]
    # Another address is not affected, and neither is a valid token from the same address.
    status, _, _ = post_json(limited_worker, PING, {"CF-Connecting-IP": "203.0.113.8"})
    assert status == 401
    status, _, _ = post_json(limited_worker, PING, {"Authorization": f"Bearer {READY}", "CF-Connecting-IP": "203.0.113.7"})
    assert status == 200
