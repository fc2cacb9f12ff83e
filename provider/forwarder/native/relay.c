/*
 * dnlb_relay: the data plane's sockets in C, on Node's own libuv loop.
 *
 * Why: a proxied connection through two net.Socket objects costs 2.7x HAProxy's CPU
 * (stream state machines, event emitters, a fresh buffer per read; see docs/BENCHMARKS.md).
 * Here a connection is one malloc'd struct with three libuv handles; bytes are read into one
 * shared buffer and written straight on with uv_try_write, so an idle or a flowing connection
 * owns no buffer at all; only bytes the peer cannot take yet are copied (and reading from their
 * source stops until they are written: back-pressure).
 *
 * What stays in JavaScript (provider/forwarder/dataplane): routing (flow hash, Maglev lookup,
 * fallback candidates), limits, draining, idle sweeps and accounting. JavaScript hears of a
 * connection three times: accepted (it answers with connect or reset), connect result (it answers
 * with the next candidate or reset), closed (with final byte counts). UDP (the section "UDP"
 * below): JavaScript hears of a session twice, when a new client's first datagram arrives (it
 * answers with the member, or closes the session) and when the session has ended; the datagrams
 * in between never reach it.
 *
 * Single-threaded: everything runs on the loop's thread, and a flow (or a UDP session with a
 * socket) is freed only in libuv close callbacks, never inside a call from JavaScript, so its id
 * stays valid for the whole of any call that names it.
 */
#define _GNU_SOURCE /* accept4, recvmmsg, sendmmsg */
#include <node_api.h>
#include <uv.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

/*
 * 32 KiB, not libuv's suggested 64 KiB: the buffer stays in the CPU's cache between the read and
 * the write. Measured with one iperf3 stream on one pinned core: 64 KiB 9-12 Gbit/s at 590-850 ms
 * of CPU per GB, 32 KiB 17 Gbit/s at 300 ms/GB, 16 KiB 15-16 Gbit/s at 330-490 ms/GB.
 */
#define READ_BUFFER_SIZE (32 * 1024)
#define LISTEN_BACKLOG 511
#define MAX_ACCEPT 16
#define ACCEPT_BACKOFF_MS 100

typedef struct flow_s flow_t;

/* One direction of a flow: bytes read from `from`, written to `to`. */
typedef struct {
  flow_t* flow;
  uv_tcp_t* from;
  uv_tcp_t* to;
  uv_write_t write_req;
  uv_shutdown_t shutdown_req;
  char* pending;     /* bytes `to` did not take yet (a write in flight) */
  uint8_t writing;   /* write_req in flight */
  uint8_t eof;       /* FIN received on `from` */
  uint8_t shut;      /* FIN passed on to `to` */
  double bytes;      /* read from `from` */
} direction_t;

enum backend_state { BACKEND_NONE, BACKEND_CONNECTING, BACKEND_CONNECTED, BACKEND_FAILING };

struct flow_s {
  uint32_t id;
  uv_tcp_t client;
  uv_tcp_t backend;
  uv_timer_t timer;       /* connect timeout */
  uv_connect_t connect_req;
  uv_write_t header_req;
  char* header;           /* PROXY protocol header to write first */
  size_t header_len;
  uint64_t connect_timeout_ms;
  direction_t up;         /* client -> backend */
  direction_t down;       /* backend -> client */
  int open_handles;       /* initialised handles whose close callback has not run */
  int fail_status;        /* why the current connect attempt failed */
  uint8_t backend_state;
  uint8_t closing;
  uint8_t had_error;
};

/*
 * A listening socket of our own, watched with uv_poll, rather than uv_listen: libuv accepts every
 * pending client in one go, so a burst of new clients delays the bytes of those already in; here
 * at most MAX_ACCEPT clients are taken per loop turn (HAProxy's tune.maxaccept), and accept4
 * hands over the peer's address, which saves the getpeername (and, for a listener on one
 * address, the getsockname) that each client cost.
 */
typedef struct {
  int32_t id;
  int fd;
  uv_poll_t poll;
  uv_timer_t backoff;    /* TCP: out of descriptors, accepting pauses briefly instead of spinning */
  int open_handles;
  int sessions;          /* UDP: sessions not freed yet, which send their answers from `fd` */
  uint8_t udp;
  uint8_t wildcard;      /* bound to 0.0.0.0 or ::, so each client's local address is asked for */
  char local_name[64];
  int local_port;
} listener_t;

static napi_env g_env;
static napi_ref g_on_accept, g_on_connect, g_on_close, g_on_listen_error;
static napi_async_context g_async;
static uv_loop_t* g_loop;
static char g_read_buffer[READ_BUFFER_SIZE];
static uint8_t g_read_buffer_lent;

/* Flows and UDP sessions are named to JavaScript by small integers, reused once freed. */
typedef struct {
  void** items;        /* id -> item, NULL when free */
  uint32_t* free_ids;
  uint32_t capacity;
  uint32_t free_count;
  uint32_t next;       /* ids below this have been handed out */
} id_table_t;

static id_table_t g_flows;

static listener_t** g_listeners;
static int32_t g_listener_capacity;

/* ---- calling JavaScript ------------------------------------------------------------------ */

static void call_js(napi_ref ref, size_t argc, napi_value* argv) {
  napi_value fn, recv, result;
  napi_get_reference_value(g_env, ref, &fn);
  napi_get_global(g_env, &recv); /* MakeCallback wants an object as `this` */
  if (napi_make_callback(g_env, g_async, recv, fn, argc, argv, &result) == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(g_env, &err);
    napi_fatal_exception(g_env, err);
  }
}

static napi_value num(double v) {
  napi_value out;
  napi_create_double(g_env, v, &out);
  return out;
}

static napi_value str(const char* s) {
  napi_value out;
  napi_create_string_utf8(g_env, s, NAPI_AUTO_LENGTH, &out);
  return out;
}

/* Node's form of an address: "127.0.0.1", "::1"; an IPv4-mapped IPv6 address stays as Node shows it. */
static int address_of(const struct sockaddr_storage* sa, char* out, size_t size, int* port) {
  if (sa->ss_family == AF_INET) {
    const struct sockaddr_in* in = (const struct sockaddr_in*)sa;
    *port = ntohs(in->sin_port);
    return uv_ip4_name(in, out, size);
  }
  if (sa->ss_family == AF_INET6) {
    const struct sockaddr_in6* in6 = (const struct sockaddr_in6*)sa;
    *port = ntohs(in6->sin6_port);
    return uv_ip6_name(in6, out, size);
  }
  return UV_EAFNOSUPPORT;
}

/*
 * Caps a socket's kernel buffers (SO_RCVBUF and SO_SNDBUF; the kernel doubles the value for its
 * bookkeeping and caps it at net.core.rmem_max / wmem_max). A capped socket is left out of the
 * kernel's autotuning, which otherwise grows a receive buffer to net.ipv4.tcp_rmem's maximum
 * (32 MiB on some hosts) for every client whose member stops reading. 0 leaves the kernel's.
 */
static int cap_buffers(int fd, int bytes) {
  if (bytes <= 0) return 0;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes)) != 0 ||
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes)) != 0) {
    return -errno;
  }
  return 0;
}

/* Whether the peer of `s` has closed or reset its side: a FIN or a reset the kernel took while nobody read. */
static int peer_gone(uv_tcp_t* s) {
  uv_os_fd_t fd;
  if (uv_fileno((uv_handle_t*)s, &fd) != 0) return 1;
  struct tcp_info info;
  socklen_t len = sizeof(info);
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return 1;
  return info.tcpi_state == TCP_CLOSE || info.tcpi_state == TCP_CLOSE_WAIT || info.tcpi_state == TCP_LAST_ACK;
}

