"""The ``bcl`` command: a thin front over the ``bcl_core`` API.

Each subcommand lives in ``bcl_core/commands/<name>.py`` and exposes
``register(subparsers) -> None``, adding its parser with ``set_defaults(func=run)`` where
``run(args) -> int`` returns the exit code. Domain errors (:class:`BCLError`) become one
``error: ...`` line and exit 2; no traceback ever reaches the user.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import re
import sys
from collections.abc import Sequence

from bcl_core import __version__
from bcl_core.errors import BCLError

logger = logging.getLogger("bcl")

#: Subcommand modules under ``bcl_core.commands``, in help order. A module that is not there yet
#: is skipped, so commands can land one at a time.
COMMAND_MODULES: tuple[str, ...] = (
    "inspect",
    "synth",
    "segment",
    "predict",
    "train",
    "evaluate",
    "study",
    "demo",
)

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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every available subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="bcl",
        description="BCL Predict: bone cement leakage risk before kyphoplasty (research software; "
        "demo models trained on synthetic data, not for clinical decisions).",
    )
    parser.add_argument("--version", action="version", version=f"bcl {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"bcl_core.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"bcl_core.commands.{name}":
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``bcl`` with ``argv``; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(attach_negative_values(sys.argv[1:] if argv is None else argv))
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
