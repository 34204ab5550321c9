/*
 * tiny-secp256k1's interface (the functions common/ecc.ts names) on Bitcoin Core's libsecp256k1,
 * the system library (Debian's libsecp256k1-1), for the Node services.
 *
 * Every function checks each argument itself before libsecp256k1 sees it, in the order and with
 * the messages tiny-secp256k1 uses, so callers cannot tell the two apart except by speed: a wrong
 * type or length, a scalar out of range, a point off the curve is a JS TypeError (with a
 * CURVE_BAD_* code), never a crash or a read past the caller's bytes. Results are fresh
 * Uint8Arrays; secret material this file holds (the BIP340 keypair, scalar results) lives on the C
 * stack and is wiped before return.
 */
/* explicit_bzero and getrandom are glibc extensions. */
#define _DEFAULT_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>

#include <secp256k1.h>
#include <secp256k1_extrakeys.h>
#include <secp256k1_schnorrsig.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/types.h>

#define HASH_SIZE 32
#define SCALAR_SIZE 32
#define XONLY_SIZE 32
#define COMPRESSED_SIZE 33
#define UNCOMPRESSED_SIZE 65
#define SIGNATURE_SIZE 64

/* The group order n, big-endian: memcmp on 32 bytes is then the numeric comparison. */
static const uint8_t ORDER[SCALAR_SIZE] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41};
static const uint8_t ZERO32[32] = {0};

/* One per Node environment (main thread, each worker): a context is randomized once, then only
 * read, which libsecp256k1 allows from one thread at a time; an environment is one thread. */
typedef struct {
  secp256k1_context *ctx;
  /* Set by libsecp256k1's callbacks instead of its default abort(); see library_refused. */
  const char *refusal;
  /* The last x-only key tweaked, parsed: nearly every tweak is of the same key (the staking
   * scripts' unspendable internal key), and keeping it spares a square root per tweak. */
  bool tweaked_key_kept;
  uint8_t tweaked_x[32];
  secp256k1_xonly_pubkey tweaked_key;
} addon_state;

typedef struct {
  const uint8_t *data;
  size_t len;
} bytes;

typedef enum { BAD_PRIVATE, BAD_POINT, BAD_TWEAK, BAD_HASH, BAD_SIGNATURE, BAD_EXTRA_DATA } bad_input;

/* tiny-secp256k1's messages (lib/validate_error.js), with a coded name beside them. */
static const char *const BAD_CODE[] = {"CURVE_BAD_PRIVATE", "CURVE_BAD_POINT",     "CURVE_BAD_TWEAK",
                                       "CURVE_BAD_HASH",    "CURVE_BAD_SIGNATURE", "CURVE_BAD_EXTRA_DATA"};
static const char *const BAD_MESSAGE[] = {"Expected Private", "Expected Point",     "Expected Tweak",
                                          "Expected Hash",    "Expected Signature", "Expected Extra Data (32 bytes)"};

static napi_value throw_bad(napi_env env, bad_input what) {
  napi_throw_type_error(env, BAD_CODE[what], BAD_MESSAGE[what]);
  return NULL;
}

/* A failed N-API call: surface it as an Error unless one is already pending. */
static napi_value throw_internal(napi_env env, const char *what) {
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && !pending) {
    napi_throw_error(env, "CURVE_INTERNAL", what);
  }
  return NULL;
}

#define NAPI_OK(call, what)                                                                        \
  do {                                                                                             \
    if ((call) != napi_ok) return throw_internal(env, what);                                      \
  } while (0)

static void on_illegal(const char *message, void *data) {
  ((addon_state *)data)->refusal = message != NULL ? message : "illegal argument";
}

/*
 * libsecp256k1 reports an argument it refuses through a callback (abort() by default). Our checks
 * come first, so this should never fire; if it does, the call's result is discarded and the
 * caller gets an Error instead of a process abort.
 */
