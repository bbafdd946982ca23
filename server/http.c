/*
 * http.c: the HTTP layer of `ingot serve` on libmicrohttpd (see http.h).
 *
 * One thread per connection (MHD's internal polling thread accepts), HTTP/1.1
 * keep-alive, a bounded body buffer (413 beyond --max-body-bytes: the excess is
 * read and dropped so the client sees the answer instead of a reset), API-key
 * checks, a route table matched segment by segment, and one access-log line per
 * request written when MHD reports the request complete. Nothing from a request
 * can abort: every size is checked and every failure becomes an error reply.
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <dlfcn.h>
#include <microhttpd.h>

/* libmicrohttpd is loaded when the first server starts, not with the process: the other
 * commands then map neither it nor GnuTLS and the libraries GnuTLS brings (about 2.5 MiB
 * resident). These are the functions ingot calls. */
static struct {
    __typeof__(MHD_start_daemon) *start_daemon;
    __typeof__(MHD_get_daemon_info) *get_daemon_info;
    __typeof__(MHD_quiesce_daemon) *quiesce_daemon;
    __typeof__(MHD_stop_daemon) *stop_daemon;
    __typeof__(MHD_lookup_connection_value) *lookup_connection_value;
    __typeof__(MHD_get_connection_info) *get_connection_info;
    __typeof__(MHD_create_response_from_callback) *create_response_from_callback;
    __typeof__(MHD_create_response_from_buffer) *create_response_from_buffer;
    __typeof__(MHD_add_response_header) *add_response_header;
    __typeof__(MHD_queue_response) *queue_response;
    __typeof__(MHD_destroy_response) *destroy_response;
} mhd;
static pthread_once_t mhd_once = PTHREAD_ONCE_INIT;
static char mhd_error[256];

static void mhd_load(void) {
    static const char *const libs[] = {"libmicrohttpd.so.12", "libmicrohttpd.so"};
    void *h = NULL;
    for (size_t i = 0; i < sizeof libs / sizeof *libs && !h; i++) h = dlopen(libs[i], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        snprintf(mhd_error, sizeof mhd_error, "cannot load libmicrohttpd (libmicrohttpd.so.12): %s", why ? why : "?");
        return;
    }
    struct { void **slot; const char *name; } fns[] = {
        {(void **)&mhd.start_daemon, "MHD_start_daemon"},
        {(void **)&mhd.get_daemon_info, "MHD_get_daemon_info"},
        {(void **)&mhd.quiesce_daemon, "MHD_quiesce_daemon"},
        {(void **)&mhd.stop_daemon, "MHD_stop_daemon"},
        {(void **)&mhd.lookup_connection_value, "MHD_lookup_connection_value"},
        {(void **)&mhd.get_connection_info, "MHD_get_connection_info"},
        {(void **)&mhd.create_response_from_callback, "MHD_create_response_from_callback"},
        {(void **)&mhd.create_response_from_buffer, "MHD_create_response_from_buffer"},
        {(void **)&mhd.add_response_header, "MHD_add_response_header"},
        {(void **)&mhd.queue_response, "MHD_queue_response"},
        {(void **)&mhd.destroy_response, "MHD_destroy_response"},
    };
    for (size_t i = 0; i < sizeof fns / sizeof *fns; i++) {
        if (!(*fns[i].slot = dlsym(h, fns[i].name))) {
            snprintf(mhd_error, sizeof mhd_error, "libmicrohttpd has no %s", fns[i].name);
            mhd.start_daemon = NULL;
            return;
        }
    }
}

#define HTTP_MAX_ROUTES 64
#define HTTP_MAX_SEGS 16
#define HTTP_MAX_RESP_HEADERS 8

typedef struct http_route {
    char method[8];
    char *segs[HTTP_MAX_SEGS]; /* NULL entry = "{}" */
    int nsegs;
    http_handler fn;
    void *ud;
    http_error_fn errfmt;
    int public_route;
} http_route;

struct http_server {
    http_config cfg; /* strings below are owned copies */
    char *host;
    char *api_key;
    http_route routes[HTTP_MAX_ROUTES];
    int nroutes;
    http_error_fn default_err;
    struct MHD_Daemon *daemon;
    int port;
    atomic_int in_flight;
    atomic_int quiesced;
    atomic_uint_fast64_t counts[6];
};

