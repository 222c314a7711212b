#!/usr/bin/env bash
# Lint and type checks with the configuration in pyproject.toml: `ruff check .` on the whole
# repository, then mypy on the library and the app (`pages/` is a folder of scripts, not an
# installed package: hence --explicit-package-bases). Both always run; the exit status is
# non-zero when either fails. scripts/test.sh runs this before the tests.
set -uo pipefail
cd "$(dirname "$0")/.."

rc=0
python3 -m ruff check . || rc=1
python3 -m mypy --explicit-package-bases bcl_core app.py pages || rc=1
exit "$rc"
