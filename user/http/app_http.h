/*
 * The third interface of zd-http.so: the server of `zdctl serve` (the Domains
 * page, the JSON API, /metrics and a stream of server-sent events). Why HTTP
 * lives in a module, and why only C types cross: metrics_http.h.
 *
 * The module owns the transport and the rules every response follows: the
 * bearer token, bounded bodies and times, a bounded number of streams, and
 * the headers that keep a browser from being turned against the API (a
 * strict Content-Security-Policy, no caching, no framing, no referrer). What
 * a request means is zdctl's: every request that passes those rules is
 * handed to one callback.
 */
#ifndef ZD_APP_HTTP_H
#define ZD_APP_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "metrics_http.h" /* zd_metrics_http_emit */

#ifdef __cplusplus
extern "C" {
#endif

#define ZD_APP_HTTP_START "zd_app_http_start_v2"
#define ZD_APP_HTTP_STOP "zd_app_http_stop_v2"

struct zd_app_http_config {
  const char *address; /* an IPv4 or IPv6 literal, without brackets */
  uint16_t port;       /* 0: any free port */
  const char *token;   /* "Authorization: Bearer TOKEN" is required, except on public paths */
  /* Paths served without the token, NULL-terminated: the page's static files
   * (they hold no data), and /metrics when it is made public. */
  const char *const *public_paths;
  size_t max_body;         /* a longer request body gets 413 */
  /* A request to this path (NULL: none) may carry up to large_body (an
   * apply's document); max_body is then the limit for every other path. */
  const char *large_body_path;
  size_t large_body;
  const char *events_path; /* GET streams text/event-stream from `events` */
  unsigned events_interval_ms; /* how often the events are read while any stream is open */
  unsigned events_max_seconds; /* a stream ends then; EventSource-style clients reconnect */
  unsigned max_streams;        /* more at once get 503 */
  /* 0 for each of these: the module's default (event_server.hpp). */
  unsigned max_connections; /* open at once; a new one beyond is closed at once */
  unsigned max_per_client;  /* open at once from one address; beyond, closed at once */
  unsigned head_timeout_ms; /* a request's whole head; then the connection is closed */
  unsigned body_timeout_ms; /* a request's whole body, from its head; then 408 */
};

struct zd_app_http_request {
  const char *method;
  const char *path;
  const char *query; /* "k=v&k=v", decoded values; "" when none */
  const char *body;
  size_t body_size;
};

/*
 * Answers one request: writes the body through emit, the content type into
 * content_type (NUL-terminated, at most content_type_size bytes) and returns
 * the status code. Called from the module's worker threads, possibly at the
 * same time; must not throw.
 */
typedef int (*zd_app_http_handle)(void *context, const struct zd_app_http_request *request,
                                  char *content_type, size_t content_type_size,
                                  zd_metrics_http_emit emit, void *sink);

/*
 * Writes one event's data (one line of JSON) through emit and returns 0, or
 * returns non-zero to end every stream (clients reconnect). Called once per
 * events_interval_ms for all the streams open, never twice at once; an
 * event equal to the last one sent is not sent again.
 */
typedef int (*zd_app_http_event)(void *context, zd_metrics_http_emit emit, void *sink);

struct zd_app_http;

typedef struct zd_app_http *(*zd_app_http_start_fn)(const struct zd_app_http_config *config,
                                                    zd_app_http_handle handle,
                                                    zd_app_http_event event, void *context,
                                                    uint16_t *bound_port, char *error,
                                                    size_t error_size);

/* Stops listening, ends the streams, finishes requests in flight, frees. */
typedef void (*zd_app_http_stop_fn)(struct zd_app_http *server);

#ifdef __cplusplus
}
#endif

#endif /* ZD_APP_HTTP_H */
