#!/usr/bin/env python3
"""bench_streams: what idle Server-Sent Event streams cost aimd.

One aimd (plain HTTP on loopback), BENCH_STREAMS_USERS (10) users, and
BENCH_STREAMS (10000) event streams opened on their inboxes, spread over
the users and over BENCH_STREAMS_ADDRS (16) loopback source addresses
127.0.0.x (so that neither the ephemeral ports of one address nor the
per-address cap bound the count; aimd runs with caps that fit). The bench
raises its own descriptor limit to fit, and aimd raises its own.

Measures, from /proc/PID of aimd:
  1. extra resident memory (VmRSS) and threads with every stream open,
     against the same process before the first stream;
  2. CPU time (utime + stime) over BENCH_STREAMS_IDLE (20) seconds of idle
     streams (keepalives included: one per stream every 15 s);
  3. one note to one user: the time until every stream of that user has
     the event, and that the other users' streams got nothing.

Prints one line per measure. Environment: AIM_BIN_DIR (the build's bin dir,
default build/bin) and the BENCH_STREAMS_* values above. Python 3 standard
library and the test harness (tests/common) only.
"""

import os
import resource
import selectors
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("AIM_SOURCE_DIR") or os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SRC, "tests", "common"))
import aimtest  # noqa: E402

N = int(os.environ.get("BENCH_STREAMS", "10000"))
USERS = int(os.environ.get("BENCH_STREAMS_USERS", "10"))
ADDRS = int(os.environ.get("BENCH_STREAMS_ADDRS", "16"))
IDLE = float(os.environ.get("BENCH_STREAMS_IDLE", "20"))
TICK = os.sysconf("SC_CLK_TCK")


def proc_status(pid):
	out = {}
	with open("/proc/%d/status" % pid) as f:
		for line in f:
			k, _, v = line.partition(":")
			out[k] = v.strip()
	return out


def rss_kib(pid):
	return int(proc_status(pid)["VmRSS"].split()[0])


def threads(pid):
	return int(proc_status(pid)["Threads"])


def cpu_s(pid):
	with open("/proc/%d/stat" % pid) as f:
		fields = f.read().rsplit(")", 1)[1].split()
	return (int(fields[11]) + int(fields[12])) / TICK


def fds(pid):
	return len(os.listdir("/proc/%d/fd" % pid))


class Stream:
	def __init__(self, sock, user):
		self.sock = sock
		self.user = user
		self.buf = b""
		self.open = False
		self.events = 0


def main():
	need = N + 256
	soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
	if soft < need:
		if hard != resource.RLIM_INFINITY and hard < need:
			sys.exit("bench_streams: needs %d descriptors, hard limit %d" % (need, hard))
		resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
	srv = aimtest.Server(domain="streams.test", extra_args=[
		"--max-connections", str(N + 64),
		"--max-connections-per-ip", str(N // ADDRS + 64),
		"--streams-per-user", str(N),
		"--rate-limit", "1000000", "--rate-burst", "1000000"])
	try:
		toks = [srv.add_user("u%d" % i) for i in range(USERS)]
		srv.start()
		pid = srv.proc.pid
		time.sleep(0.5)
		rss0, thr0, fd0 = rss_kib(pid), threads(pid), fds(pid)
		sel = selectors.DefaultSelector()
		streams = []
		t0 = time.monotonic()
		for i in range(N):
			s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
			s.bind(("127.0.0.%d" % (2 + i % ADDRS), 0))
			s.connect(("127.0.0.1", srv.port))
			u = i % USERS
			s.sendall(("GET /users/u%d/inbox HTTP/1.1\r\nHost: streams.test\r\n"
				   "Accept: text/event-stream\r\nAuthorization: Bearer %s\r\n\r\n"
				   % (u, toks[u])).encode())
			s.setblocking(False)
			st = Stream(s, u)
			streams.append(st)
			sel.register(s, selectors.EVENT_READ, st)
			# keep the answers flowing while opening
			for key, _ in sel.select(0):
				read_some(key.data)
		opened = 0
		deadline = time.monotonic() + 120
		while time.monotonic() < deadline:
			opened = sum(1 for st in streams if st.open)
			if opened == N:
				break
			for key, _ in sel.select(0.5):
				read_some(key.data)
		t_open = time.monotonic() - t0
		bad = [st for st in streams if not st.open]
		print("streams open: %d of %d in %.1f s%s" % (
			opened, N, t_open,
			"" if not bad else " (first refusal: %r)" % bad[0].buf[:120]))
		time.sleep(1.0)
		rss1, thr1, fd1 = rss_kib(pid), threads(pid), fds(pid)
		print("aimd RSS: %.1f MiB before, %.1f MiB with the streams: %.1f MiB extra "
		      "(%.1f KiB per stream)" % (rss0 / 1024, rss1 / 1024, (rss1 - rss0) / 1024,
						 (rss1 - rss0) / max(1, opened)))
		print("aimd threads: %d before, %d with the streams; descriptors %d -> %d"
		      % (thr0, thr1, fd0, fd1))
		# idle: drain whatever arrives (keepalives), count CPU
		c0 = cpu_s(pid)
		w0 = time.monotonic()
		for st in streams:
			st.events = 0
		while time.monotonic() - w0 < IDLE:
			for key, _ in sel.select(0.5):
				read_some(key.data)
		c1 = cpu_s(pid)
		wall = time.monotonic() - w0
		rss2 = rss_kib(pid)
		print("idle %.0f s: aimd used %.2f s CPU (%.2f%% of one core); RSS then %.1f MiB, "
		      "%.1f MiB extra (%.1f KiB per stream)"
		      % (wall, c1 - c0, 100.0 * (c1 - c0) / wall, rss2 / 1024, (rss2 - rss0) / 1024,
			 (rss2 - rss0) / max(1, opened)))
		# one note to u0: its streams only
		for st in streams:
			st.events = 0
		mine = [st for st in streams if st.user == 0 and st.open]
		c0 = cpu_s(pid)
		t1 = time.monotonic()
		st_, _, _ = srv.post("/users/u1/outbox",
				     aimtest.note("hello u0", to=[srv.actor("u0")]), token=toks[1])
		got = 0
		while time.monotonic() - t1 < 10 and got < len(mine):
			for key, _ in sel.select(0.2):
				read_some(key.data)
			got = sum(1 for st in mine if st.events)
		t_all = time.monotonic() - t1
		others = sum(1 for st in streams if st.user != 0 and st.events)
		print("a note to u0 (POST %d): %d of its %d streams had it in %.0f ms; "
		      "streams of other users woken with an event: %d; aimd CPU %.2f s"
		      % (st_, got, len(mine), 1000 * t_all, others, cpu_s(pid) - c0))
		for st in streams:
			st.sock.close()
		time.sleep(1.0)
		print("after closing: aimd RSS %.1f MiB, descriptors %d" % (rss_kib(pid) / 1024,
									  fds(pid)))
	finally:
		srv.stop(check=False)
		srv.cleanup()


def read_some(st):
	try:
		b = st.sock.recv(65536)
	except BlockingIOError:
		return
	except OSError:
		b = b""
	if not b:
		return
	st.buf += b
	if not st.open and b"\r\n\r\n" in st.buf:
		st.open = st.buf.startswith(b"HTTP/1.1 200")
	if st.open:
		st.events += st.buf.count(b"event: activity")
		st.buf = st.buf[-64:] if b"\n\n" not in st.buf else b""


if __name__ == "__main__":
	main()