static bool library_refused(napi_env env, addon_state *st) {
  if (st->refusal == NULL) return false;
  napi_throw_error(env, "CURVE_INTERNAL", "libsecp256k1 refused an argument the addon had accepted");
  st->refusal = NULL;
  return true;
}

static void wipe(void *p, size_t n) { explicit_bzero(p, n); }

/* Reads a Uint8Array (a Buffer is one; any other typed array or value is not). */
static bool get_u8(napi_env env, napi_value v, bytes *out) {
  bool is_typed = false;
  if (napi_is_typedarray(env, v, &is_typed) != napi_ok || !is_typed) return false;
  napi_typedarray_type type;
  size_t len = 0;
  void *data = NULL;
  if (napi_get_typedarray_info(env, v, &type, &len, &data, NULL, NULL) != napi_ok) return false;
  if (type != napi_uint8_array) return false;
  if (data == NULL && len != 0) return false;
  out->data = data;
  out->len = len;
  return true;
}

static bool is_undefined(napi_env env, napi_value v) {
  napi_valuetype t;
  return napi_typeof(env, v, &t) == napi_ok && t == napi_undefined;
}

/*
 * x < n over all 32 bytes, without a branch or an early exit on the data: private keys and
 * tweaks (an adaptor secret) are checked here, and memcmp's time would tell how many leading
 * bytes they share with n.
 */
static bool below_order(const uint8_t *x) {
  uint32_t lt = 0, gt = 0;
  for (size_t i = 0; i < SCALAR_SIZE; i++) {
    uint32_t a = x[i], b = ORDER[i];
    uint32_t undecided = 1u ^ ((lt | gt) & 1u);
    lt |= undecided & ((a - b) >> 31);
    gt |= undecided & ((b - a) >> 31);
  }
  return lt == 1;
}

/* x ≠ 0, in constant time like below_order. */
static bool nonzero(const uint8_t *x) {
  uint32_t acc = 0;
  for (size_t i = 0; i < SCALAR_SIZE; i++) acc |= x[i];
  return ((acc + 0xffu) >> 8) == 1;
}

/* The shape checks tiny-secp256k1 makes in JavaScript before its WebAssembly sees the bytes. */
static bool shaped_private(napi_env env, napi_value v, bytes *out) {
  if (!get_u8(env, v, out) || out->len != SCALAR_SIZE) return false;
  return (nonzero(out->data) & below_order(out->data)) != 0;
}

static bool shaped_tweak(napi_env env, napi_value v, bytes *out) {
  return get_u8(env, v, out) && out->len == SCALAR_SIZE && below_order(out->data);
}

/* A point argument: 32 (x-only), 33 or 65 bytes pass the shape check; the content is parsed later. */
static bool shaped_point(napi_env env, napi_value v, bytes *out) {
  return get_u8(env, v, out) && (out->len == XONLY_SIZE || out->len == COMPRESSED_SIZE || out->len == UNCOMPRESSED_SIZE);
}

static bool shaped_xonly(napi_env env, napi_value v, bytes *out) {
  return get_u8(env, v, out) && out->len == XONLY_SIZE;
}

static bool shaped_hash(napi_env env, napi_value v, bytes *out) {
  return get_u8(env, v, out) && out->len == HASH_SIZE;
}

/* 64 bytes with r < n and s < n, as tiny-secp256k1 asks of ECDSA and BIP340 signatures alike. */
static bool shaped_signature(napi_env env, napi_value v, bytes *out) {
  return get_u8(env, v, out) && out->len == SIGNATURE_SIZE && memcmp(out->data, ORDER, 32) < 0 &&
         memcmp(out->data + 32, ORDER, 32) < 0;
}

/* undefined, or 32 bytes. */
static bool shaped_extra(napi_env env, napi_value v, bytes *out, bool *present) {
  if (is_undefined(env, v)) {
    *present = false;
    return true;
  }
  *present = true;
  return get_u8(env, v, out) && out->len == 32;
}

