"""The delivery workers as a pool (delivery.h): connections kept alive between
deliveries (a TLS sink counts the connections it accepts: 200 deliveries to
one host cost at most one connection per worker, not one per delivery), a
slow host holding only its own slots (deliveries to a fast host go out while
every POST to the slow one hangs, even with as few workers as the per-host
limit), and kill -9 with POSTs in flight (their leases run out after the
restart and the rows are tried again: nothing is lost)."""

import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aimtest
from aimtest import note
from test_delivery import DeliveryTestBase, deliveries, wait_for

WORKERS = 4


def count_connections(peer):
	"""Counts the connections the peer accepts (each a TLS handshake: the
	wrapped listening socket completes it in accept)."""
	peer.accepted = 0
	orig = peer.httpd.get_request

	def get_request():
		sock, addr = orig()
		with peer.lock:
			peer.accepted += 1
		return sock, addr
	peer.httpd.get_request = get_request


class KeepAliveTest(DeliveryTestBase):
	remotes = ("r.test",)
	extra = ["--delivery-workers", str(WORKERS), "--retry-base-ms", "200"]

	@classmethod
	def start_remotes(cls):
		count_connections(cls.r["r.test"].peer)
		super().start_remotes()

	def test_200_deliveries_reuse_connections(self):
		r = self.r["r.test"]
		aid = r.actor("sink")
		r.answer("/inbox", (202, {}))
		acts = [self.post(note("k%d" % i, to=[aid]))["id"] for i in range(200)]
		want = set(acts)

		def done():
			rows = [d for d in deliveries(self.a) if d["activity"] in want]
			return len(rows) == 200 and all(d["state"] == "delivered" for d in rows)
		self.assertTrue(wait_for(done, 60), "200 deliveries did not all settle")
		got = [json.loads(p["body"])["id"] for p in r.posts("/inbox")]
		self.assertEqual(sorted(got), sorted(acts))
		gets = len([x for x in r.peer.received if x["method"] == "GET"])
		# the actor's fetches (the fetcher's own client) aside, the POSTs
		# went over at most one kept-alive connection per worker
		self.assertLessEqual(r.peer.accepted - gets, WORKERS,
				     "%d connections for 200 POSTs (%d GETs)" % (r.peer.accepted, gets))


class SlowHostTest(DeliveryTestBase):
	"""Two workers, two POSTs per host: the slow host takes two slots, the
	fast host's deliveries do not wait for them."""
	remotes = ("r.test", "s.test")
	extra = ["--delivery-workers", "2", "--delivery-per-host", "2", "--retry-base-ms", "200"]

	def test_slow_host_does_not_stall_a_fast_one(self):
		slow, fast = self.r["s.test"], self.r["r.test"]
		gate = threading.Event()
		self.addCleanup(gate.set)

		def hang(rec):
			gate.wait(20)
			return 202, "application/json", b"{}"
		names = ["s%d" % i for i in range(4)]
		for n in names:
			slow.actor(n)
			slow.peer.handlers["/users/%s/inbox" % n] = hang
		slow.peer.httpd.handle_error = lambda *a: None
		faid = fast.actor("quick")
		fast.answer("/inbox", (202, {}))
		self.post(note("slow", to=[], bcc=[slow.peer.actor_id(n) for n in names]))
		self.assertTrue(wait_for(lambda: len(slow.posts()) >= 2, 20), "slow host never reached")
		t0 = time.monotonic()
		acts = [self.post(note("f%d" % i, to=[faid]))["id"] for i in range(10)]
		want = set(acts)

		def done():
			rows = [d for d in deliveries(self.a) if d["activity"] in want]
			return len(rows) == 10 and all(d["state"] == "delivered" for d in rows)
		self.assertTrue(wait_for(done, 15, 0.05), "the fast host's deliveries waited")
		took = time.monotonic() - t0
		self.assertLess(took, 5.0)
		# the slow host's POSTs are all still hanging
		self.assertFalse(gate.is_set())
		self.assertLessEqual(len(slow.posts()), 2)
		gate.set()


class KillInFlightTest(DeliveryTestBase):
	"""kill -9 while POSTs hang at the receiver: after the restart the rows
	are claimable once their leases ran out, and every delivery is made."""
	remotes = ("r.test",)
	extra = ["--retry-base-ms", "200", "--retry-max-ms", "500", "--retry-expire-s", "120",
		 "--breaker-threshold", "1000"]

	def test_kill9_with_posts_in_flight(self):
		r = self.r["r.test"]
		gate = threading.Event()
		self.addCleanup(gate.set)
		state = {"hang": True}

		def h(rec):
			if state["hang"]:
				gate.wait(30)
			return 202, "application/json", b"{}"
		names = ["k%d" % i for i in range(4)]
		for n in names:
			r.actor(n)
			r.peer.handlers["/users/%s/inbox" % n] = h
		r.peer.httpd.handle_error = lambda *a: None
		act = self.post(note("kill", to=[], bcc=[r.peer.actor_id(n) for n in names]))
		self.assertTrue(wait_for(lambda: len(r.posts()) >= 2, 20), "no POST in flight")
		self.a.kill9()
		rows = self.rows(act["id"])
		self.assertEqual(len(rows), 4)
		self.assertTrue(all(d["state"] == "pending" for d in rows), rows)
		state["hang"] = False
		gate.set()
		self.a.start()
		rows = wait_for(lambda: (lambda v: v if len(v) == 4 and
					 all(d["state"] == "delivered" for d in v) else None)(
						 self.rows(act["id"])), 40)
		self.assertTrue(rows, self.rows(act["id"]))
		for n in names:
			self.assertTrue(r.posts("/users/%s/inbox" % n), n)


if __name__ == "__main__":
	aimtest.main()
