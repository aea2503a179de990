/*
 * cmd_set.c — `kvfs set DB PATH [VALUE]`: write a key as writing its file
 * through the mount does (the same parsing, the same typing rule), with an
 * optional expiry and an optional versionstamp check.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"

static const struct option set_options[] = {
	{"type", required_argument, NULL, 't'},
	{"expire-in", required_argument, NULL, 'e'},
	{"no-expire", no_argument, NULL, 'n'},
	{"if-versionstamp", required_argument, NULL, 'v'},
	{"if-absent", no_argument, NULL, 'a'},
	{0},
};

static const struct cli_command set_cmd = {
	.name = "set",
	.synopsis = "DB PATH [VALUE] [--type json|bytes|u64] [--expire-in MS]\n"
		    "       [--no-expire] [--if-versionstamp VS | --if-absent]",
	.help = "Write VALUE, or standard input when VALUE is not given, to the\n"
		"key PATH, as writing its file through the mount does. DB is\n"
		"created when it does not exist. A new key is a V8 value when\n"
		"the content is JSON (docs/json.md), else a Uint8Array; an\n"
		"existing key keeps its type (an empty Uint8Array takes the\n"
		"new content's). A VALUE that begins with '-' follows `--`.\n"
		"\n"
		"  --type T              json, bytes or u64, whatever the key was\n"
		"  --expire-in MS        expire MS milliseconds after the write;\n"
		"                        without it an existing expiry is kept\n"
		"  --no-expire           remove the key's expiry\n"
		"  --if-versionstamp VS  write only if the key's versionstamp is VS\n"
		"  --if-absent           write only if the key does not exist\n"
		"\n"
		"Exit status: 0, 1 when the content does not parse as the type or\n"
		"the write fails, 2 for bad usage, 3 when the check failed.\n",
	.short_opts = "",
	.long_opts = set_options,
};

struct set_args {
	bool typed;
	enum kv_encoding type;
	bool expiry_given;
	int64_t expire_in; /* -1: none */
	bool checked;
	bool vs_given;
	uint8_t vs[KV_VERSIONSTAMP_LEN];
};

static int parse_type(const char *s, enum kv_encoding *out)
{
	static const enum kv_encoding types[] = {KV_ENC_V8, KV_ENC_BYTES,
						 KV_ENC_U64};
	for (size_t i = 0; i < 3; i++)
		if (strcmp(s, cli_type_name(types[i])) == 0) {
			*out = types[i];
			return 0;
		}
	return -EINVAL;
}

static int parse_ms(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < 0 || s[0] == '-' || s[0] == '+')
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_set_options(int argc, char **argv, struct set_args *a)
{
	for (int c; (c = cli_getopt(&set_cmd, argc, argv)) != CLI_OPT_END;) {
		switch (c) {
		case CLI_OPT_HELP:
			return CLI_OPT_HELP;
		case 't':
			if (parse_type(optarg, &a->type) < 0)
				return cli_usage_error(&set_cmd, "--type is "
						       "json, bytes or u64");
			a->typed = true;
			break;
		case 'e':
			if (parse_ms(optarg, &a->expire_in) < 0)
				return cli_usage_error(&set_cmd, "--expire-in "
						       "takes milliseconds");
			a->expiry_given = true;
			break;
		case 'n':
			a->expire_in = -1;
			a->expiry_given = true;
			break;
		case 'v':
			if (kv_versionstamp_parse(optarg, strlen(optarg),
						  a->vs) < 0)
				return cli_usage_error(&set_cmd, "a "
						       "versionstamp is 20 "
						       "hex digits");
			a->checked = a->vs_given = true;
			break;
		case 'a':
			a->checked = true;
			break;
		default:
			return CLI_USAGE;
		}
	}
	return CLI_OK;
}

/* The type and expiry the write gets, from the key as it is now; *sniff
 * when the type is the content's own, to be sniffed. */
static int settle(struct kv_store *s, const struct kv_buf *key,
		  struct set_args *a, bool *sniff)
{
	struct kv_entry e;
	int r = kv_store_get(s, key->data, key->len, &e);
	if (r < 0 && r != -ENOENT)
		return r;
	bool exists = r == 0;
	bool keeps_type = exists && kv_value_keeps_type(e.encoding,
							e.value_len);
	*sniff = !a->typed && !keeps_type;
	if (!a->typed && keeps_type)
		a->type = e.encoding;
	if (!a->expiry_given) {
		a->expire_in = -1;
		if (exists && e.expires_at_ms >= 0) {
			int64_t left = e.expires_at_ms - cli_now_ms();
			a->expire_in = left > 0 ? left : 0;
		}
	}
	if (exists)
		kv_entry_free(&e);
	return 0;
}

static int write_value(struct kv_store *s, const struct kv_buf *key,
		       const struct kv_buf *content, struct set_args *a,
		       const char *path)
{
	bool sniff;
	int r = settle(s, key, a, &sniff);
	if (r < 0) {
		cli_error(&set_cmd, path, "%s", cli_reason(r));
		return CLI_FAIL;
	}
	struct kv_buf value = {0};
	/* A sniffed type comes from the one parse that makes the value. */
	r = sniff ? kv_value_sniff_parse(content->data, content->len,
					 &a->type, &value)
		  : kv_value_parse(a->type, content->data, content->len,
				   &value);
	if (r == -EINVAL) {
		cli_error(&set_cmd, path, "the content is not a valid %s value",
			  cli_type_name(a->type));
		return CLI_FAIL;
	}
	struct kv_check check = {
		.key = key->data,
		.key_len = key->len,
		.versionstamp = a->vs_given ? a->vs : NULL,
	};
	struct kv_mutation m = {
		.type = KV_MUT_SET,
		.key = key->data,
		.key_len = key->len,
		.encoding = a->type,
		.value = value.data ? value.data : (const uint8_t *)"",
		.value_len = value.len,
		.expire_in_ms = a->expire_in,
	};
	struct kv_atomic atomic = {
		.checks = &check,
		.n_checks = a->checked ? 1 : 0,
		.mutations = &m,
		.n_mutations = 1,
	};
	if (r == 0)
		r = kv_store_commit(s, &atomic, NULL);
	kv_buf_free(&value);
	if (r == -ECANCELED)
		cli_error(&set_cmd, path, "check failed: %s",
			  a->vs_given ? "the key's versionstamp is not the one "
				       "given"
				      : "the key exists");
	else if (r < 0)
		cli_error(&set_cmd, path, "%s", cli_reason(r));
	return r < 0 ? cli_status(r) : CLI_OK;
}

int cmd_set(int argc, char **argv)
{
	struct set_args a = {.expire_in = -1};
	int status = parse_set_options(argc, argv, &a);
	if (status == CLI_OPT_HELP)
		return CLI_OK;
	if (status)
		return status;
	struct cli_target t;
	struct kv_buf content = {0};
	status = cli_target_init(&set_cmd, argc, argv, 2, 3, false, &t);
	if (!status && optind + 2 < argc) {
		if (kv_buf_append(&content, argv[optind + 2],
				  strlen(argv[optind + 2])) < 0)
			status = CLI_FAIL;
	} else if (!status && cli_read_all(stdin, &content) < 0) {
		cli_error(&set_cmd, NULL, "cannot read standard input");
		status = CLI_FAIL;
	}
	if (!status)
		status = cli_open(&set_cmd, t.db, true, &t.store);
	if (!status)
		status = write_value(t.store, &t.key, &content, &a, t.path);
	cli_target_close(&t);
	kv_buf_free(&content);
	return status;
}
