/*
 * curl_api.h — libcurl, loaded when an etcd store is first opened rather
 * than linked into every kvfs command: a table of the libcurl functions
 * etcd_client.c calls, filled once by dlopen("libcurl.so.4") and dlsym.
 *
 * Linking libcurl brought some 30 shared libraries (OpenSSL, GSSAPI, LDAP,
 * SSH, nghttp2, ...) into a process that only reads a SQLite file, and the
 * cost of mapping them on every start. Only <curl/curl.h> is used at build
 * time, for the types and constants: libcurl's ABI has kept SONAME 4, and
 * with it these signatures, since 2006, so the headers of any 7.x or 8.x
 * describe the library found at run time.
 *
 * Internal to store/: only etcd_client.c uses it.
 */
#ifndef KVFS_CURL_API_H
#define KVFS_CURL_API_H

#include <curl/curl.h>

#define CURL_API_SONAME "libcurl.so.4"

/* Named after curl's functions without their "curl_" prefix, with the
 * signatures curl.h declares (setopt and getinfo variadic, as there). */
struct curl_api {
	CURLcode (*global_init)(long flags);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *curl, CURLoption option, ...);
	CURLcode (*easy_getinfo)(CURL *curl, CURLINFO info, ...);
	CURLcode (*easy_perform)(CURL *curl);
	void (*easy_cleanup)(CURL *curl);
	CURLM *(*multi_init)(void);
	CURLMcode (*multi_add_handle)(CURLM *multi, CURL *curl);
	CURLMcode (*multi_remove_handle)(CURLM *multi, CURL *curl);
	CURLMcode (*multi_perform)(CURLM *multi, int *running);
	CURLMcode (*multi_poll)(CURLM *multi, struct curl_waitfd extra[],
				unsigned n_extra, int timeout_ms, int *ret);
	CURLMcode (*multi_wakeup)(CURLM *multi);
	CURLMsg *(*multi_info_read)(CURLM *multi, int *left);
	CURLMcode (*multi_cleanup)(CURLM *multi);
	struct curl_slist *(*slist_append)(struct curl_slist *list,
					   const char *s);
	void (*slist_free_all)(struct curl_slist *list);
};

/*
 * Load libcurl and run curl_global_init() on the first call, from any
 * thread; later calls return what the first found. 0 and *api the table;
 * -ELIBACC when the library or one of its functions is missing, -EIO when
 * curl_global_init() failed, and *why says which (dlerror()'s text).
 * Once loaded, the library stays for the life of the process.
 */
int curl_api_load(const struct curl_api **api, const char **why);

#endif