struct http_resp {
    int status;
    char *body;
    size_t len;
    char content_type[64];
    char *hdr_name[HTTP_MAX_RESP_HEADERS];
    char *hdr_value[HTTP_MAX_RESP_HEADERS];
    int nhdr;
    http_stream_reader reader;
    void *reader_ud;
    void (*reader_done)(void *);
    http_error_fn errfmt;
};

struct http_req {
    http_server *srv;
    struct MHD_Connection *conn;
    char method[16];
    char *path;
    char *segs_owner;          /* the copy of the path that segs point into */
    char *segs[HTTP_MAX_SEGS]; /* its '/'-separated segments */
    int nsegs;
    const char *params[HTTP_MAX_PARAMS];
    int nparams;
    uint8_t *body;
    size_t len, cap;
    int too_large;
    int answered; /* a response was queued before the body (early 413) */
    double t0;
    int status;
    long long bytes_out; /* -1 for streams */
    char remote[64];
};

double http_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- UTF-8 ------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 when invalid. */
static int utf8_seq(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    int len;
    unsigned min;
    if ((c & 0xE0) == 0xC0) len = 2, min = 0x80;
    else if ((c & 0xF0) == 0xE0) len = 3, min = 0x800;
    else if ((c & 0xF8) == 0xF0) len = 4, min = 0x10000;
    else return 0;
    if ((size_t)len > n) return 0;
    unsigned cp = c & (0x7F >> len);
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

json_t *http_json_string_lossy(const char *s) {
    if (!s) s = "";
    size_t n = strlen(s);
    char *out = malloc(n * 3 + 1);
    if (!out) return json_string("(out of memory)");
    size_t o = 0;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        int k = utf8_seq(u + i, n - i);
        if (k == 0) {
            out[o++] = (char)0xEF, out[o++] = (char)0xBF, out[o++] = (char)0xBD;
            i++;
        } else {
            memcpy(out + o, u + i, (size_t)k);
            o += (size_t)k, i += (size_t)k;
        }
    }
    json_t *j = json_stringn(out, o);
    free(out);
    return j ? j : json_string("");
}

json_t *http_error_kserve(int status, const char *msg) {
    (void)status;
    json_t *o = json_object();
    if (o) json_object_set_new(o, "error", http_json_string_lossy(msg));
    return o;
}

/* ---- server setup ------------------------------------------------------ */

http_server *http_server_create(const http_config *cfg) {
    http_server *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->cfg = *cfg;
    s->host = strdup(cfg->host ? cfg->host : "127.0.0.1");
    s->api_key = cfg->api_key && cfg->api_key[0] ? strdup(cfg->api_key) : NULL;
    if (!s->host || (cfg->api_key && cfg->api_key[0] && !s->api_key)) {
        free(s->host), free(s->api_key), free(s);
        return NULL;
    }
    s->cfg.host = s->host;
    s->cfg.api_key = s->api_key;
    if (s->cfg.max_body == 0) s->cfg.max_body = 64u << 20;
    if (s->cfg.max_connections <= 0) s->cfg.max_connections = 256;
    if (s->cfg.idle_timeout_s <= 0) s->cfg.idle_timeout_s = 60;
    s->default_err = http_error_kserve;
    return s;
}

void http_server_set_default_error(http_server *s, http_error_fn errfmt) { s->default_err = errfmt; }

int http_route_add(http_server *s, const char *method, const char *pattern, http_handler fn, void *ud,
                   http_error_fn errfmt, int public_route) {
    if (s->nroutes >= HTTP_MAX_ROUTES || strlen(method) >= sizeof s->routes[0].method) return -1;
    http_route *r = &s->routes[s->nroutes];
    memset(r, 0, sizeof *r);
    strcpy(r->method, method);
    const char *p = pattern;
    while (*p) {
        while (*p == '/') p++;
        if (!*p) break;
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (r->nsegs >= HTTP_MAX_SEGS) return -1;
        if (n == 2 && !memcmp(p, "{}", 2)) {
            r->segs[r->nsegs++] = NULL;
        } else {
            char *seg = strndup(p, n);
            if (!seg) return -1;
            r->segs[r->nsegs++] = seg;
        }
        p += n;
    }
    r->fn = fn, r->ud = ud, r->errfmt = errfmt ? errfmt : http_error_kserve;
    r->public_route = public_route;
    s->nroutes++;
    return 0;
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    size_t n = strlen(buf);
    while (n && buf[n - 1] == '\n') buf[--n] = 0;
    fprintf(stderr, "ingot serve: http: %s\n", buf);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_size,
                                  void **con_cls);