/* A full point (33 or 65 bytes: compressed, uncompressed or hybrid); x-only is refused here. */
static bool parse_point(addon_state *st, const bytes *b, secp256k1_pubkey *pk) {
  if (b->len != COMPRESSED_SIZE && b->len != UNCOMPRESSED_SIZE) return false;
  return secp256k1_ec_pubkey_parse(st->ctx, pk, b->data, b->len) == 1;
}

/* tiny-secp256k1's assumeCompression: undefined → the input's length (or 33); else truthiness. */
static napi_status output_size(napi_env env, napi_value compressed, size_t default_len, size_t *out) {
  if (is_undefined(env, compressed)) {
    *out = default_len == COMPRESSED_SIZE ? COMPRESSED_SIZE : UNCOMPRESSED_SIZE;
    return napi_ok;
  }
  napi_value b;
  bool truthy = false;
  napi_status s = napi_coerce_to_bool(env, compressed, &b);
  if (s != napi_ok) return s;
  s = napi_get_value_bool(env, b, &truthy);
  if (s != napi_ok) return s;
  *out = truthy ? COMPRESSED_SIZE : UNCOMPRESSED_SIZE;
  return napi_ok;
}

/* A new Uint8Array (not a Buffer, as tiny-secp256k1 returns) holding a copy of `data`. */
static napi_value new_u8(napi_env env, const uint8_t *data, size_t len) {
  void *dst = NULL;
  napi_value ab, arr;
  NAPI_OK(napi_create_arraybuffer(env, len, &dst, &ab), "cannot allocate a result");
  memcpy(dst, data, len);
  NAPI_OK(napi_create_typedarray(env, napi_uint8_array, len, ab, 0, &arr), "cannot allocate a result");
  return arr;
}

static napi_value js_null(napi_env env) {
  napi_value v;
  NAPI_OK(napi_get_null(env, &v), "cannot make null");
  return v;
}

static napi_value js_bool(napi_env env, bool b) {
  napi_value v;
  NAPI_OK(napi_get_boolean(env, b, &v), "cannot make a boolean");
  return v;
}

static napi_value serialize_point(napi_env env, addon_state *st, const secp256k1_pubkey *pk, size_t size) {
  uint8_t out[UNCOMPRESSED_SIZE];
  size_t len = size;
  unsigned flags = size == COMPRESSED_SIZE ? SECP256K1_EC_COMPRESSED : SECP256K1_EC_UNCOMPRESSED;
  if (secp256k1_ec_pubkey_serialize(st->ctx, out, &len, pk, flags) != 1 || library_refused(env, st)) {
    return throw_internal(env, "cannot serialize a point");
  }
  return new_u8(env, out, len);
}

/* Reads up to N arguments (missing ones are undefined) and the environment's state. */
#define ARGS(N)                                                                                    \
  size_t argc = (N);                                                                               \
  napi_value argv[(N)];                                                                            \
  addon_state *st = NULL;                                                                          \
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, (void **)&st), "cannot read arguments"); \
  if (st == NULL) return throw_internal(env, "addon state missing")

/* ---- predicates: false for anything that is not the thing, never a throw ---- */

static napi_value is_point(napi_env env, napi_callback_info info) {
  ARGS(1);
  bytes p;
  secp256k1_pubkey pk;
  bool ok = get_u8(env, argv[0], &p) && parse_point(st, &p, &pk);
  if (library_refused(env, st)) return NULL;
  return js_bool(env, ok);
}

static napi_value is_xonly_point(napi_env env, napi_callback_info info) {
  ARGS(1);
  bytes p;
  secp256k1_xonly_pubkey pk;
  bool ok = shaped_xonly(env, argv[0], &p) && secp256k1_xonly_pubkey_parse(st->ctx, &pk, p.data) == 1;
  if (library_refused(env, st)) return NULL;
  return js_bool(env, ok);
}

