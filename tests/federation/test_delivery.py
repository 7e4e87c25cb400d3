"""Outbound deliveries of aimd (a.test over HTTPS) to scripted remote peers
(aimpeer, HTTPS with the same test CA, reached through --connect-to):
addressing (one POST per shared inbox, bto/bcc to personal inboxes and
stripped, never the sender, nothing for public-only), signatures (cavage
rsa-sha256 unless the host is known to verify RFC 9421: it signed to us with
it, or its actor advertises it (FEP-844e); a 2xx teaches nothing; a host
that still refuses RFC 9421 gets cavage at once and for good; both verified
here with openssl against the keys aimd publishes; a peer that answers 202
and verifies later loses nothing), outcomes (delivered, failed
permanently on 404/410/4xx, retried with backoff on 5xx / 429 / refused
connections, Retry-After honoured, expired), the circuit breaker, a
receiver that is down and comes back, and kill -9 of the sender with
deliveries pending. States are read with `aimd deliveries --data DIR`."""

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import aimtest
from aimtest import AS_PUBLIC, AimTestCase, Federation, free_port, note, run_aimd
from aimpeer import Peer, ed25519_key, rsa_key, sign_cavage, sign_rfc9421

FAST = ["--retry-base-ms", "200", "--retry-max-ms", "1000", "--retry-expire-s", "30",
	"--log-level", "debug"]


def deliveries(srv):
	r = run_aimd("deliveries", "--data", srv.data)
	if r.returncode != 0:
		raise AssertionError("aimd deliveries failed: %s" % r.stderr)
	return [json.loads(l) for l in r.stdout.splitlines() if l.strip()]


def wait_for(pred, timeout=20, step=0.1):
	end = time.monotonic() + timeout
	while time.monotonic() < end:
		v = pred()
		if v:
			return v
		time.sleep(step)
	return pred()


