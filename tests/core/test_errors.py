"""Error answers: 405 with Allow, 404 JSON for unknown paths, the S2S inbox
refusal, every error body JSON; the structured access log; 429 rate limits."""

import os
import json
import re
import socket
import time
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from aimtest import (AP_TYPE, AS_PUBLIC, AimTestCase, Server, note, parse_json,
		     parse_raw_status, raw_exchange)


class ErrorsTest(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.srv = cls.server(domain="err.test")
		cls.tok = {n: cls.srv.add_user(n) for n in ("alice", "bob")}
		cls.srv.start()
		st, hd, cls.act = cls.srv.post("/users/alice/outbox", note("err note"),
					       token=cls.tok["alice"])
		assert st == 201, cls.act


	def allow_set(self, hd):
		return {m.strip().upper() for m in hd.get("allow", "").split(",") if m.strip()}

	def test_method_not_allowed(self):
		act = self.act["id"][len(self.srv.url):]
		obj = self.act["object"]["id"][len(self.srv.url):]
		cases = [("DELETE", "/users/alice", {"GET"}),
			 ("POST", "/users/alice", {"GET"}),
			 ("PUT", "/users/alice/outbox", {"GET", "POST"}),
			 ("DELETE", "/users/alice/outbox", {"GET", "POST"}),
			 ("PATCH", "/users/alice/inbox", {"GET", "POST"}),
			 ("POST", "/.well-known/webfinger", {"GET"}),
			 ("PUT", "/.well-known/nodeinfo", {"GET"}),
			 ("POST", "/nodeinfo/2.1", {"GET"}),
			 ("DELETE", "/.well-known/host-meta", {"GET"}),
			 ("POST", "/users/alice/followers", {"GET"}),
			 ("PUT", act, {"GET"}),
			 ("DELETE", obj, {"GET"}),
			 ("PUT", "/inbox", {"POST"}),
			 ("POST", "/actor", {"GET"})]
		for method, path, must in cases:
			with self.subTest(method=method, path=path):
				r = self.srv.req(method, path, token=self.tok["alice"],
						 body=b"{}" if method in ("POST", "PUT", "PATCH") else None,
						 headers={"Content-Type": AP_TYPE})
				self.assertRefused(r, 405)
				allow = self.allow_set(r[1])
				self.assertTrue(must <= allow, "Allow %r lacks %r" % (allow, must))
				self.assertNotIn(method, allow)

	def test_unknown_paths(self):
		for path in ("/nope", "/users", "/users/", "/users/alice/nope",
			     "/users/alice/outbox/x", "/activities/not-a-uuid",
			     "/activities/00000000-0000-0000-0000-000000000000",
			     "/objects/00000000-0000-0000-0000-000000000000", "/objects/",
			     "/.well-known/nope", "/.well-known/", "/nodeinfo/2.0x",
			     "/" + "x" * 4000, "/users/alice/../bob", "/%2e%2e/etc/passwd",
			     "/users/alice/inbox/../../actor/x",
			     # an encoded slash is data, not a path separator
			     "/users/alice%2Foutbox", "/users/alice%2finbox"):
			with self.subTest(path=path[:60]):
				r = self.srv.req("GET", path, headers={"Accept": AP_TYPE})
				self.assertIn(r[0], (400, 404, 414), r[2][:200])
				self.assertErrorBody(*r)

	def test_error_json_has_right_content_type(self):
		st, hd, body = self.srv.req("GET", "/nope")
		self.assertEqual(st, 404)
		self.assertEqual(hd.get("content-type", "").split(";")[0], "application/json")
		doc = parse_json(body)
		self.assertEqual(set(doc) >= {"error", "detail"}, True)

	def test_s2s_inbox_refused(self):
		act = {"@context": "https://www.w3.org/ns/activitystreams",
		       "id": "https://remote.test/activities/1", "type": "Create",
		       "actor": "https://remote.test/users/mallory", "to": [AS_PUBLIC],
		       "object": note("s2s", id="https://remote.test/objects/1",
				      attributedTo="https://remote.test/users/mallory")}
		for path in ("/users/alice/inbox", "/inbox", "/actor/inbox"):
			for tok in (None, self.tok["alice"]):
				with self.subTest(path=path, token=bool(tok)):
					st, hd, body = self.srv.req(
						"POST", path, body=json.dumps(act), token=tok,
						headers={"Content-Type": AP_TYPE})
					if path == "/actor/inbox" and st == 404:
						continue
					# issue 2 answered every S2S POST this way; with
					# federation, an unsigned one still gets it
					doc = self.assertRefused((st, hd, body), 401)
					self.assertEqual(doc["error"], "unauthorized")
		# a signature-looking header does not get anything through either
		st, hd, body = self.srv.req(
			"POST", "/users/alice/inbox", body=json.dumps(act),
			headers={"Content-Type": AP_TYPE,
				 "Signature": 'keyId="https://remote.test/users/mallory#main-key",'
					      'headers="(request-target) host date digest",'
					      'signature="AAAA"',
				 "Date": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())})
		self.assertRefused((st, hd, body), 401)
		# nothing stored
		st, hd, coll = self.srv.get("/users/alice/inbox", token=self.tok["alice"])
		self.assertEqual(st, 200)
		self.assertEqual(coll["totalItems"], 0)
		st, hd, body = self.srv.req("GET", "/objects/1")
		self.assertEqual(st, 404)

	def test_errors_are_json_everywhere(self):
		"""A sample of refusals from every area: all JSON error bodies."""
		reqs = [("GET", "/.well-known/webfinger", None, None, {}),
			("GET", "/users/nobody", None, None, {}),
			("GET", "/users/alice", None, None, {"Accept": "image/png"}),
			("POST", "/users/alice/outbox", None, b"{}", {"Content-Type": AP_TYPE}),
			("POST", "/users/alice/outbox", self.tok["bob"], b"{}",
			 {"Content-Type": AP_TYPE}),
			("POST", "/users/alice/outbox", self.tok["alice"], b"{",
			 {"Content-Type": AP_TYPE}),
			("POST", "/users/alice/outbox", self.tok["alice"], b"{}",
			 {"Content-Type": "text/plain"}),
			("GET", "/users/alice/inbox", self.tok["bob"], None, {})]
		for method, path, tok, body, h in reqs:
			with self.subTest(method=method, path=path):
				st, hd, b = self.srv.req(method, path, token=tok, body=body, headers=h)
				self.assertGreaterEqual(st, 400)
				self.assertLess(st, 500)
				self.assertErrorBody(st, hd, b)

	def test_bad_http(self):
		"""Garbage on the wire: a 4xx or a closed connection, never a crash."""
		for raw in (b"GARBAGE\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
			    b"GET /users/alice HTTP/1.1\r\nHost: x\r\n" + b"X: " + b"a" * 70000
			    + b"\r\n\r\n",
			    b"GET /users/alice HTTP/1.1\r\nHost: x\r\n" +
			    b"".join(b"X-%d: y\r\n" % i for i in range(3000)) + b"\r\n",
			    b"POST /users/alice/outbox HTTP/1.1\r\nHost: x\r\n"
			    b"Content-Length: -5\r\n\r\n",
			    b"POST /users/alice/outbox HTTP/1.1\r\nHost: x\r\n"
			    b"Content-Length: 5\r\nContent-Length: 7\r\n\r\n{}{}{}{",
			    b"POST /users/alice/outbox HTTP/1.1\r\nHost: x\r\n"
			    b"Transfer-Encoding: chunked\r\n\r\nzz\r\n"):
			with self.subTest(raw=raw[:40]):
				out = raw_exchange(self.srv.url, raw, timeout=5)
				st = parse_raw_status(out)
				self.assertTrue(st == 0 or 400 <= st < 500 or
						(st == 505 and b"HTTP/9.9" in raw), out[:200])
		self.assertTrue(self.srv.running())
		st, hd, doc = self.srv.get("/users/alice")
		self.assertEqual(st, 200)

	def test_idle_connections_do_not_starve(self):
		"""64 idle TCP connections and 16 SSE streams: requests still answer."""
		from aimtest import SSEClient
		idle, streams = [], []
		try:
			for _ in range(64):
				idle.append(socket.create_connection(("127.0.0.1", self.srv.port), 5))
			for _ in range(16):
				streams.append(SSEClient(self.srv.url + "/users/bob/inbox",
							 token=self.tok["bob"]))
			self.assertTrue(all(c.status == 200 for c in streams))
			t0 = time.monotonic()
			for _ in range(5):
				st, hd, doc = self.srv.get("/users/alice")
				self.assertEqual(st, 200)
			took = time.monotonic() - t0
			self.assertLess(took, 5, "5 requests took %.1f s" % took)
		finally:
			for s in idle:
				s.close()
			for c in streams:
				c.close()

	def test_zz_access_log(self):
		"""(runs last) one line per request with method, path and status;
		tokens never logged."""
		marker = "/zz-access-log-probe-%d" % int(time.time() * 1000)
		st, hd, body = self.srv.req("GET", marker, token=self.tok["alice"])
		self.assertEqual(st, 404)
		st, hd, doc = self.srv.get("/users/alice")
		self.assertEqual(st, 200)
		def alice_after_marker(log):
			"""the GET /users/alice 200 logged after the probe's line"""
			rest = log.split(marker, 1)[1] if marker in log else ""
			return [l for l in rest.splitlines()[1:] if "/users/alice" in l and
				re.search(r"\bstatus=\"?200", l) and "GET" in l]
		deadline = time.monotonic() + 5
		lines = []
		while time.monotonic() < deadline:
			log = self.srv.log_current()
			lines = [l for l in log.splitlines() if marker in l]
			if lines and alice_after_marker(log):
				break
			time.sleep(0.1)
		self.assertEqual(len(lines), 1, "access log lines for %s: %r" % (marker, lines))
		line = lines[0]
		self.assertIn("GET", line)
		self.assertRegex(line, r"(^|[\s=\"])404($|[\s\"])")
		self.assertRegex(line, r"\bmethod=\"?GET")
		self.assertRegex(line, r"\bstatus=\"?404")
		self.assertRegex(line, r"\bpath=\"?" + re.escape(marker))
		# the issue also asks for bytes, duration and remote address
		m = re.search(r"\bbytes=(\d+)", line)
		self.assertIsNotNone(m, line)
		self.assertEqual(int(m.group(1)), len(body))
		self.assertRegex(line, r"\b(duration_ms|ms|duration)=\d+")
		self.assertRegex(line, r"\bremote=\"?127\.0\.0\.1")
		self.assertTrue(alice_after_marker(log),
				"no access log line for GET /users/alice 200")
		for name, tok in self.tok.items():
			self.assertNotIn(tok, log, "token of %s in the log" % name)
		self.assertNotIn("PRIVATE KEY", log)


