"""The `aim` command's identity part (issue 12 point 1) against a real
aimd over TLS: login registers the device and publishes KeyPackages;
whoami, devices, stock, keys topup and verify print the right things as
text and as --json; errors are one line on stderr with a non-zero exit
status (bad token, unreachable server, unknown command or option, a second
login, a state file readable by others); the home directory is 0700 and
its state file 0600, also at the default ~/.local/share/aim."""

import json
import os
import stat
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aimtest
from aimtest import AimTestCase
from clitest import Aim, Domains

COMMANDS = ("login", "whoami", "identity", "devices", "stock", "keys", "verify", "channel",
	    "invite", "remove", "send", "conversations", "history", "reply", "react", "edit",
	    "delete", "listen", "chat")


def mode(path):
	return stat.S_IMODE(os.stat(path).st_mode)


class CliIdentity(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.fed = Domains(("a.test",))
		cls.addClassCleanup(cls.fed.cleanup)
		cls.a = cls.fed["a.test"]
		cls.alice_tok = cls.a.add_user("alice")
		cls.bob_tok = cls.a.add_user("bob")
		cls.fed.start_all()
		cls.tmp = tempfile.mkdtemp(prefix="aimtest-cli-homes-")

	def aim(self, name):
		return Aim(os.path.join(self.tmp, name))

	def login(self, name, user, token, device, keys=5):
		a = self.aim(name)
		r = a.login(self.a, user, token, device=device, connect_to=self.fed.route("a.test"),
			    ca_file=self.fed.ca.cert, keys=keys)
		return a, r

	def assertOneLineError(self, r, status=1, contains=None):
		self.assertEqual(r.returncode, status, r)
		lines = r.stderr.strip("\n").split("\n")
		self.assertEqual(len(lines), 1, r)
		self.assertTrue(lines[0].startswith("aim: "), r)
		if contains:
			self.assertIn(contains, lines[0], r)

	def test_help(self):
		r = self.aim("help")("--help")
		self.assertEqual(r.returncode, 0, r)
		for c in COMMANDS:
			self.assertIn("aim %s" % c, r.stdout)
		self.assertIn("--json", r.stdout)
		self.assertIn("--home DIR", r.stdout)
		for c in COMMANDS:
			r = self.aim("help")(c, "--help")
			self.assertEqual(r.returncode, 0, r)
			self.assertTrue(r.stdout.startswith("usage: aim [--home DIR] %s" % c), r)
		# --help never touches the home
		self.assertFalse(os.path.exists(os.path.join(self.tmp, "help")))

	def test_login_whoami_devices_stock_topup(self):
		a, r = self.login("alice-phone", "alice", self.alice_tok, "phone")
		self.assertEqual(r["acct"], "acct:alice@a.test")
		self.assertEqual(r["device"], "phone")
		self.assertEqual(r["published"], 6)  # 5 and a last-resort one
		home = os.path.join(self.tmp, "alice-phone")
		self.assertEqual(mode(home), 0o700)
		self.assertEqual(mode(os.path.join(home, "aim.db")), 0o600)

		# the server registered the device and holds its KeyPackages
		st, _, body = self.a.get("/users/alice/devices", token=self.alice_tok,
					 accept="application/json")
		self.assertEqual(st, 200, body)
		devs = {d["device"]: d for d in body["devices"]}
		self.assertIn("phone", devs)
		self.assertEqual(devs["phone"]["keyPackages"], 5)

		who = a.ok("whoami", "--json")
		self.assertEqual(who["acct"], "acct:alice@a.test")
		self.assertEqual(who["device"], "phone")
		self.assertEqual(who["server"], "https://a.test")
		self.assertEqual(who["certificate"], "valid")
		self.assertGreater(who["secondsLeft"], 86400)
		self.assertEqual(a.ok("identity", "--json")["acct"], "acct:alice@a.test")
		text = a.ok("whoami")
		self.assertIn("acct:alice@a.test", text)
		self.assertIn("valid until", text)
		self.assertIn("phone", text)

		# devices: the server's list, this one marked (the transport kept from login)
		d = a.ok("devices", "--json")
		self.assertEqual(d["acct"], "acct:alice@a.test")
		mine = [x for x in d["devices"] if x["device"] == "phone"]
		self.assertEqual(len(mine), 1, d)
		self.assertTrue(mine[0]["this"])
		self.assertFalse(mine[0]["revoked"])
		self.assertEqual(mine[0]["keyPackages"], 5)
		text = a.ok("devices")
		self.assertRegex(text, r"phone\s+active\s+\S+\s+5\s+\(this device\)")

		s = a.ok("stock", "--json")
		self.assertEqual(s, {"available": 5, "lastResort": True, "stored": 6})
		self.assertIn("available    5 on the server", a.ok("stock"))

		t = a.ok("keys", "topup", "--threshold", "8", "--target", "12", "--json")
		self.assertEqual(t["published"], 7)
		self.assertEqual(t["available"], 12)
		t = a.ok("keys", "topup", "--threshold", "8", "--target", "12", "--json")
		self.assertEqual(t["published"], 0)
		self.assertEqual(a.ok("stock", "--json")["available"], 12)
		self.assertIn("published 0 KeyPackages", a.ok("keys", "topup"))

	def test_verify(self):
		a, _ = self.login("alice-verify", "alice", self.alice_tok, "verifier")
		self.login("bob-1", "bob", self.bob_tok, "one")
		self.login("bob-2", "bob", self.bob_tok, "two")
		v = a.ok("verify", "bob@a.test", "--json")
		self.assertTrue(v["ok"])
		self.assertEqual(len(v["results"]), 1)
		res = v["results"][0]
		self.assertEqual(res["handle"], "acct:bob@a.test")
		self.assertEqual(res["actor"], "https://a.test/users/bob")
		self.assertEqual(len(res["devices"]), 2, res)
		for d in res["devices"]:
			self.assertTrue(d["valid"], d)
			self.assertEqual(d["check"], "x509")
			self.assertEqual(d["acct"], "acct:bob@a.test")
			self.assertIn("a.test", d["reason"])
		text = a.ok("verify", "acct:bob@a.test")
		self.assertEqual(text.count("vouched for by x509"), 2, text)
		# a handle nobody has: exit 1, said in one line
		r = a("verify", "acct:nobody@a.test")
		self.assertOneLineError(r, 1)

	def test_errors(self):
		# a bad token: one line naming the refusal, no half-made home left
		bad = self.aim("bad-token")
		r = bad("login", self.a.base, "--user", "alice", "--token", "not-a-token",
			"--device", "x", "--connect-to", self.fed.route("a.test")[0],
			"--ca-file", self.fed.ca.cert)
		self.assertOneLineError(r, 1, "401")
		self.assertFalse(os.path.exists(os.path.join(bad.home, "aim.db")))
		self.assertOneLineError(bad("whoami"), 1, "aim login")
		# a server that does not answer
		port = aimtest.free_port()
		r = self.aim("unreachable")("login", "https://127.0.0.1:%d" % port, "--user", "alice",
					    "--token", self.alice_tok)
		self.assertOneLineError(r, 1, "127.0.0.1:%d" % port)
		# usage errors: exit 2
		self.assertOneLineError(self.aim("x")("frobnicate"), 2, "unknown command frobnicate")
		self.assertOneLineError(self.aim("x")(), 2, "no command")
		self.assertOneLineError(self.aim("x")("whoami", "--frob"), 2, "unknown option --frob")
		self.assertOneLineError(self.aim("x")("login", self.a.base), 2, "--user")
		self.assertOneLineError(self.aim("x")("keys", "publish"), 2)
		# a second login on a home that holds a device
		a, _ = self.login("alice-twice", "alice", self.alice_tok, "twice")
		r = a("login", self.a.base, "--user", "alice", "--token", self.alice_tok, "--device", "y")
		self.assertOneLineError(r, 1, "already holds device twice")
		self.assertEqual(a.ok("whoami", "--json")["device"], "twice")
		# a state file others may read is refused
		db = os.path.join(a.home, "aim.db")
		os.chmod(db, 0o644)
		self.assertOneLineError(a("whoami"), 1, "0600")
		os.chmod(db, 0o600)
		self.assertEqual(a.ok("whoami", "--json")["device"], "twice")
		# errors with --json are one line on stderr too, nothing on stdout
		r = bad("stock", "--json")
		self.assertOneLineError(r, 1)
		self.assertEqual(r.stdout, "")

	def test_default_home(self):
		home = tempfile.mkdtemp(prefix="aimtest-cli-HOME-", dir=self.tmp)
		env = dict(os.environ, HOME=home)
		env.pop("XDG_DATA_HOME", None)
		argv = [aimtest.aim_path(), "login", self.a.base, "--user", "alice", "--token",
			self.alice_tok, "--device", "default", "--keys", "1", "--ca-file",
			self.fed.ca.cert, "--connect-to", self.fed.route("a.test")[0], "--json"]
		p = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
				   text=True, timeout=60)
		self.assertEqual(p.returncode, 0, p.stderr)
		d = os.path.join(home, ".local", "share", "aim")
		self.assertEqual(mode(d), 0o700)
		self.assertEqual(mode(os.path.join(d, "aim.db")), 0o600)
		p = subprocess.run([aimtest.aim_path(), "whoami", "--json"], env=env,
				   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
		self.assertEqual(p.returncode, 0, p.stderr)
		self.assertEqual(json.loads(p.stdout)["device"], "default")


if __name__ == "__main__":
	aimtest.main()