/* Copy s into out escaping control bytes and quotes, so a request cannot forge log lines. */
static void log_escape(char *out, size_t cap, const char *s) {
    size_t o = 0;
    for (; *s && o + 5 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f || c == '"') o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
        else out[o++] = (char)c;
    }
    out[o] = 0;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe);

int http_server_start(http_server *s, char *err, size_t errlen) {
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", s->cfg.port);
    int rc = getaddrinfo(s->host, portstr, &hints, &ai);
    if (rc != 0 || !ai) {
        snprintf(err, errlen, "cannot resolve host '%s': %s", s->host, gai_strerror(rc));
        return -1;
    }
    pthread_once(&mhd_once, mhd_load);
    if (!mhd.start_daemon) {
        freeaddrinfo(ai);
        snprintf(err, errlen, "%s", mhd_error);
        return -1;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
                     MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    s->daemon = mhd.start_daemon(
        flags, (uint16_t)s->cfg.port, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)s->cfg.max_connections, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->cfg.idle_timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024), MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!s->daemon) {
        snprintf(err, errlen, "cannot listen on %s:%d: %s", s->host, s->cfg.port, strerror(errno));
        return -1;
    }
    const union MHD_DaemonInfo *info = mhd.get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : s->cfg.port;
    return 0;
}

int http_server_port(const http_server *s) { return s->port; }

void http_server_quiesce(http_server *s) {
    if (!s->daemon || atomic_exchange(&s->quiesced, 1)) return;
    MHD_socket fd = mhd.quiesce_daemon(s->daemon);
    if (fd != MHD_INVALID_SOCKET) close(fd);
}

int http_server_in_flight(const http_server *s) { return atomic_load(&s->in_flight); }

void http_server_counts(const http_server *s, uint64_t counts[6], int *in_flight) {
    for (int i = 0; i < 6; i++) counts[i] = atomic_load(&s->counts[i]);
    *in_flight = atomic_load(&s->in_flight);
}

void http_server_free(http_server *s) {
    if (!s) return;
    if (s->daemon) mhd.stop_daemon(s->daemon);
    for (int i = 0; i < s->nroutes; i++)
        for (int k = 0; k < s->routes[i].nsegs; k++) free(s->routes[i].segs[k]);
    free(s->host);
    free(s->api_key);
    free(s);
}

/* ---- requests ---------------------------------------------------------- */

const char *http_req_method(const http_req *r) { return r->method; }
const char *http_req_path(const http_req *r) { return r->path; }
int http_req_nparams(const http_req *r) { return r->nparams; }
const char *http_req_param(const http_req *r, int i) { return i >= 0 && i < r->nparams ? r->params[i] : NULL; }
const char *http_req_header(const http_req *r, const char *name) {
    return mhd.lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}
const char *http_req_query(const http_req *r, const char *name) {
    return mhd.lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}
const uint8_t *http_req_body(const http_req *r, size_t *len) {
    *len = r->len;
    return r->body ? r->body : (const uint8_t *)"";
}

int http_req_socket(const http_req *r) {
    const union MHD_ConnectionInfo *ci = mhd.get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? (int)ci->connect_fd : -1;
}

int http_socket_closed(int fd) {
    if (fd < 0) return 0;
#ifdef POLLRDHUP
    struct pollfd p = {fd, POLLIN | POLLRDHUP, 0};
    if (poll(&p, 1, 0) <= 0) return 0;
    if (p.revents & (POLLHUP | POLLERR | POLLRDHUP)) return 1;
#else
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 0) <= 0) return 0;
    if (p.revents & (POLLHUP | POLLERR)) return 1;
