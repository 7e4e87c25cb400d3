"""The MLS library and the crypto layer compiled to WebAssembly (issue 17,
the web client's foundation) hold to the official vectors exactly as the
native build does: scripts/wasm-build.sh builds build-wasm/bin/aim-mls-vectors
(src/base, src/crypto, src/mls over OpenSSL's libcrypto built with emcc from
Debian's source package); this runs it under Node over tests/vectors/mls and
the native runner over the same folder, and asserts that every vector file
passes in both with the same counts, line for line; and the crypto unit tests
(tests/mls/test_crypto.c, test_hpke.c) compiled both ways.

Environment: AIM_WASM_DIR (default build-wasm in the repository), AIM_BIN_DIR
(the native build's bin), AIM_MLS_VECTORS (the vectors folder). A missing wasm
build is a failure, never a skip: `make test` builds it first."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from aimtest import REPO, bin_dir

LINE = re.compile(r"^([\w.-]+\.json): (\d+) passed, (\d+) failed, (\d+) skipped$")
# Every file the official set has and the runner knows (tools/mls-vectors/main.c).
FILES = 16


def wasm_dir():
	return os.environ.get("AIM_WASM_DIR") or os.path.join(REPO, "build-wasm")


def vectors_dir():
	return os.environ.get("AIM_MLS_VECTORS") or os.path.join(REPO, "tests", "vectors", "mls")


def per_file(out):
	"""{file: (passed, failed, skipped)} from the runner's per-file lines."""
	got = {}
	for line in out.splitlines():
		m = LINE.match(line)
		if m:
			got[m.group(1)] = tuple(int(x) for x in m.group(2, 3, 4))
	return got


class WasmVectorsTest(unittest.TestCase):
	@classmethod
	def setUpClass(cls):
		cls.js = os.path.join(wasm_dir(), "bin", "aim-mls-vectors.js")
		cls.wasm = os.path.join(wasm_dir(), "bin", "aim-mls-vectors.wasm")
		cls.native = os.path.join(bin_dir(), "aim-mls-vectors")
		cls.node = shutil.which("node")

	def setUp(self):
		self.assertTrue(self.node, "node is not on PATH (scripts/deps.sh test installs it)")
		for p in (self.js, self.wasm):
			self.assertTrue(os.path.isfile(p),
					"%s missing: build it with scripts/wasm-build.sh (make wasm)" % p)
		self.assertTrue(os.access(self.native, os.X_OK), "%s missing" % self.native)

	def run_runner(self, argv):
		t0 = time.monotonic()
		p = subprocess.run(argv, capture_output=True, text=True, timeout=800)
		return p, time.monotonic() - t0

	def test_vectors_same_as_native(self):
		vec = vectors_dir()
		nat, t_nat = self.run_runner([self.native, vec])
		web, t_web = self.run_runner([self.node, self.js, vec])
		self.assertEqual(nat.returncode, 0, nat.stdout + nat.stderr)
		self.assertEqual(web.returncode, 0, web.stdout + web.stderr)
		n, w = per_file(nat.stdout), per_file(web.stdout)
		self.assertEqual(len(n), FILES, nat.stdout)
		self.assertEqual(sorted(w), sorted(n), web.stdout)
		for f in sorted(n):
			self.assertEqual(w[f], n[f], "%s: wasm %r, native %r" % (f, w[f], n[f]))
			passed, failed, skipped = w[f]
			self.assertGreater(passed, 0, f)
			self.assertEqual((failed, skipped), (0, 0), f)
		# The closing total, the same line in both.
		self.assertEqual(web.stdout.strip().splitlines()[-1],
				 nat.stdout.strip().splitlines()[-1])
		self.assertRegex(web.stdout.strip().splitlines()[-1], r"^\d+ passed, 0 failed$")
		print("vectors: native %.1f s, wasm %.1f s; %s is %d bytes" %
		      (t_nat, t_web, os.path.basename(self.wasm), os.path.getsize(self.wasm)),
		      file=sys.stderr)

	def test_failure_reaches_the_exit_status(self):
		# An empty folder: every file unreadable, so the run fails, and the
		# wasm runner's exit status says so as the native one's does (a
		# runner that always exits 0 would pass anything).
		with tempfile.TemporaryDirectory(prefix="aimtest-wasm-") as empty:
			web, _ = self.run_runner([self.node, self.js, empty])
			nat, _ = self.run_runner([self.native, empty])
		self.assertEqual(nat.returncode, 1)
		self.assertEqual(web.returncode, 1, web.stdout + web.stderr)
		self.assertEqual(per_file(web.stdout), per_file(nat.stdout))
		self.assertIn("cannot read", web.stderr)

	def test_crypto_unit_tests(self):
		# tests/mls/test_crypto.c and test_hpke.c need no layer below mls:
		# the wasm build compiles them too; both builds run the same tests
		# and every one passes.
		for t in ("crypto", "hpke"):
			js = os.path.join(wasm_dir(), "bin", "test_%s.js" % t)
			self.assertTrue(os.path.isfile(js), js + " missing")
			web, _ = self.run_runner([self.node, js])
			nat, _ = self.run_runner([os.path.join(bin_dir(), "mls_test_" + t)])
			self.assertEqual(web.returncode, 0, web.stdout + web.stderr)
			self.assertEqual(nat.returncode, 0, nat.stdout + nat.stderr)
			ran = re.compile(r"^\[=+\] (\d+) test\(s\) run\.$", re.M)
			w, n = ran.findall(web.stdout + web.stderr), ran.findall(nat.stdout + nat.stderr)
			self.assertEqual(len(n), 1, nat.stdout + nat.stderr)
			self.assertEqual(w, n, t)
			self.assertGreater(int(w[0]), 0, t)
			self.assertIn("[  PASSED  ] %s test(s)." % w[0], web.stdout + web.stderr)

	def test_module_is_webassembly(self):
		with open(self.wasm, "rb") as f:
			self.assertEqual(f.read(4), b"\0asm")


if __name__ == "__main__":
	unittest.main(verbosity=2)
