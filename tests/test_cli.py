"""The command line: `python -m tinytransformer --help` and each command's --help work."""

import subprocess
import sys

import pytest

from tinytransformer.commands.main import COMMANDS


def run(*args):
    return subprocess.run([sys.executable, "-m", "tinytransformer", *args],
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_help_lists_every_command():
    result = run("--help")
    assert result.returncode == 0
    for name in COMMANDS:
        assert name in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_help(command):
    result = run(command, "--help")
    assert result.returncode == 0 and f"python -m tinytransformer {command}" in result.stdout


def test_an_unknown_command_is_an_error():
    result = run("trian")
    assert result.returncode != 0 and "invalid choice: 'trian'" in result.stderr