static napi_value is_private(napi_env env, napi_callback_info info) {
  ARGS(1);
  bytes d;
  bool ok = shaped_private(env, argv[0], &d);
  if (library_refused(env, st)) return NULL;
  return js_bool(env, ok);
}

/* ---- points ---- */

static napi_value point_add(napi_env env, napi_callback_info info) {
  ARGS(3);
  bytes a, b;
  if (!shaped_point(env, argv[0], &a) || !shaped_point(env, argv[1], &b)) return throw_bad(env, BAD_POINT);
  size_t size;
  NAPI_OK(output_size(env, argv[2], a.len, &size), "cannot read `compressed`");
  secp256k1_pubkey pa, pb, sum;
  if (!parse_point(st, &a, &pa) || !parse_point(st, &b, &pb)) {
    if (library_refused(env, st)) return NULL;
    return throw_bad(env, BAD_POINT);
  }
  const secp256k1_pubkey *both[2] = {&pa, &pb};
  int ok = secp256k1_ec_pubkey_combine(st->ctx, &sum, both, 2);
  if (library_refused(env, st)) return NULL;
  return ok == 1 ? serialize_point(env, st, &sum, size) : js_null(env);
}

static napi_value point_add_scalar(napi_env env, napi_callback_info info) {
  ARGS(3);
  bytes p, t;
  if (!shaped_point(env, argv[0], &p)) return throw_bad(env, BAD_POINT);
  if (!shaped_tweak(env, argv[1], &t)) return throw_bad(env, BAD_TWEAK);
  size_t size;
  NAPI_OK(output_size(env, argv[2], p.len, &size), "cannot read `compressed`");
  secp256k1_pubkey pk;
  if (!parse_point(st, &p, &pk)) {
    if (library_refused(env, st)) return NULL;
    return throw_bad(env, BAD_POINT);
  }
  int ok = secp256k1_ec_pubkey_tweak_add(st->ctx, &pk, t.data);
  if (library_refused(env, st)) return NULL;
  return ok == 1 ? serialize_point(env, st, &pk, size) : js_null(env);
}

static napi_value point_multiply(napi_env env, napi_callback_info info) {
  ARGS(3);
  bytes p, t;
  if (!shaped_point(env, argv[0], &p)) return throw_bad(env, BAD_POINT);
  if (!shaped_tweak(env, argv[1], &t)) return throw_bad(env, BAD_TWEAK);
  size_t size;
  NAPI_OK(output_size(env, argv[2], p.len, &size), "cannot read `compressed`");
  secp256k1_pubkey pk;
  if (!parse_point(st, &p, &pk)) {
    if (library_refused(env, st)) return NULL;
    return throw_bad(env, BAD_POINT);
  }
  /* 0 for a zero tweak: the point at infinity, which has no encoding. */
  int ok = secp256k1_ec_pubkey_tweak_mul(st->ctx, &pk, t.data);
  if (library_refused(env, st)) return NULL;
  return ok == 1 ? serialize_point(env, st, &pk, size) : js_null(env);
}

static napi_value point_compress(napi_env env, napi_callback_info info) {
  ARGS(2);
  bytes p;
  if (!shaped_point(env, argv[0], &p)) return throw_bad(env, BAD_POINT);
  size_t size;
  NAPI_OK(output_size(env, argv[1], p.len, &size), "cannot read `compressed`");
  secp256k1_pubkey pk;
  if (!parse_point(st, &p, &pk)) {
    if (library_refused(env, st)) return NULL;
    return throw_bad(env, BAD_POINT);
  }
  return serialize_point(env, st, &pk, size);
}

