// ts-mls driver: a long-running MLS peer (ts-mls 1.6.4) scripted over JSON lines.
//
// One request object per stdin line -> exactly one response object per stdout line, in order.
// Bytes are lowercase hex strings everywhere. Diagnostics go to stderr only.
// The full protocol is documented in README.md (section "tsmls-driver protocol").
//
// Usage: node tsmls-driver.mjs            (reads stdin until EOF or {"cmd":"quit"})

import { createInterface } from "node:readline";
import { randomBytes } from "node:crypto";
import {
	acceptAll,
	createApplicationMessage,
	createCommit,
	createGroup,
	createProposal,
	decodeMlsMessage,
	defaultCapabilities,
	defaultLifetime,
	encodeMlsMessage,
	getCiphersuiteFromName,
	getCiphersuiteImpl,
	joinGroup,
	joinGroupExternal,
	makePskIndex,
	mlsExporter,
	processPrivateMessage,
	processPublicMessage,
	generateKeyPackageWithKey,
} from "ts-mls";
import { getCiphersuiteNameFromId } from "ts-mls/crypto/ciphersuite.js";
import { decodeRatchetTree, encodeRatchetTree } from "ts-mls/ratchetTree.js";
import { makeKeyPackageRef, encodeKeyPackage, decodeKeyPackage, verifyKeyPackage } from "ts-mls/keyPackage.js";
import { ciphersuites } from "ts-mls/crypto/ciphersuite.js";
import { ratchetTreeFromExtension } from "ts-mls/groupInfo.js";
import { createGroupInfo } from "ts-mls/createCommit.js";
import { p256, p384, p521 } from "@noble/curves/nist.js";

const MAX_LINE = 16 * 1024 * 1024;

class DriverError extends Error {}

function fail(msg) {
	throw new DriverError(msg);
}

// ---- byte helpers ----

function fromHex(s, what) {
	if (typeof s !== "string" || s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s))
		fail(`${what}: expected an even-length hex string`);
	return new Uint8Array(Buffer.from(s, "hex"));
}

function toHex(b) {
	return b === undefined ? undefined : Buffer.from(b).toString("hex");
}

function optHex(req, key) {
	return req[key] === undefined ? undefined : fromHex(req[key], key);
}

// bytes given either as <key>_hex (hex) or <key> (UTF-8 text)
function textOrHex(req, key, dflt) {
	if (req[`${key}_hex`] !== undefined)
		return fromHex(req[`${key}_hex`], `${key}_hex`);
	if (req[key] !== undefined) {
		if (typeof req[key] !== "string")
			fail(`${key}: expected a string`);
		return new Uint8Array(Buffer.from(req[key], "utf8"));
	}
	if (dflt !== undefined)
		return dflt;
	fail(`missing ${key} or ${key}_hex`);
}

function decodeWhole(decoder, bytes, what) {
	const r = decoder(bytes, 0);
	if (r === undefined)
		fail(`${what}: cannot decode`);
	if (r[1] !== bytes.length)
		fail(`${what}: ${bytes.length - r[1]} trailing bytes`);
	return r[0];
}

function decodeMsg(hex, what, wireformat) {
	const m = decodeWhole(decodeMlsMessage, fromHex(hex, what), what);
	if (wireformat !== undefined && m.wireformat !== wireformat)
		fail(`${what}: expected ${wireformat}, got ${m.wireformat}`);
	return m;
}

function encMsg(content) {
	return toHex(encodeMlsMessage({ version: "mls10", ...content }));
}

// ---- suites ----

const implCache = new Map();

async function suiteImpl(id) {
	if (!Number.isInteger(id))
		fail("suite: expected an integer ciphersuite id");
	if (implCache.has(id))
		return implCache.get(id);
	let name;
	try {
		name = getCiphersuiteNameFromId(id);
	} catch {
		name = undefined;
	}
	if (name === undefined)
		fail(`suite ${id}: unknown`);
	let impl;
	try {
		impl = await getCiphersuiteImpl(getCiphersuiteFromName(name));
	} catch (e) {
		fail(`suite ${id} (${name}) unavailable: ${e.message}`);
	}
	implCache.set(id, impl);
	return impl;
}

// ---- client and group registry ----

const clients = new Map(); // name -> client
let clientCounter = 0;
const externalPsks = {}; // base64(psk_id) -> psk (shared by all clients of this process)

