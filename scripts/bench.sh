#!/usr/bin/env bash
# Load benchmarks of the running binaries with wrk (installed when missing).
#   scripts/bench.sh [DURATION] [--strict]   default 10s per run; CONNS=64, ROUNDS=2
#   MODES="bare embedded" scripts/bench.sh   runs only those modes (in this order)
# Every target is a ratio to a baseline measured in the same round, on the
# same bodies, so it carries from one machine to another. The modes, each
# run once per round, rounds interleaved (bare, embedded, …, then again):
#   bare:       a Fiber handler that only validates the body with gjson
#   embedded:   the gateway's durable accept path on bbolt, rate limit raised
#   forward:    Fiber + gjson that sends each body to the sink with net/http
#               (keep-alive) before answering, nothing stored
#   e2e:        embedded gateway delivering every lead to the sink; checks the
#               sink's count equals the 200s; counts leads accepted AND delivered
#   bare-redis: Fiber + gjson + one small Lua script (SET key body PX) on a
#               Redis with AOF everysec
#   redis:      the gateway's accept path on such a Redis
#   redis-wait: the same with a replica and redis.min_replicas_acked: 1 (the
#               cost of WAIT; no target)
# Targets: embedded/bare >= 40 %, e2e/forward >= 80 %, redis/bare-redis >= 70 %,
# p99 <= 20 ms in every run, the gateway's peak RSS (VmHWM) under 150 MB.
# Each payload carries a unique email, so the duplicate rule never short-cuts.
# It is a measurement: the exit status is 0 whatever the verdicts, unless
# --strict, which exits 1 when a target is not met (or a lead was lost).
set -euo pipefail
cd "$(dirname "$0")/.."
strict=0
dur=10s
for arg in "$@"; do
  case "$arg" in
    --strict) strict=1 ;;
    *) dur=$arg ;;
  esac
done
conns=${CONNS:-64}
rounds=${ROUNDS:-2}
read -ra modes <<<"${MODES:-bare embedded forward e2e bare-redis redis redis-wait}"
need() { command -v "$1" >/dev/null 2>&1 || { [ "$(id -u)" = 0 ] || { echo "need $1" >&2; exit 1; }; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }; }
need wrk wrk
need redis-server redis-server

tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
waitport() { for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$1/${2:-}" && return 0; sleep 0.1; done; echo "port $1 never answered" >&2; exit 1; }
calc() { python3 -c "print($1)"; }
# stop ends the processes started here, by pid, and reaps them.
stop() { for p in "$@"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; }
# hwm is a process's peak resident memory (VmHWM) in MB.
hwm() { awk '/^VmHWM/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }
# anon_watch samples a process's anonymous resident memory (RssAnon: its
# heap and stacks, without the embedded store's memory-mapped file, which
# is page cache the kernel can take back) every 100 ms into FILE, keeping
# the peak in MB; anon reads it.
anon_watch() { # pid file
  ( peak=0; while kill -0 "$1" 2>/dev/null; do
      a=$(awk '/^RssAnon/ {print int($2/1024)}' "/proc/$1/status" 2>/dev/null) || break
      [ -n "$a" ] && [ "$a" -gt "$peak" ] && { peak=$a; echo "$peak" >"$2"; }
      sleep 0.1
    done ) & pids+=("$!")
}
anon() { cat "$1" 2>/dev/null || echo -; }

echo "building…"
go build -o "$tmp/gateway" ./gateway
for b in bare sink forward bareredis; do go build -o "$tmp/$b" "./scripts/bench/$b"; done

cat > "$tmp/post.lua" <<'LUA'
local counter = 0
local threads = 0
local run = os.time() .. "." .. math.random(1000000)
function setup(thread) thread:set("tid", threads); threads = threads + 1 end
function request()
  counter = counter + 1
  local body = string.format('{"client":"bench","source":"website","branch":"Main Branch","lead_details":[{"lead_field":"name","lead_value":"John Doe"},{"lead_field":"email","lead_value":"john.%s.%d.%d@example.com"},{"lead_field":"budget","lead_value":"5000"}]}', run, tid, counter)
  return wrk.format("POST", "/hooks/website", {["Content-Type"] = "application/json"}, body)
end
LUA

# Results, keyed "mode/round": requests per second (for e2e: leads accepted
# and delivered per second), p99 in ms, requests, non-2xx answers, the
# gateway's peak RSS in MB, and problems (lost leads).
declare -A RATE=() P99=() TOTAL=() NON2XX=() RSS=() ANON=() PROBLEM=() START=()
lines=()
say() { lines+=("$1"); echo "$1"; }

hz=$(getconf CLK_TCK)
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
# load runs wrk against port and records the run as key; each name=pid
# argument is a process whose CPU time per request is reported.
load() {
  local key=$1 port=$2 out wrkcpu; shift 2
  local -A t0=()
  for np in "$@"; do t0[$np]=$(ticks "${np#*=}"); done
  START[$key]=$(date +%s.%N)
  out=$( { TIMEFORMAT='%U %S'; time wrk -t2 -c"$conns" -d"$dur" --latency -s "$tmp/post.lua" "http://127.0.0.1:$port" >"$tmp/run.wrk"; } 2>&1 )
  wrkcpu=$(awk '{print $1+$2}' <<<"$out")
  out=$(cat "$tmp/run.wrk")
  local rps p50 p99 non2xx total
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out"); non2xx=${non2xx:-0}
  total=$(awk '/requests in/ {print $1}' <<<"$out")
  RATE[$key]=$rps; TOTAL[$key]=$total; NON2XX[$key]=$non2xx
  P99[$key]=$(python3 -c "v='$p99'; print(round(float(v[:-2]) if v.endswith('ms') else float(v[:-2])/1000 if v.endswith('us') else float(v[:-1])*1000, 2))")
  say "$(printf '%-16s %10s req/s   p50 %-9s p99 %-9s requests %-8s non-2xx %s' "$key" "$rps" "$p50" "$p99" "$total" "$non2xx")"
  # CPU time per request of each process (user+system, all threads): on a
  # machine the load generator shares, their sum bounds the throughput.
  local line sum us
  line="wrk $(calc "round($wrkcpu*1e6/$total)")"
  sum=$(calc "$wrkcpu*1e6/$total")
  for np in "$@"; do
    us=$(calc "($(ticks "${np#*=}")-${t0[$np]})*1e6/$hz/$total")
    line+=", ${np%%=*} $(calc "round($us)")"
    sum=$(calc "$sum+$us")
  done
  say "$(python3 -c "print(f'                 CPU µs per request: $line; total {$sum:.0f}, so $(nproc) cores at 100 % take at most {$(nproc)*1e6/$sum:,.0f} req/s')")"
}

config() { # dir, listen, [destination url], [min_replicas_acked]
  mkdir -p "$1"
  cp -r mappings "$1/mappings"
  cat > "$1/gateway.yaml" <<YAML
server: {listen: "$2", body_limit: 1048576}
storage: {data_dir: ./data}
redis: {url: "\${REDIS_URL:-}", min_replicas_acked: ${4:-0}}
mappings_dir: mappings
rate_limit: {requests: 100000000, per: 1s}
log: {level: warn}
YAML
  if [ -n "${3:-}" ]; then
    cat >> "$1/gateway.yaml" <<YAML
destinations:
  - name: sink
    url: $3
    events: [lead.created]   # one delivery per lead, so the sink's count must equal the 200s
    concurrency: 64
    timeout: 5s
YAML
  fi
}

# start_redis DIR [PRIMARY_PORT]: a redis-server configured as the README's
# Production section says (AOF everysec; rewrites rare, or their forks
# dominate the tail on 2 cores), a replica of PRIMARY_PORT when given. Sets
# redis_port and redis_pid.
start_redis() {
  local dir=$1 extra=()
  mkdir -p "$dir"
  [ -n "${2:-}" ] && extra=(--replicaof 127.0.0.1 "$2")
  redis_port=$(freeport)
  redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly yes --appendfsync everysec \
    --auto-aof-rewrite-min-size 1gb --dir "$dir" --daemonize no "${extra[@]}" >"$dir/redis.log" 2>&1 &
  redis_pid=$!; pids+=("$redis_pid")
  for _ in $(seq 1 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "redis-server on $redis_port never answered" >&2; exit 1
}

# start_gateway DIR: the gateway on DIR/gateway.yaml (REDIS_URL from the
# environment). Sets gw_pid.
start_gateway() {
  "$tmp/gateway" -config "$1/gateway.yaml" 2>"$1/gateway.log" & gw_pid=$!; pids+=("$gw_pid")
  anon_watch "$gw_pid" "$1/anon"
}

run_bare() { # round
  local p; p=$(freeport)
  "$tmp/bare" -listen "127.0.0.1:$p" & local pid=$!; pids+=("$pid"); waitport "$p"
  load "bare/$1" "$p" "bare=$pid"
  stop "$pid"
}

run_embedded() {
  local p dir=$tmp/emb$1; p=$(freeport); config "$dir" "127.0.0.1:$p"
  start_gateway "$dir"; waitport "$p" healthz
  load "embedded/$1" "$p" "gateway=$gw_pid"
  RSS[embedded/$1]=$(hwm "$gw_pid")
  ANON[embedded/$1]=$(anon "$dir/anon")
  stop "$gw_pid"
}

# start_sink sets sink_port and sink_pid.
start_sink() {
  sink_port=$(freeport)
  "$tmp/sink" -listen "127.0.0.1:$sink_port" & sink_pid=$!; pids+=("$sink_pid"); waitport "$sink_port" count
}

run_forward() {
  local p; start_sink; p=$(freeport)
  "$tmp/forward" -listen "127.0.0.1:$p" -sink "http://127.0.0.1:$sink_port/leads" & local pid=$!; pids+=("$pid"); waitport "$p"
  load "forward/$1" "$p" "forward=$pid" "sink=$sink_pid"
  local ok=$((TOTAL[forward/$1] - NON2XX[forward/$1])) got
  got=$(curl -s "http://127.0.0.1:$sink_port/count")
  [ "$got" -ge "$ok" ] || PROBLEM[forward/$1]="sink got $got of $ok"
  stop "$pid" "$sink_pid"
}

run_e2e() {
  local p dir=$tmp/e2e$1 end accepted got=0; start_sink; p=$(freeport)
  config "$dir" "127.0.0.1:$p" "http://127.0.0.1:$sink_port/leads"
  start_gateway "$dir"; waitport "$p" healthz
  load "e2e/$1" "$p" "gateway=$gw_pid" "sink=$sink_pid"
  accepted=$(curl -s "http://127.0.0.1:$p/metrics" | awk '/^gateway_inbound_requests_total\{code="200",source="website"\}/ {print $2}')
  accepted=${accepted%.*}
  for _ in $(seq 1 600); do
    got=$(curl -s "http://127.0.0.1:$sink_port/count")
    [ "$got" -ge "$accepted" ] && break
    sleep 0.1
  done
  # From wrk's start to the sink's last delivery: accepted and delivered.
  end=$(curl -s "http://127.0.0.1:$sink_port/last")
  RATE[e2e/$1]=$(calc "round($got/($end-${START[e2e/$1]}))")
  RSS[e2e/$1]=$(hwm "$gw_pid")
  ANON[e2e/$1]=$(anon "$dir/anon")
  say "$(printf '%-16s %s accepted, %s delivered to the sink, %s leads/s accepted and delivered' "e2e/$1" "$accepted" "$got" "${RATE[e2e/$1]}")"
  [ "$got" = "$accepted" ] || { PROBLEM[e2e/$1]="LOST: sink got $got of $accepted"; echo "${PROBLEM[e2e/$1]}" >&2; }
  stop "$gw_pid" "$sink_pid"
}

run_bare_redis() {
  local p; start_redis "$tmp/bred$1"; p=$(freeport)
  "$tmp/bareredis" -listen "127.0.0.1:$p" -redis "redis://127.0.0.1:$redis_port/0" & local pid=$!; pids+=("$pid"); waitport "$p"
  load "bare-redis/$1" "$p" "bare-redis=$pid" "redis-server=$redis_pid"
  stop "$pid" "$redis_pid"
}

run_redis() {
  local p dir=$tmp/red$1; start_redis "$dir/redis"; p=$(freeport); config "$dir" "127.0.0.1:$p"
  REDIS_URL="redis://127.0.0.1:$redis_port/0" start_gateway "$dir"; waitport "$p" healthz
  load "redis/$1" "$p" "gateway=$gw_pid" "redis-server=$redis_pid"
  RSS[redis/$1]=$(hwm "$gw_pid")
  ANON[redis/$1]=$(anon "$dir/anon")
  stop "$gw_pid" "$redis_pid"
}

run_redis_wait() {
  local p dir=$tmp/rwait$1 primary primary_pid
  start_redis "$dir/primary"; primary=$redis_port; primary_pid=$redis_pid
  start_redis "$dir/replica" "$primary"
  for _ in $(seq 1 100); do redis-cli -p "$redis_port" info replication | grep -q 'master_link_status:up' && break; sleep 0.1; done
  p=$(freeport); config "$dir" "127.0.0.1:$p" "" 1
  REDIS_URL="redis://127.0.0.1:$primary/0" start_gateway "$dir"; waitport "$p" healthz
  load "redis-wait/$1" "$p" "gateway=$gw_pid" "redis-server=$primary_pid" "replica=$redis_pid"
  RSS[redis-wait/$1]=$(hwm "$gw_pid")
  ANON[redis-wait/$1]=$(anon "$dir/anon")
  stop "$gw_pid" "$redis_pid" "$primary_pid"
}

for r in $(seq 1 "$rounds"); do
  echo "round $r of $rounds"
  for m in "${modes[@]}"; do
    case "$m" in
      bare) run_bare "$r" ;;
      embedded) run_embedded "$r" ;;
      forward) run_forward "$r" ;;
      e2e) run_e2e "$r" ;;
      bare-redis) run_bare_redis "$r" ;;
      redis) run_redis "$r" ;;
      redis-wait) run_redis_wait "$r" ;;
      *) echo "unknown mode $m (bare embedded forward e2e bare-redis redis redis-wait)" >&2; exit 2 ;;
    esac
  done
