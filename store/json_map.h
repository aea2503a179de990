/*
 * json_map.h — internal to store/: what the JSON mapping's renderer and
 * parser (docs/json.md) must agree on, kept in one place so the two
 * directions cannot drift apart.
 */
#ifndef KVFS_JSON_MAP_H
#define KVFS_JSON_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv_value.h"

/* A typed array or DataView kind: its tags and element size. */
struct kv_json_view_type {
	enum kv_view_kind kind;
	const char *name;  /* "uint8array": the $view type */
	const char *tag;   /* "$bytes": the whole-buffer form */
	size_t elem_size;
};
extern const struct kv_json_view_type kv_json_view_types[];
extern const size_t kv_json_n_view_types;

/* An Error prototype and its name. */
struct kv_json_error_name {
	enum kv_error_proto proto;
	const char *name;
};
extern const struct kv_json_error_name kv_json_error_names[];
extern const size_t kv_json_n_error_names;

/* RegExp flags in the order RegExp.prototype.flags prints them. */
struct kv_json_regexp_flag {
	uint32_t bit;
	char letter;
};
extern const struct kv_json_regexp_flag kv_json_regexp_flags[];
extern const size_t kv_json_n_regexp_flags;

/*
 * The length (1..4) of the WTF-8 character at s, which has len > 0 bytes,
 * and its code point in *cp; 0 when the bytes are not WTF-8 (overlong,
 * beyond U+10FFFF, truncated). Surrogates (ED A0..BF xx) are accepted:
 * callers decide what they mean.
 */
size_t kv_json_wtf8_char(const uint8_t *s, size_t len, uint32_t *cp);

/*
 * True when s is a canonical array index ("0".."4294967294", no leading
 * zero), which V8 stores as a number key; its value goes to *index.
 */
bool kv_json_array_index(const char *s, size_t len, uint32_t *index);

/* The largest time value a Date can hold (ECMA-262 TimeClip), in ms. */
#define KV_JSON_MAX_TIME 8.64e15

#endif
