#!/usr/bin/env bash
# The whole system in one run (make demo): two domains on loopback with TLS, a person on
# each, a channel between them, messages both ways, each one shown decrypted as each side
# sees it. Then everything is cleaned up (also on failure and on Ctrl-C).
#
# usage: scripts/demo.sh [BUILD_DIR]      (default: build in this repository)
#
#   1. a test CA and a certificate per domain (subjectAltName DNS:a.test, DNS:b.test);
#   2. aimd init / user add / serve for a.test and b.test: BASE https://a.test and
#      https://b.test, as in production, so the handle acct:alice@a.test, the actor
#      https://a.test/users/alice and the certificates name one domain; each server listens
#      on a free loopback port and reaches the other's NAME:443 by --connect-to;
#   3. aim login: alice's device on a.test, bob's on b.test (their own homes);
#   4. alice creates the channel "lunch" with bob in it (MLS group, Welcome to bob);
#   5. alice and bob exchange messages; aim listen on each side decrypts and prints them;
#   6. aim history on both sides, and a check that each side decrypted the other's messages;
#   7. both devices show the same epoch authenticator (they are in the same group state).
#
# Exit status 0 only when bob's device shows alice's messages and alice's shows bob's.
# Environment: AIM_DEMO_PORTS="P1 P2" (default: two free ports), TMPDIR (where the
# temporary directory goes), AIM_DEMO_KEEP=1 (keep that directory, for a look at the logs).
# Needs openssl and coreutils' timeout.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
case "${1:-}" in -h | --help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
build=${1:-$here/build}
[ -d "$build/bin" ] || { echo "demo: no $build/bin (make build)" >&2; exit 1; }
bin=$(cd "$build/bin" && pwd)
aimd=$bin/aimd
aim_bin=$bin/aim

die() { echo "demo: FAILED: $*" >&2; exit 1; }

if ! [ -x "$aimd" ] || ! [ -x "$aim_bin" ]; then
	die "no aimd and aim in $build/bin (make build)"
fi
command -v openssl >/dev/null || die "openssl is missing (apt-get install openssl)"
command -v timeout >/dev/null || die "timeout is missing (coreutils)"

t0=$(date +%s%N)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/aim-demo.XXXXXX")
domains=(a.test b.test)
users=(alice bob)
pids=()