static napi_value point_from_scalar(napi_env env, napi_callback_info info) {
  ARGS(2);
  bytes d;
  if (!shaped_private(env, argv[0], &d)) return throw_bad(env, BAD_PRIVATE);
  size_t size;
  NAPI_OK(output_size(env, argv[1], COMPRESSED_SIZE, &size), "cannot read `compressed`");
  secp256k1_pubkey pk;
  int ok = secp256k1_ec_pubkey_create(st->ctx, &pk, d.data);
  if (library_refused(env, st)) return NULL;
  return ok == 1 ? serialize_point(env, st, &pk, size) : js_null(env);
}

/* The x coordinate of a full point, as BIP340 keys are written. */
static napi_value xonly_of(napi_env env, addon_state *st, const secp256k1_pubkey *pk) {
  uint8_t out[COMPRESSED_SIZE];
  size_t len = sizeof out;
  if (secp256k1_ec_pubkey_serialize(st->ctx, out, &len, pk, SECP256K1_EC_COMPRESSED) != 1 ||
      library_refused(env, st)) {
    return throw_internal(env, "cannot serialize a point");
  }
  return new_u8(env, out + 1, XONLY_SIZE);
}

static napi_value xonly_point_from_scalar(napi_env env, napi_callback_info info) {
  ARGS(1);
  bytes d;
  if (!shaped_private(env, argv[0], &d)) return throw_bad(env, BAD_PRIVATE);
  secp256k1_pubkey pk;
  if (secp256k1_ec_pubkey_create(st->ctx, &pk, d.data) != 1) {
    if (library_refused(env, st)) return NULL;
    return throw_bad(env, BAD_PRIVATE);
  }
  return xonly_of(env, st, &pk);
}

static napi_value xonly_point_from_point(napi_env env, napi_callback_info info) {
  ARGS(1);
  bytes p;
  if (!shaped_point(env, argv[0], &p)) return throw_bad(env, BAD_POINT);
  secp256k1_pubkey pk;
  if (!parse_point(st, &p, &pk)) {
    if (library_refused(env, st)) return NULL;
    return throw_bad(env, BAD_POINT);
  }
  return xonly_of(env, st, &pk);
}

/* BIP341's taproot tweak: { parity, xOnlyPubkey } of lift_x(p) + t·G, or null at infinity. */
static napi_value xonly_point_add_tweak(napi_env env, napi_callback_info info) {
  ARGS(2);
  bytes p, t;
  if (!shaped_xonly(env, argv[0], &p)) return throw_bad(env, BAD_POINT);
  if (!shaped_tweak(env, argv[1], &t)) return throw_bad(env, BAD_TWEAK);
  secp256k1_xonly_pubkey xk, tweaked_x;
  if (st->tweaked_key_kept && memcmp(st->tweaked_x, p.data, XONLY_SIZE) == 0) {
    xk = st->tweaked_key;
  } else {
    if (secp256k1_xonly_pubkey_parse(st->ctx, &xk, p.data) != 1) {
      if (library_refused(env, st)) return NULL;
      return throw_bad(env, BAD_POINT);
    }
    memcpy(st->tweaked_x, p.data, XONLY_SIZE);
    st->tweaked_key = xk;
    st->tweaked_key_kept = true;
  }
  secp256k1_pubkey tweaked;
  int ok = secp256k1_xonly_pubkey_tweak_add(st->ctx, &tweaked, &xk, t.data);
  if (library_refused(env, st)) return NULL;
  if (ok != 1) return js_null(env);
  int parity = 0;
  uint8_t x[XONLY_SIZE];
  if (secp256k1_xonly_pubkey_from_pubkey(st->ctx, &tweaked_x, &parity, &tweaked) != 1 ||
      secp256k1_xonly_pubkey_serialize(st->ctx, x, &tweaked_x) != 1 || library_refused(env, st)) {
    return throw_internal(env, "cannot serialize a tweaked key");
  }
  napi_value result, key, par;
  NAPI_OK(napi_create_object(env, &result), "cannot allocate a result");
  NAPI_OK(napi_create_int32(env, parity, &par), "cannot allocate a result");
  key = new_u8(env, x, XONLY_SIZE);
  if (key == NULL) return NULL;
  NAPI_OK(napi_set_named_property(env, result, "parity", par), "cannot fill a result");
  NAPI_OK(napi_set_named_property(env, result, "xOnlyPubkey", key), "cannot fill a result");
  return result;
}

