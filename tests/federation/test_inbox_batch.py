#!/usr/bin/env python3
"""Group commit of the inbox (src/server/inbox_batch.h), black box: signed
Creates posted from many threads at once are committed in shared
transactions, and still nothing is acknowledged that is not on disk:
- kill -9 while concurrent posts are being committed loses none of those
  answered 202 (each is in the inbox after a restart);
- when the commits start failing (the file size limit of the running aimd
  is lowered, as in test_inbound's CommitFailureTest) every request is 202
  or 503, and after a restart every 202 is there and no 503 is."""
import json
import subprocess
import tempfile
import threading
import time
import unittest
import uuid

import aimtest
from aimtest import AimTestCase, Federation
from aimpeer import Peer, rsa_key, sign_cavage

AS_CTX = "https://www.w3.org/ns/activitystreams"
THREADS = 8


class InboxBatchTest(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.tmp = tempfile.mkdtemp(prefix="aimtest-inboxbatch-")
		cls.fed = Federation(names=("c.test",))
		cls.addClassCleanup(cls.fed.cleanup)
		cls.c = cls.fed["c.test"]
		cls.tok = cls.c.add_user("carol")
		cls.peer = Peer(hostname="r.test", ca=cls.fed.ca)
		cls.addClassCleanup(cls.peer.stop)
		cls.key, pub = rsa_key(cls.tmp, "mallory")
		cls.peer.add_actor("mallory", pub)
		cls.peer.start()
		args = ["--ca-file", cls.fed.ca.cert, "--allow-private-addresses", "--connect-to",
			"r.test:%d:127.0.0.1:%d" % (cls.peer.port, cls.peer.port),
			"--inbox-host-rate", "100000"]
		cls.fed.start(extra_args=lambda srv: args)

	def ensure_running(self):
		if not self.c.running():
			self.c.start()

	def send(self, content):
		aid = self.peer.actor_id("mallory")
		url = self.c.base + "/users/carol/inbox"
		act = {"@context": AS_CTX, "id": "%s/activities/%s" % (self.peer.url, uuid.uuid4()),
		       "type": "Create", "actor": aid, "to": [self.c.actor("carol")],
		       "object": {"id": "%s/objects/%s" % (self.peer.url, uuid.uuid4()),
				  "type": "Note", "attributedTo": aid, "content": content}}
		body = json.dumps(act).encode()
		h = sign_cavage("POST", url, self.key, aid + "#main-key", body=body,
				headers={"Content-Type": aimtest.AP_TYPE})
		return act["id"], self.c.req("POST", url, headers=h, body=body, timeout=10)

	def posters(self, acked, refused, errors, stop):
		def poster(k):
			i = 0
			while not stop.is_set():
				try:
					aid, (st, _, _) = self.send("load %d-%d" % (k, i))
				except OSError:
					return	# the server is gone
				if st == 202:
					acked.append(aid)
				elif st == 503:
					refused.append(aid)
				else:
					errors.append(st)
				i += 1
		threads = [threading.Thread(target=poster, args=(k,)) for k in range(THREADS)]
		for t in threads:
			t.start()
		return threads

	def inbox_ids(self):
		ids = set()
		path = "/users/carol/inbox?page=true"
		while path:
			st, _, doc = self.c.get(path, token=self.tok)
			self.assertEqual(st, 200)
			ids.update(i["id"] for i in doc["orderedItems"])
			path = doc.get("next")
		return ids

	def wait_for(self, acked, n, timeout=30):
		deadline = time.monotonic() + timeout
		while len(acked) < n and time.monotonic() < deadline:
			time.sleep(0.01)

	def test_a_kill9_during_batches_keeps_acknowledged(self):
		self.ensure_running()
		acked, refused, errors, stop = [], [], [], threading.Event()
		threads = self.posters(acked, refused, errors, stop)
		self.wait_for(acked, 80)
		self.c.kill9()
		stop.set()
		for t in threads:
			t.join(15)
		self.assertEqual(errors, [])
		self.assertGreater(len(acked), 0, "nothing acknowledged before the kill")
		print("kill -9 after %d acknowledged inbox posts" % len(acked))
		self.c.start()
		missing = set(acked) - self.inbox_ids()
		self.assertEqual(missing, set(), "acknowledged inbox posts lost after kill -9")

	def test_b_failing_commits_acknowledge_nothing(self):
		self.ensure_running()
		acked, refused, errors, stop = [], [], [], threading.Event()
		threads = self.posters(acked, refused, errors, stop)
		self.wait_for(acked, 20)
		pid = self.c.proc.pid
		subprocess.run(["prlimit", "--pid", str(pid), "--fsize=1024:unlimited"], check=True)
		self.wait_for(refused, THREADS * 2)
		stop.set()
		for t in threads:
			t.join(15)
		subprocess.run(["prlimit", "--pid", str(pid), "--fsize=unlimited:unlimited"],
			       check=True)
		self.assertEqual(errors, [])
		self.assertGreater(len(refused), 0, "no commit failed")
		print("%d acknowledged, %d refused" % (len(acked), len(refused)))
		self.c.stop(check=False)
		self.c.start()
		ids = self.inbox_ids()
		self.assertEqual(set(acked) - ids, set(), "acknowledged posts lost")
		self.assertEqual(set(refused) & ids, set(), "refused posts stored")


if __name__ == "__main__":
	unittest.main()
