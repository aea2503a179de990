/*
 * bench_fs.c — the one driver that times file system calls on both sides
 * of the mount comparison (kvfs and libfuse's passthrough_ll), and on the
 * app-like stores of the scale comparison (layout.h):
 *
 *   bench_fs create DIR N      create and write N small JSON files
 *   bench_fs read DIR N        open and read them back, checking content
 *   bench_fs stat DIR N        stat each of them
 *   bench_fs list DIR N        list DIR once, expecting N entries
 *   bench_fs ls ROOT USERS K   list K user directories (10 entries each)
 *   bench_fs statkey ROOT USERS K   stat one key in K other users
 *   bench_fs find ROOT USERS K walk K whole tenants, as find(1) does
 *
 * The first three take FIRST LAST after N to touch only files FIRST to
 * LAST-1, and the last three take them after K to run only samples FIRST
 * to LAST-1 of the K, so that several mounts can take turns.
 *
 * Each prints one JSON line: the operation, the entries or files touched,
 * and the nanoseconds taken (in total, or per sample for the last three,
 * each sample touching paths no earlier sample touched). The first four
 * also give the CPU time of this process and of those BENCH_CPU_PIDS
 * names (cpu.h): the daemon, and the etcd members when the store is on
 * etcd. Exits 1 on any failed call or wrong content, so a broken mount
 * never yields a figure.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cpu.h"
#include "layout.h"

#define PATH_LEN 4096

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int fail(const char *what, const char *path)
{
	fprintf(stderr, "bench_fs: %s %s: %s\n", what, path, strerror(errno));
	return 1;
}

/* ---- small files -------------------------------------------------------- */

static void file_path(const char *dir, unsigned long i, char *out)
{
	snprintf(out, PATH_LEN, "%s/f%06lu.json", dir, i);
}

/* A small JSON document of about 100 bytes, different for each file. */
static size_t file_content(unsigned long i, char *out, size_t size)
{
	int n = snprintf(out, size,
			 "{\"id\":%lu,\"name\":\"item %lu\",\"tags\":[\"a\","
			 "\"b\"],\"price\":%lu.5,\"active\":%s}\n",
			 i, i, i % 1000, i % 2 ? "true" : "false");
	return (size_t)n;
}

static int create_one(const char *dir, unsigned long i)
{
	char path[PATH_LEN], text[256];
	size_t len = file_content(i, text, sizeof(text));

	file_path(dir, i, path);
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	if (fd < 0)
		return fail("open", path);
	ssize_t w = write(fd, text, len);
	if (w != (ssize_t)len) {
		close(fd);
		return fail("write", path);
	}
	return close(fd) < 0 ? fail("close", path) : 0;
}

static int read_one(const char *dir, unsigned long i)
{
	char path[PATH_LEN], want[256], got[512];
	size_t len = file_content(i, want, sizeof(want)), have = 0;
	ssize_t r;

	file_path(dir, i, path);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return fail("open", path);
	while ((r = read(fd, got + have, sizeof(got) - have)) > 0)
		have += (size_t)r;
	close(fd);
	if (r < 0)
		return fail("read", path);
	if (have != len || memcmp(got, want, len)) {
		fprintf(stderr, "bench_fs: %s: unexpected content\n", path);
		return 1;
	}
	return 0;
}

static int stat_one(const char *dir, unsigned long i)
{
	char path[PATH_LEN];
	struct stat st;

	file_path(dir, i, path);
	if (stat(path, &st) < 0)
		return fail("stat", path);
	return S_ISREG(st.st_mode) ? 0 : fail("not a file:", path);
}

/* Entries of dir other than . and .., or -1. */
static long count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	long n = 0;

	if (!d)
		return -1;
	errno = 0;
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	int err = errno;
	closedir(d);
	errno = err;
	return err ? -1 : n;
}

static void print_total(const char *op, unsigned long n, uint64_t ns,
			uint64_t cpu)
{
	printf("{\"op\":\"%s\",\"n\":%lu,\"ns\":%llu,\"cpu_ns\":%llu}\n",
	       op, n, (unsigned long long)ns, (unsigned long long)cpu);
}

/* Files first..last-1. */
static int run_files(const char *op, const char *dir, unsigned long first,
		     unsigned long last)
{
	int (*each)(const char *, unsigned long) =
		!strcmp(op, "create") ? create_one :
		!strcmp(op, "read")   ? read_one :
		!strcmp(op, "stat")   ? stat_one : NULL;

	if (!each)
		return 2;
	if (each == create_one && mkdir(dir, 0755) < 0 && errno != EEXIST)
		return fail("mkdir", dir);
	uint64_t t0 = now_ns(), c0 = cpu_ns();
	for (unsigned long i = first; i < last; i++) {
		if (each(dir, i))
			return 1;
	}
	uint64_t t1 = now_ns();
	print_total(op, last - first, t1 - t0, cpu_ns() - c0);
	return 0;
}

