"""threats.md sections A and B against a real aimd (b.test over HTTPS), one
test per item that applies to a black box. Requests come from actors of a
fake remote server (r.test, tests/common/fedtest.py) signed by independent
Python signers that can be told to get things wrong. Every refusal checks
the status and that nothing reached the owner's inbox (client API); the SSRF
items run against a second aimd (s.test) started WITHOUT
--allow-private-addresses and check that no connection was made to a
listener on the forbidden address.

Not here: A18 public-to-private redirects and A19 DNS rebinding need a
public address or a resolver hook (tests/federation/test_ssrf.c covers them
with the client's resolve option); B29 needs handle resolution by aimd; B32
is in test_inbound.py (per-host rate limits)."""

import json
import os
import socket
import sys
import time
import unittest
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import aimtest
import fedtest
from aimtest import AS_PUBLIC, AP_TYPE, AimTestCase, Federation
from fedtest import (AS_CTX, FakeRemote, Keys, Listener, inbox_items, sign_cavage,
		     sign_rfc9421, wait_for)


class Attacks(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.fed = Federation(names=("b.test", "s.test"))
		cls.addClassCleanup(cls.fed.cleanup)
		cls.remote = FakeRemote(cls.fed.ca, "r.test", directory=os.path.join(cls.fed.dir, "r"))
		cls.addClassCleanup(cls.remote.close)
		cls.mallory = cls.remote.add_actor("mallory")
		cls.eve = cls.remote.add_actor("eve", Keys(cls.remote.dir, "eve"))
		cls.b = cls.fed["b.test"]
		cls.s = cls.fed["s.test"]
		cls.tok = cls.b.add_user("bob")
		cls.b.add_user("bea")
		cls.s.add_user("sam")

		def args(srv):
			return fedtest.serve_args(cls.fed, cls.remote, allow_private=(srv is cls.b),
						  extra=["--retry-base-ms", "300"])
		cls.fed.start(extra_args=args)
		cls.bob = cls.b.actor("bob")
		cls.inbox = cls.bob + "/inbox"
		cls.shared = cls.b.base + "/inbox"

	# -- helpers ------------------------------------------------------------------
	def post(self, url, hdrs, body, srv=None):
		srv = srv or self.b
		if isinstance(body, (dict, list)):
			body = json.dumps(body).encode()
		return srv.req("POST", url, headers=hdrs, body=body)

	def create(self, actor=None, marker=None, to=None, **kw):
		actor = actor or self.mallory
		marker = marker or "m-" + aimtest.rand_text(16)
		return actor.create_note(marker, to=to or [self.bob], **kw), marker

	def stored(self, marker, user="bob", srv=None):
		return any(marker in json.dumps(it) for it in inbox_items(srv or self.b, user))

	def assertNothingStored(self, marker, user="bob", srv=None):
		self.assertFalse(self.stored(marker, user, srv), "%s was stored" % marker)

	def assertRefusedNothingStored(self, resp, status, marker, srv=None):
		st, hd, body = resp
		if isinstance(status, int):
			status = (status,)
		self.assertIn(st, status, "got %d: %r" % (st, body[:300]))
		self.assertLess(st, 500)
		self.assertNothingStored(marker, srv=srv)

	def cavage(self, act, url=None, actor=None, **kw):
		url = url or self.inbox
		h, b = sign_cavage(actor or self.mallory, "POST", url, act, **kw)
		return self.post(url, h, b)

	def rfc(self, act, url=None, actor=None, **kw):
		url = url or self.inbox
		h, b = sign_rfc9421(actor or self.mallory, "POST", url, act, **kw)
		return self.post(url, h, b)

	# -- positive controls (the refusals below must be for the stated reason) ---
	def test_00_valid_requests_accepted(self):
		for name, send in (("cavage", lambda a: self.cavage(a)),
				   ("cavage shared", lambda a: self.cavage(a, url=self.shared)),
				   ("rfc9421 ed25519", lambda a: self.rfc(a)),
				   ("rfc9421 rsa", lambda a: self.rfc(a, use_rsa=True,
								      alg="rsa-v1_5-sha256")),
				   ("rfc9421 shared", lambda a: self.rfc(a, url=self.shared))):
			act, m = self.create()
			st, _, body = send(act)
			self.assertIn(st, (200, 201, 202), "%s: %d %r" % (name, st, body))
			self.assertTrue(self.stored(m), name)

	def test_01_key_fetches_are_signed_by_the_instance_actor(self):
		"""Authorized fetch: aimd's GET of a remote actor is signed (cavage,
		(request-target) host date) by its instance actor; the signature
		verifies with the key the instance actor publishes."""
		import base64
		import re
		act, m = self.create(actor=self.remote.add_actor("gina", Keys(self.remote.dir, "gina")))
		st, _, _ = self.cavage(act, actor=self.remote.actors["gina"])
		self.assertEqual(st, 202)
		gets = self.remote.gets("/users/gina")
		self.assertTrue(gets, "aimd did not fetch the actor")
		st, _, inst = self.b.get("/actor")
		self.assertEqual(st, 200, inst)
		pem = inst["publicKey"]["publicKeyPem"]
		for g in gets:
			sig = g["headers"].get("signature")
			self.assertIsNotNone(sig, "unsigned GET of %s" % g["path"])
			params = dict(re.findall(r'(\w+)="([^"]*)"', sig))
			self.assertEqual(params["keyId"], inst["publicKey"]["id"])
			covered = params["headers"].split()
			self.assertIn("(request-target)", covered)
			self.assertIn("host", covered)
			lines = []
			for h in covered:
				if h == "(request-target)":
					lines.append("(request-target): get " + g["path"])
				else:
					lines.append("%s: %s" % (h, g["headers"][h]))
			self.assertTrue(fedtest.verify_rsa(pem, "\n".join(lines).encode(),
							   base64.b64decode(params["signature"])),
					"the instance actor's signature does not verify")

	# -- A1-A14 -----------------------------------------------------------------
	def test_a01_unsigned(self):
		for url in (self.inbox, self.shared, self.b.base + "/actor/inbox"):
			act, m = self.create()
			r = self.post(url, {"Content-Type": AP_TYPE,
					    "Digest": fedtest.digest_header(json.dumps(act).encode())}, act)
			self.assertRefusedNothingStored(r, 401, m)

	def test_a02_no_request_target(self):
		act, m = self.create()
		self.assertRefusedNothingStored(self.cavage(act, headers="host date digest"), 401, m)

	def test_a03_no_date_no_created(self):
		act, m = self.create()
		self.assertRefusedNothingStored(
			self.cavage(act, headers="(request-target) host digest"), 401, m)

	def test_a04_digest_not_covered(self):
		act, m = self.create()
		self.assertRefusedNothingStored(
			self.cavage(act, headers="(request-target) host date"), 401, m)
		act, m = self.create()
		self.assertRefusedNothingStored(
			self.rfc(act, components=("@method", "@target-uri")), 401, m)

	def test_a05_body_changed_after_signing(self):
		for url in (self.inbox, self.shared):
			act, m = self.create()
			other, m2 = self.create()
			forged = json.dumps(other).encode()
			self.assertRefusedNothingStored(self.cavage(act, url=url, tamper_body=forged),
							401, m2)
			self.assertNothingStored(m)
			act, m = self.create()
			other, m2 = self.create()
			forged = json.dumps(other).encode()
			self.assertRefusedNothingStored(self.rfc(act, url=url, tamper_body=forged), 401,
							m2)
			self.assertNothingStored(m)

	def test_a06_bad_digests(self):
		import base64
		import hashlib
		for bad in (lambda b: "SHA-512=" + base64.b64encode(hashlib.sha512(b).digest()).decode(),
			    lambda b: "SHA-256=not*base64!",
			    lambda b: "SHA-256=" + base64.b64encode(hashlib.sha256(b).digest()[:16]).decode(),
			    lambda b: "MD5=" + base64.b64encode(hashlib.md5(b).digest()).decode()):
			act, m = self.create()
			body = json.dumps(act).encode()
			self.assertRefusedNothingStored(self.cavage(body, digest=bad(body)), 401, m)
		act, m = self.create()
		body = json.dumps(act).encode()
		cd = "sha-512=:" + base64.b64encode(hashlib.sha512(body).digest()).decode() + ":"
		self.assertRefusedNothingStored(self.rfc(body, content_digest=cd), 401, m)

	def test_a07_replay(self):
		act, m = self.create()
		h, b = sign_cavage(self.mallory, "POST", self.inbox, act)
		st, _, _ = self.post(self.inbox, h, b)
		self.assertEqual(st, 202)
		st2, _, _ = self.post(self.inbox, h, b)
		self.assertIn(st2, (200, 202, 401))
		n = sum(1 for it in inbox_items(self.b, "bob") if m in json.dumps(it))
		self.assertEqual(n, 1, "a replayed request had a second effect")
		# the same request to the shared inbox is a replay too
		st3, _, _ = self.post(self.shared, *sign_cavage(self.mallory, "POST", self.shared, act))
		n = sum(1 for it in inbox_items(self.b, "bob") if m in json.dumps(it))
		self.assertEqual(n, 1)
		# a captured request from two hours ago
		act, m = self.create()
		self.assertRefusedNothingStored(self.cavage(act, date=time.time() - 7200), 401, m)
		act, m = self.create()
		old = int(time.time()) - 7200
		self.assertRefusedNothingStored(self.rfc(act, created=old), 401, m)

	def test_a08_future_and_expired(self):
		act, m = self.create()
		self.assertRefusedNothingStored(self.cavage(act, date=time.time() + 7200), 401, m)
		act, m = self.create()
		self.assertRefusedNothingStored(self.rfc(act, created=int(time.time()) + 7200), 401, m)
		act, m = self.create()
		now = int(time.time())
		self.assertRefusedNothingStored(self.rfc(act, created=now - 60, expires=now - 10),
						401, m)

	def test_a09_created_with_rsa_sha256(self):
		now = int(time.time())
		act, m = self.create()
		self.assertRefusedNothingStored(
			self.cavage(act, headers="(request-target) host (created) digest",
				    created=now), 401, m)
		act, m = self.create()
		self.assertRefusedNothingStored(
			self.cavage(act, headers="(request-target) host date (expires) digest",
				    expires=now + 300), 401, m)

	def test_a10_algorithm_confusion(self):
		act, m = self.create()
		self.assertRefusedNothingStored(self.cavage(act, algorithm="hmac-sha256"), 401, m)
		act, m = self.create()
		self.assertRefusedNothingStored(
			self.cavage(act, algorithm="rsa-sha1", sign=self.mallory.keys.sign_rsa_sha1),
			401, m)
		# an Ed25519 signature presented under the RSA key id
		act, m = self.create()
		self.assertRefusedNothingStored(
			self.cavage(act, algorithm="ed25519", sign=self.mallory.keys.sign_ed25519),
			401, m)
		# RFC 9421: alg says ed25519 but keyid names the RSA key
		act, m = self.create()
		self.assertRefusedNothingStored(
			self.rfc(act, key_id=self.mallory.key_id, alg="ed25519"), 401, m)
		act, m = self.create()
		self.assertRefusedNothingStored(
			self.rfc(act, alg="hmac-sha256"), 401, m)

	def test_a12_malformed_headers(self):
		act, m = self.create()
		body = json.dumps(act).encode()
		good, _ = sign_cavage(self.mallory, "POST", self.inbox, body)
		sig = good["Signature"]
		bads = [
			'keyId="%s,algorithm="rsa-sha256"' % self.mallory.key_id,
			sig + ',keyId="%s"' % self.mallory.key_id,
			sig.replace('keyId="%s",' % self.mallory.key_id, ""),
			sig.replace('signature="', 'signature="%%%'),
			"garbage" * 50,
			"",
			",,,,",
			'keyId=unquoted,signature="AAAA"',
			sig + "\x01",
			"A" * 9000,
		]
		for v in bads:
			h = dict(good)
			h["Signature"] = v
			try:
				r = self.post(self.inbox, h, body)
			except ValueError:	# http.client refuses some raw values itself
				continue
			self.assertRefusedNothingStored(r, (400, 401, 431), m)
		rbads = [('sig1=("@method" "@target-uri" "content-digest";created=1', "sig1=:AAAA:"),
			 ('sig1=("@method")', "sig1=:not base64:"),
			 ("sig1=(", "sig1=:AAAA:"),
			 ('sig1=("@method");keyid="%s";keyid="x"' % self.mallory.ed_key_id, "sig1=:AAAA:"),
			 ('sig1=("@method" "@target-uri" "content-digest");created=%d;keyid="%s"'
			  % (time.time(), self.mallory.ed_key_id), "sig2=:AAAA:")]
		for si, sv in rbads:
			h = {"Host": good["Host"], "Date": good["Date"], "Content-Type": AP_TYPE,
			     "Content-Digest": fedtest.content_digest_header(body),
			     "Signature-Input": si, "Signature": sv}
			self.assertRefusedNothingStored(self.post(self.inbox, h, body), (400, 401), m)

	def test_a13_rfc9421_required_components(self):
		act, m = self.create()
		self.assertRefusedNothingStored(self.rfc(act, no_created=True), 401, m)
		act, m = self.create()
		self.assertRefusedNothingStored(
			self.rfc(act, components=("@target-uri", "content-digest")), 401, m)
		act, m = self.create()
		self.assertRefusedNothingStored(
			self.rfc(act, components=("@method", "content-digest")), 401, m)

	def test_a14_key_owner_is_not_actor(self):
		# signed by mallory, claiming to be eve
		act, m = self.create(actor=self.eve)
		self.assertRefusedNothingStored(self.cavage(act, actor=self.mallory), (401, 403), m)
		act, m = self.create(actor=self.eve)
		self.assertRefusedNothingStored(self.rfc(act, actor=self.mallory), (401, 403), m)

	# -- A15-A20: keys and fetches ----------------------------------------------
	def test_a15_key_document_id_or_owner_wrong(self):
		liar = self.remote.add_actor("liar", Keys(self.remote.dir, "liar"))
		d = liar.doc()
		d["publicKey"] = dict(d["publicKey"], id=self.remote.base + "/users/other#main-key")
		liar.doc_override = d
		act, m = self.create(actor=liar)
		self.assertRefusedNothingStored(self.cavage(act, actor=liar), 401, m)
		# owner on another origin
		liar2 = self.remote.add_actor("liar2", Keys(self.remote.dir, "liar2"))
		d = liar2.doc()
		d["publicKey"] = dict(d["publicKey"], owner="https://elsewhere.test/users/liar2")
		liar2.doc_override = d
		act, m = self.create(actor=liar2)
		self.assertRefusedNothingStored(self.cavage(act, actor=liar2), 401, m)
		# not cached: a correct document afterwards is used at the next request
		liar2.doc_override = None
		act, m = self.create(actor=liar2)
		time.sleep(1.1)	# refetch of a bad key is allowed once a second
		st, _, _ = self.cavage(act, actor=liar2)
		self.assertIn(st, (202, 401))

	def test_a16_host_tricks(self):
		base = self.remote.base
		host = "r.test:%d" % self.remote.port
		for kid in ("https://evil.test@%s/users/mallory#main-key" % host,
			    "https://%s@evil.test/users/mallory#main-key" % host,
			    "https://%s\\@evil.test/users/mallory#main-key" % host,
			    "https://r.test.evil.test:%d/users/mallory#main-key" % self.remote.port,
			    "https://%s/users/mallory#main-key" % host.replace("r.test", "r%2etest"),
			    "https://xn--r-test:%d/users/mallory#main-key" % self.remote.port):
			act, m = self.create()
			self.assertRefusedNothingStored(self.cavage(act, key_id=kid), 401, m)
		# an actor URL on another host than the key, spelled to look alike
		for actor_url in ("https://evil.test/%s/users/mallory" % host,
				  "https://r.test:%d@evil.test/users/mallory" % self.remote.port):
			act, m = self.create()
			act["actor"] = actor_url
			self.assertRefusedNothingStored(self.cavage(act), (400, 401, 403), m)
		del base

	def _ssrf_try(self, key_id, marker_srv=None):
		act = self.mallory.create_note("ssrf " + aimtest.rand_text(), to=[self.s.actor("sam")])
		m = act["object"]["content"]
		url = self.s.actor("sam") + "/inbox"
		h, b = sign_cavage(self.mallory, "POST", url, act, key_id=key_id)
		t0 = time.monotonic()
		st, _, body = self.s.req("POST", url, headers=h, body=b)
		self.assertEqual(st, 401, "%s: %d %r" % (key_id, st, body[:200]))
		self.assertLess(time.monotonic() - t0, 10)
		self.assertNothingStored(m, user="sam", srv=self.s)

	def test_a17_private_addresses_not_fetched(self):
		lis = Listener("127.0.0.1")
		self.addCleanup(lis.close)
		p = lis.port
		self.remote.reset()
		for kid in ("http://127.0.0.1:%d/k" % p, "https://127.0.0.1:%d/k" % p,
			    "http://localhost:%d/k" % p, "http://localhost.:%d/k" % p,
			    "http://2130706433:%d/k" % p, "http://0x7f.0.0.1:%d/k" % p,
			    "http://127.1:%d/k" % p, "http://[::ffff:127.0.0.1]:%d/k" % p,
			    "http://[::1]:%d/k" % p, "http://0.0.0.0:%d/k" % p,
			    "http://[::]:%d/k" % p,
			    "http://169.254.169.254/latest/meta-data/",
			    "http://10.0.0.1/k", "http://192.168.1.1/k", "http://100.64.0.1/k",
			    "http://[fd00::1]/k", "http://[fe80::1]/k", "http://[64:ff9b::7f00:1]/k",
			    "http://[2002:7f00:1::]/k", "http://224.0.0.1/k",
			    # a name that --connect-to maps to loopback stays refused
			    self.mallory.key_id):
			self._ssrf_try(kid)
		self.assertEqual(lis.count, 0, "aimd connected to a loopback listener")
		self.assertEqual(self.remote.connections, 0,
				 "aimd connected to r.test mapped to loopback")

	def test_a18_redirects(self):
		r = self.remote
		self.remote.reset()
		chain = ["/redir/%d" % i for i in range(8)]
		for i, pth in enumerate(chain[:-1]):
			r.routes[pth] = (302, "text/plain", b"", {"Location": r.base + chain[i + 1]})
		r.routes[chain[-1]] = (200, AP_TYPE, self.mallory.doc())
		r.routes["/loop/a"] = (302, "text/plain", b"", {"Location": r.base + "/loop/b"})
		r.routes["/loop/b"] = (302, "text/plain", b"", {"Location": r.base + "/loop/a"})
		r.routes["/to-file"] = (302, "text/plain", b"", {"Location": "file:///etc/passwd"})
		r.routes["/to-gopher"] = (302, "text/plain", b"",
					  {"Location": "gopher://r.test:%d/x" % r.port})
		r.routes["/to-data"] = (302, "text/plain", b"", {"Location": "data:,{}"})
		for start in ("/redir/0", "/loop/a", "/to-file", "/to-gopher", "/to-data"):
			act, m = self.create()
			self.assertRefusedNothingStored(self.cavage(act, key_id=r.base + start), 401, m)
		# at most 5 redirects followed: the 7th and 8th hops are never asked for
		self.assertEqual(r.gets(chain[6]), [])
		self.assertEqual(r.gets(chain[7]), [])
		self.assertLessEqual(len(r.gets("/loop/a")) + len(r.gets("/loop/b")), 6)

	def test_a20_negative_key_cache(self):
		self.remote.reset()
		ghost = self.remote.base + "/users/ghost#main-key"
		for _ in range(6):
			act, m = self.create()
			r = self.cavage(act, key_id=ghost)
			self.assertRefusedNothingStored(r, (401, 429), m)
		self.assertLessEqual(len(self.remote.gets("/users/ghost")), 3,
				     "a 404 key was fetched again and again")

	# -- B21-B33 -------------------------------------------------------------------
	def _actor_with(self, name, route):
		a = self.remote.add_actor(name, Keys(self.remote.dir, name))
		self.remote.routes["/users/" + name] = route(a)
		return a

	def test_b21_content_type(self):
		for i, ct in enumerate(("text/html", "application/json", "application/ld+json")):
			a = self._actor_with("ct%d" % i, lambda a: (200, ct, a.doc()))
			act, m = self.create(actor=a)
			self.assertRefusedNothingStored(self.cavage(act, actor=a), 401, m)
		a = self._actor_with("ctok", lambda a: (200, fedtest.aimtest.LD_TYPE, a.doc()))
		act, m = self.create(actor=a)
		st, _, body = self.cavage(act, actor=a)
		self.assertEqual(st, 202, body)

	def test_b22_fetched_id_differs(self):
		def doc(a):
			d = a.doc()
			d = dict(d, id=self.remote.base + "/users/someone-else")
			return (200, AP_TYPE, d)
		a = self._actor_with("wrongid", doc)
		act, m = self.create(actor=a)
		self.assertRefusedNothingStored(self.cavage(act, actor=a), 401, m)

	def test_b23_embedded_object_other_origin(self):
		act, m = self.create()
		act["object"]["attributedTo"] = self.b.actor("bea")
		act["object"]["id"] = self.b.base + "/objects/" + str(uuid.uuid4())
		st, _, body = self.cavage(act)
		self.assertNotIn(st, range(500, 600))
		self.assertNothingStored(m)
		act, m = self.create()
		act["object"]["id"] = "https://other.test/notes/" + str(uuid.uuid4())
		act["object"]["attributedTo"] = "https://other.test/users/x"
		st, _, body = self.cavage(act)
		self.assertNotIn(st, range(500, 600))
		self.assertNothingStored(m)

	def test_b24_update_delete_by_other(self):
		act, m = self.create()
		st, _, _ = self.cavage(act)
		self.assertEqual(st, 202)
		note = act["object"]
		upd = self.eve.activity("Update", dict(note, content="hijacked " + m), to=[self.bob])
		st, _, body = self.cavage(upd, actor=self.eve)
		self.assertEqual(st, 403, body)
		dele = self.eve.activity("Delete", note["id"], to=[self.bob])
		st, _, body = self.cavage(dele, actor=self.eve)
		self.assertEqual(st, 403, body)
		items = [json.dumps(it) for it in inbox_items(self.b, "bob")]
		self.assertFalse(any("hijacked" in i for i in items))
		self.assertTrue(any(m in i for i in items), "the note is gone")

	def test_b25_body_limits(self):
		act, m = self.create()
		act["object"]["padding"] = "x" * (1 << 20)
		st, _, _ = self.cavage(act)
		self.assertEqual(st, 413)
		self.assertNothingStored(m)
		# Content-Length that lies (says more than is sent): no acceptance
		act, m = self.create()
		h, b = sign_cavage(self.mallory, "POST", self.inbox, act)
		head = "POST /users/bob/inbox HTTP/1.1\r\n" + "".join(
			"%s: %s\r\n" % kv for kv in h.items()) + \
			"Content-Length: %d\r\nConnection: close\r\n\r\n" % (len(b) + 500)
		raw = aimtest.raw_exchange(self.inbox, head.encode() + b, ctx=self.b.ctx, timeout=40)
		self.assertNotIn(aimtest.parse_raw_status(raw), (200, 201, 202))
		self.assertNothingStored(m)
		# a body announced as 2 MiB is refused before it is read
		head = "POST /users/bob/inbox HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\n" \
		       "Content-Length: %d\r\nConnection: close\r\n\r\n" % (h["Host"], AP_TYPE, 2 << 20)
		raw = aimtest.raw_exchange(self.inbox, head.encode() + b"{", ctx=self.b.ctx)
		self.assertIn(aimtest.parse_raw_status(raw), (413, 0))

	def test_b26_nesting_and_huge_arrays(self):
		act, m = self.create()
		act["object"]["deep"] = "@@DEEP@@"
		text = json.dumps(act).replace('"@@DEEP@@"', '{"a":' * 5000 + "1" + "}" * 5000)
		st, _, _ = self.cavage(text.encode())
		self.assertIn(st, (400, 413, 422))
		self.assertNothingStored(m)
		act, m = self.create()
		act["cc"] = ["https://x%d.test/users/u" % i for i in range(30000)]
		st, _, _ = self.cavage(act)
		self.assertLess(st, 500)
		act, m = self.create()
		act["object"]["tag"] = [{"type": "Mention", "href": "https://x.test/%d" % i}
					for i in range(20000)]
		st, _, _ = self.cavage(act)
		self.assertLess(st, 500)

	def test_b27_same_id_twice(self):
		act, m = self.create(to=[self.bob, self.b.actor("bea")])
		st, _, _ = self.cavage(act)
		self.assertEqual(st, 202)
		time.sleep(1.1)	# another Date: not a replay of the same request
		st, _, _ = self.cavage(act)
		self.assertIn(st, (200, 202))
		self.assertEqual(sum(1 for it in inbox_items(self.b, "bob") if m in json.dumps(it)), 1)
		# the same id to a second local inbox is delivered there too
		st, _, _ = self.cavage(act, url=self.b.actor("bea") + "/inbox")
		self.assertIn(st, (200, 202))
		self.assertTrue(self.stored(m, user="bea"))

	def test_b28_shape(self):
		mk = lambda: self.create()[0]
		cases = []
		a = mk(); del a["id"]; cases.append(a)
		a = mk(); a["id"] = 42; cases.append(a)
		a = mk(); a["id"] = "urn:uuid:" + str(uuid.uuid4()); cases.append(a)
		a = mk(); a["id"] = "ftp://r.test/x"; cases.append(a)
		a = mk(); del a["type"]; cases.append(a)
		a = mk(); del a["actor"]; cases.append(a)
		a = mk(); a["actor"] = {"no": "id"}; cases.append(a)
		for a in cases:
			m = a["object"]["content"]
			self.assertRefusedNothingStored(self.cavage(a), (400, 401), m)
		m = "notjson " + aimtest.rand_text()
		self.assertRefusedNothingStored(self.cavage(("[1,2," + m).encode()), 400, m)

	def eve_followers_post(self):
		"""eve posts to her followers through b's shared inbox; the marker."""
		act, m = self.create(actor=self.eve, to=[self.eve.followers])
		st, _, body = self.cavage(act, url=self.shared, actor=self.eve)
		self.assertIn(st, (200, 202), body)
		return m

	def test_b30_b31_accept_from_the_wrong_host(self):
		# bob follows eve; mallory (another actor of eve's host) cannot
		# accept on eve's behalf
		f = fedtest.post_outbox(self.b, "bob", {"@context": AS_CTX, "type": "Follow",
						       "object": self.eve.id, "to": [self.eve.id]})
		wait_for(lambda: self.remote.posts("/users/eve/inbox") or self.remote.posts("/inbox"),
			 what="the Follow delivered to r.test")
		acc = self.mallory.activity("Accept", f["id"], to=[self.bob])
		st, _, _ = self.cavage(acc)
		self.assertIn(st, (400, 401, 403))
		# no Accept from eve yet: eve's followers-only posts do not reach bob
		self.assertNothingStored(self.eve_followers_post())
		# eve's own Accept is good: now they do
		acc = self.eve.activity("Accept", f["id"], to=[self.bob])
		st, _, body = self.cavage(acc, actor=self.eve)
		self.assertEqual(st, 202, body)
		self.assertTrue(self.stored(self.eve_followers_post()), "accepted follow has no effect")
		# B31: mallory never got an Accept from bob: a followers-only post
		# of bob's is not delivered to mallory, nor readable by her
		self.remote.reset()
		text = "fo " + aimtest.rand_text()
		n = fedtest.post_outbox(self.b, "bob", aimtest.note(text, to=[self.bob + "/followers"]))
		oid = n["object"]["id"] if isinstance(n["object"], dict) else n["object"]
		time.sleep(1)
		for p in self.remote.posts():
			self.assertNotEqual(p["path"], "/users/mallory/inbox")
		h, _ = sign_cavage(self.mallory, "GET", oid, None, headers="(request-target) host date")
		h["Accept"] = AP_TYPE
		st, _, body = self.b.req("GET", oid, headers=h)
		self.assertIn(st, (401, 403, 404), body[:200])
		self.assertNotIn(text.encode(), body)

	def test_b33_one_gate(self):
		# every S2S POST route refuses the same unsigned and mis-signed requests
		for url in (self.inbox, self.shared, self.b.base + "/actor/inbox",
			    self.b.actor("bea") + "/inbox"):
			act, m = self.create(to=[self.bob, self.b.actor("bea")])
			r = self.post(url, {"Content-Type": AP_TYPE}, act)
			self.assertRefusedNothingStored(r, 401, m)
			act, m = self.create(to=[self.bob, self.b.actor("bea")])
			other, m2 = self.create()
			r = self.cavage(act, url=url, tamper_body=json.dumps(other).encode())
			self.assertRefusedNothingStored(r, 401, m2)
		# a signature is no client credential: the outbox wants a bearer token
		act, m = self.create()
		h, b = sign_cavage(self.mallory, "POST", self.bob + "/outbox", act)
		st, _, _ = self.post(self.bob + "/outbox", h, b)
		self.assertEqual(st, 401)
		self.assertNothingStored(m)


if __name__ == "__main__":
	aimtest.main()
