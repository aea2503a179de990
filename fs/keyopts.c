/*
 * keyopts.c — the key of an encrypted store, from the options, the
 * environment or the terminal (keyopts.h). Secrets are read straight into
 * sodium_malloc memory and wiped once a kv_seal_key holds its own copy.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "keyopts.h"

#define MAX_PASSPHRASE 4096
#define MAX_KEY_FILE (1 << 20)
#define FRESH_KEY_LEN 32

const struct option keyopts_getopt[KEYOPTS_GETOPT_N] = {
	{ "passphrase-file", required_argument, NULL, KEYOPT_PASSPHRASE_FILE },
	{ "key-file", required_argument, NULL, KEYOPT_KEY_FILE },
};

/* The options seen, and the key in use: kept until the process ends. */
static char *passphrase_file;
static char *key_file;
static struct kv_seal_key *key_in_use;
/* Why the last key could not be had, for keyopts_reason(-ENOKEY). */
static char problem[512];

static bool note(int c, const char *arg)
{
	char **slot = c == KEYOPT_PASSPHRASE_FILE ? &passphrase_file
		      : c == KEYOPT_KEY_FILE	  ? &key_file
						  : NULL;
	if (!slot)
		return false;
	free(*slot);
	*slot = strdup(arg);
	return true;
}

bool keyopts_take(int c, const char *arg)
{
	return note(c, arg);
}

bool keyopts_take_fuse(const char *arg, int key)
{
	static const char *const prefixes[] = {
		"--passphrase-file=", "passphrase_file=", "--passphrase-file",
		"--key-file=",	      "key_file=",	  "--key-file",
	};

	if (key != KEYOPT_PASSPHRASE_FILE && key != KEYOPT_KEY_FILE)
		return false;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(*prefixes); i++) {
		size_t n = strlen(prefixes[i]);
		if (strncmp(arg, prefixes[i], n) == 0)
			return note(key, arg + n);
	}
	return false;
}

/* ---- reading secrets ---------------------------------------------------- */

/* A secret of at most max bytes into sodium_malloc memory (max + 1
 * allocated, so that a longer file is seen to be longer). */
static int read_secret(const char *path, size_t max, uint8_t **out,
		       size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	uint8_t *buf = sodium_malloc(max + 1);
	size_t n = 0;
	int r = buf ? 0 : -ENOMEM;
	while (r == 0 && n <= max) {
		ssize_t got = read(fd, buf + n, max + 1 - n);
		if (got < 0 && errno != EINTR)
			r = -errno;
		else if (got == 0)
			break;
		else if (got > 0)
			n += (size_t)got;
	}
	close(fd);
	if (r == 0 && n > max)
		r = -EFBIG;
	if (r < 0) {
		sodium_free(buf);
		return r;
	}
	*out = buf;
	*len = n;
	return 0;
}

/* A passphrase file's passphrase: its bytes less one final newline. */
static size_t passphrase_len(const uint8_t *p, size_t len)
{
	if (len && p[len - 1] == '\n')
		len--;
	if (len && p[len - 1] == '\r')
		len--;
	return len;
}

static int passphrase_from_file(const char *path, struct kv_seal_key **out)
{
	uint8_t *buf;
	size_t len;
	int r = read_secret(path, MAX_PASSPHRASE + 2, &buf, &len);

	if (r < 0) {
		snprintf(problem, sizeof(problem),
			 "cannot read the passphrase file %s: %s", path,
			 r == -EFBIG ? "longer than 4096 bytes"
				     : strerror(-r));
		return -ENOKEY;
	}
	len = passphrase_len(buf, len);
	r = kv_seal_key_passphrase((const char *)buf, len, out);
	sodium_free(buf);
	if (r == -EINVAL) {
		snprintf(problem, sizeof(problem),
			 "the passphrase file %s holds no passphrase (or one "
			 "longer than 4096 bytes)", path);
		return -ENOKEY;
	}
	return r;
}

