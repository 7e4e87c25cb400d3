"""/metrics (issue 15 point 3): the Prometheus text exposition format with
requests by route and status, deliveries by state, the queue's depth and
the age of its oldest job, signature failures by reason, the hub's changes
accepted and refused, the KeyPackage stock; served only on a listener of
its own (--metrics-listen) or behind a token (--metrics-token), never
without either."""

import json
import os
import re
import sys
import time
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "common"))
sys.path.insert(0, os.path.join(HERE, "..", "channels"))
sys.path.insert(0, os.path.join(HERE, "..", "identity"))
from aimtest import AimTestCase, note, request, reserve_port
from chantest import Mls, obj
import kptest

TOKEN = "metrics-" + uuid.uuid4().hex
MLSCTX = "https://purl.archive.org/socialweb/mls"
TYPE = "text/plain; version=0.0.4; charset=utf-8"
LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
		  r'(,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*)?\})? (-?[0-9.eE+]+|NaN)$')


def parse(text, test):
	"""{(name, frozenset(labels)): value}; checks every line's shape and
	that each metric has its HELP and TYPE first."""
	out, typed = {}, set()
	for ln in text.splitlines():
		if ln.startswith("# HELP ") or ln.startswith("# TYPE "):
			parts = ln.split(" ", 3)
			if parts[1] == "TYPE":
				test.assertIn(parts[3], ("counter", "gauge"), ln)
				typed.add(parts[2])
			continue
		m = LINE.match(ln)
		test.assertTrue(m, "not an exposition line: %r" % ln)
		name = m.group(1)
		test.assertIn(name, typed, "%s without its # TYPE" % name)
		labels = frozenset(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"',
					      m.group(3) or ""))
		test.assertNotIn((name, labels), out, "series twice: %r" % ln)
		out[(name, labels)] = float(m.group(m.lastindex))
	return out


def value(metrics, name, **labels):
	return metrics.get((name, frozenset(labels.items())), 0.0)


