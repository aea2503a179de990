/*
 * number.c — JavaScript number text: Number.prototype.toString(10) and the
 * parser of the literals it writes, the names of number key parts.
 *
 * printf and strtod honour LC_NUMERIC's decimal point, so no text with a
 * decimal point ever crosses them: digits are taken from printf's output
 * whatever its point looks like, and strtod only ever sees "DIGITSe-N".
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_key.h"

/* Enough digits to tell any two doubles apart. */
enum { DOUBLE_DIGITS_MAX = 17 };

/*
 * Digits kept when parsing; what lies beyond only matters as "nonzero",
 * which a last sticky digit stands for. 767 digits settle every rounding
 * decision between two doubles.
 */
enum { PARSE_DIGITS_MAX = 800 };

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

static bool round_trips(const struct decimal *dec, double v)
{
	return digits_to_double(dec->d, (size_t)dec->k, dec->n - dec->k) == v;
}

/* Read printf's "%.*e" output, whatever character its decimal point is. */
static void read_exponent_form(const char *text, struct decimal *dec)
{
	const char *p = text;
	dec->k = 0;
	for (; *p && *p != 'e'; p++)
		if (is_digit(*p))
			dec->d[dec->k++] = *p;
	int sign = p[1] == '-' ? -1 : 1;
	int e = 0;
	for (p += 2; *p; p++)
		e = e * 10 + (*p - '0');
	dec->n = sign * e + 1;
}

/*
 * The next decimal of the same length up, or false when that carries into
 * a power of ten (999 + 1). Such a power of ten never reads back here: were
 * it in v's rounding interval, it would have been the nearest single digit,
 * tried first.
 */
static bool step_up(struct decimal *dec)
{
	int i = dec->k - 1;
	while (i >= 0 && dec->d[i] == '9')
		dec->d[i--] = '0';
	if (i < 0)
		return false;
	dec->d[i]++;
	return true;
}

/*
 * The shortest digits that read back as v, the nearest to v among those
 * (ECMAScript Number::toString). printf gives the nearest decimal of each
 * length. When v is a power of two the doubles below it are twice as dense
 * as those above, so its rounding interval reaches twice as far up as down:
 * the nearest decimal, below v, may miss it while the next one up, farther
 * but on the wide side, reads back. Elsewhere the interval is symmetric and
 * nothing farther than the nearest can hit it.
 */
static void shortest_digits(double v, struct decimal *dec)
{
	char text[64];
	for (int k = 1; k < DOUBLE_DIGITS_MAX; k++) {
		snprintf(text, sizeof(text), "%.*e", k - 1, v);
		read_exponent_form(text, dec);
		if (round_trips(dec, v))
			return;
		struct decimal up = *dec;
		if (step_up(&up) && round_trips(&up, v)) {
			*dec = up;
			return;
		}
	}
	snprintf(text, sizeof(text), "%.*e", DOUBLE_DIGITS_MAX - 1, v);
	read_exponent_form(text, dec);
}

static void trim_zeros(struct decimal *dec)
{
	while (dec->k > 1 && dec->d[dec->k - 1] == '0')
		dec->k--;
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
	return p + sprintf(p, "%d", abs(n - 1));
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
	shortest_digits(v, &dec);
	trim_zeros(&dec);
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
