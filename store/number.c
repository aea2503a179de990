/*
 * number.c — JavaScript number text: Number.prototype.toString(10) and the
 * parser of the literals it writes, the names of number key parts.
 *
 * The digits of a number are worked out in exact integer arithmetic, as
 * neither printf nor strtod says which decimal is the shortest that reads
 * back. strtod honours LC_NUMERIC's decimal point, so it only ever sees
 * "DIGITSe-N".
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_key.h"

/*
 * Digits kept when parsing; what lies beyond only matters as "nonzero",
 * which a last sticky digit stands for. 767 digits settle every rounding
 * decision between two doubles.
 */
enum { PARSE_DIGITS_MAX = 800 };

/* Enough digits to tell any two doubles apart. */
enum { DOUBLE_DIGITS_MAX = 17 };

/* The decimal 0.d[0]d[1]...d[k-1] x 10^n, d[0] != 0. */
struct decimal {
	char d[DOUBLE_DIGITS_MAX + 1];
	int k;
	int n;
};

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* The double nearest to digits x 10^exp10; strtod sees no decimal point. */
static double digits_to_double(const char *digits, size_t k, long long exp10)
{
	char text[PARSE_DIGITS_MAX + 32];
	if (exp10 > 999999999)
		exp10 = 999999999;
	if (exp10 < -999999999)
		exp10 = -999999999;
	memcpy(text, digits, k);
	snprintf(text + k, sizeof(text) - k, "e%lld", exp10);
	return strtod(text, NULL);
}

/*
 * Exact arithmetic for the shortest digits: a nonnegative integer in 32-bit
 * limbs, least significant first. The largest the digit loop below ever
 * holds is about 2^1080 (the smallest subnormal scaled by 10^324, times
 * 10), so 40 limbs never overflow.
 */
enum { BIG_LIMBS = 40 };

struct big {
	uint32_t limb[BIG_LIMBS];
	int n; /* limbs in use; limb[n - 1] != 0, or n == 0 for zero */
};

static void big_set(struct big *b, uint64_t x)
{
	b->n = 0;
	for (; x; x >>= 32)
		b->limb[b->n++] = (uint32_t)x;
}

static void big_mul_small(struct big *b, uint32_t m)
{
	uint64_t carry = 0;
	for (int i = 0; i < b->n; i++) {
		uint64_t p = (uint64_t)b->limb[i] * m + carry;
		b->limb[i] = (uint32_t)p;
		carry = p >> 32;
	}
	if (carry)
		b->limb[b->n++] = (uint32_t)carry;
}

static void big_mul_pow10(struct big *b, int k)
{
	static const uint32_t pow10[10] = { 1,	   10,	   100,	    1000,
					    10000, 100000, 1000000, 10000000,
					    100000000, 1000000000 };
	for (; k >= 9; k -= 9)
		big_mul_small(b, pow10[9]);
	if (k)
		big_mul_small(b, pow10[k]);
}

static void big_shl(struct big *b, int bits)
{
	int words = bits / 32, shift = bits % 32;
	if (b->n == 0)
		return;
	uint32_t top = shift ? b->limb[b->n - 1] >> (32 - shift) : 0;
	for (int i = b->n - 1; i >= 0; i--) {
		uint32_t low = shift && i ? b->limb[i - 1] >> (32 - shift) : 0;
		b->limb[i + words] = shift ? b->limb[i] << shift | low
					   : b->limb[i];
	}
	for (int i = 0; i < words; i++)
		b->limb[i] = 0;
	b->n += words;
	if (top)
		b->limb[b->n++] = top;
}

static int big_cmp(const struct big *a, const struct big *b)
{
	if (a->n != b->n)
		return a->n < b->n ? -1 : 1;
	for (int i = a->n - 1; i >= 0; i--)
		if (a->limb[i] != b->limb[i])
			return a->limb[i] < b->limb[i] ? -1 : 1;
	return 0;
}

