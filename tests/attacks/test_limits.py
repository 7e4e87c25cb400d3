"""Issue 16's defects on limits, against a real aimd:

- amplification: an anonymous GET of one outbox page of large notes returned
  them all (~20 MB for 20 notes of 1 MB); a page now has a byte budget
  (AIMD_PAGE_BYTES, 1 MiB, at least one item) besides its item count, and
  anonymous reads pay per IP in bytes (--anon-read-rate: 429 + Retry-After);
- no limit on object keys: an activity of 200,000 keys was accepted (now a
  400 too_complex before it is parsed; threats.md B26);
- disk full: a write that finds no space is 503 with Retry-After, never 500,
  and aimd writes again once there is room.
"""

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import aimtest
from aimtest import AS_PUBLIC, AimTestCase, note


def page_items(srv, url, token=None):
	"""Follows an outbox's pages from the first; returns (pages, items)."""
	st, _, coll = srv.get(url, token=token)
	assert st == 200, (st, coll)
	pages, items, nxt = [], [], coll["first"]
	while nxt:
		st, hd, body = srv.req("GET", nxt, headers={"Accept": aimtest.AP_TYPE},
				       token=token)
		assert st == 200, (st, body[:200])
		doc = json.loads(body)
		pages.append(len(body))
		items += doc["orderedItems"]
		nxt = doc.get("next")
	return pages, items


class Amplification(AimTestCase):
	@classmethod
	def setUpClass(cls):
		# 12 notes of ~900 KB; a small anonymous byte rate so the limit shows
		# at once (--anon-read-rate 20 KB/s, burst 8x: 160 KB, less than
		# one note: the first page is served, and puts the address in debt)
		cls.srv = cls.server(extra_args=["--anon-read-rate", "20000"])
		cls.srv.start()
		cls.tok = cls.srv.add_user("alice")
		cls.big = []
		for i in range(12):
			n = note("big-%d " % i + "x" * 900000)
			st, _, b = cls.srv.post("/users/alice/outbox", n, token=cls.tok)
			assert st == 201, (st, b)
			cls.big.append(b["id"])

	def test_1_page_has_a_byte_budget(self):
		"""Every page under ~2.1 MB (one item of at most 1 MiB past the
		budget), and paging still yields every note exactly once."""
		pages, items = page_items(self.srv, "/users/alice/outbox", token=self.tok)
		self.assertLessEqual(max(pages), 2100000, pages)
		ids = [it["id"] for it in items]
		self.assertEqual(sorted(ids), sorted(self.big))
		self.assertEqual(len(ids), len(set(ids)))

	def test_2_anonymous_reads_rate_limited(self):
		"""Anonymous pages past the bucket (160 KB, then 20 KB/s) get 429
		with Retry-After; the owner (a token) is not charged."""
		url = self.srv.url + "/users/alice/outbox?page=true"
		statuses, ra = [], None
		for _ in range(3):
			st, hd, body = self.srv.req("GET", url, headers={"Accept": aimtest.AP_TYPE})
			statuses.append(st)
			if st == 429:
				ra = hd.get("retry-after")
				self.assertErrorBody(st, hd, body, "rate_limited")
				break
			url = self.srv.url + "/users/alice/outbox?page=true"
		self.assertIn(429, statuses, statuses)
		self.assertTrue(ra and int(ra) >= 1, ra)
		self.assertEqual(statuses[0], 200, statuses)
		st, _, _ = self.srv.get("/users/alice/outbox?page=true", token=self.tok)
		self.assertEqual(st, 200)
		# an object by id is an anonymous read as well
		st, hd, _ = self.srv.req("GET", self.big[0], headers={"Accept": aimtest.AP_TYPE})
		self.assertEqual(st, 429)


