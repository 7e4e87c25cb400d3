"""`make demo` (issue 12): scripts/demo.sh with this build's binaries starts
a.test and b.test over TLS, alice and bob log in, alice creates a channel
with bob, they exchange messages. It must exit 0, well under a minute, with
output showing alice's messages decrypted at bob and bob's at alice, and
leave nothing behind: no aimd of the demo running, its temporary directory
gone. The same holds when it is interrupted (Ctrl-C: SIGINT to its process
group) and when a server cannot start."""

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import shutil
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aimtest
from aimtest import AimTestCase

SCRIPT = os.path.join(aimtest.REPO, "scripts", "demo.sh")
BUILD = os.path.dirname(aimtest.bin_dir())


def demo_processes(tmp):
	"""(pid, cmdline) of every process whose command line names tmp."""
	found = []
	for pid in os.listdir("/proc"):
		if not pid.isdigit():
			continue
		try:
			with open("/proc/%s/cmdline" % pid, "rb") as f:
				cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
		except OSError:
			continue
		if tmp in cmd and "aimd" in cmd:
			found.append((int(pid), cmd))
	return found


def section(out, command):
	"""The lines printed after the shown command `$ ...COMMAND` (up to the
	next shown command or step), for each time it was shown."""
	parts = []
	lines = out.splitlines()
	for i, line in enumerate(lines):
		if line.startswith("$ ") and line.endswith(command):
			body = []
			for l in lines[i + 1:]:
				if l.startswith("$ ") or l.startswith("== ") or l.startswith("-- "):
					break
				if l.strip():
					body.append(l.strip())
			parts.append(body)
	return parts


class Demo(AimTestCase):
	def setUp(self):
		self.tmp = tempfile.mkdtemp(prefix="aimtest-demo-")
		self.env = dict(os.environ, TMPDIR=self.tmp)
		self.env.pop("AIM_DEMO_KEEP", None)
		self.env.pop("AIM_DEMO_PORTS", None)
		self.proc = None

	def tearDown(self):
		if self.proc is not None and self.proc.poll() is None:
			os.killpg(self.proc.pid, signal.SIGKILL)
			self.proc.wait()
		for pid, _ in demo_processes(self.tmp):
			os.kill(pid, signal.SIGKILL)
		shutil.rmtree(self.tmp, ignore_errors=True)

	def start(self, env=None):
		self.proc = subprocess.Popen([SCRIPT, BUILD], stdout=subprocess.PIPE,
					     stderr=subprocess.STDOUT, text=True,
					     env=env or self.env, start_new_session=True)
		return self.proc

	def assertCleanedUp(self, out):
		self.assertEqual(demo_processes(self.tmp), [], out)
		self.assertEqual(os.listdir(self.tmp), [], out)

	def test_demo(self):
		t0 = time.monotonic()
		p = self.start()
		out, _ = p.communicate(timeout=120)
		wall = time.monotonic() - t0
		self.assertEqual(p.returncode, 0, out)
		self.assertEqual(aimtest.sanitizer_reports(out), "", out)
		self.assertLess(wall, 60, out)
		sys.stderr.write("demo: %.1f s\n" % wall)

		self.assertIn("logged in as acct:alice@a.test", out)
		self.assertIn("logged in as acct:bob@b.test", out)
		m = re.search(r"created channel lunch \((https://a\.test/channels/[^)]+)\)", out)
		self.assertTrue(m, out)
		ch = m.group(1)
		# what bob's listen printed: alice's two messages, decrypted
		bob = section(out, "bob listen --count 2 --interval 100")
		self.assertEqual(len(bob), 2, out)
		self.assertEqual(bob[0][1:], ["[%s] alice@a.test: hello bob, lunch at noon?" % ch,
					      "[%s] alice@a.test: the usual place" % ch], out)
		# alice's: her own back in the hub's order, then bob's, decrypted
		alice = section(out, "alice listen --count 4 --interval 100")
		self.assertEqual(len(alice), 1, out)
		self.assertEqual(alice[0][1:], ["[%s] alice@a.test: hello bob, lunch at noon?" % ch,
						"[%s] alice@a.test: the usual place" % ch,
						"[%s] bob@b.test: hi alice, noon works" % ch,
						"[%s] bob@b.test: see you there" % ch], out)
		# each side's history: the same four, in the same order, with the same ids
		ha = section(out, "alice history 1")
		hb = section(out, "bob history 1")
		self.assertEqual(len(ha), 1, out)
		self.assertEqual(ha, hb, out)
		self.assertEqual([re.sub(r"^[0-9a-f]{8}\s+", "", l) for l in ha[0]],
				 ["alice@a.test: hello bob, lunch at noon?",
				  "alice@a.test: the usual place",
				  "bob@b.test: hi alice, noon works",
				  "bob@b.test: see you there"], out)
		auth = re.findall(r"^\s+(alice|bob):\s+epoch authenticator ([0-9a-f]{64})$", out, re.M)
		self.assertEqual([w for w, _ in auth], ["alice", "bob"], out)
		self.assertEqual(auth[0][1], auth[1][1], out)
		self.assertIn("== OK: bob decrypted alice's 2 messages, alice decrypted bob's 2", out)
		# no token on the screen
		self.assertNotRegex(out, r"--token [^$]", out)
		self.assertIn("servers stopped, temporary files removed", out)
		self.assertCleanedUp(out)

	def test_interrupted(self):
		"""Ctrl-C while bob listens: exit 130, servers stopped, files gone."""
		p = self.start()
		seen = []
		deadline = time.monotonic() + 60
		for line in p.stdout:
			seen.append(line)
			if line.startswith("-- at bob"):
				break
			self.assertLess(time.monotonic(), deadline, "".join(seen))
		else:
			self.fail("the demo ended before bob listened:\n" + "".join(seen))
		self.assertTrue(demo_processes(self.tmp), "".join(seen))
		os.killpg(p.pid, signal.SIGINT)
		rest, _ = p.communicate(timeout=30)
		out = "".join(seen) + rest
		self.assertEqual(p.returncode, 130, out)
		self.assertIn("demo: interrupted", out)
		self.assertNotIn("== OK", out)
		self.assertCleanedUp(out)

	def test_server_cannot_start(self):
		"""A port taken by another program: one FAILED line, exit 1, and the
		other server stopped too."""
		busy = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
		self.addCleanup(busy.close)
		busy.bind(("127.0.0.1", 0))
		busy.listen(1)
		env = dict(self.env, AIM_DEMO_PORTS="%d %d" % (aimtest.free_port(),
							     busy.getsockname()[1]))
		p = self.start(env)
		out, _ = p.communicate(timeout=60)
		self.assertEqual(p.returncode, 1, out)
		self.assertIn("demo: FAILED: the servers did not start", out)
		self.assertCleanedUp(out)


if __name__ == "__main__":
	aimtest.main()
