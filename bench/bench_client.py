#!/usr/bin/env python3
"""bench_client: the aim client end to end, through real processes.

Two aimd servers over TLS on loopback (a.test and b.test, the test CA of
the client tests), alice@a.test and bob@b.test with one device each, a
channel alice made with bob. bob runs `aim listen --json` (it follows his
inbox's event stream) for the whole run.

Measures:
  1. latency: BENCH_CLIENT_N (1000) messages, one at a time, each from
     `aim send` on a.test (a process per message, as a person types) until
     bob's `aim listen` on b.test prints it decrypted: p50, p99, max. The
     next message goes once the last one arrived.
  2. messages per second one device sends: BENCH_CLIENT_RATE_N (200)
     messages back to back, (a) a process per message (`aim send`), (b) one
     process (`aim send --stdin`, a line each); each until the hub took the
     last one, and until bob's listen printed the last one.

Environment: AIM_BIN_DIR (the build's bin dir, default build/bin),
BENCH_CLIENT_N, BENCH_CLIENT_RATE_N. Python 3 standard library and the
test harness (tests/common, tests/client) only.
"""

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("AIM_SOURCE_DIR") or os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SRC, "tests", "common"))
sys.path.insert(0, os.path.join(SRC, "tests", "client"))
import aimtest  # noqa: E402
from clitest import Aim, Domains  # noqa: E402


def env_int(name, default, lo, hi):
	try:
		v = int(os.environ.get(name, default))
	except ValueError:
		return default
	return min(max(v, lo), hi)


N = env_int("BENCH_CLIENT_N", 1000, 1, 100000)
RATE_N = env_int("BENCH_CLIENT_RATE_N", 200, 1, 100000)


def say(*a):
	print(*a)
	sys.stdout.flush()


def pct(v, p):
	s = sorted(v)
	return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


class Listener:
	"""bob's `aim listen --json`, its lines timed as they come."""

	def __init__(self, aim, conv):
		self.p = aim.popen("listen", conv, "--json", "--interval", 100)
		self.q = queue.Queue()
		self.t = threading.Thread(target=self.read, daemon=True)
		self.t.start()

	def read(self):
		for line in self.p.stdout:
			if line.strip():
				try:
					self.q.put((time.monotonic(), json.loads(line)["text"]))
				except (ValueError, KeyError):
					pass

	def wait_for(self, text, timeout=60):
		"""Until listen prints `text`; gives up when it printed nothing for
		`timeout` seconds (a slow device still counts, a silent one not)."""
		end = time.monotonic() + timeout
		while True:
			left = end - time.monotonic()
			if left <= 0:
				raise RuntimeError("listen printed nothing for %d s before %r" % (timeout, text))
			try:
				t, got = self.q.get(timeout=left)
			except queue.Empty:
				continue
			end = time.monotonic() + timeout
			if got == text:
				return t

	def stop(self):
		self.p.terminate()
		try:
			self.p.wait(timeout=10)
		except subprocess.TimeoutExpired:
			self.p.kill()


def main():
	fed = Domains(("a.test", "b.test"))
	lis = None
	try:
		toks = {u: fed[d].add_user(u) for d, u in (("a.test", "alice"), ("b.test", "bob"))}
		fed.start_all()
		tmp = tempfile.mkdtemp(prefix="aim-bench-client-")
		dev = {}
		for d, u in (("a.test", "alice"), ("b.test", "bob")):
			a = Aim(os.path.join(tmp, u))
			a.login(fed[d], u, toks[u], device="laptop", connect_to=fed.route(d),
				ca_file=fed.ca.cert, keys=3)
			dev[u] = a
		alice, bob = dev["alice"], dev["bob"]
		conv = alice.ok("channel", "create", "bench", "bob@b.test", "--json")["channel"]
		say("machine: %d cores (nproc), load %.1f" % (os.cpu_count(), os.getloadavg()[0]))
		lis = Listener(bob, conv)
		alice.ok("send", conv, "warm-up")
		lis.wait_for("warm-up")

		# 1. latency, a process per message
		lat = []
		t_all = time.monotonic()
		for i in range(N):
			text = "lat %d" % i
			t0 = time.monotonic()
			alice.ok("send", conv, text)
			lat.append(lis.wait_for(text) - t0)
		wall = time.monotonic() - t_all
		ms = [x * 1000 for x in lat]
		say("latency aim send (a.test) -> decrypted at aim listen (b.test), %d messages: "
		    "p50 %.0f ms, p99 %.0f ms, max %.0f ms (%.1f s in all)"
		    % (N, pct(ms, 50), pct(ms, 99), max(ms), wall))

		# 2a. rate, a process per message
		t0 = time.monotonic()
		for i in range(RATE_N):
			alice.ok("send", conv, "rate-p %d" % i)
		t_sent = time.monotonic() - t0
		t_got = lis.wait_for("rate-p %d" % (RATE_N - 1)) - t0
		say("send rate, a process per message (aim send): %d messages, %.1f msg/s accepted "
		    "by the hub, %.1f msg/s decrypted at bob" % (RATE_N, RATE_N / t_sent, RATE_N / t_got))

		# 2b. rate, one process (aim send --stdin)
		lines = "".join("rate-b %d\n" % i for i in range(RATE_N))
		t0 = time.monotonic()
		r = alice("send", "--stdin", conv, stdin=lines, timeout=600)
		if r.returncode != 0:
			raise RuntimeError("send --stdin: %r" % r)
		t_sent = time.monotonic() - t0
		t_got = lis.wait_for("rate-b %d" % (RATE_N - 1)) - t0
		say("send rate, one process (aim send --stdin): %d messages, %.1f msg/s accepted by "
		    "the hub, %.1f msg/s decrypted at bob" % (RATE_N, RATE_N / t_sent, RATE_N / t_got))
		return 0
	finally:
		if lis:
			lis.stop()
		fed.cleanup()


if __name__ == "__main__":
	sys.exit(main())
