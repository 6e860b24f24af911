"""`cashless profile check PROFILE [FILE]`: an import profile checked, and its fit to a file."""

from __future__ import annotations

from pathlib import Path

import click

from cashless.settings import TaxonomySettings, settings_from
from cli.common import friendly_errors
from producers.replay.profile import Profile, load_profile
from producers.replay.tables import file_format, read_header

__all__ = ["profile_group"]


@click.group("profile")
def profile_group() -> None:
    """Import profiles (TOML): how `cashless replay --profile` reads a source's own export."""


@profile_group.command("check")
@click.argument("profile_path", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@friendly_errors
def check_command(profile_path: Path, file: Path | None) -> None:
    """Check PROFILE (tables, keys, types, formats) and, with FILE, that its columns are in
    FILE's header. Needs no Kafka; exit status 2 names what is wrong."""
    profile = load_profile(profile_path)
    settings_from(TaxonomySettings).load()  # district names are matched against it
    click.echo(f"{profile_path}: a valid import profile")
    if file is None:
        for line in _described(profile, None):
            click.echo(line)
        return
    if not file.is_file():
        raise click.BadParameter(f"{file} is not a file", param_hint="FILE")
    fmt = file_format(file, profile)
    header = read_header(file, profile, fmt)
    fields = profile.check_header(header)
    click.echo(f"{file}: {fmt}, header row {profile.header_row}: {len(header)} columns")
    for line in _described(profile, {name: header[at] for name, at in fields.items()}):
        click.echo(line)


def _described(profile: Profile, found: dict[str, str] | None) -> list[str]:
    lines = []
    for name, column in sorted(profile.columns.items()):
        at = "" if found is None else f"  (found as {found[name]!r})"
        lines.append(f"  {name:<12} <- column {column!r}{at}")
    for name, value in sorted(profile.defaults.items()):
        lines.append(f"  {name:<12} = {value!r} on every row")
    for name, table in sorted(profile.values.items()):
        lines.append(f"  {name:<12} {len(table)} file values mapped")
    return lines
