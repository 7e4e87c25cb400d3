"""`make run` without make: scripts/run.sh creates the data directory on
first use with user alice, prints her token and curl examples that work,
serves until SIGINT (exit 0), and a second run keeps the data and prints the
same working token (kept in DATA/alice.token, mode 0600) instead of minting a
new one; a revoked token is replaced at the next run."""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from aimtest import (REPO, AimTestCase, _die_with_parent, aimd_path, free_port,
		     get_json, note, post_json, run_aimd, sanitizer_reports)


class RunScriptTest(AimTestCase):
	def setUp(self):
		self.tmp = tempfile.mkdtemp(prefix="aimtest-run-")
		self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
		self.port = free_port()
		self.listen = "127.0.0.1:%d" % self.port
		self.base = "http://" + self.listen
		self.data = os.path.join(self.tmp, "var")
		self.proc = None

	def tearDown(self):
		if self.proc and self.proc.poll() is None:
			self.proc.kill()
			self.proc.wait()

	def run_script(self, n):
		out = open(os.path.join(self.tmp, "run-%d.out" % n), "wb")
		self.proc = subprocess.Popen(
			["bash", os.path.join(REPO, "scripts", "run.sh"), aimd_path(), self.data,
			 "run.test", self.listen], stdout=out, stderr=subprocess.STDOUT,
			stdin=subprocess.DEVNULL, cwd=self.tmp, preexec_fn=_die_with_parent)
		out.close()
		deadline = time.monotonic() + 30
		while time.monotonic() < deadline:
			text = self.output(n)
			if self.proc.poll() is not None:
				self.fail("run.sh exited with %d:\n%s" % (self.proc.returncode, text))
			if "listening on" in text:
				return text
			time.sleep(0.05)
		self.fail("run.sh not serving after 30 s:\n" + self.output(n))

	def output(self, n):
		with open(os.path.join(self.tmp, "run-%d.out" % n), "rb") as f:
			return f.read().decode("utf-8", "replace")

	def interrupt(self, n):
		self.proc.send_signal(signal.SIGINT)
		rc = self.proc.wait(10)
		self.assertEqual(rc, 0, self.output(n))
		self.assertEqual(sanitizer_reports(self.output(n)), "")

	def token(self, text):
		m = re.findall(r"token:\s*(\S+)", text)
		self.assertTrue(m, "no token printed:\n" + text)
		return m[-1]

	def run_curls(self, text):
		"""Runs every printed curl example (except the endless SSE one)."""
		lines = text.splitlines()
		cmds = []
		i = 0
		while i < len(lines):
			line = lines[i].strip()
			if line.startswith("curl"):
				cmd = line
				while cmd.endswith("\\") and i + 1 < len(lines):
					i += 1
					cmd = cmd[:-1] + " " + lines[i].strip()
				cmds.append(cmd)
			i += 1
		self.assertGreaterEqual(len(cmds), 3, text)
		results = []
		for cmd in cmds:
			if "text/event-stream" in cmd:
				cmd = cmd.replace("curl ", "curl -m 2 ", 1)
			r = subprocess.run(["bash", "-c", cmd + " -o /dev/null -w '%{http_code}'"],
					   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
					   text=True, timeout=20)
			code = r.stdout.strip()[-3:]
			results.append((cmd, code))
		for cmd, code in results:
			self.assertIn(code, ("200", "201"), "printed example failed: %s -> %s"
				      % (cmd, code))

	def test_first_and_second_run(self):
		text = self.run_script(1)
		tok = self.token(text)
		self.assertIn(self.base, text)
		st, hd, doc = get_json(self.base + "/.well-known/webfinger?resource=acct:alice@run.test")
		self.assertEqual(st, 200)
		st, hd, a = post_json(self.base + "/users/alice/outbox", note("first run"), token=tok)
		self.assertEqual(st, 201, a)
		if shutil.which("curl"):
			self.run_curls(text)
		self.interrupt(1)

		text = self.run_script(2)
		tok2 = self.token(text)
		st, hd, got = get_json(a["id"])
		self.assertEqual(st, 200, "post of the first run lost")
		st, hd, b = post_json(self.base + "/users/alice/outbox", note("second run"),
				      token=tok2)
		self.assertEqual(st, 201, b)
		self.interrupt(2)
		# no token minted at the second run: the same one, one token in the store
		self.assertEqual(tok2, tok)
		tokfile = os.path.join(self.data, "alice.token")
		with open(tokfile) as f:
			self.assertEqual(f.read().strip(), tok)
		self.assertEqual(os.stat(tokfile).st_mode & 0o777, 0o600)
		r = run_aimd("user", "list", "--data", self.data)
		self.assertEqual(r.returncode, 0, r.stderr)
		self.assertIn("tokens 1", r.stdout)

		# a revoked token is replaced by a new one at the next run
		r = run_aimd("user", "revoke", "--data", self.data, "alice", "all")
		self.assertEqual(r.returncode, 0, r.stderr)
		text = self.run_script(3)
		tok3 = self.token(text)
		self.assertNotEqual(tok3, tok)
		st, hd, c = post_json(self.base + "/users/alice/outbox", note("third run"), token=tok3)
		self.assertEqual(st, 201, c)
		self.interrupt(3)


if __name__ == "__main__":
	unittest.main(verbosity=2)
