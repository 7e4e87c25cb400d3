#!/usr/bin/env python3
"""bench_channels: a channel's fan-out through real aimd processes.

A local federation of BENCH_CHAN_DOMAINS (10) aimd servers over TLS on
loopback (d0.test ... d9.test, one test CA), BENCH_CHAN_MEMBERS (1000)
members spread evenly over them, the channel hosted by d0.test (its
creator's server). The MLS traffic is real (tests/interop/mls_driver.c):
one commit adds every member's KeyPackage, the channel's Create carries
the Welcome (without the ratchet tree: members do not join here). The
driver's devices carry basic credentials, so the servers run with
--hub-basic-credentials (the x509 check of real devices is not measured).

Measures:
  1. one message (an MLS PrivateMessage in a Create to the channel): the
     time from the POST to the hub until the last member's server has
     accepted its Announce (the hub's delivery row marked delivered, which
     the receiver answers only after its users' inbox rows are committed),
     and the requests the hub made for it (delivery attempts: one POST per
     remote shared inbox; the hub's own domain's members get it locally);
  2. BENCH_CHAN_MESSAGES (300) messages posted by BENCH_CHAN_CONC (4)
     clients at once: messages accepted per second by the hub, and
     messages per second until every one reached every member's server.

Prints the set-up times too. Environment: AIM_BIN_DIR (the build's bin
dir, default build/bin), the BENCH_CHAN_* values above. Python 3 standard
library and the test harness (tests/common) only.
"""

import os
import sqlite3
import sys
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("AIM_SOURCE_DIR") or os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SRC, "tests", "common"))
sys.path.insert(0, os.path.join(SRC, "tests", "channels"))
import aimtest  # noqa: E402
import fedtest  # noqa: E402
from chantest import Mls, obj  # noqa: E402


def env_int(name, default, lo, hi):
	try:
		v = int(os.environ.get(name, default))
	except ValueError:
		return default
	return min(max(v, lo), hi)


MEMBERS = env_int("BENCH_CHAN_MEMBERS", 1000, 2, 5000)
DOMAINS = env_int("BENCH_CHAN_DOMAINS", 10, 1, 50)
MESSAGES = env_int("BENCH_CHAN_MESSAGES", 300, 1, 100000)
CONC = env_int("BENCH_CHAN_CONC", 4, 1, 64)


def say(*a):
	print(*a)
	sys.stdout.flush()


