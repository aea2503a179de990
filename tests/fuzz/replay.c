/*
 * replay.c — run a fuzz target without libFuzzer: feed it every file named
 * on the command line, and every file in every directory named there, in
 * name order. This is how the normal (gcc, sanitized) suite re-checks the
 * seed corpus and every input a fuzzer once crashed on.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	struct kv_buf b = {0};
	uint8_t chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (kv_buf_append(&b, chunk, n) < 0) {
			fclose(f);
			kv_buf_free(&b);
			return -1;
		}
	fclose(f);
	/* An exact-size copy, so that ASan sees a read one byte too far. */
	uint8_t *input = malloc(b.len ? b.len : 1);
	if (!input) {
		kv_buf_free(&b);
		return -1;
	}
	size_t len = b.len;
	if (len)
		memcpy(input, b.data, len);
	kv_buf_free(&b);
	fprintf(stderr, "replay: %s\n", path);
	LLVMFuzzerTestOneInput(input, len);
	free(input);
	return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int replay_dir(const char *dir, size_t *count)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, by_name);
	if (n < 0) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	int r = 0;
	for (int i = 0; i < n; i++) {
		char path[4096];
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		if (r == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
		    names[i]->d_name[0] != '.') {
			r = replay_file(path);
			(*count)++;
		}
		free(names[i]);
	}
	free(names);
	return r;
}

int main(int argc, char **argv)
{
	size_t count = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i],
				strerror(errno));
			return 1;
		}
		int r = S_ISDIR(st.st_mode) ? replay_dir(argv[i], &count)
					    : replay_file(argv[i]);
		if (!S_ISDIR(st.st_mode))
			count++;
		if (r < 0)
			return 1;
	}
	printf("replayed %zu inputs\n", count);
	return 0;
}