cleanup() {
	local rc=$? pid n
	trap - EXIT INT TERM
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		n=0
		while kill -0 "$pid" 2>/dev/null && [ $n -lt 200 ]; do
			sleep 0.05
			n=$((n + 1))
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	# a server built with sanitizers reports at exit: that is a failure too
	for d in "${domains[@]}"; do
		if [ -f "$tmp/$d/aimd.log" ] &&
			grep -q "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" \
				"$tmp/$d/aimd.log"; then
			echo "demo: FAILED: a sanitizer report in $d's log:" >&2
			grep -A 30 "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" \
				"$tmp/$d/aimd.log" | head -n 40 >&2
			rc=1
		elif [ "$rc" = 1 ] && [ -s "$tmp/$d/aimd.log" ]; then
			echo "demo: the last lines of $d's log:" >&2
			tail -n 5 "$tmp/$d/aimd.log" | sed 's/^/    /' >&2
		fi
	done
	if [ "${AIM_DEMO_KEEP:-}" = 1 ]; then
		echo "demo: kept $tmp"
	else
		rm -rf "$tmp"
	fi
	[ ${#pids[@]} -eq 0 ] || echo "demo: servers stopped, temporary files removed"
	exit "$rc"
}
trap cleanup EXIT
trap 'echo; echo "demo: interrupted" >&2; exit 130' INT
trap 'echo "demo: terminated" >&2; exit 143' TERM

step() { printf '\n== %s\n' "$*"; }
# show: the command as a person would type it (the temporary directory as $DEMO)
show() {
	local a out='' line='$' n=0 w=()
	for a in "$@"; do
		a=${a//"$tmp"/\$DEMO}
		a=${a#"$bin"/}
		case $a in *[[:space:]\'\"\?\*\;\&\|\<\>\(\)]* | "") a="'$a'" ;; esac
		# an option and its value stay together
		if [ ${#w[@]} -gt 0 ] && [[ ${w[-1]} == --* && ${w[-1]} != *" "* && $a != -* ]]; then
			w[-1]+=" $a"
		else
			w+=("$a")
		fi
	done
	# long commands wrap as a person would type them, with a backslash
	for a in "${w[@]}"; do
		if [ $n -gt 0 ] && [ $((${#line} + ${#a} + 3)) -gt 90 ]; then
			out+="$line \\"$'\n'
			line="      $a"
			n=0
		else
			line+=" $a"
		fi
		n=$((n + 1))
	done
	printf '%s%s\n' "$out" "$line"
}
indent() { sed 's/^/    /'; }

# aim for alice or bob: their home, the command printed before it runs
aim() {
	local who=$1
	shift
	show aim --home "$tmp/$who" "$@"
	timeout --foreground 30 "$aim_bin" --home "$tmp/$who" "$@" 2>&1 | indent
	return "${PIPESTATUS[0]}"
}
# aim listen for who, until n messages arrived (20 s at most); its output also in FILE
listen() {
	local who=$1 n=$2 out=$3 rc=0
	show aim --home "$tmp/$who" listen --count "$n" --interval 100
	timeout --foreground 20 "$aim_bin" --home "$tmp/$who" listen --count "$n" --interval 100 \
		>"$out" 2>&1 || rc=$?
	indent <"$out"
	[ $rc -eq 0 ] || die "$who's listen did not get $n messages (exit $rc)"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_ports() {
	local p n=0
	ports=()
	while [ ${#ports[@]} -lt 2 ]; do
		# below the ephemeral range, where the test harness's bind(0) ports come from
		p=$((20000 + RANDOM % 12000))
		if port_free "$p" && [ "${ports[0]:-}" != "$p" ]; then
			ports+=("$p")
		fi
		n=$((n + 1))
		[ $n -lt 200 ] || die "no free loopback port"
	done
}

step "1. A test CA and a TLS certificate for each domain (in \$DEMO=$tmp)"
mkdir -p "$tmp/ca"
chmod 700 "$tmp" "$tmp/ca"
show openssl req -x509 -newkey ec ... -subj "/CN=aim demo CA" -out "$tmp/ca/ca.pem"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256 -days 2 \
	-keyout "$tmp/ca/ca.key" -out "$tmp/ca/ca.pem" -subj "/CN=aim demo CA" \
	-addext "basicConstraints=critical,CA:TRUE" \
	-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
for d in "${domains[@]}"; do
	show openssl x509 -req ... "subjectAltName=DNS:$d" -out "$tmp/ca/$d.pem"
	printf '%s\n' "basicConstraints=CA:FALSE" \
		"keyUsage=critical,digitalSignature,keyEncipherment" \
		"extendedKeyUsage=serverAuth" "subjectAltName=DNS:$d,IP:127.0.0.1" >"$tmp/ca/$d.ext"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256 \
		-keyout "$tmp/ca/$d.key" -out "$tmp/ca/$d.csr" -subj "/CN=$d" 2>/dev/null
	openssl x509 -req -in "$tmp/ca/$d.csr" -CA "$tmp/ca/ca.pem" -CAkey "$tmp/ca/ca.key" \
		-CAcreateserial -out "$tmp/ca/$d.pem" -days 2 -sha256 -extfile "$tmp/ca/$d.ext" \
		2>/dev/null
done

step "2. Two servers: a.test with alice, b.test with bob (BASE https://a.test, https://b.test)"
declare -A token
for i in 0 1; do
	d=${domains[$i]} u=${users[$i]}
	mkdir -p "$tmp/$d"
	show aimd init --data "$tmp/$d/data" --domain "$d"
	"$aimd" init --data "$tmp/$d/data" --domain "$d" >"$tmp/$d/init.log" 2>&1 ||
		{ cat "$tmp/$d/init.log" >&2; die "aimd init $d"; }
	show aimd user add --data "$tmp/$d/data" "$u"
	token[$u]=$("$aimd" user add --data "$tmp/$d/data" "$u" | tail -n 1)
	[ -n "${token[$u]}" ] || die "aimd user add $u"
	echo "    (a token for $u)"
done

serve_args() {
	local i=$1 j=$((1 - $1)) d=${domains[$1]}
	printf '%s\n' serve --data "$tmp/$d/data" --listen "127.0.0.1:${ports[$i]}" \
		--tls-cert "$tmp/ca/$d.pem" --tls-key "$tmp/ca/$d.key" --ca-file "$tmp/ca/ca.pem" \
		--allow-private-addresses \
		--connect-to "${domains[$j]}:443:127.0.0.1:${ports[$j]}"
}
# a server outlives no demo, even one killed with SIGKILL (util-linux's setpriv)
guard=()
if setpriv --pdeathsig TERM true 2>/dev/null; then
	guard=(setpriv --pdeathsig TERM)
fi
# starts both on the ports picked (another program may take one meanwhile: then again)
start_servers() {
	local i d n args
	for i in 0 1; do
		d=${domains[$i]}
		mapfile -t args < <(serve_args "$i")
		show aimd "${args[@]}"
		: >"$tmp/$d/aimd.log"
		"${guard[@]}" "$aimd" "${args[@]}" </dev/null >>"$tmp/$d/aimd.log" 2>&1 &
		pids+=($!)
	done
	for i in 0 1; do
		d=${domains[$i]} n=0
		until grep -q "aimd: listening on" "$tmp/$d/aimd.log"; do
			kill -0 "${pids[$i]}" 2>/dev/null || return 1
			[ $n -lt 200 ] || return 1
			sleep 0.05
			n=$((n + 1))
		done
	done
}
stop_servers() {
	local pid
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	pids=()
}
tries=0
while :; do
	if [ -n "${AIM_DEMO_PORTS:-}" ]; then
		read -r -a ports <<<"$AIM_DEMO_PORTS"
		[ ${#ports[@]} -eq 2 ] || die "AIM_DEMO_PORTS needs two ports"
	else
		pick_ports
	fi
	start_servers && break
	stop_servers
	tries=$((tries + 1))
	if [ -n "${AIM_DEMO_PORTS:-}" ] || [ $tries -ge 3 ] ||
		! grep -qi "address\|in use" "$tmp"/*/aimd.log; then
		for d in "${domains[@]}"; do tail -n 5 "$tmp/$d/aimd.log" >&2; done
		die "the servers did not start"
	fi
done
for i in 0 1; do
	echo "    ${domains[$i]} serves https://${domains[$i]} on 127.0.0.1:${ports[$i]} (pid ${pids[$i]})"
done

step "3. alice and bob log in: each home is one device (keys, certificate, KeyPackages)"
route() { echo "${domains[$1]}:443:127.0.0.1:${ports[$1]}"; }
for i in 0 1; do
	d=${domains[$i]} u=${users[$i]}
	show aim --home "$tmp/$u" login "https://$d" --user "$u" --token "\$TOKEN_$u" \
		--device laptop --keys 5 --ca-file "$tmp/ca/ca.pem" --connect-to "$(route "$i")"
	timeout --foreground 30 "$aim_bin" --home "$tmp/$u" login "https://$d" --user "$u" \
		--token "${token[$u]}" --device laptop --keys 5 --ca-file "$tmp/ca/ca.pem" \
		--connect-to "$(route "$i")" 2>&1 | indent
	[ "${PIPESTATUS[0]}" -eq 0 ] || die "$u's login"
done
aim bob verify alice@a.test || die "bob's check of alice's device"

step "4. alice creates the channel \"lunch\" with bob (an MLS group; bob gets a Welcome)"
aim alice channel create lunch bob@b.test >"$tmp/create.out" || { cat "$tmp/create.out"; die "channel create"; }
cat "$tmp/create.out"
channel=$(grep -o 'https://a\.test/channels/[^ )]*' "$tmp/create.out" | head -n 1)
[ -n "$channel" ] || die "no channel URL in the output of channel create"

step "5. Messages both ways, each shown decrypted where it arrives (1: the first conversation)"
a1="hello bob, lunch at noon?"
a2="the usual place"
b1="hi alice, noon works"
b2="see you there"
aim alice send 1 "$a1" || die "alice's send"
aim alice send 1 "$a2" || die "alice's send"
echo "-- at bob (b.test): his device joins from the Welcome and decrypts"
listen bob 2 "$tmp/bob.listen"
aim bob send 1 "$b1" || die "bob's send"
aim bob send 1 "$b2" || die "bob's send"
echo "-- at alice (a.test): her own messages come back in the hub's order, then bob's"
listen alice 4 "$tmp/alice.listen"
echo "-- at bob again: his own two, as the hub ordered them"
listen bob 2 "$tmp/bob.listen2"

step "6. Each side's history of the channel"
aim alice history 1 >"$tmp/alice.history" || { cat "$tmp/alice.history"; die "alice's history"; }
cat "$tmp/alice.history"
aim bob history 1 >"$tmp/bob.history" || { cat "$tmp/bob.history"; die "bob's history"; }
cat "$tmp/bob.history"

step "7. Both devices agree on the group's state (epoch and its authenticator, RFC 9420 8.7)"
auth() {
	"$aim_bin" --home "$tmp/$1" conversations --json |
		grep -o '"epochAuthenticator": *"[0-9a-f]*"' | head -n 1 | grep -o '[0-9a-f]\{16,\}'
}
aim alice conversations || die "alice's conversations"
aim bob conversations || die "bob's conversations"
auth_a=$(auth alice) || die "no epoch authenticator at alice"
auth_b=$(auth bob) || die "no epoch authenticator at bob"
echo "    alice: epoch authenticator $auth_a"
echo "    bob:   epoch authenticator $auth_b"
[ "$auth_a" = "$auth_b" ] || die "alice and bob are not in the same group state"

# The check: what each side decrypted from the other, in listen and in history.
seen() { grep -qF -- "$2" "$1"; }
ok=1
for m in "$a1" "$a2"; do
	{ seen "$tmp/bob.listen" "alice@a.test: $m" && seen "$tmp/bob.history" "alice@a.test: $m"; } ||
		{ echo "demo: bob did not decrypt alice's \"$m\"" >&2; ok=0; }
done
for m in "$b1" "$b2"; do
	{ seen "$tmp/alice.listen" "bob@b.test: $m" && seen "$tmp/alice.history" "bob@b.test: $m"; } ||
		{ echo "demo: alice did not decrypt bob's \"$m\"" >&2; ok=0; }
done
[ $ok = 1 ] || die "a message was not decrypted on the other side"
t1=$(date +%s%N)
step "OK: bob decrypted alice's 2 messages, alice decrypted bob's 2 ($(((t1 - t0) / 1000000)) ms)"