/* ---- ids ---------------------------------------------------------------------------------- */

/* Stores `item` under a free id; -1 when out of memory. */
static int64_t ids_add(id_table_t* t, void* item) {
  uint32_t id;
  if (t->free_count > 0) {
    id = t->free_ids[--t->free_count];
  } else {
    if (t->next == t->capacity) {
      uint32_t capacity = t->capacity == 0 ? 1024 : t->capacity * 2;
      void** items = realloc(t->items, capacity * sizeof(void*));
      if (items == NULL) return -1;
      t->items = items;
      uint32_t* free_ids = realloc(t->free_ids, capacity * sizeof(uint32_t));
      if (free_ids == NULL) return -1;
      t->free_ids = free_ids;
      t->capacity = capacity;
    }
    id = t->next++;
  }
  t->items[id] = item;
  return id;
}

static void* ids_get(const id_table_t* t, napi_env env, napi_value v) {
  uint32_t id;
  if (napi_get_value_uint32(env, v, &id) != napi_ok || id >= t->next) return NULL;
  return t->items[id];
}

static void ids_remove(id_table_t* t, uint32_t id) {
  t->items[id] = NULL;
  t->free_ids[t->free_count++] = id;
}

/* ---- flows ------------------------------------------------------------------------------- */

static flow_t* flow_new(void) {
  flow_t* f = calloc(1, sizeof(flow_t));
  if (f == NULL) return NULL;
  int64_t id = ids_add(&g_flows, f);
  if (id < 0) {
    free(f);
    return NULL;
  }
  f->id = (uint32_t)id;
  f->up.flow = f;
  f->up.from = &f->client;
  f->up.to = &f->backend;
  f->down.flow = f;
  f->down.from = &f->backend;
  f->down.to = &f->client;
  return f;
}

static flow_t* flow_get(napi_env env, napi_value v) {
  flow_t* f = ids_get(&g_flows, env, v);
  return f != NULL && !f->closing ? f : NULL;
}

static void flow_free(flow_t* f) {
  napi_handle_scope scope;
  napi_open_handle_scope(g_env, &scope);
  napi_value argv[4] = {num(f->id), num(f->up.bytes), num(f->down.bytes), NULL};
  napi_get_boolean(g_env, f->had_error, &argv[3]);
  ids_remove(&g_flows, f->id);
  free(f->up.pending);
  free(f->down.pending);
  free(f->header);
  free(f);
  call_js(g_on_close, 4, argv);
  napi_close_handle_scope(g_env, scope);
}

static void on_handle_closed(uv_handle_t* h) {
  flow_t* f = h->data;
  if (--f->open_handles == 0 && f->closing) flow_free(f);
}

static void close_handle(uv_handle_t* h, int reset) {
  if (uv_is_closing(h)) return;
  if (reset && h->type == UV_TCP && uv_tcp_close_reset((uv_tcp_t*)h, on_handle_closed) == 0) return;
  uv_close(h, on_handle_closed);
}

/*
 * Ends the flow: closes every handle (a reset instead of a FIN where asked); the close callbacks
 * free it and tell JavaScript. Idempotent.
 */
static void flow_close(flow_t* f, int reset_client, int reset_backend) {
  if (f->closing) return;
  f->closing = 1;
  close_handle((uv_handle_t*)&f->timer, 0);
  close_handle((uv_handle_t*)&f->client, reset_client);
  if (f->backend_state != BACKEND_NONE) close_handle((uv_handle_t*)&f->backend, reset_backend);
  if (f->open_handles == 0) flow_free(f);
}

/* An error on either side: both are reset, as a proxy in the path would. */
static void flow_fail(flow_t* f) {
  f->had_error = 1;
  flow_close(f, 1, 1);
}

/* ---- relaying ---------------------------------------------------------------------------- */

static void on_alloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf) {
  (void)h;
  (void)suggested;
  /* Every read is consumed (written on or copied) before the next one: one buffer serves all. */
  if (g_read_buffer_lent) {
    buf->base = NULL;
    buf->len = 0;
    return;
  }
  g_read_buffer_lent = 1;
  buf->base = g_read_buffer;
  buf->len = READ_BUFFER_SIZE;
}

static void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf);

static void maybe_finish(flow_t* f) {
  /* Both FINs passed on and nothing left to write: the connection is over. */
  if (f->up.shut && f->down.shut) flow_close(f, 0, 0);
}

static void on_shutdown(uv_shutdown_t* req, int status) {
  direction_t* d = req->data;
  flow_t* f = d->flow;
  if (f->closing) return;
  if (status < 0) {
    flow_fail(f);
    return;
  }
  d->shut = 1;
  maybe_finish(f);
}

static void pass_fin(direction_t* d) {
  d->shutdown_req.data = d;
  if (uv_shutdown(&d->shutdown_req, (uv_stream_t*)d->to, on_shutdown) != 0) {
    flow_fail(d->flow);
  }
}

static void on_write(uv_write_t* req, int status) {
  direction_t* d = req->data;
  flow_t* f = d->flow;
  d->writing = 0;
  free(d->pending);
  d->pending = NULL;
  if (f->closing) return;
  if (status < 0) {
    /* The peer is gone: reset the source too, as a proxy in the path would. */
    flow_fail(f);
    return;
  }
  if (!d->eof) uv_read_start((uv_stream_t*)d->from, on_alloc, on_read);
}

static void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  flow_t* f = s->data;
  direction_t* d = (uv_tcp_t*)s == &f->client ? &f->up : &f->down;
  if (buf->base == g_read_buffer) g_read_buffer_lent = 0;
  if (n == 0 || f->closing) return;
  if (n == UV_EOF) {
    d->eof = 1;
    uv_read_stop(s);
    direction_t* other = d == &f->up ? &f->down : &f->up;
    if (other->eof && !other->writing && !d->writing) {
      /*
       * The FIN that completes the connection, with nothing left to write: closing both sockets
       * sends the same FIN (each receive queue is empty, so no reset) and saves a shutdown
       * request. The common end of a request/response connection.
       */
      flow_close(f, 0, 0);
      return;
    }
    pass_fin(d);
    return;
  }
  if (n < 0) {
    /* A reset or an error on one side resets the other. */
    flow_fail(f);
    return;
  }
  d->bytes += (double)n;
  uv_buf_t out = uv_buf_init(buf->base, (unsigned int)n);
  int written = uv_try_write((uv_stream_t*)d->to, &out, 1);
  if (written == n) return;
  if (written < 0 && written != UV_EAGAIN) {
    flow_fail(f);
    return;
  }
  if (written < 0) written = 0;
  size_t rest = (size_t)n - (size_t)written;
  d->pending = malloc(rest);
  if (d->pending == NULL) {
    flow_fail(f);
    return;
  }
  memcpy(d->pending, buf->base + written, rest);
  uv_buf_t tail = uv_buf_init(d->pending, (unsigned int)rest);
  d->write_req.data = d;
  d->writing = 1;
  uv_read_stop(s);
  if (uv_write(&d->write_req, (uv_stream_t*)d->to, &tail, 1, on_write) != 0) {
    d->writing = 0;
    flow_fail(f);
  }
}

static void on_header_written(uv_write_t* req, int status) {
  flow_t* f = req->data;
  free(f->header);
  f->header = NULL;
  if (!f->closing && status < 0) flow_fail(f);
}

