"""The client library's core stays free of I/O (src/client/client.h): no
file of the core (client.h, core_*.c, core_int.h) includes curl, SQLite or
a system I/O header, so that a web build can replace the shell (io_*.c)
with the browser's fetch and IndexedDB. Only io_*.c may."""

import os
import re
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import aimtest

FORBIDDEN = re.compile(r'^\s*#\s*include\s*[<"](curl/|sqlite3|microhttpd|fcntl\.h|unistd\.h|'
		       r'sys/socket|sys/stat|netdb|dirent|openssl/)', re.M)


class ClientLayout(unittest.TestCase):
	def test_core_has_no_io_includes(self):
		src = os.path.join(aimtest.REPO, "src", "client")
		core = [f for f in os.listdir(src)
			if f == "client.h" or f.startswith("core_")]
		self.assertTrue(any(f.endswith(".c") for f in core), core)
		for f in core:
			with open(os.path.join(src, f)) as fh:
				text = fh.read()
			m = FORBIDDEN.search(text)
			self.assertIsNone(m, "%s includes %s" % (f, m.group(0).strip() if m else ""))
		# every other source file of the layer is the shell
		for f in os.listdir(src):
			if f.endswith(".c") and not f.startswith("core_"):
				self.assertTrue(f.startswith("io_"), "%s: neither core_ nor io_" % f)


if __name__ == "__main__":
	unittest.main()
