"""Regenerates src/tools/schemas/automation.json: the JSON Schema of Prefect's
`AutomationCore`, which `get_object_schema` returns (plus its own guidance entry).

Run with the project's virtualenv, which pins prefect 3.9.1:

    .venv/bin/python scripts/generate_object_schema.py
"""

from __future__ import annotations

import json
from pathlib import Path

import prefect
from prefect.events.schemas.automations import AutomationCore

PREFECT_VERSION = "3.9.1"
OUTPUT = Path(__file__).resolve().parents[1] / "src" / "tools" / "schemas" / "automation.json"


def main() -> None:
    if prefect.__version__ != PREFECT_VERSION:
        raise SystemExit(f"expected prefect {PREFECT_VERSION}, found {prefect.__version__}")
    schema = AutomationCore.model_json_schema()
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(json.dumps(schema, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {OUTPUT} ({len(schema['$defs'])} definitions)")


if __name__ == "__main__":
    main()