/* ---- connecting -------------------------------------------------------------------------- */

static void report_connect(flow_t* f, int status) {
  napi_handle_scope scope;
  napi_open_handle_scope(g_env, &scope);
  napi_value argv[2] = {num(f->id), num(status)};
  call_js(g_on_connect, 2, argv);
  napi_close_handle_scope(g_env, scope);
}

static void on_failed_backend_closed(uv_handle_t* h) {
  flow_t* f = h->data;
  f->open_handles--;
  f->backend_state = BACKEND_NONE;
  if (f->closing) {
    if (f->open_handles == 0) flow_free(f);
    return;
  }
  /* JavaScript answers with the next candidate (connect) or gives up (reset). */
  report_connect(f, f->fail_status);
}

static void fail_attempt(flow_t* f, int status) {
  uv_timer_stop(&f->timer);
  f->backend_state = BACKEND_FAILING;
  f->fail_status = status;
  if (!uv_is_closing((uv_handle_t*)&f->backend)) uv_close((uv_handle_t*)&f->backend, on_failed_backend_closed);
}

static void on_connect_timeout(uv_timer_t* t) {
  flow_t* f = t->data;
  if (f->closing || f->backend_state != BACKEND_CONNECTING) return;
  fail_attempt(f, UV_ETIMEDOUT);
}

static void on_connect(uv_connect_t* req, int status) {
  flow_t* f = req->data;
  if (f->closing || f->backend_state != BACKEND_CONNECTING) return;
  if (status < 0) {
    fail_attempt(f, status);
    return;
  }
  uv_timer_stop(&f->timer);
  f->backend_state = BACKEND_CONNECTED;
  uv_tcp_nodelay(&f->backend, 1);
  report_connect(f, 0);
  if (f->closing) return; /* JavaScript closed it (its member was drained meanwhile) */
  if (f->header != NULL) {
    uv_buf_t b = uv_buf_init(f->header, (unsigned int)f->header_len);
    f->header_req.data = f;
    if (uv_write(&f->header_req, (uv_stream_t*)&f->backend, &b, 1, on_header_written) != 0) {
      flow_fail(f);
      return;
    }
  }
  uv_read_start((uv_stream_t*)&f->client, on_alloc, on_read);
  uv_read_start((uv_stream_t*)&f->backend, on_alloc, on_read);
}

/* ---- accepting --------------------------------------------------------------------------- */

static void on_listener_closed(uv_handle_t* h) {
  listener_t* l = h->data;
  if (--l->open_handles == 0 && l->sessions == 0) free(l);
}

static void report_listen_error(listener_t* l, int uv_error) {
  napi_handle_scope scope;
  napi_open_handle_scope(g_env, &scope);
  napi_value argv[2] = {num(l->id), str(uv_err_name(uv_error))};
  call_js(g_on_listen_error, 2, argv);
  napi_close_handle_scope(g_env, scope);
}

static void on_listener_readable(uv_poll_t* p, int status, int events);
static void on_udp_listener_readable(uv_poll_t* p, int status, int events);

static void on_backoff_over(uv_timer_t* t) {
  listener_t* l = t->data;
  uv_poll_start(&l->poll, UV_READABLE, on_listener_readable);
}

/* Hands an accepted client to JavaScript, which answers with connect or reset. */
static void accept_client(listener_t* l, int fd, const struct sockaddr_storage* peer) {
  flow_t* f = flow_new();
  if (f == NULL) {
    close(fd); /* out of memory: the client is dropped, the listener goes on */
    report_listen_error(l, UV_ENOMEM);
    return;
  }
  uv_tcp_init(g_loop, &f->client);
  f->client.data = f;
  f->open_handles++;
  uv_timer_init(g_loop, &f->timer);
  f->timer.data = f;
  f->open_handles++;
  if (uv_tcp_open(&f->client, fd) != 0) {
    close(fd);
    flow_close(f, 0, 0);
    return;
  }
  uv_tcp_nodelay(&f->client, 1);
  char peer_name[64], local_buffer[64];
  const char* local_name = l->local_name;
  int peer_port = 0, local_port = l->local_port;
  if (l->wildcard) {
    struct sockaddr_storage local;
    int local_len = sizeof(local);
    local_name = local_buffer;
    if (uv_tcp_getsockname(&f->client, (struct sockaddr*)&local, &local_len) != 0 ||
        address_of(&local, local_buffer, sizeof(local_buffer), &local_port) != 0) {
      flow_close(f, 0, 0);
      return;
    }
  }
  if (address_of(peer, peer_name, sizeof(peer_name), &peer_port) != 0) {
    flow_close(f, 0, 0);
    return;
  }
  napi_handle_scope scope;
  napi_open_handle_scope(g_env, &scope);
  napi_value argv[6] = {num(l->id), num(f->id), str(peer_name), num(peer_port), str(local_name), num(local_port)};
  call_js(g_on_accept, 6, argv);
  napi_close_handle_scope(g_env, scope);
}

static void on_listener_readable(uv_poll_t* p, int status, int events) {
  (void)events;
  listener_t* l = p->data;
  if (status < 0) {
    report_listen_error(l, status);
    return;
  }
  /* JavaScript may pause the listener from inside accept_client (pauseListener). */
  for (int i = 0; i < MAX_ACCEPT && l->fd >= 0 && uv_is_active((uv_handle_t*)&l->poll); i++) {
    struct sockaddr_storage peer;
    socklen_t len = sizeof(peer);
    int fd = accept4(l->fd, (struct sockaddr*)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      accept_client(l, fd, &peer);
      continue;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    if (errno == EINTR || errno == ECONNABORTED) continue;
    /* EMFILE, ENFILE, ENOBUFS: clients wait in the backlog while accepting pauses. */
    int error = -errno;
    uv_poll_stop(&l->poll);
    uv_timer_start(&l->backoff, on_backoff_over, ACCEPT_BACKOFF_MS, 0);
    report_listen_error(l, error);
    return;
  }
}

/*
 * Makes a bound socket `l`'s listening socket. TCP: caps its buffers at `buffer_bytes` before
 * listen() so that every accepted socket inherits the cap from its first segment, and listens (a
 * no-op on one that already listens). UDP: sets its receive buffer to `buffer_bytes` (the kernel
 * caps it at net.core.rmem_max), so that a burst of datagrams waits there rather than being dropped
 * while new sessions are opened. Then notes its local address and watches it. Takes `fd` in every
 * case (closed on failure); 0 or a libuv error.
 */
static int watch_listener(listener_t* l, int fd, int buffer_bytes) {
  struct sockaddr_storage bound;
  socklen_t bound_len = sizeof(bound);
  int rc = 0;
  if (l->udp) {
    if (buffer_bytes > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer_bytes, sizeof(buffer_bytes)) != 0) rc = -errno;
  } else if (cap_buffers(fd, buffer_bytes) != 0 || listen(fd, LISTEN_BACKLOG) != 0) {
    rc = -errno;
  }
  if (rc == 0 && getsockname(fd, (struct sockaddr*)&bound, &bound_len) != 0) rc = -errno;
  if (rc == 0) rc = address_of(&bound, l->local_name, sizeof(l->local_name), &l->local_port);
  if (rc == 0) rc = uv_poll_init_socket(g_loop, &l->poll, fd);
  if (rc != 0) {
    close(fd);
    return rc;
  }
  l->fd = fd;
  l->wildcard = strcmp(l->local_name, "0.0.0.0") == 0 || strcmp(l->local_name, "::") == 0;
  l->poll.data = l;
  l->open_handles++;
  if (l->udp) return uv_poll_start(&l->poll, UV_READABLE, on_udp_listener_readable);
  uv_timer_init(g_loop, &l->backoff);
  l->backoff.data = l;
  l->open_handles++;
  return uv_poll_start(&l->poll, UV_READABLE, on_listener_readable);
}