static int key_from_file(const char *path, struct kv_seal_key **out)
{
	uint8_t *buf;
	size_t len;
	int r = read_secret(path, MAX_KEY_FILE, &buf, &len);

	if (r == 0) {
		r = kv_seal_key_file(buf, len, out);
		sodium_free(buf);
		if (r == -EINVAL)
			r = -EFBIG;
	}
	if (r < 0 && r != -ENOMEM) {
		snprintf(problem, sizeof(problem),
			 "cannot use the key file %s: %s", path,
			 r == -EFBIG ? "a key file holds 32 bytes to 1 MiB"
				     : strerror(-r));
		return -ENOKEY;
	}
	return r;
}

static int passphrase_from_env(const char *name, struct kv_seal_key **out)
{
	const char *pass = getenv(name);

	if (!pass)
		return -ENOENT;
	int r = kv_seal_key_passphrase(pass, strlen(pass), out);
	if (r == -EINVAL) {
		snprintf(problem, sizeof(problem),
			 "%s holds no passphrase (or one longer than 4096 "
			 "bytes)", name);
		return -ENOKEY;
	}
	return r;
}

/* ---- the terminal ------------------------------------------------------- */

/* A signal that came while the terminal's echo was off (see ask). */
static volatile sig_atomic_t interrupted_by;

static void note_interrupt(int sig)
{
	interrupted_by = sig;
}

/* The signals that end a program at a prompt: Ctrl-C, Ctrl-\, a closed
 * terminal, kill. */
static const int prompt_signals[] = {SIGINT, SIGQUIT, SIGHUP, SIGTERM};
enum { N_PROMPT_SIGNALS = sizeof(prompt_signals) / sizeof(*prompt_signals) };

/*
 * Ask on the controlling terminal, with echo or without, for one line into
 * buf (cap bytes). -ENXIO when there is no terminal. A signal that would
 * end the program while the echo is off is held until the terminal is
 * restored, then delivered as it would have been: a Ctrl-C at the prompt
 * must not leave the shell without echo.
 */
static int ask(const char *prompt, bool echo, uint8_t *buf, size_t cap,
	       size_t *len)
{
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	struct termios old, quiet;
	struct sigaction held = {.sa_handler = note_interrupt};
	struct sigaction saved[N_PROMPT_SIGNALS];

	if (fd < 0)
		return -ENXIO;
	bool echo_off = !echo && tcgetattr(fd, &old) == 0;
	interrupted_by = 0;
	if (echo_off) {
		/* No SA_RESTART: the read below returns EINTR. */
		sigemptyset(&held.sa_mask);
		for (int i = 0; i < N_PROMPT_SIGNALS; i++)
			sigaction(prompt_signals[i], &held, &saved[i]);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		quiet.c_lflag |= ECHONL;
		tcsetattr(fd, TCSAFLUSH, &quiet);
	}
	dprintf(fd, "%s", prompt);
	size_t n = 0;
	int r = 0;
	while (!interrupted_by) {
		char c;
		ssize_t got = read(fd, &c, 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0 || c == '\n')
			break;
		if (n == cap) {
			r = -E2BIG;
			continue; /* drain the line */
		}
		buf[n++] = (uint8_t)c;
	}
	if (echo_off) {
		tcsetattr(fd, TCSAFLUSH, &old);
		for (int i = 0; i < N_PROMPT_SIGNALS; i++)
			sigaction(prompt_signals[i], &saved[i], NULL);
	}
	close(fd);
	if (interrupted_by) {
		sodium_memzero(buf, n);
		raise(interrupted_by);
		return -EINTR;
	}
	*len = passphrase_len(buf, n);
	return r;
}

/* A passphrase asked once (times 1) or twice (times 2, which must agree). */
static int passphrase_from_terminal(const char *prompt, int times,
				    struct kv_seal_key **out)
{
	uint8_t *a = sodium_malloc(MAX_PASSPHRASE);
	uint8_t *b = sodium_malloc(MAX_PASSPHRASE);
	size_t alen = 0, blen = 0;
	const char *why = NULL;
	int r = a && b ? 0 : -ENOMEM;

