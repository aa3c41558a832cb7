"""The official MCP conformance suite (@modelcontextprotocol/conformance) against the Worker in workerd,
once per protocol era, each with its expected-failures baseline in tests/conformance/.

A baseline run exits non-zero on any failure or WARNING not in the baseline, and on any stale
baseline entry (a listed check that now passes). The baselines list only checks that need the
suite's own fixture tools/prompts/resources, plus the stateless no-session warning."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import Counter

import pytest

from harness import NODE22, ROOT, WORK, quiet_node_env

CONFORMANCE = ROOT / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
BASELINES = ROOT / "tests" / "conformance"
RUN_TIMEOUT_SECONDS = 600
OUTPUT_TAIL_CHARS = 6000

# Scenarios that exercise the protocol itself (no fixtures): each must have run, and none may be
# in a baseline. A run that silently skips them (e.g. the `--suite active` trap at 2026-07-28) fails.
PROTOCOL_SCENARIOS = {
    "2025-11-25": {
        "server-initialize", "server-session-lifecycle", "ping", "logging-set-level", "completion-complete",
        "tools-list", "resources-list", "prompts-list", "dns-rebinding-protection", "server-sse-multiple-streams",
    },
    "2026-07-28": {
        "server-stateless", "completion-complete", "tools-list", "resources-list", "prompts-list", "caching",
        "http-header-validation", "dns-rebinding-protection", "sep-2164-resource-not-found",
        "server-sse-multiple-streams", "input-required-result-unsupported-methods",
        "input-required-result-validate-input",
    },
}

RUNS = {
    "2025-11-25": ["--spec-version", "2025-11-25"],
    # `--suite all`: the default "active" suite drops every scenario introduced in 2026-07-28.
    "2026-07-28": ["--suite", "all", "--spec-version", "2026-07-28"],
}

RESULT_DIR = re.compile(r"^server-(?P<scenario>.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$")


def baseline_entries(version: str) -> list[str]:
    text = (BASELINES / f"baseline-{version}.yml").read_text()
    return [line.split("#", 1)[0].strip()[2:].strip() for line in text.splitlines()
            if line.split("#", 1)[0].strip().startswith("- ")]


def collect_checks(output_dir) -> dict[str, list[dict]]:
    """scenario -> its checks, from the per-scenario checks.json files the CLI writes with -o."""
    checks: dict[str, list[dict]] = {}
    for path in sorted(output_dir.glob("*/checks.json")):
        match = RESULT_DIR.match(path.parent.name)
        assert match, f"unexpected result directory name {path.parent.name}"
        checks.setdefault(match["scenario"], []).extend(json.loads(path.read_text()))
    return checks


@pytest.mark.parametrize("version", sorted(RUNS))
def test_conformance_suite(worker_without_secrets, version):
    assert NODE22.is_file(), f"{NODE22} is missing: the conformance CLI needs Node >= 22 (install bug)"
    assert CONFORMANCE.is_file(), f"{CONFORMANCE} is missing (install bug)"
    baseline = BASELINES / f"baseline-{version}.yml"
    assert baseline.is_file(), baseline

    in_baseline = {entry.split(":", 1)[0] for entry in baseline_entries(version)}
    # Only these two protocol scenarios may carry per-check entries (fixture checks / stateless warning).
    assert not in_baseline & (PROTOCOL_SCENARIOS[version] - {"server-stateless", "server-sse-multiple-streams"}), \
        "protocol scenarios must not be baselined"

    output_dir = WORK / f"conformance-{version}"
    shutil.rmtree(output_dir, ignore_errors=True)
    output_dir.mkdir(parents=True)
    command = [str(NODE22), str(CONFORMANCE), "server", "--url", worker_without_secrets, *RUNS[version],
               "--expected-failures", str(baseline), "-o", str(output_dir)]
    completed = subprocess.run(command, cwd=ROOT, env=quiet_node_env(), capture_output=True, text=True,
                               timeout=RUN_TIMEOUT_SECONDS)
    output = completed.stdout + completed.stderr
    (output_dir / "output.txt").write_text(output)
    tail = output[-OUTPUT_TAIL_CHARS:]
    assert completed.returncode == 0, f"conformance {version} exited {completed.returncode}:\n{tail}"

    checks = collect_checks(output_dir)
    statuses = Counter(check["status"] for scenario in checks.values() for check in scenario)
    assert statuses["SUCCESS"] > 0, f"no passing checks in {output_dir}:\n{tail}"
    totals = re.search(r"Total: (\d+) passed, (\d+) failed", output)
    assert totals, f"no summary line in the output:\n{tail}"
    assert int(totals[1]) == statuses["SUCCESS"] > 0, (totals[0], statuses)

    missing = PROTOCOL_SCENARIOS[version] - set(checks)
    assert not missing, f"protocol scenarios did not run: {sorted(missing)}\n{tail}"
    for scenario in PROTOCOL_SCENARIOS[version]:
        ran = checks[scenario]
        assert ran, f"{scenario} produced no checks"
        unbaselined_bad = [check["id"] for check in ran if check["status"] in ("FAILURE", "WARNING")
                           and f"{scenario}:{check['id']}" not in baseline_entries(version)]
        assert not unbaselined_bad, (scenario, unbaselined_bad)
