"""HTTPS: aimd serves with a certificate from a test CA; clients that trust
the CA get WebFinger, actors, posts and SSE; clients that do not are refused."""

import http.client
import json
import os
import shutil
import socket
import ssl
import tempfile
import time
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from aimtest import (AP_TYPE, AimTestCase, Federation, SSEClient, Server, get_json,
		     make_ca, make_cert, note, parse_raw_status, request, reserve_port)


class HttpsTest(AimTestCase):
	@classmethod
	def setUpClass(cls):
		port, res = reserve_port()
		cls.certdir = tempfile.mkdtemp(prefix="aimtest-ca-")
		cls.addClassCleanup(shutil.rmtree, cls.certdir, ignore_errors=True)
		cls.ca = make_ca(cls.certdir)
		cert, key = make_cert(cls.ca, cls.certdir, "a.test")
		cls.srv = cls.server(domain="a.test", port=port, url="https://a.test:%d" % port,
				 tls=(cert, key), ca=cls.ca, reservation=res)
		cls.tok = {n: cls.srv.add_user(n) for n in ("alice", "bob")}
		cls.srv.start()

	def wf_url(self, host="a.test"):
		return "https://%s:%d/.well-known/webfinger?resource=acct:alice@a.test" % (
			host, self.srv.port)

	def test_webfinger_trusted(self):
		st, hd, doc = get_json(self.wf_url(), accept="application/jrd+json",
				       ctx=self.ca.ssl_context())
		self.assertEqual(st, 200)
		self.assertEqual(doc["subject"], "acct:alice@a.test")
		href = [l["href"] for l in doc["links"] if l["rel"] == "self"][0]
		self.assertEqual(href, "https://a.test:%d/users/alice" % self.srv.port)
		# through the IP address too (the certificate has IP:127.0.0.1)
		st, hd, doc = get_json(self.wf_url("127.0.0.1"), ctx=self.ca.ssl_context())
		self.assertEqual(st, 200)

	def test_webfinger_untrusted(self):
		with self.assertRaises(ssl.SSLCertVerificationError):
			get_json(self.wf_url())
		empty = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)	# trusts nothing
		with self.assertRaises(ssl.SSLCertVerificationError):
			get_json(self.wf_url(), ctx=empty)
		# trusted CA, but the certificate is not for this name
		with self.assertRaises(ssl.SSLCertVerificationError):
			get_json(self.wf_url("b.test"), ctx=self.ca.ssl_context())

	def test_ready_line(self):
		line = "aimd: listening on https://127.0.0.1:%d" % self.srv.port
		self.assertTrue(self.srv.wait_log(line), self.srv.log_current())

	def test_plain_http_on_tls_port(self):
		try:
			st, hd, body = request("GET", "http://127.0.0.1:%d/.well-known/nodeinfo"
					       % self.srv.port, timeout=5)
		except (OSError, http.client.HTTPException):
			st = None
		self.assertNotEqual(st, 200)
		self.assertTrue(self.srv.running())
		st, hd, doc = self.srv.get("/.well-known/nodeinfo")
		self.assertEqual(st, 200)

	def test_client_api_and_sse_over_https(self):
		ctx = self.ca.ssl_context()
		st, hd, actor = self.srv.get("/users/bob")
		self.assertEqual(st, 200)
		self.assertTrue(actor["id"].startswith("https://a.test:"))
		c = SSEClient(actor["inbox"], token=self.tok["bob"], ctx=ctx)
		try:
			self.assertEqual(c.status, 200)
			st, hd, act = self.srv.post("/users/alice/outbox",
						    note("over tls", to=[actor["id"]]),
						    token=self.tok["alice"])
			self.assertEqual(st, 201, act)
			self.assertTrue(hd["location"].startswith("https://a.test:"))
			deadline = time.monotonic() + 5
			got = None
			while time.monotonic() < deadline and got is None:
				ev = c.next_event(deadline - time.monotonic())
				if ev is None:
					break
				if ev.get("event") == "activity":
					got = json.loads(ev["data"])
			self.assertIsNotNone(got, "no SSE event over TLS")
			self.assertEqual(got["id"], act["id"])
		finally:
			c.close()


class FederationHarnessTest(AimTestCase):
	"""Two HTTPS servers from aimtest.Federation, one CA, distinct names."""

	def test_two_servers(self):
		fed = Federation(names=("a.test", "b.test"))
		try:
			fed["a.test"].add_user("alice")
			fed["b.test"].add_user("bob")
			fed.start()
			ctx = fed.ca.ssl_context()
			for name, user in (("a.test", "alice"), ("b.test", "bob")):
				srv = fed[name]
				st, hd, doc = get_json("%s/.well-known/webfinger?resource=acct:%s@%s"
						       % (srv.url, user, name), ctx=ctx)
				self.assertEqual(st, 200)
				self.assertEqual(doc["links"][0]["href"],
						 "https://%s:%d/users/%s" % (name, srv.port, user))
			# b's certificate does not fit a's name
			a, b = fed["a.test"], fed["b.test"]
			with self.assertRaises(ssl.SSLCertVerificationError):
				get_json("https://a.test:%d/.well-known/nodeinfo" % b.port, ctx=ctx)
			self.assertEqual(len(fed.connect_to()), 2)
			fed.stop()
		finally:
			fed.cleanup()


if __name__ == "__main__":
	unittest.main(verbosity=2)