#endif
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

json_t *http_req_json(http_req *r, http_resp *resp, size_t len) {
    if (len > r->len) len = r->len;
    if (len == 0) {
        http_resp_error(resp, 400, "malformed JSON: empty body");
        return NULL;
    }
    json_error_t e;
    json_t *j = json_loadb((const char *)r->body, len, 0, &e);
    if (!j) {
        http_resp_error(resp, 400, "malformed JSON: %s (byte %d of %zu)", e.text, e.position, len);
        return NULL;
    }
    return j;
}

/* ---- responses --------------------------------------------------------- */

static void resp_reset_body(http_resp *resp) {
    free(resp->body);
    resp->body = NULL;
    resp->len = 0;
    if (resp->reader_done) resp->reader_done(resp->reader_ud);
    resp->reader = NULL, resp->reader_ud = NULL, resp->reader_done = NULL;
}

void http_resp_bytes(http_resp *resp, int status, const char *content_type, void *buf, size_t len) {
    resp_reset_body(resp);
    resp->status = status;
    resp->body = buf;
    resp->len = len;
    snprintf(resp->content_type, sizeof resp->content_type, "%s", content_type ? content_type : "");
}

void http_resp_json(http_resp *resp, int status, json_t *j) {
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s) {
        /* Only allocation failure gets here; answer without allocating more. */
        static const char oom[] = "{\"error\":\"out of memory\"}";
        char *b = malloc(sizeof oom);
        if (b) memcpy(b, oom, sizeof oom);
        http_resp_bytes(resp, 500, "application/json", b, b ? sizeof oom - 1 : 0);
        return;
    }
    http_resp_bytes(resp, status, "application/json", s, strlen(s));
}

void http_resp_error(http_resp *resp, int status, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    http_error_fn f = resp->errfmt ? resp->errfmt : http_error_kserve;
    http_resp_json(resp, status, f(status, msg));
}

void http_resp_header(http_resp *resp, const char *name, const char *value) {
    if (resp->nhdr >= HTTP_MAX_RESP_HEADERS) return;
    char *n = strdup(name), *v = strdup(value);
    if (!n || !v) {
        free(n), free(v);
        return;
    }
    resp->hdr_name[resp->nhdr] = n;
    resp->hdr_value[resp->nhdr] = v;
    resp->nhdr++;
}

void http_resp_stream(http_resp *resp, int status, const char *content_type, http_stream_reader reader, void *ud,
                      void (*done)(void *ud)) {
    resp_reset_body(resp);
    resp->status = status;
    resp->reader = reader, resp->reader_ud = ud, resp->reader_done = done;
    snprintf(resp->content_type, sizeof resp->content_type, "%s", content_type ? content_type : "");
}

static void resp_clear(http_resp *resp) {
    resp_reset_body(resp);
    for (int i = 0; i < resp->nhdr; i++) free(resp->hdr_name[i]), free(resp->hdr_value[i]);
    resp->nhdr = 0;
}

/* Hand resp to MHD. Returns MHD's verdict; resp is cleared either way. */
static enum MHD_Result send_resp(http_req *r, http_resp *resp) {
    http_server *s = r->srv;
    struct MHD_Response *m;
    if (resp->reader) {
        m = mhd.create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, resp->reader, resp->reader_ud,
                                              resp->reader_done);
        if (m) resp->reader = NULL, resp->reader_ud = NULL, resp->reader_done = NULL;
        r->bytes_out = -1;
    } else {
        m = mhd.create_response_from_buffer(resp->len, resp->body ? resp->body : (void *)"",
                                            resp->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
        if (m) resp->body = NULL;
        r->bytes_out = (long long)resp->len;
    }
    if (!m) {
        resp_clear(resp);
        return MHD_NO;
    }
    if (resp->content_type[0]) mhd.add_response_header(m, "Content-Type", resp->content_type);
    for (int i = 0; i < resp->nhdr; i++) mhd.add_response_header(m, resp->hdr_name[i], resp->hdr_value[i]);
    if (atomic_load(&s->quiesced)) mhd.add_response_header(m, "Connection", "close");
    r->status = resp->status;
    enum MHD_Result ret = mhd.queue_response(r->conn, (unsigned)resp->status, m);
    mhd.destroy_response(m);
    resp_clear(resp);
    r->answered = 1;
    return ret;
}

