/*
 * cmd_watch.c — `kvfs watch DB PATH...`: print one line of JSON per change
 * to the watched keys and the keys below them, whoever made it.
 *
 * Deno's watch() only hears writes of its own process (denokv/SPEC.md §6).
 * This polls the store's data_version, which every writer bumps, every
 * 100 ms, and re-reads the watched subtrees when it moved or when a
 * watched key's expiry has passed; comparing versionstamps with the last
 * reading tells what changed.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "commands.h"
#include "kvutils.h"

#define WATCH_POLL_MS 100

static const struct cli_command watch_cmd = {
	.name = "watch",
	.synopsis = "DB PATH...",
	.help = "Watch each key PATH and every key below it. Each change, by\n"
		"any process, is printed as one line of JSON in the format of\n"
		"`kvfs export`: the entry as it now is, or, for a key that was\n"
		"removed or expired, {\"key\":[...],\"value\":null,\n"
		"\"versionstamp\":null}. Nothing is printed for the state at the\n"
		"start. The store is polled every 100 ms. Runs until SIGINT or\n"
		"SIGTERM.\n"
		"\n"
		"Exit status: 0 when stopped by a signal, 1 when the store fails,\n"
		"2 for bad usage.\n",
	.short_opts = "",
	.long_opts = NULL,
};

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

/* What one watched subtree held at the last reading. */
struct seen {
	size_t key_off, key_len;
	uint8_t versionstamp[KV_VERSIONSTAMP_LEN];
};

struct watch {
	struct kv_buf key;
	struct kv_buf keys;  /* the keys' bytes */
	struct kv_buf seen;  /* struct seen[] in key order */
	int64_t next_expiry; /* -1: none */
};

static const struct seen *seen_at(const struct watch *w, size_t i)
{
	return &((const struct seen *)w->seen.data)[i];
}

static size_t seen_count(const struct watch *w)
{
	return w->seen.len / sizeof(struct seen);
}

static int print_line(const struct kv_entry *e, const uint8_t *key,
		      size_t key_len, struct kv_buf *line)
{
	line->len = 0;
	int r = e ? kvutils_entry_render(e, line)
		  : kvutils_miss_render(key, key_len, line);
	if (r == 0)
		r = kv_buf_push(line, '\n');
	if (r == 0) {
		fwrite(line->data, 1, line->len, stdout);
		fflush(stdout);
	}
	return r == -ENOMEM ? r : 0; /* an undecodable entry is not shown */
}

/*
 * Read the subtree again; print what differs from the last reading and
 * keep the new one. With report false, only keep it.
 */
static int reread(struct kv_store *s, struct watch *w, bool report,
		  struct kv_buf *line)
{
	struct kv_buf keys = {0}, seen = {0};
	struct cli_scan sc;
	size_t old = 0, n_old = seen_count(w);
	int64_t next_expiry = -1;
	int r = cli_scan_subtree(&sc, s, w->key.data, w->key.len);
	const struct kv_entry *e;
	while (r == 0 && (e = cli_scan_next(&sc, &r))) {
		int cmp = 1;
		for (; r == 0 && old < n_old; old++) {
			const struct seen *o = seen_at(w, old);
			cmp = kv_key_compare(w->keys.data + o->key_off,
					     o->key_len, e->key, e->key_len);
			if (cmp >= 0)
				break;
			if (report)
				r = print_line(NULL, w->keys.data + o->key_off,
					       o->key_len, line);
		}
		bool same = cmp == 0 && old < n_old &&
			    memcmp(seen_at(w, old)->versionstamp,
				   e->versionstamp, KV_VERSIONSTAMP_LEN) == 0;
		old += cmp == 0 && old < n_old;
		if (r == 0 && report && !same)
			r = print_line(e, NULL, 0, line);
		struct seen now = {.key_off = keys.len, .key_len = e->key_len};
		memcpy(now.versionstamp, e->versionstamp, KV_VERSIONSTAMP_LEN);
		if (r == 0)
			r = kv_buf_append(&keys, e->key, e->key_len);
		if (r == 0)
			r = kv_buf_append(&seen, &now, sizeof(now));
		if (e->expires_at_ms >= 0 &&
		    (next_expiry < 0 || e->expires_at_ms < next_expiry))
			next_expiry = e->expires_at_ms;
	}
	for (; r == 0 && report && old < n_old; old++) {
		const struct seen *o = seen_at(w, old);
		r = print_line(NULL, w->keys.data + o->key_off, o->key_len,
			       line);
	}
	cli_scan_free(&sc);
	if (r == 0) {
		kv_buf_free(&w->keys);
		kv_buf_free(&w->seen);
		w->keys = keys;
		w->seen = seen;
		w->next_expiry = next_expiry;
	} else {
		kv_buf_free(&keys);
		kv_buf_free(&seen);
	}
	return r;
}

static bool expiry_passed(const struct watch *w, size_t n, int64_t now)
{
	for (size_t i = 0; i < n; i++)
		if (w[i].next_expiry >= 0 && w[i].next_expiry <= now)
			return true;
	return false;
}

static void catch_signals(void)
{
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static int poll_loop(struct kv_store *s, struct watch *w, size_t n)
{
	struct kv_buf line = {0};
	uint64_t version = 0, now_version;
	int r = kv_store_data_version(s, &version);
	for (size_t i = 0; r == 0 && i < n; i++)
		r = reread(s, &w[i], false, &line);
	/* Caught only from here on: a script can tell that the watch has
	 * taken its first look (SigCgt in /proc/PID/status). */
	catch_signals();
	while (r == 0 && !stopping) {
		struct timespec ts = {0, WATCH_POLL_MS * 1000000L};
		nanosleep(&ts, NULL);
		if (stopping)
			break;
		r = kv_store_data_version(s, &now_version);
		if (r < 0 || (now_version == version &&
			      !expiry_passed(w, n, cli_now_ms())))
			continue;
		version = now_version;
		for (size_t i = 0; r == 0 && i < n; i++)
			r = reread(s, &w[i], true, &line);
	}
	kv_buf_free(&line);
	return r;
}


int cmd_watch(int argc, char **argv)
{
	for (int c; (c = cli_getopt(&watch_cmd, argc, argv)) != CLI_OPT_END;)
		return c == CLI_OPT_HELP ? CLI_OK : CLI_USAGE;
	int status = cli_operands(&watch_cmd, argc, 2, -1);
	if (status)
		return status;
	size_t n = (size_t)(argc - optind - 1);
	struct watch w[n];
	memset(w, 0, sizeof(w));
	for (size_t i = 0; !status && i < n; i++) {
		status = cli_path_key(&watch_cmd, argv[optind + 1 + i], true,
				      &w[i].key);
	}
	struct kv_store *s = NULL;
	if (!status)
		status = cli_open(&watch_cmd, argv[optind], false, &s);
	if (!status) {
		int r = poll_loop(s, w, n);
		if (r < 0) {
			cli_error(&watch_cmd, NULL, "%s", cli_reason(r));
			status = CLI_FAIL;
		}
	}
	for (size_t i = 0; i < n; i++) {
		kv_buf_free(&w[i].key);
		kv_buf_free(&w[i].keys);
		kv_buf_free(&w[i].seen);
	}
	kv_store_close(s);
	return status;
}