/*
 * Opens the listening socket as libuv would: TCP with SO_REUSEADDR, UDP without it (on UDP it lets
 * another socket bind the same port), and never with SO_REUSEPORT: any process of the same user
 * could then bind the port too and take a share of the clients.
 */
static int open_listener(listener_t* l, const struct sockaddr_storage* addr, int buffer_bytes) {
  socklen_t addr_len = addr->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
  int fd = socket(addr->ss_family, (l->udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int on = 1;
  if ((!l->udp && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0) || bind(fd, (const struct sockaddr*)addr, addr_len) != 0) {
    int error = -errno;
    close(fd);
    return error;
  }
  return watch_listener(l, fd, buffer_bytes);
}

/*
 * Adopts a socket another process bound (the node's primary, which hands one socket to every
 * worker): a duplicate, so the caller still closes its own descriptor.
 */
static int adopt_listener(listener_t* l, int fd, int buffer_bytes) {
  int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0) return -errno;
  int flags = fcntl(own, F_GETFL);
  if (flags < 0 || fcntl(own, F_SETFL, flags | O_NONBLOCK) != 0) {
    int error = -errno;
    close(own);
    return error;
  }
  return watch_listener(l, own, buffer_bytes);
}

/*
 * uv_close takes the socket out of epoll at once; closing the descriptor right after frees the
 * port. A UDP listener's open sessions keep the struct (not the socket) until they are freed:
 * their answers are dropped from now on.
 */
static void close_listener(listener_t* l) {
  if (l->open_handles == 0) {
    free(l);
    return;
  }
  uv_close((uv_handle_t*)&l->poll, on_listener_closed);
  if (!l->udp) uv_close((uv_handle_t*)&l->backoff, on_listener_closed);
  close(l->fd);
  l->fd = -1;
}

/* ---- UDP ------------------------------------------------------------------------------------ */

/*
 * A UDP listener's socket is read with recvmmsg, UDP_BATCH datagrams per call. Each datagram finds
 * its client's session in a hash table keyed by (listener, client address), so a datagram never
 * enters JavaScript: only a new client's first one does (onUdpSession), and JavaScript answers with
 * udpConnect (the member it picked) or udpClose before returning. The session then owns a socket
 * connected to that member: what the member sends on it is this client's answer, and an ICMP
 * error for it ends this session (the kernel reports ICMP errors on connected sockets only).
 * Consecutive datagrams of one session in a batch go to the member in one sendmmsg. Answers are
 * read with recvmmsg into a queue that is sent from the listener's socket with sendmmsg when it
 * fills or once per loop turn (a check handle, after the poll phase that read them), so the
 * answers of many sessions cost one system call.
 */
#define UDP_BATCH 64
/* The largest UDP payload (65,535 less the UDP header), rounded up; a longer one is dropped. */
#define UDP_MAX_DATAGRAM 65536
/* recvmmsg calls per readable event: a busy socket leaves the loop's other sockets their turn. */
#define UDP_TURN_BATCHES 4
/* Datagrams a session holds while it has no member yet; more are dropped, as a full buffer would. */
#define UDP_PENDING_LIMIT 64

typedef struct udp_datagram_s {
  struct udp_datagram_s* next;
  size_t len;
  char data[];
} udp_datagram_t;

enum udp_state { UDP_PICKING, UDP_CONNECTED };

typedef struct udp_session_s {
  uint32_t id;
  uint32_t hash;
  listener_t* listener;
  struct udp_session_s* next_in_bucket;
  struct sockaddr_storage client;
  socklen_t client_len;
  int fd;
  uv_poll_t poll;
  udp_datagram_t* pending;     /* while picking: the datagrams to send once connected */
  udp_datagram_t** pending_tail;
  int pending_count;
  double datagrams_in, datagrams_out, bytes_in, bytes_out;
  uint8_t state;
  uint8_t closing;
  uint8_t failed;              /* ended by a socket error: an ICMP error from the member, mostly */
  uint8_t repick;              /* the client's next datagram ends it and opens a new session */
} udp_session_t;

/* Batches: datagrams from clients (in) and answers for them (out), each slot a whole datagram. */
typedef struct {
  struct mmsghdr msgs[UDP_BATCH];
  struct iovec iov[UDP_BATCH];
  struct sockaddr_storage addrs[UDP_BATCH];
  char (*buffers)[UDP_MAX_DATAGRAM];
} udp_batch_t;

static napi_ref g_on_udp_session, g_on_udp_close;
static id_table_t g_udp_sessions;
static udp_session_t** g_udp_buckets;  /* the session table: chains, a power of two of them */
static uint32_t g_udp_bucket_count;
static uint32_t g_udp_table_size;
static uint64_t g_udp_hash_key;        /* random per process: clients cannot aim at one chain */
static udp_session_t* g_udp_picking;   /* the session whose onUdpSession call runs */
static udp_batch_t g_udp_in, g_udp_out;
static struct mmsghdr g_udp_send[UDP_BATCH]; /* one session's run of datagrams from g_udp_in */
static listener_t* g_udp_out_listener[UDP_BATCH];
static int g_udp_out_count;
static uv_check_t g_udp_flush;
static uint8_t g_udp_ready;

/* Allocates the batches' buffers and the table on the first UDP listener; 0 or a libuv error. */
static int udp_prepare(void) {
  if (g_udp_ready) return 0;
  g_udp_in.buffers = malloc(sizeof(*g_udp_in.buffers) * UDP_BATCH);
  g_udp_out.buffers = malloc(sizeof(*g_udp_out.buffers) * UDP_BATCH);
  g_udp_buckets = calloc(1024, sizeof(udp_session_t*));
  if (g_udp_in.buffers == NULL || g_udp_out.buffers == NULL || g_udp_buckets == NULL) {
    free(g_udp_in.buffers);
    free(g_udp_out.buffers);
    free(g_udp_buckets);
    g_udp_in.buffers = g_udp_out.buffers = NULL;
    g_udp_buckets = NULL;
    return UV_ENOMEM;
  }
  g_udp_bucket_count = 1024;
  if (getrandom(&g_udp_hash_key, sizeof(g_udp_hash_key), GRND_NONBLOCK) != sizeof(g_udp_hash_key)) g_udp_hash_key = uv_hrtime();
  uv_check_init(g_loop, &g_udp_flush);
  uv_unref((uv_handle_t*)&g_udp_flush);
  g_udp_ready = 1;
  return 0;
}

/* ---- the session table ---- */

/* MurmurHash3's 64-bit finaliser: every input bit reaches every output bit. */
static uint64_t mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

static uint32_t udp_hash(const listener_t* l, const struct sockaddr_storage* a) {
  uint64_t h = mix64(g_udp_hash_key ^ (uint64_t)(uintptr_t)l);
  if (a->ss_family == AF_INET) {
    const struct sockaddr_in* in = (const struct sockaddr_in*)a;
    h = mix64(h ^ ((uint64_t)in->sin_addr.s_addr << 16 | in->sin_port));
  } else {
    const struct sockaddr_in6* in6 = (const struct sockaddr_in6*)a;
    uint64_t words[2];
    memcpy(words, &in6->sin6_addr, sizeof(words));
    h = mix64(mix64(h ^ words[0]) ^ words[1]);
    h = mix64(h ^ in6->sin6_port ^ (uint64_t)in6->sin6_scope_id << 16);
  }
  return (uint32_t)h;
}

static int same_client(const struct sockaddr_storage* a, const struct sockaddr_storage* b) {
  if (a->ss_family != b->ss_family) return 0;
  if (a->ss_family == AF_INET) {
    const struct sockaddr_in *x = (const struct sockaddr_in*)a, *y = (const struct sockaddr_in*)b;
    return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  const struct sockaddr_in6 *x = (const struct sockaddr_in6*)a, *y = (const struct sockaddr_in6*)b;
  return x->sin6_port == y->sin6_port && x->sin6_scope_id == y->sin6_scope_id && memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
}

static udp_session_t* udp_table_find(const listener_t* l, const struct sockaddr_storage* client, uint32_t hash) {
  for (udp_session_t* s = g_udp_buckets[hash & (g_udp_bucket_count - 1)]; s != NULL; s = s->next_in_bucket) {
    if (s->hash == hash && s->listener == l && same_client(&s->client, client)) return s;
  }
  return NULL;
}

/* Doubles the chains when there are more sessions than chains; on no memory, chains grow longer. */
static void udp_table_grow(void) {
  uint32_t count = g_udp_bucket_count * 2;
  udp_session_t** buckets = calloc(count, sizeof(udp_session_t*));
  if (buckets == NULL) return;
  for (uint32_t i = 0; i < g_udp_bucket_count; i++) {
    udp_session_t* s = g_udp_buckets[i];
    while (s != NULL) {
      udp_session_t* next = s->next_in_bucket;
      s->next_in_bucket = buckets[s->hash & (count - 1)];
      buckets[s->hash & (count - 1)] = s;
      s = next;
    }
  }
  free(g_udp_buckets);
  g_udp_buckets = buckets;
  g_udp_bucket_count = count;
}

static void udp_table_add(udp_session_t* s) {
  if (g_udp_table_size >= g_udp_bucket_count) udp_table_grow();
  udp_session_t** head = &g_udp_buckets[s->hash & (g_udp_bucket_count - 1)];
  s->next_in_bucket = *head;
  *head = s;
  g_udp_table_size++;
}

static void udp_table_remove(udp_session_t* s) {
  for (udp_session_t** at = &g_udp_buckets[s->hash & (g_udp_bucket_count - 1)]; *at != NULL; at = &(*at)->next_in_bucket) {
    if (*at == s) {
      *at = s->next_in_bucket;
      g_udp_table_size--;
      return;
    }
  }
}

/* ---- sessions ---- */

static void udp_drop_pending(udp_session_t* s) {
  while (s->pending != NULL) {
    udp_datagram_t* next = s->pending->next;
    free(s->pending);
    s->pending = next;
  }
  s->pending_tail = &s->pending;
  s->pending_count = 0;
}

static void udp_session_free(udp_session_t* s) {
  listener_t* l = s->listener;
  ids_remove(&g_udp_sessions, s->id);
  if (--l->sessions == 0 && l->fd < 0 && l->open_handles == 0) free(l);
  free(s);
}

static void on_udp_session_closed(uv_handle_t* h) {
  udp_session_t* s = h->data;
  napi_handle_scope scope;
  napi_open_handle_scope(g_env, &scope);
  napi_value argv[6] = {num(s->id), num(s->datagrams_in), num(s->datagrams_out), num(s->bytes_in), num(s->bytes_out), NULL};
  napi_get_boolean(g_env, s->failed, &argv[5]);
  udp_session_free(s);
  call_js(g_on_udp_close, 6, argv);
  napi_close_handle_scope(g_env, scope);
}

/*
 * Ends a session: out of the table at once (the client's next datagram opens a new one), its socket
 * closed. A connected session is freed in the close callback, which tells JavaScript; one still
 * picking is freed now, or by the datagram path when its onUdpSession call returns, and JavaScript
 * (which closed it) hears nothing more. Idempotent.
 */
static void udp_session_close(udp_session_t* s, int failed) {
  if (s->closing) return;
  s->closing = 1;
  s->failed = (uint8_t)failed;
  udp_table_remove(s);
  udp_drop_pending(s);
  if (s->state == UDP_CONNECTED) {
    uv_close((uv_handle_t*)&s->poll, on_udp_session_closed);
    close(s->fd);
    s->fd = -1;
  } else if (s != g_udp_picking) {
    udp_session_free(s);
  }
}

/* A datagram could not be sent: dropped when the socket is full, else the session has failed. */
static void udp_send_failed(udp_session_t* s) {
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS || errno == EINTR) return;
  udp_session_close(s, 1);
}

/* Sends datagrams from..to-1 of the in batch, all `s`'s, to its member: one send, or one sendmmsg. */
static void udp_send_run(udp_session_t* s, int from, int to) {
  if (s == NULL || s->closing || from >= to) return;
  if (to - from == 1) {
    if (send(s->fd, g_udp_in.iov[from].iov_base, g_udp_in.iov[from].iov_len, MSG_DONTWAIT) < 0) udp_send_failed(s);
    return;
  }
  int count = to - from;
  for (int i = 0; i < count; i++) {
    memset(&g_udp_send[i].msg_hdr, 0, sizeof(g_udp_send[i].msg_hdr));
    g_udp_send[i].msg_hdr.msg_iov = &g_udp_in.iov[from + i];
    g_udp_send[i].msg_hdr.msg_iovlen = 1;
  }
  for (int sent = 0; sent < count;) {
    int n = sendmmsg(s->fd, &g_udp_send[sent], (unsigned int)(count - sent), MSG_DONTWAIT);
    if (n < 0) {
      udp_send_failed(s);
      return;
    }
    sent += n;
  }
}

static udp_session_t* udp_session_open(listener_t* l, const struct sockaddr_storage* client, socklen_t client_len, uint32_t hash) {
  udp_session_t* s = calloc(1, sizeof(udp_session_t));
  if (s == NULL) return NULL;
  int64_t id = ids_add(&g_udp_sessions, s);
  if (id < 0) {
    free(s);
    return NULL;
  }
  s->id = (uint32_t)id;
  s->hash = hash;
  s->listener = l;
  memcpy(&s->client, client, client_len);
  s->client_len = client_len;
  s->fd = -1;
  s->pending_tail = &s->pending;
  l->sessions++;
  udp_table_add(s);
  return s;
}

static void udp_hold(udp_session_t* s, const char* data, size_t len) {
  if (s->pending_count >= UDP_PENDING_LIMIT) return;
  udp_datagram_t* d = malloc(sizeof(udp_datagram_t) + len);
  if (d == NULL) return;
  d->next = NULL;
  d->len = len;
  memcpy(d->data, data, len);
  *s->pending_tail = d;
  s->pending_tail = &d->next;
  s->pending_count++;
}

/* Asks JavaScript for a new session's member; it answers with udpConnect or udpClose. */
static void udp_report_session(udp_session_t* s) {
  listener_t* l = s->listener;
  char client_name[64];
  int client_port = 0;
  if (address_of(&s->client, client_name, sizeof(client_name), &client_port) != 0) {
    udp_session_close(s, 0);
    return;
  }
  napi_handle_scope scope;
  napi_open_handle_scope(g_env, &scope);
  /* The bound address, also for a wildcard listener: as Node's dgram reports it. */
  napi_value argv[6] = {num(l->id), num(s->id), str(client_name), num(client_port), str(l->local_name), num(l->local_port)};
  g_udp_picking = s;
  call_js(g_on_udp_session, 6, argv);
  g_udp_picking = NULL;
  napi_close_handle_scope(g_env, scope);
}

/*
 * Datagram `i` of the in batch, from a client of `l`: counted on its session (opened if the client
 * is new). Returns the session to send it to, or NULL when it was held or dropped.
 */
static udp_session_t* udp_route(listener_t* l, int i) {
  const struct sockaddr_storage* client = &g_udp_in.addrs[i];
  socklen_t client_len = g_udp_in.msgs[i].msg_hdr.msg_namelen;
  size_t len = g_udp_in.msgs[i].msg_len;
  if ((g_udp_in.msgs[i].msg_hdr.msg_flags & MSG_TRUNC) != 0 || (client->ss_family != AF_INET && client->ss_family != AF_INET6)) return NULL;
  uint32_t hash = udp_hash(l, client);
  udp_session_t* s = udp_table_find(l, client, hash);
  if (s != NULL && s->repick) {
    udp_session_close(s, 0);
    s = NULL;
  }
  if (s == NULL) {
    s = udp_session_open(l, client, client_len, hash);
    if (s == NULL) {
      report_listen_error(l, UV_ENOMEM);
      return NULL;
    }
    s->datagrams_in++;
    s->bytes_in += (double)len;
    udp_hold(s, g_udp_in.buffers[i], len);
    udp_report_session(s);
    if (s->closing && s->state == UDP_PICKING) udp_session_free(s);
    return NULL;
  }
  s->datagrams_in++;
  s->bytes_in += (double)len;
  if (s->state == UDP_PICKING) {
    udp_hold(s, g_udp_in.buffers[i], len);
    return NULL;
  }
  return s;
}

static void on_udp_listener_readable(uv_poll_t* p, int status, int events) {
  (void)events;
  listener_t* l = p->data;
  if (status < 0) {
    report_listen_error(l, status);
    return;
  }
  for (int turn = 0; turn < UDP_TURN_BATCHES && l->fd >= 0; turn++) {
    for (int i = 0; i < UDP_BATCH; i++) {
      struct msghdr* h = &g_udp_in.msgs[i].msg_hdr;
      g_udp_in.iov[i].iov_base = g_udp_in.buffers[i];
      g_udp_in.iov[i].iov_len = UDP_MAX_DATAGRAM;
      memset(h, 0, sizeof(*h));
      h->msg_name = &g_udp_in.addrs[i];
      h->msg_namelen = sizeof(g_udp_in.addrs[i]);
      h->msg_iov = &g_udp_in.iov[i];
      h->msg_iovlen = 1;
    }
    int n = recvmmsg(l->fd, g_udp_in.msgs, UDP_BATCH, MSG_DONTWAIT, NULL);
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) report_listen_error(l, -errno);
      return;
    }
    udp_session_t* run = NULL;
    int run_from = 0;
    for (int i = 0; i < n && l->fd >= 0; i++) {
      g_udp_in.iov[i].iov_len = g_udp_in.msgs[i].msg_len;
      udp_session_t* s = udp_route(l, i);
      if (s != run) {
        udp_send_run(run, run_from, i);
        run = s;
        run_from = i;
      }
    }
    udp_send_run(run, run_from, n);
    if (n < UDP_BATCH) return;
  }
}

