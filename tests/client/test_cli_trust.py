"""Trust shown to the person (issue 12 point 4) through `aim` commands,
across two domains over TLS: `aim members` names, per device of each
member, the check that vouched for it (x509: the domain's CA); when bob
adds a second device and alice invites it, every member that had seen bob
before is warned loudly (listen, history, members; --json too), and the
new device itself starts from its own baseline without a warning."""

import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aimtest
from aimtest import AimTestCase
from clitest import Aim, Domains


class CliTrust(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.fed = Domains(("a.test", "b.test"))
		cls.addClassCleanup(cls.fed.cleanup)
		cls.toks = {}
		for dom, user in (("a.test", "alice"), ("b.test", "bob")):
			cls.toks[user] = cls.fed[dom].add_user(user)
		cls.fed.start_all()
		cls.tmp = tempfile.mkdtemp(prefix="aimtest-cli-trust-")
		cls.dev = {}
		for dom, user in (("a.test", "alice"), ("b.test", "bob")):
			cls.dev[user] = cls.login(dom, user, "laptop")

	@classmethod
	def login(cls, dom, user, device):
		a = Aim(os.path.join(cls.tmp, "%s-%s" % (user, device)))
		a.login(cls.fed[dom], user, cls.toks[user], device=device,
			connect_to=cls.fed.route(dom), ca_file=cls.fed.ca.cert, keys=5)
		return a

	def listen(self, dev, n, conv=None):
		args = ["listen", "--json", "--count", n, "--interval", 100]
		if conv:
			args.insert(1, conv)
		r = dev(*args, timeout=60)
		self.assertEqual(r.returncode, 0, r)
		msgs = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
		self.assertEqual(len(msgs), n, r)
		return msgs, r

	def test_members_and_a_new_device(self):
		alice, bob = self.dev["alice"], self.dev["bob"]
		url = alice.ok("channel", "create", "trust", "bob@b.test", "--json")["channel"]
		alice.ok("send", url, "hello")
		self.listen(bob, 1, url)

		for dev, me in ((alice, "acct:alice@a.test"), (bob, "acct:bob@b.test")):
			m = dev.ok("members", url, "--json")
			self.assertFalse(m["warning"], m)
			got = sorted((x["acct"], x["check"], x["self"], x["changed"]) for x in m["members"])
			self.assertEqual(got, sorted([("acct:alice@a.test", "x509", me == "acct:alice@a.test", False),
						      ("acct:bob@b.test", "x509", me == "acct:bob@b.test", False)]))
			for x in m["members"]:
				self.assertEqual(len(x["key"]), 64)
				self.assertIn("a.test" if "alice" in x["acct"] else "b.test", x["reason"])
		text = alice.ok("members", url)
		self.assertRegex(text, r"bob@b\.test\s+\d+\s+x509 \(domain CA\)")
		self.assertIn("(this device)", text)
		self.assertNotIn("CHANGED", text)

		# bob adds a phone; alice invites bob again: his new device joins
		phone = self.login("b.test", "bob", "phone")
		inv = alice.ok("invite", url, "bob@b.test", "--json")
		self.assertEqual(inv["epoch"], 2)
		# alice applied her own commit: warned in history (text and --json) and members
		h = alice.ok("history", url, "--json")
		self.assertEqual(len(h["trustWarnings"]), 1, h)
		w = h["trustWarnings"][0]
		self.assertEqual(w["acct"], "acct:bob@b.test")
		self.assertIn("WARNING: the credential of acct:bob@b.test changed (a new device", w["text"])
		self.assertIn("x509", w["text"])
		r = alice("history", url)
		self.assertIn("*** WARNING: the credential of acct:bob@b.test changed", r.stdout)
		m = alice.ok("members", url, "--json")
		self.assertTrue(m["warning"])
		bobs = [x for x in m["members"] if x["acct"] == "acct:bob@b.test"]
		self.assertEqual(len(bobs), 2)
		self.assertEqual(sorted(x["changed"] for x in bobs), [False, True])
		self.assertTrue(all(x["check"] == "x509" for x in bobs))
		r = alice("members", url)
		self.assertIn("*** CREDENTIAL CHANGED ***", r.stdout)
		self.assertIn("*** ", r.stderr)

		# bob's laptop is warned as it happens, in listen (--json and stderr)
		msgs, r = self.listen(bob, 1, url)
		self.assertEqual(msgs[0]["type"], "trust")
		self.assertTrue(msgs[0]["warning"])
		self.assertIn("acct:bob@b.test changed (a new device", msgs[0]["text"])
		self.assertIn("*** ", r.stderr)
		# the phone joined from its Welcome: its baseline, no warning; it reads on
		alice.ok("send", url, "hi phone")
		for _ in range(50):
			phone("listen", "--json", "--interval", "100", timeout_ok=1)
			h = phone.ok("history", url, "--json")
			if h["messages"]:
				break
		self.assertEqual([x["text"] for x in h["messages"]], ["hi phone"])
		self.assertFalse(phone.ok("members", url, "--json")["warning"])
		self.assertEqual(phone.ok("history", url, "--json")["trustWarnings"], [])
		# the same tree again (a plain message) warns of nothing more
		msgs, _ = self.listen(bob, 1, url)
		self.assertEqual(msgs[0]["text"], "hi phone")
		self.assertEqual(len(alice.ok("history", url, "--json")["trustWarnings"]), 1)

	def test_progress_on_stderr(self):
		"""Claiming and adding many members shows progress on stderr; the
		--json output stays one object; a small one shows none."""
		names = ["user%02d" % i for i in range(12)]
		for n in names:
			tok = self.fed["b.test"].add_user(n)
			a = Aim(os.path.join(self.tmp, n))
			a.login(self.fed["b.test"], n, tok, device="d", connect_to=self.fed.route("b.test"),
				ca_file=self.fed.ca.cert, keys=1)
		alice = self.dev["alice"]
		r = alice("channel", "create", "many", *["%s@b.test" % n for n in names], "--json")
		self.assertEqual(r.returncode, 0, r)
		out = r.json()
		self.assertEqual(len(out["members"]), 12)
		self.assertEqual(len(r.stdout.strip().split("\n")), 1, r)
		self.assertIn("aim: claiming KeyPackages of 12 handles", r.stderr)
		self.assertIn("aim: verified the KeyPackages of 12/12 handles", r.stderr)
		self.assertIn("aim: committing 12 devices", r.stderr)
		self.assertIn("aim: sending the commit to the hub", r.stderr)
		r = alice("channel", "create", "few", "bob@b.test", "--json")
		self.assertEqual(r.returncode, 0, r)
		self.assertEqual(r.stderr, "")

	def test_members_errors(self):
		r = self.dev["alice"]("members", "no-such")
		self.assertEqual(r.returncode, 1, r)
		self.assertEqual(len(r.stderr.strip().split("\n")), 1, r)
		r = self.dev["alice"]("members")
		self.assertEqual(r.returncode, 2, r)


if __name__ == "__main__":
	aimtest.main()
