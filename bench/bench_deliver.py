#!/usr/bin/env python3
"""bench_deliver: deliveries per second from one aimd to many remote inboxes.

One aimd (a.test, HTTPS on loopback, the test CA) whose user bob has
BENCH_DLV_INBOXES (100) remote followers, spread over BENCH_DLV_HOSTS (10)
host names (h0.test ... h9.test) that all reach one sink: a separate Python
process (asyncio, TLS with a certificate per name chosen by SNI) that serves
the followers' actor documents, answers every POST with 202 at once and
counts the TLS connections it accepts (one handshake each). The followers
are made through the real path: each sends a signed Follow, aimd fetches
its actor, stores it and sends its Accept.

Then bob posts BENCH_DLV_POSTS (50) public notes (to his followers) through
the client API, BENCH_DLV_CONC (4) at a time: each becomes one delivery per
follower inbox (no shared inbox here). Measured: from the first POST to the
sink's receipt of the last Create, deliveries per second; the TLS handshakes
the sink saw during that phase (target: one per host and worker, since each
delivery worker keeps its connections); the CPU seconds used by aimd, by the
sink and by this process (the load generator) over the phase.

BENCH_DLV_SCHEME=rfc9421 makes the followers sign their Follows with RFC 9421
(Ed25519), so aimd learns that their hosts verify it and signs the
deliveries with Ed25519 instead of draft-cavage RSA (the default, what an
unknown host gets). BENCH_DLV_PROFILE=perf (perf record -g on aimd during the
run, then the top of perf report) or strace (strace -c -w: where aimd's
threads wait). Environment: AIM_BIN_DIR (default build/bin), the
BENCH_DLV_* values above, BENCH_DLV_WORKERS / BENCH_DLV_PER_HOST (aimd's
--delivery-workers / --delivery-per-host; default 4 / 8).
"""

import asyncio
import json
import multiprocessing as mp
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("AIM_SOURCE_DIR") or os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SRC, "tests", "common"))
import aimtest  # noqa: E402
import fedtest  # noqa: E402


def env_int(name, default, lo, hi):
	try:
		v = int(os.environ.get(name, default))
	except ValueError:
		return default
	return min(max(v, lo), hi)


INBOXES = env_int("BENCH_DLV_INBOXES", 100, 1, 10000)
HOSTS = env_int("BENCH_DLV_HOSTS", 10, 1, 100)
POSTS = env_int("BENCH_DLV_POSTS", 50, 1, 100000)
CONC = env_int("BENCH_DLV_CONC", 4, 1, 64)
WORKERS = env_int("BENCH_DLV_WORKERS", 4, 1, 64)
PER_HOST = env_int("BENCH_DLV_PER_HOST", 8, 1, 64)
SCHEME = os.environ.get("BENCH_DLV_SCHEME", "cavage")
PROFILE = os.environ.get("BENCH_DLV_PROFILE", "")


def cpu_seconds(pid):
	"""utime + stime of a process (and its waited-for children: none)."""
	with open("/proc/%d/stat" % pid) as f:
		parts = f.read().rsplit(")", 1)[1].split()
	tick = os.sysconf("SC_CLK_TCK")
	return (int(parts[11]) + int(parts[12])) / tick


# ---- The sink (a separate process) --------------------------------------------


def sink_main(port, certs, docs, stats, ready):
	"""certs: host -> (cert, key); docs: path -> JSON bytes; stats: shared
	values (connections, posts, creates, last create time)."""
	ctxs = {}
	for host, (cert, key) in certs.items():
		c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
		c.load_cert_chain(cert, key)
		ctxs[host] = c
	first = next(iter(ctxs.values()))

	def sni(sslobj, name, _ctx):
		if name in ctxs:
			sslobj.context = ctxs[name]
	first.sni_callback = sni
	conns, posts, creates, last = stats

	async def handle(reader, writer):
		with conns.get_lock():
			conns.value += 1
		try:
			while True:
				head = await reader.readuntil(b"\r\n\r\n")
				lines = head.decode("latin-1").split("\r\n")
				method, target = lines[0].split(" ")[:2]
				n = 0
				for line in lines[1:]:
					k, _, v = line.partition(":")
					if k.strip().lower() == "content-length":
						n = int(v.strip())
				body = await reader.readexactly(n) if n else b""
				if method == "POST":
					with posts.get_lock():
						posts.value += 1
					if b'"Create"' in body:
						with creates.get_lock():
							creates.value += 1
						last.value = time.monotonic()
					writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
				elif target in docs:
					d = docs[target]
					writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/activity+json"
						     b"\r\nContent-Length: %d\r\n\r\n" % len(d) + d)
				else:
					writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
				await writer.drain()
		except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError, ValueError):
			pass
		finally:
			writer.close()

	async def main():
		srv = await asyncio.start_server(handle, "127.0.0.1", port, ssl=first, backlog=1024)
		ready.set()
		async with srv:
			await srv.serve_forever()
	asyncio.run(main())


