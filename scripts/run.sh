#!/usr/bin/env bash
# make run: create DATA on first use (database, keys, user alice), print what
# to try, then serve until interrupted.
# Usage: scripts/run.sh AIMD DATA DOMAIN LISTEN
set -euo pipefail
aimd=${1:?usage: run.sh AIMD DATA DOMAIN LISTEN}
data=${2:-var}
domain=${3:-localhost}
listen=${4:-127.0.0.1:8080}
base="http://$listen"

# Only hashes of tokens are stored, so the token made at the first run is kept
# in DATA/alice.token (mode 0600) and printed again at every run; a new one is
# made only when that file is missing or its token was revoked
# (aimd user revoke).
tokfile="$data/alice.token"
if [ ! -f "$data/aim.db" ]; then
  echo "run: creating $data for $domain (ids under $base)"
  "$aimd" init --data "$data" --domain "$domain" --url "$base"
  (umask 077; "$aimd" user add --data "$data" alice | tail -n 1 >"$tokfile")
elif [ ! -s "$tokfile" ] ||
  ! "$aimd" user tokens --data "$data" alice |
    grep -q "^$(tr -d '\n' <"$tokfile" | sha256sum | cut -c1-12)[[:space:]]"; then
  echo "run: alice's saved token is missing or revoked; making a new one in $tokfile"
  (umask 077; "$aimd" user token --data "$data" alice | tail -n 1 >"$tokfile")
fi
chmod 600 "$tokfile"
token=$(cat "$tokfile")

cat <<MSG

alice's bearer token: $token   (kept in $tokfile)

Try, in another terminal:
  curl -s '$base/.well-known/webfinger?resource=acct:alice@$domain'
  curl -s -H 'Accept: application/activity+json' $base/users/alice
  curl -s -i -X POST -H 'Authorization: Bearer $token' \\
       -H 'Content-Type: application/activity+json' \\
       -d '{"type":"Note","content":"hello","to":["https://www.w3.org/ns/activitystreams#Public"]}' \\
       $base/users/alice/outbox
  curl -s '$base/users/alice/outbox?page=true'
  curl -s -N -H 'Accept: text/event-stream' -H 'Authorization: Bearer $token' $base/users/alice/inbox
More users: $aimd user add --data $data NAME    (prints the token last)
Tokens: $aimd user tokens --data $data alice; revoke one: $aimd user revoke --data $data alice ID
Stop with Ctrl-C.

MSG
exec "$aimd" serve --data "$data" --listen "$listen"
