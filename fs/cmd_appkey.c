/*
 * cmd_appkey.c — `kvfs app-key DB FILE`: write what an app needs to open
 * and seal the values of an encrypted store (the store id and the data
 * keys, docs/format.md), never the master key, to a new file of mode 0600.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"
#include "commands.h"
#include "keyopts.h"

static const struct cli_command appkey_cmd = {
	.name = "app-key",
	.synopsis = "DB FILE [KEY]",
	.help = "Write the app key of the encrypted store DB to FILE, a new\n"
		"file made with mode 0600 (\"-\": standard output): one line of\n"
		"JSON with the store id and the data key of each generation,\n"
		"which clients/deno/kvfs_seal.ts uses to open and seal values.\n"
		"It never holds the master key: it cannot change keyslots. After\n"
		"kvfs rekey, export it again. KEY is as for kvfs passwd.\n"
		"\n"
		"Exit status: 0, 1 on failure (FILE exists, KEY does not open\n"
		"DB), 2 for bad usage.\n",
	.short_opts = "",
	.long_opts = NULL,
};

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int write_key(const char *file, const struct kv_buf *key)
{
	bool out = strcmp(file, "-") == 0;
	int fd = out ? STDOUT_FILENO
		     : open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			    0600);
	if (fd < 0)
		return -errno;
	int r = write_all(fd, key->data, key->len);
	if (r == 0 && !out && fsync(fd) < 0)
		r = -errno;
	if (!out && close(fd) < 0 && r == 0)
		r = -errno;
	if (r < 0 && !out)
		unlink(file);
	return r;
}

int cmd_appkey(int argc, char **argv)
{
	for (int c; (c = cli_getopt(&appkey_cmd, argc, argv)) != CLI_OPT_END;)
		return c == CLI_OPT_HELP ? CLI_OK : CLI_USAGE;
	int status = cli_operands(&appkey_cmd, argc, 2, 2);
	if (status)
		return status;
	const char *db = argv[optind], *file = argv[optind + 1];
	struct kv_store *s;
	if (keyopts_open_encrypted(appkey_cmd.name, db, false, &s) < 0)
		return CLI_FAIL;
	struct kv_buf key = { 0 };
	int r = kv_store_app_key(s, &key);
	kv_store_close(s);
	if (r == 0)
		r = write_key(file, &key);
	if (key.data)
		sodium_memzero(key.data, key.len);
	kv_buf_free(&key);
	if (r < 0) {
		cli_error(&appkey_cmd, file, "%s",
			  r == -EEXIST ? "exists (an app key is never written "
					 "over)"
				       : keyopts_reason(r));
		return CLI_FAIL;
	}
	return CLI_OK;
}
