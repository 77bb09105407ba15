#!/usr/bin/env bash
# Starts ngIRCd and InspIRCd (Debian: apt-get install ngircd inspircd) on
# loopback with their limits off, for chat-bench --peer, and prints the
# --peer flags to measure them with; `stop` ends them again.
#   src/bin/chat-bench/peers/start.sh [NGIRCD_PORT [INSPIRCD_PORT]]   (default 6667, 6668)
#   src/bin/chat-bench/peers/start.sh stop
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dir="${TMPDIR:-/tmp}/chat-bench-peers"
if [ "${1:-}" = stop ]; then
  for pid in "$dir"/*.pid; do
    [ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null || true
  done
  exit 0
fi
ngircd_port="${1:-6667}"
inspircd_port="${2:-6668}"
mkdir -p "$dir"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true   # one descriptor per client
fill() { sed -e "s|@PORT@|$2|g" -e "s|@DIR@|$dir|g" "$here/$1" > "$dir/$1"; }
flags=()
if command -v ngircd >/dev/null; then
  fill ngircd.conf "$ngircd_port"
  ngircd --nodaemon --config "$dir/ngircd.conf" >"$dir/ngircd.log" 2>&1 &
  echo $! > "$dir/ngircd.pid"
  flags+=("--peer ngircd=127.0.0.1:$ngircd_port/$!")
else
  echo "ngircd not installed (apt-get install ngircd)" >&2
fi
if command -v inspircd >/dev/null; then
  fill inspircd.conf "$inspircd_port"
  inspircd --nofork --runasroot --config "$dir/inspircd.conf" >"$dir/inspircd.out" 2>&1 &
  echo $! > "$dir/inspircd.pid"
  flags+=("--peer inspircd=127.0.0.1:$inspircd_port/$!")
else
  echo "inspircd not installed (apt-get install inspircd)" >&2
fi
sleep 1
echo "${flags[*]}"
