"""Python handles on the npm test peers in tests/interop (stdlib only).

    import sys; sys.path.insert(0, os.path.join(AIM_SOURCE_DIR, "tests", "interop"))
    import peers
    if not peers.available(): skip
    with peers.TsMls() as mls:
        alice = mls.req("create_client", suite=1, identity="alice@a.test")
    with peers.Fedify(users=["alice"], first_knock="cavage") as fed:
        fed.get("/_test/received"); fed.post("/_test/send", {...})

Needs `scripts/test-setup.sh` (npm ci in tests/interop) to have run. The protocol of both
peers is in tests/interop/README.md.
"""

import json
import os
import shutil
import ssl
import subprocess
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def available():
    """True when node and the installed npm packages are there."""
    return (shutil.which("node") is not None and
            os.path.isdir(os.path.join(HERE, "node_modules", "ts-mls")) and
            os.path.isdir(os.path.join(HERE, "node_modules", "@fedify", "fedify")))


class PeerError(Exception):
    pass


class TsMls:
    """One tsmls-driver.mjs process; call() returns the response dict, req() raises unless ok."""

    def __init__(self, timeout=60):
        self.timeout = timeout
        self.proc = subprocess.Popen(
            ["node", os.path.join(HERE, "tsmls-driver.mjs")], cwd=HERE,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.next_id = 1
        hello = self.req("hello")
        if hello.get("driver") != "tsmls-driver":
            raise PeerError("unexpected hello: %r" % hello)

    def call(self, cmd, **args):
        rid = self.next_id
        self.next_id += 1
        self.proc.stdin.write(json.dumps(dict(args, id=rid, cmd=cmd)) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise PeerError("tsmls-driver exited (status %r)" % self.proc.poll())
        res = json.loads(line)
        if res.get("id") != rid:
            raise PeerError("response id %r != %r" % (res.get("id"), rid))
        return res

    def req(self, cmd, **args):
        res = self.call(cmd, **args)
        if not res.get("ok"):
            raise PeerError("%s failed: %s" % (cmd, res.get("error")))
        return res

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Fedify:
    """One fedify-server.mjs process on 127.0.0.1 (port 0 = a free port).

    Attributes after start: origin, port, actors (user -> actor URL), ready (the start line).
    """

    def __init__(self, users=("alice",), first_knock="rfc9421", port=0, origin=None,
                 cert=None, key=None, strict=True, resolve=None, env=None, ca_file=None,
                 contexts=None):
        args = ["node", os.path.join(HERE, "fedify-server.mjs"),
                "--port", str(port), "--users", ",".join(users), "--first-knock", first_knock,
                "--strict", "1" if strict else "0"]
        if origin is not None:
            args += ["--origin", origin]
        if cert is not None:
            args += ["--cert", cert, "--key", key]
        if resolve:
            args += ["--resolve", ",".join("%s=%s" % kv for kv in resolve.items())]
        for url, path in (contexts or {}).items():
            args += ["--context", "%s=%s" % (url, path)]
        full_env = dict(os.environ)
        if ca_file is not None:
            full_env["NODE_EXTRA_CA_CERTS"] = ca_file
        full_env.update(env or {})
        self.proc = subprocess.Popen(args, cwd=HERE, stdout=subprocess.PIPE, text=True,
                                     env=full_env)
        line = self.proc.stdout.readline()
        if not line:
            raise PeerError("fedify-server did not start (status %r)" % self.proc.wait())
        self.ready = json.loads(line)
        self.origin = self.ready["origin"]
        self.port = self.ready["port"]
        self.actors = self.ready["actors"]
        # talk to the test API on the bound loopback port, whatever host name the origin has
        scheme = self.origin.split(":", 1)[0]
        self.base = "%s://127.0.0.1:%d" % (scheme, self.port)
        self.ssl = None
        if scheme == "https":
            self.ssl = ssl.create_default_context(cafile=ca_file or cert)
            self.ssl.check_hostname = False

    def _open(self, request):
        try:
            with urllib.request.urlopen(request, timeout=60, context=self.ssl) as r:
                return json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            body = e.read()
            try:
                return json.loads(body)
            except ValueError:
                raise PeerError("HTTP %d: %r" % (e.code, body[:200]))

    def get(self, path):
        return self._open(urllib.request.Request(self.base + path))

    def post(self, path, body):
        return self._open(urllib.request.Request(
            self.base + path, data=json.dumps(body).encode(), method="POST",
            headers={"content-type": "application/json"}))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
