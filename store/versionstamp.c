/*
 * versionstamp.c — versionstamps as Deno shows them: 20 lower-case hex
 * characters for the 10 bytes (SPEC §1.6).
 */
#include <errno.h>

#include "hex.h"
#include "kv_store.h"

void kv_versionstamp_format(const uint8_t vs[KV_VERSIONSTAMP_LEN],
			    char out[2 * KV_VERSIONSTAMP_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < KV_VERSIONSTAMP_LEN; i++) {
		out[2 * i] = hex[vs[i] >> 4];
		out[2 * i + 1] = hex[vs[i] & 15];
	}
	out[2 * KV_VERSIONSTAMP_LEN] = '\0';
}

int kv_versionstamp_parse(const char *s, size_t len,
			  uint8_t vs[KV_VERSIONSTAMP_LEN])
{
	uint8_t out[KV_VERSIONSTAMP_LEN];

	if (!s || len != 2 * KV_VERSIONSTAMP_LEN)
		return -EINVAL;
	for (int i = 0; i < KV_VERSIONSTAMP_LEN; i++) {
		int hi = store_hex_digit(s[2 * i]);
		int lo = store_hex_digit(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	for (int i = 0; i < KV_VERSIONSTAMP_LEN; i++)
		vs[i] = out[i];
	return 0;
}
