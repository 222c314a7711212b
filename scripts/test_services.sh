#!/usr/bin/env bash
# Sourced by scripts/test.sh before pytest: a local PostgreSQL for the reader-study tests.
# Exports BCL_TEST_POSTGRES_URL. In CI (CI=true) a failure is fatal; elsewhere the
# postgres-marked tests skip with a warning.

_bcl_pg_fail() {
  if [ "${CI:-}" = "true" ]; then
    echo "error: PostgreSQL for the study tests: $1" >&2
    return 1
  fi
  echo "warning: PostgreSQL for the study tests: $1; postgres tests will be skipped." >&2
  return 0
}

_bcl_pg_setup() {
  local db="bcl_test" role="bcl_test" version cluster
  if [ "${CI:-}" = "true" ] || ! command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "installing postgresql from Debian packages..." >&2
    apt-get update -qq >/dev/null 2>&1 || echo "warning: apt-get update failed" >&2
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null 2>&1; then
      # An image that already has it (and no package mirror) can still run the tests.
      command -v pg_ctlcluster >/dev/null 2>&1 \
        || { _bcl_pg_fail "apt-get install postgresql failed"; return $?; }
      echo "warning: apt-get install postgresql failed; using the installed server" >&2
    fi
  fi
  command -v pg_lsclusters >/dev/null 2>&1 || { _bcl_pg_fail "pg_lsclusters missing"; return $?; }
  version=$(pg_lsclusters -h 2>/dev/null | awk 'NR==1{print $1}')
  cluster=$(pg_lsclusters -h 2>/dev/null | awk 'NR==1{print $2}')
  if [ -z "$version" ]; then
    version=$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -1)
    [ -n "$version" ] || { _bcl_pg_fail "no PostgreSQL version installed"; return $?; }
    pg_createcluster "$version" main >/dev/null 2>&1 || { _bcl_pg_fail "pg_createcluster failed"; return $?; }
    cluster=main
  fi
  if ! pg_lsclusters -h | awk -v v="$version" -v c="$cluster" '$1==v && $2==c {print $4}' | grep -q online; then
    pg_ctlcluster "$version" "$cluster" start >/dev/null 2>&1 || { _bcl_pg_fail "server did not start"; return $?; }
  fi
  local port
  port=$(pg_lsclusters -h | awk -v v="$version" -v c="$cluster" '$1==v && $2==c {print $3}')
  local i
  for i in $(seq 1 30); do
    su postgres -c "pg_isready -q -p $port" && break
    sleep 1
  done
  su postgres -c "psql -q -p $port -tc \"SELECT 1 FROM pg_roles WHERE rolname='$role'\"" | grep -q 1 \
    || su postgres -c "psql -q -p $port -c \"CREATE ROLE $role LOGIN PASSWORD '$role'\"" >/dev/null \
    || { _bcl_pg_fail "cannot create role"; return $?; }
  su postgres -c "psql -q -p $port -tc \"SELECT 1 FROM pg_database WHERE datname='$db'\"" | grep -q 1 \
    || su postgres -c "psql -q -p $port -c \"CREATE DATABASE $db OWNER $role\"" >/dev/null \
    || { _bcl_pg_fail "cannot create database"; return $?; }
  export BCL_TEST_POSTGRES_URL="postgresql+psycopg://$role:$role@127.0.0.1:$port/$db"
  echo "PostgreSQL for the study tests: $BCL_TEST_POSTGRES_URL" >&2
}

_bcl_pg_setup
