"""Actors: every property of the contract, the RSA-2048 publicKeyPem (checked
with the openssl command line), the Ed25519 Multikey, the instance actor,
content negotiation, 404s, and no private key material anywhere."""

import os
import shutil
import subprocess
import tempfile
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from aimtest import (AP_TYPE, LD_TYPE, AimTestCase, Server, note, parse_json)

AS_CTX = "https://www.w3.org/ns/activitystreams"
SEC_CTX = "https://w3id.org/security/v1"
MK_CTXS = ("https://w3id.org/security/data-integrity/v1",
	   "https://w3id.org/security/multikey/v1")
MLS_CTX = "https://purl.archive.org/socialweb/mls"

B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

ACCEPT_OK = [None, AP_TYPE, LD_TYPE, "application/json", "*/*",
	     "text/html, application/activity+json;q=0.9",
	     "application/activity+json; charset=utf-8",
	     'application/ld+json;profile="https://www.w3.org/ns/activitystreams"',
	     "APPLICATION/ACTIVITY+JSON", "application/*", "text/html;q=0.9, */*;q=0.1"]
ACCEPT_406 = ["text/html", "image/png", "text/html, image/png",
	      "text/html;q=1.0, text/plain;q=0.5", "text/event-stream",
	      # RFC 9110 12.4.2: q=0 means "not acceptable"
	      "application/activity+json;q=0", "application/activity+json;q=0, text/html",
	      "*/*;q=0",
	      # no prefix matching
	      "application/jsonx", "application/activity+jsonx"]


def b58decode(s):
	n = 0
	for ch in s:
		i = B58.index(ch)	# ValueError on a bad character
		n = n * 58 + i
	body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
	pad = len(s) - len(s.lstrip("1"))
	return b"\x00" * pad + body


def contexts(doc):
	ctx = doc.get("@context")
	if isinstance(ctx, str):
		return [ctx]
	return [c for c in ctx if isinstance(c, str)]


