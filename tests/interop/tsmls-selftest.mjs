// Self-test of tsmls-driver.mjs: two driver processes play a whole group life per ciphersuite.
// Usage: node tsmls-selftest.mjs [suite ...]      (default: 1 2 3 4 5 6 7)
// Exit status 0 only when every check passed. Tests the peer, not aim.

import { TsMlsDriver } from "./tsmls-client.mjs";

let passed = 0;
let failed = 0;

function check(cond, what) {
	if (!cond)
		throw new Error(`check failed: ${what}`);
	passed++;
}

// all members agree on epoch, epoch authenticator and an exporter secret
async function agree(what, members) {
	const st = [];
	for (const [d, client] of members) {
		const s = await d.req("status", { client });
		const x = await d.req("export", { client, label: "aim selftest", context: "0102", length: 32 });
		st.push({ client, epoch: s.epoch, ea: s.epoch_authenticator, ex: x.secret, n: s.members.length });
	}
	const first = st[0];
	for (const s of st.slice(1)) {
		check(s.epoch === first.epoch, `${what}: epoch ${s.client}=${s.epoch} ${first.client}=${first.epoch}`);
		check(s.ea === first.ea, `${what}: epoch_authenticator ${s.client} vs ${first.client}`);
		check(s.ex === first.ex, `${what}: exporter ${s.client} vs ${first.client}`);
		check(s.n === first.n, `${what}: member count ${s.client} vs ${first.client}`);
	}
	return first.epoch;
}

async function sendAndReceive(what, from, to, text) {
	const [df, cf] = from;
	const m = await df.req("send", { client: cf, plaintext: text });
	for (const [dt, ct] of to) {
		const r = await dt.req("process", { client: ct, message: m.message });
		check(r.kind === "application" && r.text === text, `${what}: ${ct} read ${cf}'s message`);
	}
	return m.message;
}

function flipByte(hex, pos) {
	const b = Buffer.from(hex, "hex");
	b[pos] ^= 0x01;
	return b.toString("hex");
}

