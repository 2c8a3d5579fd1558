#!/usr/bin/env bash
# scripts/test.sh: THE test command of Leadgate. On a fresh Debian/Ubuntu
# machine it installs what the tests need (when missing and we are root),
# then runs go vet and the whole test suite with the race detector. Extra
# arguments are passed to `go test` (e.g. scripts/test.sh -run TestRedis -v).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Tools the tests need, as "command-on-PATH:debian-package". Add one line per
# tool; it is installed only when the command is missing.
REQUIRED_TOOLS=(
  "redis-server:redis-server"
  "redis-cli:redis-tools"
  "promtool:prometheus"
  "chromium:chromium"
)

missing_packages=()
for entry in "${REQUIRED_TOOLS[@]}"; do
  cmd="${entry%%:*}"
  pkg="${entry#*:}"
  if ! command -v "$cmd" >/dev/null 2>&1; then
    missing_packages+=("$pkg")
  fi
done

if ((${#missing_packages[@]} > 0)); then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing ${missing_packages[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing_packages[@]}"
  else
    echo "test.sh: missing ${missing_packages[*]}; install them (apt-get install -y ${missing_packages[*]}) and rerun" >&2
    exit 1
  fi
fi

# Tests that need Redis fail instead of skipping when run through this
# script: the suite is only green if it really ran against Redis.
export LEADGATE_REQUIRE_REDIS=1
export LEADGATE_REQUIRE_TOOLS=1
# A failing browser test's screenshot is copied here (the test's own temp
# folder goes when it ends), so a red run leaves the picture behind.
export LEADGATE_SCREENSHOT_DIR="${LEADGATE_SCREENSHOT_DIR:-$PWD/test-screenshots}"

flags=()
packages=()
for arg in "$@"; do
  case "$arg" in
    ./* | leadgate | leadgate/*) packages+=("$arg") ;;
    *) flags+=("$arg") ;;
  esac
done
if ((${#packages[@]} == 0)); then
  packages=(./...)
fi

# Run the tests even when vet fails, so one run shows every problem.
status=0
echo "test.sh: go vet ${packages[*]}" >&2
go vet "${packages[@]}" || status=1
echo "test.sh: go test -race -count=1 ${flags[*]-} ${packages[*]}" >&2
go test -race -count=1 ${flags[@]+"${flags[@]}"} "${packages[@]}" || status=1
if ((status != 0)); then
  echo "test.sh: FAILED" >&2
fi
exit "$status"
