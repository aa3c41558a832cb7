"""A bounded concurrent load on loopback: N MCP clients (the official Python SDK, one
session each, 2026-07-28 wire), each making a fixed sequence of tool calls against the Worker.
Used by test_load.py and scripts/load.py; speed figures are reported, never asserted."""

from __future__ import annotations

import asyncio
import statistics
import time

from mcp_client import client

CLIENTS = 16
CALLS_PER_CLIENT = 25


def tool_mix(flow_run_id: str) -> list[tuple[str, dict]]:
    """The calls each client cycles through: every Prefect-backed tool, defaults and filters."""
    return [
        ("get_flows", {"limit": 5}),
        ("get_flow_runs", {"limit": 10}),
        ("get_deployments", {}),
        ("get_work_pools", {}),
        ("get_task_runs", {"limit": 10}),
        ("get_flow_run_logs", {"flow_run_id": flow_run_id}),
        ("read_events", {"limit": 20}),
        ("get_automations", {}),
        ("get_identity", {}),
        ("get_flow_runs", {"filter": {"state": {"type": {"any_": ["FAILED", "CRASHED"]}}}}),
        ("get_dashboard", {}),
        ("get_flows", {"filter": {"name": {"like_": "etl"}}}),
    ]


def run_load(url: str, flow_run_id: str, clients: int = CLIENTS, calls: int = CALLS_PER_CLIENT,
             headers: dict[str, str] | list[dict[str, str]] | None = None) -> dict:
    """Runs the load; returns counts, errors (with the first few messages) and timings. `headers`
    go with every client's requests, or, as a list, one entry per client (e.g. its own token)."""
    mix = tool_mix(flow_run_id)
    latencies: list[float] = []
    errors: list[str] = []

    async def one_client(index: int) -> None:
        try:
            own_headers = headers[index] if isinstance(headers, list) else headers
            async with client(url, headers=own_headers) as session:
                for n in range(calls):
                    name, arguments = mix[(index + n) % len(mix)]
                    started = time.perf_counter()
                    try:
                        result = await session.call_tool(name, arguments)
                    except Exception as error:  # noqa: BLE001 - every failure counts
                        errors.append(f"{name}: {type(error).__name__}: {error}")
                        continue
                    latencies.append((time.perf_counter() - started) * 1000)
                    if result.is_error or not (result.structured_content or {}).get("success", False):
                        errors.append(f"{name}: {result.content[0].text[:200] if result.content else result}")
        except Exception as error:  # noqa: BLE001
            errors.append(f"client {index}: {type(error).__name__}: {error}")

    async def everyone() -> float:
        started = time.perf_counter()
        await asyncio.gather(*(one_client(i) for i in range(clients)))
        return time.perf_counter() - started

    seconds = asyncio.run(everyone())
    ordered = sorted(latencies)
    deciles = statistics.quantiles(ordered, n=10) if len(ordered) > 1 else [0.0] * 9
    return {
        "clients": clients,
        "calls_per_client": calls,
        "calls": clients * calls,
        "completed": len(latencies),
        "errors": len(errors),
        "error_samples": errors[:5],
        "seconds": round(seconds, 2),
        "calls_per_second": round(len(latencies) / seconds, 1) if seconds else 0.0,
        "p50_ms": round(statistics.median(ordered), 1) if ordered else 0.0,
        "p90_ms": round(deciles[-1], 1),
        "max_ms": round(ordered[-1], 1) if ordered else 0.0,
        "tools": sorted({name for name, _ in mix}),
    }


def describe(figures: dict) -> str:
    return (f"{figures['clients']} clients x {figures['calls_per_client']} tool calls = {figures['calls']} calls: "
            f"{figures['errors']} errors, {figures['seconds']} s, {figures['calls_per_second']} calls/s, "
            f"p50 {figures['p50_ms']} ms, p90 {figures['p90_ms']} ms, max {figures['max_ms']} ms")