function getClient(req) {
	const c = clients.get(req.client);
	if (c === undefined)
		fail(`unknown client ${JSON.stringify(req.client)}`);
	return c;
}

function groupKey(c, req) {
	if (req.group !== undefined) {
		const k = String(req.group).toLowerCase();
		if (!c.groups.has(k))
			fail(`client ${c.name} is not in group ${k}`);
		return k;
	}
	if (c.groups.size !== 1)
		fail(`client ${c.name} is in ${c.groups.size} groups: give "group"`);
	return c.groups.keys().next().value;
}

function pskIndex(state) {
	return makePskIndex(state, externalPsks);
}

// credential: "basic:<identity hex>" or "x509:<cert hex>,<cert hex>..." (a comparable summary)
function identityOf(leaf) {
	const cred = leaf.credential;
	if (cred.credentialType === "basic")
		return { identity_hex: toHex(cred.identity), identity: Buffer.from(cred.identity).toString("utf8"),
			credential: `basic:${toHex(cred.identity)}` };
	if (cred.credentialType === "x509")
		return { credential_type: "x509", credential: `x509:${cred.certificates.map(toHex).join(",")}` };
	return { credential_type: String(cred.credentialType), credential: String(cred.credentialType) };
}

function members(state) {
	const out = [];
	state.ratchetTree.forEach((node, i) => {
		if (i % 2 === 0 && node !== undefined && node.nodeType === "leaf")
			out.push({ leaf: i / 2, ...identityOf(node.leaf) });
	});
	return out;
}

function groupStatus(c, key, pendingState) {
	const st = pendingState ?? c.groups.get(key);
	return {
		group: toHex(st.groupContext.groupId),
		epoch: Number(st.groupContext.epoch),
		epoch_authenticator: toHex(st.keySchedule.epochAuthenticator),
		leaf_index: st.privatePath.leafIndex,
		active: st.groupActiveState.kind,
		tree_hash: toHex(st.groupContext.treeHash),
		confirmed_transcript_hash: toHex(st.groupContext.confirmedTranscriptHash),
		members: members(st),
		pending_commit: c.pending.has(key),
	};
}

function setState(c, st) {
	const key = toHex(st.groupContext.groupId);
	c.groups.set(key, st);
	return key;
}

// ts-mls default capabilities; without the random GREASE values when the request or the
// client says grease:false
function capabilities(c, req) {
	const caps = defaultCapabilities();
	if (req.grease === false || (req.grease === undefined && c.grease === false)) {
		const isGrease = (v) => (Number(v) & 0x0f0f) === 0x0a0a;
		caps.ciphersuites = caps.ciphersuites.filter((s) => !isGrease(s));
		caps.credentials = caps.credentials.filter((s) => !isGrease(s));
		caps.extensions = caps.extensions.filter((s) => !isGrease(s));
		caps.proposals = caps.proposals.filter((s) => !isGrease(s));
	}
	return caps;
}

async function newKeyPackage(c, req) {
	const caps = capabilities(c, req);
	const lifetime = req.lifetime === undefined ? defaultLifetime : {
		notBefore: BigInt(req.lifetime.not_before),
		notAfter: BigInt(req.lifetime.not_after),
	};
	const kp = await generateKeyPackageWithKey(c.credential, caps, lifetime, [], c.sigKeys, c.impl);
	const ref = toHex(await makeKeyPackageRef(kp.publicPackage, c.impl.hash));
	c.keyPackages.set(ref, kp);
	return {
		key_package: encMsg({ wireformat: "mls_key_package", keyPackage: kp.publicPackage }),
		key_package_raw: toHex(encodeKeyPackage(kp.publicPackage)),
		key_package_ref: ref,
	};
}

// ---- external_pub (RFC 9420 section 12.4.3.2) ----
//
// RFC 9420: struct { HPKEPublicKey external_pub; } ExternalPub, HPKEPublicKey being opaque<V>,
// so the extension data is a varint length and the key. ts-mls 1.6.4 writes and reads the bare
// key instead. This driver writes the RFC form (re-signing the GroupInfo itself) and, when
// joining externally, lets ts-mls read either form.

const KEM_NPK = { 1: 32, 2: 65, 3: 32, 4: 56, 5: 133, 6: 56, 7: 97 };

