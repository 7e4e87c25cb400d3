#!/bin/sh
# Runs every benchmark program (bench_*) found in BIN_DIR and prints its
# results, after a line describing the machine (nproc).
# Usage: scripts/bench.sh BIN_DIR
set -eu

if [ $# -ne 1 ]; then
	echo "usage: $0 BIN_DIR" >&2
	exit 2
fi
bin_dir=$1
if [ ! -d "$bin_dir" ]; then
	echo "bench: $bin_dir is not a directory (build first)" >&2
	exit 2
fi

echo "machine: nproc=$(nproc) $(uname -m) $(uname -sr)"
# bench_inbox starts aimd from BIN_DIR and Fedify from tests/interop here
# (BENCH_INBOX_N, BENCH_INBOX_CONC, BENCH_INBOX_ACTORS, BENCH_INBOX_FEDIFY=0);
# bench_mls runs ts-mls from bench/ and tests/interop/node_modules here
# (MLS_BENCH_SIZES, MLS_BENCH_TSMLS_BUDGET, MLS_BENCH_TSMLS=0); bench_identity
# starts aimd from BIN_DIR (BENCH_ID_CSRS, BENCH_ID_CLAIMS, BENCH_ID_CONC);
# bench/bench_channels.py (Python, the test harness) starts a federation of
# aimd from BIN_DIR with tests/interop's mls_driver (BENCH_CHAN_MEMBERS,
# BENCH_CHAN_DOMAINS, BENCH_CHAN_MESSAGES, BENCH_CHAN_CONC); bench/bench_deliver.py
# (Python, the test harness, a separate sink process) measures deliveries to
# 100 inboxes on 10 hosts, once signed cavage (RSA) and once RFC 9421
# (Ed25519) (BENCH_DLV_INBOXES, BENCH_DLV_HOSTS, BENCH_DLV_POSTS, BENCH_DLV_*).
AIM_SOURCE_DIR=${AIM_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
export AIM_SOURCE_DIR
found=0
status=0
for prog in "$bin_dir"/bench_*; do
	if [ ! -f "$prog" ] || [ ! -x "$prog" ]; then
		continue
	fi
	found=1
	echo "== $(basename "$prog")"
	if ! "$prog"; then
		echo "bench: $(basename "$prog") failed" >&2
		status=1
	fi
done
echo "== bench_channels"
if ! AIM_BIN_DIR=$(cd "$bin_dir" && pwd) python3 "$AIM_SOURCE_DIR/bench/bench_channels.py"; then
	echo "bench: bench_channels failed" >&2
	status=1
fi
# bench/bench_client.py: aim send -> aim listen across a.test and b.test
# (BENCH_CLIENT_N latency messages, BENCH_CLIENT_RATE_N for the send rates).
echo "== bench_client"
if ! AIM_BIN_DIR=$(cd "$bin_dir" && pwd) python3 "$AIM_SOURCE_DIR/bench/bench_client.py"; then
	echo "bench: bench_client failed" >&2
	status=1
fi
for scheme in cavage rfc9421; do
	echo "== bench_deliver ($scheme)"
	if ! AIM_BIN_DIR=$(cd "$bin_dir" && pwd) BENCH_DLV_SCHEME=$scheme \
		python3 "$AIM_SOURCE_DIR/bench/bench_deliver.py"; then
		echo "bench: bench_deliver ($scheme) failed" >&2
		status=1
	fi
done
# bench/bench_streams.py: idle event streams against one aimd (BENCH_STREAMS,
# BENCH_STREAMS_USERS, BENCH_STREAMS_ADDRS, BENCH_STREAMS_IDLE).
echo "== bench_streams"
if ! AIM_BIN_DIR=$(cd "$bin_dir" && pwd) python3 "$AIM_SOURCE_DIR/bench/bench_streams.py"; then
	echo "bench: bench_streams failed" >&2
	status=1
fi
if [ "$found" -eq 0 ]; then
	echo "bench: no bench_* programs in $bin_dir" >&2
	exit 1
fi
exit "$status"
