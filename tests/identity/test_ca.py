"""The domain's certificate authority (issue 10, Credentials 1 and 3) and
the clients' proxy: the CA document at /.well-known/aim-ca, its links from
the instance actor and from every user's WebFinger JRD, aim's JSON-LD
context at /ns, `aimd init --ca-key`, `aimd ca rotate` (a new CA issues,
the old certificate stays published and its leaves stay valid), the CA made
for a data directory from before the CA existed (the migration), and
POST /proxy (another aimd's CA document fetched through the home server
over the TLS federation, refusals: no token, loopback/private addresses,
other content types, remote failures)."""

import base64
import json
import os
import socket
import sqlite3
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fedtest
from aimtest import AP_TYPE, AimTestCase, Federation, Server, run_aimd
from test_devices import Key, b64, cert_pubkey, cert_text, openssl, verify_chain

JSON = "application/json"
NS = "https://aim.invalid/ns#"
REL_CA = NS + "certificateAuthority"


def ca_doc(srv):
	st, hd, body = srv.req("GET", "/.well-known/aim-ca")
	assert st == 200, (st, body)
	return hd, json.loads(body)


def ca_certs(srv):
	return [base64.b64decode(c) for c in ca_doc(srv)[1]["certificates"]]


def register(srv, user, token, device, csr):
	st, hd, body = srv.req("POST", "/users/%s/devices" % user,
			       body=json.dumps({"device": device, "csr": b64(csr)}), token=token,
			       headers={"Content-Type": JSON})
	assert st == 201, (st, body)
	return base64.b64decode(json.loads(body)["certificate"])


