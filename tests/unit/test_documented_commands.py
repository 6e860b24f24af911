"""Every `cashless` command line the docs and the compose file tell people to run exists: each
is parsed by the real command line (commands, options, choices, types), as a user's shell
would hand it over. A file the example names need not exist here."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from cli.main import cli

ROOT = Path(__file__).resolve().parents[2]
DOCS = [
    "README.md",
    "docs/OPERATIONS.md",
    "docs/IMPORT_PROFILES.md",
    "dashboards/README.md",
    "docs/RUNBOOK.md",
    "docker-compose.yml",
]

# `cashless …` inside backticks, or at the start of a shell line (after `$(`, `VAR=… `).
_INLINE = re.compile(r"`(?:\.venv/bin/)?cashless ([^`]+)`")
_SHELL = re.compile(r"^(?:[A-Z_]+=\S+ |\S+=\$\()*(?:\.venv/bin/)?cashless (.+)$")
_COMPOSE = re.compile(r"docker compose run --rm \w+ (.+?)`")


def _documented() -> list[tuple[str, str, bool]]:
    """(doc, command line, whole): a whole line to run, or a command named in prose."""
    found: list[tuple[str, str, bool]] = []
    for name in DOCS:
        text = (ROOT / name).read_text("utf-8")
        found += [(name, m, False) for m in _INLINE.findall(text)]
        found += [(name, m, True) for m in _COMPOSE.findall(text)]
        fenced = re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL)
        for block in fenced:
            for line in block.replace("\\\n", " ").splitlines():
                match = _SHELL.match(line.strip())
                if match:
                    found.append((name, match.group(1), True))
    return found


def _args(line: str) -> list[str]:
    line = re.split(r"\s+#|\)|\s&\s*|\s&$|\s\|", line)[0]  # comments, pipes, background
    return shlex.split(line.replace("…", "x").rstrip("&").strip())


COMMANDS = _documented()


def test_the_docs_name_every_command() -> None:
    named = {_args(line)[0] for _, line, _ in COMMANDS if _args(line)}
    assert named >= {"stack", "demo", "worker", "simulate", "replay", "gateway", "report"}
    assert named >= {"dashboards", "dlq", "profile"}


@pytest.mark.parametrize(
    ("doc", "line", "whole"), COMMANDS, ids=[f"{d}: {c}" for d, c, _ in COMMANDS]
)
def test_a_documented_command_line_parses(doc: str, line: str, whole: bool) -> None:
    args = _args(line)
    context = click.Context(cli, info_name="cashless")
    command: click.Command = cli
    while isinstance(command, click.Group) and args and not args[0].startswith("-"):
        sub = command.get_command(context, args[0])
        assert sub is not None, f"{doc}: no command {args[0]!r} in {line!r}"
        context = click.Context(sub, info_name=args[0], parent=context)
        command, args = sub, args[1:]
    if not whole or "--help" in args:
        return  # a command named in prose: that it exists is what counts
    runs = not isinstance(command, click.Group) or command.invoke_without_command
    assert runs, f"{doc}: {line!r} names a group only"
    try:
        command.make_context(context.info_name or "", list(args), parent=context.parent)
    except click.BadParameter as exc:
        if "does not exist" not in str(exc):  # a file an example names need not exist here
            raise AssertionError(f"{doc}: {line!r}: {exc}") from None
    except click.UsageError as exc:
        raise AssertionError(f"{doc}: {line!r}: {exc}") from None
