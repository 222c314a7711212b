#!/usr/bin/env bash
# Install everything the test suite needs, lint, start its services, run it.
# Used as-is by the README's Quick start and by .ci/run. Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install -q --disable-pip-version-check -r requirements-dev.txt -e . || {
  echo "error: pip install failed" >&2; exit 1; }

# Lint and type-check before anything else starts: an error fails the run.
bash scripts/lint.sh || {
  echo "error: ruff or mypy found errors (listed above); fix them, then run again" >&2; exit 1; }

# System packages and services the tests use, when missing: PostgreSQL for the reader-study
# tests (exports BCL_TEST_POSTGRES_URL), Debian's chromium for the browser test.
for helper in scripts/test_services.sh scripts/test_browser_deps.sh; do
  if [ -f "$helper" ]; then
    source "$helper" || { echo "error: $helper failed" >&2; exit 1; }
  fi
done

python3 -m pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "error: pytest collected no tests; that is a failure, not a pass" >&2
  exit 1
fi
exit "$rc"
