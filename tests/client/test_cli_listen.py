"""`aim listen` follows the event stream (issue 12: "listen, which follows
the server's event stream"): after a long history, listening for one new
message costs a bounded number of requests to the home server, whatever
the history's length and however long the device listens; `--poll` (the
old way: a page of the inbox every interval) costs one request per
interval. Counted from b.test's access log. The inbox position is kept
in the home: a second listen starts where the first stopped and fetches
nothing applied again."""

import json
import os
import re
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aimtest
from aimtest import AimTestCase
from clitest import Aim, Domains

HISTORY = 40


class CliListen(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.fed = Domains(("a.test", "b.test"))
		cls.addClassCleanup(cls.fed.cleanup)
		toks = {}
		for dom, user in (("a.test", "alice"), ("b.test", "bob")):
			toks[user] = cls.fed[dom].add_user(user)
		cls.fed.start_all()
		cls.tmp = tempfile.mkdtemp(prefix="aimtest-cli-listen-")
		cls.dev = {}
		for dom, user in (("a.test", "alice"), ("b.test", "bob")):
			a = Aim(os.path.join(cls.tmp, user))
			a.login(cls.fed[dom], user, toks[user], device="laptop",
				connect_to=cls.fed.route(dom), ca_file=cls.fed.ca.cert, keys=3)
			cls.dev[user] = a

	def b_requests(self):
		"""The requests b.test has logged so far (method, path)."""
		return re.findall(r"method=(\S+) path=(\S+)", self.fed["b.test"].log_current())

	def listen_one(self, url, text, *extra):
		"""bob listens for one message that alice sends after 2 s; returns
		the requests b.test saw meanwhile (those finished by the end)."""
		alice, bob = self.dev["alice"], self.dev["bob"]
		before = len(self.b_requests())
		p = bob.popen("listen", url, "--json", "--count", 1, "--interval", 100, *extra)
		time.sleep(2)
		alice.ok("send", url, text)
		try:
			out, err = p.communicate(timeout=60)
		except Exception:
			p.kill()
			raise
		self.assertEqual(p.returncode, 0, err)
		got = [json.loads(l) for l in out.splitlines() if l.strip()]
		self.assertEqual([m["text"] for m in got], [text], err)
		time.sleep(0.5)
		return self.b_requests()[before:]

	def test_bounded_requests(self):
		alice, bob = self.dev["alice"], self.dev["bob"]
		url = alice.ok("channel", "create", "long", "bob@b.test", "--json")["channel"]
		for i in range(HISTORY):
			alice.ok("send", url, "old %d" % i)
		# bob catches up on the whole history once
		r = bob("listen", url, "--json", "--count", HISTORY, "--interval", 100, timeout=120)
		self.assertEqual(r.returncode, 0, r)
		self.assertEqual(len(r.stdout.splitlines()), HISTORY, r)

		# streaming: a catch-up page from the stored position and the
		# stream, for 2 s of listening; none of the history again
		reqs = self.listen_one(url, "new one")
		gets = [p for m, p in reqs if m == "GET"]
		self.assertLessEqual(len(gets), 4, reqs)
		inbox = [p for p in gets if p.startswith("/users/bob/inbox")]
		self.assertTrue(all("min_id=" in p for p in inbox if "page" in p), reqs)
		self.assertFalse([p for p in gets if "/outbox" in p], reqs)

		# a second listen resumes where the first stopped: bounded again
		reqs2 = self.listen_one(url, "another one")
		self.assertLessEqual(len([p for m, p in reqs2 if m == "GET"]), 4, reqs2)

		# the old way, for contrast: a page of the inbox every 100 ms
		reqs3 = self.listen_one(url, "polled one", "--poll")
		polled = [p for m, p in reqs3 if m == "GET" and p.startswith("/users/bob/inbox")]
		self.assertGreater(len(polled), 8, reqs3)
		sys.stderr.write("requests to b.test while listening ~2.5 s: stream %d, %d; poll %d\n"
				 % (len(gets), len(reqs2), len(polled)))

		# nothing was lost or shown twice: the history has each once
		h = bob.ok("history", url, "--json")
		texts = [m["text"] for m in h["messages"]]
		for t in ("new one", "another one", "polled one"):
			self.assertEqual(texts.count(t), 1, texts)
		self.assertEqual(len(texts), HISTORY + 3)


if __name__ == "__main__":
	unittest.main()
