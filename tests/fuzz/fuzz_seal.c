/*
 * fuzz_seal.c — fuzz target for the envelope opener of encrypted stores
 * (seal_open, store/seal_format.h) and the parser of the seal row.
 *
 * The first byte of the input chooses what the rest is:
 *   0  an envelope from a hostile row: seal_open must refuse it with -EIO
 *      or open it; what opens is a plausible value, and sealing it again
 *      with the envelope's own generation and nonce gives the same bytes;
 *   1  a value to seal ([v_encoding] [2 bytes: a bit to flip] [value]):
 *      it opens back to itself, and no longer opens (-EIO) with any one
 *      bit flipped or under another key;
 *   2  the bytes of a seal row: what parses writes back byte-identical.
 * The keys are fixed: forging an envelope is not the point, surviving
 * every malformed one is.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

static int open_for(const struct seal_owner *owner, const uint8_t *env,
		    size_t len, enum kv_encoding *enc, uint8_t **value,
		    size_t *value_len)
{
	uint8_t key[SEAL_KEY_LEN];
	fuzz_seal_value_key(key);
	return seal_open(key, owner, env, len, enc, value, value_len);
}

static void check_hostile_envelope(const uint8_t *env, size_t len)
{
	enum kv_encoding enc;
	uint8_t *value = NULL;
	size_t value_len = 0;
	int r = open_for(&fuzz_seal_owner, env, len, &enc, &value, &value_len);
	FUZZ_REQUIRE(r == 0 || r == -EIO, "seal_open: %d", r);
	if (r < 0)
		return;
	FUZZ_REQUIRE(enc == KV_ENC_V8 || enc == KV_ENC_BYTES ||
		     (enc == KV_ENC_U64 && value_len == 8),
		     "an opened envelope holds encoding %d of %zu bytes", enc,
		     value_len);
	uint32_t gen;
	FUZZ_REQUIRE(seal_generation(env, len, &gen) == 0,
		     "an envelope that opens has no generation");
	uint8_t key[SEAL_KEY_LEN];
	fuzz_seal_value_key(key);
	uint8_t *again = malloc(value_len + KV_SEAL_OVERHEAD);
	FUZZ_REQUIRE(again, "out of memory");
	FUZZ_REQUIRE(seal_value(key, gen, &fuzz_seal_owner, enc, value,
				value_len, env + 6, again) == 0,
		     "seal_value failed");
	FUZZ_REQUIRE(value_len + KV_SEAL_OVERHEAD == len &&
		     memcmp(again, env, len) == 0,
		     "sealing the opened value again gives other bytes");
	free(again);
	free(value);
}

static void expect_refused(const struct seal_owner *owner,
			   const uint8_t *env, size_t len, const char *why)
{
	enum kv_encoding enc;
	uint8_t *value = NULL;
	size_t value_len;
	int r = open_for(owner, env, len, &enc, &value, &value_len);
	FUZZ_REQUIRE(r == -EIO, "an envelope %s opens: %d", why, r);
}

/* A sealed value opens to itself, and to nothing once changed. */
static void check_opens_only_as_sealed(uint8_t *env, size_t env_len,
				       enum kv_encoding enc,
				       const uint8_t *value, size_t len,
				       unsigned flip)
{
	enum kv_encoding got;
	uint8_t *back = NULL;
	size_t back_len;
	int r = open_for(&fuzz_seal_owner, env, env_len, &got, &back,
			 &back_len);
	if (enc == KV_ENC_U64 && len != 8) {
		FUZZ_REQUIRE(r == -EIO, "a KvU64 of %zu bytes opens", len);
		return;
	}
	FUZZ_REQUIRE(r == 0, "a sealed value does not open: %d", r);
	FUZZ_REQUIRE(got == enc && back_len == len &&
		     (len == 0 || memcmp(back, value, len) == 0),
		     "a value opens as another");
	free(back);
	uint8_t bit = (uint8_t)(1u << (flip >> 13));
	env[flip % env_len] ^= bit;
	expect_refused(&fuzz_seal_owner, env, env_len, "with a bit flipped");
	env[flip % env_len] ^= bit;
	struct seal_owner other = fuzz_seal_owner;
	other.key_len--;
	expect_refused(&other, env, env_len, "for another key");
}

static void check_seal_round_trip(const uint8_t *in, size_t size)
{
	static const uint8_t nonce[SEAL_NONCE_LEN] = "fixed nonce for fuzzing";
	if (size < 3)
		return;
	enum kv_encoding enc = (enum kv_encoding)in[0];
	unsigned flip = (unsigned)in[1] << 8 | in[2];
	const uint8_t *value = in + 3;
	size_t len = size - 3;
	uint8_t key[SEAL_KEY_LEN];
	fuzz_seal_value_key(key);
	uint8_t *env = malloc(len + KV_SEAL_OVERHEAD);
	FUZZ_REQUIRE(env, "out of memory");
	int r = seal_value(key, 1, &fuzz_seal_owner, enc, value, len, nonce,
			   env);
	bool known = enc == KV_ENC_V8 || enc == KV_ENC_U64 ||
		     enc == KV_ENC_BYTES;
	FUZZ_REQUIRE(known ? r == 0 : r == -EINVAL, "seal_value: %d", r);
	if (r == 0)
		check_opens_only_as_sealed(env, len + KV_SEAL_OVERHEAD, enc,
					   value, len, flip);
	free(env);
}

static void check_row(const uint8_t *bytes, size_t len)
{
	struct seal_row *row = calloc(1, sizeof(*row));
	FUZZ_REQUIRE(row, "out of memory");
	int r = seal_row_parse(bytes, len, row);
	FUZZ_REQUIRE(r == 0 || r == -EIO, "seal_row_parse: %d", r);
	if (r == 0) {
		struct kv_buf out = {0};
		FUZZ_REQUIRE(seal_row_write(row, &out) == 0,
			     "a parsed row does not write");
		FUZZ_REQUIRE(out.len == len && memcmp(out.data, bytes, len) == 0,
			     "a parsed row writes other bytes");
		kv_buf_free(&out);
	}
	free(row);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	switch (data[0]) {
	case 0:
		check_hostile_envelope(data + 1, size - 1);
		break;
	case 1:
		check_seal_round_trip(data + 1, size - 1);
		break;
	case 2:
		check_row(data + 1, size - 1);
		break;
	}
	return 0;
}