/* The sign of a + b - c, without a temporary. */
static int big_sum_cmp(const struct big *a, const struct big *b,
		       const struct big *c)
{
	struct big sum;
	const struct big *lo = a->n < b->n ? a : b;
	const struct big *hi = lo == a ? b : a;
	uint64_t carry = 0;
	for (int i = 0; i < hi->n; i++) {
		carry += (uint64_t)hi->limb[i] + (i < lo->n ? lo->limb[i] : 0);
		sum.limb[i] = (uint32_t)carry;
		carry >>= 32;
	}
	sum.n = hi->n;
	if (carry)
		sum.limb[sum.n++] = (uint32_t)carry;
	return big_cmp(&sum, c);
}

/* a -= b, for a >= b. */
static void big_sub(struct big *a, const struct big *b)
{
	int64_t borrow = 0;
	for (int i = 0; i < a->n; i++) {
		int64_t d = (int64_t)a->limb[i] - (i < b->n ? b->limb[i] : 0) +
			    borrow;
		a->limb[i] = (uint32_t)d;
		borrow = d < 0 ? -1 : 0;
	}
	while (a->n > 0 && a->limb[a->n - 1] == 0)
		a->n--;
}

static uint64_t big_u64(const struct big *b)
{
	return (b->n > 0 ? b->limb[0] : 0) |
	       (b->n > 1 ? (uint64_t)b->limb[1] << 32 : 0);
}

/* r / s for r < 10 s, leaving the remainder in r; a machine division when
 * both fit in 64 bits, as they do for most numbers people write. */
static int big_divmod_digit(struct big *r, const struct big *s)
{
	if (r->n <= 2 && s->n <= 2) {
		uint64_t a = big_u64(r), b = big_u64(s);
		big_set(r, a % b);
		return (int)(a / b);
	}
	int d = 0;
	while (big_cmp(r, s) >= 0) {
		big_sub(r, s);
		d++;
	}
	return d;
}

/*
 * v = r / s exactly; v's rounding interval reaches down to (r - m_lo) / s
 * and up to (r + m_hi) / s, its ends included when the mantissa is even,
 * as strtod rounds a tie to the even double.
 */
struct scaled {
	struct big r, s, m_lo, m_hi;
	bool ends_in;
};

/* v = f x 2^e, in the form above, times 2 so that the ends are integers. */
static void scale_of(double v, struct scaled *x)
{
	uint64_t bits;
	memcpy(&bits, &v, sizeof(bits));
	int biased = (int)(bits >> 52 & 0x7ff);
	uint64_t f = bits & ((UINT64_C(1) << 52) - 1);
	int e = biased ? biased - 1075 : -1074;
	/* Below a power of two the doubles are twice as dense. */
	bool narrow_below = f == 0 && biased > 1;
	if (biased)
		f |= UINT64_C(1) << 52;
	int lo_shift = e > 0 ? e : 0;
	x->ends_in = f % 2 == 0;
	big_set(&x->r, f);
	big_shl(&x->r, lo_shift + 1 + narrow_below);
	big_set(&x->s, 1);
	big_shl(&x->s, (e > 0 ? 0 : -e) + 1 + narrow_below);
	big_set(&x->m_lo, 1);
	big_shl(&x->m_lo, lo_shift);
	x->m_hi = x->m_lo;
	big_shl(&x->m_hi, narrow_below);
}

/* Whether the interval's upper end reaches s: a digit would be >= 10. */
static bool reaches_s(const struct scaled *x)
{
	int c = big_sum_cmp(&x->r, &x->m_hi, &x->s);
	return x->ends_in ? c >= 0 : c > 0;
}

/*
 * Scale r/s into [0.1, 1) relative to the interval's top, and return the
 * decimal exponent n. The estimate from the binary exponent is never too
 * high, and at most two steps too low.
 */
static int normalize(struct scaled *x, int top_bit)
{
	int n = (int)ceil(top_bit * 0.30102999566398120 - 1e-10);
	if (n >= 0) {
		big_mul_pow10(&x->s, n);
	} else {
		big_mul_pow10(&x->r, -n);
		big_mul_pow10(&x->m_lo, -n);
		big_mul_pow10(&x->m_hi, -n);
	}
	while (reaches_s(x)) {
		big_mul_small(&x->s, 10);
		n++;
	}
	return n;
}

