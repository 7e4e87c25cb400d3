// CoreCrypto member: a Wire CoreCrypto 10.3.0 client (GPL-3.0: a test peer only) that speaks
// aimd's documented client API (README "What aimd serves", "Credentials", "The KeyPackage
// directory", "Channels") with a bearer token, as a foreign implementation would: issue 13
// part 2, driven by tests/interop/test_corecrypto_channel.py.
//
// Framing and the CoreCrypto commands (create_client, join, process, send, export, ...) are
// corecrypto-driver.mjs's (this script imports it); the commands below add the home server:
//
//   home      url (BASE, e.g. https://b.test), user, token, connect_to? ("HOST:PORT:IP:PORT",
//             as aim's --connect-to), ca_file? (PEM trusted for TLS) -> {}
//   http      method, path (under BASE) or url, json? (POSTed), content_type? -> {status, body}
//   enroll    device, suite?, display_name?, handle?, name? -> the whole E2EI enrollment:
//             CoreCrypto's X509CredentialAcquisition with this script as its ACME server; the CSR
//             CoreCrypto puts in the finalize request goes to POST BASE/users/USER/devices,
//             aimd's certificate and chain go back as the ACME certificate; the trust anchor is
//             the domain's CA from BASE/.well-known/aim-ca. -> {ca, acme, identifiers, csr,
//             device_answer, enrolled, error?, code?, credential_type?, x509_credentials}.
//             With ca {key_file, cert_file, acct?, wire?} and domain: no home server, a leaf
//             in Wire's profile from that test CA (issueLocally); anchor_file and
//             intermediates (PEM files) set the PKI environment. name: keep the enrolled
//             client under that name for the driver's commands (create_group, commit, ...).
//   publish   client -> its KeyPackage (MLSMessage) as the SWICG KeyPackage object POSTed to
//             BASE/users/USER/outbox -> {status, body, key_package_ref}
//   proxy     url -> POST BASE/proxy id=URL (the home server fetches, signed) -> {status, body}
//   channel_join  client, channel (the channel actor's URL) -> the channel actor and its
//             GroupInfo read through the proxy, then CoreCrypto's external join from that
//             GroupInfo: {channel: {group_id, epoch, cipher_suite, group_info_url},
//             group_info: {group, epoch, extension_types, ...}, join: status | {ok:false,
//             code, error}}
//
// The ACME side is a stand-in, not an ACME server: it checks nothing of the JWS requests
// (their signatures are CoreCrypto's business with a real server); the proof that matters, the
// CSR's self-signature by the MLS signature key, is checked by aimd when it issues.

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import https from "node:https";
import http from "node:http";
import { randomBytes } from "node:crypto";

import * as D from "./corecrypto-driver.mjs";

const { cc, fail, toHex, fromHex, errCode, errText } = D;
const { CoreCrypto, Database, ClientId, Uuid, DeviceId, PkiEnvironment,
	X509CredentialAcquisition, X509CredentialAcquisitionConfiguration, CredentialType,
	HttpMethod } = cc;

// ---- the home server ----

let home = null;

function request(method, url, { headers = {}, body } = {}) {
	if (!home)
		fail("home: not set");
	const u = new URL(url);
	let host = u.hostname;
	let port = Number(u.port || (u.protocol === "https:" ? 443 : 80));
	if (home.connect && home.connect.host === u.hostname && home.connect.port === port) {
		host = home.connect.ip;
		port = home.connect.ipPort;
	}
	const mod = u.protocol === "https:" ? https : http;
	const opts = { method, host, port, path: u.pathname + u.search, servername: u.hostname,
		headers: { host: u.host, ...headers }, ca: home.ca, timeout: 30000 };
	return new Promise((resolve, reject) => {
		const req = mod.request(opts, (res) => {
			const chunks = [];
			res.on("data", (c) => chunks.push(c));
			res.on("end", () => {
				const text = Buffer.concat(chunks).toString("utf8");
				let json;
				try {
					json = JSON.parse(text);
				} catch {
					json = undefined;
				}
				resolve({ status: res.statusCode, headers: res.headers,
					body: json === undefined ? text : json });
			});
		});
		req.on("timeout", () => req.destroy(new Error(`${method} ${url}: timeout`)));
		req.on("error", reject);
		if (body !== undefined)
			req.write(body);
		req.end();
	});
}

const bearer = () => ({ authorization: `Bearer ${home.token}` });
const under = (path) => home.url + path;

