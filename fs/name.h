/*
 * name.h — the name grammar of kvfs-spec §1: one file name per key part and
 * one key part per valid name, and paths made of such names.
 *
 * The grammar is a bijection. kvfs_name_parse() refuses every name that
 * kvfs_name_format() would not produce (-EINVAL), so what a user creates is
 * exactly what ls shows. Names beginning with '@' that are not key parts are
 * reserved for kvfs (KVFS_NAME_VALUE, shortened long names).
 */
#ifndef KVFS_NAME_H
#define KVFS_NAME_H

#include <stdbool.h>
#include <stddef.h>

#include "kv_key.h"

/* The file holding the own value of a key that also has keys below it. */
#define KVFS_NAME_VALUE "@value"

/* Longest file name the kernel accepts (NAME_MAX). */
#define KVFS_NAME_MAX 255

/*
 * Append the name of a key part to out (not NUL-terminated), in its full
 * form, which may be longer than KVFS_NAME_MAX. Returns 0 or -ENOMEM.
 */
int kvfs_name_format(const struct kv_part *part, struct kv_buf *out);

/*
 * Parse a full-form name into a key part. Payload bytes are written to
 * storage and part->data/bigint.mag point there (valid until storage is
 * appended to or freed). Returns 0, or -EINVAL for a name that is not the
 * canonical name of any key part (including reserved '@' names, ".", "..",
 * and the empty name).
 */
int kvfs_name_parse(const char *name, size_t len, struct kv_part *part,
		    struct kv_buf *storage);

/*
 * Append the encoded key part that a full-form name stands for to out:
 * kvfs_name_parse() then kv_part_encode(), except that a NaN keeps the
 * bits its name gives (as in kvfs_path_to_key()). A name made of
 * characters that need no escape costs no allocation besides out's own.
 * Returns 0, -EINVAL for a name kvfs_name_parse() refuses, or -ENOMEM;
 * out is unchanged on error.
 */
int kvfs_name_to_key(const char *name, size_t len, struct kv_buf *out);

/*
 * The name a directory listing shows for a key part: the full form when it
 * fits in KVFS_NAME_MAX bytes, else a shortened form in the '@' namespace,
 * "@~" + a readable head of the full name + "~" + a hash of the encoded
 * part, that is the same on every mount and every machine. Appends to out
 * and NUL-terminates (the NUL is not counted in out->len, here and in the
 * path and JavaScript writers below). Returns 0 or -ENOMEM.
 */
int kvfs_name_display(const struct kv_part *part, struct kv_buf *out);

/* Whether name is in the shortened form kvfs_name_display() writes. */
bool kvfs_name_is_short(const char *name, size_t len);

/*
 * Convert a relative path of names ("tenant/t1/users/@42", no leading or
 * trailing '/', "" for the root) into an encoded key appended to out.
 * Shortened names are refused (-EINVAL): they only resolve against a
 * directory, through the daemon. Returns 0, -EINVAL or -ENOMEM.
 */
int kvfs_path_to_key(const char *path, size_t len, struct kv_buf *out);

/*
 * Append the path of an encoded key (full-form names joined by '/') to out
 * and NUL-terminate it. Returns 0, -EINVAL for a malformed key, or -ENOMEM.
 */
int kvfs_key_to_path(const unsigned char *key, size_t len, struct kv_buf *out);

/*
 * The text writers of the name grammar and of pointer lists (pointers.h)
 * append to a kv_buf and end a string with a NUL that out->len does not
 * count, so that it reads as a C string and appending goes on over it.
 * Both return 0 or -ENOMEM.
 */
int kvfs_append_str(struct kv_buf *out, const char *s);
int kvfs_nul_terminate(struct kv_buf *out);

/*
 * Length of the well-formed UTF-8 character that begins p (RFC 3629: no
 * overlong forms, no surrogates ED A0..ED BF, nothing past U+10FFFF), 1 to
 * 4, or 0 when p does not begin one; avail (at least 1) bytes may be read.
 * Names escape each byte that begins no character, and kv-utils entries
 * (fs/kvutils.h) carry it as a lone surrogate: one definition keeps them
 * agreeing on which bytes of a key string those are.
 */
size_t kvfs_utf8_length(const uint8_t *p, size_t avail);

/*
 * Append the key as JavaScript source, ready to paste (the xattr
 * user.kv.key): ["users", 42, 10n, true, new Uint8Array([1, 2])], with
 * strings as JSON.stringify writes them (a byte that is not UTF-8 as the lone
 * surrogate \udcXX), -0 as -0, NaN, Infinity, and any other NaN as the
 * Float64Array expression of its bits (docs/names.md). NUL-terminated.
 * Returns 0, -EINVAL or -ENOMEM.
 */
int kvfs_key_to_js(const unsigned char *key, size_t len, struct kv_buf *out);

#endif
