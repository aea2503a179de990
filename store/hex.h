/*
 * hex.h — the value of one hex digit, for store/'s readers of hex text
 * (versionstamps, the %XX escapes of etcd URIs). Internal to store/.
 */
#ifndef KVFS_STORE_HEX_H
#define KVFS_STORE_HEX_H

/* The value of hex digit c (either case), or -1 if it is none. */
static inline int store_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#endif