/* ---- scalars (secrets: computed on the stack, wiped after the copy out) ---- */

static napi_value scalar_result(napi_env env, uint8_t *scalar, int ok) {
  napi_value v = ok == 1 ? new_u8(env, scalar, SCALAR_SIZE) : js_null(env);
  wipe(scalar, SCALAR_SIZE);
  return v;
}

static napi_value private_add(napi_env env, napi_callback_info info) {
  ARGS(2);
  bytes d, t;
  if (!shaped_private(env, argv[0], &d)) return throw_bad(env, BAD_PRIVATE);
  if (!shaped_tweak(env, argv[1], &t)) return throw_bad(env, BAD_TWEAK);
  uint8_t out[SCALAR_SIZE];
  memcpy(out, d.data, SCALAR_SIZE);
  /* 0 when d + t = 0 mod n: no private key. */
  int ok = secp256k1_ec_seckey_tweak_add(st->ctx, out, t.data);
  if (library_refused(env, st)) {
    wipe(out, sizeof out);
    return NULL;
  }
  return scalar_result(env, out, ok);
}

static napi_value private_sub(napi_env env, napi_callback_info info) {
  ARGS(2);
  bytes d, t;
  if (!shaped_private(env, argv[0], &d)) return throw_bad(env, BAD_PRIVATE);
  if (!shaped_tweak(env, argv[1], &t)) return throw_bad(env, BAD_TWEAK);
  uint8_t out[SCALAR_SIZE], neg[SCALAR_SIZE];
  memcpy(out, d.data, SCALAR_SIZE);
  int ok = 1;
  /* d − 0 = d; libsecp256k1 cannot negate 0. */
  if (nonzero(t.data)) {
    memcpy(neg, t.data, SCALAR_SIZE);
    ok = secp256k1_ec_seckey_negate(st->ctx, neg) == 1 && secp256k1_ec_seckey_tweak_add(st->ctx, out, neg) == 1;
    wipe(neg, sizeof neg);
  }
  if (library_refused(env, st)) {
    wipe(out, sizeof out);
    return NULL;
  }
  return scalar_result(env, out, ok);
}

static napi_value private_negate(napi_env env, napi_callback_info info) {
  ARGS(1);
  bytes d;
  if (!shaped_private(env, argv[0], &d)) return throw_bad(env, BAD_PRIVATE);
  uint8_t out[SCALAR_SIZE];
  memcpy(out, d.data, SCALAR_SIZE);
  int ok = secp256k1_ec_seckey_negate(st->ctx, out);
  if (library_refused(env, st)) {
    wipe(out, sizeof out);
    return NULL;
  }
  return scalar_result(env, out, ok);
}

/* ---- signatures ---- */

/* ECDSA with RFC 6979 nonces (extra entropy when `e` is given), compact r‖s, low s. */
static napi_value sign_ecdsa(napi_env env, napi_callback_info info) {
  ARGS(3);
  bytes h, d, e;
  bool has_e;
  if (!shaped_hash(env, argv[0], &h)) return throw_bad(env, BAD_HASH);
  if (!shaped_private(env, argv[1], &d)) return throw_bad(env, BAD_PRIVATE);
  if (!shaped_extra(env, argv[2], &e, &has_e)) return throw_bad(env, BAD_EXTRA_DATA);
  secp256k1_ecdsa_signature sig;
  uint8_t out[SIGNATURE_SIZE];
  if (secp256k1_ecdsa_sign(st->ctx, &sig, h.data, d.data, secp256k1_nonce_function_rfc6979,
                           has_e ? e.data : NULL) != 1 ||
      secp256k1_ecdsa_signature_serialize_compact(st->ctx, out, &sig) != 1 || library_refused(env, st)) {
    return throw_internal(env, "ECDSA signing failed");
  }
  return new_u8(env, out, sizeof out);
}

