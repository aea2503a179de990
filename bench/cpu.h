/*
 * cpu.h — the CPU time a benchmark phase costs, shared by the drivers
 * (bench_fs, bench_store): this process's own, plus that of every process
 * named in the environment variable BENCH_CPU_PIDS (space-separated pids:
 * the FUSE daemon, the etcd members), since the work a driver asks for is
 * partly done in those, and a loaded machine distorts CPU time less than
 * the time taken.
 */
#ifndef KVFS_BENCH_CPU_H
#define KVFS_BENCH_CPU_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

static inline uint64_t own_cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) *
		       1000000000u +
	       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) *
		       1000u;
}

/*
 * CPU time of process pid: the sum over its threads of the first field of
 * /proc/PID/task/TID/schedstat, in nanoseconds (clock ticks of 10 ms, as in
 * /proc/PID/stat, would be too coarse for a phase of a few ms). A thread
 * that exits meanwhile takes its time along; libfuse keeps its idle
 * workers (up to 10) and Go keeps its threads, so few do here. 0 when
 * unreadable.
 */
static inline uint64_t process_cpu_ns(unsigned long pid)
{
	char path[128];
	unsigned long long ns, sum = 0;
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%lu/task", pid);
	if (!(d = opendir(path)))
		return 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%lu/task/%.32s/schedstat",
			 pid, de->d_name);
		FILE *f = fopen(path, "r");
		if (f && fscanf(f, "%llu", &ns) == 1)
			sum += ns;
		if (f)
			fclose(f);
	}
	closedir(d);
	return sum;
}

static inline uint64_t cpu_ns(void)
{
	const char *p = getenv("BENCH_CPU_PIDS");
	uint64_t sum = own_cpu_ns();
	char *end;

	while (p && *p) {
		unsigned long pid = strtoul(p, &end, 10);
		if (end == p)
			break;
		sum += process_cpu_ns(pid);
		p = end;
	}
	return sum;
}

#endif
