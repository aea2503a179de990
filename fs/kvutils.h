/*
 * kvutils.h — entries as JSON in the format of Deno's @deno/kv-utils
 * (denokv/SPEC.md §8), both ways, so that `kvfs export` / `kvfs import`
 * files move between kvfs and kv-utils's exportEntries/importEntries.
 *
 * An entry is one line:
 *   {"key":[<part>...],"value":<value>,"versionstamp":"<20 hex>"}
 * with the key parts and values of §8, fields in kv-utils's order,
 * binary data as base64url without padding, typed arrays and DataViews as
 * their whole buffer with the view's byteLength.
 *
 * kvfs is lossless where kv-utils is not, in ways kv-utils still reads:
 *   - -0 is the JSON number -0 (JSON.stringify writes 0; JSON.parse reads
 *     -0 back), for values and key parts;
 *   - a view that does not start at byte 0 of its buffer has "byteOffset"
 *     after "byteLength" (kv-utils ignores it);
 *   - an Error has "message", "cause" and "stack" exactly when it has
 *     them (a falsy cause too);
 *   - an invalid Date is "value":null (what toJSON() gives), read back as
 *     an invalid Date, not as kv-utils's new Date(null);
 *   - a key part that is a NaN with the sign bit set is "-NaN", and the
 *     bytes of a string key part that are not UTF-8 are the lone
 *     surrogates U+DC80..U+DCFF (kv-utils reads both as other keys).
 * A value that no §8 shape can carry — holes and extra properties of
 * arrays, boxed primitives, Float16Array, resizable buffers and the views
 * on them, shared references and cycles, host objects — is written whole
 * as {"type":"kvfs:V8","value":"<base64url of the stored V8 bytes>"},
 * which kvfs reads back byte for byte and kv-utils refuses (its
 * importEntries counts an error for that line and goes on).
 */
#ifndef KVFS_KVUTILS_H
#define KVFS_KVUTILS_H

#include <stddef.h>
#include <stdint.h>

#include "kv_key.h"
#include "kv_store.h"
#include "kv_value.h"

/* The type of a whole V8 value carried as its bytes. */
#define KVUTILS_V8_TYPE "kvfs:V8"

/*
 * Append the JSON array of an encoded key's parts. Returns 0, -EINVAL for
 * a key that does not decode, or -ENOMEM.
 */
int kvutils_key_render(const uint8_t *key, size_t len, struct kv_buf *out);

/*
 * Append the JSON of a stored value. Returns 0, -EINVAL/-ENOTSUP for a
 * value that does not decode (a KvU64 not of 8 bytes, V8 data that does
 * not decode, an unknown encoding), or -ENOMEM.
 */
int kvutils_value_render(enum kv_encoding enc, const uint8_t *data,
			 size_t len, struct kv_buf *out);

/* Append an entry's line, without the newline (entryToJSON). */
int kvutils_entry_render(const struct kv_entry *e, struct kv_buf *out);

/* Append the line of a key that has no value (entryMaybeToJSON of a
 * miss): {"key":[...],"value":null,"versionstamp":null}. */
int kvutils_miss_render(const uint8_t *key, size_t len, struct kv_buf *out);

/*
 * Parse one entry line. The key's encoding is appended to key (which may
 * already hold a prefix), the stored value's encoding goes to *enc and its
 * bytes are appended to value: a top-level Uint8Array is stored as bytes
 * and a KvU64 as a KvU64, as Deno stores them; everything else is V8.
 * "versionstamp" is not used (kv-utils's import does not keep it either).
 * Returns 0, -EINVAL with *why set to a short reason, or -ENOMEM.
 */
int kvutils_entry_parse(const char *line, size_t len, struct kv_buf *key,
			enum kv_encoding *enc, struct kv_buf *value,
			const char **why);

#endif
