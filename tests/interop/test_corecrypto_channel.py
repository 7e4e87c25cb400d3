"""Issue 13 part 2: a CoreCrypto member in a channel on another domain, through aimd's
documented client API (tests/interop/corecrypto-member.mjs, Wire's CoreCrypto 10.3.0: a test
peer only, GPL-3.0).

Two aimd servers over HTTPS, a.test and b.test, BASE https://NAME (port 443 mapped as
production would name them). alice@a.test and carol@b.test are aim devices (the `aim`
command); bob@b.test is the CoreCrypto client, whose script holds only bob's bearer token and
b.test's address. What each step proves:

  enroll     CoreCrypto's E2EI enrollment (X509CredentialAcquisition) with the script as its
             ACME server: CoreCrypto's CSR, signed by the key it generated and keeps, goes to
             POST /users/bob/devices; b.test issues a certificate for exactly that key (SAN
             acct:bob@b.test, chained to b.test's /.well-known/aim-ca, the device listed with
             its scheme); CoreCrypto refuses that certificate (it wants Wire's wireapp://
             SANs) and holds no x509 credential afterwards
  keypackage the credential CoreCrypto can hold, basic with its `<uuid>:<device>@<domain>`
             identity: b.test's KeyPackage directory refuses it (x509 from its CA only), and
             bob's stock stays empty, so no aim device can claim a KeyPackage of bob
  channel    alice creates a channel with carol (aim devices, messages both ways); bob's
             script reads the channel actor and its GroupInfo through b.test's proxy (the
             group id, epoch, ratchet_tree and external_pub all there, as documented) and
             CoreCrypto refuses the external join: the tree holds aimd's x509 leaves, which
             it cannot read; the channel is untouched and alice and carol go on

  profile    what CoreCrypto would take instead, with test CAs made here (not aimd): a leaf in
             Wire's profile (subject O=DOMAIN, CN=name; its wireapp:// SANs) with
             acct:bob@b.test beside is accepted, the same CA's acct:-only leaf refused as
             aimd's; two such members of one CA add, join, read each other, Update and agree;
             a member certified by another domain's CA is refused, also with that CA given
             to CoreCrypto as an intermediate (it keeps one trust anchor)

So the part's acceptance (bob decrypts, sends, commits an Update through the hub's epoch gate,
leaves) cannot be met with this CoreCrypto version: tests/interop/README.md, "A CoreCrypto
member in a channel". The test fails when CoreCrypto's or aimd's behaviour at any of these
points changes, which is the moment to take the part up again.

Exit status: 0 passed, 1 failed, 77 node or CoreCrypto missing (outside CI).
"""

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.environ.get("AIM_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "common"))
sys.path.insert(0, os.path.join(REPO, "tests", "client"))

from test_mls_interop import Driver, DriverError, Failure  # noqa: E402
import aimtest  # noqa: E402
from clitest import Aim, Domains  # noqa: E402


class Checks:
	def __init__(self):
		self.n = 0
		self.parts = {}
		self.part = ""

	def __call__(self, cond, what):
		if not cond:
			raise Failure("%s: check failed: %s" % (self.part, what))
		self.n += 1
		self.parts[self.part] = self.parts.get(self.part, 0) + 1


def openssl(*args, data=None):
	r = subprocess.run(["openssl", *args], input=data, capture_output=True)
	if r.returncode != 0:
		raise Failure("openssl %s: %s" % (" ".join(args), r.stderr.decode()))
	return r.stdout


def pubkey_of(der, kind):
	"""The SubjectPublicKeyInfo (PEM) of a CSR (kind "req") or certificate ("x509")."""
	return openssl(kind, "-inform", "DER", "-pubkey", "-noout", data=der)


def make_ca(d, domain):
	"""An Ed25519 CA as aimd makes one: {key_file, cert_file}."""
	os.makedirs(d)
	key, cert = os.path.join(d, "ca.key"), os.path.join(d, "ca.pem")
	openssl("genpkey", "-algorithm", "ed25519", "-out", key)
	openssl("req", "-x509", "-new", "-key", key, "-subj", "/CN=test CA " + domain, "-days", "2",
		"-addext", "basicConstraints=critical,CA:TRUE", "-addext",
		"keyUsage=critical,keyCertSign,cRLSign", "-out", cert)
	return {"key_file": key, "cert_file": cert}


def listen(dev, n):
	"""The next n messages `aim listen` prints for a device (--json lines)."""
	r = dev("listen", "--json", "--count", n, "--interval", 100, timeout=60)
	if r.returncode != 0:
		raise Failure("aim listen: %r" % r)
	msgs = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
	if len(msgs) != n:
		raise Failure("aim listen: %d messages, %d expected: %r" % (len(msgs), n, r))
	return msgs


def conv(dev, url):
	"""A device's view of one conversation (aim conversations --json)."""
	for c in dev.ok("conversations", "--json")["conversations"]:
		if c["conversation"] == url:
			return c
	raise Failure("no conversation %s" % url)


def main():
	node = shutil.which("node")
	if node is None or not os.path.isdir(os.path.join(HERE, "node_modules", "@wireapp",
							   "core-crypto")):
		print("SKIP: node or @wireapp/core-crypto missing (run scripts/test-setup.sh)")
		return 77
	check = Checks()
	fed = Domains(("a.test", "b.test"))
	tmp = tempfile.mkdtemp(prefix="aimtest-ccchan-")
	member = None
	start = time.monotonic()
	try:
		toks = {u: fed[d].add_user(u) for d, u in (("a.test", "alice"), ("b.test", "carol"),
							  ("b.test", "bob"))}
		fed.start_all()
		alice = Aim(os.path.join(tmp, "alice"))
		alice.login(fed["a.test"], "alice", toks["alice"], device="laptop",
			    connect_to=fed.route("a.test"), ca_file=fed.ca.cert, keys=3)
		carol = Aim(os.path.join(tmp, "carol"))
		carol.login(fed["b.test"], "carol", toks["carol"], device="laptop",
			    connect_to=fed.route("b.test"), ca_file=fed.ca.cert, keys=3)
		member = Driver("corecrypto-member", [node, os.path.join(HERE, "corecrypto-member.mjs")],
				HERE)
		hello = member.req("hello")
		print("CoreCrypto %s (%s)" % (hello["core_crypto"], hello["driver"]), flush=True)
		member.req("home", url="https://b.test", user="bob", token=toks["bob"],
			   connect_to=fed.route("b.test")[0], ca_file=fed.ca.cert)

		# ---- enroll: CoreCrypto's CSR, aimd's certificate, CoreCrypto's verdict ----
		check.part = "enroll"
		e = member.req("enroll", device="cc1", suite=1, display_name="Bob (CoreCrypto)")
		check(e["ca"] == {"domain": "b.test", "certificates": 1},
		      "the script read b.test's CA document: %s" % e["ca"])
		check(e["acme"][-2:] == ["Post /order/1/finalize", "Post /cert/1"],
		      "CoreCrypto ran its enrollment to the end (finalize, certificate): %s" % e["acme"])
		check("fetchBackendAccessToken" in e["acme"] and "authenticate /idp" in e["acme"],
		      "CoreCrypto asked for Wire's two challenge tokens (DPoP, OIDC)")
		types = sorted(i["type"] for i in e["identifiers"])
		check(types == ["wireapp-device", "wireapp-user"],
		      "CoreCrypto orders Wire's identifiers: %s" % types)
		dev_id = json.loads([i for i in e["identifiers"] if i["type"] == "wireapp-device"][0]
				    ["value"])
		check(dev_id["client-id"].startswith("wireapp://") and
		      dev_id["client-id"].endswith("@b.test") and
		      dev_id["handle"] == "wireapp://%40bob@b.test",
		      "its identifiers are wireapp:// URIs: %s" % dev_id)
		csr = base64.b64decode(e["csr"])
		v = subprocess.run(["openssl", "req", "-inform", "DER", "-verify", "-noout"], input=csr,
				   capture_output=True)
		check(v.returncode == 0 and b"verify OK" in v.stdout + v.stderr,
		      "CoreCrypto's CSR is self-signed by the key it generated (proof of possession)")
		csr_text = openssl("req", "-inform", "DER", "-noout", "-text", data=csr).decode()
		check("URI:wireapp://" in csr_text and "acct:" not in csr_text,
		      "the CSR asks for wireapp:// names only")
		ans = e["device_answer"]
		check(ans and ans["status"] == 201 and ans["body"]["device"] == "cc1",
		      "b.test registered device cc1 from CoreCrypto's CSR: %s" % ans)
		leaf = base64.b64decode(ans["body"]["certificate"])
		check(pubkey_of(leaf, "x509") == pubkey_of(csr, "req"),
		      "b.test's certificate certifies exactly the key of CoreCrypto's CSR")
		san = openssl("x509", "-inform", "DER", "-noout", "-ext", "subjectAltName",
			      data=leaf).decode()
		check("URI:acct:bob@b.test" in san and "wireapp" not in san,
		      "the certificate names acct:bob@b.test and nothing of the CSR's names: %r" % san)
		ca_doc = member.req("http", path="/.well-known/aim-ca")["body"]
		check(ans["body"]["chain"] == ca_doc["certificates"],
		      "the chain is b.test's published CA")
		d = os.path.join(tmp, "enroll")
		os.makedirs(d)
		for name, der in (("leaf", leaf), ("ca", base64.b64decode(ca_doc["certificates"][0]))):
			with open(os.path.join(d, name + ".pem"), "wb") as f:
				f.write(openssl("x509", "-inform", "DER", data=der))
		v = subprocess.run(["openssl", "verify", "-CAfile", os.path.join(d, "ca.pem"),
				    os.path.join(d, "leaf.pem")], capture_output=True, text=True)
		check(v.returncode == 0, "the certificate chains to b.test's CA: %s" % v.stdout)
		devs = member.req("http", path="/users/bob/devices")["body"]["devices"]
		check([(x["device"], x["revoked"], x["signatureScheme"]) for x in devs] ==
		      [("cc1", False, 0x0807)], "b.test lists bob's device cc1, Ed25519: %s" % devs)
		check(e["enrolled"] is False and "ClientId is missing from the certificate" in
		      e.get("error", ""), "CoreCrypto refuses aimd's certificate: %s" % e.get("error"))
		check(e["x509_credentials"] == 0, "CoreCrypto holds no x509 credential afterwards")
		r = member.req("http", method="DELETE", path="/users/bob/devices/cc1")
		devs = member.req("http", path="/users/bob/devices")["body"]["devices"]
		check(r["status"] == 204 and [(x["device"], x["revoked"]) for x in devs] ==
		      [("cc1", True)], "the device the failed enrollment left is revoked: %s" % devs)

		# ---- keypackage: the basic credential CoreCrypto can hold ----
		check.part = "keypackage"
		c = member.req("create_client", name="bob", suite=1, domain="b.test")
		check(c["identity"].endswith("@b.test") and not c["identity"].startswith("acct:"),
		      "CoreCrypto's basic identity is its own form: %s" % c["identity"])
		p = member.req("publish", client="bob")
		check(p["status"] == 400 and p["body"].get("error") == "bad_keypackage" and
		      "x509" in p["body"].get("detail", ""),
		      "b.test's directory refuses the basic KeyPackage: %s" % p["body"])
		st = member.req("http", path="/users/bob/keyPackages/stock")["body"]
		check(not any(x.get("available") or x.get("lastResort") for x in st["devices"]),
		      "bob has no KeyPackage in stock: %s" % st)

		# ---- channel: alice's channel on a.test, carol on b.test, bob's CoreCrypto ----
		check.part = "channel"
		ch = alice.ok("channel", "create", "lunch", "carol@b.test", "--json")
		url = ch["channel"]
		check(url.startswith("https://a.test/channels/") and ch["members"] ==
		      ["acct:carol@b.test"], "alice created a channel on a.test with carol: %s" % ch)
		alice.ok("send", url, "hello carol")
		got = listen(carol, 1)
		check([(m["sender"], m["text"], m["epoch"]) for m in got] ==
		      [("acct:alice@a.test", "hello carol", 1)], "carol decrypted alice's message")
		carol.ok("send", "1", "hi alice")
		got = listen(alice, 2)
		check([(m["sender"], m["text"]) for m in got] ==
		      [("acct:alice@a.test", "hello carol"), ("acct:carol@b.test", "hi alice")],
		      "alice decrypted carol's message, in the hub's order")
		va, vc = conv(alice, url), conv(carol, url)
		check(va["epoch"] == vc["epoch"] == 1 and va["epochAuthenticator"] ==
		      vc["epochAuthenticator"], "alice and carol agree on epoch and epoch "
		      "authenticator: %s %s" % (va, vc))
		inv = alice("invite", url, "acct:bob@b.test", "--json")
		check(inv.returncode != 0 and "KeyPackage" in inv.stderr,
		      "alice's device cannot add bob (no KeyPackage to claim): %r" % inv)
		j = member.req("channel_join", client="bob", channel=url)
		gi = j["group_info"]
		check(j["channel"]["cipher_suite"] == 1 and j["channel"]["epoch"] == va["epoch"],
		      "bob's script read the channel actor through b.test's proxy: %s" % j["channel"])
		check(base64.b64decode(j["channel"]["group_id"]).hex() == gi["group"],
		      "the GroupInfo is the channel's group (aim:groupId, base64)")
		check(gi["epoch"] == gi["aim_epoch"] == va["epoch"] and gi["suite"] == 1,
		      "the GroupInfo is for the channel's epoch: %s" % gi)
		check(2 in gi["extension_types"] and 4 in gi["extension_types"],
		      "the GroupInfo carries ratchet_tree and external_pub: %s" % gi["extension_types"])
		check(gi["media_type"] == "message/mls", "the GroupInfo is served as message/mls")
		check(j["join"]["ok"] is False and "InvalidInput" in j["join"]["error"],
		      "CoreCrypto refuses the external join (aimd's x509 leaves in the tree): %s" %
		      j["join"])
		check(member.call("status", client="bob").get("ok") is False,
		      "CoreCrypto made no conversation")
		alice.ok("send", url, "still two of us")
		got = listen(carol, 2)  # her own message as the hub ordered it, then alice's
		check([(m["text"], m["epoch"]) for m in got] == [("hi alice", 1), ("still two of us", 1)],
		      "the channel is untouched: carol reads on in epoch 1: %s" % got)
		va2, vc2 = conv(alice, url), conv(carol, url)
		check(va2["epochAuthenticator"] == vc2["epochAuthenticator"] == va["epochAuthenticator"],
		      "alice and carol still agree, in the same epoch")
		# ---- profile: what CoreCrypto would take (test CAs, not aimd) ----
		check.part = "profile"
		cas = {d: make_ca(os.path.join(tmp, "ca-" + d), d) for d in ("b.test", "a.test")}
		cb = dict(cas["b.test"], acct="acct:bob@b.test")
		x = member.req("enroll", name="x", ca=cb, domain="b.test", display_name="Bob")
		check(x["enrolled"] and x["credential_type"] == 2 and x["x509_credentials"] == 1,
		      "CoreCrypto takes a leaf in Wire's profile (subject O, CN; wireapp:// SANs) with "
		      "acct:bob@b.test beside: %s" % x.get("error"))
		ctl = member.req("enroll", ca=dict(cb, wire=False), domain="b.test")
		check(not ctl["enrolled"] and "ClientId is missing" in ctl.get("error", ""),
		      "the same CA's leaf with only the acct: SAN is refused as aimd's is: %s" %
		      ctl.get("error"))
		y = member.req("enroll", name="y", ca=dict(cas["b.test"], acct="acct:dan@b.test"),
			       domain="b.test", display_name="Dan")
		check(y["enrolled"], "a second client certified by the same CA")
		g = member.req("create_group", client="x")["group"]
		c = member.req("commit", client="x", add=[member.req("key_package", client="y")
							  ["key_package"]])
		member.req("join", client="y", welcome=c["welcome"])
		sy = member.req("status", client="y")
		check(sy["epoch"] == 1 and sy["members"] == sorted([x["identity"], y["identity"]]),
		      "x509 members of one CA: the Add and the Welcome pass: %s" % sy)
		for a, b, text in (("x", "y", "from x"), ("y", "x", "from y")):
			m = member.req("send", client=a, plaintext=text)["message"]
			r = member.req("process", client=b, message=m)
			check(r["kind"] == "application" and r["text"] == text,
			      "%s decrypts %s's message" % (b, a))
		u = member.req("commit", client="y", update=True)
		member.req("process", client="x", message=u["commit"])
		ex = [member.req("export", client=n) for n in ("x", "y")]
		check(ex[0]["epoch"] == ex[1]["epoch"] == 2 and ex[0]["secret"] == ex[1]["secret"],
		      "after y's Update both agree on epoch and exporter")
		z = member.req("enroll", name="z", ca=dict(cas["a.test"], acct="acct:eve@a.test"),
			       domain="a.test", display_name="Eve")
		check(z["enrolled"], "a client certified by another domain's CA (its own anchor)")
		kz = member.req("key_package", client="z")["key_package"]
		r = member.call("commit", client="x", add=[kz])
		check(not r.get("ok") and "Authentication Service" in r.get("error", ""),
		      "x refuses a member certified by another domain's CA: %s" % r.get("error"))
		check(member.req("status", client="x")["epoch"] == 2, "x's group is unharmed")
		x2 = member.req("enroll", name="x2", ca=cb, domain="b.test", display_name="Bob",
				intermediates=[cas["a.test"]["cert_file"]])
		member.req("create_group", client="x2")
		r = member.call("commit", client="x2", add=[kz])
		check(x2["enrolled"] and not r.get("ok") and "Authentication Service" in
		      r.get("error", ""), "also with that CA given as an intermediate: %s" %
		      r.get("error"))

		check.part = "done"
		print("%d checks passed (%s), %.1fs" % (check.n, ", ".join(
			"%s %d" % kv for kv in check.parts.items()), time.monotonic() - start))
		return 0
	except (Failure, DriverError, AssertionError, aimtest.ServerError) as ex:
		print("FAIL %s" % ex)
		if member is not None:
			print("--- member stderr ---\n" + member.close()[1][-5000:])
			member = None
		for d in ("a.test", "b.test"):
			print("--- %s log ---\n%s" % (d, fed[d].log()[-4000:]))
		return 1
	finally:
		if member is not None:
			member.close()
		fed.cleanup()
		if not aimtest.keep_tmp():
			shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
	sys.exit(main())
