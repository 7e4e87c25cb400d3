"""MLS interop between aim (tests/interop/mls_driver.c) and OpenMLS through Wire's
CoreCrypto 10.3.0 (tests/interop/corecrypto-driver.mjs, npm @wireapp/core-crypto, GPL-3.0,
a test peer only): both drivers run as processes speaking JSON lines; this runner passes the
raw MLSMessage bytes between them (KeyPackages, Welcomes, GroupInfos, Public- and
PrivateMessages) and checks after every epoch change that everybody agrees.

Agreement: every member (aim's and CoreCrypto's) has the same epoch, the same
MLS-Exporter("exporter", "", 32) secret (CoreCrypto's exportSecretKey) and the same member
identities; aim's members also agree on epoch authenticator, tree hash, confirmed transcript
hash and ratchet tree bytes with each other, with aim's public group (the hub's view) when one
follows, and with the GroupContext and ratchet_tree extension of the GroupInfo CoreCrypto
signed for its last Commit.

Scenarios, each for cipher suites 1, 2, 3, 5 and 7 (CoreCrypto has no Ed448) or those given
on the command line:
  keypackages  we validate CoreCrypto's KeyPackages (bare and as MLSMessage; ref and
               re-encoding agree), refuse a forged one; CoreCrypto refuses ours forged and
               refuses identities not of its `<uuid>:<device hex>@<domain>` form; Ed448
               suites are not offered by CoreCrypto
  cc_group     CoreCrypto creates a group; our member joins from its Welcome (tree inside),
               a hub follows from its GroupInfo; messages both ways (out of order, replay and
               tampering refused); Add, Update with path and Remove committed by both sides
               and processed by the other; our Update and Remove proposals committed by
               CoreCrypto by reference; the hub refuses forged, stale (replayed, lost race)
               and foreign commits without harm; we join by external commit; CoreCrypto
               removes us
  aim_group    we create a group; CoreCrypto refuses our Welcome without a ratchet tree and
               our PrivateMessage commits (its policy) without harm, joins from a Welcome
               with the tree; messages both ways; commits from both sides (Add of both
               stacks' members, Update with path, Remove); CoreCrypto joins by external
               commit from our GroupInfo; the hub follows throughout
  aim_credentials  aim's own credential (x509, the leaf aimd's CA issues: empty subject,
               the one SAN acct:NAME@DOMAIN) meets CoreCrypto: it refuses our x509
               KeyPackage, a Welcome and a GroupInfo whose tree holds such a leaf (it reads
               every x509 leaf as a Wire certificate: `wireapp://` SANs); the same leaf
               with a `wireapp://` SAN passes its parser and is refused by its
               authentication service (no trust anchor), so the SAN is the obstacle; the
               group it refused stays as it was for our members (a CoreCrypto member in
               an aim channel is impossible with this version: README, issue 13 part 2)

Environment: AIM_BIN_DIR (bin dir with mls_driver), AIM_SOURCE_DIR; AIM_INTEROP_SCENARIOS
picks scenarios, AIM_INTEROP_TRACE=N prints requests cut at N characters.
Exit status: 0 all passed, 1 a check failed, 77 node or CoreCrypto missing (outside CI).
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from test_mls_interop import (  # noqa: E402  (the driver plumbing of the ts-mls runner)
	Driver, DriverError, Failure, SANITIZER_MARKERS, flip, sig_pos)

REPO = os.environ.get("AIM_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
BIN = os.environ.get("AIM_BIN_DIR") or os.path.join(REPO, "build", "bin")
SUITES = [1, 2, 3, 5, 7]


class Member:
	"""One client in one group, on either driver (kind "aim" or "cc")."""

	def __init__(self, drv, kind, client, label, identity, kp):
		self.drv = drv
		self.kind = kind
		self.client = client
		self.label = label
		self.identity = identity
		self.kp = kp  # the answer that made the client (key_package, key_package_raw, ...)
		self.group = None

	def req(self, cmd, **args):
		return self.drv.req(cmd, client=self.client, group=self.group, **args)

	def call(self, cmd, **args):
		return self.drv.call(cmd, client=self.client, group=self.group, **args)

	def export(self):
		if self.kind == "aim":
			return self.req("export", label="exporter", context="", length=32)["secret"]
		return self.req("export", length=32)["secret"]


def cc_identity(domain):
	"""CoreCrypto's basic identity form: <uuid>:<16 hex, first digit not 0>@<domain> (its
	own ClientId text drops leading zeros of the device id, so ours avoid them)."""
	device = "%x" % (0x1000000000000000 | int.from_bytes(os.urandom(8), "big") >> 4)
	return "%s:%s@%s" % (uuid.uuid4(), device, domain)


class Runner:
	def __init__(self, aim, cc):
		self.aim = aim
		self.cc = cc
		self.passed = 0
		self.kinds = {}  # kind of check -> count, for the summary
		self.where = ""
		self.hub_n = 0

	def check(self, cond, what, kind="scenario specifics"):
		if not cond:
			raise Failure("%s: check failed: %s" % (self.where, what))
		self.passed += 1
		self.kinds[kind] = self.kinds.get(kind, 0) + 1

	def refused(self, res, code, what):
		"""res is a failed answer; code: aim_err name or CoreCrypto error code, or None."""
		self.check(not res.get("ok"), "%s is refused" % what, "refused (forged, stale, policy...)")
		if code is not None:
			self.check(res.get("code") == code, "%s is refused with %s (got %s: %s)" %
				   (what, code, res.get("code"), res.get("error")), "refused with the right code")

	# ---- helpers ----

	def ours(self, s, label, identity=None):
		ident = identity or cc_identity("aim.test")
		r = self.aim.req("create_client", suite=s, name="%s-%d" % (label, s), identity=ident)
		return Member(self.aim, "aim", r["client"], label, ident, r)

	def theirs(self, s, label):
		r = self.cc.req("create_client", suite=s, name="%s-%d" % (label, s), domain="cc.test")
		return Member(self.cc, "cc", r["client"], label, r["identity"], r)

	def new_kp(self, m):
		m.kp = m.drv.req("key_package", client=m.client)
		return m.kp["key_package"]

	def hub(self, group_info):
		self.hub_n += 1
		name = "hub%d" % self.hub_n
		self.aim.req("public_create", name=name, group_info=group_info)
		return name

	def hub_status(self, hub):
		return self.aim.req("public_status", name=hub)

	def agree(self, what, members, hub=None, bundle=None):
		"""Everybody agrees on the epoch, the exporter secret and the member identities; our
		members, the hub and CoreCrypto's last signed GroupInfo on the hashes and tree."""
		views = []
		for m in members:
			st = m.req("status")
			if m.kind == "aim":
				idents = sorted(x["identity"] for x in st["members"])
				tree = m.req("ratchet_tree")["ratchet_tree"]
			else:
				idents = sorted(st["members"])
				tree = None
			views.append((m, st, m.export(), idents, tree))
		m0, s0, ex0, id0, _ = views[0]
		for m, st, ex, idents, _ in views[1:]:
			pair = "%s: %s vs %s" % (what, m.label, m0.label)
			self.check(st["epoch"] == s0["epoch"], "%s epoch %s != %s" % (pair, st["epoch"],
									s0["epoch"]), "agree: epoch")
			self.check(ex == ex0, "%s exporter secret differs" % pair, "agree: exporter secret")
			self.check(idents == id0, "%s member list differs: %s vs %s" % (pair, idents, id0),
				   "agree: member identities")
		self.check(len(id0) == len(members), "%s: %d members (%d expected)" %
			   (what, len(id0), len(members)), "agree: member identities")
		ours = [v for v in views if v[0].kind == "aim"]
		if not ours:
			return s0
		a, sa, _, _, ta = ours[0]
		for m, st, _, _, tree in ours[1:]:
			pair = "%s: %s vs %s" % (what, m.label, a.label)
			for key in ("epoch_authenticator", "tree_hash", "confirmed_transcript_hash"):
				self.check(st[key] == sa[key], "%s %s differs" % (pair, key),
					   "agree: our members' hashes and tree")
			self.check(tree == ta, "%s ratchet tree bytes differ" % pair,
				   "agree: our members' hashes and tree")
		if hub is not None:
			h = self.hub_status(hub)
			hk = "agree: hub (epoch, hashes, members, tree)"
			self.check(h["epoch"] == sa["epoch"], "%s: hub epoch %s != %s" % (what, h["epoch"],
									       sa["epoch"]), hk)
			for key in ("tree_hash", "confirmed_transcript_hash"):
				self.check(h[key] == sa[key], "%s: hub %s differs from %s's" % (what, key, a.label),
					   hk)
			self.check(sorted(x["identity"] for x in h["members"]) == id0,
				   "%s: hub member list differs" % what, hk)
			self.check(self.aim.req("public_tree", name=hub)["ratchet_tree"] == ta,
				   "%s: hub ratchet tree differs" % what, hk)
		if bundle is not None:
			gc = bundle["group_context"]
			gk = "agree: CoreCrypto's signed GroupInfo (epoch, hashes, tree)"
			self.check(gc["epoch"] == sa["epoch"], "%s: CoreCrypto's GroupInfo epoch %s != %s" %
				   (what, gc["epoch"], sa["epoch"]), gk)
			for key in ("tree_hash", "confirmed_transcript_hash"):
				self.check(gc[key] == sa[key], "%s: %s in CoreCrypto's GroupInfo differs" %
					   (what, key), gk)
			self.check(bundle.get("ratchet_tree") == ta,
				   "%s: ratchet_tree in CoreCrypto's GroupInfo differs from ours" % what, gk)
		return sa

	def deliver(self, msg, members, kind="commit", hub=None):
		"""Every member (and the hub) processes the handshake msg; returns the answers."""
		out = []
		for m in members:
			r = m.req("process", message=msg)
			self.check(r.get("kind") == kind, "%s processed a %s (got %s)" %
				   (m.label, kind, r.get("kind")), "%s processed by a member" % kind)
			out.append(r)
		if hub is not None:
			r = self.aim.req("public_process", name=hub, message=msg)
			self.check(r.get("kind") == kind, "the hub processed a %s (got %s)" %
				   (kind, r.get("kind")), "%s processed by the hub" % kind)
			out.append(r)
		return out

	def removed(self, m, msg):
		r = m.req("process", message=msg)
		self.check(r.get("removed_self") is True, "%s learns it is removed" % m.label,
			   "removed member learns it")

	def say(self, sender, text, receivers):
		m = sender.req("send", plaintext=text)
		for r in receivers:
			got = r.req("process", message=m["message"])
			self.check(got["kind"] == "application" and got["plaintext"] == text.encode().hex(),
				   "%s reads %s's message" % (r.label, sender.label), "application message read")
		return m["message"]

	def unchanged(self, m, before, what):
		after = m.req("status")
		keys = [k for k in before if k != "id"]
		diff = [k for k in keys if before[k] != after.get(k)]
		self.check(not diff, "%s left %s untouched (%s)" % (what, m.label, diff),
			   "state untouched by a refused message")

	def public(self, bundle, what):
		self.check(bundle["commit_wireformat"] == "mls_public_message",
			   "CoreCrypto's %s Commit is a PublicMessage" % what)

	# ---- scenarios ----

	def keypackages(self, s):
		aim, cc = self.aim, self.cc
		if s == SUITES[0]:
			su = cc.req("suites")
			self.check(su["suites"] == SUITES, "CoreCrypto offers suites %s (got %s)" %
				   (SUITES, su["suites"]))
			self.check(sorted(su["unavailable"]) == ["4", "6"] and all(
				"UnsupportedSignatureScheme" in v for v in su["unavailable"].values()),
				   "the Ed448 suites 4 and 6 are refused: %s" % su["unavailable"])
		t = self.theirs(s, "kp-cc")
		for form in ("key_package", "key_package_raw"):
			v = aim.req("verify_key_package", key_package=t.kp[form])
			self.check(v["valid"] and v["suite"] == s, "we validate CoreCrypto's KeyPackage "
				   "(%s): %s" % (form, v.get("error")))
			self.check(v["ref"] == t.kp["key_package_ref"], "KeyPackageRef agrees (%s)" % form)
			self.check(v["identity"] == t.identity, "we read CoreCrypto's identity")
		self.check(aim.req("reencode", key_package_raw=t.kp["key_package_raw"])["same"],
			   "we re-encode CoreCrypto's KeyPackage to the same bytes")
		self.check(aim.req("reencode", message=t.kp["key_package"])["same"],
			   "we re-encode CoreCrypto's KeyPackage MLSMessage to the same bytes")
		v = aim.req("verify_key_package", key_package=flip(t.kp["key_package_raw"], -3))
		self.check(not v["valid"] and v["code"] == "verify",
			   "a forged CoreCrypto KeyPackage is refused (%s)" % v.get("code"))
		kp2 = self.new_kp(t)
		self.check(kp2 != t.kp["key_package_raw"] and aim.req(
			"verify_key_package", key_package=kp2)["valid"], "a second CoreCrypto KeyPackage")

		# CoreCrypto validates ours: a forged one is refused, the genuine one added
		owner = self.theirs(s, "kp-owner")
		owner.group = owner.req("create_group")["group"]
		o = self.ours(s, "kp-ours")
		self.refused(owner.call("commit", add=[flip(o.kp["key_package"], -3)]), None,
			     "CoreCrypto: our forged KeyPackage")
		self.check(owner.req("status")["epoch"] == 0, "the refused Add left the group at epoch 0")
		c = owner.req("commit", add=[o.kp["key_package"]])
		self.check("welcome" in c and c["epoch"] == 1, "CoreCrypto adds our KeyPackage")
		self.check(o.identity in c["members"], "CoreCrypto reads our identity")
		# its identity rule: <uuid>:<device hex>@<domain>. A member with another identity is
		# added and its commits are processed, but CoreCrypto cannot list the members any
		# more and refuses that member's application messages (README: deviations)
		for i, bad in enumerate(("ours@aim.test", "%s:1234567890abcdef" % uuid.uuid4(),
					 "not-a-uuid:12@aim.test")):
			b = self.ours(s, "kp-bad%d" % i, identity=bad)
			t2 = self.theirs(s, "kp-odd%d" % i)
			t2.group = b.group = t2.req("create_group")["group"]
			c = t2.req("commit", add=[b.kp["key_package"]])
			self.check(c["epoch"] == 1 and c["members"] is None and
				   "format" in c.get("members_error", ""), "CoreCrypto adds identity %r but "
				   "cannot list members then (%s)" % (bad, c.get("members_error")))
			b.req("join", welcome=c["welcome"])
			self.say(t2, "to an odd identity", [b])
			m = b.req("send", plaintext="from an odd identity")["message"]
			r = t2.call("process", message=m)
			self.refused(r, None, "CoreCrypto: a message from identity %r" % bad)
			self.check("format" in r.get("error", ""), "CoreCrypto names the identity format "
				   "(%s)" % r.get("error"))
			u = b.req("commit", path=True, public=True)
			self.check(t2.req("process", message=u["commit"])["epoch"] == 2,
				   "CoreCrypto processes the Commit of identity %r" % bad)
			self.check(t2.export() == b.export(), "exporter agrees with identity %r" % bad)
		# CoreCrypto joins our group whose creator has such an identity: the same
		bad = self.ours(s, "kp-badowner", identity="ours@aim.test")
		bad.group = bad.req("create_group")["group"]
		t3 = self.theirs(s, "kp-joiner")
		t3.group = bad.group
		c = bad.req("commit", add=[t3.kp["key_package"]], public=True, tree_in_welcome=True)
		j = t3.req("join", welcome=c["welcome"])
		self.check(j["epoch"] == 1 and j["members"] is None, "CoreCrypto joins a group holding "
			   "identity 'ours@aim.test' and cannot list members")
		self.say(t3, "hi", [bad])
		m = bad.req("send", plaintext="from a non-Wire identity")["message"]
		self.refused(t3.call("process", message=m), None,
			     "CoreCrypto: a message from identity 'ours@aim.test'")
		self.check(owner.req("status")["epoch"] == 1, "our group with CoreCrypto is unharmed")
		# a device id with leading zeros, in our padded form, is accepted too
		z = self.ours(s, "kp-zero", identity="%s:00000000000000ff@aim.test" % uuid.uuid4())
		c = owner.req("commit", add=[z.kp["key_package"]])
		self.check(z.identity in c["members"], "CoreCrypto keeps our padded device id as is")

	def cc_group(self, s):
		aim = self.aim
		alice = self.theirs(s, "alice")
		bob = self.theirs(s, "bob")
		ours = self.ours(s, "ours")
		g = alice.req("create_group")
		gid = g["group"]
		self.check(g["epoch"] == 0 and g["suite"] == s, "CoreCrypto made a group in suite %d" % s)
		for m in (alice, bob, ours):
			m.group = gid

		c = alice.req("commit", add=[ours.kp["key_package"]])
		self.public(c, "Add")
		self.check("welcome" in c, "CoreCrypto made a Welcome")
		self.check(2 in c["group_info_extensions"] and 4 in c["group_info_extensions"],
			   "CoreCrypto's GroupInfo has ratchet_tree and external_pub")
		# required_capabilities: no extensions, no proposals, credentials basic and x509
		self.check(c["group_context_extensions"] == {"3": "00000400010002"},
			   "CoreCrypto's group requires credential types basic and x509 (%s)" %
			   c["group_context_extensions"])
		j = ours.req("join", welcome=c["welcome"])
		self.check(j["epoch"] == 1 and j["leaf_index"] == 1,
			   "we joined from CoreCrypto's Welcome without a tree out of band")
		hub = self.hub(c["group_info"])
		self.agree("we joined CoreCrypto's group", [alice, ours], hub, c)

		# application messages both ways, out of order, replays and tampering refused
		self.say(alice, "hello from CoreCrypto", [ours])
		self.say(ours, "hello from aim", [alice])
		msgs = [alice.req("send", plaintext="m%d" % i)["message"] for i in range(3)]
		for i in (2, 0, 1):
			self.check(ours.req("process", message=msgs[i])["text"] == "m%d" % i,
				   "we read CoreCrypto's out-of-order message %d" % i)
		self.refused(ours.call("process", message=msgs[0]), None, "a replayed CoreCrypto message")
		# CoreCrypto keeps the keys of one generation behind the newest it read, no more:
		# a message two behind is refused as a duplicate (its policy; README)
		mine = [ours.req("send", plaintext="r%d" % i)["message"] for i in range(5)]
		for i in (1, 0, 2, 4):
			self.check(alice.req("process", message=mine[i])["text"] == "r%d" % i,
				   "CoreCrypto reads our out-of-order message %d" % i)
		self.refused(alice.call("process", message=mine[1]), "Mls.DuplicateMessage",
			     "CoreCrypto: a replayed message of ours")
		self.refused(alice.call("process", message=mine[2]), "Mls.DuplicateMessage",
			     "CoreCrypto: a replayed message of ours, out of order")
		self.check(alice.req("process", message=mine[3])["text"] == "r3",
			   "CoreCrypto reads our message one generation behind the newest")
		m = alice.req("send", plaintext="tamper")["message"]
		self.refused(ours.call("process", message=flip(m, -5)), "verify",
			     "a tampered CoreCrypto ciphertext")
		self.check(ours.req("process", message=m)["text"] == "tamper",
			   "the genuine message is read after a tampered copy")
		m = ours.req("send", plaintext="tamper back")["message"]
		self.refused(alice.call("process", message=flip(m, -5)), None,
			     "CoreCrypto: a tampered ciphertext of ours")
		self.check(alice.req("process", message=m)["text"] == "tamper back",
			   "CoreCrypto reads the genuine message after a tampered copy")
		self.agree("after the messages", [alice, ours], hub)

		# CoreCrypto adds another CoreCrypto member: we and the hub follow
		c = alice.req("commit", add=[bob.kp["key_package"]])
		r = self.deliver(c["commit"], [ours], hub=hub)
		self.check(r[0]["added"] == [2] and r[1]["added"] == [2], "member and hub see leaf 2 added")
		bob.req("join", welcome=c["welcome"])
		members = [alice, bob, ours]
		self.agree("CoreCrypto added bob", members, hub, c)
		self.say(bob, "bob here", [alice, ours])

		# our Update with path; a forged copy first, refused by both stacks and the hub
		u = ours.req("commit", path=True, public=True)
		forged = flip(u["commit"], sig_pos(s))
		before = alice.req("status")
		self.refused(alice.call("process", message=forged), None,
			     "CoreCrypto: our Commit with a forged signature")
		self.unchanged(alice, before, "the forged Commit")
		self.refused(aim.call("public_process", name=hub, message=forged), "verify",
			     "the hub: a forged Commit")
		self.deliver(u["commit"], [alice, bob], hub=hub)
		self.agree("our Update with path", members, hub)

		# CoreCrypto's Updates with path; forged copies refused first
		for m in (bob, alice):
			u = m.req("commit", update=True)
			self.public(u, "Update")
			others = [x for x in members if x is not m]
			forged = flip(u["commit"], sig_pos(s))
			before = ours.req("status")
			self.refused(ours.call("process", message=forged), "verify",
				     "%s's Commit with a forged signature" % m.label)
			self.unchanged(ours, before, "the forged Commit")
			self.refused(aim.call("public_process", name=hub, message=forged), "verify",
				     "the hub: %s's forged Commit" % m.label)
			self.deliver(u["commit"], others, hub=hub)
			self.agree("%s's Update with path" % m.label, members, hub, u)
			last = u
		# stale: the last Commit again, to member and hub
		before = ours.req("status")
		self.refused(ours.call("process", message=last["commit"]), None, "a replayed Commit")
		self.unchanged(ours, before, "the replayed Commit")
		hb = self.hub_status(hub)
		self.refused(aim.call("public_process", name=hub, message=last["commit"]), "conflict",
			     "the hub: a replayed (stale) Commit")
		self.check(self.hub_status(hub)["epoch"] == hb["epoch"], "the hub's epoch is unchanged")
		# stale: a lost race; bob's Commit for the epoch alice's Commit ended (its delivery
		# refused, so bob stays in that epoch and then follows alice)
		lost = bob.req("commit", update=True, reject="lost the race")
		self.check(lost.get("rejected") and lost["epoch"] == hb["epoch"],
			   "CoreCrypto keeps its epoch when the delivery service refuses its Commit")
		won = alice.req("commit", update=True)
		self.deliver(won["commit"], [bob, ours], hub=hub)
		self.refused(aim.call("public_process", name=hub, message=lost["commit"]), "conflict",
			     "the hub: the Commit that lost the race")
		self.refused(ours.call("process", message=lost["commit"]), None,
			     "the Commit that lost the race")
		self.agree("alice won the race", members, hub, won)
		# foreign: a Commit of another group
		other = self.theirs(s, "other")
		other.group = other.req("create_group")["group"]
		oc = other.req("commit", update=True)
		self.refused(aim.call("public_process", name=hub, message=oc["commit"]), None,
			     "the hub: a Commit of another group")
		self.refused(ours.call("process", message=oc["commit"]), None, "a Commit of another group")
		self.agree("after the stale and foreign Commits", members, hub)

		# we add a CoreCrypto member, then one of ours and one of theirs at once
		carol = self.theirs(s, "carol")
		carol.group = gid
		c = ours.req("commit", add=[carol.kp["key_package"]], public=True, tree_in_welcome=True)
		self.deliver(c["commit"], [alice, bob], hub=hub)
		carol.req("join", welcome=c["welcome"])
		members = [alice, bob, ours, carol]
		self.agree("we added carol", members, hub)
		self.say(carol, "carol here", [alice, bob, ours])
		ours2 = self.ours(s, "ours2")
		dave = self.theirs(s, "dave")
		ours2.group = dave.group = gid
		c = ours.req("commit", add=[ours2.kp["key_package"], dave.kp["key_package_raw"]],
			     public=True, tree_in_welcome=True)
		self.deliver(c["commit"], [alice, bob, carol], hub=hub)
		dave.req("join", welcome=c["welcome"])
		ours2.req("join", welcome=c["welcome"])
		members = [alice, bob, ours, carol, ours2, dave]
		self.agree("we added two members at once", members, hub)
		self.say(dave, "dave here", [m for m in members if m is not dave])

		# CoreCrypto removes carol; we remove dave
		c = alice.req("commit", remove=[carol.identity])
		self.public(c, "Remove")
		r = self.deliver(c["commit"], [bob, ours, ours2, dave], hub=hub)
		self.check(r[-1]["removed"] == [3], "the hub sees carol's leaf 3 removed")
		self.removed(carol, c["commit"])
		members = [alice, bob, ours, ours2, dave]
		self.agree("CoreCrypto removed carol", members, hub, c)
		dleaf = [x["leaf"] for x in ours.req("status")["members"] if x["identity"] == dave.identity]
		c = ours.req("commit", remove=dleaf, public=True)
		self.deliver(c["commit"], [alice, bob, ours2], hub=hub)
		self.removed(dave, c["commit"])
		members = [alice, bob, ours, ours2]
		self.agree("we removed dave", members, hub)

		# our Update proposal, committed by CoreCrypto by reference
		before = ours.req("status")
		p = ours.req("propose", update=True, public=True)["proposal"]
		self.deliver(p, [alice, bob, ours2], kind="proposal", hub=hub)
		c = alice.req("commit", pending=True)
		self.deliver(c["commit"], [bob, ours, ours2], hub=hub)
		st = self.agree("CoreCrypto committed our Update proposal", members, hub, c)
		self.check(st["tree_hash"] != before["tree_hash"], "our leaf changed")
		# our Remove proposal of bob, committed by CoreCrypto by reference
		bleaf = [x["leaf"] for x in before["members"] if x["identity"] == bob.identity]
		p = ours.req("propose", remove=bleaf, public=True)["proposal"]
		self.deliver(p, [alice, bob, ours2], kind="proposal", hub=hub)
		c = alice.req("commit", pending=True)
		self.deliver(c["commit"], [ours, ours2], hub=hub)
		self.removed(bob, c["commit"])
		members = [alice, ours, ours2]
		self.agree("CoreCrypto committed our Remove proposal", members, hub, c)

		# we join by external commit from CoreCrypto's GroupInfo
		ext = self.ours(s, "ext")
		j = ext.req("join_external", group_info=c["group_info"])
		ext.group = gid
		r = self.deliver(j["commit"], [alice, ours, ours2], hub=hub)
		self.check(r[-1]["sender_type"] == 4, "the hub follows an external commit")
		members = [alice, ours, ours2, ext]
		self.agree("we joined by external commit", members, hub)
		self.say(ext, "external hello", [alice, ours, ours2])

		# CoreCrypto removes two of ours
		c = alice.req("commit", remove=[ours.identity, ext.identity])
		self.deliver(c["commit"], [ours2], hub=hub)
		self.removed(ours, c["commit"])
		self.removed(ext, c["commit"])
		members = [alice, ours2]
		self.agree("CoreCrypto removed us", members, hub, c)
		self.say(alice, "goodbye", [ours2])
		self.say(ours2, "bye", [alice])

	def aim_group(self, s):
		aim = self.aim
		ours = self.ours(s, "owner")
		g = ours.req("create_group")
		gid = ours.group = g["group"]
		hub = self.hub(ours.req("group_info")["group_info"])
		bob = self.theirs(s, "bob2")
		carol = self.theirs(s, "carol2")
		for m in (bob, carol):
			m.group = gid

		# its policy: the ratchet tree must be in the Welcome
		c = ours.req("commit", add=[bob.kp["key_package_raw"]], public=True, pending=True)
		self.refused(bob.call("join", welcome=c["welcome"]), None,
			     "CoreCrypto: our Welcome without a ratchet tree")
		ours.req("discard_pending")
		c = ours.req("commit", add=[bob.kp["key_package"]], public=True, tree_in_welcome=True)
		self.deliver(c["commit"], [], hub=hub)
		bob.req("join", welcome=c["welcome"])
		members = [ours, bob]
		self.agree("CoreCrypto joined our group", members, hub)

		# its policy: handshake messages must be PublicMessages
		p = ours.req("commit", path=True, public=False, pending=True)
		before = bob.req("status")
		r = bob.call("process", message=p["commit"])
		self.refused(r, None, "CoreCrypto: our PrivateMessage Commit")
		self.check("wire" in r.get("error", "").lower(), "CoreCrypto names the wire format (%s)" %
			   r.get("error"))
		self.unchanged(bob, before, "the PrivateMessage Commit")
		ours.req("discard_pending")
		self.agree("after the refused PrivateMessage Commit", members, hub)

		self.say(ours, "welcome to aim's group", [bob])
		self.say(bob, "thanks", [ours])

		# CoreCrypto adds a CoreCrypto member and one of ours
		c = bob.req("commit", add=[carol.kp["key_package"]])
		self.deliver(c["commit"], [ours], hub=hub)
		carol.req("join", welcome=c["welcome"])
		members = [ours, bob, carol]
		self.agree("CoreCrypto added carol to our group", members, hub, c)
		ours2 = self.ours(s, "owner2")
		ours2.group = gid
		c = bob.req("commit", add=[ours2.kp["key_package"]])
		self.deliver(c["commit"], [ours, carol], hub=hub)
		ours2.req("join", welcome=c["welcome"])
		members = [ours, bob, carol, ours2]
		self.agree("CoreCrypto added a member of ours", members, hub, c)
		self.say(ours2, "hello", [ours, bob, carol])
		self.say(carol, "hello", [ours, bob, ours2])

		# Updates with path from both sides
		for who in (ours, carol, ours2, bob):
			if who.kind == "aim":
				u = who.req("commit", path=True, public=True)
				bundle = None
			else:
				u = bundle = who.req("commit", update=True)
			self.deliver(u["commit"], [m for m in members if m is not who], hub=hub)
			self.agree("%s's Update with path" % who.label, members, hub, bundle)

		# Removes from both sides
		cleaf = [x["leaf"] for x in ours.req("status")["members"] if x["identity"] == carol.identity]
		c = ours.req("commit", remove=cleaf, public=True)
		self.deliver(c["commit"], [bob, ours2], hub=hub)
		self.removed(carol, c["commit"])
		members = [ours, bob, ours2]
		self.agree("we removed carol", members, hub)
		c = bob.req("commit", remove=[ours2.identity])
		self.deliver(c["commit"], [ours], hub=hub)
		self.removed(ours2, c["commit"])
		members = [ours, bob]
		self.agree("CoreCrypto removed a member of ours", members, hub, c)

		# CoreCrypto joins by external commit from our GroupInfo (and from the hub's)
		dave = self.theirs(s, "dave2")
		dave.group = gid
		j = dave.req("join_external", group_info=ours.req("group_info")["group_info"])
		self.public(j, "external")
		r = self.deliver(j["commit"], [ours, bob], hub=hub)
		self.check(r[0]["sender_type"] == 4, "we see a new_member_commit")
		members = [ours, bob, dave]
		self.agree("CoreCrypto joined by external commit", members, hub, j)
		self.say(dave, "dave joined", [ours, bob])
		erin = self.theirs(s, "erin2")
		erin.group = gid
		aim.req("public_set_group_info", name=hub, group_info=j["group_info"])
		hgi = aim.req("public_group_info", name=hub)["group_info"]
		self.check(hgi == j["group_info"], "the hub hands out the GroupInfo it recorded")
		j = erin.req("join_external", group_info=hgi)
		self.deliver(j["commit"], [ours, bob, dave], hub=hub)
		members = [ours, bob, dave, erin]
		self.agree("CoreCrypto joined through the hub's GroupInfo", members, hub, j)
		self.say(ours, "goodbye", [bob, dave, erin])


	def ca(self):
		"""A CA as aimd makes it (Ed25519, self-signed, CA:TRUE, keyCertSign): (key PEM, cert
		DER hex), made once with the openssl command."""
		if getattr(self, "_ca", None) is None:
			d = tempfile.mkdtemp(prefix="aim-cc-ca-")
			key, pem = os.path.join(d, "ca.key"), os.path.join(d, "ca.pem")
			subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", key],
				       check=True, capture_output=True)
			subprocess.run(["openssl", "req", "-x509", "-new", "-key", key, "-subj",
					"/CN=aim CA a.test", "-days", "2", "-addext",
					"basicConstraints=critical,CA:TRUE", "-addext",
					"keyUsage=critical,keyCertSign", "-out", pem],
				       check=True, capture_output=True)
			der = subprocess.run(["openssl", "x509", "-in", pem, "-outform", "DER"],
					     check=True, capture_output=True).stdout
			self._ca = (open(key).read(), der.hex())
			shutil.rmtree(d)
		return self._ca

	def x509_member(self, s, label, san):
		"""One of ours with an x509 credential [leaf for SAN, CA]: aimd's leaf profile."""
		key, ca = self.ca()
		m = self.ours(s, label, identity=san)
		cert = self.aim.req("x509_issue", client=m.client, ca_key_pem=key, ca_cert=ca,
				    san=san)["cert"]
		m.kp = self.aim.req("set_credential", client=m.client, x509=[cert, ca])
		return m

	def aim_credentials(self, s):
		acct = self.x509_member(s, "x509-alice", "acct:alice@a.test")
		acct.group = acct.req("create_group")["group"]
		carol = self.ours(s, "x509-carol")
		carol.group = acct.group
		bob = self.theirs(s, "x509-bob")
		bob.group = acct.group
		# CoreCrypto's own group refuses our x509 KeyPackage
		owner = self.theirs(s, "x509-owner")
		owner.group = owner.req("create_group")["group"]
		r = owner.call("commit", add=[acct.kp["key_package"]])
		self.refused(r, "Mls.Other", "CoreCrypto: an Add of our KeyPackage with aimd's x509 leaf")
		self.check("InvalidInput" in r.get("error", ""), "CoreCrypto cannot read the leaf (%s)" %
			   r.get("error"))
		self.check(owner.req("status")["epoch"] == 0, "the refused Add left CoreCrypto's group "
			   "at epoch 0")
		# our group with that leaf: the Welcome and the GroupInfo are refused
		c = acct.req("commit", add=[bob.kp["key_package"], carol.kp["key_package"]],
			     public=True, tree_in_welcome=True)
		carol.req("join", welcome=c["welcome"])
		r = bob.call("join", welcome=c["welcome"])
		self.refused(r, "Mls.Other", "CoreCrypto: our Welcome whose tree holds aimd's x509 leaf")
		self.check("Malformed" in r.get("error", ""), "CoreCrypto calls the Welcome malformed "
			   "(%s)" % r.get("error"))
		self.check(bob.call("status").get("ok") is False, "CoreCrypto made no conversation")
		dave = self.theirs(s, "x509-dave")
		r = dave.call("join_external", group_info=acct.req("group_info")["group_info"])
		self.refused(r, None, "CoreCrypto: an external join from our GroupInfo with that leaf")
		self.check("InvalidInput" in r.get("error", ""), "CoreCrypto cannot read the tree (%s)" %
			   r.get("error"))
		# our members are unharmed and go on
		sa, sc = acct.req("status"), carol.req("status")
		for key in ("epoch", "epoch_authenticator", "tree_hash"):
			self.check(sa[key] == sc[key], "our x509 group after CoreCrypto refused it: %s "
				   "agrees" % key, "agree: our members' hashes and tree")
		self.check(acct.export() == carol.export(), "our x509 group: exporter agrees",
			   "agree: exporter secret")
		self.say(acct, "x509 only", [carol])
		# the same leaf with a wireapp:// SAN passes CoreCrypto's parser and meets its
		# authentication service, which refuses it (no trust anchor): the SAN is the obstacle
		wire = self.x509_member(s, "x509-wire", "wireapp://SvPfLlwBQi-6oddVRrkqpw!4c7@a.test")
		r = owner.call("commit", add=[wire.kp["key_package"]])
		self.refused(r, "Mls.Other", "CoreCrypto: an Add of a wireapp:// leaf without a trust "
			     "anchor")
		self.check("Authentication Service" in r.get("error", ""), "CoreCrypto's authentication "
			   "service refuses it (%s)" % r.get("error"))
		self.check(owner.req("status")["epoch"] == 0, "CoreCrypto's group is still at epoch 0")


