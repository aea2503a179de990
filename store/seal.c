/*
 * seal.c — the envelope of a sealed value (docs/format.md, "The
 * envelope"): XChaCha20-Poly1305-IETF under the value key of a generation,
 * with associated data that binds the store, the header and the encoded
 * key, rebuilt on every open and never stored.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "seal_format.h"

static const char value_label[] = "kvfs.value.v1";
static const char value_kdf_context[crypto_kdf_CONTEXTBYTES] = "kvfs-val";

#define VALUE_LABEL_LEN (sizeof(value_label) - 1)

void seal_value_key(uint32_t gen, const uint8_t data_key[SEAL_KEY_LEN],
		    uint8_t value_key[SEAL_KEY_LEN])
{
	crypto_kdf_derive_from_key(value_key, SEAL_KEY_LEN, gen,
				   value_kdf_context, data_key);
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/*
 * The associated data: label, store id, header, key length, key. A key is
 * at most a few KiB (Deno's limit is 2 KiB; foreign rows may be longer),
 * so it is built on the heap rather than trusted to the stack.
 */
static uint8_t *associated_data(const struct seal_owner *owner,
				const uint8_t header[SEAL_HEADER_LEN],
				size_t *len)
{
	size_t n = VALUE_LABEL_LEN + KV_SEAL_STORE_ID_LEN + SEAL_HEADER_LEN +
		   4 + owner->key_len;
	uint8_t *ad = malloc(n);

	if (!ad)
		return NULL;
	uint8_t *p = ad;
	memcpy(p, value_label, VALUE_LABEL_LEN);
	p += VALUE_LABEL_LEN;
	memcpy(p, owner->store_id, KV_SEAL_STORE_ID_LEN);
	p += KV_SEAL_STORE_ID_LEN;
	memcpy(p, header, SEAL_HEADER_LEN);
	p += SEAL_HEADER_LEN;
	put_be32(p, (uint32_t)owner->key_len);
	p += 4;
	if (owner->key_len)
		memcpy(p, owner->key, owner->key_len);
	*len = n;
	return ad;
}

static bool valid_encoding(enum kv_encoding enc)
{
	return enc == KV_ENC_V8 || enc == KV_ENC_U64 || enc == KV_ENC_BYTES;
}

int seal_value(const uint8_t value_key[SEAL_KEY_LEN], uint32_t gen,
	       const struct seal_owner *owner, enum kv_encoding enc,
	       const uint8_t *value, size_t len,
	       const uint8_t nonce[SEAL_NONCE_LEN], uint8_t *out)
{
	if (!valid_encoding(enc) || gen == 0 || owner->key_len > UINT32_MAX)
		return -EINVAL;
	out[0] = SEAL_ENVELOPE_FORMAT;
	out[1] = 0;
	put_be32(out + 2, gen);
	if (nonce)
		memcpy(out + 6, nonce, SEAL_NONCE_LEN);
	else
		randombytes_buf(out + 6, SEAL_NONCE_LEN);
	/* The plaintext is laid out in place, then encrypted over itself. */
	uint8_t *body = out + SEAL_HEADER_LEN;
	body[0] = (uint8_t)enc;
	if (len)
		memmove(body + 1, value, len);
	size_t ad_len;
	uint8_t *ad = associated_data(owner, out, &ad_len);
	if (!ad) {
		sodium_memzero(body, len + 1);
		return -ENOMEM;
	}
	crypto_aead_xchacha20poly1305_ietf_encrypt(body, NULL, body, len + 1,
						   ad, ad_len, NULL, out + 6,
						   value_key);
	free(ad);
	return 0;
}

int seal_generation(const uint8_t *env, size_t len, uint32_t *gen)
{
	if (len < KV_SEAL_OVERHEAD || env[0] != SEAL_ENVELOPE_FORMAT ||
	    env[1] != 0)
		return -EIO;
	*gen = get_be32(env + 2);
	return *gen ? 0 : -EIO;
}

/* What an opened plaintext must be: a known encoding, and 8 bytes when it
 * is a KvU64 (Deno aborts on any other length). */
static bool plausible_plaintext(const uint8_t *plain, size_t len)
{
	enum kv_encoding enc = (enum kv_encoding)plain[0];

	return valid_encoding(enc) && (enc != KV_ENC_U64 || len - 1 == 8);
}

int seal_open(const uint8_t value_key[SEAL_KEY_LEN],
	      const struct seal_owner *owner, const uint8_t *env,
	      size_t env_len, enum kv_encoding *enc, uint8_t **value,
	      size_t *len)
{
	uint32_t gen;

	if (seal_generation(env, env_len, &gen) < 0)
		return -EIO;
	size_t plain_len = env_len - SEAL_HEADER_LEN - SEAL_TAG_LEN;
	uint8_t *plain = malloc(plain_len);
	size_t ad_len;
	uint8_t *ad = associated_data(owner, env, &ad_len);
	if (!plain || !ad) {
		free(plain);
		free(ad);
		return -ENOMEM;
	}
	int rc = crypto_aead_xchacha20poly1305_ietf_decrypt(
		plain, NULL, NULL, env + SEAL_HEADER_LEN,
		env_len - SEAL_HEADER_LEN, ad, ad_len, env + 6, value_key);
	free(ad);
	if (rc != 0 || !plausible_plaintext(plain, plain_len)) {
		sodium_memzero(plain, plain_len);
		free(plain);
		return -EIO;
	}
	*enc = (enum kv_encoding)plain[0];
	*len = plain_len - 1;
	memmove(plain, plain + 1, *len);
	*value = plain; /* at least one byte long: never NULL */
	return 0;
}