def main():
	t_all = time.monotonic()
	names = ["d%d.test" % i for i in range(DOMAINS)]
	fed = aimtest.Federation(names=names)
	mls = None
	try:
		hub = fed[names[0]]
		members = [(hub, "alice")]
		i = 0
		while len(members) < MEMBERS:
			srv = fed[names[len(members) % DOMAINS]]
			members.append((srv, "m%d" % i))
			i += 1
		t0 = time.monotonic()
		# each `aimd user add` makes an RSA key: the set-up's costly part
		lock = threading.Lock()
		todo = list(members)

		def users():
			while True:
				with lock:
					if not todo:
						return
					srv, u = todo.pop()
				srv.add_user(u)
		ts = [threading.Thread(target=users) for _ in range(os.cpu_count() or 2)]
		for t in ts:
			t.start()
		for t in ts:
			t.join()
		t_users = time.monotonic() - t0
		# the MLS driver's devices carry basic credentials: the hub takes
		# them unchecked (--hub-basic-credentials, a flag for tests)
		fed.start(extra_args=lambda srv: fedtest.serve_args(fed) + [
			"--max-body", "16777216", "--hub-basic-credentials"])
		mls = Mls()
		t0 = time.monotonic()
		kps = {}
		for srv, u in members:
			r = mls("create_client", suite=1, identity="acct:%s@%s" % (u, srv.domain),
				name="%s-%s" % (u, srv.domain))
			kps[(srv.domain, u)] = (r["client"], r["key_package"])
		al = kps[(hub.domain, "alice")][0]
		mls("create_group", client=al)
		others = members[1:]
		cm = mls("commit", client=al, add=[kps[(s.domain, u)][1] for s, u in others],
			 public=True, tree_in_welcome=False)
		gi = mls("group_info", client=al)
		t_mls = time.monotonic() - t0
		t0 = time.monotonic()
		st, hd, doc = hub.post("/users/alice/outbox", {
			"type": "Create", "object": {"type": "Group", "name": "bench"},
			"aim:members": [s.actor(u) for s, u in others],
			"aim:groupInfo": obj("GroupInfo", gi["group_info"]),
			"aim:welcome": obj("Welcome", cm["welcome"])}, token=hub.tokens["alice"])
		if st != 201:
			raise SystemExit("bench_channels: channel Create: %d %r" % (st, doc))
		chan = hd.get("location") or hd.get("Location")
		db = sqlite3.connect("file:%s?mode=ro" % os.path.join(hub.data, "aim.db"), uri=True,
				     timeout=30)

		def rows(activity_ids):
			q = ("SELECT d.state, d.attempts FROM deliveries d JOIN outgoing o ON"
			     " o.id = d.outgoing_id WHERE o.activity_id IN (%s)" %
			     ",".join("?" * len(activity_ids)))
			return db.execute(q, list(activity_ids)).fetchall()

		def wait_delivered(activity_ids, timeout=600, step=0.002):
			deadline = time.monotonic() + timeout
			while time.monotonic() < deadline:
				r = rows(activity_ids)
				if r and all(s == 1 for s, _ in r):
					return r
				if any(s in (2, 3) for s, _ in r):
					raise SystemExit("bench_channels: a delivery failed: %r" % r)
				time.sleep(step)
			raise SystemExit("bench_channels: not delivered after %ds" % timeout)

		# the Welcomes (one delivery per remote shared inbox) first
		wel = [x for (x,) in db.execute(
			"SELECT activity_id FROM outgoing WHERE activity_id NOT LIKE ?", (chan + "/announces/%",))]
		wrows = wait_delivered(wel)
		t_create = time.monotonic() - t0
		say("channels: %d members on %d domains (hub %s); set-up: users %.1f s, MLS group"
		    " %.1f s, channel Create and %d Welcome deliveries %.1f s" %
		    (MEMBERS, DOMAINS, hub.domain, t_users, t_mls, len(wrows), t_create))

		def message(i):
			m = mls("send", client=al, plaintext="bench %d %s" % (i, uuid.uuid4().hex))
			return {"type": "Create", "to": [chan], "object": obj("PrivateMessage", m["message"])}

		# 1. one message
		act = message(0)
		t0 = time.monotonic()
		st, _, doc = hub.post("/users/alice/outbox", act, token=hub.tokens["alice"])
		t_acc = time.monotonic() - t0
		if st != 201:
			raise SystemExit("bench_channels: message: %d %r" % (st, doc))
		r = wait_delivered(["%s/announces/%d" % (chan, doc["aim:sequence"])])
		t_last = time.monotonic() - t0
		say("channels one message to %d members on %d domains: accepted in %.1f ms, at the last"
		    " member's server after %.1f ms; requests by the hub: %d (deliveries %d)" %
		    (MEMBERS, DOMAINS, t_acc * 1e3, t_last * 1e3, sum(a for _, a in r), len(r)))

		# 2. messages per second through the hub
		acts = [message(i + 1) for i in range(MESSAGES)]
		seqs = []
		fails = []
		lock = threading.Lock()
		todo = list(range(MESSAGES))

		def sender():
			while True:
				with lock:
					if not todo:
						return
					k = todo.pop(0)
				st, _, d = hub.post("/users/alice/outbox", acts[k], token=hub.tokens["alice"])
				with lock:
					if st == 201:
						seqs.append(d["aim:sequence"])
					else:
						fails.append((st, d))
		t0 = time.monotonic()
		ts = [threading.Thread(target=sender) for _ in range(CONC)]
		for t in ts:
			t.start()
		for t in ts:
			t.join()
		t_acc = time.monotonic() - t0
		r = wait_delivered(["%s/announces/%d" % (chan, s) for s in seqs])
		t_del = time.monotonic() - t0
		# messages may be refused when the sender's generation runs ahead
		# of a concurrent one (they all come from one device): counted
		say("channels throughput (%d messages, %d in flight, %d members): accepted %.1f/s,"
		    " at every member's server %.1f/s; refused %d; requests by the hub %d" %
		    (MESSAGES, CONC, MEMBERS, len(seqs) / t_acc, len(seqs) / t_del, len(fails),
		     sum(a for _, a in r)))
		if fails:
			say("  first refusal: %r" % (fails[0],))
		db.close()
		say("channels: total %.1f s, nproc=%d" % (time.monotonic() - t_all, os.cpu_count()))
	finally:
		if mls:
			mls.close()
		fed.cleanup()


if __name__ == "__main__":
	main()