/*
 * Sends the queued answers, each from its listener's socket. Runs before any close callback of the
 * loop turn that queued them, so every listener named here is still allocated (closed ones have
 * fd -1 and their answers are dropped).
 */
static void udp_flush(void) {
  for (int i = 0; i < g_udp_out_count;) {
    listener_t* l = g_udp_out_listener[i];
    int end = i + 1;
    while (end < g_udp_out_count && g_udp_out_listener[end] == l) end++;
    while (l->fd >= 0 && i < end) {
      int n = sendmmsg(l->fd, &g_udp_out.msgs[i], (unsigned int)(end - i), MSG_DONTWAIT);
      if (n > 0) i += n;
      else if (errno == EAGAIN || errno == EWOULDBLOCK) break; /* the socket is full: the rest is dropped */
      else if (errno != EINTR) i++;                            /* this client cannot be sent to */
    }
    i = end;
  }
  g_udp_out_count = 0;
}

static void on_udp_flush(uv_check_t* c) {
  uv_check_stop(c);
  udp_flush();
}

/* Answers from `s`'s member, queued for its client. */
static void on_udp_session_readable(uv_poll_t* p, int status, int events) {
  (void)events;
  udp_session_t* s = p->data;
  if (s->closing) return;
  if (status < 0) {
    udp_session_close(s, 1);
    return;
  }
  for (int turn = 0; turn < UDP_TURN_BATCHES; turn++) {
    if (g_udp_out_count == UDP_BATCH) udp_flush();
    int from = g_udp_out_count;
    int room = UDP_BATCH - from;
    for (int i = from; i < UDP_BATCH; i++) {
      struct msghdr* h = &g_udp_out.msgs[i].msg_hdr;
      g_udp_out.iov[i].iov_base = g_udp_out.buffers[i];
      g_udp_out.iov[i].iov_len = UDP_MAX_DATAGRAM;
      memset(h, 0, sizeof(*h));
      h->msg_iov = &g_udp_out.iov[i];
      h->msg_iovlen = 1;
    }
    int n = recvmmsg(s->fd, &g_udp_out.msgs[from], (unsigned int)room, MSG_DONTWAIT, NULL);
    if (n < 0) {
      /* ECONNREFUSED: the member's host answered a datagram with ICMP port-unreachable. */
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) udp_session_close(s, 1);
      return;
    }
    for (int i = from; i < from + n; i++) {
      struct msghdr* h = &g_udp_out.msgs[i].msg_hdr;
      g_udp_out.iov[i].iov_len = g_udp_out.msgs[i].msg_len;
      memcpy(&g_udp_out.addrs[i], &s->client, s->client_len);
      h->msg_name = &g_udp_out.addrs[i];
      h->msg_namelen = s->client_len;
      g_udp_out_listener[i] = s->listener;
      s->datagrams_out++;
      s->bytes_out += (double)g_udp_out.msgs[i].msg_len;
    }
    g_udp_out_count += n;
    if (n > 0 && !uv_is_active((uv_handle_t*)&g_udp_flush)) uv_check_start(&g_udp_flush, on_udp_flush);
    if (n < room) return;
  }
}