/*
 * BIP340. `e` is the 32 bytes of auxiliary randomness; without it, 32 zero bytes, as
 * tiny-secp256k1 does (a deterministic signature: callers that sign secrets pass fresh `e`).
 */
static napi_value sign_schnorr(napi_env env, napi_callback_info info) {
  ARGS(3);
  bytes h, d, e;
  bool has_e;
  if (!shaped_hash(env, argv[0], &h)) return throw_bad(env, BAD_HASH);
  if (!shaped_private(env, argv[1], &d)) return throw_bad(env, BAD_PRIVATE);
  if (!shaped_extra(env, argv[2], &e, &has_e)) return throw_bad(env, BAD_EXTRA_DATA);
  secp256k1_keypair keypair;
  uint8_t out[SIGNATURE_SIZE];
  int ok = secp256k1_keypair_create(st->ctx, &keypair, d.data) == 1 &&
           secp256k1_schnorrsig_sign32(st->ctx, out, h.data, &keypair, has_e ? e.data : ZERO32) == 1;
  wipe(&keypair, sizeof keypair);
  if (library_refused(env, st)) return NULL;
  if (!ok) return throw_internal(env, "BIP340 signing failed");
  return new_u8(env, out, sizeof out);
}

static napi_value verify_ecdsa(napi_env env, napi_callback_info info) {
  ARGS(4);
  bytes h, q, s;
  if (!shaped_hash(env, argv[0], &h)) return throw_bad(env, BAD_HASH);
  if (!shaped_point(env, argv[1], &q)) return throw_bad(env, BAD_POINT);
  if (!shaped_signature(env, argv[2], &s)) return throw_bad(env, BAD_SIGNATURE);
  /* tiny-secp256k1 reads `strict === true`: anything else accepts a high s. */
  napi_valuetype strict_type;
  bool strict = false;
  NAPI_OK(napi_typeof(env, argv[3], &strict_type), "cannot read `strict`");
  if (strict_type == napi_boolean) NAPI_OK(napi_get_value_bool(env, argv[3], &strict), "cannot read `strict`");
  secp256k1_pubkey pk;
  if (!parse_point(st, &q, &pk)) {
    if (library_refused(env, st)) return NULL;
    return throw_bad(env, BAD_POINT);
  }
  secp256k1_ecdsa_signature sig;
  if (secp256k1_ecdsa_signature_parse_compact(st->ctx, &sig, s.data) != 1) {
    if (library_refused(env, st)) return NULL;
    return throw_bad(env, BAD_SIGNATURE);
  }
  if (!strict) secp256k1_ecdsa_signature_normalize(st->ctx, &sig, &sig);
  int ok = secp256k1_ecdsa_verify(st->ctx, &sig, h.data, &pk);
  if (library_refused(env, st)) return NULL;
  return js_bool(env, ok == 1);
}

static napi_value verify_schnorr(napi_env env, napi_callback_info info) {
  ARGS(3);
  bytes h, q, s;
  if (!shaped_hash(env, argv[0], &h)) return throw_bad(env, BAD_HASH);
  if (!shaped_xonly(env, argv[1], &q)) return throw_bad(env, BAD_POINT);
  if (!shaped_signature(env, argv[2], &s)) return throw_bad(env, BAD_SIGNATURE);
  secp256k1_xonly_pubkey pk;
  if (secp256k1_xonly_pubkey_parse(st->ctx, &pk, q.data) != 1) {
    if (library_refused(env, st)) return NULL;
    return throw_bad(env, BAD_POINT);
  }
  int ok = secp256k1_schnorrsig_verify(st->ctx, s.data, h.data, HASH_SIZE, &pk);
  if (library_refused(env, st)) return NULL;
  return js_bool(env, ok == 1);
}

