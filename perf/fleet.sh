#!/usr/bin/env bash
# The fleet (issue 16), measured in one run: a nats-server on a free port, NODES ringtty
# nodes on free ports (`--nats --node-id nK --auth-secret-file`, one key for all, auth
# on), and `ringtty-bench fleet` against them:
#   list     every node holds SESSIONS_PER_NODE sessions (`cat`); GET
#            /api/sessions?scope=fleet&limit=1000 against one node's own list (the
#            reference), LIST_CALLS calls each, round-robin over the nodes, every answer
#            checked (total = NODES x SESSIONS_PER_NODE, partial false)
#   kill     KILL_SESSIONS sessions per node of one user, POST /api/admin/kill on node 1:
#            per session, the call to its status leaving `running` (3 rounds)
#   revoke   REVOCATIONS tokens, each revoked on node 1: per node, the call to its
#            first 401
# then prints p50/p99/max and the CPU each process used, and stops everything it started.
# Usage: perf/fleet.sh RINGTTY [SESSIONS_PER_NODE] [KILL_SESSIONS] [LIST_CALLS] [REVOCATIONS]
#                      [NODES] [THREADS]
#   defaults: 1000 sessions per node, 100, 100 calls, 20 revocations, 3 nodes, 2 workers
#   per node. POLL=DUR in the environment sets the harness's --poll (1ms; 0: back to
#   back), the pause between two polls of a node's list during the kill (revocations
#   are probed back to back). The harness is RINGTTY's directory's ringtty-bench
#   (falling back to target/release/ringtty-bench). Needs nats-server (Debian: apt
#   install nats-server) and python3. NODES x (SESSIONS_PER_NODE + KILL_SESSIONS) PTYs
#   at once: as root the script raises kernel.pty.max for the run (and puts it back),
#   otherwise it says what to run.
set -euo pipefail
[ $# -ge 1 ] || { sed -n '2,23p' "$0" >&2; exit 2; }
rt=$(realpath "$1")
per_node=${2:-1000}; kill_sessions=${3:-100}; calls=${4:-100}; revocations=${5:-20}
nodes=${6:-3}; threads=${7:-2}; poll=${POLL:-1ms}
cd "$(dirname "$0")/.."
. perf/lib.sh
command -v python3 >/dev/null || { echo "perf/fleet.sh: python3 is missing" >&2; exit 1; }
nats=$(command -v nats-server || true)
[ -n "$nats" ] || [ ! -x /usr/sbin/nats-server ] || nats=/usr/sbin/nats-server
[ -n "$nats" ] || { echo "perf/fleet.sh: nats-server is missing (apt install nats-server)" >&2; exit 1; }
bench=$(dirname "$rt")/ringtty-bench
[ -x "$bench" ] || bench=target/release/ringtty-bench
[ -x "$bench" ] || { echo "perf/fleet.sh: no ringtty-bench beside $rt: cargo build --release --bin ringtty-bench" >&2; exit 1; }

work=$(mktemp -d -t ringtty-fleet.XXXXXX)
pids=()
pty_max_before=$(cat /proc/sys/kernel/pty/max)
cleanup() {
  [ ${#pids[@]} = 0 ] || kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -f "$work"/*.token "$work/secret"
  if [ "$(cat /proc/sys/kernel/pty/max)" != "$pty_max_before" ]; then
    sysctl -qw kernel.pty.max="$pty_max_before" 2>/dev/null \
      && echo "fleet: kernel.pty.max back to $pty_max_before" >&2 || true
  fi
}
trap cleanup EXIT

# PTYs for every node's sessions at once; descriptors (about 3 a session) per node.
total=$((nodes * (per_node + kill_sessions)))
pty_free=$(($(cat /proc/sys/kernel/pty/max) - $(cat /proc/sys/kernel/pty/nr)))
if [ $pty_free -lt $((total + 64)) ]; then
  want=$(($(cat /proc/sys/kernel/pty/nr) + total + 1024))
  if sysctl -qw kernel.pty.max=$want 2>/dev/null; then
    echo "fleet: raised kernel.pty.max $pty_max_before -> $want for the run ($total sessions)" >&2
  else
    echo "perf/fleet.sh: $total sessions need $((total + 64)) free PTYs but kernel.pty.max is" \
      "$pty_max_before: run \`sysctl -w kernel.pty.max=$want\` (as root) or pass fewer sessions" >&2
    exit 1
  fi
fi
ringtty_room_for fleet $((per_node + kill_sessions)) || exit 1
if [ "$(ulimit -u)" != unlimited ] && [ "$(ulimit -u)" -lt $((total + 256)) ]; then
  echo "perf/fleet.sh: $total sessions need $((total + 256)) processes but the limit is $(ulimit -u)" >&2
  exit 1
fi

# NATS on a port of its choosing (-p -1): a fixed one may belong to someone else's fleet.
: >"$work/nats.log" # before the job opens it: sed may look first
"$nats" -a 127.0.0.1 -p -1 >>"$work/nats.log" 2>&1 &
nats_pid=$!; pids+=("$nats_pid")
port=
for _ in $(seq 100); do
  port=$(sed -n 's/.*Listening for client connections on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/nats.log")
  [ -n "$port" ] && break
  kill -0 "$nats_pid" 2>/dev/null || break
  sleep 0.05
done
[ -n "$port" ] || { echo "perf/fleet.sh: nats-server did not start:" >&2; cat "$work/nats.log" >&2; exit 1; }

ringtty_secret "$work/secret"
ringtty_mint "$rt" "$work/secret" "$work/admin.token" --sub bench-admin --admin --ttl 12h
urls=(); node_pids=()
for k in $(seq "$nodes"); do
  ringtty_start "$work/n$k.log" "" "$rt" --threads "$threads" -p 0 -i 127.0.0.1 --node-id "n$k" \
    --nats "nats://127.0.0.1:$port" --auth-secret-file "$work/secret" \
    --max-sessions $((per_node + kill_sessions + 64)) -W --allow-any-command -d warn cat || exit 1
  pids+=("$RT_PID"); node_pids+=("$RT_PID"); urls+=("$RT_URL")
done
others=$(IFS=,; echo "${urls[*]:1}")

ticks() { # PID...: utime+stime of each, in clock ticks
  local p
  for p in "$@"; do awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$p/stat"; done | paste -sd' '
}
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
cpu_before=$(ticks "${node_pids[@]}" "$nats_pid")
cmd=("$bench" fleet --url "${urls[0]}" --nodes "$others" --token-file "$work/admin.token"
  --secret-file "$work/secret" --sessions-per-node "$per_node" --kill-sessions "$kill_sessions"
  --kill-rounds 3 --revocations "$revocations" --cycles "$calls" --poll "$poll" --concurrency 32 --timeout 30s
  --pid "${node_pids[0]}" -q --json "$work/fleet.json")
echo "fleet: ${cmd[*]}" | sed "s|$work|\$WORK|g" >&2
start=$(date +%s.%N)
rc=0
"${cmd[@]}" >"$work/fleet.txt" || rc=$?
end=$(date +%s.%N)
cpu_after=$(ticks "${node_pids[@]}" "$nats_pid")
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# Anything the nodes complained about (a NATS answer too large, a node not answering).
for k in $(seq "$nodes"); do
  n=$(grep -ciE 'warn|error' "$work/n$k.log" || true)
  [ "$n" = 0 ] || { echo "fleet: node n$k logged $n warnings/errors, e.g.:" >&2; grep -iE 'warn|error' "$work/n$k.log" | head -n 3 >&2; }
done
[ $rc = 0 ] || { echo "perf/fleet.sh: ringtty-bench fleet failed (exit $rc)" >&2; exit $rc; }

python3 - "$work/fleet.json" "$($rt --version 2>/dev/null | head -n 1)" "$(nproc)" "$threads" \
  "$load_before" "$load_after" "$cpu_before" "$cpu_after" "$(getconf CLK_TCK)" "$start" "$end" <<'EOF'
import json, sys
path, version, cores, threads, load0, load1, cpu0, cpu1, tck, t0, t1 = sys.argv[1:]
r = json.load(open(path))
p, res, lat = r["params"], r["results"], r["latency_us"]
nodes = p["nodes"]
print(f"{version}: {len(nodes)} nodes ({', '.join(nodes)}), --threads {threads} each, one nats-server, "
      f"all on {cores} cores with the harness")
print(f"{p['sessions_per_node']} sessions per node (fleet total {res.get('fleet_total')}); "
      f"kill: {p['kill_sessions_per_node']} per node x {p['kill_rounds']} rounds; "
      f"{p['revocations']} revocations; kill polls every {p['poll_ms']:g} ms, revocation probes back to back")
print()
rows = [
    ("list_fleet", "GET ?scope=fleet&limit=1000 (round-robin)"),
    ("list_local", "GET ?limit=1000, one node's own (reference)"),
    ("kill_call", "POST /api/admin/kill, until answered"),
    ("kill_exit_local", "kill -> not running, node 1's sessions"),
    ("kill_exit_remote", "kill -> not running, other nodes'"),
    ("kill_exit_all", "kill -> not running, every session"),
    ("kill_exit_last", "kill -> the fleet's last one, per round"),
    ("kill_poll", "a poll of a node's list (resolution)"),
    ("revoke_call", "POST /api/admin/revoke, until answered"),
    ("revoke_401_local", "revoke -> 401, node 1"),
    ("revoke_401_remote", "revoke -> 401, other nodes"),
    ("revoke_401_last", "revoke -> 401 on every node"),
    ("revoke_probe", "a probe's round trip (resolution)"),
]
print(f"{'measurement':<18} {'what':<44} {'count':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
for key, what in rows:
    s = lat.get(key)
    if not s:
        continue
    ms = lambda x: f"{x / 1000:8.2f}"
    print(f"{key:<18} {what:<44} {s['count']:>6} {ms(s['p50'])} {ms(s['p99'])} {ms(s['max'])}")
print()
print(f"list body: fleet-wide {res.get('list_fleet_body_bytes')} B, one node {res.get('list_local_body_bytes')} B")
names = [f"n{i + 1}" for i in range(len(nodes))] + ["nats"]
used = [(int(b) - int(a)) / int(tck) for a, b in zip(cpu0.split(), cpu1.split())]
print(f"CPU s during the run ({float(t1) - float(t0):.1f} s wall): "
      + ", ".join(f"{n} {u:.1f}" for n, u in zip(names, used))
      + f"; load average {load0} before, {load1} after")
print(f"errors: {r['errors']}; cleanup {res.get('cleanup_s')} s")
EOF
echo "fleet: report in $work/fleet.json, the harness's table in $work/fleet.txt" >&2
