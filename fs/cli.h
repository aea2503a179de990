/*
 * cli.h — what the kvfs commands (fs/cmd_*.c) share: option parsing and
 * help, opening the store with the creation rule, paths to keys, one-line
 * errors that name the key, scans of key ranges, and progress on a
 * terminal.
 *
 * Exit statuses (commands.h): CLI_OK, CLI_FAIL (a key not found, a failure,
 * problems found by check), CLI_USAGE, CLI_CHECK_FAILED (a checked write's
 * versionstamp check failed).
 */
#ifndef KVFS_CLI_H
#define KVFS_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kv_key.h"
#include "kv_store.h"

enum {
	CLI_OK = 0,
	CLI_FAIL = 1,
	CLI_USAGE = 2,
	CLI_CHECK_FAILED = 3,
};

/* A command's name, its synopsis and its --help text, and its options. */
struct cli_command {
	const char *name;
	const char *synopsis; /* "DB PATH [--meta]" */
	const char *help;     /* the text after the synopsis */
	const char *short_opts;
	const struct option *long_opts;
};

/* What cli_getopt() returns besides an option character. */
enum {
	CLI_OPT_END = -1,
	CLI_OPT_HELP = -2, /* --help was printed: exit CLI_OK */
	CLI_OPT_BAD = -3,  /* an error was printed: exit CLI_USAGE */
};

/*
 * getopt_long over a command's argv, with --help handled and unknown or
 * incomplete options reported as one line. Call it until CLI_OPT_END;
 * then optind is the first operand.
 */
int cli_getopt(const struct cli_command *cmd, int argc, char **argv);

/* Check that argc - optind operands are left, from min to max (max < 0:
 * no upper bound); else report bad usage. Returns CLI_OK or CLI_USAGE. */
int cli_operands(const struct cli_command *cmd, int argc, int min, int max);

/* Report bad usage in one line ("kvfs get: missing operand (see kvfs get
 * --help)").
 * Returns CLI_USAGE. */
int cli_usage_error(const struct cli_command *cmd, const char *what);

/*
 * "kvfs CMD: WHAT: reason" on stderr, one line. what may be NULL.
 */
void cli_error(const struct cli_command *cmd, const char *what,
	       const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The reason a store error gives, in words ("no such key", "value too
 * large (max 65536 bytes)"). */
const char *cli_reason(int err);

/* The exit status for a store error: CLI_CHECK_FAILED for -ECANCELED,
 * else CLI_FAIL. */
int cli_status(int err);

/*
 * Open DB. A command that writes creates it in Deno's format when it does
 * not exist; one that reads opens it read-only and never changes the file.
 * Reports a failure and returns CLI_FAIL, else CLI_OK.
 */
int cli_open(const struct cli_command *cmd, const char *db, bool writes,
	     struct kv_store **out);

/*
 * Judge the result r of opening DB into *out as cli_open() does, for a
 * command that opens it another way (kvfs copy opens stores raw): reports
 * a failure, and a store that cannot be written by a command that writes
 * (closed, *out NULL), and returns CLI_FAIL; else CLI_OK.
 */
int cli_opened(const struct cli_command *cmd, const char *db, bool writes,
	       int r, struct kv_store **out);

/*
 * A path of the name grammar as an encoded key, appended to out. Leading
 * and trailing '/' are ignored, and a last name "@value" (the mount's file
 * of a key that has keys below it) stands for the key itself. The root
 * (the empty path) is refused unless allow_root. Reports a bad path and
 * returns CLI_USAGE, else CLI_OK.
 */
int cli_path_key(const struct cli_command *cmd, const char *path,
		 bool allow_root, struct kv_buf *out);

/*
 * The operands DB PATH... of a command that works on one key of a store:
 * PATH's key, and DB once the command opens it (cli_open(cmd, t.db,
 * writes, &t.store)).
 */
struct cli_target {
	const char *db;
	const char *path;	/* "" when PATH may be left out and was */
	struct kv_buf key;	/* PATH's key */
	struct kv_store *store; /* NULL until opened */
};

/*
 * After the options: check that min to max operands are left (min 1 makes
 * PATH optional), take DB and PATH, and turn PATH into its key
 * (cli_path_key(), the root allowed when allow_root). DB is not touched, so
 * that a command can still check its other operands or read its input
 * before opening it creates a writer's DB. Returns CLI_OK, or the status to
 * exit with after reporting the usage error; cli_target_close() either way.
 */
int cli_target_init(const struct cli_command *cmd, int argc, char **argv,
		    int min, int max, bool allow_root, struct cli_target *t);

/* Close the store, if opened, and free the key. */
void cli_target_close(struct cli_target *t);

/* How to name a key in messages: its path, or 0x and the hex of its bytes
 * when it does not decode. NUL-terminated. Returns 0 or -ENOMEM. */
int cli_key_name(const uint8_t *key, size_t len, struct kv_buf *out);

/*
 * A scan of [start, end) in key order, KV_MAX_READ_ENTRIES entries per
 * read. Each read is one snapshot; a scan of more is not. Keys are read as
 * they are, so a key that does not decode is returned, and the next read
 * starts after it.
 */
struct cli_scan {
	struct kv_store *store;
	struct kv_buf next;
	struct kv_buf end;
	struct kv_entries batch;
	size_t i;
	bool done;
};

/* Start a scan of [start, end); end NULL: every key. */
int cli_scan_init(struct cli_scan *sc, struct kv_store *s,
		  const uint8_t *start, size_t start_len, const uint8_t *end,
		  size_t end_len);
/* Start a scan of a subtree, [key, key 0x28): the key itself and every key
 * below it; the root (len 0) is every key. */
int cli_scan_subtree(struct cli_scan *sc, struct kv_store *s,
		     const uint8_t *key, size_t len);
/* The next entry (valid until the next call), or NULL at the end; *err
 * gets 0 or the store's error. */
const struct kv_entry *cli_scan_next(struct cli_scan *sc, int *err);
void cli_scan_free(struct cli_scan *sc);

/* Flush standard output; report a write error (a full disk, a closed
 * pipe) in one line. Returns CLI_OK or CLI_FAIL. */
int cli_flush_output(const struct cli_command *cmd);

/* Read all of a stream into out. Returns 0 or a negative errno. */
int cli_read_all(FILE *in, struct kv_buf *out);

/* The type names of the mount's user.kv.type: "json", "bytes", "u64";
 * "?" for an encoding that names none. */
const char *cli_type_name(enum kv_encoding enc);

/* Write an epoch time in ms as ISO 8601 UTC with milliseconds
 * ("2024-01-02T03:04:05.678Z"). buf holds 40 bytes. */
void cli_iso_time(int64_t ms, char buf[40]);

/* Milliseconds since the epoch. */
int64_t cli_now_ms(void);

/*
 * Progress of long work on stderr, shown only when stderr is a terminal:
 * "kvfs export: 1200 entries", redrawn at most ten times a second and
 * erased by cli_progress_end().
 */
struct cli_progress {
	const char *label;
	bool shown;
	bool tty;
	int64_t last_ms;
};

void cli_progress_start(struct cli_progress *p, const char *label);
void cli_progress_update(struct cli_progress *p, size_t done);
void cli_progress_end(struct cli_progress *p);

#endif
