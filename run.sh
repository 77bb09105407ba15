#!/usr/bin/env bash
# One entry point for people: build what is needed (release), then run it.
#   ./run.sh server [flags]   the chat server (default port 4000, web page on 8080, IRC on 6667)
#   ./run.sh client [flags]   the terminal client
#   ./run.sh bench  [args]    the benchmark tool (e.g. ./run.sh bench fanout --spawn)
#   ./run.sh test             the whole test suite
set -euo pipefail
cd "$(dirname "$0")"
cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
  server) exec cargo run --quiet --release --bin chat-server -- "$@" ;;
  client) exec cargo run --quiet --release --bin chat-client -- "$@" ;;
  bench)
    cargo build --quiet --release --bins
    exec target/release/chat-bench "$@" ;;
  test) exec cargo test --quiet "$@" ;;
  *)
    echo "usage: ./run.sh server|client|bench|test [args...]" >&2
    exit 2 ;;
esac