async function scenario(suite, A, B) {
	const alice = await A.req("create_client", { suite, name: `alice${suite}`, identity: "alice@a.test" });
	const bob = await B.req("create_client", { suite, name: `bob${suite}`, identity: "bob@b.test" });
	const carol = await B.req("create_client", { suite, name: `carol${suite}`, identity: "carol@b.test",
		grease: false });
	const dave = await A.req("create_client", { suite, name: `dave${suite}`, identity: "dave@a.test" });
	const a = [A, alice.client], b = [B, bob.client], c = [B, carol.client], d = [A, dave.client];
	const ck = await B.req("inspect", { message: carol.key_package });
	const greasy = (v) => /^\d+$/.test(v) && (Number(v) & 0x0f0f) === 0x0a0a;
	check(ck.identity === "carol@b.test" && Object.values(ck.capabilities).flat().every((v) => !greasy(v)),
		"grease:false key package has no GREASE values");

	const vk = await A.req("verify_key_package", { key_package: bob.key_package });
	check(vk.valid && vk.suite === suite && vk.ref === bob.key_package_ref && vk.identity === "bob@b.test",
		"bob's key package verifies in the other process, same ref");
	const forged = flipByte(bob.key_package, bob.key_package.length / 2 - 10); // inside the signature
	check((await A.req("verify_key_package", { key_package: forged })).valid === false, "forged key package fails");
	const rk = await A.req("reencode", { key_package_raw: bob.key_package_raw });
	check(rk.same, "bare key package re-encodes to the same bytes");

	const g = await A.req("create_group", { client: a[1] });
	check(g.epoch === 0 && g.members.length === 1, "group created at epoch 0");

	// add bob: private commit, ratchet tree out of band
	const add = await A.req("commit", { client: a[1], add: [bob.key_package] });
	check(add.welcome !== undefined && add.epoch === 1, "add bob gives a welcome, epoch 1");
	const insp = await A.req("inspect", { message: add.commit });
	check(insp.wireformat === "mls_private_message" && insp.content_type === "commit", "commit is private");
	const noTree = await B.call("join", { client: b[1], welcome: add.welcome });
	check(!noTree.ok, "join without any ratchet tree is refused");
	const jb = await B.req("join", { client: b[1], welcome: add.welcome, ratchet_tree: add.ratchet_tree });
	for (const [k, v] of [["message", add.commit], ["message", add.welcome], ["ratchet_tree", add.ratchet_tree],
		["message", add.group_info]])
		check((await B.req("reencode", { [k]: v })).same, `${k} re-encodes to the same bytes`);
	check(jb.group === g.group && jb.leaf_index === 1, "bob joined at leaf 1");
	await agree("after add bob", [a, b]);

	// messages both ways, replay and tampering refused without breaking the state
	const m1 = await sendAndReceive("a->b", a, [b], "hello bob");
	await sendAndReceive("b->a", b, [a], "hello alice \u{1F600}");
	check(!(await B.call("process", { client: b[1], message: m1 })).ok, "replayed message refused");
	const m2 = await A.req("send", { client: a[1], plaintext: "second" });
	const bad = await B.call("process", { client: b[1], message: flipByte(m2.message, m2.message.length / 2 - 3) });
	check(!bad.ok, "tampered ciphertext refused");
	const good = await B.req("process", { client: b[1], message: m2.message });
	check(good.text === "second", "original still accepted after a tampered copy");

	// bob commits an update path (empty commit) as a PublicMessage
	const upd = await B.req("commit", { client: b[1], public: true });
	check(upd.welcome === undefined, "update commit has no welcome");
	const ui = await B.req("inspect", { message: upd.commit });
	check(ui.wireformat === "mls_public_message" && ui.content_type === "commit", "update commit is public");
	const badc = await A.call("process", { client: a[1], message: flipByte(upd.commit, 40) });
	check(!badc.ok, "tampered public commit refused");
	const pa = await A.req("process", { client: a[1], message: upd.commit });
	check(pa.kind === "commit" && pa.epoch === 2, "alice applied bob's update");
	await agree("after update", [a, b]);

	// concurrent commits in one epoch: the "delivery service" takes alice's, bob's loses
	const ca = await A.req("commit", { client: a[1], pending: true });
	const cb = await B.req("commit", { client: b[1], pending: true });
	check(ca.pending_commit && cb.pending_commit && ca.epoch === 3, "both hold a pending commit for epoch 3");
	check((await A.req("status", { client: a[1] })).epoch === 2, "a pending commit does not move the epoch");
	await A.req("merge_pending", { client: a[1] });
	const lost = await B.req("process", { client: b[1], message: ca.commit });
	check(lost.epoch === 3 && lost.pending_commit === false, "bob took alice's commit, his own was dropped");
	check(!(await A.call("process", { client: a[1], message: cb.commit })).ok, "the losing commit is refused");
	check(!(await B.call("merge_pending", { client: b[1] })).ok, "nothing left to merge");
	await agree("after concurrent commits", [a, b]);

	// alice adds carol, ratchet tree inside the welcome, public commit
	const addc = await A.req("commit", { client: a[1], add: [carol.key_package], public: true,
		ratchet_tree_in_welcome: true });
	await B.req("process", { client: b[1], message: addc.commit });
	const jc = await B.req("join", { client: c[1], welcome: addc.welcome });
	check(jc.members.length === 3, "carol joined with the tree from the welcome");
	await agree("after add carol", [a, b, c]);
	await sendAndReceive("c->ab", c, [a, b], "carol here");

	// external PSK: registered in both processes, committed by bob
	const psk = { psk_id: "aa55", psk: "00112233445566778899aabbccddeeff" };
	await A.req("psk_register", psk);
	await B.req("psk_register", psk);
	const pc = await B.req("commit", { client: b[1], psk: [psk.psk_id] });
	await A.req("process", { client: a[1], message: pc.commit });
	await B.req("process", { client: c[1], message: pc.commit });
	await agree("after psk", [a, b, c]);

	// carol proposes removing bob; alice commits the proposal by reference
	const prop = await B.req("propose", { client: c[1], remove: ["bob@b.test"], public: true });
	const pp = await A.req("process", { client: a[1], message: prop.proposal });
	check(pp.kind === "proposal", "alice stored the remove proposal");
	await B.req("process", { client: b[1], message: prop.proposal });
	const rc = await A.req("commit", { client: a[1] });
	check(rc.members.length === 2, "bob removed from alice's view");
	const rb = await B.req("process", { client: b[1], message: rc.commit });
	check(rb.removed_self === true, "bob learns he was removed");
	await B.req("process", { client: c[1], message: rc.commit });
	await agree("after remove", [a, c]);

	// dave joins by external commit from carol's GroupInfo (tree out of band once, in GroupInfo once)
	const gi = await B.req("group_info", { client: c[1], ratchet_tree_extension: false });
	const nt = await A.call("join_external", { client: d[1], group_info: gi.group_info });
	check(!nt.ok, "external join without a tree is refused");
	const ej = await A.req("join_external", { client: d[1], group_info: gi.group_info, ratchet_tree: gi.ratchet_tree });
	await A.req("process", { client: a[1], message: ej.commit });
	const pcx = await B.req("process", { client: c[1], message: ej.commit });
	check(pcx.members.length === 3, "carol sees dave");
	await agree("after external join", [a, c, d]);
	await sendAndReceive("d->ac", d, [a, c], "dave joined");
	await sendAndReceive("c->ad", c, [a, d], "welcome dave");

	// bob re-joins by external commit with the tree inside the GroupInfo
	const gi2 = await A.req("group_info", { client: d[1] });
	const ej2 = await B.req("join_external", { client: b[1], group_info: gi2.group_info });
	for (const x of [a, c, d])
		await x[0].req("process", { client: x[1], message: ej2.commit });
	const ep = await agree("after bob rejoins", [a, b, c, d]);
	check(ep === 8, `final epoch is 8 (got ${ep})`);
}

const suites = process.argv.length > 2 ? process.argv.slice(2).map(Number) : [1, 2, 3, 4, 5, 6, 7];
const A = await TsMlsDriver.start("A");
const B = await TsMlsDriver.start("B");
for (const s of suites) {
	const t0 = Date.now();
	const before = passed;
	try {
		await scenario(s, A, B);
		console.log(`suite ${s}: ok (${passed - before} checks, ${Date.now() - t0} ms)`);
	} catch (e) {
		failed++;
		console.log(`suite ${s}: FAILED after ${passed - before} checks: ${e.message}`);
	}
}
await A.close();
await B.close();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