/* ---- module ---- */

static void destroy_state(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  addon_state *st = data;
  if (st->ctx != NULL) secp256k1_context_destroy(st->ctx);
  free(st);
}

/* Fills `buf` from the kernel's CSPRNG (getrandom may return short or be interrupted). */
static bool random_bytes(uint8_t *buf, size_t len) {
  size_t got = 0;
  while (got < len) {
    ssize_t n = getrandom(buf + got, len - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    got += (size_t)n;
  }
  return true;
}

static napi_value init(napi_env env, napi_value exports) {
  addon_state *st = calloc(1, sizeof *st);
  if (st == NULL) return throw_internal(env, "cannot allocate the curve context");
  st->ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
  uint8_t seed[32];
  /* Randomized once (blinding of the signing multiplications against side channels). */
  bool seeded = st->ctx != NULL && random_bytes(seed, sizeof seed) && secp256k1_context_randomize(st->ctx, seed) == 1;
  wipe(seed, sizeof seed);
  if (!seeded) {
    destroy_state(env, st, NULL);
    return throw_internal(env, "cannot create a randomized libsecp256k1 context");
  }
  secp256k1_context_set_illegal_callback(st->ctx, on_illegal, st);
  secp256k1_context_set_error_callback(st->ctx, on_illegal, st);
  if (napi_set_instance_data(env, st, destroy_state, NULL) != napi_ok) {
    destroy_state(env, st, NULL);
    return throw_internal(env, "cannot keep the curve context");
  }

  napi_property_descriptor fns[] = {
      {"isPoint", NULL, is_point, NULL, NULL, NULL, napi_enumerable, st},
      {"isXOnlyPoint", NULL, is_xonly_point, NULL, NULL, NULL, napi_enumerable, st},
      {"isPrivate", NULL, is_private, NULL, NULL, NULL, napi_enumerable, st},
      {"pointAdd", NULL, point_add, NULL, NULL, NULL, napi_enumerable, st},
      {"pointAddScalar", NULL, point_add_scalar, NULL, NULL, NULL, napi_enumerable, st},
      {"pointCompress", NULL, point_compress, NULL, NULL, NULL, napi_enumerable, st},
      {"pointFromScalar", NULL, point_from_scalar, NULL, NULL, NULL, napi_enumerable, st},
      {"pointMultiply", NULL, point_multiply, NULL, NULL, NULL, napi_enumerable, st},
      {"privateAdd", NULL, private_add, NULL, NULL, NULL, napi_enumerable, st},
      {"privateSub", NULL, private_sub, NULL, NULL, NULL, napi_enumerable, st},
      {"privateNegate", NULL, private_negate, NULL, NULL, NULL, napi_enumerable, st},
      {"xOnlyPointAddTweak", NULL, xonly_point_add_tweak, NULL, NULL, NULL, napi_enumerable, st},
      {"xOnlyPointFromScalar", NULL, xonly_point_from_scalar, NULL, NULL, NULL, napi_enumerable, st},
      {"xOnlyPointFromPoint", NULL, xonly_point_from_point, NULL, NULL, NULL, napi_enumerable, st},
      {"sign", NULL, sign_ecdsa, NULL, NULL, NULL, napi_enumerable, st},
      {"signSchnorr", NULL, sign_schnorr, NULL, NULL, NULL, napi_enumerable, st},
      {"verify", NULL, verify_ecdsa, NULL, NULL, NULL, napi_enumerable, st},
      {"verifySchnorr", NULL, verify_schnorr, NULL, NULL, NULL, napi_enumerable, st},
  };
  NAPI_OK(napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns), "cannot export the functions");
  return exports;
}

NAPI_MODULE_INIT() { return init(env, exports); }