	if (r == 0)
		r = ask(prompt, false, a, MAX_PASSPHRASE, &alen);
	if (r == 0 && times == 2)
		r = ask("Again: ", false, b, MAX_PASSPHRASE, &blen);
	if (r == -ENXIO)
		why = "an encrypted store: give its key with "
		      "--passphrase-file, --key-file or KVFS_PASSPHRASE (no "
		      "terminal to ask on)";
	else if (r == -E2BIG || (r == 0 && alen == 0))
		why = "no passphrase given (or one longer than 4096 bytes)";
	else if (r == 0 && times == 2 &&
		 (alen != blen || sodium_memcmp(a, b, alen) != 0))
		why = "the two passphrases differ";
	if (why) {
		snprintf(problem, sizeof(problem), "%s", why);
		r = -ENOKEY;
	} else if (r == 0) {
		r = kv_seal_key_passphrase((const char *)a, alen, out);
	}
	sodium_free(a);
	sodium_free(b);
	return r;
}

/* ---- opening ------------------------------------------------------------ */

static int key_from_options(void)
{
	if (key_in_use)
		return 0;
	if (passphrase_file)
		return passphrase_from_file(passphrase_file, &key_in_use);
	if (key_file)
		return key_from_file(key_file, &key_in_use);
	return 0;
}

static int key_from_user(const char *db)
{
	char prompt[512];
	int r = passphrase_from_env("KVFS_PASSPHRASE", &key_in_use);

	if (r != -ENOENT)
		return r;
	snprintf(prompt, sizeof(prompt), "Passphrase for %s: ", db);
	return passphrase_from_terminal(prompt, 1, &key_in_use);
}

int keyopts_open(const char *db, struct kv_store_options *opts,
		 struct kv_store **out)
{
	*problem = '\0';
	if (sodium_init() < 0)
		return -EIO;
	int r = key_from_options();

	if (r < 0)
		return r;
	opts->seal_key = key_in_use;
	r = kv_store_open(db, opts, out);
	/* Reading a plain store with a key at hand puts no secret at risk
	 * (kvfs copy from a plain store into an encrypted one). */
	if (r == -EMEDIUMTYPE && opts->read_only) {
		opts->seal_key = NULL;
		return kv_store_open(db, opts, out);
	}
	/* A key is never used to make a store: only init makes one. */
	if (r == -ENOENT && key_in_use && opts->create)
		return -EMEDIUMTYPE;
	if (r != -ENOKEY || key_in_use)
		return r;
	r = key_from_user(db);
	if (r < 0)
		return r;
	opts->seal_key = key_in_use;
	return kv_store_open(db, opts, out);
}

const char *keyopts_reason(int err)
{
	switch (err) {
	case -ENOKEY:
		return *problem ? problem
				: "an encrypted store: give its key with "
				  "--passphrase-file, --key-file or "
				  "KVFS_PASSPHRASE";
	case -EKEYREJECTED:
		return "wrong passphrase or key file (it opens no keyslot)";
	case -EMEDIUMTYPE:
		return "not an encrypted store (kvfs init --encrypt makes "
		       "one), and a key was given";
	case -EIO:
		return "input/output error (in an encrypted store: a value or "
		       "key that does not authenticate)";
	case -ELIBACC:
		return "etcd stores need libcurl (libcurl.so.4, Debian's "
		       "libcurl4), which could not be loaded";
	default:
		return strerror(-err);
	}
}

/* ---- new keys ----------------------------------------------------------- */

struct keyopts_new keyopts_for_init(void)
{
	return (struct keyopts_new){
		.passphrase_file = passphrase_file,
		.key_file = key_file,
		.env = "KVFS_PASSPHRASE",
		.prompt = "New passphrase: ",
	};
}

/* A fresh key file: 32 random bytes, mode 0600, never over a file. */
static int write_fresh_key_file(const char *path, struct kv_seal_key **out)
{
	uint8_t *bytes = sodium_malloc(FRESH_KEY_LEN);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	int r = fd < 0 ? -errno : bytes ? 0 : -ENOMEM;

	if (r == 0) {
		randombytes_buf(bytes, FRESH_KEY_LEN);
		ssize_t n = write(fd, bytes, FRESH_KEY_LEN);
		r = n == FRESH_KEY_LEN ? 0 : n < 0 ? -errno : -EIO;
		if (r == 0 && fsync(fd) < 0)
			r = -errno;
	}
	if (fd >= 0 && close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0)
		r = kv_seal_key_file(bytes, FRESH_KEY_LEN, out);
	if (r < 0 && fd >= 0)
		unlink(path);
	sodium_free(bytes);
	if (r < 0)
		snprintf(problem, sizeof(problem),
			 "cannot write the new key file %s: %s", path,
			 r == -EEXIST ? "it exists (a key file is never "
					"written over)"
				      : strerror(-r));
	return r;
}

