"""`aim chat` in a real terminal (issue 12 acceptance): bob@b.test runs
`aim chat` in a tmux pane; a message alice@a.test sends with `aim send`
shows in the pane within a second, and what bob types into the pane
(send-keys) reaches alice decrypted. tmux runs on its own socket in the
test's directory and is stopped by it."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aimtest
from aimtest import AimTestCase
from clitest import Aim, Domains


@unittest.skipUnless(shutil.which("tmux"), "tmux is not installed")
class CliChat(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.fed = Domains(("a.test", "b.test"))
		cls.addClassCleanup(cls.fed.cleanup)
		at = cls.fed["a.test"].add_user("alice")
		bt = cls.fed["b.test"].add_user("bob")
		cls.fed.start_all()
		cls.tmp = tempfile.mkdtemp(prefix="aimtest-cli-chat-")
		cls.alice = Aim(os.path.join(cls.tmp, "alice"))
		cls.bob = Aim(os.path.join(cls.tmp, "bob"))
		cls.alice.login(cls.fed["a.test"], "alice", at, connect_to=cls.fed.route("a.test"),
				ca_file=cls.fed.ca.cert)
		cls.bob.login(cls.fed["b.test"], "bob", bt, connect_to=cls.fed.route("b.test"),
			      ca_file=cls.fed.ca.cert)

	def tmux(self, *args):
		return subprocess.run(["tmux", "-S", self.sock] + list(args), stdout=subprocess.PIPE,
				      stderr=subprocess.PIPE, text=True, timeout=30)

	def pane(self):
		return self.tmux("capture-pane", "-p", "-t", "chat").stdout

	def wait_pane(self, text, timeout):
		end = time.monotonic() + timeout
		while time.monotonic() < end:
			if text in self.pane():
				return True
			time.sleep(0.05)
		return False

	def test_chat_in_a_terminal(self):
		ch = self.alice.ok("channel", "create", "tmux", "bob@b.test", "--json")["channel"]
		self.alice.ok("send", ch, "first")
		# bob's device learns of the channel (the Welcome) and its first message
		r = self.bob("listen", "--json", "--count", "1", "--interval", "100", timeout=60)
		self.assertEqual(r.returncode, 0, r)
		self.assertEqual(json.loads(r.stdout)["text"], "first")

		self.sock = os.path.join(self.tmp, "tmux.sock")
		cmd = " ".join([aimtest.aim_path(), "--home", self.bob.home, "chat", ch]) + \
			"; echo aim-exited-$?; sleep 60"
		r = self.tmux("new-session", "-d", "-s", "chat", "-x", "160", "-y", "40", cmd)
		self.assertEqual(r.returncode, 0, r.stderr)
		self.addCleanup(lambda: self.tmux("kill-server"))
		self.assertTrue(self.wait_pane("Type a message", 10), self.pane())
		self.assertIn("alice@a.test: first", self.pane())

		# alice sends from her domain: bob's pane shows it within a second
		for i in range(3):
			text = "from alice %d" % i
			self.alice.ok("send", ch, text)
			t0 = time.monotonic()
			self.assertTrue(self.wait_pane("alice@a.test: " + text, 5), self.pane())
			took = time.monotonic() - t0
			self.assertLess(took, 1.0, "shown after %.2f s" % took)

		# bob types; alice's listen gets it decrypted
		self.tmux("send-keys", "-t", "chat", "hello from the terminal", "Enter")
		self.assertTrue(self.wait_pane("bob@b.test: hello from the terminal", 5), self.pane())
		r = self.alice("listen", ch, "--json", "--count", "5", "--interval", "100", timeout=60)
		self.assertEqual(r.returncode, 0, r)
		got = [json.loads(l) for l in r.stdout.splitlines()]
		self.assertIn(("acct:bob@b.test", "hello from the terminal"),
			      [(m["sender"], m["text"]) for m in got])

		# /quit ends the session with exit status 0
		self.tmux("send-keys", "-t", "chat", "/quit", "Enter")
		self.assertTrue(self.wait_pane("aim-exited-0", 10), self.pane())


if __name__ == "__main__":
	aimtest.main()