class RateLimitTest(AimTestCase):
	"""A burst on the client API and repeated bad tokens give 429 with
	Retry-After. Own server: the limiter state must not leak into others."""

	def setUp(self):
		self.srv = Server(domain="rate.test")
		self.addCleanup(self.srv.cleanup)
		self.tok = self.srv.add_user("alice")
		self.srv.start()

	def burst(self, send, limit):
		for i in range(limit):
			st, hd, body = send()
			self.assertLess(st, 500)
			if st == 429:
				return i, hd, body
		return None, None, None

	def check_429(self, hd, body):
		self.assertErrorBody(429, hd, body)
		self.assertIn("retry-after", hd)
		self.assertRegex(hd["retry-after"].strip(), r"^\d+$")
		self.assertGreaterEqual(int(hd["retry-after"]), 1)

	def test_bad_token_burst(self):
		n, hd, body = self.burst(lambda: self.srv.req(
			"GET", "/users/alice/inbox", token="bad-%d" % time.monotonic_ns()), 300)
		self.assertIsNotNone(n, "300 bad tokens in a row, never a 429")
		print("429 after %d bad tokens" % n)
		self.check_429(hd, body)
		# the good token is also held back from this address for a while
		st, hd, body = self.srv.req("GET", "/users/alice/inbox", token=self.tok)
		self.assertIn(st, (200, 429))
		# public, unauthenticated documents stay reachable
		st, hd, doc = self.srv.get("/users/alice")
		self.assertIn(st, (200, 429))

	def test_client_api_burst(self):
		"""4 clients from one address post as fast as they can (so that a
		slow sanitizer build still outruns the refill)."""
		import threading
		body = json.dumps(note("burst"))
		t0 = time.monotonic()
		found, errors, count = [], [], [0]
		lock = threading.Lock()

		def client():
			while not found and count[0] < 3000:
				st, hd, resp = self.srv.req("POST", "/users/alice/outbox",
							    token=self.tok, body=body,
							    headers={"Content-Type": AP_TYPE})
				with lock:
					count[0] += 1
					if st >= 500:
						errors.append(st)
					if st == 429 and not found:
						found.append((count[0], hd, resp))
		threads = [threading.Thread(target=client) for _ in range(4)]
		for t in threads:
			t.start()
		for t in threads:
			t.join(120)
		self.assertEqual(errors, [])
		self.assertTrue(found, "%d posts from one address, never a 429" % count[0])
		n, hd, resp = found[0]
		print("429 after %d posts in %.1f s" % (n, time.monotonic() - t0))
		self.check_429(hd, resp)
		# after waiting Retry-After, posting works again
		time.sleep(min(10, int(hd["retry-after"])) + 0.2)
		st, hd, a = self.srv.post("/users/alice/outbox", note("after"), token=self.tok,
					  retry_429=False)
		self.assertEqual(st, 201, a)


if __name__ == "__main__":
	unittest.main(verbosity=2)