/*
 * The shortest digits that read back as v, the nearest to v among those,
 * the even one of two equally near (ECMAScript Number::toString): digits
 * are generated until the decimal so far, or the one a unit above it in the
 * last digit, lies in v's rounding interval (Steele and White's free-format
 * method). No digit goes past 9: had the one above a 9 been in the
 * interval, the generation would have stopped a digit earlier.
 */
static void shortest_digits(double v, struct decimal *dec)
{
	struct scaled x;
	int e;
	frexp(v, &e);
	scale_of(v, &x);
	dec->n = normalize(&x, e - 1);
	dec->k = 0;
	for (;;) {
		big_mul_small(&x.r, 10);
		big_mul_small(&x.m_lo, 10);
		big_mul_small(&x.m_hi, 10);
		int d = big_divmod_digit(&x.r, &x.s);
		int lo = big_cmp(&x.r, &x.m_lo);
		bool low = x.ends_in ? lo <= 0 : lo < 0;
		bool high = reaches_s(&x);
		if (low && high) {
			struct big twice = x.r;
			big_shl(&twice, 1);
			int c = big_cmp(&twice, &x.s);
			high = c > 0 || (c == 0 && d % 2);
		}
		if (low || high) {
			dec->d[dec->k++] = (char)('0' + d + high);
			return;
		}
		dec->d[dec->k++] = (char)('0' + d);
	}
}

/* An integer below 2^53 is its own shortest form: its neighbours are no
 * more than 1 away, so each of its digits counts. */
static bool integer_digits(double v, struct decimal *dec)
{
	if (v >= 0x1p53 || v != floor(v))
		return false;
	char rev[DOUBLE_DIGITS_MAX];
	int k = 0;
	for (uint64_t x = (uint64_t)v; x; x /= 10)
		rev[k++] = (char)('0' + x % 10);
	dec->n = k;
	dec->k = 0;
	while (k > 0)
		dec->d[dec->k++] = rev[--k];
	while (dec->k > 1 && dec->d[dec->k - 1] == '0')
		dec->k--;
	return true;
}

static char *put_zeros(char *p, int count)
{
	for (; count > 0; count--)
		*p++ = '0';
	return p;
}

static char *put_digits(char *p, const char *d, int count)
{
	memcpy(p, d, (size_t)count);
	return p + count;
}

static char *put_int(char *p, int x)
{
	char rev[8];
	int k = 0;
	do
		rev[k++] = (char)('0' + x % 10);
	while ((x /= 10) > 0);
	while (k > 0)
		*p++ = rev[--k];
	return p;
}

/* ECMAScript Number::toString steps 6-10 for a positive decimal. */
static char *layout(char *p, const struct decimal *dec)
{
	int k = dec->k, n = dec->n;
	if (k <= n && n <= 21)
		return put_zeros(put_digits(p, dec->d, k), n - k);
	if (0 < n && n <= 21) {
		p = put_digits(p, dec->d, n);
		*p++ = '.';
		return put_digits(p, dec->d + n, k - n);
	}
	if (-6 < n && n <= 0) {
		*p++ = '0';
		*p++ = '.';
		p = put_zeros(p, -n);
		return put_digits(p, dec->d, k);
	}
	*p++ = dec->d[0];
	if (k > 1) {
		*p++ = '.';
		p = put_digits(p, dec->d + 1, k - 1);
	}
	*p++ = 'e';
	*p++ = n - 1 < 0 ? '-' : '+';
	return put_int(p, abs(n - 1));
}