# ---- The run -------------------------------------------------------------------


class Follower:
	def __init__(self, host_url, name, keys):
		self.id = "%s/users/%s" % (host_url, name)
		self.key_id = self.id + "#main-key"
		self.ed_key_id = self.id + "#ed25519-key"
		self.inbox = self.id + "/inbox"
		self.keys = keys

	def doc(self):
		return {
			"@context": ["https://www.w3.org/ns/activitystreams",
				     "https://w3id.org/security/v1",
				     "https://w3id.org/security/multikey/v1"],
			"id": self.id, "type": "Person", "preferredUsername": self.id.rsplit("/", 1)[1],
			"inbox": self.inbox, "outbox": self.id + "/outbox",
			"followers": self.id + "/followers", "following": self.id + "/following",
			"publicKey": {"id": self.key_id, "owner": self.id,
				      "publicKeyPem": self.keys.rsa_pub_pem},
			"assertionMethod": [{
				"id": self.ed_key_id, "type": "Multikey", "controller": self.id,
				"publicKeyMultibase": self.keys.ed_multibase}],
		}


def main():
	say = print
	fed = aimtest.Federation(names=("a.test",))
	sink = None
	try:
		a = fed["a.test"]
		tok = a.add_user("bob")
		port, res = aimtest.reserve_port()
		res.close()
		hosts = ["h%d.test" % i for i in range(HOSTS)]
		certs = {h: aimtest.make_cert(fed.ca, os.path.join(fed.dir, "sink"), h) for h in hosts}
		keys = fedtest.Keys(os.path.join(fed.dir, "keys"))
		followers = []
		for i in range(INBOXES):
			h = hosts[i % HOSTS]
			followers.append(Follower("https://%s:%d" % (h, port), "u%d" % i, keys))
		docs = {}
		for f in followers:
			path = f.id.split(":%d" % port, 1)[1]
			docs[path] = json.dumps(f.doc()).encode()
		stats = (mp.Value("l", 0), mp.Value("l", 0), mp.Value("l", 0), mp.Value("d", 0.0))
		ready = mp.Event()
		sink = mp.Process(target=sink_main, args=(port, certs, docs, stats, ready), daemon=True)
		sink.start()
		if not ready.wait(20):
			raise RuntimeError("the sink did not start")
		args = fedtest.serve_args(fed) + ["--delivery-workers", str(WORKERS),
						  "--delivery-per-host", str(PER_HOST),
						  "--inbox-host-rate", "1000000",
						  "--inbox-host-concurrency", "100000",
						  "--log-level", "warn"]
		for h in hosts:
			args += ["--connect-to", "%s:%d:127.0.0.1:%d" % (h, port, port)]
		a.extra_args = args
		a.start()
		bob = a.actor("bob")
		inbox = a.url + "/users/bob/inbox"
		t0 = time.monotonic()
		for f in followers:
			act = {"@context": "https://www.w3.org/ns/activitystreams",
			       "id": "%s/follows/%s" % (f.id, uuid.uuid4()), "type": "Follow",
			       "actor": f.id, "object": bob}
			url = signed_url = inbox
			if SCHEME == "rfc9421":
				hd, body = fedtest.sign_rfc9421(f, "POST", signed_url, act,
								key_id=f.ed_key_id)
			else:
				hd, body = fedtest.sign_cavage(f, "POST", signed_url, act)
			st, _, doc = aimtest.request("POST", url, headers=hd, body=body,
						     ctx=fed.ca.ssl_context())
			if st not in (200, 201, 202):
				raise RuntimeError("Follow refused: %s %s" % (st, doc))
		# the Accepts go out; wait until every follower is stored
		end = time.monotonic() + 60
		n = 0
		while time.monotonic() < end:
			st, _, doc = a.get("/users/bob/followers")
			n = doc.get("totalItems", 0) if st == 200 else 0
			if n >= INBOXES:
				break
			time.sleep(0.2)
		if n < INBOXES:
			raise RuntimeError("only %d of %d followers stored" % (n, INBOXES))
		while stats[1].value < INBOXES and time.monotonic() < end:
			time.sleep(0.1)
		say("deliver set-up: %d followers on %d hosts (%s) in %.1f s" %
		    (INBOXES, HOSTS, SCHEME, time.monotonic() - t0))

		prof = None
		if PROFILE == "perf":
			prof = subprocess.Popen(["perf", "record", "-g", "-o",
						 os.path.join(fed.dir, "perf.data"), "-p",
						 str(a.proc.pid)], stdout=subprocess.DEVNULL,
						stderr=subprocess.DEVNULL)
		elif PROFILE == "strace":
			prof = subprocess.Popen(["strace", "-f", "-c", "-w", "-o",
						 os.path.join(fed.dir, "strace.txt"), "-p",
						 str(a.proc.pid)], stdout=subprocess.DEVNULL,
						stderr=subprocess.DEVNULL)
		if prof:
			time.sleep(1)
		c0, creates0 = stats[0].value, stats[2].value
		aimd_cpu0, sink_cpu0 = cpu_seconds(a.proc.pid), cpu_seconds(sink.pid)
		me0 = os.times()
		want = POSTS * INBOXES
		start = time.monotonic()
		lock = threading.Lock()
		todo = list(range(POSTS))
		errors = []

		def poster():
			while True:
				with lock:
					if not todo:
						return
					i = todo.pop()
				note = {"@context": "https://www.w3.org/ns/activitystreams", "type": "Note",
					"content": "bench %d" % i,
					"to": ["https://www.w3.org/ns/activitystreams#Public"],
					"cc": [bob + "/followers"]}
				st, _, doc = a.post("/users/bob/outbox", note, token=tok)
				if st != 201:
					errors.append((st, doc))
		ts = [threading.Thread(target=poster) for _ in range(CONC)]
		for t in ts:
			t.start()
		for t in ts:
			t.join()
		posted = time.monotonic() - start
		if errors:
			raise RuntimeError("posts refused: %s" % errors[:3])
		end = time.monotonic() + 600
		while stats[2].value - creates0 < want and time.monotonic() < end:
			time.sleep(0.02)
		got = stats[2].value - creates0
		took = (stats[3].value or time.monotonic()) - start
		aimd_cpu = cpu_seconds(a.proc.pid) - aimd_cpu0
		sink_cpu = cpu_seconds(sink.pid) - sink_cpu0
		me1 = os.times()
		gen_cpu = (me1.user - me0.user) + (me1.system - me0.system)
		handshakes = stats[0].value - c0
		if prof:
			prof.send_signal(signal.SIGINT)
			prof.wait(30)
			if PROFILE == "perf":
				r = subprocess.run(["perf", "report", "--no-children", "--stdio",
						    "--sort", "dso,sym", "-i",
						    os.path.join(fed.dir, "perf.data")],
						   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
						   text=True)
				top = [l for l in r.stdout.splitlines() if l.strip().startswith(
					tuple("0123456789"))][:25]
				say("deliver: perf (aimd, self time):\n" + "\n".join(top))
			else:
				with open(os.path.join(fed.dir, "strace.txt")) as f:
					say("deliver: strace -c -w (aimd, wall time in calls):\n" +
					    "".join(f.readlines()[:14]))
		say("deliver: %d posts x %d inboxes on %d hosts, %s, workers=%d per_host=%d: "
		    "%d of %d delivered in %.2f s = %.0f deliveries/s (posting took %.2f s)" %
		    (POSTS, INBOXES, HOSTS, SCHEME, WORKERS, PER_HOST, got, want, took,
		     got / took if took > 0 else 0, posted))
		say("deliver: TLS handshakes at the sink during the run: %d (%d hosts, %d workers)" %
		    (handshakes, HOSTS, WORKERS))
		say("deliver: CPU over the run: aimd %.2f s (%.0f%% of one core), sink %.2f s, "
		    "load generator %.2f s; nproc=%d" %
		    (aimd_cpu, 100 * aimd_cpu / took if took > 0 else 0, sink_cpu, gen_cpu,
		     os.cpu_count()))
		say("deliver: peak RSS aimd %.1f MiB" % (aimtest_rss(a.proc.pid) / 1024.0))
		return 0 if got == want else 1
	finally:
		try:
			fed.cleanup()
		finally:
			if sink is not None:
				sink.terminate()
				sink.join(5)


def aimtest_rss(pid):
	with open("/proc/%d/status" % pid) as f:
		for line in f:
			if line.startswith("VmHWM:"):
				return int(line.split()[1])
	return 0


if __name__ == "__main__":
	sys.exit(main())
