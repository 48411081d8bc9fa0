#!/usr/bin/env bash
# Live upgrade (`ringtty --handover SOCK`), measured in one run: how long each terminal
# is unreachable while a second process takes over, against the floor a reconnection
# costs on the same server.
#   1. starts RINGTTY -p PORT -i 127.0.0.1 --threads THREADS --handover SOCK
#      --auth-secret-file KEY -W --allow-any-command --max-sessions SESSIONS+64 (a
#      throwaway key, an admin token from `ringtty token`)
#   2. runs `ringtty-bench upgrade`: SESSIONS sessions each printing a numbered line
#      RATE times a second (perl), a client each; every client closes and reconnects
#      with ?since= alone, then all at once (the reference), then the harness creates
#      its --ready-file
#   3. starts the same command line again: the new process takes over listeners and
#      sessions, the old one closes every client with 1001 and exits 0; each client
#      reconnects at once (every 5 ms while refused) and every line is checked, once
#      and in order
#   4. prints p50/p99/max of close -> hello for the three, the whole upgrade (first
#      close -> last hello) and both processes' handover log lines, and stops
#      everything it started.
# Usage: perf/upgrade.sh RINGTTY [SESSIONS] [RATE] [THREADS]
#   defaults: 100 sessions, 100 lines/s each, 2 workers (on 2 cores, run 1,000 sessions
#   at 10 lines/s: 100,000 lines a second is more than the machine carries). PORT=N in
#   the environment sets the port (default: a free one); EXTRA='-d debug' adds options
#   to both command lines. Builds nothing: run `cargo build --release --bin ringtty
#   --bin ringtty-bench` first; the harness is RINGTTY's directory's ringtty-bench
#   (falling back to target/release/ringtty-bench). Needs python3 and perl. SESSIONS
#   PTYs at once: as root the script raises kernel.pty.max for the run (and puts it
#   back), otherwise it says what to run.
set -euo pipefail
[ $# -ge 1 ] || { sed -n '2,27p' "$0" >&2; exit 2; }
command -v python3 >/dev/null || { echo "perf/upgrade.sh: python3 is missing" >&2; exit 1; }
# After the upgrade the sessions' commands are orphans (the old process, their parent,
# exits). Where PID 1 does not reap orphans (some containers) they would stay zombies,
# and the new process, which reads their exit status once their new parent has reaped
# them, would never see it: this script makes itself their subreaper (prctl
# PR_SET_CHILD_SUBREAPER, kept across exec), and bash reaps whatever it inherits.
if [ -z "${RINGTTY_UPGRADE_SUBREAPER:-}" ]; then
  export RINGTTY_UPGRADE_SUBREAPER=1
  exec python3 -c 'import ctypes, os, sys
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)
os.execvp(sys.argv[1], sys.argv[1:])' bash "$0" "$@"
fi
rt=$(realpath "$1")
sessions=${2:-100}; rate=${3:-100}; threads=${4:-2}
cd "$(dirname "$0")/.."
. perf/lib.sh
command -v perl >/dev/null || { echo "perf/upgrade.sh: perl is missing (the sessions' child)" >&2; exit 1; }
bench=$(dirname "$rt")/ringtty-bench
[ -x "$bench" ] || bench=target/release/ringtty-bench
[ -x "$bench" ] || { echo "perf/upgrade.sh: no ringtty-bench beside $rt: cargo build --release --bin ringtty-bench" >&2; exit 1; }