def rsa_verify(pub_pem, data, sig):
	with tempfile.TemporaryDirectory() as d:
		kf, sf = os.path.join(d, "k.pem"), os.path.join(d, "s.bin")
		with open(kf, "w") as f:
			f.write(pub_pem)
		with open(sf, "wb") as f:
			f.write(sig)
		r = subprocess.run(["openssl", "dgst", "-sha256", "-verify", kf, "-signature", sf],
				   input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
		return r.returncode == 0


B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def ed25519_verify(multibase, data, sig):
	n = 0
	for c in multibase[1:]:
		n = n * 58 + B58.index(c)
	raw = n.to_bytes(34, "big")[2:]
	der = bytes.fromhex("302a300506032b6570032100") + raw
	with tempfile.TemporaryDirectory() as d:
		kf, sf, mf = (os.path.join(d, x) for x in ("k.der", "s.bin", "m.bin"))
		for f, b in ((kf, der), (sf, sig), (mf, data)):
			with open(f, "wb") as out:
				out.write(b)
		r = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-inkey", kf, "-rawin", "-in", mf, "-sigfile", sf],
				   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
		return r.returncode == 0


def check_cavage(tc, rec, actor_doc, url):
	"""The request carries a valid cavage rsa-sha256 signature by actor_doc's
	main key over (request-target) host date digest, and the digest matches."""
	h = rec["headers"]
	tc.assertNotIn("signature-input", h)
	params = dict(re.findall(r'(\w+)="([^"]*)"', h["signature"]))
	tc.assertEqual(params["keyId"], actor_doc["publicKey"]["id"])
	tc.assertEqual(params["algorithm"], "rsa-sha256")
	tc.assertEqual(params["headers"].split(), ["(request-target)", "host", "date", "digest"])
	tc.assertEqual(h["digest"], "SHA-256=" + base64.b64encode(
		hashlib.sha256(rec["body"]).digest()).decode())
	u = urllib.parse.urlsplit(url)
	lines = ["(request-target): post " + u.path, "host: " + h["host"], "date: " + h["date"],
		 "digest: " + h["digest"]]
	tc.assertEqual(h["host"], u.netloc)
	tc.assertTrue(rsa_verify(actor_doc["publicKey"]["publicKeyPem"], "\n".join(lines).encode(),
				 base64.b64decode(params["signature"])), "cavage signature does not verify")


def check_rfc9421(tc, rec, actor_doc, url):
	"""A valid RFC 9421 Ed25519 signature (label sig1) over @method,
	@target-uri and content-digest, with created and keyid."""
	h = rec["headers"]
	tc.assertEqual(h["content-digest"], "sha-256=:" + base64.b64encode(
		hashlib.sha256(rec["body"]).digest()).decode() + ":")
	m = re.match(r'^sig1=(\(.*\)(;.*))$', h["signature-input"])
	tc.assertIsNotNone(m, h["signature-input"])
	comps = re.findall(r'"([^"]+)"', m.group(1).split(")")[0])
	tc.assertEqual(comps, ["@method", "@target-uri", "content-digest"])
	params = m.group(2)
	tc.assertIn("created=", params)
	mk = actor_doc["assertionMethod"][0]
	tc.assertIn('keyid="%s"' % mk["id"], params)
	values = {"@method": "POST", "@target-uri": url, "content-digest": h["content-digest"]}
	base = "".join('"%s": %s\n' % (c, values[c]) for c in comps)
	base += '"@signature-params": ' + m.group(1)
	sm = re.match(r"^sig1=:([^:]*):$", h["signature"])
	tc.assertIsNotNone(sm)
	tc.assertTrue(ed25519_verify(mk["publicKeyMultibase"], base.encode(),
				     base64.b64decode(sm.group(1))), "RFC 9421 signature does not verify")


class Remote:
	"""A peer host with actors whose inboxes answer with scripted statuses."""

	def __init__(self, fed, hostname, port=0):
		self.peer = Peer(hostname=hostname, ca=fed.ca, port=port)
		self.answers = {}	# path -> list of (status, headers) consumed in order; last repeats
		self.lock = threading.Lock()
		self.hostname = hostname
		self.port = self.peer.port

	def actor(self, name):
		self.peer.add_actor(name, "-----BEGIN PUBLIC KEY-----\nMA==\n-----END PUBLIC KEY-----\n")
		return self.peer.actor_id(name)

	def answer(self, path, *seq):
		self.answers[path] = list(seq)
		st, hd = seq[0]
		self.peer.docs[path] = (st, "application/json", b"{}", dict(hd))
		remote = self

		def handler(rec, path=path):
			with remote.lock:
				q = remote.answers[path]
				st, hd = q.pop(0) if len(q) > 1 else q[0]
			return st, "application/json", b"{}"
		# statuses with headers go through docs (handlers cannot set headers)
		if all(not hd for _, hd in seq):
			self.peer.handlers[path] = handler

	def posts(self, path=None):
		return [r for r in self.peer.received if r["method"] == "POST" and
			(path is None or r["path"] == path)]

	def connect_to(self):
		return "%s:%d:127.0.0.1:%d" % (self.hostname, self.port, self.port)

	def down(self):
		"""Closes the listening socket: connections are refused."""
		self.peer.httpd.server_close()

	def up(self, fed):
		"""Listens again on the same port with the same documents."""
		old = self.peer
		self.peer = Peer(hostname=self.hostname, ca=fed.ca, port=self.port)
		self.peer.docs, self.peer.handlers = old.docs, old.handlers
		self.peer.start()


class DeliveryTestBase(AimTestCase):
	remotes = ("r.test", "s.test")
	extra = FAST

	@classmethod
	def setUpClass(cls):
		cls.fed = Federation(names=("a.test",))
		cls.addClassCleanup(cls.fed.cleanup)
		cls.a = cls.fed["a.test"]
		cls.alice = cls.a.add_user("alice")
		cls.bob = cls.a.add_user("bob")
		cls.r = {}
		for h in cls.remotes:
			cls.r[h] = Remote(cls.fed, h)
			cls.addClassCleanup(cls.r[h].peer.stop)
		cls.start_remotes()
		cls.a.extra_args = cls.serve_args()
		cls.a.start()
		st, _, cls.alice_doc = cls.a.get("/users/alice")
		assert st == 200

	@classmethod
	def start_remotes(cls):
		for r in cls.r.values():
			r.peer.start()

	@classmethod
	def serve_args(cls):
		args = ["--ca-file", cls.fed.ca.cert, "--allow-private-addresses"]
		for c in cls.fed.connect_to() + [r.connect_to() for r in cls.r.values()]:
			args += ["--connect-to", c]
		return args + list(cls.extra)

	def post(self, obj, token=None, user="alice"):
		st, hd, doc = self.a.post("/users/%s/outbox" % user, obj, token=token or self.alice)
		self.assertEqual(st, 201, doc)
		return doc

	def rows(self, activity):
		return [d for d in deliveries(self.a) if d["activity"] == activity]

	def settled(self, activity, n=None):
		def done():
			rows = self.rows(activity)
			if rows and all(d["state"] != "pending" for d in rows) and \
			   (n is None or len(rows) == n):
				return rows
			return None
		rows = wait_for(done, 30)
		self.assertTrue(rows, "deliveries of %s did not settle: %s" %
				(activity, self.rows(activity)))
		return rows


class AddressingTest(DeliveryTestBase):
	def test_shared_inbox_once_and_bcc_personal(self):
		r = self.r["r.test"]
		bob, carol, dave = r.actor("bob"), r.actor("carol"), r.actor("dave")
		r.answer("/inbox", (202, {}))
		r.answer("/users/dave/inbox", (202, {}))
		act = self.post(note("hi", to=[bob], cc=[carol, AS_PUBLIC], bcc=[dave],
				     bto=[self.a.actor("alice")]))
		rows = self.settled(act["id"], 2)
		self.assertEqual(sorted(d["inbox"] for d in rows),
				 [r.peer.url + "/inbox", dave + "/inbox"])
		self.assertTrue(all(d["state"] == "delivered" and d["attempts"] == 1 and
				    d["last_status"] == 202 for d in rows), rows)
		shared = [p for p in r.posts("/inbox") if json.loads(p["body"])["id"] == act["id"]]
		personal = r.posts("/users/dave/inbox")
		self.assertEqual(len(shared), 1)
		self.assertEqual(len(personal), 1)
		for p in shared + personal:
			body = json.loads(p["body"])
			self.assertEqual(body["id"], act["id"])
			for doc in (body, body["object"]):
				self.assertNotIn("bcc", doc)
				self.assertNotIn("bto", doc)
			self.assertEqual(p["headers"]["content-type"], "application/activity+json")

	def test_nothing_for_public_local_and_sender(self):
		act = self.post(note("public", to=[AS_PUBLIC],
				     cc=[self.a.actor("alice"), self.a.actor("bob"),
					 self.a.actor("alice") + "/followers"]))
		time.sleep(0.5)
		self.assertEqual(self.rows(act["id"]), [])

	def test_direct_to_two_servers(self):
		r, s = self.r["r.test"], self.r["s.test"]
		x, y = r.actor("xavier"), s.actor("yolanda")
		r.answer("/inbox", (202, {}))
		s.answer("/inbox", (202, {}))
		act = self.post(note("dm", to=[x, y]))
		rows = self.settled(act["id"], 2)
		self.assertEqual(sorted(d["host"] for d in rows),
				 sorted(["r.test:%d" % r.port, "s.test:%d" % s.port]))
		self.assertTrue(all(d["state"] == "delivered" for d in rows), rows)

	def test_follow_and_undo_reach_the_target(self):
		"""Follow and Undo (object by id) go to the followed actor even when
		not addressed."""
		r = self.r["r.test"]
		fol = r.actor("fol")
		r.answer("/inbox", (202, {}))
		me = self.a.actor("alice")
		f = self.post({"@context": "https://www.w3.org/ns/activitystreams",
			       "type": "Follow", "actor": me, "object": fol})
		u = self.post({"@context": "https://www.w3.org/ns/activitystreams",
			       "type": "Undo", "actor": me, "object": f["id"]})
		for act in (f, u):
			rows = self.settled(act["id"], 1)
			self.assertEqual((rows[0]["state"], rows[0]["inbox"]),
					 ("delivered", r.peer.url + "/inbox"), rows)
		got = [json.loads(p["body"]) for p in r.posts("/inbox")]
		self.assertEqual([g["type"] for g in got if g["id"] in (f["id"], u["id"])],
				 ["Follow", "Undo"])

	def test_unknown_actor_fails_permanently(self):
		r = self.r["r.test"]
		ghost = r.peer.actor_id("ghost")	# 404
		act = self.post(note("boo", to=[ghost]))
		rows = self.settled(act["id"], 1)
		self.assertEqual(rows[0]["state"], "failed", rows)
		self.assertEqual(rows[0]["attempts"], 1)


FEP844E = {"type": "Application",
	   "implements": [{"href": "https://datatracker.ietf.org/doc/html/rfc9421",
			   "name": "RFC-9421: HTTP Message Signatures"}]}


def peer_actor(tc, remote, name, doc_extra=None):
	"""An actor on remote with real keys (it can sign to aimd); its doc."""
	tmp = tempfile.mkdtemp(prefix="aimtest-keys-")
	tc.addCleanup(shutil.rmtree, tmp, True)
	rk, rpub = rsa_key(tmp, name)
	ek, _, emb = ed25519_key(tmp, name)
	doc = remote.peer.add_actor(name, rpub, emb)
	if doc_extra:
		doc.update(doc_extra)
		remote.peer.serve(urllib.parse.urlsplit(doc["id"]).path, doc)
	return doc, rk, ek


def cavage_verifies(rec, actor_doc, url):
	"""Whether a recorded POST carries a cavage rsa-sha256 signature that
	verifies with actor_doc's RSA key (what a cavage-only receiver checks)."""
	h = rec["headers"]
	if "signature-input" in h or "signature" not in h:
		return False
	params = dict(re.findall(r'(\w+)="([^"]*)"', h["signature"]))
	if params.get("keyId") != actor_doc["publicKey"]["id"] or \
	   params.get("algorithm") != "rsa-sha256" or \
	   params.get("headers", "").split() != ["(request-target)", "host", "date", "digest"]:
		return False
	if h.get("digest") != "SHA-256=" + base64.b64encode(
			hashlib.sha256(rec["body"]).digest()).decode():
		return False
	lines = ["(request-target): post " + urllib.parse.urlsplit(url).path,
		 "host: " + h["host"], "date: " + h["date"], "digest: " + h["digest"]]
	return rsa_verify(actor_doc["publicKey"]["publicKeyPem"], "\n".join(lines).encode(),
			  base64.b64decode(params["signature"]))


class SchemeTest(DeliveryTestBase):
	"""Which signature scheme a delivery carries (delivery.h, "Signature
	scheme per host"). r.test is unknown; s.test signs to aimd with RFC 9421;
	t.test's actor advertises RFC 9421 (FEP-844e) but refuses it."""
	remotes = ("r.test", "s.test", "t.test")

	def delivered_posts(self, remote, act):
		self.settled(act["id"], 1)
		rows = self.rows(act["id"])
		self.assertEqual(rows[0]["state"], "delivered", rows)
		return [p for p in remote.posts("/inbox") if json.loads(p["body"])["id"] == act["id"]]

	def test_unknown_host_gets_cavage_and_a_2xx_teaches_nothing(self):
		r = self.r["r.test"]
		zed = r.actor("zed")
		r.answer("/inbox", (202, {}))
		for i in range(2):
			act = self.post(note("sig %d" % i, to=[zed]))
			p = self.delivered_posts(r, act)
			self.assertEqual(len(p), 1)
			# cavage the first time, and still after a 202
			check_cavage(self, p[0], self.alice_doc, r.peer.url + "/inbox")

	def test_host_that_signed_rfc9421_to_us_gets_it(self):
		s = self.r["s.test"]
		doc, rk, ek = peer_actor(self, s, "sig")
		s.answer("/inbox", (202, {}))
		# before: nothing known of s.test, cavage
		act = self.post(note("before", to=[doc["id"]]))
		p = self.delivered_posts(s, act)
		check_cavage(self, p[0], self.alice_doc, s.peer.url + "/inbox")
		# s.test signs a Create to alice with RFC 9421 (Ed25519)
		url = self.a.actor("alice") + "/inbox"
		inbound = {"@context": "https://www.w3.org/ns/activitystreams",
			   "id": doc["id"] + "/activities/1", "type": "Create", "actor": doc["id"],
			   "to": [self.a.actor("alice")],
			   "object": {"id": doc["id"] + "/notes/1", "type": "Note",
				      "attributedTo": doc["id"], "content": "hello",
				      "to": [self.a.actor("alice")]}}
		body = json.dumps(inbound).encode()
		h = sign_rfc9421("POST", url, ek, doc["id"] + "#ed25519-key", body=body,
				 headers={"Content-Type": aimtest.AP_TYPE})
		st, _, resp = self.a.req("POST", url, headers=h, body=body)
		self.assertEqual(st, 202, resp)
		act = self.post(note("after", to=[doc["id"]]))
		p = self.delivered_posts(s, act)
		self.assertEqual(len(p), 1)
		check_rfc9421(self, p[0], self.alice_doc, s.peer.url + "/inbox")

	def test_host_that_advertises_rfc9421_and_refuses_it(self):
		t = self.r["t.test"]
		doc, _, _ = peer_actor(self, t, "adv", {"generator": FEP844E})

		def h(rec):
			return (401, "application/json", b"{}") if "signature-input" in rec["headers"] \
				else (202, "application/json", b"{}")
		t.peer.handlers["/inbox"] = h
		# advertised: RFC 9421 first; refused with 401: cavage in the same attempt
		act = self.post(note("adv 0", to=[doc["id"]]))
		p = self.delivered_posts(t, act)
		self.assertEqual(len(p), 2, [x["headers"] for x in p])
		check_rfc9421(self, p[0], self.alice_doc, t.peer.url + "/inbox")
		check_cavage(self, p[1], self.alice_doc, t.peer.url + "/inbox")
		# and from then on cavage only, though the actor still advertises
		act = self.post(note("adv 1", to=[doc["id"]]))
		p = self.delivered_posts(t, act)
		self.assertEqual(len(p), 1, [x["headers"] for x in p])
		check_cavage(self, p[0], self.alice_doc, t.peer.url + "/inbox")


class LaterVerifierTest(DeliveryTestBase):
	"""A peer like snac2 or Misskey: every POST is answered 202 at once and
	its signature checked afterwards, cavage only. Nothing aimd sends it (a
	Follow, a direct message, a public note to followers, the Accept of its
	Follow) may be lost: each recorded request must verify as cavage with
	the signer's RSA key."""
	remotes = ("v.test",)

	def test_nothing_lost_to_a_202_then_verify_peer(self):
		v = self.r["v.test"]
		doc, rk, _ = peer_actor(self, v, "vic")
		v.answer("/inbox", (202, {}))
		v.answer("/users/vic/inbox", (202, {}))
		me = self.a.actor("alice")
		# vic follows alice (cavage-signed, as such a peer signs): auto-Accept
		follow = {"@context": "https://www.w3.org/ns/activitystreams",
			  "id": doc["id"] + "/follows/1", "type": "Follow", "actor": doc["id"],
			  "object": me}
		body = json.dumps(follow).encode()
		url = me + "/inbox"
		h = sign_cavage("POST", url, rk, doc["id"] + "#main-key", body=body,
				headers={"Content-Type": aimtest.AP_TYPE})
		st, _, resp = self.a.req("POST", url, headers=h, body=body)
		self.assertEqual(st, 202, resp)
		sent = [self.post({"@context": "https://www.w3.org/ns/activitystreams",
				   "type": "Follow", "actor": me, "object": doc["id"]}),
			self.post(note("a direct message", to=[doc["id"]])),
			self.post(note("to my followers", to=[AS_PUBLIC], cc=[me + "/followers"]))]
		for act in sent:
			rows = self.settled(act["id"])
			self.assertTrue(rows and all(d["state"] == "delivered" for d in rows), rows)
		wait_for(lambda: any(json.loads(p["body"])["type"] == "Accept" for p in v.posts()))
		got = v.posts()
		types = sorted(json.loads(p["body"])["type"] for p in got)
		self.assertEqual(types, ["Accept", "Create", "Create", "Follow"], types)
		lost = [(json.loads(p["body"])["type"], p["path"]) for p in got
			if not cavage_verifies(p, self.alice_doc, v.peer.url + p["path"])]
		self.assertEqual(lost, [], "accepted with 202, then dropped by the receiver")


class OutcomeTest(DeliveryTestBase):
	remotes = ("r.test",)

	def inbox_of(self, name, *answers):
		r = self.r["r.test"]
		aid = r.actor(name)
		r.answer("/users/%s/inbox" % name, *answers)
		return aid

	def test_permanent_statuses(self):
		for st in (404, 410, 400, 403, 422):
			aid = self.inbox_of("p%d" % st, (st, {}))
			act = self.post(note("x", to=[], bcc=[aid]))
			rows = self.settled(act["id"], 1)
			self.assertEqual((rows[0]["state"], rows[0]["attempts"], rows[0]["last_status"]),
					 ("failed", 1, st))
		time.sleep(1)	# no retry of a permanent failure
		for st in (404, 410):
			self.assertEqual(len(self.r["r.test"].posts("/users/p%d/inbox" % st)), 1)

	def test_retry_then_delivered(self):
		for st in (500, 503, 429, 408, 401):
			aid = self.inbox_of("t%d" % st, (st, {}), (st, {}), (202, {}))
			act = self.post(note("x", bcc=[aid], to=[]))
			rows = self.settled(act["id"], 1)
			self.assertEqual((rows[0]["state"], rows[0]["last_status"]), ("delivered", 202), rows)
			n = len(self.r["r.test"].posts("/users/t%d/inbox" % st))
			# 401 also triggers the cavage fallback within an attempt
			self.assertGreaterEqual(n, 3)
			self.assertEqual(rows[0]["attempts"], 3 if st != 401 else rows[0]["attempts"])

	def test_retry_after_honoured(self):
		# backoff alone would retry within 200 ms; Retry-After asks for 1 s
		aid = self.inbox_of("ra", (503, {"Retry-After": "1"}))
		r = self.r["r.test"]
		act = self.post(note("x", bcc=[aid], to=[]))
		wait_for(lambda: len(r.posts("/users/ra/inbox")) >= 1)
		t0 = time.monotonic()
		r.answer("/users/ra/inbox", (202, {}))
		rows = self.settled(act["id"], 1)
		self.assertGreaterEqual(time.monotonic() - t0, 0.9)
		self.assertEqual(rows[0]["state"], "delivered")


class ExpiryTest(DeliveryTestBase):
	remotes = ("r.test",)
	extra = ["--retry-base-ms", "100", "--retry-max-ms", "300", "--retry-expire-s", "2",
		 "--breaker-threshold", "1000"]

	def test_expired_after_retry_period(self):
		r = self.r["r.test"]
		aid = r.actor("down")
		r.answer("/users/down/inbox", (500, {}))
		t0 = time.time()
		act = self.post(note("x", bcc=[aid], to=[]))
		rows = self.settled(act["id"], 1)
		self.assertEqual(rows[0]["state"], "expired", rows)
		self.assertGreaterEqual(rows[0]["updated_ms"] / 1000.0 - t0, 1.9)
		self.assertGreater(rows[0]["attempts"], 2)
		n = len(r.posts("/users/down/inbox"))
		time.sleep(0.8)
		self.assertEqual(len(r.posts("/users/down/inbox")), n, "retried after expiry")


class BreakerTest(DeliveryTestBase):
	remotes = ("r.test",)
	extra = ["--retry-base-ms", "100", "--retry-max-ms", "200", "--retry-expire-s", "60",
		 "--breaker-threshold", "3", "--breaker-cooldown-ms", "3000",
		 "--delivery-per-host", "1"]

	def test_circuit_opens_then_probes(self):
		r = self.r["r.test"]
		aid = r.actor("cb")
		r.answer("/users/cb/inbox", (503, {}))
		acts = [self.post(note("x%d" % i, bcc=[aid], to=[])) for i in range(4)]
		wait_for(lambda: len(r.posts("/users/cb/inbox")) >= 3)
		time.sleep(0.3)
		n_open = len(r.posts("/users/cb/inbox"))
		self.assertLessEqual(n_open, 4)
		time.sleep(2.0)	# inside the cool-down: nothing goes out
		self.assertEqual(len(r.posts("/users/cb/inbox")), n_open)
		self.assertIn("circuit open", self.a.log_current())
		r.answer("/users/cb/inbox", (202, {}))
		for a in acts:
			rows = self.settled(a["id"], 1)
			self.assertEqual(rows[0]["state"], "delivered", rows)


class ConcurrencyTest(DeliveryTestBase):
	"""At most --delivery-per-host POSTs to one host at a time."""
	remotes = ("r.test",)
	extra = ["--delivery-workers", "6", "--delivery-per-host", "2"]

	def test_per_host_limit(self):
		r = self.r["r.test"]
		lock = threading.Lock()
		state = {"now": 0, "max": 0}

		def slow(rec):
			with lock:
				state["now"] += 1
				state["max"] = max(state["max"], state["now"])
			time.sleep(0.4)
			with lock:
				state["now"] -= 1
			return 202, "application/json", b"{}"
		names = ["c%d" % i for i in range(6)]
		for n in names:
			r.actor(n)
			r.peer.handlers["/users/%s/inbox" % n] = slow
		act = self.post(note("many", to=[], bcc=[r.peer.actor_id(n) for n in names]))
		rows = self.settled(act["id"], 6)
		self.assertTrue(all(d["state"] == "delivered" for d in rows), rows)
		self.assertEqual(state["max"], 2)


class NoPrivateAddressesTest(DeliveryTestBase):
	"""Without --allow-private-addresses an actor or inbox on a loopback
	address is never contacted (threats.md A17): failed permanently, no
	connection made."""
	remotes = ("r.test",)

	@classmethod
	def serve_args(cls):
		args = ["--ca-file", cls.fed.ca.cert]
		for c in [r.connect_to() for r in cls.r.values()]:
			args += ["--connect-to", c]
		return args + list(cls.extra)

	def test_loopback_refused(self):
		r = self.r["r.test"]
		aid = r.actor("near")
		r.answer("/inbox", (202, {}))
		act = self.post(note("x", to=[aid]))
		rows = self.settled(act["id"], 1)
		self.assertEqual((rows[0]["state"], rows[0]["last_status"]), ("failed", 0), rows)
		self.assertEqual(r.peer.received, [])


class ShutdownTest(DeliveryTestBase):
	"""SIGTERM while a POST hangs: aimd exits 0 promptly, the delivery stays
	pending and is made after the restart."""
	remotes = ("r.test",)

	def test_sigterm_with_attempt_in_flight(self):
		r = self.r["r.test"]
		aid = r.actor("slow")
		gate = threading.Event()
		self.addCleanup(gate.set)

		def hang(rec):
			gate.wait(30)
			return 202, "application/json", b"{}"
		r.peer.handlers["/inbox"] = hang
		# the abandoned connection is closed under the handler: no noise
		r.peer.httpd.handle_error = lambda *a: None
		act = self.post(note("x", to=[aid]))
		self.assertTrue(wait_for(lambda: r.posts("/inbox"), 20))
		t0 = time.monotonic()
		self.assertEqual(self.a.stop(timeout=10), 0)
		self.assertLess(time.monotonic() - t0, 5)
		rows = self.rows(act["id"])
		self.assertEqual(rows[0]["state"], "pending", rows)
		r.answer("/inbox", (202, {}))
		self.a.start()
		rows = self.settled(act["id"], 1)
		self.assertEqual(rows[0]["state"], "delivered", rows)


class DownAndBackTest(DeliveryTestBase):
	"""The receiver is not listening while messages are sent, then comes
	back: every message arrives exactly once."""
	remotes = ("r.test",)
	extra = ["--retry-base-ms", "200", "--retry-max-ms", "500", "--retry-expire-s", "120",
		 "--breaker-threshold", "1000"]

	@classmethod
	def start_remotes(cls):
		cls.r["r.test"].down()	# r.test is down at first

	def test_down_then_back(self):
		r = self.r["r.test"]
		aid = r.actor("later")
		r.answer("/inbox", (202, {}))
		acts = [self.post(note("m%d" % i, to=[aid])) for i in range(3)]
		time.sleep(1.5)
		for i, a in enumerate(acts):
			rows = self.rows(a["id"])
			self.assertEqual(len(rows), 1)
			self.assertEqual(rows[0]["state"], "pending", rows)
			self.assertEqual(rows[0]["last_status"], 0)
			# in order per recipient: the later ones wait for the first
			self.assertTrue(rows[0]["attempts"] >= 1 if i == 0 else
					rows[0]["attempts"] == 0, rows)
		r.up(self.fed)
		self.addCleanup(r.peer.stop)
		for a in acts:
			rows = self.settled(a["id"], 1)
			self.assertEqual(rows[0]["state"], "delivered", rows)
		ids = [json.loads(p["body"])["id"] for p in r.posts("/inbox")]
		self.assertEqual(sorted(ids), sorted(a["id"] for a in acts))


class KillTest(DeliveryTestBase):
	"""kill -9 of the sender with deliveries pending: resumed after the
	restart, nothing lost, each delivered once."""
	remotes = ("r.test",)
	extra = ["--retry-base-ms", "300", "--retry-max-ms", "600", "--retry-expire-s", "120",
		 "--breaker-threshold", "1000"]

	@classmethod
	def start_remotes(cls):
		cls.r["r.test"].down()

	def test_kill9_pending_resumed(self):
		r = self.r["r.test"]
		aid = r.actor("k")
		r.answer("/inbox", (202, {}))
		acts = [self.post(note("k%d" % i, to=[aid])) for i in range(5)]
		self.a.kill9()
		rows = [d for d in deliveries(self.a) if d["activity"] in {a["id"] for a in acts}]
		self.assertEqual(len(rows), 5)
		self.assertTrue(all(d["state"] == "pending" for d in rows), rows)
		r.up(self.fed)
		self.addCleanup(r.peer.stop)
		self.a.start()
		for a in acts:
			rows = self.settled(a["id"], 1)
			self.assertEqual(rows[0]["state"], "delivered", rows)
		time.sleep(0.5)
		ids = [json.loads(p["body"])["id"] for p in r.posts("/inbox")]
		self.assertEqual(sorted(ids), sorted(a["id"] for a in acts))


if __name__ == "__main__":
	aimtest.main()