class ActorTest(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.srv = cls.server(domain="actor.test")
		cls.alice_tok = cls.srv.add_user("alice")
		cls.srv.add_user("bob")
		cls.srv.start()
		cls.tmp = tempfile.mkdtemp(prefix="aimtest-actor-")
		cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)


	def actor(self, path):
		st, hd, doc = self.srv.get(path)
		self.assertEqual(st, 200, doc)
		self.assertEqual(hd.get("content-type", "").split(";")[0].strip(), AP_TYPE)
		return doc

	def check_keys(self, doc):
		aid = doc["id"]
		pk = doc["publicKey"]
		self.assertEqual(pk["id"], aid + "#main-key")
		self.assertEqual(pk["owner"], aid)
		pem = pk["publicKeyPem"]
		self.assertIn("-----BEGIN PUBLIC KEY-----", pem)
		self.assertNotIn("PRIVATE", pem)
		path = os.path.join(self.tmp, "k.pem")
		with open(path, "w") as f:
			f.write(pem)
		r = subprocess.run(["openssl", "pkey", "-pubin", "-in", path, "-text",
				    "-noout"], stdout=subprocess.PIPE,
				   stderr=subprocess.PIPE, text=True)
		self.assertEqual(r.returncode, 0, r.stderr)
		self.assertIn("Public-Key: (2048 bit)", r.stdout)
		self.assertIn("Modulus:", r.stdout)
		self.assertIn("Exponent: 65537", r.stdout)

		am = doc["assertionMethod"]
		self.assertIsInstance(am, list)
		mk = [m for m in am if isinstance(m, dict) and m.get("type") == "Multikey"]
		self.assertEqual(len(mk), 1, am)
		mk = mk[0]
		self.assertEqual(mk["id"], aid + "#ed25519-key")
		self.assertEqual(mk["controller"], aid)
		mb = mk["publicKeyMultibase"]
		self.assertTrue(mb.startswith("z"), mb)
		raw = b58decode(mb[1:])
		self.assertEqual(len(raw), 34)
		self.assertEqual(raw[:2], b"\xed\x01")
		# the 32 bytes load as an Ed25519 public key
		der = bytes.fromhex("302a300506032b6570032100") + raw[2:]
		dpath = os.path.join(self.tmp, "ed.der")
		with open(dpath, "wb") as f:
			f.write(der)
		r = subprocess.run(["openssl", "pkey", "-pubin", "-inform", "DER", "-in",
				    dpath, "-text", "-noout"], stdout=subprocess.PIPE,
				   stderr=subprocess.PIPE, text=True)
		self.assertEqual(r.returncode, 0, r.stderr)
		self.assertIn("ED25519", r.stdout.upper())
		return pem, mb

	def test_person(self):
		base = self.srv.url
		aid = base + "/users/alice"
		doc = self.actor("/users/alice")
		ctx = contexts(doc)
		self.assertEqual(ctx[0], AS_CTX)
		self.assertIn(SEC_CTX, ctx)
		self.assertTrue(any(c in ctx for c in MK_CTXS), ctx)
		self.assertIn(MLS_CTX, ctx)
		self.assertEqual(doc["id"], aid)
		self.assertEqual(doc["type"], "Person")
		self.assertEqual(doc["preferredUsername"], "alice")
		self.assertEqual(doc["inbox"], aid + "/inbox")
		self.assertEqual(doc["outbox"], aid + "/outbox")
		self.assertEqual(doc["followers"], aid + "/followers")
		self.assertEqual(doc["following"], aid + "/following")
		self.assertEqual(doc["keyPackages"], aid + "/keyPackages")
		self.assertEqual(doc["endpoints"]["sharedInbox"], base + "/inbox")
		self.check_keys(doc)

	def test_keys_are_per_user_and_stable(self):
		a1 = self.check_keys(self.actor("/users/alice"))
		b = self.check_keys(self.actor("/users/bob"))
		a2 = self.check_keys(self.actor("/users/alice"))
		self.assertEqual(a1, a2)
		self.assertNotEqual(a1[0], b[0])
		self.assertNotEqual(a1[1], b[1])

	def test_instance_actor(self):
		base = self.srv.url
		doc = self.actor("/actor")
		self.assertEqual(doc["id"], base + "/actor")
		self.assertEqual(doc["type"], "Application")
		self.assertEqual(doc["preferredUsername"], "actor.test")
		self.assertIsInstance(doc["inbox"], str)
		self.assertIsInstance(doc["outbox"], str)
		self.assertTrue(doc["inbox"].startswith(base + "/"))
		self.assertTrue(doc["outbox"].startswith(base + "/"))
		self.assertNotIn("/users/", doc["inbox"])
		self.assertIn(MLS_CTX, contexts(doc))
		self.check_keys(doc)
		user = self.check_keys(self.actor("/users/alice"))
		inst = self.check_keys(doc)
		self.assertNotEqual(user, inst)
		st, hd, ob = self.srv.get(doc["outbox"])
		self.assertEqual(st, 200)
		self.assertEqual(ob["type"], "OrderedCollection")

	def test_negotiation_ok(self):
		st, hd, act = self.srv.post("/users/alice/outbox", note("conneg"),
					    token=self.alice_tok)
		self.assertEqual(st, 201, act)
		paths = ["/users/alice", "/actor", "/users/alice/outbox",
			 "/users/alice/followers", act["id"], act["object"]["id"]]
		for path in paths:
			for acc in ACCEPT_OK:
				with self.subTest(path=path, accept=acc):
					h = {"Accept": acc} if acc else {}
					st, hd, body = self.srv.req("GET", path, headers=h)
					self.assertEqual(st, 200, body[:200])
					ct = hd.get("content-type", "").split(";")[0].strip()
					self.assertEqual(ct, AP_TYPE)
					parse_json(body)
			for acc in ACCEPT_406:
				with self.subTest(path=path, accept=acc):
					self.assertRefused(self.srv.req("GET", path,
									headers={"Accept": acc}), 406)

	def test_unknown_actor(self):
		st, hd, body = self.srv.req("GET", "/users/alice%00")
		self.assertIn(st, (400, 404))
		self.assertErrorBody(st, hd, body)
		for path in ("/users/nobody", "/users/Alice",
			     "/users/alice.", "/users/", "/users/nobody/outbox",
			     "/users/nobody/inbox", "/users/nobody/followers",
			     "/users/" + "a" * 300):
			with self.subTest(path=path):
				self.assertRefused(self.srv.req("GET", path,
								headers={"Accept": AP_TYPE}), 404)

	def test_no_private_key_material(self):
		paths = ["/users/alice", "/users/bob", "/actor",
			 "/.well-known/webfinger?resource=acct:alice@actor.test",
			 "/.well-known/nodeinfo", "/nodeinfo/2.1", "/.well-known/host-meta",
			 "/users/alice/outbox", "/users/alice/outbox?page=true",
			 "/users/alice/followers", "/users/alice/following",
			 "/users/alice/keyPackages", "/users/nobody"]
		for path in paths:
			for tok in (None, self.alice_tok):
				st, hd, body = self.srv.req("GET", path, token=tok,
							    headers={"Accept": AP_TYPE})
				self.assertLess(st, 500)
				for bad in (b"PRIVATE KEY", b"privateKey", b"privateKeyPem",
					    b"secretKey", b"privateKeyMultibase"):
					self.assertNotIn(bad, body, path)
		st, hd, body = self.srv.req("GET", "/users/alice/inbox",
					    token=self.alice_tok)
		self.assertNotIn(b"PRIVATE", body)
		self.assertNotIn("PRIVATE KEY", self.srv.log_current())


if __name__ == "__main__":
	unittest.main(verbosity=2)
