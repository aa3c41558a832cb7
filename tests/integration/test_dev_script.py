"""scripts/dev.sh: which Prefect it serves (scripts/prefect_profile.py, checked against Prefect's
own settings loader), and one real run that serves a profile's Prefect and stops cleanly on Ctrl-C."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from harness import ROOT, free_port
from mcp_client import call_tool, envelope

HELPER = ROOT / "scripts" / "prefect_profile.py"
SETTINGS = ("PREFECT_API_URL", "PREFECT_API_KEY", "PREFECT_API_AUTH_STRING")
# Every variable that steers Prefect's settings; each case starts without them.
STEERING = (*SETTINGS, "PREFECT_PROFILE", "PREFECT_PROFILES_PATH", "PREFECT_HOME")

PROFILES = """
active = "cloud"

[profiles.cloud]
PREFECT_API_URL = "https://api.prefect.cloud/api/accounts/a1/workspaces/w1"
PREFECT_API_KEY = "pnu_from_profile"

[profiles.local]
PREFECT_API_URL = "http://127.0.0.1:4200/api"
PREFECT_API_AUTH_STRING = "admin:pa:ss"

[profiles.ephemeral]
PREFECT_SERVER_EPHEMERAL_ENABLED = "true"
"""


def clean_env(home: Path, **variables: str) -> dict[str, str]:
    """The test's environment without Prefect's variables, with `home` as HOME, plus `variables`."""
    env = {name: value for name, value in os.environ.items() if name not in STEERING}
    env["HOME"] = str(home)
    env.update(variables)
    return env


def run_helper(tmp_path: Path, env: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The helper's shell assignments and the settings wrangler will read from its vars file."""
    vars_file = tmp_path / "prefect.env"
    done = subprocess.run([sys.executable, str(HELPER), "--vars-file", str(vars_file)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, check=True)
    assignments = {}
    for line in done.stdout.splitlines():
        name, quoted = line.split("=", 1)
        assignments[name] = shlex.split(quoted)[0] if quoted else ""
    assert vars_file.stat().st_mode & 0o777 == 0o600
    written = {}
    for line in vars_file.read_text().splitlines():
        name, quoted = line.split("=", 1)
        written[name] = quoted[1:-1]  # no quote character or `$` in these cases' values
    return assignments, written


def write_profiles(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(PROFILES)
    return path


CASES = {
    # name: (where the profiles file goes, extra environment, expected source, profile, settings)
    "active key": ("profiles.toml", {}, "profile", "cloud",
                   {"PREFECT_API_URL": "https://api.prefect.cloud/api/accounts/a1/workspaces/w1",
                    "PREFECT_API_KEY": "pnu_from_profile"}),
    "PREFECT_PROFILE picks": ("profiles.toml", {"PREFECT_PROFILE": "local"}, "profile", "local",
                              {"PREFECT_API_URL": "http://127.0.0.1:4200/api",
                               "PREFECT_API_AUTH_STRING": "admin:pa:ss"}),
    "env wins per setting": ("profiles.toml", {"PREFECT_API_URL": "http://127.0.0.1:9/api"}, "env", "cloud",
                             {"PREFECT_API_URL": "http://127.0.0.1:9/api", "PREFECT_API_KEY": "pnu_from_profile"}),
    "env key over profile key": ("profiles.toml", {"PREFECT_API_KEY": "pnu_from_env"}, "profile", "cloud",
                                 {"PREFECT_API_URL": "https://api.prefect.cloud/api/accounts/a1/workspaces/w1",
                                  "PREFECT_API_KEY": "pnu_from_env"}),
    "PREFECT_HOME": ("prefect-home/profiles.toml", {"PREFECT_HOME": "{tmp}/prefect-home"}, "profile", "cloud",
                     {"PREFECT_API_URL": "https://api.prefect.cloud/api/accounts/a1/workspaces/w1",
                      "PREFECT_API_KEY": "pnu_from_profile"}),
    "~/.prefect by default": ("home/.prefect/profiles.toml", {}, "profile", "cloud",
                              {"PREFECT_API_URL": "https://api.prefect.cloud/api/accounts/a1/workspaces/w1",
                               "PREFECT_API_KEY": "pnu_from_profile"}),
    "profile without a URL": ("profiles.toml", {"PREFECT_PROFILE": "ephemeral", "PREFECT_API_KEY": "pnu_env"},
                              "demo", "ephemeral", {}),
    "undefined profile": ("profiles.toml", {"PREFECT_PROFILE": "nope"}, "demo", "", {}),
    "missing file": (None, {}, "demo", "", {}),
}


def case_env(case: str, root: Path, empty_home: Path) -> dict[str, str]:
    location, extra, *_ = CASES[case]
    home = root / "home" if location == "home/.prefect/profiles.toml" else empty_home
    variables = {name: value.replace("{tmp}", str(root)) for name, value in extra.items()}
    if location == "profiles.toml":
        variables["PREFECT_PROFILES_PATH"] = str(write_profiles(root / location))
    elif location:
        write_profiles(root / location)
    return clean_env(home, **variables)


# Prefect reads the environment and the working directory afresh for each Settings(), but HOME
# only once, at import.
PREFECTS_OWN_CHOICE = """
import json, os, sys
from prefect.settings import Settings
choices = {}
for case, (env, cwd) in json.load(sys.stdin).items():
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    api = Settings().api
    values = {"PREFECT_API_URL": api.url, "PREFECT_API_KEY": api.key and api.key.get_secret_value(),
              "PREFECT_API_AUTH_STRING": api.auth_string and api.auth_string.get_secret_value()}
    choices[case] = {name: value for name, value in values.items() if value}
print(json.dumps(choices))
"""


@pytest.fixture(scope="module")
def prepared_cases(tmp_path_factory) -> dict[str, tuple[Path, dict[str, str], dict[str, str]]]:
    """Per case: its directory, its environment and what Prefect 3.9.1's own settings loader makes
    of them (importing Prefect takes seconds, so one process per HOME, run side by side)."""
    empty_home = tmp_path_factory.mktemp("home")
    roots = {case: tmp_path_factory.mktemp("profiles") for case in CASES}
    envs = {case: case_env(case, root, empty_home) for case, root in roots.items()}
    by_home: dict[str, dict[str, tuple[dict[str, str], str]]] = {}
    for case, env in envs.items():
        by_home.setdefault(env["HOME"], {})[case] = (env, str(roots[case]))
    runs = [(subprocess.Popen([sys.executable, "-c", PREFECTS_OWN_CHOICE], env=next(iter(cases.values()))[0],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True), json.dumps(cases))
            for cases in by_home.values()]
    choices = {}
    for run, cases in runs:
        output, _ = run.communicate(cases)
        assert run.returncode == 0
        choices.update(json.loads(output))
    return {case: (roots[case], envs[case], choices[case]) for case in CASES}


@pytest.mark.parametrize("case", CASES)
def test_settings_resolve_like_prefect(prepared_cases, case):
    _, _, source, profile, expected = CASES[case]
    root, env, prefects_choice = prepared_cases[case]

    assignments, written = run_helper(root, env)

    assert written == expected
    assert assignments["source"] == source and assignments["profile"] == profile
    assert assignments["api_url"] == expected.get("PREFECT_API_URL", "")
    if source != "demo":
        # Prefect itself serves the same server with the same credentials (in a demo case
        # Prefect would start an ephemeral server, which dev.sh replaces with its demo).
        assert prefects_choice == expected
    for secret in ("pnu_from_profile", "pnu_from_env", "pnu_env", "admin:pa:ss"):
        assert secret not in "".join(assignments.values())


def test_summary_names_where_each_setting_came_from(tmp_path):
    path = write_profiles(tmp_path / "profiles.toml")
    env = clean_env(tmp_path, PREFECT_PROFILES_PATH=str(path), PREFECT_API_KEY="pnu_from_env")
    assignments, _ = run_helper(tmp_path, env)
    assert assignments["summary"] == (f"PREFECT_API_URL from profile 'cloud' of {path}; "
                                      "PREFECT_API_KEY from the environment")
    assert assignments["profiles_path"] == str(path)


def test_unreadable_profiles_file_is_reported_and_ignored(tmp_path):
    path = tmp_path / "profiles.toml"
    path.write_text('active = "cloud"\n[profiles.cloud\n')
    env = clean_env(tmp_path, PREFECT_PROFILES_PATH=str(path))
    done = subprocess.run([sys.executable, str(HELPER), "--vars-file", str(tmp_path / "v")], env=env,
                          capture_output=True, text=True, check=True)
    assert "source=demo" in done.stdout.splitlines()
    assert f"ignoring {path}" in done.stderr


def test_an_undefined_profile_is_named(tmp_path):
    path = write_profiles(tmp_path / "profiles.toml")
    env = clean_env(tmp_path, PREFECT_PROFILES_PATH=str(path), PREFECT_PROFILE="nope")
    done = subprocess.run([sys.executable, str(HELPER), "--vars-file", str(tmp_path / "v")], env=env,
                          capture_output=True, text=True, check=True)
    assert "source=demo" in done.stdout.splitlines()
    assert f"profile 'nope' is not defined in {path}" in done.stderr


def test_a_value_the_vars_file_cannot_carry_is_refused_by_name(tmp_path):
    env = clean_env(tmp_path, PREFECT_API_URL="http://127.0.0.1:9/api", PREFECT_API_KEY="pnu_'`\"")
    done = subprocess.run([sys.executable, str(HELPER), "--vars-file", str(tmp_path / "v")], env=env,
                          capture_output=True, text=True)
    assert done.returncode != 0
    assert "PREFECT_API_KEY contains characters wrangler's .env format cannot carry" in done.stderr
    assert "pnu_" not in done.stderr + done.stdout


# --- one real run of scripts/dev.sh -----------------------------------------------------------

# Characters wrangler's dotenv reading would otherwise mangle: `$NAME` expansion and quotes.
PROFILE_KEY = "pnu_dev$HOME'x\"y"
STARTUP_SECONDS = 60


def process_table() -> dict[int, tuple[int, str, str]]:
    """pid -> (parent pid, command name, start time) for every process (Linux /proc)."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        table[int(entry.name)] = (int(fields[1]), name, fields[19])
    return table


def descendants(root: int) -> dict[int, tuple[str, str]]:
    table = process_table()
    found, frontier = {}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, name, started) in table.items():
            if ppid == parent and pid not in found:
                found[pid] = (name, started)
                frontier.append(pid)
    return found


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def wait_for_root(port: int, dev: subprocess.Popen, output: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        assert dev.poll() is None, f"scripts/dev.sh exited early:\n{output.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"the Worker did not answer on port {port} within {STARTUP_SECONDS} s:\n"
                         f"{output.read_text()[-3000:]}")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="walks the process tree through /proc")
def test_dev_script_serves_the_active_profile_and_stops_on_ctrl_c(tmp_path, fake):
    if not (ROOT / "build" / "index_bg.wasm").exists():
        pytest.fail("build/ is missing: run scripts/build.sh first")
    profiles = tmp_path / "profiles.toml"
    profiles.write_text(f'active = "fake"\n[profiles.fake]\nPREFECT_API_URL = "{fake.api_url("ok")}"\n'
                        f"PREFECT_API_KEY = {json.dumps(PROFILE_KEY)}\n")
    temp_root = tmp_path / "tmp"
    temp_root.mkdir()
    port = free_port()
    # The real HOME: setup.sh, which dev.sh runs first, asks rustup and cargo what is installed.
    env = clean_env(Path.home(), PREFECT_PROFILES_PATH=str(profiles), PORT=str(port), TMPDIR=str(temp_root))
    output = tmp_path / "dev.log"
    with open(output, "w") as log:
        # Its own session, like a terminal's job: Ctrl-C goes to the whole foreground group.
        dev = subprocess.Popen(["bash", str(ROOT / "scripts" / "dev.sh")], cwd=tmp_path, env=env, stdout=log,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for_root(port, dev, output)
        fake.requests.clear()
        got = envelope(call_tool(f"http://127.0.0.1:{port}/mcp", "get_flows", {}))
        assert got["success"] is True, got
        assert [(r["path"], r["headers"].get("authorization")) for r in fake.requests] == \
            [("/ok/api/flows/filter", f"Bearer {PROFILE_KEY}")]

        children = descendants(dev.pid)
        assert "workerd" in {name for name, _ in children.values()}, children
        assert not [pid for pid in children if PROFILE_KEY in command_line(pid)]
        os.killpg(dev.pid, signal.SIGINT)
        assert dev.wait(timeout=20) == 130
    finally:
        if dev.poll() is None:  # an assertion failed: leave nothing running, in any process group
            for pid in [dev.pid, *descendants(dev.pid)]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            dev.wait()

    alive = process_table()
    leftovers = {pid: name for pid, (name, started) in children.items()
                 if pid in alive and alive[pid][2] == started}
    assert leftovers == {}
    text = output.read_text()
    assert f"Prefect settings: PREFECT_API_URL, PREFECT_API_KEY from profile 'fake' of {profiles}" in text
    assert PROFILE_KEY not in text
    # The vars file went with the temporary directory dev.sh made for it.
    holding_the_key = [path for path in temp_root.rglob("*")
                       if path.is_file() and PROFILE_KEY in path.read_text(errors="replace")]
    assert holding_the_key == []