/* Connects a picking session to its member and sends what it held; 0 or a libuv error. */
static int udp_session_connect(udp_session_t* s, const struct sockaddr_storage* member) {
  socklen_t len = member->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
  int fd = socket(member->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int rc = connect(fd, (const struct sockaddr*)member, len) != 0 ? -errno : 0;
  if (rc == 0) rc = uv_poll_init_socket(g_loop, &s->poll, fd);
  if (rc != 0) {
    close(fd);
    return rc;
  }
  s->fd = fd;
  s->poll.data = s;
  s->state = UDP_CONNECTED;
  uv_poll_start(&s->poll, UV_READABLE, on_udp_session_readable);
  for (udp_datagram_t* d = s->pending; d != NULL && !s->closing; d = d->next) {
    if (send(fd, d->data, d->len, MSG_DONTWAIT) < 0) udp_send_failed(s);
  }
  udp_drop_pending(s);
  return 0;
}

static udp_session_t* udp_session_get(napi_env env, napi_value v) {
  udp_session_t* s = ids_get(&g_udp_sessions, env, v);
  return s != NULL && !s->closing ? s : NULL;
}

/* ---- the JavaScript API ------------------------------------------------------------------ */

#define ARGS(n)                                                   \
  size_t argc = n;                                                \
  napi_value argv[n];                                             \
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);

static napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

static int parse_address(napi_env env, napi_value host_v, napi_value port_v, struct sockaddr_storage* out) {
  char host[64];
  size_t len;
  uint32_t port;
  if (napi_get_value_string_utf8(env, host_v, host, sizeof(host), &len) != napi_ok) return UV_EINVAL;
  if (napi_get_value_uint32(env, port_v, &port) != napi_ok || port > 65535) return UV_EINVAL;
  memset(out, 0, sizeof(*out));
  if (strchr(host, ':') != NULL) return uv_ip6_addr(host, (int)port, (struct sockaddr_in6*)out);
  return uv_ip4_addr(host, (int)port, (struct sockaddr_in*)out);
}

/* init(onAccept, onConnect, onClose, onListenError, onUdpSession, onUdpClose) */
static napi_value js_init(napi_env env, napi_callback_info info) {
  ARGS(6);
  if (g_on_accept != NULL) {
    napi_throw_error(env, NULL, "the native relay is initialised once per process");
    return NULL;
  }
  g_env = env;
  napi_get_uv_event_loop(env, &g_loop);
  napi_create_reference(env, argv[0], 1, &g_on_accept);
  napi_create_reference(env, argv[1], 1, &g_on_connect);
  napi_create_reference(env, argv[2], 1, &g_on_close);
  napi_create_reference(env, argv[3], 1, &g_on_listen_error);
  napi_create_reference(env, argv[4], 1, &g_on_udp_session);
  napi_create_reference(env, argv[5], 1, &g_on_udp_close);
  napi_value resource, name;
  napi_create_object(env, &resource);
  napi_create_string_utf8(env, "dnlb.relay", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, resource, name, &g_async);
  return undefined(env);
}

/* A new listener under `id`, or NULL with the error's code in `*error`. */
static listener_t* listener_new(int32_t id, bool udp, const char** error) {
  if (udp && udp_prepare() != 0) {
    *error = "ENOMEM";
    return NULL;
  }
  if (id < 0) {
    *error = "EINVAL";
    return NULL;
  }
  if (id >= g_listener_capacity) {
    int32_t capacity = id + 64;
    listener_t** grown = realloc(g_listeners, (size_t)capacity * sizeof(listener_t*));
    if (grown == NULL) {
      *error = "ENOMEM";
      return NULL;
    }
    memset(grown + g_listener_capacity, 0, (size_t)(capacity - g_listener_capacity) * sizeof(listener_t*));
    g_listeners = grown;
    g_listener_capacity = capacity;
  }
  if (g_listeners[id] != NULL) {
    *error = "EEXIST";
    return NULL;
  }
  listener_t* l = calloc(1, sizeof(listener_t));
  if (l == NULL) {
    *error = "ENOMEM";
    return NULL;
  }
  l->id = id;
  l->fd = -1;
  l->udp = udp;
  return l;
}

/* Registers `l` when opening it gave `rc` 0; else frees it. Returns what JavaScript gets. */
static napi_value listener_opened(napi_env env, listener_t* l, int rc) {
  if (rc != 0) {
    close_listener(l);
    return str(uv_err_name(rc));
  }
  g_listeners[l->id] = l;
  return undefined(env);
}

/*
 * listen(listenerId, host, port, bufferBytes, udp) -> undefined, or the error's code
 * ("EADDRINUSE"). `bufferBytes`: TCP, the cap of every client's socket buffers; UDP, the
 * listener's receive buffer.
 */
static napi_value js_listen(napi_env env, napi_callback_info info) {
  ARGS(5);
  int32_t id = -1, buffer_bytes = 0;
  bool udp = false;
  struct sockaddr_storage addr;
  napi_get_value_int32(env, argv[0], &id);
  napi_get_value_int32(env, argv[3], &buffer_bytes);
  napi_get_value_bool(env, argv[4], &udp);
  int rc = parse_address(env, argv[1], argv[2], &addr);
  if (rc != 0) return str(uv_err_name(rc));
  const char* error;
  listener_t* l = listener_new(id, udp, &error);
  if (l == NULL) return str(error);
  return listener_opened(env, l, open_listener(l, &addr, buffer_bytes));
}

/*
 * listenFd(listenerId, fd, bufferBytes, udp) -> undefined, or the error's code: listens on (UDP:
 * receives from) a duplicate of a bound socket.
 */
static napi_value js_listen_fd(napi_env env, napi_callback_info info) {
  ARGS(4);
  int32_t id = -1, fd = -1, buffer_bytes = 0;
  bool udp = false;
  napi_get_value_int32(env, argv[0], &id);
  napi_get_value_int32(env, argv[2], &buffer_bytes);
  napi_get_value_bool(env, argv[3], &udp);
  if (napi_get_value_int32(env, argv[1], &fd) != napi_ok || fd < 0) return str("EBADF");
  const char* error;
  listener_t* l = listener_new(id, udp, &error);
  if (l == NULL) return str(error);
  return listener_opened(env, l, adopt_listener(l, fd, buffer_bytes));
}

/* closeListener(listenerId): stops accepting at once (the port is free on return); open flows stay. */
static napi_value js_close_listener(napi_env env, napi_callback_info info) {
  ARGS(1);
  int32_t id;
  if (napi_get_value_int32(env, argv[0], &id) == napi_ok && id >= 0 && id < g_listener_capacity && g_listeners[id] != NULL) {
    close_listener(g_listeners[id]);
    g_listeners[id] = NULL;
  }
  return undefined(env);
}

static listener_t* listener_arg(napi_env env, napi_value v) {
  int32_t id;
  if (napi_get_value_int32(env, v, &id) != napi_ok || id < 0 || id >= g_listener_capacity) return NULL;
  return g_listeners[id];
}

/* pauseListener(listenerId): accepts nothing (clients wait in the backlog) until resumeListener. */
static napi_value js_pause_listener(napi_env env, napi_callback_info info) {
  ARGS(1);
  listener_t* l = listener_arg(env, argv[0]);
  if (l != NULL && l->fd >= 0 && !l->udp) {
    uv_timer_stop(&l->backoff);
    uv_poll_stop(&l->poll);
  }
  return undefined(env);
}

/* resumeListener(listenerId): accepts again at once. */
static napi_value js_resume_listener(napi_env env, napi_callback_info info) {
  ARGS(1);
  listener_t* l = listener_arg(env, argv[0]);
  if (l != NULL && l->fd >= 0 && !l->udp) {
    uv_timer_stop(&l->backoff);
    uv_poll_start(&l->poll, UV_READABLE, on_listener_readable);
  }
  return undefined(env);
}

/*
 * connect(flowId, host, port, timeoutMs, header?, bufferBytes) -> undefined, or an error code (the
 * flow is untouched). `header` (a Buffer, the PROXY protocol header) is written before any client
 * byte; it is kept across attempts, so only the first connect passes it. The socket's buffers are
 * capped at `bufferBytes` (0: the kernel's) before the connect, as the listener's are.
 */
