#!/usr/bin/env bash
# Hostile-sender checks (issue 12; README, Security): builds the gateway,
# starts it on loopback with a temporary config and data dir (embedded store),
# and runs each attack bounded in count and time: nested-JSON flood, huge
# field counts, rotating and borrowed rate-limit keys, one IPv6 /64, wrong
# admin / console / LeadSquared keys, and a dead-letter notice flood against
# a 410 and a 400 destination with a notify_url that hangs. Prints per attack
# the peak RSS, peak goroutines and the answers; exits 1 when a bound is
# crossed (peak RSS >= 250 MB, goroutines >= 2,000, an answer outside 400,
# 413, 429, or 200 with the lead bounded). Takes about a minute.
#   scripts/abuse.sh
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "building…"
go build -o "$tmp/gateway" ./gateway
go build -o "$tmp/abuse" ./scripts/abuse
"$tmp/abuse" -gateway "$tmp/gateway" -mappings mappings
