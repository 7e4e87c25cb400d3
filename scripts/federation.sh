#!/usr/bin/env bash
# A local federation of three aimd on one machine: a.test, b.test and c.test over HTTPS
# from a private test CA, on loopback ports, reaching each other by name through
# --connect-to (no /etc/hosts edits, nothing but 127.0.0.1).
#
# usage: scripts/federation.sh start|stop|status|help DIR
#
#   start   the first time: makes DIR (a CA and one certificate per domain with
#           subjectAltName, three data directories, a user on each with a token);
#           then starts the three servers in the background and prints how to reach
#           them with curl (also written to DIR/README.txt)
#   stop    SIGTERM to the three servers, waits until they have exited
#   status  which servers run, and where
#
# Environment: AIMD (default build/bin/aimd in this repository), AIM_FED_PORTS (three
# ports, default "8441 8442 8443"; used when DIR is made, remembered in DIR/ports).
# Needs openssl; curl for the lines it prints.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cmd=${1:-help}
dir=${2:-}
domains=(a.test b.test c.test)
users=(alice bob carol)

die() { echo "federation: $*" >&2; exit 1; }

usage() {
	sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
}

[ "$cmd" = help ] || [ "$cmd" = --help ] || [ "$cmd" = -h ] && { usage; exit 0; }
[ -n "$dir" ] || { usage >&2; exit 2; }
case "$cmd" in start | stop | status) ;; *) usage >&2; exit 2 ;; esac

aimd=${AIMD:-$here/build/bin/aimd}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

ports_of() {
	if [ -f "$dir/ports" ]; then
		cat "$dir/ports"
	else
		echo "${AIM_FED_PORTS:-8441 8442 8443}"
	fi
}
read -r -a ports <<<"$(ports_of)"
[ "${#ports[@]}" -eq 3 ] || die "AIM_FED_PORTS needs three ports, got: ${ports[*]}"

# curl for server i: trust the CA, resolve its name to 127.0.0.1
curl_for() {
	echo "curl -s --cacert $dir/ca/ca.pem --resolve ${domains[$1]}:${ports[$1]}:127.0.0.1"
}
base_of() { echo "https://${domains[$1]}:${ports[$1]}"; }