class MetricsTokenTest(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.srv = cls.server(domain="met.test", extra_args=(
			"--metrics-token", TOKEN, "--hub-basic-credentials", "--retry-base-ms", "600000"))
		for u in ("alice", "dave"):
			cls.srv.add_user(u)
		cls.srv.start()
		cls.mls = Mls()
		cls.addClassCleanup(cls.mls.close)

	def scrape(self, token=TOKEN):
		st, hd, body = request("GET", self.srv.url + "/metrics", token=token)
		self.assertEqual(st, 200, body)
		self.assertEqual(hd.get("content-type"), TYPE)
		return parse(body.decode(), self)

	def post(self, user, act):
		return self.srv.post("/users/%s/outbox" % user, act, token=self.srv.tokens[user])

	def test_token_required(self):
		st, hd, _ = request("GET", self.srv.url + "/metrics")
		self.assertEqual(st, 401)
		st, _, _ = request("GET", self.srv.url + "/metrics", token=TOKEN + "x")
		self.assertEqual(st, 401)
		st, _, _ = request("GET", self.srv.url + "/metrics", token=self.srv.tokens["alice"])
		self.assertEqual(st, 401)
		st, _, _ = request("POST", self.srv.url + "/metrics", token=TOKEN, body=b"")
		self.assertEqual(st, 405)
		m = self.scrape()
		self.assertGreaterEqual(value(m, "aim_http_requests_total", route="/metrics",
					      method="GET", status="401"), 3)

	def test_requests_by_route_and_status(self):
		before = self.scrape()
		for _ in range(3):
			self.assertEqual(self.srv.get("/users/alice")[0], 200)
		self.assertEqual(self.srv.get("/users/nobody")[0], 404)
		self.assertEqual(self.srv.get("/no/such/path/%s" % uuid.uuid4().hex)[0], 404)
		self.assertEqual(self.post("alice", note("counted"))[0], 201)
		m = self.scrape()

		def delta(**lb):
			return (value(m, "aim_http_requests_total", **lb) -
				value(before, "aim_http_requests_total", **lb))
		self.assertEqual(delta(route="/users/{name}", method="GET", status="200"), 3)
		self.assertEqual(delta(route="/users/{name}", method="GET", status="404"), 1)
		self.assertEqual(delta(route="(unmatched)", method="GET", status="404"), 1)
		self.assertEqual(delta(route="/users/{name}/outbox", method="POST", status="201"), 1)
		# the path of an unmatched request is never a label
		self.assertFalse([k for k in m if "/no/such" in str(k)])

	def test_deliveries_and_queue(self):
		remote = "https://nowhere.invalid/users/%s" % uuid.uuid4().hex[:8]
		st, _, doc = self.post("alice", note("to a server that is not there", to=[remote]))
		self.assertEqual(st, 201, doc)
		deadline = time.monotonic() + 10
		while True:
			m = self.scrape()
			if value(m, "aim_deliveries", state="pending") >= 1 and \
			   value(m, "aim_delivery_queue_oldest_age_seconds") > 0:
				break
			self.assertLess(time.monotonic(), deadline, "no pending delivery: %r" % m)
			time.sleep(0.2)
		for state in ("pending", "delivered", "failed", "expired"):
			self.assertIn(("aim_deliveries", frozenset({("state", state)})), m)
		self.assertEqual(value(m, "aim_delivery_queue_depth"),
				 value(m, "aim_deliveries", state="pending"))
		time.sleep(1.1)
		m2 = self.scrape()
		self.assertGreater(value(m2, "aim_delivery_queue_oldest_age_seconds"),
				   value(m, "aim_delivery_queue_oldest_age_seconds") + 1)

	def test_signature_failures_by_reason(self):
		before = self.scrape()
		act = {"@context": "https://www.w3.org/ns/activitystreams", "type": "Like",
		       "id": "https://r.test/x/" + uuid.uuid4().hex, "actor": "https://r.test/u/x",
		       "object": self.srv.actor("alice")}
		body = json.dumps(act).encode()
		st, _, _ = request("POST", self.srv.url + "/inbox", body=body,
				   headers={"Content-Type": "application/activity+json"})
		self.assertEqual(st, 401)
		st, _, _ = request("POST", self.srv.url + "/users/alice/inbox", body=body,
				   headers={"Content-Type": "application/activity+json",
					    "Signature": "this is no signature"})
		self.assertEqual(st, 401)
		m = self.scrape()
		for reason, n in (("missing", 1), ("malformed", 1)):
			self.assertEqual(value(m, "aim_signature_failures_total", reason=reason) -
					 value(before, "aim_signature_failures_total", reason=reason), n,
					 reason)
		for reason in ("missing", "malformed", "policy", "key_unavailable",
			       "key_server_failed", "bad_signature", "replay"):
			self.assertIn(("aim_signature_failures_total",
				       frozenset({("reason", reason)})), m)

	def test_keypackage_stock(self):
		m = self.scrape()
		dev = kptest.Device(self.srv, "dave", "phone")
		self.addCleanup(dev.cleanup)
		dev.upload(n=3, last_resort=True)
		m2 = self.scrape()
		self.assertEqual(value(m2, "aim_keypackages_available") -
				 value(m, "aim_keypackages_available"), 3)
		self.assertEqual(value(m2, "aim_keypackages_last_resort") -
				 value(m, "aim_keypackages_last_resort"), 1)
		kptest.claim(self.srv, "alice", ["acct:dave@met.test"])
		m3 = self.scrape()
		self.assertEqual(value(m3, "aim_keypackages_available"),
				 value(m2, "aim_keypackages_available") - 1)

	def test_hub_changes_accepted_and_refused(self):
		before = self.scrape()

		al = "alice-%s" % uuid.uuid4().hex[:8]
		self.mls("create_client", suite=1, identity="acct:alice@met.test", name=al)
		self.mls("create_group", client=al)
		dv = "dave-%s" % uuid.uuid4().hex[:8]
		kp = self.mls("create_client", suite=1, identity="acct:dave@met.test",
			      name=dv)["key_package"]
		cm = self.mls("commit", client=al, add=[kp], public=True, tree_in_welcome=True)
		gi = self.mls("group_info", client=al)
		st, hd, doc = self.post("alice", {
			"@context": ["https://www.w3.org/ns/activitystreams", MLSCTX],
			"type": "Create",
			"object": {"type": "Group", "name": "m", "aim:policy": {"membership": "owner"}},
			"aim:members": [self.srv.actor("dave")],
			"aim:groupInfo": obj("GroupInfo", gi["group_info"]),
			"aim:welcome": obj("Welcome", cm["welcome"])})
		self.assertEqual(st, 201, doc)
		chan = hd.get("location")
		m = self.mls("send", client=al, plaintext="hello")
		st, _, doc = self.post("alice", {"type": "Create", "to": [chan],
						 "object": obj("PrivateMessage", m["message"])})
		self.assertEqual(st, 201, doc)
		old = self.mls("commit", client=al, path=True, public=True, pending=True)
		self.mls("discard_pending", client=al)
		cm = self.mls("commit", client=al, path=True, public=True)
		st, _, doc = self.post("alice", {"type": "Create", "to": [chan],
						 "object": obj("PublicMessage", cm["commit"])})
		self.assertEqual(st, 201, doc)
		st, _, doc = self.post("alice", {"type": "Create", "to": [chan],
						 "object": obj("PublicMessage", old["commit"])})
		self.assertEqual(st, 409, doc)
		after = self.scrape()

		def delta(kind, outcome):
			return (value(after, "aim_hub_changes_total", kind=kind, outcome=outcome) -
				value(before, "aim_hub_changes_total", kind=kind, outcome=outcome))
		self.assertEqual(delta("message", "accepted"), 1)
		self.assertEqual(delta("commit", "accepted"), 1)
		self.assertEqual(delta("commit", "refused"), 1)


class MetricsListenTest(AimTestCase):
	def test_own_listener(self):
		# held until aimd listens on it (no other test's bind(0) gets it)
		port, reservation = reserve_port()
		self.addCleanup(reservation.close)
		srv = self.server(domain="metl.test", extra_args=(
			"--metrics-listen", "127.0.0.1:%d" % port))
		srv.add_user("alice")
		srv.start()
		reservation.close()
		self.assertIn("metrics on http://127.0.0.1:%d/metrics" % port, srv.log_current())
		self.assertEqual(srv.get("/users/alice")[0], 200)
		# not on the main listener (no token)
		st, _, _ = request("GET", srv.url + "/metrics")
		self.assertEqual(st, 404)
		url = "http://127.0.0.1:%d" % port
		st, hd, body = request("GET", url + "/metrics")
		self.assertEqual(st, 200)
		self.assertEqual(hd.get("content-type"), TYPE)
		m = parse(body.decode(), self)
		self.assertEqual(value(m, "aim_http_requests_total", route="/users/{name}",
				       method="GET", status="200"), 1)
		self.assertEqual(value(m, "aim_store_up"), 1)
		# the metrics listener serves nothing else
		st, _, _ = request("GET", url + "/users/alice")
		self.assertEqual(st, 404)
		srv.stop()

	def test_not_served_without_either(self):
		srv = self.server(domain="metn.test")
		srv.start()
		st, _, _ = request("GET", srv.url + "/metrics")
		self.assertEqual(st, 404)
		st, _, _ = request("GET", srv.url + "/metrics", token="anything-at-all-here")
		self.assertEqual(st, 404)
		srv.stop()

	def test_usage(self):
		from aimtest import run_aimd
		srv = self.server(domain="metu.test")
		r = run_aimd("serve", "--data", srv.data, "--metrics-token", "short")
		self.assertEqual(r.returncode, 2)
		r = run_aimd("serve", "--data", srv.data, "--metrics-listen", "nonsense")
		self.assertEqual(r.returncode, 2)


if __name__ == "__main__":
	unittest.main(verbosity=2)