size_t kv_number_format(double v, char buf[32])
{
	const char *word = NULL;
	if (isnan(v))
		word = "NaN";
	else if (isinf(v))
		word = v < 0 ? "-Infinity" : "Infinity";
	else if (v == 0)
		word = "0";
	if (word) {
		strcpy(buf, word);
		return strlen(word);
	}
	char *p = buf;
	if (v < 0) {
		*p++ = '-';
		v = -v;
	}
	struct decimal dec;
	if (!integer_digits(v, &dec))
		shortest_digits(v, &dec);
	p = layout(p, &dec);
	*p = '\0';
	return (size_t)(p - buf);
}

static double nan_positive(void)
{
	uint64_t bits = 0x7ff8000000000000u;
	double v;
	memcpy(&v, &bits, sizeof(v));
	return v;
}

/* A decimal literal's significant digits and their power of ten. */
struct literal {
	char d[PARSE_DIGITS_MAX + 1];
	size_t k;
	long long exp10;
	bool sticky;
};

static void take_digit(struct literal *lit, char c, bool fraction)
{
	if (lit->k == 0 && c == '0') {
		lit->exp10 -= fraction;
	} else if (lit->k < PARSE_DIGITS_MAX) {
		lit->d[lit->k++] = c;
		lit->exp10 -= fraction;
	} else {
		lit->sticky |= c != '0';
		lit->exp10 += !fraction;
	}
}

/* digits[.digits] or .digits; returns the index after them or 0. */
static size_t scan_mantissa(const char *s, size_t len, size_t i,
			    struct literal *lit)
{
	size_t digits = 0;
	bool fraction = false;
	for (; i < len; i++) {
		if (s[i] == '.' && !fraction) {
			fraction = true;
		} else if (is_digit(s[i])) {
			take_digit(lit, s[i], fraction);
			digits++;
		} else {
			break;
		}
	}
	return digits ? i : 0;
}

/* [eE][+-]digits, saturating far beyond any double's range. */
static size_t scan_exponent(const char *s, size_t len, size_t i,
			    struct literal *lit)
{
	if (i == len || (s[i] != 'e' && s[i] != 'E'))
		return i;
	i++;
	bool neg = i < len && s[i] == '-';
	if (i < len && (s[i] == '-' || s[i] == '+'))
		i++;
	long long e = 0;
	size_t start = i;
	for (; i < len && is_digit(s[i]); i++)
		if (e < 1000000000)
			e = e * 10 + (s[i] - '0');
	if (i == start)
		return 0;
	lit->exp10 += neg ? -e : e;
	return i;
}

static int parse_magnitude(const char *s, size_t len, double *out)
{
	static const char inf[] = "Infinity";
	if (len == sizeof(inf) - 1 && memcmp(s, inf, len) == 0) {
		*out = INFINITY;
		return 0;
	}
	struct literal lit = {.k = 0};
	size_t i = scan_mantissa(s, len, 0, &lit);
	if (i == 0)
		return -EINVAL;
	i = scan_exponent(s, len, i, &lit);
	if (i != len)
		return -EINVAL;
	if (lit.sticky) {
		lit.d[lit.k++] = '1';
		lit.exp10--;
	}
	if (lit.k == 0)
		lit.d[lit.k++] = '0';
	*out = digits_to_double(lit.d, lit.k, lit.exp10);
	return 0;
}

static int parse_any(const char *s, size_t len, double *out)
{
	if (len == 3 && memcmp(s, "NaN", 3) == 0) {
		*out = nan_positive();
		return 0;
	}
	bool neg = len > 0 && s[0] == '-';
	size_t skip = len > 0 && (s[0] == '-' || s[0] == '+');
	int r = parse_magnitude(s + skip, len - skip, out);
	if (r == 0 && neg)
		*out = -*out;
	return r;
}

int kv_number_parse(const char *s, size_t len, bool canonical, double *out)
{
	double v;
	int r = parse_any(s, len, &v);
	if (r < 0)
		return r;
	if (canonical && !(len == 2 && memcmp(s, "-0", 2) == 0)) {
		char text[32];
		size_t n = kv_number_format(v, text);
		if (n != len || memcmp(text, s, len) != 0)
			return -EINVAL;
	}
	*out = v;
	return 0;
}
