"""The ``iamd`` command line: help on every option, --version, global options on either side of
the subcommand, ISO-8601 times in what the commands print."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

from iamd.cli.main import build_parser, main, settings_of
from iamd.core.clock import iso8601
from iamd.core.config import OPTIONS

ISO_SECONDS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
GLOBAL_OPTIONS = ("--data-dir", "--database-url", "--log-level")
OFFLINE_COMMANDS = ("policy", "agent", "credential-helper")
"""Commands that open no store and so take no store options (the agent and the credential helper run
beside workloads, away from the store)."""


def parsers(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every parser of the tree with its command path (``()`` for ``iamd`` itself)."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from parsers(child, (*path, name))


def leaf_commands() -> list[tuple[str, ...]]:
    out = []
    for path, parser in parsers(build_parser()):
        has_children = any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)
        if path and not has_children and path[0] not in OFFLINE_COMMANDS:
            out.append(path)
    return out


def test_every_option_argument_and_command_has_help() -> None:
    missing = []
    for path, parser in parsers(build_parser()):
        for action in parser._actions:
            where = " ".join(("iamd", *path))
            if isinstance(action, argparse._SubParsersAction):
                helps = {choice.dest: choice.help for choice in action._choices_actions}
                missing += [f"{where} {name}" for name in action.choices if not helps.get(name)]
            elif not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{where} {'/'.join(action.option_strings) or action.dest}")
    assert missing == []


def test_the_tree_is_walked() -> None:
    """The walk above sees the nested commands (a test that checks nothing would pass too)."""
    commands = {" ".join(p) for p, _ in parsers(build_parser())}
    assert {"serve", "accounts create", "accounts set-root-login", "keys rotate", "mfa import-tokens"} <= commands
    assert {"policy evaluate", "policy validate", "roles revoke-sessions"} <= commands


@pytest.mark.parametrize("command", leaf_commands(), ids=" ".join)
def test_every_store_command_takes_the_global_options_after_its_name(command: tuple[str, ...]) -> None:
    parser = dict(parsers(build_parser()))[command]
    options = {o for a in parser._actions for o in a.option_strings}
    assert set(GLOBAL_OPTIONS) <= options


def test_global_options_before_or_after_the_subcommand() -> None:
    parser = build_parser()
    before = parser.parse_args(["--data-dir", "X", "--log-level", "warning", "accounts", "create", "--name", "n"])
    after = parser.parse_args(["accounts", "create", "--data-dir", "X", "--name", "n", "--log-level", "warning"])
    middle = parser.parse_args(["accounts", "--data-dir", "X", "--log-level", "warning", "create", "--name", "n"])
    for args in (before, after, middle):
        assert args.data_dir == Path("X") and args.log_level == "warning" and args.name == "n"
    url = "postgresql+psycopg://db/iamd"
    assert parser.parse_args(["keys", "rotate", "--database-url", url]).database_url == url
    assert parser.parse_args(["roles", "revoke-sessions", "r", "--data-dir", "D"]).data_dir == Path("D")
    assert parser.parse_args(["serve", "--data-dir", "D", "--port", "1"]).data_dir == Path("D")
    # given on both sides, the one after the subcommand wins (it is read last)
    assert parser.parse_args(["--data-dir", "A", "accounts", "list", "--data-dir", "B"]).data_dir == Path("B")
    assert parser.parse_args(["accounts", "list"]).data_dir is None


def test_access_log_switch() -> None:
    parser = build_parser()
    assert parser.parse_args(["serve"]).access_log is None  # IAMD_ACCESS_LOG or the default decides
    assert parser.parse_args(["serve", "--no-access-log"]).access_log is False
    assert parser.parse_args(["serve", "--access-log"]).access_log is True


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "iamd", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
        check=False,
    )


def test_version() -> None:
    proc = run("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"iamd {metadata.version('iamd')}"


def test_iso_time() -> None:
    assert iso8601(0) == "1970-01-01T00:00:00Z"
    assert iso8601(1_800_000_000.75) == "2027-01-15T08:00:00Z"


def test_command_output_and_logs_use_iso_times(tmp_path: Path) -> None:
    data = str(tmp_path / "d")
    created = run("accounts", "create", "--data-dir", data, "--name", "team", "--log-level", "info")
    assert created.returncode == 0, created.stderr
    account = json.loads(created.stdout)["AccountId"]
    # log lines (stderr) start with an ISO-8601 UTC time; Alembic's plugin set-up is not logged
    lines = created.stderr.splitlines()
    assert any("Running upgrade" in line for line in lines)
    assert all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (INFO|WARNING) ", line) for line in lines), lines
    assert not any("plugin" in line for line in lines)
    listed = run("accounts", "list", "--data-dir", data)
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert row["AccountId"] == account and ISO_SECONDS.fullmatch(row["CreatedAt"])


def test_a_bad_access_log_variable_is_refused(tmp_path: Path) -> None:
    proc = run("serve", "--data-dir", str(tmp_path), env={"IAMD_ACCESS_LOG": "maybe"})
    assert proc.returncode == 2
    assert "IAMD_ACCESS_LOG must be 1 or 0" in proc.stderr


def test_a_message_with_line_breaks_stays_one_log_line() -> None:
    import logging

    from iamd.cli.logs import LOG_FORMAT, UtcIsoFormatter

    record = logging.LogRecord("iamd", logging.INFO, __file__, 1, "first\nsecond\r\nthird", None, None)
    text = UtcIsoFormatter(LOG_FORMAT).format(record)
    assert "\n" not in text and "\r" not in text
    assert text.endswith("iamd: first\\nsecond\\r\\nthird")


# --- the flags come from the settings' declarations -----------------------------------------------------


def test_every_declared_flag_is_on_its_commands_with_its_variable_in_the_help() -> None:
    tree = dict(parsers(build_parser()))
    for opt in OPTIONS:
        if opt.spec.flag is None:
            continue
        commands = [c for c in leaf_commands() if opt.spec.every_command or c == ("serve",)]
        for command in commands:
            actions = {s: a for a in tree[command]._actions for s in a.option_strings}
            for flag in opt.flags:
                assert flag in actions, f"iamd {' '.join(command)} {flag}"
                assert actions[flag].dest == opt.name and opt.spec.env in (actions[flag].help or "")
    serve_only = {o.spec.flag for o in OPTIONS if o.spec.flag and not o.spec.every_command}
    accounts_list = {s for a in tree[("accounts", "list")]._actions for s in a.option_strings}
    assert serve_only and not serve_only & accounts_list


def test_flags_become_settings_and_win_over_the_environment() -> None:
    args = build_parser().parse_args(["serve", "--port", "9443", "--no-access-log", "--data-dir", "D"])
    settings = settings_of(args, {"IAMD_PORT": "1", "IAMD_HOST": "0.0.0.0", "IAMD_ACCESS_LOG": "1"})
    assert (settings.server.port, settings.server.host, settings.server.access_log) == (9443, "0.0.0.0", False)
    assert settings.store.data_dir == Path("D")


def test_the_token_partition_of_import_tokens_is_not_the_stores() -> None:
    args = build_parser().parse_args(["mfa", "import-tokens", "gov.pskc", "--partition", "aws-us-gov"])
    assert args.token_partition == "aws-us-gov"
    assert settings_of(args, {}).identity.partition == "aws"


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        (["serve", "--port", "70000"], {}, "iamd: --port must be between 0 and 65535, not 70000"),
        (["serve", "--workers", "0"], {}, "iamd: --workers must be at least 1, not 0"),
        (["accounts", "list"], {"IAMD_PORT": "http"}, "iamd: IAMD_PORT must be a whole number, not 'http'"),
        (["keys", "rotate"], {"IAMD_QUOTAS": "user=1"}, "iamd: IAMD_QUOTAS: no quota called 'user'"),
    ],
)
def test_bad_settings_stop_the_command_naming_the_flag_or_variable(
    argv: list[str], environ: dict[str, str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*argv, "--data-dir", "unused"], environ) == 2
    assert capsys.readouterr().err.startswith(message)


def test_the_command_reads_the_environment_it_is_given(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("IAMD_PORT", "http")  # the process's environment is not read when one is given
    assert main(["serve", "--data-dir", "unused"], {"IAMD_WORKERS": "0"}) == 2
    assert capsys.readouterr().err.startswith("iamd: IAMD_WORKERS must be at least 1")
