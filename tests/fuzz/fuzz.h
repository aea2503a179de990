/*
 * fuzz.h — what the fuzz targets share: the libFuzzer entry point each one
 * defines, the check that turns a broken property into a crash, and
 * helpers to compare key parts and values.
 *
 * Each fuzz_*.c is linked twice: with libFuzzer (-fsanitize=fuzzer) for a
 * fuzzing run, and with replay.c into a plain program that feeds it the
 * seed corpus and the saved regressions in the normal sanitized suite.
 */
#ifndef KVFS_FUZZ_H
#define KVFS_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv_key.h"
#include "kv_value.h"
#include "seal_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * A property that must hold for every input. A failure aborts, which both
 * libFuzzer and the replay driver report as a crash on the current input.
 */
#define FUZZ_REQUIRE(cond, ...)                                              \
	do {                                                                 \
		if (!(cond))                                                 \
			fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);   \
	} while (0)

__attribute__((noreturn, format(printf, 4, 5))) void
fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...);

/* Whether two key parts are the same part (numbers compared by bits). */
bool fuzz_part_equal(const struct kv_part *a, const struct kv_part *b);

/*
 * Encode v to V8, decode it back and require an equal tree; the bytes are
 * left in out (emptied first). Returns 0, or the encoder's error, which
 * the caller judges.
 */
int fuzz_v8_round_trip(const struct kv_value *v, struct kv_buf *out);

/*
 * The fixed keys of the seal target, shared with the seed writer: the
 * value key of generation 1 and the owner (store id and row key) of every
 * envelope. Not secret: the fuzzer opens envelopes, it does not forge them.
 */
void fuzz_seal_value_key(uint8_t key[SEAL_KEY_LEN]);
extern const struct seal_owner fuzz_seal_owner;

#endif