/* ---- dispatch ---------------------------------------------------------- */

static int split_path(http_req *r, const char *url) {
    r->path = strdup(url);
    r->segs_owner = strdup(url); /* split in place; r->path stays whole for logs */
    if (!r->path || !r->segs_owner) return -1;
    r->nsegs = 0;
    char *q = r->segs_owner;
    while (*q) {
        while (*q == '/') *q++ = 0;
        if (!*q) break;
        if (r->nsegs >= HTTP_MAX_SEGS) {
            r->nsegs = HTTP_MAX_SEGS + 1; /* too deep: matches no route */
            break;
        }
        r->segs[r->nsegs++] = q;
        while (*q && *q != '/') q++;
    }
    return 0;
}

static int route_matches(const http_route *rt, const http_req *r, const char **params, int *nparams) {
    if (rt->nsegs != r->nsegs) return 0;
    int np = 0;
    for (int i = 0; i < rt->nsegs; i++) {
        if (rt->segs[i]) {
            if (strcmp(rt->segs[i], r->segs[i])) return 0;
        } else {
            if (np >= HTTP_MAX_PARAMS) return 0;
            params[np++] = r->segs[i];
        }
    }
    *nparams = np;
    return 1;
}

static int auth_ok(const http_server *s, const http_req *r) {
    if (!s->api_key) return 1;
    const char *h = http_req_header(r, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7)) return 0;
    h += 7;
    while (*h == ' ') h++;
    size_t a = strlen(h), b = strlen(s->api_key);
    /* Constant time in the key's content. */
    unsigned diff = (unsigned)(a != b);
    for (size_t i = 0; i < b; i++) diff |= (unsigned)(unsigned char)s->api_key[i] ^ (unsigned char)(i < a ? h[i] : 0);
    return diff == 0;
}

