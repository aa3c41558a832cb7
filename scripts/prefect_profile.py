#!/usr/bin/env python3
"""Find the Prefect settings scripts/dev.sh should serve, the way the `prefect` CLI (3.9) does.

Each of PREFECT_API_URL, PREFECT_API_KEY and PREFECT_API_AUTH_STRING comes from the
environment when set there, else from the active profile of the profiles file:

* the file: $PREFECT_PROFILES_PATH, else $PREFECT_HOME/profiles.toml, else ~/.prefect/profiles.toml;
* the active profile: $PREFECT_PROFILE, else the file's top-level `active` key; a name the file
  does not define means Prefect's built-in default profile, which sets none of the three.

(Prefect also reads PREFECT_PROFILES_PATH from ./.env, ./prefect.toml and ./pyproject.toml of the
working directory; dev.sh runs from this repository, which has none of them, so they are skipped.)

Without a PREFECT_API_URL from either place, dev.sh runs its demo server, so no key or auth
string is kept: they belong to a server the demo is not.

The settings go to --vars-file (a dotenv file wrangler reads, created mode 600) so the key never
passes through the shell, a log or a command line. Stdout gets shell assignments without secrets:
  source=env|profile|demo   where PREFECT_API_URL came from
  profile, profiles_path    the active profile's name (empty if none applies) and the file read
  api_url                   the URL to serve (empty for demo)
  summary                   one line for people, naming where each setting came from
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tomllib
from pathlib import Path

SETTINGS = ("PREFECT_API_URL", "PREFECT_API_KEY", "PREFECT_API_AUTH_STRING")


def profiles_path(environ: dict[str, str]) -> Path:
    if environ.get("PREFECT_PROFILES_PATH"):
        return Path(environ["PREFECT_PROFILES_PATH"])
    if environ.get("PREFECT_HOME"):
        return Path(environ["PREFECT_HOME"]) / "profiles.toml"
    return Path.home() / ".prefect" / "profiles.toml"


def active_profile(path: Path, environ: dict[str, str]) -> tuple[str, dict[str, object]]:
    """The active profile's name and settings; ("", {}) when the file is missing, unreadable or
    names no profile it defines (Prefect then falls back to its built-in default profile)."""
    try:
        contents = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return "", {}
    except (OSError, tomllib.TOMLDecodeError) as error:
        # Prefect warns and carries on without the file; so do we, loudly.
        print(f"prefect_profile: ignoring {path}: {error}", file=sys.stderr)
        return "", {}
    name = environ.get("PREFECT_PROFILE") or contents.get("active")
    profiles = contents.get("profiles", {})
    if not isinstance(name, str) or not isinstance(profiles.get(name), dict):
        if name:  # the `prefect` CLI refuses to run then; the settings fall back to the default profile
            print(f"prefect_profile: profile {name!r} is not defined in {path}", file=sys.stderr)
        return "", {}
    return name, profiles[name]


def resolve(environ: dict[str, str], profile_settings: dict[str, object]) -> dict[str, tuple[str, str]]:
    """Each setting's value and where it came from ("env" or "profile"); empty without a URL."""
    chosen = {}
    for setting in SETTINGS:
        if environ.get(setting):
            chosen[setting] = (environ[setting], "env")
        elif profile_settings.get(setting) not in (None, ""):
            chosen[setting] = (str(profile_settings[setting]), "profile")
    return chosen if "PREFECT_API_URL" in chosen else {}


def dotenv_line(name: str, value: str) -> str:
    """NAME=value as wrangler's dotenv + dotenv-expand read it back unchanged: `$` escaped
    (else `$X` expands), in a quote character the value lacks (dotenv has no escapes for them)."""
    usable = [mark for mark in "'`" if mark not in value]
    if '"' not in value and "\\n" not in value and "\\r" not in value:  # inside "…" dotenv makes \n a line break
        usable.append('"')
    if not usable or "\n" in value or "\r" in value:
        sys.exit(f"prefect_profile: {name} contains characters wrangler's .env format cannot carry")
    quote, escaped = usable[0], value.replace("$", "\\$")
    return f"{name}={quote}{escaped}{quote}\n"


def write_vars_file(path: Path, values: dict[str, str]) -> None:
    lines = [dotenv_line(name, value) for name, value in values.items()]
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.writelines(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vars-file", type=Path, required=True, help="dotenv file to write the settings to")
    args = parser.parse_args()

    environ = dict(os.environ)
    path = profiles_path(environ)
    profile, profile_settings = active_profile(path, environ)
    chosen = resolve(environ, profile_settings)
    write_vars_file(args.vars_file, {setting: value for setting, (value, _) in chosen.items()})

    where = {"env": "the environment", "profile": f"profile {profile!r} of {path}" if profile else str(path)}
    settings_by_origin: dict[str, list[str]] = {}
    for setting, (_, origin) in chosen.items():
        settings_by_origin.setdefault(origin, []).append(setting)
    summary = ("; ".join(f"{', '.join(settings)} from {where[origin]}"
                         for origin, settings in settings_by_origin.items())
               or f"no PREFECT_API_URL in the environment or in {where['profile']}: demo server")
    api_url, source = chosen.get("PREFECT_API_URL", ("", "demo"))
    for name, value in (("source", source), ("profile", profile), ("profiles_path", str(path)),
                        ("api_url", api_url), ("summary", summary)):
        print(f"{name}={shlex.quote(value)}")


if __name__ == "__main__":
    main()
