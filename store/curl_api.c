/*
 * curl_api.c — loading libcurl at run time (see curl_api.h): dlopen once,
 * every function the table names looked up, then curl_global_init().
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "curl_api.h"

#define SYMBOL(f) { "curl_" #f, offsetof(struct curl_api, f) }

static const struct {
	const char *name;
	size_t offset;
} symbols[] = {
	SYMBOL(global_init),
	SYMBOL(easy_init),
	SYMBOL(easy_setopt),
	SYMBOL(easy_getinfo),
	SYMBOL(easy_perform),
	SYMBOL(easy_cleanup),
	SYMBOL(multi_init),
	SYMBOL(multi_add_handle),
	SYMBOL(multi_remove_handle),
	SYMBOL(multi_perform),
	SYMBOL(multi_poll),
	SYMBOL(multi_wakeup),
	SYMBOL(multi_info_read),
	SYMBOL(multi_cleanup),
	SYMBOL(slist_append),
	SYMBOL(slist_free_all),
};

/* Every member is one function pointer, each filled from the table. */
_Static_assert(sizeof(struct curl_api) ==
		       sizeof(symbols) / sizeof(symbols[0]) * sizeof(void *),
	       "struct curl_api and symbols[] must name the same functions");

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static struct curl_api api;
static int load_result;
static char load_error[256];

/* dlsym() gives a void *; POSIX guarantees it converts to the function's
 * pointer, and copying its bytes is how C lets that be written. */
static int resolve(void *lib)
{
	for (size_t i = 0; i < sizeof(symbols) / sizeof(symbols[0]); i++) {
		void *sym = dlsym(lib, symbols[i].name);
		if (!sym) {
			snprintf(load_error, sizeof(load_error), "%s",
				 dlerror());
			return -ELIBACC;
		}
		memcpy((char *)&api + symbols[i].offset, &sym, sizeof(sym));
	}
	return 0;
}

static void load(void)
{
	/* RTLD_LOCAL: libcurl's own dependencies (OpenSSL above all) stay
	 * out of the global namespace the rest of kvfs resolves in. */
	void *lib = dlopen(CURL_API_SONAME, RTLD_NOW | RTLD_LOCAL);

	if (!lib) {
		snprintf(load_error, sizeof(load_error), "%s", dlerror());
		load_result = -ELIBACC;
		return;
	}
	load_result = resolve(lib);
	if (load_result < 0) {
		dlclose(lib);
		return;
	}
	if (api.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(load_error, sizeof(load_error),
			 "curl_global_init() failed");
		load_result = -EIO;
	}
}

int curl_api_load(const struct curl_api **out, const char **why)
{
	pthread_once(&load_once, load);
	if (load_result < 0)
		*why = load_error;
	else
		*out = &api;
	return load_result;
}
