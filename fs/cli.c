/*
 * cli.c — the ground the kvfs commands stand on: option parsing and help,
 * opening the store, paths, one-line errors, range scans and progress.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "keyopts.h"
#include "name.h"

static void print_help(const struct cli_command *cmd)
{
	printf("usage: kvfs %s %s\n\n%s", cmd->name, cmd->synopsis,
	       cmd->help);
}

int cli_usage_error(const struct cli_command *cmd, const char *what)
{
	fprintf(stderr, "kvfs %s: %s (see kvfs %s --help)\n", cmd->name,
		what, cmd->name);
	return CLI_USAGE;
}

int cli_operands(const struct cli_command *cmd, int argc, int min, int max)
{
	int n = argc - optind;
	if (n < min)
		return cli_usage_error(cmd, "missing operand");
	if (max >= 0 && n > max)
		return cli_usage_error(cmd, "too many operands");
	return CLI_OK;
}

int cli_getopt(const struct cli_command *cmd, int argc, char **argv)
{
	static const struct option none[] = {{0}};
	const struct option *longs = cmd->long_opts ? cmd->long_opts : none;
	size_t n = 0;
	while (longs[n].name)
		n++;
	/* getopt_long needs --help in the table: append it. */
	struct option table[n + 2 + KEYOPTS_GETOPT_N];
	memcpy(table, longs, n * sizeof(*table));
	memcpy(table + n, keyopts_getopt, sizeof(keyopts_getopt));
	n += KEYOPTS_GETOPT_N;
	table[n] = (struct option){"help", no_argument, NULL, CLI_OPT_HELP};
	table[n + 1] = (struct option){0};

	char shorts[64];
	snprintf(shorts, sizeof(shorts), ":%s",
		 cmd->short_opts ? cmd->short_opts : "");
	int saved = opterr;
	opterr = 0;
	int c;
	do /* every command takes the key options of an encrypted store */
		c = getopt_long(argc, argv, shorts, table, NULL);
	while (keyopts_take(c, optarg));
	opterr = saved;
	char what[128];
	switch (c) {
	case -1:
		return CLI_OPT_END;
	case CLI_OPT_HELP:
		print_help(cmd);
		return CLI_OPT_HELP;
	case '?':
		if (optopt)
			snprintf(what, sizeof(what), "unknown option '-%c'",
				 optopt);
		else
			snprintf(what, sizeof(what), "unknown option '%s'",
				 argv[optind - 1]);
		cli_usage_error(cmd, what);
		return CLI_OPT_BAD;
	case ':':
		snprintf(what, sizeof(what), "option '%s' needs a value",
			 argv[optind - 1]);
		cli_usage_error(cmd, what);
		return CLI_OPT_BAD;
	default:
		return c;
	}
}

