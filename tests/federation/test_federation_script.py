"""scripts/federation.sh, the local federation the README describes: `start DIR` makes a CA,
certificates with subjectAltName, three aimd (a.test, b.test, c.test) over TLS on loopback
with --connect-to between them and a user with a token on each; the three answer over TLS
for their names; the curl lines it prints work as printed (nodeinfo, WebFinger, a follow by
handle with the port from alice@a.test to bob@b.test, the Accept in alice's inbox, bob's
follower); `status` tells; `stop` ends the three processes; a second `start` reuses DIR."""

import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import aimtest
from aimtest import AimTestCase, aimd_path

SCRIPT = os.path.join(aimtest.REPO, "scripts", "federation.sh")
DOMAINS = ("a.test", "b.test", "c.test")


def free_ports(n):
	socks, ports = [], []
	for _ in range(n):
		s = socket.socket()
		s.bind(("127.0.0.1", 0))
		socks.append(s)
		ports.append(s.getsockname()[1])
	for s in socks:
		s.close()
	return ports


class FederationScriptTest(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.dir = tempfile.mkdtemp(prefix="aimtest-fedscript-")
		cls.addClassCleanup(shutil.rmtree, cls.dir, True)
		cls.ports = free_ports(3)
		cls.env = dict(os.environ, AIMD=aimd_path(),
			       AIM_FED_PORTS=" ".join(str(p) for p in cls.ports))
		cls.addClassCleanup(cls.script, "stop")

	@classmethod
	def script(cls, *args, timeout=120):
		return subprocess.run(["bash", SCRIPT, *args, cls.dir], stdout=subprocess.PIPE,
				      stderr=subprocess.PIPE, text=True, timeout=timeout, env=cls.env)

	def pids(self):
		out = {}
		for d in DOMAINS:
			p = os.path.join(self.dir, d, "aimd.pid")
			if os.path.exists(p):
				with open(p) as f:
					out[d] = int(f.read().strip())
		return out

	def tls_get(self, domain, port, path):
		"""GET over TLS to 127.0.0.1:port with SNI and certificate check for domain."""
		ctx = ssl.create_default_context(cafile=os.path.join(self.dir, "ca", "ca.pem"))
		with socket.create_connection(("127.0.0.1", port), 10) as raw:
			with ctx.wrap_socket(raw, server_hostname=domain) as s:
				s.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nAccept: application/json\r\n"
					   "Connection: close\r\n\r\n" % (path, domain, port)).encode())
				data = b""
				while True:
					chunk = s.recv(65536)
					if not chunk:
						break
					data += chunk
		head, _, body = data.partition(b"\r\n\r\n")
		return int(head.split()[1]), body

	def run_printed(self, line):
		r = subprocess.run(["bash", "-c", line], stdout=subprocess.PIPE,
				   stderr=subprocess.PIPE, text=True, timeout=60)
		self.assertEqual(r.returncode, 0, "%s\n%s" % (line, r.stderr))
		return json.loads(r.stdout)

	def test_start_follow_stop(self):
		r = self.script("start")
		self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
		out = r.stdout
		pids = self.pids()
		self.assertEqual(sorted(pids), list(DOMAINS))
		# the three answer over TLS for their names, each with its own certificate
		for d, port in zip(DOMAINS, self.ports):
			st, body = self.tls_get(d, port, "/.well-known/nodeinfo")
			self.assertEqual(st, 200, body)
			self.assertIn(("https://%s:%d/nodeinfo/2.1" % (d, port)).encode(), body)
			self.assertIn("https://%s:%d" % (d, port), out)
		# the README.txt it wrote is what it printed, private (it holds tokens)
		readme = os.path.join(self.dir, "README.txt")
		with open(readme) as f:
			self.assertTrue(out.endswith(f.read()), out)
		self.assertEqual(os.stat(readme).st_mode & 0o077, 0)
		curls = [l.strip() for l in out.splitlines() if l.strip().startswith("curl -s ")]
		self.assertEqual(len(curls), 5, out)
		nodeinfo, webfinger, follow, inbox, followers = curls
		self.assertIn("/.well-known/nodeinfo", nodeinfo)
		self.assertIn("links", self.run_printed(nodeinfo))
		jrd = self.run_printed(webfinger)
		bob = "https://b.test:%d/users/bob" % self.ports[1]
		self.assertEqual(jrd["subject"], "acct:bob@b.test:%d" % self.ports[1])
		# the follow by handle carries the port
		self.assertIn("acct:bob@b.test:%d" % self.ports[1], follow)
		act = self.run_printed(follow)
		self.assertEqual((act["type"], act["object"]), ("Follow", bob), act)
		deadline = time.monotonic() + 30
		accepts = []
		while time.monotonic() < deadline and not accepts:
			page = self.run_printed(inbox)
			accepts = [i for i in page.get("orderedItems", [])
				   if isinstance(i, dict) and i.get("type") == "Accept" and
				   (i.get("object") == act["id"] or
				    (isinstance(i.get("object"), dict) and i["object"].get("id") == act["id"]))]
			time.sleep(0.2)
		self.assertTrue(accepts, "no Accept of the Follow in alice's inbox")
		self.assertEqual(accepts[0]["actor"], bob)
		self.assertEqual(self.run_printed(followers)["totalItems"], 1)
		# status, then stop: the three processes end
		r = self.script("status")
		self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
		self.assertEqual(r.stdout.count(" running (pid "), 3, r.stdout)
		r = self.script("stop")
		self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
		for d, pid in pids.items():
			self.assertFalse(os.path.exists("/proc/%d" % pid) and
					 "aimd" in open("/proc/%d/cmdline" % pid).read(), d + " still runs")
			with open(os.path.join(self.dir, d, "aimd.log")) as f:
				log = f.read()
			self.assertTrue(log.rstrip().endswith("aimd: stopped"), log[-500:])
			self.assertEqual(aimtest.sanitizer_reports(log), "")
		r = self.script("status")
		self.assertEqual(r.returncode, 3)
		self.assertEqual(r.stdout.count(" stopped"), 3, r.stdout)
		# a second start reuses DIR: same ports, same tokens, the follow is remembered
		r = self.script("start")
		self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
		self.assertNotIn("creating", r.stdout)
		self.assertEqual([l.strip() for l in r.stdout.splitlines()
				  if l.strip().startswith("curl -s ")][4], followers)
		self.assertEqual(self.run_printed(followers)["totalItems"], 1)
		self.assertEqual(self.script("stop").returncode, 0)


if __name__ == "__main__":
	unittest.main(verbosity=2)