int keyopts_new_key(const char *cmd, const struct keyopts_new *src,
		    struct kv_seal_key **out, const char **what)
{
	int r;

	*problem = '\0';
	*out = NULL;
	if (sodium_init() < 0)
		r = -EIO;
	else if (src->passphrase_file) {
		*what = "passphrase";
		r = passphrase_from_file(src->passphrase_file, out);
	} else if (src->key_file) {
		*what = "key file";
		r = key_from_file(src->key_file, out);
	} else if (src->fresh_key_file) {
		*what = "new key file";
		r = write_fresh_key_file(src->fresh_key_file, out);
	} else {
		*what = "passphrase";
		r = src->env ? passphrase_from_env(src->env, out) : -ENOENT;
		if (r == -ENOENT)
			r = passphrase_from_terminal(src->prompt, 2, out);
	}
	if (r < 0)
		fprintf(stderr, "kvfs %s: %s\n", cmd,
			*problem ? problem : strerror(-r));
	return r;
}

/* ---- for the commands on keys ----------------------------------------- */

int keyopts_open_encrypted(const char *cmd, const char *db, bool writes,
			   struct kv_store **out)
{
	struct kv_store_options o = { .read_only = !writes };
	int r = keyopts_open(db, &o, out);
	const char *why = r == -ENOENT ? "no such database"
			  : r < 0      ? keyopts_reason(r)
				       : NULL;

	if (r == 0 && !kv_store_sealed(*out)) {
		kv_store_close(*out);
		*out = NULL;
		r = -EMEDIUMTYPE;
		why = "not an encrypted store (see kvfs init --encrypt)";
	}
	if (r == 0 && writes && kv_store_read_only(*out)) {
		kv_store_close(*out);
		*out = NULL;
		r = -EROFS;
		why = "read-only (a newer format than kvfs writes)";
	}
	if (r < 0)
		fprintf(stderr, "kvfs %s: %s: %s\n", cmd, db, why);
	return r;
}

int keyopts_cost(const char *level, struct kv_seal_cost *out)
{
	if (strcmp(level, "interactive") == 0)
		*out = (struct kv_seal_cost){
			crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE,
			crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE };
	else if (strcmp(level, "moderate") == 0)
		*out = (struct kv_seal_cost){
			crypto_pwhash_argon2id_OPSLIMIT_MODERATE,
			crypto_pwhash_argon2id_MEMLIMIT_MODERATE };
	else if (strcmp(level, "sensitive") == 0)
		*out = (struct kv_seal_cost){
			crypto_pwhash_argon2id_OPSLIMIT_SENSITIVE,
			crypto_pwhash_argon2id_MEMLIMIT_SENSITIVE };
	else
		return -EINVAL;
	return 0;
}

void keyopts_slot_text(const struct kv_slot_info *slot, char *buf,
		       size_t size)
{
	switch (slot->kind) {
	case KV_SLOT_PASSPHRASE:
		snprintf(buf, size,
			 "passphrase (Argon2id, %llu passes, %zu MiB)",
			 (unsigned long long)slot->opslimit,
			 slot->memlimit >> 20);
		break;
	case KV_SLOT_KEY_FILE:
		snprintf(buf, size, "key file");
		break;
	case KV_SLOT_RECOVERY:
		snprintf(buf, size, "recovery key");
		break;
	default:
		snprintf(buf, size, "unknown kind %d (kept, never opened)",
			 (int)slot->kind);
	}
}

bool keyopts_confirm(const char *question)
{
	uint8_t answer[8];
	size_t len;

	if (!isatty(STDIN_FILENO) || !isatty(STDERR_FILENO))
		return false;
	if (ask(question, true, answer, sizeof(answer), &len) < 0 || len == 0)
		return false;
	return answer[0] == 'y' || answer[0] == 'Y';
}
