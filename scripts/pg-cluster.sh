#!/usr/bin/env bash
# A throw-away PostgreSQL cluster for the tests.
#
#   scripts/pg-cluster.sh start DIR   initdb in a fresh temporary directory,
#                                     start the server on a free loopback port
#                                     (its unix socket in that directory), and
#                                     write DIR/conninfo (a libpq URI for the
#                                     database "aim", user "aim", no password)
#   scripts/pg-cluster.sh stop DIR    stop it and remove the cluster and DIR
#
# initdb refuses to run as root: as root the cluster belongs to the user
# `postgres` (Debian's package creates it) or, failing that, `nobody`.
# Needs Debian's postgresql package (scripts/deps.sh test installs it).
set -euo pipefail
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }

bindir=
for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
  if [ -x "$d/initdb" ]; then bindir=$d; break; fi
done
as_owner() { "$@"; }
if [ "$(id -u)" -eq 0 ]; then
  owner=postgres
  id -u postgres >/dev/null 2>&1 || owner=nobody
  as_owner() { runuser -u "$owner" -- "$@"; }
fi

case "$cmd" in
start)
  [ -n "$bindir" ] || { echo "pg-cluster: no PostgreSQL server (apt-get install postgresql)" >&2; exit 1; }
  # a cluster left by an interrupted run goes first
  if [ -f "$dir/cluster" ]; then "$0" stop "$dir" || true; fi
  mkdir -p "$dir"
  tmp=$(mktemp -d /tmp/aim-pg.XXXXXX)
  chmod 755 "$tmp"
  [ "$(id -u)" -eq 0 ] && chown "$owner" "$tmp"
  echo "$tmp" > "$dir/cluster"
  as_owner "$bindir/initdb" -D "$tmp/data" -U aim --auth=trust -E UTF8 --locale=C.UTF-8 \
    >"$tmp/initdb.log" 2>&1 || { cat "$tmp/initdb.log" >&2; exit 1; }
  for attempt in 1 2 3 4 5; do
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    if as_owner "$bindir/pg_ctl" -D "$tmp/data" -l "$tmp/server.log" -w -t 60 \
         -o "-p $port -k $tmp -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on -c max_connections=200" \
         start >/dev/null 2>&1; then
      break
    fi
    port=
  done
  [ -n "$port" ] || { echo "pg-cluster: the server did not start:" >&2; cat "$tmp/server.log" >&2; exit 1; }
  echo "$port" > "$dir/port"
  as_owner "$bindir/createdb" -h "$tmp" -p "$port" -U aim aim
  echo "postgresql://aim@127.0.0.1:$port/aim" > "$dir/conninfo"
  echo "pg-cluster: $(cat "$dir/conninfo") (cluster in $tmp)"
  ;;
stop)
  if [ -f "$dir/cluster" ]; then
    tmp=$(cat "$dir/cluster")
    case "$tmp" in /tmp/aim-pg.*) ;; *) echo "pg-cluster: bad cluster path $tmp" >&2; exit 1;; esac
    if [ -n "$bindir" ] && [ -d "$tmp/data" ]; then
      as_owner "$bindir/pg_ctl" -D "$tmp/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$tmp"
  fi
  rm -rf "$dir"
  ;;
*)
  echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