static napi_value js_connect(napi_env env, napi_callback_info info) {
  ARGS(6);
  flow_t* f = flow_get(env, argv[0]);
  if (f == NULL || f->backend_state != BACKEND_NONE) return str("EINVAL");
  struct sockaddr_storage addr;
  int rc = parse_address(env, argv[1], argv[2], &addr);
  if (rc != 0) return str(uv_err_name(rc));
  double timeout = 0;
  if (napi_get_value_double(env, argv[3], &timeout) != napi_ok || !(timeout >= 1)) return str("EINVAL");
  f->connect_timeout_ms = (uint64_t)timeout;
  bool is_buffer = false;
  napi_is_buffer(env, argv[4], &is_buffer);
  if (is_buffer && f->header == NULL) {
    void* data;
    size_t len;
    napi_get_buffer_info(env, argv[4], &data, &len);
    if (len > 0) {
      f->header = malloc(len);
      if (f->header == NULL) return str("ENOMEM");
      memcpy(f->header, data, len);
      f->header_len = len;
    }
  }
  int32_t buffer_bytes = 0;
  napi_get_value_int32(env, argv[5], &buffer_bytes);
  /* With the address family given, the socket exists now and its buffers can be capped before the SYN. */
  rc = uv_tcp_init_ex(g_loop, &f->backend, addr.ss_family);
  if (rc != 0) return str(uv_err_name(rc));
  f->backend.data = f;
  f->open_handles++;
  f->backend_state = BACKEND_CONNECTING;
  f->connect_req.data = f;
  uv_os_fd_t fd;
  rc = uv_fileno((uv_handle_t*)&f->backend, &fd);
  if (rc == 0) rc = cap_buffers(fd, buffer_bytes);
  if (rc == 0) rc = uv_tcp_connect(&f->connect_req, &f->backend, (struct sockaddr*)&addr, on_connect);
  if (rc != 0) {
    fail_attempt(f, rc); /* reported through onConnect, like any failed attempt */
    return undefined(env);
  }
  uv_timer_start(&f->timer, on_connect_timeout, f->connect_timeout_ms, 0);
  return undefined(env);
}

/* reset(flowId): RST to both sides. */
static napi_value js_reset(napi_env env, napi_callback_info info) {
  ARGS(1);
  flow_t* f = flow_get(env, argv[0]);
  if (f != NULL) flow_close(f, 1, 1);
  return undefined(env);
}

/* destroy(flowId): closes both sides (draining, idle timeout, shutdown). */
static napi_value js_destroy(napi_env env, napi_callback_info info) {
  ARGS(1);
  flow_t* f = flow_get(env, argv[0]);
  if (f != NULL) flow_close(f, 0, 0);
  return undefined(env);
}

/*
 * abandoned(flowId) -> whether bytes wait for a side that is not taking them while the side they
 * came from has closed or reset: nobody is left to receive an answer.
 */
static napi_value js_abandoned(napi_env env, napi_callback_info info) {
  ARGS(1);
  flow_t* f = flow_get(env, argv[0]);
  int abandoned = 0;
  if (f != NULL && f->backend_state == BACKEND_CONNECTED) {
    abandoned = (f->up.writing && (f->up.eof || peer_gone(&f->client))) ||
                (f->down.writing && (f->down.eof || peer_gone(&f->backend)));
  }
  napi_value out;
  napi_get_boolean(env, abandoned, &out);
  return out;
}

/* bytesIn(flowId), bytesOut(flowId): read from the client / from the member so far. */
static napi_value bytes_read(napi_env env, napi_callback_info info, int from_client) {
  ARGS(1);
  flow_t* f = flow_get(env, argv[0]);
  napi_value out;
  napi_create_double(env, f == NULL ? 0 : from_client ? f->up.bytes : f->down.bytes, &out);
  return out;
}

static napi_value js_bytes_in(napi_env env, napi_callback_info info) {
  return bytes_read(env, info, 1);
}

static napi_value js_bytes_out(napi_env env, napi_callback_info info) {
  return bytes_read(env, info, 0);
}

/*
 * udpConnect(sessionId, host, port) -> undefined, or an error code (the session still waits for
 * an answer): connects the session that onUdpSession announced to its member, and sends the
 * datagrams it held.
 */
static napi_value js_udp_connect(napi_env env, napi_callback_info info) {
  ARGS(3);
  udp_session_t* s = udp_session_get(env, argv[0]);
  if (s == NULL || s->state != UDP_PICKING) return str("EINVAL");
  struct sockaddr_storage addr;
  int rc = parse_address(env, argv[1], argv[2], &addr);
  if (rc == 0) rc = udp_session_connect(s, &addr);
  return rc == 0 ? undefined(env) : str(uv_err_name(rc));
}

/* udpClose(sessionId): ends the session (no member, idle, draining, evicted, shutdown). */
static napi_value js_udp_close(napi_env env, napi_callback_info info) {
  ARGS(1);
  udp_session_t* s = udp_session_get(env, argv[0]);
  if (s != NULL) udp_session_close(s, 0);
  return undefined(env);
}

/* udpRepick(sessionId): the client's next datagram ends the session and opens a new one. */
static napi_value js_udp_repick(napi_env env, napi_callback_info info) {
  ARGS(1);
  udp_session_t* s = udp_session_get(env, argv[0]);
  if (s != NULL) s->repick = 1;
  return undefined(env);
}

/*
 * udpCounters(sessionId, out) -> whether the session is not freed yet; if so, writes its datagrams in
 * and out and bytes in and out into `out` (a Float64Array of 4).
 */
static napi_value js_udp_counters(napi_env env, napi_callback_info info) {
  ARGS(2);
  udp_session_t* s = ids_get(&g_udp_sessions, env, argv[0]); /* closing too: its counts stand until freed */
  napi_typedarray_type type;
  size_t length = 0;
  void* data = NULL;
  bool open = false;
  if (s != NULL && napi_get_typedarray_info(env, argv[1], &type, &length, &data, NULL, NULL) == napi_ok && type == napi_float64_array && length >= 4) {
    double* out = data;
    out[0] = s->datagrams_in;
    out[1] = s->datagrams_out;
    out[2] = s->bytes_in;
    out[3] = s->bytes_out;
    open = true;
  }
  napi_value result;
  napi_get_boolean(env, open, &result);
  return result;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"init", NULL, js_init, NULL, NULL, NULL, napi_default, NULL},
      {"listen", NULL, js_listen, NULL, NULL, NULL, napi_default, NULL},
      {"listenFd", NULL, js_listen_fd, NULL, NULL, NULL, napi_default, NULL},
      {"closeListener", NULL, js_close_listener, NULL, NULL, NULL, napi_default, NULL},
      {"pauseListener", NULL, js_pause_listener, NULL, NULL, NULL, napi_default, NULL},
      {"resumeListener", NULL, js_resume_listener, NULL, NULL, NULL, napi_default, NULL},
      {"connect", NULL, js_connect, NULL, NULL, NULL, napi_default, NULL},
      {"reset", NULL, js_reset, NULL, NULL, NULL, napi_default, NULL},
      {"destroy", NULL, js_destroy, NULL, NULL, NULL, napi_default, NULL},
      {"abandoned", NULL, js_abandoned, NULL, NULL, NULL, napi_default, NULL},
      {"bytesIn", NULL, js_bytes_in, NULL, NULL, NULL, napi_default, NULL},
      {"bytesOut", NULL, js_bytes_out, NULL, NULL, NULL, napi_default, NULL},
      {"udpConnect", NULL, js_udp_connect, NULL, NULL, NULL, napi_default, NULL},
      {"udpClose", NULL, js_udp_close, NULL, NULL, NULL, napi_default, NULL},
      {"udpRepick", NULL, js_udp_repick, NULL, NULL, NULL, napi_default, NULL},
      {"udpCounters", NULL, js_udp_counters, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

NAPI_MODULE(dnlb_relay, Init)