done

# The summary: every run, then every target with its verdict.
failed=0
# verdict prints met or NOT met for a 1 or 0; callers note the failure
# (it runs in a command substitution, which cannot set failed).
verdict() { if [ "$1" = 1 ]; then echo met; else echo "NOT met"; fi; }
echo
echo "summary ($(nproc) cores, wrk -t2 -c$conns -d$dur, $rounds rounds):"
printf '  %s\n' "${lines[@]}"
echo
# RSS is the peak resident set (VmHWM), the target's measure; it counts the
# pages of the embedded store's memory-mapped file that the run touched.
# anon MB is the peak of the process's own memory (RssAnon), without them.
printf '  %-11s %-5s %12s %9s %-9s %8s %-9s %7s %s\n' mode round "req/s" "p99 ms" "<= 20 ms" "RSS MB" "< 150 MB" "anon MB" problem
for m in "${modes[@]}"; do
  for r in $(seq 1 "$rounds"); do
    k=$m/$r
    p99v=$(verdict "$(calc "int(${P99[$k]} <= 20)")")
    rss=${RSS[$k]:-} rssv=""
    [ -n "$rss" ] && rssv=$(verdict "$(calc "int($rss < 150)")")
    if [ "$p99v" != met ] || [ "${rssv:-met}" != met ] || [ -n "${PROBLEM[$k]:-}" ]; then failed=1; fi
    printf '  %-11s %-5s %12s %9s %-9s %8s %-9s %7s %s\n' "$m" "$r" "${RATE[$k]}" "${P99[$k]}" "$p99v" "${rss:--}" "${rssv:--}" "${ANON[$k]:--}" "${PROBLEM[$k]:-}"
  done
