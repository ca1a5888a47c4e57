/*
 * The etcd half of zd-http.so: POST a JSON body to etcd's JSON gateway
 * (/v3/kv/range, /v3/watch, ...) and stream the answer back. zdctl speaks
 * etcd's API itself (user/cluster/etcd.hpp); only the HTTP, and with it
 * TLS, is here, on cpp-httplib like the rest of the module (zd_http.h says
 * why it is a module). Plain C types only.
 */
#ifndef ZD_ETCD_HTTP_H
#define ZD_ETCD_HTTP_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped when anything below changes; zdctl looks up this very name. */
#define ZD_ETCD_HTTP_POST "zd_etcd_http_post_v1"

/* Client TLS for https:// endpoints: files in PEM; NULL for none. */
struct zd_etcd_tls {
	const char *cacert;
	const char *cert;
	const char *key;
};

/* Receives the answer's body as it arrives; returns 0 to stop reading. */
typedef int (*zd_etcd_data_fn)(void *ctx, const char *data, size_t len);

/*
 * POSTs body to endpoint (http://HOST:PORT or https://HOST:PORT) + path,
 * connecting within connect_timeout_ms, and gives the body of the answer to
 * on_data; a read that waits longer than read_timeout_ms for more ends it.
 * Returns the HTTP status (> 0), or 0 with the reason in error (a status
 * already read, then a stop or a timeout, still returns the status).
 */
typedef int (*zd_etcd_http_post_fn)(const char *endpoint, const char *path, const char *body,
				    size_t body_len, const struct zd_etcd_tls *tls,
				    unsigned connect_timeout_ms, unsigned read_timeout_ms,
				    zd_etcd_data_fn on_data, void *ctx, char *error,
				    size_t error_len);

#ifdef __cplusplus
}
#endif

#endif /* ZD_ETCD_HTTP_H */