class CaDocumentTest(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.srv = cls.server(domain="ca.test")
		cls.tok = cls.srv.add_user("alice")
		cls.srv.start()
		cls.tmp = tempfile.mkdtemp(prefix="aimtest-ca-")

	def test_document(self):
		hd, doc = ca_doc(self.srv)
		self.assertEqual(hd["content-type"].split(";")[0], JSON)
		self.assertEqual(hd.get("access-control-allow-origin"), "*")
		self.assertEqual(doc["domain"], "ca.test")
		self.assertEqual(len(doc["certificates"]), 1)
		der = base64.b64decode(doc["certificates"][0])
		text = cert_text(der)
		self.assertIn("CA:TRUE", text)
		self.assertIn("Certificate Sign", text)
		self.assertIn("ED25519", text)
		self.assertIn("ca.test", text)
		# no token needed; HEAD works too
		st, _, _ = self.srv.req("HEAD", "/.well-known/aim-ca")
		self.assertEqual(st, 200)

	def test_instance_actor_links(self):
		st, hd, body = self.srv.req("GET", "/actor", headers={"Accept": AP_TYPE})
		self.assertEqual(st, 200)
		actor = json.loads(body)
		self.assertEqual(actor["certificateAuthority"], self.srv.base + "/.well-known/aim-ca")
		self.assertIn(self.srv.base + "/ns", actor["@context"])
		# and the users' actors: the CA too, and the proxy endpoint
		st, hd, body = self.srv.req("GET", "/users/alice", headers={"Accept": AP_TYPE})
		user = json.loads(body)
		self.assertEqual(user["certificateAuthority"], self.srv.base + "/.well-known/aim-ca")
		self.assertEqual(user["endpoints"]["proxyUrl"], self.srv.base + "/proxy")
		self.assertIn(self.srv.base + "/ns", user["@context"])
		self.assertNotIn("proxyUrl", actor["endpoints"])

	def test_context(self):
		st, hd, body = self.srv.req("GET", "/ns")
		self.assertEqual(st, 200)
		self.assertEqual(hd["content-type"].split(";")[0], "application/ld+json")
		ctx = json.loads(body)["@context"]
		self.assertEqual(ctx["aim"], NS)
		self.assertEqual(ctx["certificateAuthority"]["@id"], "aim:certificateAuthority")
		self.assertEqual(ctx["certificateAuthority"]["@type"], "@id")
		self.assertEqual(ctx["KeyPackageClaim"], "aim:KeyPackageClaim")
		self.assertEqual(ctx["lastResort"]["@id"], "aim:lastResort")

	def test_webfinger_link(self):
		want = {"rel": REL_CA, "type": JSON, "href": self.srv.base + "/.well-known/aim-ca"}
		st, hd, body = self.srv.req(
			"GET", "/.well-known/webfinger?resource=acct:alice@ca.test")
		self.assertEqual(st, 200, body)
		links = json.loads(body)["links"]
		self.assertIn(want, links)
		self.assertIn("self", [l["rel"] for l in links])
		# rel filters (RFC 7033 4.3)
		q = urllib.parse.quote(REL_CA, safe="")
		st, hd, body = self.srv.req(
			"GET", "/.well-known/webfinger?resource=acct:alice@ca.test&rel=" + q)
		self.assertEqual(json.loads(body)["links"], [want])
		st, hd, body = self.srv.req(
			"GET", "/.well-known/webfinger?resource=acct:alice@ca.test&rel=self")
		self.assertEqual([l["rel"] for l in json.loads(body)["links"]], ["self"])
		# the instance actor's JRD too
		st, hd, body = self.srv.req(
			"GET", "/.well-known/webfinger?resource=acct:ca.test@ca.test")
		self.assertIn(want, json.loads(body)["links"])


class RotationTest(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.srv = cls.server(domain="rot.test")
		cls.tok = cls.srv.add_user("alice")
		cls.srv.start()
		cls.tmp = tempfile.mkdtemp(prefix="aimtest-rot-")

	def test_rotate(self):
		old_ca = ca_certs(self.srv)
		self.assertEqual(len(old_ca), 1)
		old_leaf = register(self.srv, "alice", self.tok, "before", Key(self.tmp).csr())
		ok, out = verify_chain(self.tmp, old_leaf, old_ca)
		self.assertTrue(ok, out)
		# rotate while aimd serve runs, to a P-256 CA
		r = run_aimd("ca", "rotate", "--data", self.srv.data, "--ca-key", "p256")
		self.assertEqual(r.returncode, 0, r.stderr)
		self.assertIn("new CA 2", r.stdout)
		certs = ca_certs(self.srv)
		self.assertEqual(len(certs), 2)
		self.assertEqual(certs[1], old_ca[0], "the old certificate stays published, after the new")
		self.assertIn("id-ecPublicKey", cert_text(certs[0]))
		self.assertIn("P-256", cert_text(certs[0]))
		key = os.path.join(self.srv.data, "ca", "ca-2.key")
		self.assertEqual(os.stat(key).st_mode & 0o777, 0o600)
		# the new CA issues; the old leaf stays valid
		new_leaf = register(self.srv, "alice", self.tok, "after", Key(self.tmp).csr())
		ok, out = verify_chain(self.tmp, new_leaf, [certs[0]])
		self.assertTrue(ok, out)
		ok, out = verify_chain(self.tmp, new_leaf, [certs[1]])
		self.assertFalse(ok, "issued by the new CA only")
		ok, out = verify_chain(self.tmp, old_leaf, certs)
		self.assertTrue(ok, out)
		# and again (ed25519, the default), after a restart
		self.srv.stop()
		r = run_aimd("ca", "rotate", "--data", self.srv.data)
		self.assertEqual(r.returncode, 0, r.stderr)
		self.srv.start()
		certs = ca_certs(self.srv)
		self.assertEqual(len(certs), 3)
		self.assertIn("ED25519", cert_text(certs[0]))
		leaf = register(self.srv, "alice", self.tok, "third", Key(self.tmp).csr())
		ok, out = verify_chain(self.tmp, leaf, [certs[0]])
		self.assertTrue(ok, out)

	def test_rotate_usage(self):
		for args in (("ca",), ("ca", "rotate"), ("ca", "spin", "--data", self.srv.data),
			     ("ca", "rotate", "--data", self.srv.data, "--ca-key", "rsa")):
			r = run_aimd(*args)
			self.assertEqual(r.returncode, 2, (args, r.stderr))
		r = run_aimd("ca", "rotate", "--data", os.path.join(self.tmp, "nothing"))
		self.assertEqual(r.returncode, 1, r.stderr)
		r = run_aimd("ca", "--help")
		self.assertEqual(r.returncode, 0)
		self.assertIn("rotate", r.stdout)
		for cmd, word in (("init", "--ca-key"), ("serve", "--cert-days")):
			r = run_aimd(cmd, "--help")
			self.assertIn(word, r.stdout)


class InitCaKeyTest(AimTestCase):
	def test_p256_and_bad(self):
		srv = self.server(domain="p.test", init_args=["--ca-key", "p256"])
		tok = srv.add_user("alice")
		srv.start()
		certs = ca_certs(srv)
		self.assertIn("P-256", cert_text(certs[0]))
		tmp = tempfile.mkdtemp(prefix="aimtest-p256-")
		leaf = register(srv, "alice", tok, "d", Key(tmp).csr())
		ok, out = verify_chain(tmp, leaf, certs)
		self.assertTrue(ok, out)
		r = run_aimd("init", "--data", os.path.join(tmp, "x"), "--domain", "x.test",
			     "--ca-key", "rsa")
		self.assertEqual(r.returncode, 2, r.stderr)
		self.assertFalse(os.path.exists(os.path.join(tmp, "x", "aim.db")))


class MigrationTest(AimTestCase):
	"""A data directory from before the CA (no CA certificate, no ca/ folder)
	gets its CA at the next aimd serve; its users and tokens keep working.
	The schema is left as it is: rolling it back by hand would have to undo
	every later migration too (the migrations themselves are the store
	tests' business)."""

	def test_old_data_dir(self):
		srv = self.server(domain="old.test")
		tok = srv.add_user("alice")
		# make it what an older aimd left behind
		db = sqlite3.connect(os.path.join(srv.data, "aim.db"))
		db.executescript("DELETE FROM ca_certs;")
		db.commit()
		db.close()
		for f in os.listdir(os.path.join(srv.data, "ca")):
			os.unlink(os.path.join(srv.data, "ca", f))
		os.rmdir(os.path.join(srv.data, "ca"))
		srv.start()
		self.assertTrue(srv.wait_log("had no CA"), srv.log_current())
		certs = ca_certs(srv)
		self.assertEqual(len(certs), 1)
		keys = os.listdir(os.path.join(srv.data, "ca"))
		self.assertEqual(len(keys), 1, keys)
		self.assertEqual(os.stat(os.path.join(srv.data, "ca", keys[0])).st_mode & 0o777,
				 0o600)
		tmp = tempfile.mkdtemp(prefix="aimtest-mig-")
		leaf = register(srv, "alice", tok, "d", Key(tmp).csr())
		ok, out = verify_chain(tmp, leaf, certs)
		self.assertTrue(ok, out)
		# a restart keeps that CA
		srv.restart()
		self.assertEqual(ca_certs(srv), certs)
		self.assertFalse("had no CA" in srv.log_current())


class ProxyTest(AimTestCase):
	"""alice@a.test fetches b.test's CA document through a.test (TLS
	federation)."""

	@classmethod
	def setUpClass(cls):
		cls.fed = Federation(names=("a.test", "b.test"))
		cls.addClassCleanup(cls.fed.cleanup)
		cls.a, cls.b = cls.fed["a.test"], cls.fed["b.test"]
		cls.alice = cls.a.add_user("alice")
		cls.bob_tok = cls.b.add_user("bob")
		cls.fed.start(extra_args=lambda srv: fedtest.serve_args(cls.fed))

	def proxy(self, url, token=None, form=True):
		token = self.alice if token is None else token
		if form:
			body, ct = "id=" + urllib.parse.quote(url, safe=""), \
				"application/x-www-form-urlencoded"
		else:
			body, ct = json.dumps({"id": url}), JSON
		return self.a.req("POST", "/proxy", body=body, token=token or None,
				  headers={"Content-Type": ct})

	def test_ca_document_of_another_domain(self):
		url = self.b.base + "/.well-known/aim-ca"
		for form in (True, False):
			st, hd, body = self.proxy(url, form=form)
			self.assertEqual(st, 200, body)
			self.assertEqual(hd["content-type"].split(";")[0], JSON)
			doc = json.loads(body)
			self.assertEqual(doc["domain"], "b.test")
			self.assertEqual(doc, ca_doc(self.b)[1])
			self.assertNotEqual(doc, ca_doc(self.a)[1])

	def test_actor_of_another_domain(self):
		st, hd, body = self.proxy(self.b.actor("bob"))
		self.assertEqual(st, 200, body)
		self.assertEqual(hd["content-type"].split(";")[0], AP_TYPE)
		self.assertEqual(json.loads(body)["id"], self.b.actor("bob"))

	def test_webfinger_of_another_domain(self):
		url = self.b.base + "/.well-known/webfinger?resource=acct%3Abob%40b.test"
		st, hd, body = self.proxy(url)
		self.assertEqual(st, 200, body)
		self.assertEqual(hd["content-type"].split(";")[0], "application/jrd+json")
		links = json.loads(body)["links"]
		self.assertIn({"rel": REL_CA, "type": JSON, "href": self.b.base + "/.well-known/aim-ca"},
			      links)

	def test_timeout(self):
		"""A server that takes the connection and never answers: 504 once the
		outbound client's time is up (20 s)."""
		sock = socket.socket()
		sock.bind(("127.0.0.1", 0))
		sock.listen(4)
		held = []
		stop = threading.Event()

		def hold():
			while not stop.is_set():
				try:
					c, _ = sock.accept()
				except OSError:
					return
				held.append(c)

		th = threading.Thread(target=hold, daemon=True)
		th.start()
		try:
			t0 = time.monotonic()
			st, hd, body = self.proxy("http://127.0.0.1:%d/slow" % sock.getsockname()[1])
			self.assertRefused((st, hd, body), 504, "timeout")
			self.assertGreater(time.monotonic() - t0, 5)
			self.assertTrue(held, "the proxy connected")
		finally:
			stop.set()
			sock.close()
			for c in held:
				c.close()

	def test_own_urls(self):
		st, hd, body = self.proxy(self.a.base + "/.well-known/aim-ca")
		self.assertEqual(st, 200, body)
		self.assertEqual(json.loads(body), ca_doc(self.a)[1])

	def test_unauthenticated(self):
		url = self.b.base + "/.well-known/aim-ca"
		self.assertRefused(self.proxy(url, token=""), 401)
		self.assertRefused(self.proxy(url, token="not-a-token"), 401)
		# b's token is nothing to a.test
		self.assertRefused(self.proxy(url, token=self.bob_tok), 401)

	def test_refusals(self):
		# not JSON: the XML host-meta
		self.assertRefused(self.proxy(self.b.base + "/.well-known/host-meta"), 502,
				   "bad_content_type")
		# the remote's 404 passes through
		self.assertRefused(self.proxy(self.b.base + "/users/nobody"), 404)
		# a host that cannot be reached
		self.assertRefused(self.proxy("https://nowhere.invalid/x"), 502, "remote_failed")
		# not a URL, another scheme, no id
		for bad in ("not a url", "ftp://b.test/x", "file:///etc/passwd", ""):
			self.assertRefused(self.proxy(bad), 400)
		st, hd, body = self.a.req("POST", "/proxy", body="other=1", token=self.alice,
					  headers={"Content-Type": "application/x-www-form-urlencoded"})
		self.assertRefused((st, hd, body), 400)
		st, hd, body = self.a.req("POST", "/proxy", body="id=x", token=self.alice,
					  headers={"Content-Type": "text/plain"})
		self.assertRefused((st, hd, body), 415)
		self.assertRefused(self.a.req("GET", "/proxy", token=self.alice), 405)


class ProxySsrfTest(AimTestCase):
	"""Without --allow-private-addresses the proxy connects to no loopback or
	private address (threats.md A17): 403, and nothing connects."""

	@classmethod
	def setUpClass(cls):
		cls.srv = cls.server(domain="ssrf.test")
		cls.tok = cls.srv.add_user("alice")
		cls.srv.start()
		cls.listener = fedtest.Listener()
		cls.addClassCleanup(cls.listener.close)

	def proxy(self, url):
		return self.srv.req("POST", "/proxy", body="id=" + urllib.parse.quote(url, safe=""),
				    token=self.tok,
				    headers={"Content-Type": "application/x-www-form-urlencoded"})

	def test_loopback_refused(self):
		"""A17 through the proxy."""
		p = self.listener.port
		for url in ("http://127.0.0.1:%d/.well-known/aim-ca" % p,
			    "http://localhost:%d/x" % p, "http://[::1]:%d/x" % p,
			    "http://10.0.0.1:%d/x" % p, "http://169.254.169.254/latest/meta-data/",
			    "http://0.0.0.0:%d/x" % p):
			self.assertRefused(self.proxy(url), 403, "refused_address")
		self.assertEqual(self.listener.count, 0)

	def test_own_ca_document_is_local(self):
		"""The server's own CA document needs no connection (BASE is on
		loopback here, which the guard would refuse)."""
		st, hd, body = self.proxy(self.srv.base + "/.well-known/aim-ca")
		self.assertEqual(st, 200, body)
		self.assertEqual(json.loads(body)["domain"], "ssrf.test")
		st, hd, body = self.proxy(self.srv.base + "/ns")
		self.assertEqual(st, 200, body)
		self.assertIn("@context", json.loads(body))


if __name__ == "__main__":
	unittest.main(verbosity=2)
