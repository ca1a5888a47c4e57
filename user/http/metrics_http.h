/*
 * The server interface of zd-http.so (the client's is zd_http.h): the
 * /metrics listener of `zdctl metrics --listen`. zdctl opens the module with
 * dlopen() only when it speaks HTTP: it is built on Debian's cpp-httplib, a shared library that needs
 * OpenSSL, brotli, zlib and the shared libstdc++, and linking those into
 * zdctl made every zdctl run (every switch) start about 4 ms slower.
 *
 * Only C types cross this line: zdctl links its own static libstdc++, the
 * module the shared one. The module knows nothing of zd's state; each
 * scrape calls back into zdctl for the text.
 */
#ifndef ZD_METRICS_HTTP_H
#define ZD_METRICS_HTTP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped when anything below changes; zdctl looks up this very name. */
#define ZD_METRICS_HTTP_START "zd_metrics_http_start_v1"
#define ZD_METRICS_HTTP_STOP "zd_metrics_http_stop_v1"

struct zd_metrics_http_config {
  const char *address;      /* an IPv4 or IPv6 literal, without brackets */
  uint16_t port;            /* 0: any free port */
  const char *token;        /* NULL: none; else "Authorization: Bearer TOKEN" is required */
  const char *content_type; /* of a scrape's body */
};

/* Appends size bytes to the response being written (sink is the module's). */
typedef void (*zd_metrics_http_emit)(void *sink, const char *data, size_t size);

/*
 * Writes the body of one scrape through emit and returns 0; or writes an
 * error message and returns non-zero (the scrape then gets a 500). Called
 * from the module's worker threads, possibly at the same time.
 */
typedef int (*zd_metrics_http_render)(void *context, zd_metrics_http_emit emit, void *sink);

struct zd_metrics_http;

/*
 * Binds and serves in threads of its own. Returns NULL, with a message in
 * error (error_size bytes, NUL-terminated), when it cannot bind. *bound_port
 * is the port it listens on.
 */
typedef struct zd_metrics_http *(*zd_metrics_http_start_fn)(
    const struct zd_metrics_http_config *config, zd_metrics_http_render render, void *context,
    uint16_t *bound_port, char *error, size_t error_size);

/* Stops listening, finishes the scrapes in flight, joins its threads, frees. */
typedef void (*zd_metrics_http_stop_fn)(struct zd_metrics_http *server);

#ifdef __cplusplus
}
#endif

#endif /* ZD_METRICS_HTTP_H */