pid_alive() {
	# the pid file's process, if it is still this directory's aimd serve
	local pidf=$dir/${domains[$1]}/aimd.pid pid
	[ -f "$pidf" ] || return 1
	pid=$(cat "$pidf")
	[ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "serve --data $dir/${domains[$1]}/data" || return 1
	echo "$pid"
}

make_ca() {
	mkdir -p "$dir/ca"
	chmod 700 "$dir/ca"
	openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 365 \
		-keyout "$dir/ca/ca.key" -out "$dir/ca/ca.pem" -subj "/CN=aim local federation CA" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

# A server certificate for a domain: subjectAltName DNS:DOMAIN (what TLS clients check;
# the CN is ignored) and IP:127.0.0.1, signed by the test CA.
make_cert() {
	local d=$1 c=$dir/ca
	cat >"$c/$d.ext" <<EOF
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:$d,IP:127.0.0.1
EOF
	openssl req -new -newkey rsa:2048 -nodes -sha256 -keyout "$c/$d.key" -out "$c/$d.csr" \
		-subj "/CN=$d" 2>/dev/null
	openssl x509 -req -in "$c/$d.csr" -CA "$c/ca.pem" -CAkey "$c/ca.key" -CAcreateserial \
		-out "$c/$d.pem" -days 365 -sha256 -extfile "$c/$d.ext" 2>/dev/null
	rm -f "$c/$d.csr" "$c/$d.ext"
}

create() {
	[ -x "$aimd" ] || die "$aimd is not built (make build, or set AIMD)"
	command -v openssl >/dev/null || die "openssl is missing (apt-get install openssl)"
	echo "federation: creating $dir"
	echo "${ports[*]}" >"$dir/ports"
	make_ca
	mkdir -p "$dir/tokens"
	chmod 700 "$dir/tokens"
	for i in 0 1 2; do
		local d=${domains[$i]} u=${users[$i]}
		make_cert "$d"
		mkdir -p "$dir/$d"
		"$aimd" init --data "$dir/$d/data" --domain "$d" --url "$(base_of "$i")" \
			>"$dir/$d/init.log" 2>&1 || { cat "$dir/$d/init.log" >&2; die "aimd init failed"; }
		(umask 077; "$aimd" user add --data "$dir/$d/data" "$u" | tail -n 1 >"$dir/tokens/$u@$d")
	done
	chmod 600 "$dir"/ca/*.key
}

serve_args() {
	local i=$1 d=${domains[$1]} j
	echo "serve --data $dir/$d/data --listen 127.0.0.1:${ports[$i]}"
	echo "--tls-cert $dir/ca/$d.pem --tls-key $dir/ca/$d.key --ca-file $dir/ca/ca.pem"
	echo "--allow-private-addresses"
	for j in 0 1 2; do
		[ "$j" = "$i" ] || echo "--connect-to ${domains[$j]}:${ports[$j]}:127.0.0.1:${ports[$j]}"
	done
}

instructions() {
	local a b t0 t1
	a=$(curl_for 0)
	b=$(curl_for 1)
	t0=$(cat "$dir/tokens/${users[0]}@${domains[0]}")
	t1=$(cat "$dir/tokens/${users[1]}@${domains[1]}")
	cat <<EOF
Three aimd serve HTTPS from the test CA $dir/ca/ca.pem:
EOF
	for i in 0 1 2; do
		echo "  ${domains[$i]}  $(base_of "$i")  user ${users[$i]}, token in $dir/tokens/${users[$i]}@${domains[$i]}"
	done
	cat <<EOF
Logs: $dir/DOMAIN/aimd.log. Each server was started as
  $aimd $(serve_args 0 | tr '\n' ' ' | sed 's/ $//')
(and the same for b.test and c.test with their own port, certificate and --connect-to).

curl reaches a server by its name with --resolve NAME:PORT:127.0.0.1 and --cacert:
  $a $(base_of 0)/.well-known/nodeinfo
  $b '$(base_of 1)/.well-known/webfinger?resource=acct:${users[1]}@${domains[1]}:${ports[1]}'

Handles carry the port, acct:USER@DOMAIN:PORT (the servers are not on 443). alice on
a.test follows bob on b.test by handle:
  $a -X POST -H 'Authorization: Bearer $t0' -H 'Content-Type: application/activity+json' -d '{"type":"Follow","object":"acct:${users[1]}@${domains[1]}:${ports[1]}"}' $(base_of 0)/users/${users[0]}/outbox
bob accepts at once; the Accept arrives in alice's inbox, and bob has one follower:
  $a -H 'Authorization: Bearer $t0' '$(base_of 0)/users/${users[0]}/inbox?page=true'
  $b $(base_of 1)/users/${users[1]}/followers
bob's token, for his side: $t1

Stop them: scripts/federation.sh stop $dir
EOF
}

start() {
	[ -f "$dir/ports" ] || create
	[ -x "$aimd" ] || die "$aimd is not built (make build, or set AIMD)"
	local i started=()
	for i in 0 1 2; do
		local d=${domains[$i]} log=$dir/${domains[$i]}/aimd.log pid
		if pid=$(pid_alive "$i"); then
			echo "federation: $d already runs (pid $pid)"
			continue
		fi
		: >"$log"
		# shellcheck disable=SC2046
		setsid "$aimd" $(serve_args "$i") </dev/null >>"$log" 2>&1 &
		echo $! >"$dir/$d/aimd.pid"
		started+=("$i")
	done
	for i in "${started[@]}"; do
		local d=${domains[$i]} log=$dir/${domains[$i]}/aimd.log n=0
		until grep -q "aimd: listening on" "$log"; do
			if ! pid_alive "$i" >/dev/null || [ $n -ge 200 ]; then
				echo "federation: $d did not start:" >&2
				tail -n 20 "$log" >&2
				stop
				exit 1
			fi
			sleep 0.1
			n=$((n + 1))
		done
	done
	rm -f "$dir/README.txt"
	(umask 077; instructions >"$dir/README.txt") # it holds the tokens
	cat "$dir/README.txt"
}

stop() {
	local i pid
	for i in 0 1 2; do
		if pid=$(pid_alive "$i"); then
			kill -TERM "$pid"
			local n=0
			while [ -e "/proc/$pid" ] && [ $n -lt 150 ]; do
				sleep 0.1
				n=$((n + 1))
			done
			[ -e "/proc/$pid" ] && echo "federation: ${domains[$i]} (pid $pid) did not exit" >&2
			echo "federation: stopped ${domains[$i]}"
		fi
		rm -f "$dir/${domains[$i]}/aimd.pid"
	done
}

status() {
	local i pid rc=0
	for i in 0 1 2; do
		if pid=$(pid_alive "$i"); then
			echo "${domains[$i]} $(base_of "$i") running (pid $pid)"
		else
			echo "${domains[$i]} $(base_of "$i") stopped"
			rc=3
		fi
	done
	return $rc
}

"$cmd"
