/* http connections: one TCP connection's addresses and phase, and the deadlines the
 * housekeeping thread enforces (header_timeout, min_body_rate); see server.h. */
#include "base/clock.h"
#include "base/log.h"
#include "http/server_internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int srv_conn_fd(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? ci->connect_fd : -1;
}

static void sockaddr_text(const struct sockaddr *sa, char *out, size_t len)
{
    out[0] = '\0';
    if (!sa)
        return;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)len);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)len);
}

void srv_remote_addr(struct MHD_Connection *c, char *out, size_t len)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    sockaddr_text(ci ? ci->client_addr : NULL, out, len);
}

/* Behind a proxy that appends the address it saw (nginx: $proxy_add_x_forwarded_for), the
 * last entry of X-Forwarded-For is the client; earlier entries are the client's own words. */
void srv_forwarded_for(struct MHD_Connection *c, char *out, size_t len)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Forwarded-For");
    if (!h)
        return;
    const char *last = strrchr(h, ',');
    last = last ? last + 1 : h;
    while (*last == ' ')
        last++;
    size_t n = strcspn(last, " ");
    unsigned char bin[sizeof(struct in6_addr)];
    char addr[64];
    if (n == 0 || n >= sizeof(addr))
        return;
    memcpy(addr, last, n);
    addr[n] = '\0';
    if (inet_pton(AF_INET, addr, bin) == 1 || inet_pton(AF_INET6, addr, bin) == 1)
        snprintf(out, len, "%s", addr);
}

void srv_conn_phase(struct http_server *srv, struct conn *cn, enum conn_phase ph)
{
    if (!cn)
        return;
    pthread_mutex_lock(&srv->mu);
    cn->phase = ph;
    cn->phase_us = clock_mono_us();
    cn->body_bytes = 0;
    pthread_mutex_unlock(&srv->mu);
}

void srv_on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                       enum MHD_ConnectionNotificationCode code)
{
    struct http_server *srv = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        struct conn *cn = calloc(1, sizeof(*cn));
        *socket_context = cn;
        if (!cn)
            return;
        cn->fd = srv_conn_fd(c);
        cn->phase = PH_HEADERS;
        cn->phase_us = clock_mono_us();
        srv_remote_addr(c, cn->remote, sizeof(cn->remote));
        pthread_mutex_lock(&srv->mu);
        cn->next = srv->conns;
        if (srv->conns)
            srv->conns->prev = cn;
        srv->conns = cn;
        srv->nconns++;
        pthread_mutex_unlock(&srv->mu);
        return;
    }
    struct conn *cn = *socket_context;
    if (!cn)
        return;
    /* Before libmicrohttpd closes the socket: the housekeeper never touches a closed fd. */
    pthread_mutex_lock(&srv->mu);
    if (cn->prev)
        cn->prev->next = cn->next;
    else
        srv->conns = cn->next;
    if (cn->next)
        cn->next->prev = cn->prev;
    srv->nconns--;
    pthread_mutex_unlock(&srv->mu);
    free(cn);
    *socket_context = NULL;
}

/* ---- housekeeping -------------------------------------------------------------------- */

/* A connection that passed a deadline: answer 408 directly on the socket (libmicrohttpd
 * has nothing queued on it while it reads a request) and shut it down; libmicrohttpd then
 * sees the end and cleans up. Called with srv->mu held. */
static void drop(struct http_server *srv, struct conn *cn, const char *why)
{
#define TIMEOUT_BODY                                                                               \
    "{\"error\":{\"code\":\"request_timeout\",\"message\":\"the request came too slowly\"}}"
    static const char answer[] =
        "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\n"
        "Connection: close\r\nContent-Length: 76\r\n\r\n" TIMEOUT_BODY;
    _Static_assert(sizeof(TIMEOUT_BODY) - 1 == 76, "Content-Length of the 408 body");
#undef TIMEOUT_BODY
    cn->dropped = true;
    /* A kept-alive connection waiting for its next request is most likely idle, not slow:
     * close it quietly (a browser just opens another). */
    bool idle = cn->phase == PH_HEADERS && cn->served;
    if (!idle)
        (void)send(cn->fd, answer, sizeof(answer) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)shutdown(cn->fd, SHUT_RDWR);
    if (!idle)
        log_event(LOG_WARN, "slow client dropped",
                  json_pack("{s:s,s:s,s:I}", "remote", cn->remote, "reason", why, "bytes",
                            (json_int_t)cn->body_bytes));
    (void)srv;
}

void srv_conns_tick(struct http_server *srv, int64_t now)
{
    int64_t limit = (int64_t)srv->cfg.header_timeout * 1000000;
    if (!limit)
        return;
    pthread_mutex_lock(&srv->mu);
    for (struct conn *cn = srv->conns; cn; cn = cn->next) {
        if (cn->dropped || cn->fd < 0)
            continue;
        int64_t age = now - cn->phase_us;
        if (cn->phase == PH_HEADERS && age > limit) {
            drop(srv, cn, "headers not complete within --header-timeout");
        } else if (cn->phase == PH_BODY && age > limit &&
                   (double)cn->body_bytes <
                       (double)srv->cfg.min_body_rate * (double)age / 1000000.0) {
            drop(srv, cn, "body slower than --min-body-rate");
        }
    }
    pthread_mutex_unlock(&srv->mu);
}