class ObjectKeys(AimTestCase):
	@classmethod
	def setUpClass(cls):
		cls.srv = cls.server(extra_args=["--max-body", str(4 << 20)])
		cls.srv.start()
		cls.tok = cls.srv.add_user("alice")

	def count(self):
		st, _, c = self.srv.get("/users/alice/outbox", token=self.tok)
		self.assertEqual(st, 200)
		return c["totalItems"]

	def test_200000_keys_refused(self):
		before = self.count()
		n = note("many keys")
		n.update({"k%x" % i: 0 for i in range(200000)})
		body = json.dumps(n, separators=(",", ":"))
		st, hd, b = self.srv.req("POST", "/users/alice/outbox", body=body, token=self.tok,
					 headers={"Content-Type": aimtest.AP_TYPE})
		self.assertEqual(st, 400, b[:300])
		self.assertErrorBody(st, hd, b, "too_complex")
		self.assertEqual(self.count(), before)
		# 1,000 keys (the bound) are fine
		n = note("some keys")
		n.update({"k%x" % i: 0 for i in range(990)})
		st, _, b = self.srv.post("/users/alice/outbox", n, token=self.tok)
		self.assertEqual(st, 201, b)
		self.assertEqual(self.count(), before + 1)


def can_mount():
	if os.environ.get("AIM_TEST_NO_MOUNT") == "1":
		return False
	if os.geteuid() != 0 or not shutil.which("mount"):
		return False
	d = tempfile.mkdtemp(prefix="aimtest-mnt-")
	try:
		r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", d],
				   capture_output=True)
		if r.returncode != 0:
			return False
		subprocess.run(["umount", d])
		return True
	finally:
		os.rmdir(d)


class DiskFull(AimTestCase):
	"""The data directory on a small filesystem (a tmpfs when root may
	mount one: ENOSPC, SQLITE_FULL), else a file size limit on the process
	(RLIMIT_FSIZE: EFBIG). Either way the store fails with AIM_ERR_STORAGE."""

	def setUp(self):
		self.mnt = None
		self.srv = aimtest.Server()
		self.addCleanup(self.srv.cleanup)
		if can_mount():
			self.mnt = os.path.join(self.srv.tmp, "small")
			os.mkdir(self.mnt)
			used = sum(os.path.getsize(os.path.join(r, f))
				   for r, _, fs in os.walk(self.srv.data) for f in fs)
			size = used + (3 << 20)
			subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%d" % size, "tmpfs",
					self.mnt], check=True)
			self.addCleanup(lambda: subprocess.run(["umount", "-l", self.mnt]))
			shutil.copytree(self.srv.data, os.path.join(self.mnt, "data"), symlinks=True)
			os.chmod(os.path.join(self.mnt, "data"), 0o700)
			self.srv.data = os.path.join(self.mnt, "data")
		self.tok = self.srv.add_user("alice")
		self.srv.start()

	def room(self, on):
		if self.mnt:
			size = "size=%d" % ((256 << 20) if on else 0)
			if on:
				subprocess.run(["mount", "-o", "remount," + size, self.mnt], check=True)
			return
		pid = self.srv.proc.pid
		lim = resource.RLIM_INFINITY
		if not on:
			lim = max(os.path.getsize(os.path.join(self.srv.data, f))
				  for f in os.listdir(self.srv.data)
				  if os.path.isfile(os.path.join(self.srv.data, f))) + 65536
		resource.prlimit(pid, resource.RLIMIT_FSIZE, (lim, resource.RLIM_INFINITY))

	def test_503_retry_after_then_recovers(self):
		self.room(False)
		seen = []
		for i in range(60):
			st, hd, b = self.srv.req("POST", "/users/alice/outbox",
						 body=note("fill %d " % i + "y" * 200000),
						 token=self.tok)
			seen.append(st)
			if st != 201:
				break
		self.assertNotIn(500, seen, seen)
		self.assertEqual(st, 503, (seen, b[:300]))
		self.assertErrorBody(st, hd, b, "storage_failure")
		self.assertTrue(int(hd.get("retry-after", "0")) > 0, hd)
		# reads still work, and with room again so do writes
		st, _, _ = self.srv.get("/users/alice/outbox", token=self.tok)
		self.assertEqual(st, 200)
		self.room(True)
		ok = False
		for _ in range(20):
			st, _, b = self.srv.post("/users/alice/outbox", note("after"), token=self.tok)
			if st == 201:
				ok = True
				break
			time.sleep(0.5)
		self.assertTrue(ok, "no write accepted after space returned: %d %r" % (st, b))
		self.srv.stop()


if __name__ == "__main__":
	aimtest.main()
