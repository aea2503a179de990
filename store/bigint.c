/*
 * bigint.c — decimal text of bigint key parts: base-256 magnitudes to
 * decimal and back, by schoolbook division and multiplication (magnitudes
 * are at most a few hundred bytes, so nothing cleverer pays).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kv_key.h"

/* Decimal digits produced per division pass. */
#define CHUNK_DIGITS 9
#define CHUNK_BASE 1000000000u

/*
 * The longest decimal text read: a bigint inside a value can be as large as
 * the value (64 KiB, 157827 digits). Key parts stop at 255 bytes, which
 * kv_part_encode() enforces.
 */
enum { DECIMAL_DIGITS_MAX = 157827 };

/* Where a zero magnitude points, so that mag is never NULL. */
static const uint8_t zero_mag[1];

/* Divide the big-endian magnitude in place; return the remainder. */
static uint32_t divide_chunk(uint8_t *mag, size_t len)
{
	uint64_t rem = 0;
	for (size_t i = 0; i < len; i++) {
		uint64_t cur = rem << 8 | mag[i];
		mag[i] = (uint8_t)(cur / CHUNK_BASE);
		rem = cur % CHUNK_BASE;
	}
	return (uint32_t)rem;
}

/* Write the digits of value, least significant first, into rev. */
static size_t reversed_digits(uint8_t *mag, size_t len, char *rev)
{
	size_t n = 0;
	size_t start = 0;
	while (start < len) {
		uint32_t chunk = divide_chunk(mag + start, len - start);
		while (start < len && mag[start] == 0)
			start++;
		for (int i = 0; i < CHUNK_DIGITS; i++) {
			if (start == len && chunk == 0)
				break;
			rev[n++] = (char)('0' + chunk % 10);
			chunk /= 10;
		}
	}
	if (n == 0)
		rev[n++] = '0';
	return n;
}

int kv_bigint_to_decimal(const struct kv_bigint *v, struct kv_buf *out)
{
	const uint8_t *mag = v->mag;
	size_t len = v->len;
	while (len > 0 && mag[0] == 0) {
		mag++;
		len--;
	}
	/* A byte holds under 2.5 decimal digits; 3 leaves room to spare. */
	size_t room = len * 3 + CHUNK_DIGITS + 2;
	uint8_t *work = malloc(len + room);
	if (!work)
		return -ENOMEM;
	char *rev = (char *)work + len;
	if (len > 0)
		memcpy(work, mag, len);
	size_t n = reversed_digits(work, len, rev);
	bool neg = v->negative && len > 0;
	int r = kv_buf_reserve(out, n + neg + 1);
	if (r == 0) {
		uint8_t *p = out->data + out->len;
		if (neg)
			*p++ = '-';
		for (size_t i = n; i > 0; i--)
			*p++ = (uint8_t)rev[i - 1];
		*p = '\0';
		out->len = (size_t)(p - out->data);
	}
	free(work);
	return r;
}

/* limbs = limbs * mul + add over little-endian 32-bit limbs. */
static void multiply_add(uint32_t *limbs, size_t *n, uint32_t mul,
			 uint32_t add)
{
	uint64_t carry = add;
	for (size_t i = 0; i < *n; i++) {
		uint64_t cur = (uint64_t)limbs[i] * mul + carry;
		limbs[i] = (uint32_t)cur;
		carry = cur >> 32;
	}
	if (carry)
		limbs[(*n)++] = (uint32_t)carry;
}

static bool is_canonical_text(const char *digits, size_t n, bool neg)
{
	if (n > 1 && digits[0] == '0')
		return false;
	return !(neg && n == 1 && digits[0] == '0');
}

int kv_bigint_from_decimal(const char *s, size_t len, bool canonical,
			   struct kv_bigint *out, struct kv_buf *storage)
{
	bool neg = len > 0 && s[0] == '-';
	bool plus = len > 0 && s[0] == '+';
	if (plus && canonical)
		return -EINVAL;
	const char *digits = s + (neg || plus);
	size_t n = len - (neg || plus);
	if (n == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (digits[i] < '0' || digits[i] > '9')
			return -EINVAL;
	if (canonical && !is_canonical_text(digits, n, neg))
		return -EINVAL;
	while (n > 1 && digits[0] == '0') {
		digits++;
		n--;
	}
	if (n > DECIMAL_DIGITS_MAX)
		return -ERANGE;
	/* Nine digits at a time: one multiply-add pass per chunk. */
	uint32_t *limbs = malloc((n / CHUNK_DIGITS + 2) * sizeof(*limbs));
	if (!limbs)
		return -ENOMEM;
	size_t nlimbs = 0;
	for (size_t i = 0; i < n;) {
		size_t take = (n - i) % CHUNK_DIGITS;
		if (take == 0 || i > 0)
			take = CHUNK_DIGITS;
		uint32_t chunk = 0, scale = 1;
		for (size_t k = 0; k < take; k++) {
			chunk = chunk * 10 + (uint32_t)(digits[i + k] - '0');
			scale *= 10;
		}
		multiply_add(limbs, &nlimbs, scale, chunk);
		i += take;
	}
	size_t mlen = nlimbs * 4;
	while (mlen > 0 && (limbs[(mlen - 1) / 4] >> 8 * ((mlen - 1) % 4) & 0xff) == 0)
		mlen--;
	*out = (struct kv_bigint){.negative = neg && mlen > 0,
				  .mag = zero_mag,
				  .len = mlen};
	int r = mlen ? kv_buf_reserve(storage, mlen) : 0;
	if (r == 0 && mlen) {
		uint8_t *big = storage->data + storage->len;
		for (size_t i = 0; i < mlen; i++) {
			size_t b = mlen - 1 - i;
			big[i] = (uint8_t)(limbs[b / 4] >> 8 * (b % 4));
		}
		storage->len += mlen;
		out->mag = big;
	}
	free(limbs);
	return r;
}