function postJson(url, obj, type = "application/json") {
	return request("POST", url, { headers: { ...bearer(), "content-type": type },
		body: JSON.stringify(obj) });
}

async function proxyGet(url) {
	return request("POST", under("/proxy"), { headers: { ...bearer(),
		"content-type": "application/x-www-form-urlencoded",
		accept: "application/activity+json" },
	body: new URLSearchParams({ id: url }).toString() });
}

const pem = (b64) => `-----BEGIN CERTIFICATE-----\n${b64.match(/.{1,64}/g).join("\n")}\n` +
	"-----END CERTIFICATE-----\n";

// ---- the ACME stand-in: the shapes CoreCrypto's flow reads (RFC 8555 + Wire's challenge
// types: identifier wireapp-device -> wire-dpop-01, wireapp-user -> wire-oidc-01) ----

function acmeServer(onCsr) {
	const B = "https://acme.invalid";
	const at = { order: `${B}/order/1`, fin: `${B}/order/1/finalize`, cert: `${B}/cert/1` };
	const log = [];
	let order = null;
	let chain = null;
	let nonce = 0;
	const jws = (body) => {
		try {
			const j = JSON.parse(Buffer.from(body).toString("utf8"));
			return j.payload ? JSON.parse(Buffer.from(j.payload, "base64url").toString()) : "";
		} catch {
			return undefined;
		}
	};
	const challenge = (i) => {
		const dev = order.identifiers[i].type === "wireapp-device";
		return { type: dev ? "wire-dpop-01" : "wire-oidc-01", url: `${B}/chall/${i}`,
			status: "pending", token: randomBytes(32).toString("base64url"),
			target: dev ? `${B}/dpop-target` : `${B}/idp` };
	};
	async function route(method, url, payload) {
		if (url === `${B}/directory`)
			return [200, { newNonce: `${B}/nonce`, newAccount: `${B}/account`,
				newOrder: `${B}/order`, revokeCert: `${B}/revoke`, keyChange: `${B}/key` }];
		if (url === `${B}/nonce`)
			return [200, ""];
		if (url === `${B}/account`)
			return [201, { status: "valid", orders: `${B}/account/orders` },
				{ location: `${B}/account/1` }];
		if (url === `${B}/order`) {
			const now = Date.now();
			order = { status: "pending", expires: new Date(now + 3600e3).toISOString(),
				notBefore: payload.notBefore, notAfter: payload.notAfter,
				identifiers: payload.identifiers,
				authorizations: payload.identifiers.map((_, i) => `${B}/authz/${i}`),
				finalize: at.fin };
			return [201, order, { location: at.order }];
		}
		const az = /\/authz\/(\d+)$/.exec(url);
		if (az && order)
			return [200, { status: "pending", expires: order.expires,
				identifier: order.identifiers[Number(az[1])],
				challenges: [challenge(Number(az[1]))] }];
		const ch = /\/chall\/(\d+)$/.exec(url);
		if (ch && order)
			return [200, { ...challenge(Number(ch[1])), status: "valid" }];
		if (url === at.order && order)
			return [200, { ...order, status: chain ? "valid" : "ready",
				...(chain ? { certificate: at.cert } : {}) }];
		if (url === at.fin && order) {
			chain = await onCsr(payload.csr);
			return [200, { ...order, status: "valid", certificate: at.cert }];
		}
		if (url === at.cert && chain)
			return [200, chain, { "content-type": "application/pem-certificate-chain" }];
		return [404, { type: "urn:ietf:params:acme:error:malformed", detail: "not here" }];
	}
	const hooks = {
		async httpRequest(method, url, headers, body) {
			const payload = jws(body);
			log.push(`${HttpMethod[method] ?? method} ${url.replace(B, "")}`);
			const [status, out, hdrs = {}] = await route(method, url, payload);
			const all = { "replay-nonce": `n${++nonce}`, "content-type": "application/json",
				...hdrs };
			return { status, headers: Object.entries(all).map(([name, value]) => ({ name, value })),
				body: new Uint8Array(Buffer.from(typeof out === "string" ? out :
					JSON.stringify(out))) };
		},
		// The two challenges' tokens: aimd has no OIDC provider and no DPoP backend. The
		// stand-in accepts what it is given; the identity aimd certifies comes from the bearer
		// token of the devices request instead.
		async authenticate(idp, keyAuth) {
			log.push(`authenticate ${idp.replace(B, "")}`);
			return "none";
		},
		async getBackendNonce() {
			return randomBytes(16).toString("base64url");
		},
		async fetchBackendAccessToken() {
			log.push("fetchBackendAccessToken");
			return "none";
		},
	};
	return { hooks, log, base: B, identifiers: () => order?.identifiers ?? null };
}

