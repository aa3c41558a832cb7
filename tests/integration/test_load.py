"""Bounded load on loopback: 16 concurrent MCP clients (official Python SDK) x 25 tool calls
against the Worker in workerd and the real seeded Prefect server. The condition is zero
errors; throughput and latency are reported (.work/load-report.json), not asserted."""

from __future__ import annotations

import datetime
import json

from harness import WORK
from load_run import describe, run_load

REPORT = WORK / "load-report.json"


class LoadSummary:
    def __init__(self, figures: dict):
        self.figures = figures

    def pytest_terminal_summary(self, terminalreporter):
        terminalreporter.section("load test")
        terminalreporter.write_line(describe(self.figures))
        terminalreporter.write_line(f"report: {REPORT}")


def test_sixteen_concurrent_clients_without_errors(worker_with_secrets, prefect, request):
    flow_run_id = prefect.rest("POST", "flow_runs/filter", {"limit": 1})[0]["id"]
    figures = run_load(worker_with_secrets, flow_run_id)
    figures["measured"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    WORK.mkdir(exist_ok=True)
    REPORT.write_text(json.dumps(figures, indent=2) + "\n")
    request.config.pluginmanager.register(LoadSummary(figures), "load-summary")
    assert figures["completed"] == figures["calls"] == 400, figures
    assert figures["errors"] == 0, figures["error_samples"]