def main():
	node = shutil.which("node")
	if node is None or not os.path.isdir(os.path.join(HERE, "node_modules", "@wireapp",
							   "core-crypto")):
		print("SKIP: node or @wireapp/core-crypto missing (run scripts/test-setup.sh)")
		return 77
	driver = os.path.join(BIN, "mls_driver")
	if not os.access(driver, os.X_OK):
		print("FAIL: %s not built" % driver)
		return 1
	suites = [int(x) for x in sys.argv[1:]] or SUITES
	only = os.environ.get("AIM_INTEROP_SCENARIOS")
	names = only.split(",") if only else ["keypackages", "cc_group", "aim_group",
					       "aim_credentials"]
	aim = Driver("aim", [driver], HERE)
	cc = Driver("corecrypto", [node, os.path.join(HERE, "corecrypto-driver.mjs")], HERE)
	run = Runner(aim, cc)
	failures = []
	per_suite = {}
	start = time.monotonic()
	try:
		hello = cc.req("hello")
		print("CoreCrypto %s (WebAssembly initialised in %d ms)" %
		      (hello["core_crypto"], hello["init_ms"]), flush=True)
		for s in suites:
			n0 = run.passed
			for name in names:
				run.where = "suite %d %s" % (s, name)
				t0 = time.monotonic()
				c0 = run.passed
				try:
					getattr(run, name)(s)
					print("ok   suite %d %-12s %4d checks %5.1fs" %
					      (s, name, run.passed - c0, time.monotonic() - t0), flush=True)
				except (Failure, DriverError) as e:
					if run.where not in str(e):
						e = Failure("%s: %s" % (run.where, e))
					failures.append(str(e))
					print("FAIL suite %d %-12s %s" % (s, name, e), flush=True)
					if isinstance(e, DriverError):
						raise
			per_suite[s] = run.passed - n0
	except DriverError:
		pass
	finally:
		st_aim, err_aim = aim.close()
		st_cc, err_cc = cc.close()
	if st_aim != 0 or any(mk in err_aim for mk in SANITIZER_MARKERS):
		failures.append("aim driver exit status %s" % st_aim)
	if err_aim.strip():
		print("--- aim driver stderr ---\n" + err_aim[-20000:])
	if failures and err_cc.strip():
		print("--- corecrypto driver stderr ---\n" + err_cc[-5000:])
	print("checks by kind (all suites):")
	for kind, n in sorted(run.kinds.items(), key=lambda kv: -kv[1]):
		print("  %5d  %s" % (n, kind))
	print("checks per suite: " + ", ".join("%d: %d" % kv for kv in per_suite.items()))
	print("%d checks passed, %d scenario failures, %.1fs" %
	      (run.passed, len(failures), time.monotonic() - start))
	for f in failures:
		print("FAILED: " + f)
	return 1 if failures else 0


if __name__ == "__main__":
	sys.exit(main())
