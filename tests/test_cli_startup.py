"""``bcl`` starts fast (issue 17): ``bcl --help`` and ``bcl predict --help`` import none of the heavy
libraries, each subcommand's module is imported only when that subcommand runs, and the command
table matches what the modules register."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from bcl_core.cli import build_parser
from bcl_core.commands import COMMANDS, command_help

HEAVY = ("numpy", "scipy", "pydicom", "onnxruntime", "pandas", "SimpleITK", "sqlalchemy",
         "torch", "matplotlib")


def _modules_loaded_by(argv: list[str]) -> set[str]:
    code = (
        "import sys\n"
        "from bcl_core.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)
    return set(done.stdout.split())


@pytest.mark.parametrize("argv", [["--help"], ["predict", "--help"]])
def test_help_imports_no_heavy_library(argv: list[str]) -> None:
    loaded = _modules_loaded_by(argv)
    assert not [name for name in HEAVY if name in loaded]
    commands = {name.rsplit(".", 1)[-1] for name in loaded
                if name.startswith("bcl_core.commands.")}
    assert commands == ({"predict", "segment"} if "predict" in argv else set())


def test_top_level_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert command.name in out
    assert "predict every case of a `bcl synth` folder" in out


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.name)
def test_each_command_is_registered_by_its_module(command: object) -> None:
    name = command.name  # type: ignore[attr-defined]
    parser = build_parser([name])
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    registered = sub.choices[name]
    # The module's own parser (options, or actions of its own), not the help-only stand-in.
    assert registered.add_help and len(registered._actions) > 1
    assert callable(registered.get_default("func")) or any(
        isinstance(a, argparse._SubParsersAction) for a in registered._actions)
    assert command_help(name) == command.help  # type: ignore[attr-defined]


def test_an_unknown_command_is_an_argparse_error(capsys: pytest.CaptureFixture[str]) -> None:
    from bcl_core.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["predictt"])
    assert stop.value.code == 2 and "invalid choice" in capsys.readouterr().err