function varint(n) {
	if (n < 0x40)
		return [n];
	if (n < 0x4000)
		return [0x40 | (n >> 8), n & 0xff];
	return [0x80 | (n >>> 24), (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
}

// the RFC-form GroupInfo of state: external_pub, then the ratchet tree when withTree
async function rfcGroupInfo(state, withTree, impl) {
	const kp = await impl.hpke.deriveKeyPair(state.keySchedule.externalSecret);
	const pub = await impl.hpke.exportPublicKey(kp.publicKey);
	const exts = [{ extensionType: "external_pub", extensionData: new Uint8Array([...varint(pub.length), ...pub]) }];
	if (withTree)
		exts.push({ extensionType: "ratchet_tree", extensionData: encodeRatchetTree(state.ratchetTree) });
	return createGroupInfo(state.groupContext, state.confirmationTag, state, exts, impl);
}

// impl whose importPublicKey also takes an RFC-form ExternalPub (a length prefix, then Npk bytes)
function acceptRfcExternalPub(impl, suite) {
	const npk = KEM_NPK[suite];
	const pre = varint(npk);
	const importPublicKey = (k) => {
		if (npk !== undefined && k.length === pre.length + npk && pre.every((b, i) => k[i] === b))
			k = k.subarray(pre.length);
		return impl.hpke.importPublicKey(k);
	};
	return { ...impl, hpke: { ...impl.hpke, importPublicKey } };
}

// ---- proposals ----

// A KeyPackage framed as MLSMessage (mls_key_package), or else a bare KeyPackage struct.
function decodeKeyPackageEither(hex, what) {
	const b = fromHex(hex, what);
	let m;
	try {
		m = decodeMlsMessage(b, 0);
	} catch {
		m = undefined;
	}
	if (m !== undefined && m[1] === b.length && m[0].wireformat === "mls_key_package")
		return m[0].keyPackage;
	return decodeWhole(decodeKeyPackage, b, `${what} (neither MLSMessage nor KeyPackage)`);
}

function keyPackagesFrom(req, impl) {
	const list = req.add ?? [];
	if (!Array.isArray(list))
		fail("add: expected a list of key_package hex strings");
	return list.map((h, i) => {
		const kp = decodeKeyPackageEither(h, `add[${i}]`);
		if (kp.cipherSuite !== impl.name)
			fail(`add[${i}]: key package suite ${kp.cipherSuite} != group suite ${impl.name}`);
		return { proposalType: "add", add: { keyPackage: kp } };
	});
}

function leafForRemove(state, r, i) {
	if (Number.isInteger(r))
		return r;
	// an identity string: find its leaf
	const hit = members(state).filter((m) => m.identity === r);
	if (hit.length !== 1)
		fail(`remove[${i}]: identity ${JSON.stringify(r)} matches ${hit.length} members`);
	return hit[0].leaf;
}

// RFC 9420 section 8.4: psk_nonce is KDF.Nh bytes long
function pskProposals(req, impl) {
	const list = req.psk ?? [];
	if (!Array.isArray(list))
		fail("psk: expected a list of psk id hex strings");
	return list.map((h, i) => {
		const id = fromHex(h, `psk[${i}]`);
		if (externalPsks[Buffer.from(id).toString("base64")] === undefined)
			fail(`psk[${i}]: not registered (use psk_register first)`);
		return {
			proposalType: "psk",
			psk: { preSharedKeyId: { psktype: "external", pskId: id, pskNonce: randomBytes(impl.kdf.size) } },
		};
	});
}

// resumption PSKs (usage application) of this group's epochs
function resumptionProposals(req, state, impl) {
	const list = req.resumption ?? [];
	if (!Array.isArray(list))
		fail("resumption: expected a list of epochs");
	return list.map((e, i) => {
		if (!Number.isInteger(e) || e < 0)
			fail(`resumption[${i}]: expected an epoch number`);
		return {
			proposalType: "psk",
			psk: { preSharedKeyId: { psktype: "resumption", usage: "application",
				pskGroupId: state.groupContext.groupId, pskEpoch: BigInt(e), pskNonce: randomBytes(impl.kdf.size) } },
		};
	});
}

function proposalsFrom(req, state, impl) {
	const out = keyPackagesFrom(req, impl);
	const rem = req.remove ?? [];
	if (!Array.isArray(rem))
		fail("remove: expected a list of leaf indexes or identities");
	rem.forEach((r, i) => out.push({ proposalType: "remove", remove: { removed: leafForRemove(state, r, i) } }));
	out.push(...pskProposals(req, impl));
	out.push(...resumptionProposals(req, state, impl));
	return out;
}

// ---- commands ----

const commands = {
	async hello() {
		return { driver: "tsmls-driver", ts_mls: "1.6.4", bytes: "hex" };
	},

	async suites() {
		const ok = [];
		const bad = {};
		for (let id = 1; id <= 7; id++) {
			try {
				await suiteImpl(id);
				ok.push(id);
			} catch (e) {
				bad[id] = e.message;
			}
		}
		return { suites: ok, unavailable: bad };
	},

	// {suite, identity|identity_hex, name?, grease?, lifetime?} -> {client, key_package, ...}
	async create_client(req) {
		const impl = await suiteImpl(req.suite ?? 1);
		const name = req.name ?? `c${++clientCounter}`;
		if (typeof name !== "string" || clients.has(name))
			fail(`client name ${JSON.stringify(name)} invalid or taken`);
		const identity = textOrHex(req, "identity", new Uint8Array(Buffer.from(name, "utf8")));
		if (req.x509 !== undefined && (!Array.isArray(req.x509) || req.x509.length === 0))
			fail("x509: expected a non-empty list of certificate hex strings");
		const sig = await impl.signature.keygen();
		// RFC 9420 section 5.1.1: an ECDSA SignaturePublicKey is an UncompressedPointRepresentation;
		// ts-mls 1.6.4 with @noble/curves 2 makes compressed ones (33 bytes for P-256)
		const curve = { 2: p256, 5: p521, 7: p384 }[req.suite ?? 1];
		if (curve !== undefined && req.compressed_key !== true)
			sig.publicKey = curve.getPublicKey(sig.signKey, false);
		const c = {
			name,
			suite: req.suite ?? 1,
			impl,
			grease: req.grease,
			credential: req.x509 === undefined ? { credentialType: "basic", identity } :
				{ credentialType: "x509", certificates: req.x509.map((h, i) => fromHex(h, `x509[${i}]`)) },
			sigKeys: { signKey: sig.signKey, publicKey: sig.publicKey },
			keyPackages: new Map(), // ref hex -> {publicPackage, privatePackage}
			groups: new Map(), // group id hex -> ClientState
			pending: new Map(), // group id hex -> ClientState after an own commit not merged yet
		};
		clients.set(name, c);
		const kp = await newKeyPackage(c, req);
		return { client: name, signature_public_key: toHex(sig.publicKey), ...kp };
	},

	// {client} -> another key package with the same credential and signature key
	async key_package(req) {
		return newKeyPackage(getClient(req), req);
	},

	// {client, group_id?} -> {group, epoch, ...}
	async create_group(req) {
		const c = getClient(req);
		const gid = req.group_id === undefined ? randomBytes(16) : fromHex(req.group_id, "group_id");
		if (c.groups.has(toHex(gid)))
			fail("group_id already in use by this client");
		const kp = await generateKeyPackageWithKey(c.credential, capabilities(c, req), defaultLifetime, [],
			c.sigKeys, c.impl);
		const st = await createGroup(gid, kp.publicPackage, kp.privatePackage, [], c.impl);
		const key = setState(c, st);
		return groupStatus(c, key);
	},

	// {client, group?, add?:[kp], remove?:[leaf|identity], psk?:[psk id],
	//  public?, ratchet_tree_in_welcome?, authenticated_data?}
	//  -> {commit, welcome?, ratchet_tree, group_info, + status of the new epoch}
	async commit(req) {
		const c = getClient(req);
		const key = groupKey(c, req);
		const st = c.groups.get(key);
		const extraProposals = proposalsFrom(req, st, c.impl);
		const r = await createCommit({ state: st, cipherSuite: c.impl, pskIndex: pskIndex(st) }, {
			extraProposals,
			ratchetTreeExtension: req.ratchet_tree_in_welcome === true,
			wireAsPublicMessage: req.public === true,
			authenticatedData: optHex(req, "authenticated_data"),
		});
		const out = {
			commit: toHex(encodeMlsMessage(r.commit)),
			welcome: r.welcome === undefined ? undefined : encMsg({ wireformat: "mls_welcome", welcome: r.welcome }),
		};
		if (r.newState.groupActiveState.kind === "removedFromGroup") {
			c.groups.delete(key);
			c.pending.delete(key);
			return { ...out, removed_self: true };
		}
		if (req.pending === true)
			c.pending.set(key, r.newState);
		else
			setState(c, r.newState);
		const gi = await rfcGroupInfo(r.newState, false, c.impl);
		return {
			...out,
			ratchet_tree: toHex(encodeRatchetTree(r.newState.ratchetTree)),
			group_info: encMsg({ wireformat: "mls_group_info", groupInfo: gi }),
			...groupStatus(c, key, r.newState),
		};
	},

	// {client, group?} -> status: the commit made with pending:true becomes the current state
	async merge_pending(req) {
		const c = getClient(req);
		const key = groupKey(c, req);
		const st = c.pending.get(key);
		if (st === undefined)
			fail("no pending commit");
		c.pending.delete(key);
		setState(c, st);
		return groupStatus(c, key);
	},

	// {client, group?} -> status: forget the commit made with pending:true
	async discard_pending(req) {
		const c = getClient(req);
		const key = groupKey(c, req);
		if (!c.pending.delete(key))
			fail("no pending commit");
		return groupStatus(c, key);
	},

	// {client, group?, add|remove|psk (exactly one item), public?} -> {proposal}
	async propose(req) {
		const c = getClient(req);
		const key = groupKey(c, req);
		const st = c.groups.get(key);
		const props = proposalsFrom(req, st, c.impl);
		if (props.length !== 1)
			fail("propose: give exactly one of add/remove/psk/resumption with one item");
		const r = await createProposal(st, req.public === true, props[0], c.impl, optHex(req, "authenticated_data"));
		setState(c, r.newState);
		return { proposal: toHex(encodeMlsMessage(r.message)) };
	},

	// {client, welcome, ratchet_tree?} -> status
	async join(req) {
		const c = getClient(req);
		const m = decodeMsg(req.welcome, "welcome", "mls_welcome");
		let mine;
		for (const s of m.welcome.secrets) {
			const kp = c.keyPackages.get(toHex(s.newMember));
			if (kp !== undefined) {
				mine = [toHex(s.newMember), kp];
				break;
			}
		}
		if (mine === undefined)
			fail("welcome: no entry for any key package of this client");
		const tree = req.ratchet_tree === undefined ? undefined :
			decodeWhole(decodeRatchetTree, fromHex(req.ratchet_tree, "ratchet_tree"), "ratchet_tree");
		const st = await joinGroup(m.welcome, mine[1].publicPackage, mine[1].privatePackage,
			pskIndex(undefined), c.impl, tree);
		c.keyPackages.delete(mine[0]);
		const key = setState(c, st);
		return groupStatus(c, key);
	},

	// {client, group?, message} -> {kind: application|commit|proposal, plaintext?, ...status}
	async process(req) {
		const c = getClient(req);
		const m = decodeMsg(req.message, "message");
		// without "group", the message's own group id picks the group
		const gid = m.wireformat === "mls_public_message" ? m.publicMessage.content.groupId :
			m.wireformat === "mls_private_message" ? m.privateMessage.groupId : undefined;
		const key = groupKey(c, req.group === undefined && gid !== undefined ? { group: toHex(gid) } : req);
		const st = c.groups.get(key);
		let contentType;
		if (m.wireformat === "mls_public_message")
			contentType = m.publicMessage.content.contentType;
		else if (m.wireformat === "mls_private_message")
			contentType = m.privateMessage.contentType;
		else
			fail(`message: wireformat ${m.wireformat} is not processed here`);
		// ts-mls 1.6.4 processMessage() passes an empty PSK index for PrivateMessages, so a
		// private commit with a PSK proposal would fail: call the two entry points directly.
		const r = m.wireformat === "mls_private_message" ?
			await processPrivateMessage(st, m.privateMessage, pskIndex(st), c.impl, acceptAll) :
			{ kind: "newState", ...(await processPublicMessage(st, m.publicMessage, pskIndex(st), c.impl, acceptAll)) };
		const out = { kind: contentType, wireformat: m.wireformat };
		if (r.kind === "applicationMessage") {
			out.kind = "application";
			out.plaintext = toHex(r.message);
			out.text = Buffer.from(r.message).toString("utf8");
		} else {
			out.action = r.actionTaken;
		}
		if (r.newState.groupContext.epoch !== st.groupContext.epoch)
			c.pending.delete(key); // someone else's commit won this epoch
		if (r.newState.groupActiveState.kind === "removedFromGroup") {
			c.groups.delete(key);
			return { ...out, removed_self: true, epoch: Number(r.newState.groupContext.epoch) };
		}
		setState(c, r.newState);
		return { ...out, ...groupStatus(c, key) };
	},

	// {client, group?, plaintext_hex|plaintext, authenticated_data?} -> {message}
	async send(req) {
		const c = getClient(req);
		const key = groupKey(c, req);
		const pt = textOrHex(req, "plaintext");
		const r = await createApplicationMessage(c.groups.get(key), pt, c.impl, optHex(req, "authenticated_data"));
		setState(c, r.newState);
		return {
			message: encMsg({ wireformat: "mls_private_message", privateMessage: r.privateMessage }),
			epoch: Number(r.newState.groupContext.epoch),
		};
	},

	// {client, group?, ratchet_tree_extension? (default true)} -> {group_info, ratchet_tree}
	async group_info(req) {
		const c = getClient(req);
		const key = groupKey(c, req);
		const st = c.groups.get(key);
		const gi = await rfcGroupInfo(st, req.ratchet_tree_extension !== false, c.impl);
		return {
			group_info: encMsg({ wireformat: "mls_group_info", groupInfo: gi }),
			ratchet_tree: toHex(encodeRatchetTree(st.ratchetTree)),
			epoch: Number(st.groupContext.epoch),
		};
	},

	// {client, group_info, ratchet_tree?, resync?} -> {commit, ...status}
	async join_external(req) {
		const c = getClient(req);
		const m = decodeMsg(req.group_info, "group_info", "mls_group_info");
		let tree;
		if (req.ratchet_tree !== undefined)
			tree = decodeWhole(decodeRatchetTree, fromHex(req.ratchet_tree, "ratchet_tree"), "ratchet_tree");
		else if (ratchetTreeFromExtension(m.groupInfo) === undefined)
			fail("group_info has no ratchet_tree extension: give ratchet_tree");
		const kp = await generateKeyPackageWithKey(c.credential, capabilities(c, req), defaultLifetime, [],
			c.sigKeys, c.impl);
		const r = await joinGroupExternal(m.groupInfo, kp.publicPackage, kp.privatePackage, req.resync === true,
			acceptRfcExternalPub(c.impl, c.suite), tree, undefined, optHex(req, "authenticated_data"));
		const key = setState(c, r.newState);
		return {
			commit: encMsg({ wireformat: "mls_public_message", publicMessage: r.publicMessage }),
			...groupStatus(c, key),
		};
	},

	// {client, group?} -> status
	async status(req) {
		const c = getClient(req);
		return groupStatus(c, groupKey(c, req));
	},

	// {client, group?} -> {ratchet_tree}
	async ratchet_tree(req) {
		const c = getClient(req);
		const st = c.groups.get(groupKey(c, req));
		return { ratchet_tree: toHex(encodeRatchetTree(st.ratchetTree)) };
	},

	// {client, group?, label (text), context (hex, default empty), length} -> {secret}
	async export(req) {
		const c = getClient(req);
		const st = c.groups.get(groupKey(c, req));
		if (typeof req.label !== "string")
			fail("label: expected a string");
		const len = req.length ?? 32;
		if (!Number.isInteger(len) || len < 0 || len > 65535)
			fail("length: expected 0..65535");
		const ctx = req.context === undefined ? new Uint8Array() : fromHex(req.context, "context");
		const s = await mlsExporter(st.keySchedule.exporterSecret, req.label, ctx, len, c.impl);
		return { secret: toHex(s), epoch: Number(st.groupContext.epoch) };
	},

	// {psk_id (hex), psk (hex)} -> {} registers an external PSK for every client of this process
	async psk_register(req) {
		const id = fromHex(req.psk_id, "psk_id");
		externalPsks[Buffer.from(id).toString("base64")] = fromHex(req.psk, "psk");
		return {};
	},

	// {client, group?} -> {} drops the local state of a group
	async leave(req) {
		const c = getClient(req);
		const key = groupKey(c, req);
		c.groups.delete(key);
		c.pending.delete(key);
		return {};
	},

	// {message | key_package_raw | ratchet_tree} -> {bytes, same}: decoded by ts-mls and encoded
	// again (a codec agreement check for bytes made elsewhere)
	async reencode(req) {
		let hex, out;
		if (req.message !== undefined) {
			hex = req.message;
			out = encodeMlsMessage(decodeMsg(hex, "message"));
		} else if (req.key_package_raw !== undefined) {
			hex = req.key_package_raw;
			out = encodeKeyPackage(decodeWhole(decodeKeyPackage, fromHex(hex, "key_package_raw"), "key_package_raw"));
		} else if (req.ratchet_tree !== undefined) {
			hex = req.ratchet_tree;
			out = encodeRatchetTree(decodeWhole(decodeRatchetTree, fromHex(hex, "ratchet_tree"), "ratchet_tree"));
		} else {
			fail("give message, key_package_raw or ratchet_tree");
		}
		const bytes = toHex(out);
		return { bytes, same: bytes === hex.toLowerCase() };
	},

	// {key_package (MLSMessage or bare)} -> {valid, suite, ref, identity...}: signature check and ref
	async verify_key_package(req) {
		const kp = decodeKeyPackageEither(req.key_package, "key_package");
		const impl = await suiteImpl(ciphersuites[kp.cipherSuite]);
		let valid;
		try {
			valid = await verifyKeyPackage(kp, impl.signature);
		} catch {
			valid = false; // a malformed signature can throw instead of failing
		}
		return {
			valid,
			suite: ciphersuites[kp.cipherSuite],
			ref: toHex(await makeKeyPackageRef(kp, impl.hash)),
			...identityOf(kp.leafNode),
		};
	},

	// {message} -> a readable summary of an MLSMessage (debug aid)
	async inspect(req) {
		const m = decodeMsg(req.message, "message");
		const out = { wireformat: m.wireformat };
		if (m.wireformat === "mls_public_message") {
			const ct = m.publicMessage.content;
			Object.assign(out, { epoch: Number(ct.epoch), content_type: ct.contentType, sender: ct.sender });
		} else if (m.wireformat === "mls_private_message") {
			Object.assign(out, { epoch: Number(m.privateMessage.epoch), content_type: m.privateMessage.contentType });
		} else if (m.wireformat === "mls_welcome") {
			Object.assign(out, { suite: m.welcome.cipherSuite,
				new_members: m.welcome.secrets.map((s) => toHex(s.newMember)) });
		} else if (m.wireformat === "mls_group_info") {
			const gc = m.groupInfo.groupContext;
			Object.assign(out, { group: toHex(gc.groupId), epoch: Number(gc.epoch), signer: m.groupInfo.signer,
				extensions: m.groupInfo.extensions.map((e) => e.extensionType) });
		} else if (m.wireformat === "mls_key_package") {
			const caps = m.keyPackage.leafNode.capabilities;
			Object.assign(out, { suite: m.keyPackage.cipherSuite, ...identityOf(m.keyPackage.leafNode),
				capabilities: { versions: caps.versions, ciphersuites: caps.ciphersuites.map(String),
					extensions: caps.extensions.map(String), proposals: caps.proposals.map(String),
					credentials: caps.credentials.map(String) } });
		}
		return out;
	},
};

function jsonSafe(_k, v) {
	return typeof v === "bigint" ? Number(v) : v;
}

async function handle(line) {
	let req;
	try {
		req = JSON.parse(line);
	} catch (e) {
		return { ok: false, error: `bad JSON: ${e.message}` };
	}
	if (req === null || typeof req !== "object" || Array.isArray(req))
		return { ok: false, error: "request must be a JSON object" };
	const id = req.id;
	const fn = Object.hasOwn(commands, req.cmd) ? commands[req.cmd] : undefined;
	if (fn === undefined)
		return { id, ok: false, error: `unknown cmd ${JSON.stringify(req.cmd)}` };
	try {
		return { id, ok: true, ...(await fn(req)) };
	} catch (e) {
		if (!(e instanceof DriverError) && process.env.TSMLS_DRIVER_DEBUG)
			process.stderr.write(`${e.stack}\n`);
		return { id, ok: false, error: `${e.name === "Error" || e instanceof DriverError ? "" : e.name + ": "}${e.message}` };
	}
}

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
let chain = Promise.resolve();
rl.on("line", (line) => {
	chain = chain.then(async () => {
		if (line.trim() === "")
			return;
		let res;
		if (line.length > MAX_LINE)
			res = { ok: false, error: "line too long" };
		else
			res = await handle(line);
		process.stdout.write(JSON.stringify(res, jsonSafe) + "\n");
		if (res.ok && (() => { try { return JSON.parse(line).cmd === "quit"; } catch { return false; } })())
			process.exit(0);
	});
});
rl.on("close", () => {
	chain.then(() => process.exit(0));
});
commands.quit = async () => ({});
