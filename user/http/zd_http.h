/* The client interface of zd's HTTP module (zd-http.so; the server's is
 * metrics_http.h), built on cpp-httplib. Debian ships cpp-httplib as a
 * library that brings OpenSSL, brotli and zlib with it; linked into zdctl
 * they would add about 3 ms to every start, a switch's included. zdctl opens
 * the module only for the commands that speak HTTP (host/http.hpp).
 *
 * Plain C types only: the module and zdctl each carry their own C++ runtime
 * (zdctl links libstdc++ statically), so no C++ object crosses between them.
 */
#ifndef ZD_HTTP_H
#define ZD_HTTP_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ZD_HTTP_ABI 1

/* GET path from host:port (host a literal IPv4 or IPv6 address), giving up
 * after timeout_ms for the connect and as much again for the answer. Returns
 * the status code (> 0), or 0 on failure with the reason in error. */
typedef int (*zd_http_get_fn)(const char *host, unsigned port, const char *path,
			      unsigned timeout_ms, char *error, size_t error_len);

struct zd_http_module {
	unsigned abi; /* ZD_HTTP_ABI */
	zd_http_get_fn get;
};

/* The module's one exported symbol. */
const struct zd_http_module *zd_http(void);

#ifdef __cplusplus
}
#endif

#endif /* ZD_HTTP_H */
