/*
 * support.h — what every unit suite needs besides the code under test: a
 * reproducible random generator, hex decoding, Deno's key and value
 * vectors, scratch directories and the runner's main. Each helper fails
 * the running check test on bad input instead of returning an error, so
 * the tests stay free of plumbing.
 */
#ifndef KVFS_TEST_SUPPORT_H
#define KVFS_TEST_SUPPORT_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv_key.h"

/*
 * splitmix64, one stream per test process (check forks each test, so each
 * starts from seed 0 unless it seeds): a fixed seed makes every failure
 * reproducible.
 */
void rng_seed(uint64_t seed);

/* The next 64 random bits. */
uint64_t rng(void);

/* A random number in [0, n); n must not be 0. */
size_t rng_below(size_t n);

/* The double whose IEEE 754 bits are bits (any NaN payload kept). */
double from_bits(uint64_t bits);

/* The IEEE 754 bits of v, telling apart -0.0 and every NaN. */
uint64_t to_bits(double v);

/*
 * hex (either case; spaces between digits ignored, for readable literals)
 * decoded into a malloc'ed buffer of exactly its length, so ASan sees any
 * read past it; its length is stored at *len. A character that is not a
 * hex digit, or an odd count of digits, fails the test. Free with free().
 */
uint8_t *unhex(const char *hex, size_t *len);

/*
 * cp in UTF-8 at out (up to 4 bytes); surrogates are encoded like any other
 * code point, as WTF-8 does. Returns how many bytes.
 */
size_t put_utf8(uint8_t *out, uint32_t cp);

/* The same key part to the bit: numbers by their bits, NaNs included. */
bool parts_equal(const struct kv_part *a, const struct kv_part *b);

/* One row of denokv/key_vectors.tsv: a key the real Deno encoded. */
struct key_vector {
	char *json;   /* key_json: the key as Deno's probe wrote it */
	uint8_t *key; /* Deno's encoding, malloc'ed to exactly len */
	size_t len;
};

/*
 * Every row of $KVFS_SHARED/denokv/key_vectors.tsv, in file order, into a
 * malloc'ed array at *out; returns how many. A missing file or a malformed
 * row fails the test.
 */
size_t key_vectors_read(struct key_vector **out);

void key_vectors_free(struct key_vector *v, size_t n);

/* One row of denokv/value_vectors.tsv: a value the real Deno stored. */
struct value_vector {
	char *description;
	int encoding;	/* v_encoding: 1 V8, 2 bytes, 3 u64; 0 for a row
			 * ("ERROR") of a value Deno refused to store */
	uint8_t *bytes; /* malloc'ed to exactly len; empty for encoding 0 */
	size_t len;
};

/*
 * The rows of $KVFS_SHARED/denokv/value_vectors.tsv, in file order, into a
 * malloc'ed array at *out; stored_only leaves out the rows of values Deno
 * refused to store. Returns how many. A missing file or a malformed row
 * fails the test.
 */
size_t value_vectors_read(struct value_vector **out, bool stored_only);

void value_vectors_free(struct value_vector *v, size_t n);

/*
 * Make a fresh directory from a mkdtemp template (ending in XXXXXX), in
 * place; failing fails the test.
 */
void temp_dir_make(char *template);

/* Remove dir and everything below it (the full-disk case of sqlite_vfs
 * leaves its mount point there). */
void temp_dir_remove(const char *dir);

/* Run every test of suite s; the exit status for main. */
int run_suite(Suite *s);

#endif