static int run_list(const char *dir, unsigned long n)
{
	uint64_t t0 = now_ns(), c0 = cpu_ns();
	long got = count_entries(dir);
	uint64_t t1 = now_ns(), c1 = cpu_ns();

	if (got < 0)
		return fail("readdir", dir);
	if ((unsigned long)got != n) {
		fprintf(stderr, "bench_fs: %s: %ld entries, expected %lu\n",
			dir, got, n);
		return 1;
	}
	print_total("list", n, t1 - t0, c1 - c0);
	return 0;
}

/* ---- the app-like store ------------------------------------------------- */

static void user_dir(const char *root, unsigned long user, char *out)
{
	char t[16];

	layout_tenant_name(user / LAYOUT_USERS_PER_TENANT, t);
	snprintf(out, PATH_LEN, "%s/tenant/%s/users/@%lu", root, t, user);
}

static unsigned long walked;

static int count_walked(const char *path, const struct stat *st, int flag,
			struct FTW *ftw)
{
	(void)path;
	(void)st;
	(void)ftw;
	walked++;
	return flag == FTW_NS || flag == FTW_DNR ? -1 : 0;
}

/*
 * One sample: k picks a user (or a tenant) that no other sample of this
 * operation touches. Returns the entries seen, or -1.
 */
static long sample(const char *op, const char *root, unsigned long users,
		   unsigned long k, unsigned long samples)
{
	char path[PATH_LEN], t[16];
	unsigned long stride = users / samples;
	struct stat st;

	if (!strcmp(op, "ls")) {
		user_dir(root, k * stride, path);
		long n = count_entries(path);
		return n == LAYOUT_USER_ATTRS ? n : -1;
	}
	if (!strcmp(op, "statkey")) {
		user_dir(root, k * stride + stride / 2, path);
		strcat(path, "/profile");
		return stat(path, &st) == 0 && S_ISREG(st.st_mode) ? 1 : -1;
	}
	layout_tenant_name(k * (users / LAYOUT_USERS_PER_TENANT) / samples, t);
	snprintf(path, sizeof(path), "%s/tenant/%s", root, t);
	walked = 0;
	if (nftw(path, count_walked, 64, FTW_PHYS) != 0)
		return -1;
	return (long)walked;
}

/* Samples first..last-1 of samples in all. */
static int run_samples(const char *op, const char *root, unsigned long users,
		       unsigned long samples, unsigned long first,
		       unsigned long last)
{
	unsigned long most = strcmp(op, "find") ? users / 2
						 : users / LAYOUT_USERS_PER_TENANT;
	long entries = 0;

	if (strcmp(op, "ls") && strcmp(op, "statkey") && strcmp(op, "find"))
		return 2;
	if (samples == 0 || samples > most || first >= last ||
	    last > samples) {
		fprintf(stderr, "bench_fs: samples %lu..%lu of %lu of %s: "
			"too many for %lu users\n", first, last, samples, op,
			users);
		return 1;
	}
	printf("{\"op\":\"%s\",\"samples_ns\":[", op);
	for (unsigned long k = first; k < last; k++) {
		uint64_t t0 = now_ns();
		long n = sample(op, root, users, k, samples);
		uint64_t t1 = now_ns();
		if (n < 0) {
			printf("]}\n");
			fprintf(stderr, "bench_fs: %s sample %lu failed: %s\n",
				op, k, strerror(errno));
			return 1;
		}
		entries = n;
		printf("%s%llu", k > first ? "," : "",
		       (unsigned long long)(t1 - t0));
	}
	printf("],\"entries\":%ld}\n", entries);
	return 0;
}

static int parse_count(const char *text, unsigned long *out)
{
	char *end;

	*out = strtoul(text, &end, 10);
	return *text && !*end ? 0 : -1;
}

int main(int argc, char **argv)
{
	unsigned long n, k, first, last;

	if (argc < 4 || parse_count(argv[3], &n) < 0)
		goto usage;
	if (argc == 4 && !strcmp(argv[1], "list"))
		return run_list(argv[2], n);
	if (argc == 4 || argc == 6) {
		first = 0;
		last = n;
		if (argc == 6 && (parse_count(argv[4], &first) < 0 ||
				  parse_count(argv[5], &last) < 0 ||
				  first >= last || last > n))
			goto usage;
		int r = run_files(argv[1], argv[2], first, last);
		if (r != 2)
			return r;
	}
	if ((argc == 5 || argc == 7) && parse_count(argv[4], &k) == 0) {
		first = 0;
		last = k;
		if (argc == 7 && (parse_count(argv[5], &first) < 0 ||
				  parse_count(argv[6], &last) < 0))
			goto usage;
		int r = run_samples(argv[1], argv[2], n, k, first, last);
		if (r != 2)
			return r;
	}
usage:
	fprintf(stderr,
		"usage: bench_fs create|read|stat DIR N [FIRST LAST]\n"
		"       bench_fs list DIR N\n"
		"       bench_fs ls|statkey|find ROOT USERS SAMPLES "
		"[FIRST LAST]\n");
	return 2;
}