static enum MHD_Result dispatch(http_server *s, http_req *r) {
    http_resp resp;
    memset(&resp, 0, sizeof resp);
    resp.errfmt = s->default_err;
    const http_route *found = NULL;
    int path_known = 0;
    const char *params[HTTP_MAX_PARAMS];
    int np = 0;
    for (int i = 0; i < s->nroutes; i++) {
        int n = 0;
        const char *p[HTTP_MAX_PARAMS];
        if (!route_matches(&s->routes[i], r, p, &n)) continue;
        path_known = 1;
        resp.errfmt = s->routes[i].errfmt;
        if (strcmp(s->routes[i].method, r->method)) continue;
        found = &s->routes[i];
        memcpy(params, p, sizeof p);
        np = n;
        break;
    }
    if (!found) {
        if (path_known) {
            http_resp_header(&resp, "Allow", "GET, POST");
            http_resp_error(&resp, 405, "method %s not allowed on %s", r->method, r->path);
        } else {
            http_resp_error(&resp, 404, "no route for %s %s", r->method, r->path);
        }
        return send_resp(r, &resp);
    }
    if (!found->public_route && !auth_ok(s, r)) {
        http_resp_header(&resp, "WWW-Authenticate", "Bearer");
        http_resp_error(&resp, 401, "missing or invalid API key (send 'Authorization: Bearer KEY')");
        return send_resp(r, &resp);
    }
    if (r->too_large) {
        http_resp_error(&resp, 413, "request body larger than the limit of %zu bytes", s->cfg.max_body);
        return send_resp(r, &resp);
    }
    const char *enc = http_req_header(r, "Content-Encoding");
    if (enc && strcasecmp(enc, "identity")) {
        http_resp_error(&resp, 415, "Content-Encoding '%s' is not supported", enc);
        return send_resp(r, &resp);
    }
    memcpy(r->params, params, sizeof params);
    r->nparams = np;
    resp.status = 200;
    found->fn(r, &resp, found->ud);
    if (!resp.body && !resp.reader && resp.status == 0) http_resp_error(&resp, 500, "handler gave no response");
    return send_resp(r, &resp);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_size,
                                  void **con_cls) {
    (void)version;
    http_server *s = cls;
    http_req *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r) return MHD_NO;
        *con_cls = r;
        atomic_fetch_add(&s->in_flight, 1);
        r->srv = s;
        r->conn = conn;
        r->t0 = http_now();
        r->status = 0;
        snprintf(r->method, sizeof r->method, "%s", method);
        const union MHD_ConnectionInfo *ci = mhd.get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        snprintf(r->remote, sizeof r->remote, "-");
        if (ci && ci->client_addr) {
            const struct sockaddr *sa = ci->client_addr;
            if (sa->sa_family == AF_INET)
                inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, r->remote,
                          sizeof r->remote);
            else if (sa->sa_family == AF_INET6)
                inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, r->remote,
                          sizeof r->remote);
        }
        if (split_path(r, url ? url : "/") != 0) return MHD_NO;
        const char *cl = mhd.lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            int bad = errno != 0 || end == cl || *end;
            if (bad || n > s->cfg.max_body) {
                r->too_large = 1;
                const char *expect = mhd.lookup_connection_value(conn, MHD_HEADER_KIND, "Expect");
                /* Reading a huge body only to drop it is pointless; a client that
                 * waits for 100-continue never sends it anyway. */
                if (expect || bad || n > (unsigned long long)s->cfg.max_body * 4 + (1u << 20)) {
                    return dispatch(s, r);
                }
            } else if (n > 0) {
                /* Preallocate what was announced, up to 1 MiB: an announcement costs nothing to make. */
                size_t cap = n < (1u << 20) ? (size_t)n : (1u << 20);
                r->body = malloc(cap);
                if (!r->body) return MHD_NO;
                r->cap = cap;
            }
        }
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (r->answered || r->too_large) return MHD_YES;
        if (n > s->cfg.max_body - r->len) {
            r->too_large = 1;
            free(r->body);
            r->body = NULL;
            r->len = r->cap = 0;
            return MHD_YES;
        }
        if (r->len + n > r->cap) {
            size_t cap = r->cap ? r->cap : 4096;
            while (cap < r->len + n) cap = cap > s->cfg.max_body / 2 ? s->cfg.max_body : cap * 2;
            uint8_t *b = realloc(r->body, cap);
            if (!b) return MHD_NO;
            r->body = b, r->cap = cap;
        }
        memcpy(r->body + r->len, upload_data, n);
        r->len += n;
        return MHD_YES;
    }
    if (r->answered) return MHD_YES;
    return dispatch(s, r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)conn;
    http_server *s = cls;
    http_req *r = *con_cls;
    if (!r) return;
    *con_cls = NULL;
    double ms = (http_now() - r->t0) * 1e3;
    int status = r->status;
    if (status >= 100 && status < 600) atomic_fetch_add(&s->counts[status / 100], 1);
    const char *how = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (aborted)";
    char line[1200];
    json_t *j = NULL;
    if (s->cfg.log_json) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        j = json_pack("{s:f, s:s, s:s, s:o, s:i, s:I, s:f, s:b}", "ts", (double)ts.tv_sec + ts.tv_nsec * 1e-9,
                      "remote", r->remote, "method", r->method, "path", http_json_string_lossy(r->path ? r->path : ""),
                      "status", status, "bytes", (json_int_t)r->bytes_out, "duration_ms", ms, "completed",
                      toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);
        char *t = j ? json_dumps(j, JSON_COMPACT) : NULL;
        snprintf(line, sizeof line, "%s\n", t ? t : "{}");
        free(t);
        json_decref(j);
    } else {
        char bytes[32];
        if (r->bytes_out < 0) snprintf(bytes, sizeof bytes, "-");
        else snprintf(bytes, sizeof bytes, "%lld", r->bytes_out);
        char path[512], meth[64];
        log_escape(path, sizeof path, r->path ? r->path : "");
        log_escape(meth, sizeof meth, r->method);
        snprintf(line, sizeof line, "%s \"%s %s\" %d %s %.2fms%s\n", r->remote, meth, path, status, bytes, ms, how);
    }
    fputs(line, stderr);
    free(r->path);
    free(r->segs_owner);
    free(r->body);
    free(r);
    atomic_fetch_sub(&s->in_flight, 1);
}
