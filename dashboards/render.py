"""`cashless dashboards build`: the dashboards and alert rules as committed, deterministic files.

Each dashboard is written twice with the same bytes: under `generated/` (the reviewed artefact)
and under `provisioning/dashboards/json/`, the folder the Grafana of docker-compose loads (the
compose file mounts `dashboards/provisioning` at `/etc/grafana/provisioning`). Keys are sorted
and every uid is fixed in code, so building twice gives identical files and a diff shows
exactly what a code change did to a dashboard.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

from dashboards.alerts import alert_rules
from dashboards.boards import all_boards

__all__ = [
    "ALERT_RULES_FILE",
    "GENERATED_DIR",
    "PACKAGE_DIR",
    "PROVISIONED_DIR",
    "dashboard_documents",
    "differences",
    "rendered_files",
    "to_text",
    "write_files",
]

PACKAGE_DIR = Path(__file__).resolve().parent
GENERATED_DIR = PurePosixPath("generated")
PROVISIONED_DIR = PurePosixPath("provisioning/dashboards/json")
ALERT_RULES_FILE = GENERATED_DIR / "alert-rules.json"


def to_text(document: Any) -> str:
    """The canonical JSON text: sorted keys, two-space indent, UTF-8, final newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def dashboard_documents() -> dict[str, dict[str, Any]]:
    """Every dashboard's JSON model, by uid."""
    return {board.uid: board.to_json() for board in all_boards()}


def rendered_files() -> dict[PurePosixPath, str]:
    """Every generated file (path relative to the `dashboards/` folder) and its text."""
    files: dict[PurePosixPath, str] = {}
    for uid, document in dashboard_documents().items():
        text = to_text(document)
        files[GENERATED_DIR / f"{uid}.json"] = text
        files[PROVISIONED_DIR / f"{uid}.json"] = text
    files[ALERT_RULES_FILE] = to_text(alert_rules())
    return files


def _extra_files(root: Path, expected: dict[PurePosixPath, str]) -> list[PurePosixPath]:
    extra: list[PurePosixPath] = []
    for folder in (GENERATED_DIR, PROVISIONED_DIR):
        for path in sorted((root / folder).glob("*.json")):
            relative = folder / path.name
            if relative not in expected:
                extra.append(relative)
    return extra


def differences(root: Path = PACKAGE_DIR) -> list[str]:
    """What differs between the files under `root` and what the code builds; empty if none."""
    expected = rendered_files()
    problems: list[str] = []
    for relative, text in expected.items():
        path = root / relative
        if not path.is_file():
            problems.append(f"{relative}: missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{relative}: differs from what the code builds")
    problems.extend(
        f"{relative}: not built by the code" for relative in _extra_files(root, expected)
    )
    return problems


def write_files(root: Path = PACKAGE_DIR) -> list[PurePosixPath]:
    """Write every generated file under `root` that changed, delete stale ones; say which."""
    expected = rendered_files()
    changed: list[PurePosixPath] = []
    for relative, text in expected.items():
        path = root / relative
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        changed.append(relative)
    for relative in _extra_files(root, expected):
        (root / relative).unlink()
        changed.append(relative)
    return changed
