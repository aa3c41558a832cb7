"""The production wrangler.toml: no security opt-outs, rate limiting off until its documented
block is uncommented, and no secret written in it."""

from __future__ import annotations

import re
import tomllib

from harness import ROOT

PRODUCTION = ROOT / "wrangler.toml"


def test_production_config_opts_out_of_nothing():
    config = tomllib.loads(PRODUCTION.read_text())
    variables = config.get("vars", {})
    for name in ("ALLOW_UNAUTHENTICATED", "ALLOW_PRIVATE_PREFECT_URLS"):
        assert name not in variables, name
    for secret in ("MCP_ACCESS_TOKENS", "PREFECT_API_URL", "PREFECT_API_KEY", "PREFECT_API_AUTH_STRING"):
        assert secret not in variables, f"{secret} belongs in `wrangler secret put`, not in wrangler.toml"
    assert "ratelimits" not in config, "rate limiting is off by default"
    assert "env" not in config, "environments stay commented out (wrangler warns on a plain deploy otherwise)"


def test_documented_settings_and_blocks_are_there():
    text = PRODUCTION.read_text()
    for name in ("MCP_ACCESS_TOKENS", "PREFECT_API_URL", "PREFECT_API_KEY", "PREFECT_API_AUTH_STRING",
                 "ALLOW_UNAUTHENTICATED", "ALLOW_PRIVATE_PREFECT_URLS", "PREFECT_API_HOSTS", "MCP_ALLOWED_ORIGINS",
                 "MCP_ALLOWED_HOSTS", "UPSTREAM_TIMEOUT_MS", "PREFECT_DOCS_MCP_URL", "RATE_LIMIT_PERIOD_SECONDS"):
        assert re.search(rf"^# (\S+, )*{name}\b", text, re.MULTILINE), f"{name} is not documented"
    # Every commented-out TOML line (tables and `key = value`), uncommented, still parses.
    toml_line = re.compile(r"^# (\[.*\]|\w+ = .*)$")
    uncommented = "\n".join(line[2:] if toml_line.match(line) else line for line in text.splitlines())
    config = tomllib.loads(uncommented)
    assert config["ratelimits"] == [{"name": "MCP_RATE_LIMITER", "namespace_id": "1001",
                                     "simple": {"limit": 120, "period": 60}}]
    assert config["env"]["staging"]["ratelimits"][0]["name"] == "MCP_RATE_LIMITER"