// A leaf in Wire's profile from a test CA (the openssl command): subject O=DOMAIN,
// CN=display name; SANs: acct:... first when given, then the CSR's own URIs (CoreCrypto's
// wireapp:// client id and handle). What aimd's CA would have to issue for CoreCrypto.
function issueLocally(ca, csrDer, domain, displayName) {
	const dir = mkdtempSync(join(tmpdir(), "cc-member-"));
	try {
		const f = (n) => join(dir, n);
		writeFileSync(f("req.der"), csrDer);
		const text = execFileSync("openssl", ["req", "-inform", "DER", "-in", f("req.der"),
			"-noout", "-text"]).toString();
		const uris = [...text.matchAll(/URI:([^,\s]+)/g)].map((m) => `URI:${m[1]}`);
		const sans = [...(ca.acct ? [`URI:${ca.acct}`] : []), ...(ca.wire === false ? [] : uris)];
		writeFileSync(f("ext.cnf"), `subjectAltName=${sans.join(",")}\n` +
			"keyUsage=critical,digitalSignature\nbasicConstraints=critical,CA:FALSE\n");
		execFileSync("openssl", ["x509", "-req", "-inform", "DER", "-in", f("req.der"), "-CA",
			ca.cert_file, "-CAkey", ca.key_file, "-days", "2", "-extfile", f("ext.cnf"),
			"-set_serial", `0x${randomBytes(8).toString("hex")}`, "-subj",
			`/O=${domain}/CN=${displayName}`, "-out", f("leaf.pem")], { stdio: "pipe" });
		return readFileSync(f("leaf.pem"), "utf8") + readFileSync(ca.cert_file, "utf8");
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
}

// ---- commands ----

const member = {
	async home(req) {
		if (typeof req.url !== "string" || typeof req.user !== "string" ||
		    typeof req.token !== "string")
			fail("home: url, user, token");
		let connect = null;
		if (req.connect_to) {
			const m = /^([^:]+):(\d+):([^:]+):(\d+)$/.exec(req.connect_to);
			if (!m)
				fail("home: connect_to is HOST:PORT:IP:PORT");
			connect = { host: m[1], port: Number(m[2]), ip: m[3], ipPort: Number(m[4]) };
		}
		home = { url: req.url.replace(/\/$/, ""), user: req.user, token: req.token, connect,
			ca: req.ca_file ? readFileSync(req.ca_file) : undefined };
		return {};
	},

	async http(req) {
		const url = req.url ?? under(req.path ?? fail("http: path or url"));
		const r = req.json !== undefined ? await postJson(url, req.json, req.content_type) :
			await request(req.method ?? "GET", url, { headers: bearer() });
		return { status: r.status, body: r.body };
	},

	async proxy(req) {
		const r = await proxyGet(req.url ?? fail("proxy: url"));
		return { status: r.status, body: r.body };
	},

	async enroll(req) {
		const suite = req.suite ?? 1;
		const local = req.ca ?? null; // {key_file, cert_file, acct?}: a test CA, not the home
		let anchor;
		let domain;
		const out = {};
		if (local) {
			anchor = readFileSync(req.anchor_file ?? local.cert_file, "utf8");
			domain = req.domain ?? fail("enroll: domain (with ca)");
		} else {
			const device = req.device ?? fail("enroll: device");
			const caDoc = await request("GET", under("/.well-known/aim-ca"));
			if (caDoc.status !== 200 || !Array.isArray(caDoc.body?.certificates))
				fail(`GET /.well-known/aim-ca: ${caDoc.status}`);
			out.ca = { domain: caDoc.body.domain, certificates: caDoc.body.certificates.length };
			anchor = pem(caDoc.body.certificates[0]);
			domain = caDoc.body.domain;
			req = { ...req, device };
		}
		let answer = null;
		const acme = acmeServer(async (csr) => {
			out.csr = Buffer.from(csr, "base64url").toString("base64");
			if (local)
				return issueLocally(local, Buffer.from(csr, "base64url"), domain,
					req.display_name ?? home?.user ?? "member");
			const r = await postJson(under(`/users/${home.user}/devices`),
				{ device: req.device, csr: out.csr });
			answer = { status: r.status, body: r.body };
			if (r.status !== 201)
				throw new Error(`POST /users/${home.user}/devices: ${r.status}`);
			return [r.body.certificate, ...(r.body.chain ?? [])].map(pem).join("");
		});
		const db = await Database.inMemory();
		const core = CoreCrypto.new(db);
		const id = new ClientId(new Uuid(req.user_uuid ?? crypto.randomUUID()),
			DeviceId.fromHexString(req.device_hex ?? "1" + randomBytes(8).toString("hex").slice(1)),
			domain);
		// the client as corecrypto-driver.mjs keeps one, so that its commands work on it
		const c = { name: req.name, suite, core, groups: new Set(), sent: [], cred: null, id,
			reject: null };
		await core.transaction((ctx) => ctx.mlsInit(id, {
			async sendCommitBundle(bundle) {
				c.sent.push(bundle);
				if (c.reject)
					throw new cc.MlsTransportError.MessageRejected({ reason: c.reject });
			},
			async prepareForTransport() {
				return new Uint8Array(0);
			},
		}));
		const pki = await PkiEnvironment.create(acme.hooks, db);
		await pki.addTrustAnchor(anchor);
		for (const f of req.intermediates ?? [])
			await pki.addIntermediateCert(readFileSync(f, "utf8"));
		await core.setPkiEnvironment(pki);
		const cfg = X509CredentialAcquisitionConfiguration.create({
			acmeDirectoryUrl: `${acme.base}/directory`, cipherSuite: suite,
			displayName: req.display_name ?? home?.user ?? "member", clientId: id,
			handle: req.handle ?? home?.user ?? "member", domain,
			validityPeriodSecs: BigInt(req.validity ?? 86400) });
		try {
			const cred = await new X509CredentialAcquisition(pki, cfg).finalize();
			c.cred = await core.transaction((ctx) => ctx.addCredential(cred));
			out.enrolled = true;
			out.credential_type = Number(cred.type());
			out.identity = D.clientIdText(id);
			if (req.name) {
				if (D.clients.has(req.name))
					fail(`client ${req.name} exists`);
				D.clients.set(req.name, c);
			}
		} catch (e) {
			if (e instanceof D.DriverError)
				throw e;
			out.enrolled = false;
			out.code = errCode(e);
			out.error = errText(e);
		}
		out.acme = acme.log;
		out.identifiers = acme.identifiers();
		if (!local)
			out.device_answer = answer;
		try {
			out.x509_credentials = (await core.findCredentials({
				credentialType: CredentialType.X509 })).length;
		} catch (e) {
			out.x509_credentials_error = errText(e);
		}
		return out;
	},

	async publish(req) {
		const kp = await D.commands.key_package({ client: req.client ?? fail("publish: client") });
		const content = Buffer.from(fromHex(kp.key_package, "key_package")).toString("base64");
		const r = await postJson(under(`/users/${home.user}/outbox`), { type: "KeyPackage",
			mediaType: "message/mls", encoding: "base64", content },
		"application/activity+json");
		return { status: r.status, body: r.body, key_package_ref: kp.key_package_ref };
	},

	async channel_join(req) {
		const a = await proxyGet(req.channel ?? fail("channel_join: channel"));
		if (a.status !== 200 || typeof a.body !== "object")
			fail(`the channel actor through the proxy: ${a.status} ${JSON.stringify(a.body)}`);
		const out = { channel: { group_id: a.body["aim:groupId"], epoch: a.body["aim:epoch"],
			cipher_suite: a.body["aim:cipherSuite"], group_info_url: a.body["aim:groupInfo"] } };
		const g = await proxyGet(out.channel.group_info_url ?? fail("the channel names no GroupInfo"));
		if (g.status !== 200 || typeof g.body?.content !== "string")
			fail(`the GroupInfo through the proxy: ${g.status} ${JSON.stringify(g.body)}`);
		const gi = toHex(Buffer.from(g.body.content, "base64"));
		out.group_info = { ...(await D.commands.inspect({ message: gi })),
			media_type: g.body.mediaType, aim_epoch: g.body["aim:epoch"] };
		delete out.group_info.ratchet_tree;
		try {
			out.join = { ok: true, ...(await D.commands.join_external({ client: req.client,
				group_info: gi })) };
		} catch (e) {
			out.join = { ok: false, code: errCode(e), error: errText(e) };
		}
		return out;
	},
};

await D.serve({ ...D.commands, ...member,
	async hello() {
		return { ...(await D.commands.hello()), driver: "corecrypto-member" };
	} });
