/*
 * http.h: the HTTP layer of `ingot serve`, a thin shell over libmicrohttpd.
 *
 * The layer owns the daemon (one thread per connection, keep-alive, a bounded
 * request body), the route table, API-key checks, access logs and the
 * response plumbing; it knows nothing of models or wire formats beyond JSON
 * error bodies. API modules (KServe v2 today, OpenAI later) add routes with
 * http_route_add: a method, a path pattern whose "{}" segments are captured,
 * a handler and an error style (how errors of that API look in JSON).
 *
 * Handlers run on the connection's own thread and may block (waiting for a
 * scheduler); they fill an http_resp with a buffer or with a streaming reader
 * (for SSE). Everything a handler reads from http_req is valid only during the
 * call.
 */
#ifndef INGOT_SERVER_HTTP_H
#define INGOT_SERVER_HTTP_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

typedef struct http_server http_server;
typedef struct http_req http_req;
typedef struct http_resp http_resp;

#define HTTP_MAX_PARAMS 4

/* How an API renders an error body. KServe: {"error": "msg"}; OpenAI (later):
 * {"error": {"message", "type", "param", "code"}}. */
typedef json_t *(*http_error_fn)(int status, const char *msg);
json_t *http_error_kserve(int status, const char *msg);

typedef void (*http_handler)(http_req *req, http_resp *resp, void *ud);

typedef struct http_config {
    const char *host;          /* "127.0.0.1", "0.0.0.0", "::1", ... */
    int port;                  /* 0: any free port (see http_server_port) */
    size_t max_body;           /* larger bodies get 413 */
    int max_connections;
    int idle_timeout_s;        /* keep-alive connections idle this long are closed */
    const char *api_key;       /* NULL or "": no authentication */
    int log_json;              /* access log format: 0 text, 1 JSON lines */
} http_config;

/* Create a server (not yet listening). NULL on allocation failure. */
http_server *http_server_create(const http_config *cfg);
/* Add a route. pattern: "/v2/models/{}/infer" ({} matches one non-empty
 * segment). public_route: reachable without the API key (health probes). */
int http_route_add(http_server *s, const char *method, const char *pattern, http_handler fn, void *ud,
                   http_error_fn errfmt, int public_route);
/* Errors for paths that match no route use this style (default KServe). */
void http_server_set_default_error(http_server *s, http_error_fn errfmt);
/* Bind and start serving. 0 ok, -1 with a message in err. */
int http_server_start(http_server *s, char *err, size_t errlen);
int http_server_port(const http_server *s);
/* Stop accepting new connections; responses from now on close their connection. */
void http_server_quiesce(http_server *s);
/* Requests being handled right now (for draining). */
int http_server_in_flight(const http_server *s);
/* Stop the daemon (closes idle connections, joins connection threads) and free. */
void http_server_free(http_server *s);
/* Counters of responses per status class for /metrics. */
void http_server_counts(const http_server *s, uint64_t counts[6] /* 1xx..5xx at [1..5] */, int *in_flight);

/* ---- requests ---- */
const char *http_req_method(const http_req *r);
const char *http_req_path(const http_req *r);
/* Captured "{}" segments, in order. */
int http_req_nparams(const http_req *r);
const char *http_req_param(const http_req *r, int i);
/* A request header (case-insensitive name) or NULL. */
const char *http_req_header(const http_req *r, const char *name);
const char *http_req_query(const http_req *r, const char *name);
const uint8_t *http_req_body(const http_req *r, size_t *len);
/* The connection's socket (-1 if unknown), to notice a client that went away while a
 * handler or stream reader waits (LLM requests cancel their sequence then). */
int http_req_socket(const http_req *r);
/* 1 when the peer of socket fd has closed the connection (never blocks). */
int http_socket_closed(int fd);
/* Parse the body (or its first len bytes) as JSON. On failure fills resp with
 * 400 and the route's error body and returns NULL. */
json_t *http_req_json(http_req *r, http_resp *resp, size_t len);

/* ---- responses ---- */
/* JSON body; takes the reference to j. */
void http_resp_json(http_resp *resp, int status, json_t *j);
/* Raw body; takes ownership of buf (malloc'd). */
void http_resp_bytes(http_resp *resp, int status, const char *content_type, void *buf, size_t len);
/* Error body in the style of the matched route. */
void http_resp_error(http_resp *resp, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Add a response header (copied). */
void http_resp_header(http_resp *resp, const char *name, const char *value);

/* Streaming body (SSE for LLM routes): reader is called on the connection
 * thread until it returns -1 (end) or -2 (error). It may block. It writes at
 * most max bytes into buf and returns how many. done frees ud. */
typedef ssize_t (*http_stream_reader)(void *ud, uint64_t pos, char *buf, size_t max);
void http_resp_stream(http_resp *resp, int status, const char *content_type, http_stream_reader reader, void *ud,
                      void (*done)(void *ud));

/* ---- helpers ---- */
/* A JSON string from bytes that may be invalid UTF-8 (bad bytes become U+FFFD). */
json_t *http_json_string_lossy(const char *s);
/* Monotonic clock in seconds. */
double http_now(void);

#endif