void cli_error(const struct cli_command *cmd, const char *what,
	       const char *fmt, ...)
{
	char reason[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (what)
		fprintf(stderr, "kvfs %s: %s: %s\n", cmd->name, what, reason);
	else
		fprintf(stderr, "kvfs %s: %s\n", cmd->name, reason);
}

const char *cli_reason(int err)
{
	switch (err) {
	case -ENOENT:
		return "no such key";
	case -EFBIG:
		return "value too large (max 65536 bytes, or the store's "
		       "lower limit)";
	case -ENAMETOOLONG:
		return "key too large (max 2048 bytes)";
	case -E2BIG:
		return "too much for one commit (Deno's limits: 1000 "
		       "mutations, 800 KiB)";
	case -ECANCELED:
		return "check failed: the key changed";
	case -EAGAIN:
		return "database is locked by another process";
	case -EROFS:
		return "database is read-only (a newer format than kvfs "
		       "writes)";
	case -ENOMEM:
		return "out of memory";
	default:
		return keyopts_reason(err);
	}
}

int cli_status(int err)
{
	return err == -ECANCELED ? CLI_CHECK_FAILED : CLI_FAIL;
}

int cli_opened(const struct cli_command *cmd, const char *db, bool writes,
	       int r, struct kv_store **out)
{
	if (r == 0 && writes && kv_store_read_only(*out)) {
		kv_store_close(*out);
		*out = NULL;
		cli_error(cmd, db, "%s", cli_reason(-EROFS));
		return CLI_FAIL;
	}
	if (r == -ENOENT)
		cli_error(cmd, db, "no such database");
	else if (r == -EINVAL)
		cli_error(cmd, db, "not a Deno KV database");
	else if (r == -EROFS && !writes)
		/* Reading must not change the file, and migrating would. */
		cli_error(cmd, db, "not in Deno's current format yet; a read "
			  "does not migrate it, a write by kvfs or Deno does");
	else if (r < 0)
		cli_error(cmd, db, "cannot open: %s", cli_reason(r));
	return r < 0 ? CLI_FAIL : CLI_OK;
}

int cli_open(const struct cli_command *cmd, const char *db, bool writes,
	     struct kv_store **out)
{
	struct kv_store_options opts = {
		.read_only = !writes,
		.create = writes,
	};
	return cli_opened(cmd, db, writes, keyopts_open(db, &opts, out), out);
}

int cli_path_key(const struct cli_command *cmd, const char *path,
		 bool allow_root, struct kv_buf *out)
{
	const char *s = path;
	size_t len = strlen(s);
	while (len > 0 && s[0] == '/') {
		s++;
		len--;
	}
	while (len > 0 && s[len - 1] == '/')
		len--;
	static const char value_name[] = "/" KVFS_NAME_VALUE;
	size_t vlen = sizeof(value_name) - 1;
	if (len >= vlen && memcmp(s + len - vlen, value_name, vlen) == 0)
		len -= vlen;
	else if (len == vlen - 1 && memcmp(s, value_name + 1, len) == 0)
		len = 0;
	if (len == 0 && !allow_root) {
		cli_error(cmd, path, "the root is no key");
		return CLI_USAGE;
	}
	int r = kvfs_path_to_key(s, len, out);
	if (r == -ENOMEM) {
		cli_error(cmd, path, "%s", cli_reason(r));
		return CLI_FAIL;
	}
	if (r < 0) {
		cli_error(cmd, path,
			  "not a path of key names (see kvfs(1), PATHS)");
		return CLI_USAGE;
	}
	return CLI_OK;
}

int cli_target_init(const struct cli_command *cmd, int argc, char **argv,
		    int min, int max, bool allow_root, struct cli_target *t)
{
	*t = (struct cli_target){0};
	int status = cli_operands(cmd, argc, min, max);
	if (status)
		return status;
	t->db = argv[optind];
	t->path = optind + 1 < argc ? argv[optind + 1] : "";
	return cli_path_key(cmd, t->path, allow_root, &t->key);
}

void cli_target_close(struct cli_target *t)
{
	kv_store_close(t->store);
	kv_buf_free(&t->key);
}

int cli_key_name(const uint8_t *key, size_t len, struct kv_buf *out)
{
	size_t mark = out->len;
	int r = kvfs_key_to_path(key, len, out);
	if (r != -EINVAL)
		return r;
	out->len = mark;
	static const char hex[] = "0123456789abcdef";
	r = kv_buf_reserve(out, 2 * len + 3);
	if (r < 0)
		return r;
	out->data[out->len++] = '0';
	out->data[out->len++] = 'x';
	for (size_t i = 0; i < len; i++) {
		out->data[out->len++] = hex[key[i] >> 4];
		out->data[out->len++] = hex[key[i] & 15];
	}
	out->data[out->len] = 0;
	return 0;
}

/* ---- scans -------------------------------------------------------------- */

int cli_scan_init(struct cli_scan *sc, struct kv_store *s,
		  const uint8_t *start, size_t start_len, const uint8_t *end,
		  size_t end_len)
{
	*sc = (struct cli_scan){.store = s};
	int r = kv_buf_append(&sc->next, start, start_len);
	if (r < 0)
		return r;
	if (end)
		return kv_buf_append(&sc->end, end, end_len);
	/* Past every key a read may name: KV_MAX_READ_KEY bytes of 0xff. */
	r = kv_buf_reserve(&sc->end, KV_MAX_READ_KEY);
	if (r < 0)
		return r;
	memset(sc->end.data, 0xff, KV_MAX_READ_KEY);
	sc->end.len = KV_MAX_READ_KEY;
	return 0;
}

int cli_scan_subtree(struct cli_scan *sc, struct kv_store *s,
		     const uint8_t *key, size_t len)
{
	if (len == 0)
		return cli_scan_init(sc, s, NULL, 0, NULL, 0);
	int r = cli_scan_init(sc, s, key, len, key, len);
	return r < 0 ? r : kv_buf_push(&sc->end, KV_KEY_CHILD_END);
}

/*
 * The smallest key after every key that begins with key: key 0x00 when it
 * is short enough to be a read bound, else the successor of its first
 * KV_MAX_READ_KEY - 1 bytes (only foreign writers make such keys, and
 * check reports them).
 */
static int seek_after(struct kv_buf *next, const uint8_t *key, size_t len)
{
	next->len = 0;
	if (len < KV_MAX_READ_KEY) {
		int r = kv_buf_append(next, key, len);
		return r < 0 ? r : kv_buf_push(next, 0x00);
	}
	size_t n = KV_MAX_READ_KEY - 1;
	while (n > 0 && key[n - 1] == 0xff)
		n--;
	if (n == 0)
		return -ERANGE;
	int r = kv_buf_append(next, key, n);
	if (r == 0)
		next->data[n - 1]++;
	return r;
}

static int scan_read(struct cli_scan *sc)
{
	kv_entries_free(&sc->batch);
	sc->i = 0;
	if (kv_key_compare(sc->next.data, sc->next.len, sc->end.data,
			   sc->end.len) >= 0) {
		sc->done = true;
		return 0;
	}
	struct kv_range range = {
		.start = sc->next.data ? sc->next.data : (const uint8_t *)"",
		.start_len = sc->next.len,
		.end = sc->end.data,
		.end_len = sc->end.len,
		.limit = KV_MAX_READ_ENTRIES,
	};
	int r = kv_store_read_range(sc->store, &range, &sc->batch);
	if (r < 0)
		return r;
	if (sc->batch.n < KV_MAX_READ_ENTRIES) {
		sc->done = true;
		return 0;
	}
	const struct kv_entry *last = &sc->batch.v[sc->batch.n - 1];
	r = seek_after(&sc->next, last->key, last->key_len);
	if (r == -ERANGE) {
		sc->done = true;
		return 0;
	}
	return r;
}

const struct kv_entry *cli_scan_next(struct cli_scan *sc, int *err)
{
	*err = 0;
	while (sc->i == sc->batch.n) {
		if (sc->done)
			return NULL;
		*err = scan_read(sc);
		if (*err < 0)
			return NULL;
	}
	return &sc->batch.v[sc->i++];
}

void cli_scan_free(struct cli_scan *sc)
{
	kv_entries_free(&sc->batch);
	kv_buf_free(&sc->next);
	kv_buf_free(&sc->end);
}

/* ---- small helpers ------------------------------------------------------ */

int cli_flush_output(const struct cli_command *cmd)
{
	if (fflush(stdout) == 0 && !ferror(stdout))
		return CLI_OK;
	cli_error(cmd, NULL, "cannot write the output: %s", strerror(errno));
	return CLI_FAIL;
}

int cli_read_all(FILE *in, struct kv_buf *out)
{
	for (;;) {
		int r = kv_buf_reserve(out, 65536);
		if (r < 0)
			return r;
		size_t n = fread(out->data + out->len, 1, 65536, in);
		out->len += n;
		if (n < 65536)
			return ferror(in) ? -EIO : 0;
	}
}

const char *cli_type_name(enum kv_encoding enc)
{
	switch (enc) {
	case KV_ENC_V8:
		return "json";
	case KV_ENC_BYTES:
		return "bytes";
	case KV_ENC_U64:
		return "u64";
	}
	return "?";
}

void cli_iso_time(int64_t ms, char buf[40])
{
	time_t secs = (time_t)(ms / 1000);
	int millis = (int)(ms % 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	size_t n = strftime(buf, 40, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, 40 - n, ".%03dZ", millis);
}

int64_t cli_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- progress ----------------------------------------------------------- */

void cli_progress_start(struct cli_progress *p, const char *label)
{
	*p = (struct cli_progress){
		.label = label,
		.tty = isatty(STDERR_FILENO) == 1,
		.last_ms = cli_now_ms(),
	};
}

void cli_progress_update(struct cli_progress *p, size_t done)
{
	if (!p->tty)
		return;
	int64_t now = cli_now_ms();
	if (now - p->last_ms < 100)
		return;
	p->last_ms = now;
	p->shown = true;
	fprintf(stderr, "\r%s: %zu entries", p->label, done);
	fflush(stderr);
}

void cli_progress_end(struct cli_progress *p)
{
	if (p->shown)
		fputs("\r\033[K", stderr);
	p->shown = false;
}
