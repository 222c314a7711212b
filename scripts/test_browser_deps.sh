#!/usr/bin/env bash
# Install Debian's chromium for the real-browser test (tests/test_e2e_browser.py) when missing.
# Sourced by scripts/test.sh (so it returns, never exits); can also be run on its own.
# Playwright drives this system chromium (executable_path=/usr/bin/chromium): no browser download.

_bcl_install_chromium() {
  if [ -x /usr/bin/chromium ]; then
    return 0
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "warning: apt-get not found; install chromium yourself or the browser test is skipped" >&2
    return 0
  fi
  local run=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      run=(sudo -n)
    else
      echo "warning: not root and no sudo; the browser test will be skipped" >&2
      return 0
    fi
  fi
  echo "installing Debian chromium for the browser test ..." >&2
  "${run[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null &&
    "${run[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null || {
      echo "error: apt-get install chromium failed" >&2
      return 1
    }
  /usr/bin/chromium --version >&2 || return 1
}

_bcl_install_chromium
