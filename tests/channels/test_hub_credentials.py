"""The hub checks every credential it meets (issue 11 with issue 10's
credentials; src/server/hub_trust.h): a channel on a.test, members on
b.test and c.test, devices registered with their own server's CA (a CSR of
the MLS driver's signature key, POST /users/NAME/devices) so that their
KeyPackages carry the x509 credential the server issued. Refused with 403
and no Welcome delivered: a KeyPackage whose certificate c.test's CA issued
for acct:bob@b.test, a basic credential, a revoked device's credential, a
creation whose tree holds a foreign certificate; a remote committer's
refused Add also gets a Reject. The honest path (creation, Adds of local
and remote members, an Update, a message) still works."""

import base64
import glob
import json
import os
import sqlite3
import sys
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import aimtest
import fedtest
from aimtest import AimTestCase, Federation
from fedtest import wait_for, inbox_items
from chantest import JSON, Mls, obj, unobj

MLSCTX = "https://purl.archive.org/socialweb/mls"


def b64hex(s):
	return base64.b64decode(s).hex()


class HubCredentials(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.fed = Federation(names=("a.test", "b.test", "c.test"))
		cls.addClassCleanup(cls.fed.cleanup)
		cls.a, cls.b, cls.c = (cls.fed[n] for n in ("a.test", "b.test", "c.test"))
		for u in ("alice", "dave", "erin"):
			cls.a.add_user(u)
		cls.b.add_user("bob")
		cls.c.add_user("carol")
		# the CA documents live at https://DOMAIN/.well-known/aim-ca (port 443)
		over443 = ["%s:443:127.0.0.1:%d" % (n, s.port) for n, s in cls.fed.servers.items()]
		cls.fed.start(extra_args=lambda srv: fedtest.serve_args(cls.fed, extra=sum(
			(["--connect-to", m] for m in over443), [])))
		cls.mls = Mls()
		cls.addClassCleanup(cls.mls.close)

	# -- helpers ------------------------------------------------------------
	def device(self, srv, user):
		"""An MLS client of user registered as a device of srv: returns its
		name and a KeyPackage (hex) with the x509 credential srv issued."""
		name = "%s-%s" % (user, uuid.uuid4().hex[:8])
		self.mls("create_client", suite=1, identity=srv.acct(user), name=name)
		csr = self.mls("csr", client=name)["csr"]
		st, _, doc = srv.post("/users/%s/devices" % user,
				      {"device": name, "csr": base64.b64encode(bytes.fromhex(csr)).decode()},
				      token=srv.tokens[user], content_type=JSON)
		self.assertEqual(st, 201, doc)
		r = self.mls("set_credential", client=name,
			     x509=[b64hex(doc["certificate"])] + [b64hex(c) for c in doc["chain"]])
		return name, r["key_package"]

	def basic(self, acct):
		name = "basic-%s" % uuid.uuid4().hex[:8]
		return name, self.mls("create_client", suite=1, identity=acct, name=name)["key_package"]

	def forged(self, issuer, acct):
		"""A client whose certificate issuer's CA made for acct (another
		domain's acct: URI)."""
		name = "forged-%s" % uuid.uuid4().hex[:8]
		self.mls("create_client", suite=1, identity=acct, name=name)
		keys = sorted(glob.glob(os.path.join(issuer.data, "ca", "ca-*.key")),
			      key=lambda p: int(p.rsplit("-", 1)[1].split(".")[0]))
		with open(keys[-1]) as f:
			pem = f.read()
		st, _, doc = aimtest.get_json(issuer.base + "/.well-known/aim-ca", ctx=issuer.ctx,
					      accept=JSON)
		self.assertEqual(st, 200, doc)
		ca = b64hex(doc["certificates"][0])
		cert = self.mls("x509_issue", client=name, ca_key_pem=pem, ca_cert=ca, san=acct)["cert"]
		return name, self.mls("set_credential", client=name, x509=[cert, ca])["key_package"]

	def post(self, srv, user, act):
		return srv.post("/users/%s/outbox" % user, act, token=srv.tokens[user])

	def create(self, members, policy="owner", expect=201):
		"""alice creates a channel with members [(srv, user, (name, kp))]."""
		al, _ = self.device(self.a, "alice")
		self.mls("create_group", client=al)
		cm = self.mls("commit", client=al, add=[m[2][1] for m in members], public=True,
			      tree_in_welcome=True)
		gi = self.mls("group_info", client=al)
		st, hd, doc = self.post(self.a, "alice", {
			"@context": ["https://www.w3.org/ns/activitystreams", MLSCTX],
			"type": "Create",
			"object": {"type": "Group", "name": "chan", "aim:policy": {"membership": policy}},
			"aim:members": [s.actor(u) for s, u, _ in members],
			"aim:groupInfo": obj("GroupInfo", gi["group_info"]),
			"aim:welcome": obj("Welcome", cm["welcome"])})
		self.assertEqual(st, expect, doc)
		return (hd.get("location") or hd.get("Location")), al, doc

	def add(self, srv, user, chan, committer, kp, by=None):
		"""committer adds kp for user; the POST by `by` ((srv, user), default
		alice on a.test); returns (status, doc, welcome hex)."""
		cm = self.mls("commit", client=committer, add=[kp], public=True, tree_in_welcome=True,
			      pending=True)
		bs, bu = by or (self.a, "alice")
		st, _, doc = self.post(bs, bu, {
			"type": "Add", "object": [srv.actor(user)], "target": chan + "/followers",
			"instrument": obj("PublicMessage", cm["commit"]),
			"aim:welcome": obj("Welcome", cm["welcome"])})
		if st in (200, 201, 202):
			self.mls("merge_pending", client=committer)
		else:
			self.mls("discard_pending", client=committer)
		return st, doc, cm["welcome"]

	def welcomes(self, srv, user, chan):
		return [it for it in inbox_items(srv, user) if isinstance(it, dict) and
			it.get("type") == "Create" and it.get("actor") == chan and
			(it.get("object") or {}).get("type") == "Welcome"]

	def followers(self, chan):
		st, _, doc = aimtest.get_json(chan + "/followers", ctx=self.a.ctx)
		self.assertEqual(st, 200, doc)
		return set(doc["orderedItems"])

	def assert_no_welcome(self, srv, user, chan, welcome_hex):
		time.sleep(1.5)	# deliveries are asynchronous: give a wrong one time
		for w in self.welcomes(srv, user, chan):
			self.assertNotEqual(unobj(w["object"]), welcome_hex, "a refused Welcome arrived")

	# -- the tests ------------------------------------------------------------
	def test_01_honest_path(self):
		bob = self.device(self.b, "bob")
		chan, al, _ = self.create([(self.b, "bob", bob)], policy="members")
		w = wait_for(lambda: self.welcomes(self.b, "bob", chan), what="bob's Welcome")
		self.mls("join", client=bob[0], welcome=unobj(w[0]["object"]))
		# a remote and a local member added with their servers' certificates
		carol = self.device(self.c, "carol")
		st, doc, _ = self.add(self.c, "carol", chan, al, carol[1])
		self.assertEqual(st, 201, doc)
		dave = self.device(self.a, "dave")
		st, doc, _ = self.add(self.a, "dave", chan, al, dave[1])
		self.assertEqual(st, 201, doc)
		self.assertEqual(self.followers(chan), {self.a.actor(u) for u in ("alice", "dave")} |
				 {self.b.actor("bob"), self.c.actor("carol")})
		wait_for(lambda: self.welcomes(self.c, "carol", chan), what="carol's Welcome")
		# an Update (UpdatePath: the committer's new leaf, same credential)
		cm = self.mls("commit", client=al, path=True, public=True)
		st, _, doc = self.post(self.a, "alice", {"type": "Create", "to": [chan],
							 "object": obj("PublicMessage", cm["commit"])})
		self.assertEqual(st, 201, doc)
		m = self.mls("send", client=al, plaintext="hello")
		st, _, doc = self.post(self.a, "alice", {"type": "Create", "to": [chan],
							 "object": obj("PrivateMessage", m["message"])})
		self.assertEqual(st, 201, doc)

	def test_02_foreign_ca_for_bob_refused(self):
		chan, al, _ = self.create([(self.c, "carol", self.device(self.c, "carol"))])
		# c.test's CA issued a certificate naming acct:bob@b.test
		name, kp = self.forged(self.c, self.b.acct("bob"))
		st, doc, wel = self.add(self.b, "bob", chan, al, kp)
		self.assertEqual(st, 403, doc)
		self.assertIn("acct:bob@b.test", str(doc))
		self.assertIn("CA of b.test", str(doc))
		self.assertNotIn(self.b.actor("bob"), self.followers(chan))
		self.assert_no_welcome(self.b, "bob", chan, wel)
		# the honest bob still joins after it
		bob = self.device(self.b, "bob")
		st, doc, _ = self.add(self.b, "bob", chan, al, bob[1])
		self.assertEqual(st, 201, doc)

	def test_03_basic_credential_refused(self):
		chan, al, _ = self.create([(self.c, "carol", self.device(self.c, "carol"))])
		name, kp = self.basic(self.b.acct("bob"))
		st, doc, wel = self.add(self.b, "bob", chan, al, kp)
		self.assertEqual(st, 403, doc)
		self.assertIn("basic credential", str(doc))
		self.assertNotIn(self.b.actor("bob"), self.followers(chan))
		self.assert_no_welcome(self.b, "bob", chan, wel)
		# a local user's basic credential too
		name, kp = self.basic(self.a.acct("erin"))
		st, doc, _ = self.add(self.a, "erin", chan, al, kp)
		self.assertEqual(st, 403, doc)

	def test_04_revoked_device_refused(self):
		chan, al, _ = self.create([(self.b, "bob", self.device(self.b, "bob"))])
		name, kp = self.device(self.a, "erin")
		st, _, body = self.a.req("DELETE", "/users/erin/devices/%s" % name,
					 token=self.a.tokens["erin"])
		self.assertEqual(st, 204, body)
		st, doc, wel = self.add(self.a, "erin", chan, al, kp)
		self.assertEqual(st, 403, doc)
		self.assertIn("revoked", str(doc))
		self.assertNotIn(self.a.actor("erin"), self.followers(chan))
		self.assert_no_welcome(self.a, "erin", chan, wel)

	def test_05_creation_with_foreign_certificate_refused(self):
		forged = self.forged(self.c, self.b.acct("bob"))
		chan, al, doc = self.create([(self.b, "bob", forged)], expect=403)
		self.assertIn("acct:bob@b.test", str(doc))
		basic = self.basic(self.c.acct("carol"))
		chan, al, doc = self.create([(self.c, "carol", basic)], expect=403)
		self.assertIn("basic credential", str(doc))

	def test_06_remote_committer_gets_reject(self):
		bob = self.device(self.b, "bob")
		chan, al, _ = self.create([(self.b, "bob", bob)], policy="members")
		w = wait_for(lambda: self.welcomes(self.b, "bob", chan), what="bob's Welcome")
		self.mls("join", client=bob[0], welcome=unobj(w[0]["object"]))
		# bob (through b.test) adds a carol certified by b.test's CA
		name, kp = self.forged(self.b, self.c.acct("carol"))
		cm = self.mls("commit", client=bob[0], add=[kp], public=True, tree_in_welcome=True,
			      pending=True)
		st, _, doc = self.post(self.b, "bob", {
			"type": "Add", "object": self.c.actor("carol"), "target": chan + "/followers",
			"to": [chan],
			"instrument": obj("PublicMessage", cm["commit"]),
			"aim:welcome": obj("Welcome", cm["welcome"])})
		self.assertIn(st, (200, 201, 202), doc)
		# the channel sends bob's server a Reject naming the refused Add (that
		# b.test's inbox takes it is no business of the hub's)
		def rejects():
			db = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.a.data, "aim.db"),
					     uri=True)
			try:
				rows = db.execute("SELECT o.body, d.inbox FROM outgoing o JOIN deliveries d"
						  " ON d.outgoing_id = o.id").fetchall()
			finally:
				db.close()
			return [(json.loads(b), i) for b, i in rows
				if json.loads(b).get("type") == "Reject" and
				json.loads(b).get("actor") == chan]
		rej = wait_for(rejects, what="the Reject to bob")
		self.assertEqual(rej[0][1], self.b.actor("bob") + "/inbox")
		self.assertEqual(rej[0][0]["object"]["object"], self.c.actor("carol"))
		self.assertNotIn(self.c.actor("carol"), self.followers(chan))
		self.assert_no_welcome(self.c, "carol", chan, cm["welcome"])


if __name__ == "__main__":
	aimtest.main()
