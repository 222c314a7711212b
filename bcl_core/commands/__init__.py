"""The ``bcl`` subcommands: one module each, and the table of them (:data:`COMMANDS`).

The table is all ``bcl --help`` needs, so :mod:`bcl_core.cli` imports only the module of the
subcommand being run. Keep this file free of heavy imports.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    """A subcommand: its name, the ``bcl_core.commands`` module that registers it, its help."""

    name: str
    module: str
    help: str


#: Every subcommand, in help order; the one place its one-line help is written.
COMMANDS: tuple[Command, ...] = (
    Command("inspect", "inspect", "list the image series in a folder, file or zip"),
    Command("synth", "synth", "write synthetic CT + MRI cases with known leakage labels"),
    Command("segment", "segment", "segment the marked vertebra of a CT or MRI series"),
    Command("predict", "predict", "predict cement leakage per type for one case"),
    Command("predict-batch", "predict",
            "predict every case of a `bcl synth` folder (resumable)"),
    Command("train", "train", "train a model (research use, synthetic data)"),
    Command("evaluate", "evaluate", "evaluation report: per-type metrics with CIs, ROC, "
            "calibration, kappas, model vs readers"),
    Command("study", "study", "reader study: database, accounts, cases, assignments, exports"),
    Command("demo", "demo", "open the app with a synthetic demo case"),
)


def command_help(name: str) -> str:
    """The one-line help of subcommand ``name`` (for the command modules' parsers).

    Raises
    ------
    KeyError
        If ``name`` is not in :data:`COMMANDS`.
    """
    for command in COMMANDS:
        if command.name == name:
            return command.help
    raise KeyError(name)
