#!/usr/bin/env bash
# Checks the operators' files: the Prometheus config, the alert rules and
# their unit tests. Installs promtool (Debian's prometheus package) when it is
# missing, so a fresh machine and CI run the same checks.
# Usage: bash scripts/ops/check.sh   (from anywhere)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if ! command -v promtool >/dev/null 2>&1; then
	echo "check.sh: promtool missing, installing Debian's prometheus package" >&2
	sudo=""
	if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
	# The package enables a prometheus service; policy-rc.d may refuse to
	# start it, and nothing here needs it running: only promtool is used.
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi

# promtool resolves rule_files relative to the file that names them.
cd "$here"
promtool check config prometheus.yml
promtool check rules alerts.yml
promtool test rules alerts_test.yml
