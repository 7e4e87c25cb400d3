/*
 * ca: the domain's certificate authority (issue 10, "Credentials").
 *
 * Each domain has a CA: an Ed25519 (default) or P-256 key and a self-signed
 * certificate, created by `aimd init` (--ca-key ed25519|p256) and, for a
 * data directory made before it existed, at the next `aimd serve` (the
 * migration). `aimd ca rotate` makes a new one that issues from then on; the
 * earlier certificates stay published (a leaf they issued stays valid until
 * it expires).
 *
 * Where things live:
 *   - each CA certificate (DER) in the store (store_ca_cert_add), its id N
 *     naming the private key's file DATA/ca/ca-N.key: PKCS#8 PEM, mode 0600,
 *     in a 0700 directory. The private key is in no database row, log line
 *     or queue row; it is read when this process issues and wiped after.
 *   - the newest certificate issues; every certificate is a trust anchor.
 *
 * A device's leaf (aimd_ca_issue): the device's MLS signature key as the
 * CSR proved it, the one name the SAN URI acct:NAME@DOMAIN, where DOMAIN is
 * the domain given to `aimd init` (what WebFinger answers for, and the host
 * of every handle of this server; BASE's port, if any, is not part of it),
 * keyUsage digitalSignature only, validity now - 5 minutes (clock skew)
 * .. now + the serve option --cert-days (default 30 days). Nothing of the
 * CSR besides its key is used.
 *
 * The flow of a registration (route_identity.c):
 *   body -> aim_x509_csr_verify (proof of possession; the key's scheme and
 *   raw MLS key) -> aimd_ca_issue -> store_device_register -> 201 with the
 *   leaf and the chain (aimd_ca_anchors).
 * The KeyPackage directory checks every uploaded credential with
 * aimd_ca_check_leaf.
 */
#ifndef AIM_SERVER_CA_H
#define AIM_SERVER_CA_H

#include "base/base.h"
#include "store/store.h"

struct app;

/* aim's own JSON-LD vocabulary. aim has no permanent web home yet, so its
 * term IRIs sit under the reserved .invalid domain (RFC 6761), which no one
 * can ever register or serve; every aimd serves the context document that
 * defines them at BASE/ns (route_identity.c). The CA document is linked
 * from WebFinger JRDs with the link relation AIMD_REL_CA and from actors
 * with the property certificateAuthority (the same IRI). */
#define AIMD_NS "https://aim.invalid/ns#"
#define AIMD_REL_CA AIMD_NS "certificateAuthority"
#define AIMD_CA_PATH "/.well-known/aim-ca"
#define AIMD_CONTEXT_PATH "/ns"
#define AIMD_PROXY_PATH "/proxy"

/* The folder of the CA keys inside the data directory. */
#define AIMD_CA_DIR "ca"
/* Most CA certificates served and trusted (the newest). */
#define AIMD_CA_MAX 8
/* Default leaf validity, days (aimd serve --cert-days). */
#define AIMD_CERT_DAYS_DEFAULT 30
#define AIMD_CERT_DAYS_MAX 3650

enum aimd_ca_key { AIMD_CA_ED25519 = 0, AIMD_CA_P256 = 1 };
/* "ed25519" or "p256"; AIM_ERR_INVALID otherwise. */
int aimd_ca_key_parse(const char *s, enum aimd_ca_key *out) AIM_WARN_UNUSED;

/* Makes a new CA for the store's domain: the key in DATA/ca/ca-N.key (0600,
 * written before the certificate is stored, so a stored certificate always
 * has its key), the certificate in the store. Validity: 20 years. */
int aimd_ca_create(const char *data_dir, struct store *st, enum aimd_ca_key t) AIM_WARN_UNUSED;
/* Creates the CA when the store has none (a data directory from before
 * the CA existed); *created says whether it did. */
int aimd_ca_ensure(const char *data_dir, struct store *st, bool *created) AIM_WARN_UNUSED;

/* The domain's CA certificates (DER), newest first: ders[0..*n) are
 * initialised here (aim_buf_free each); at most max. AIM_ERR_NOTFOUND if
 * there is none. */
int aimd_ca_anchors(struct app *a, struct aim_buf *ders, size_t max, size_t *n) AIM_WARN_UNUSED;

/* acct:NAME@DOMAIN for a local user (owned). */
char *aimd_ca_acct(struct app *a, const char *name);

/* Issues a leaf for (alg, pk) naming san_uri with the newest CA (its key
 * read from its file and wiped after); *not_after its expiry. */
int aimd_ca_issue(struct app *a, int alg, struct aim_bytes pk, const char *san_uri,
		  struct aim_buf *cert, int64_t *not_after) AIM_WARN_UNUSED;

/* Whether a leaf (DER) is a credential this domain stands behind for user
 * user_id: it chains to one of our CA certificates and is within validity
 * now, has digitalSignature and the one SAN URI acct_uri, and its key is
 * the key of a registered, unrevoked device of that user. *dev (NULL: not
 * wanted) = that device (store_device_clear it). AIM_ERR_VERIFY (the
 * message says which check failed), AIM_ERR_DECODE malformed,
 * AIM_ERR_DENIED the device is revoked, AIM_ERR_NOTFOUND no device of the
 * user has that key. */
int aimd_ca_check_leaf(struct app *a, int64_t user_id, const char *acct_uri, struct aim_bytes leaf,
		       struct store_device *dev) AIM_WARN_UNUSED;

#endif
