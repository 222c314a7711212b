#!/usr/bin/env bash
# Lint and type checks with the configuration in pyproject.toml: `ruff check .` on the whole
# repository, then `mypy bcl_core`. Both always run; the exit status is non-zero when either
# fails. scripts/test.sh runs the ruff part before the tests (mypy is not part of it yet).
set -uo pipefail
cd "$(dirname "$0")/.."

rc=0
python3 -m ruff check . || rc=1
python3 -m mypy bcl_core || rc=1
exit "$rc"