work=$(mktemp -d -t ringtty-upgrade.XXXXXX)
pids=()
pty_max_before=$(cat /proc/sys/kernel/pty/max)
cleanup() {
  [ ${#pids[@]} = 0 ] || kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -f "$work"/*.token "$work/secret" "$work/handover.sock"
  if [ "$(cat /proc/sys/kernel/pty/max)" != "$pty_max_before" ]; then
    sysctl -qw kernel.pty.max="$pty_max_before" 2>/dev/null \
      && echo "upgrade: kernel.pty.max back to $pty_max_before" >&2 || true
  fi
}
trap cleanup EXIT

ringtty_room_for upgrade "$sessions" || exit 1
port=${PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
ringtty_secret "$work/secret"
ringtty_mint "$rt" "$work/secret" "$work/admin.token" --sub bench-upgrade --admin --ttl 12h
# The one command line, started twice.
server=("$rt" -p "$port" -i 127.0.0.1 --threads "$threads" --handover "$work/handover.sock"
  --auth-secret-file "$work/secret" -W --allow-any-command --max-sessions $((sessions + 64)) ${EXTRA:-})
echo "upgrade: ${server[*]}" | sed "s|$work|\$WORK|g" >&2
ringtty_start "$work/old.log" "" "${server[@]}" || exit 1
old_pid=$RT_PID; pids+=("$old_pid"); url=$RT_URL

cmd=("$bench" upgrade --url "$url" --token-file "$work/admin.token" --sessions "$sessions"
  --rate "$rate" --concurrency 32 --timeout 30s --duration 60s --ready-file "$work/ready"
  -q --json "$work/upgrade.json")
echo "upgrade: ${cmd[*]}" | sed "s|$work|\$WORK|g" >&2
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
"${cmd[@]}" >"$work/upgrade.txt" &
bench_pid=$!; pids+=("$bench_pid")
until [ -e "$work/ready" ]; do
  kill -0 "$bench_pid" 2>/dev/null || break
  sleep 0.05
done
rc=0; old_rc=0
if [ -e "$work/ready" ]; then
  ringtty_start "$work/new.log" "" "${server[@]}" || exit 1
  new_pid=$RT_PID; pids+=("$new_pid")
  wait "$bench_pid" || rc=$?
  for _ in $(seq 200); do kill -0 "$old_pid" 2>/dev/null || break; sleep 0.05; done
  wait "$old_pid" || old_rc=$?
else
  wait "$bench_pid" || rc=$?
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

for p in old new; do
  [ -e "$work/$p.log" ] || continue
  n=$(grep -cE '^[0-9:.]+ (WARN|ERROR) ' "$work/$p.log" || true)
  [ "$n" = 0 ] || { echo "upgrade: the $p process logged $n warnings/errors, e.g.:" >&2; grep -E '^[0-9:.]+ (WARN|ERROR) ' "$work/$p.log" | head -n 5 >&2; }
done
if [ $rc != 0 ]; then
  cat "$work/upgrade.txt" >&2
  echo "perf/upgrade.sh: ringtty-bench upgrade failed (exit $rc); logs in $work" >&2
  trap - EXIT; cleanup; exit $rc
fi
[ "$old_rc" = 0 ] || echo "upgrade: the old process exited with status $old_rc (expected 0)" >&2

python3 - "$work/upgrade.json" "$($rt --version 2>/dev/null | head -n 1)" "$(nproc)" "$threads" \
  "$load_before" "$load_after" \
  "$(grep -hE '\] (handover|stopped)' "$work/old.log" || true)" \
  "$(grep -hE '(handover: took over|live upgrade: start)' "$work/new.log" || true)" <<'EOF'
import json, sys
path, version, cores, threads, load0, load1, handed, took = sys.argv[1:]
r = json.load(open(path))
p, res, lat = r["params"], r["results"], r["latency_us"]
print(f"{version}: --threads {threads}, the old and the new process and the harness on {cores} cores")
print(f"{p['sessions']} sessions, each printing a numbered line {p['lines_per_s']:g} times a second; "
      f"reconnection retried every {p['retry_ms']} ms while refused")
print()
rows = [
    ("reconnect_one", "close -> hello, each client alone (reference)"),
    ("reconnect_all", "close -> hello, all clients at once (reference)"),
    ("upgrade", "1001 -> hello, the live upgrade"),
    ("reconnect_one_silent", "last byte -> next byte, alone"),
    ("reconnect_all_silent", "last byte -> next byte, all at once"),
    ("upgrade_silent", "last byte -> next byte, the upgrade"),
]
print(f"{'measurement':<21} {'what':<48} {'count':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
for key, what in rows:
    s = lat.get(key)
    if not s:
        continue
    ms = lambda x: f"{x / 1000:8.2f}"
    print(f"{key:<21} {what:<48} {s['count']:>6} {ms(s['p50'])} {ms(s['p99'])} {ms(s['max'])}")
print()
for kind, what in (("reconnect_all", "all at once"), ("upgrade", "the upgrade")):
    if f"{kind}_whole_ms" in res:
        print(f"{what}: first close -> last hello {res[f'{kind}_whole_ms']:.1f} ms "
              f"(-> last close {res[f'{kind}_closes_spread_ms']:.1f} ms, "
              f"-> first hello {res[f'{kind}_first_hello_ms']:.1f} ms)")
print(f"lines checked {res['lines_checked']}: lost {res['lines_lost']}, repeated {res['lines_repeated']}, "
      f"garbled {res['lines_garbled']}; hello at another offset {res['hello_at_another_offset']}; "
      f"closes other than 1001 {res['closes_not_1001']}; retries {res['retries']}")
for k, v in res.items():
    if k.startswith(("retry ", "closed: ")):
        print(f"  {k}: {v}")
print()
# One timeline: the servers' log lines (UTC) and what the clients saw.
import datetime
utc = datetime.timezone.utc
clock = lambda ms: datetime.datetime.fromtimestamp(ms / 1000, utc).strftime("%H:%M:%S.%f")[:-3]
events = [(line[:12], f"old: {line[13:].split('] ', 1)[-1]}") for line in handed.splitlines()]
events += [(line[:12], f"new: {line[13:].split('] ', 1)[-1]}") for line in took.splitlines()]
for k, what in (("first_close", "clients: the first 1001"), ("last_close", "clients: the last 1001"),
                ("first_hello", "clients: the first hello"), ("last_hello", "clients: the last hello")):
    if k in r["series"].get("upgrade_unix_ms", {}):
        events.append((clock(r["series"]["upgrade_unix_ms"][k]), what))
for at, what in sorted(events):
    print(f"  {at}  {what}")
print(f"load average {load0} before, {load1} after")
print(f"verdict: {r['verdict']}; errors: {r['errors']}; cleanup {res.get('cleanup_s')} s")
EOF
echo "upgrade: report in $work/upgrade.json, the harness's table in $work/upgrade.txt, logs $work/{old,new}.log" >&2
