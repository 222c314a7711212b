"""The ``bcl`` command: a thin front over the ``bcl_core`` API.

Each subcommand lives in ``bcl_core/commands/<module>.py`` and exposes
``register(subparsers) -> None``, adding its parser(s) with ``set_defaults(func=run)`` where
``run(args) -> int`` returns the exit code. Domain errors (:class:`BCLError`) become one
``error: ...`` line and exit 2; no traceback ever reaches the user.

Start-up is kept short: :data:`bcl_core.commands.COMMANDS` (names, modules, one-line help) is all ``bcl --help``
needs, so only the module of the subcommand being run is imported, and the command modules
import their heavy dependencies (numpy, pydicom, ONNX Runtime, pandas) only when they run.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import re
import sys
from collections.abc import Sequence

from bcl_core import __version__
from bcl_core.commands import COMMANDS, Command
from bcl_core.errors import BCLError

logger = logging.getLogger("bcl")


EXIT_OK = 0
EXIT_ERROR = 2

#: Options whose value is a point ``X,Y,Z`` that may start with a minus sign.
POINT_OPTIONS: tuple[str, ...] = ("--ct-point", "--mr-point", "--point")
_NUMBER_START = re.compile(r"^-(\d|\.\d)")


def attach_negative_values(argv: Sequence[str], options: Sequence[str] = POINT_OPTIONS
                           ) -> list[str]:
    """Join ``--point -1,2,3`` into ``--point=-1,2,3`` so argparse does not read ``-1,2,3``
    as an option (LPS coordinates are often negative).

    Examples
    --------
    >>> attach_negative_values(["predict", "c", "--ct-point", "-1.5,2,-3"])
    ['predict', 'c', '--ct-point=-1.5,2,-3']
    """
    out: list[str] = []
    items = list(argv)
    i = 0
    while i < len(items):
        if items[i] in options and i + 1 < len(items) and _NUMBER_START.match(items[i + 1]):
            out.append(f"{items[i]}={items[i + 1]}")
            i += 2
            continue
        out.append(items[i])
        i += 1
    return out


def _chosen_command(argv: Sequence[str]) -> Command | None:
    """The subcommand named in ``argv`` (the first word that is not an option), if any."""
    by_name = {command.name: command for command in COMMANDS}
    for item in argv:
        if not item.startswith("-"):
            return by_name.get(item)
    return None


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The argument parser: the subcommand named in ``argv`` in full, the others by name and help.

    With an empty ``argv`` every subcommand is listed by its help line only (``bcl --help``),
    and no command module is imported.
    """
    parser = argparse.ArgumentParser(
        prog="bcl",
        description="BCL Predict: bone cement leakage risk before kyphoplasty (research software; "
        "demo models trained on synthetic data, not for clinical decisions).",
    )
    parser.add_argument("--version", action="version", version=f"bcl {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = _chosen_command(argv)
    registered: set[str] = set()
    for command in COMMANDS:
        if command.name in registered:
            continue
        if chosen is not None and command.module == chosen.module:
            before = set(subparsers.choices)
            importlib.import_module(f"bcl_core.commands.{command.module}").register(subparsers)
            registered |= set(subparsers.choices) - before
        else:
            subparsers.add_parser(command.name, help=command.help, add_help=False)
            registered.add(command.name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``bcl`` with ``argv``; returns the process exit code."""
    words = attach_negative_values(sys.argv[1:] if argv is None else argv)
    parser = build_parser(words)
    args = parser.parse_args(words)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    try:
        return int(args.func(args))
    except BCLError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_ERROR
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted.\n")
        return 130
    except MemoryError:
        sys.stderr.write("error: not enough memory for this input; close other programs or use a "
                         "smaller series.\n")
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - last line of defence: never a traceback
        logger.debug("unexpected error", exc_info=True)
        sys.stderr.write(f"error: unexpected internal error ({type(exc).__name__}: {exc}); "
                         "please report it with the command you ran.\n")
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