done
echo
printf '  %-40s' "ratio (target)"; for r in $(seq 1 "$rounds"); do printf ' %9s' "round $r"; done; echo "  verdict"
ratio() { # mode, baseline, target percent or "" for none, label
  local m=$1 b=$2 target=$3 all=1 v
  [ -n "${RATE[$m/1]:-}" ] && [ -n "${RATE[$b/1]:-}" ] || return 0
  printf '  %-40s' "$4"
  for r in $(seq 1 "$rounds"); do
    v=$(calc "round(100*${RATE[$m/$r]}/${RATE[$b/$r]})")
    printf ' %8s%%' "$v"
    [ -n "$target" ] && [ "$v" -lt "$target" ] && all=0
  done
  if [ -z "$target" ]; then echo "  (the cost; no target)"; return 0; fi
  echo "  $(verdict "$all")"
  ((all)) || failed=1
}
ratio embedded bare 40 "embedded / bare (>= 40 %)"
ratio e2e forward 80 "e2e delivered / forward (>= 80 %)"
ratio redis bare-redis 70 "redis / bare-redis (>= 70 %)"
ratio redis-wait redis "" "redis-wait / redis"
echo
if ((failed)); then
  echo "some targets NOT met"
  if ((strict)); then exit 1; fi
else
  echo "every target met"
fi
exit 0
