/*
 * peraddr: requests in flight per client address, for --max-connections-per-ip behind a
 * proxy. libmicrohttpd counts connections by the socket's address, which behind nginx is
 * nginx's own (one address for every user: the limit would eject the proxy). With
 * --trust-proxy the server counts instead the requests in flight of each forwarded client
 * address (a keep-alive connection from nginx carries many clients' requests one after
 * another; an open event stream or terminal is a request in flight).
 *
 * A fixed table of counters hashed by address (collisions share a counter, which can only
 * make the limit stricter for the two addresses). Thread-safe.
 */
#ifndef PYROOM_HTTP_PERADDR_H
#define PYROOM_HTTP_PERADDR_H

#include <stdbool.h>

struct peraddr;

/* max: requests in flight per address (> 0). NULL on ENOMEM. */
struct peraddr *peraddr_new(unsigned max);
void peraddr_free(struct peraddr *p);
/* Counts one request of addr; false (nothing counted) when addr has max in flight. */
bool peraddr_take(struct peraddr *p, const char *addr);
/* Ends one counted request of addr. */
void peraddr_give(struct peraddr *p, const char *addr);

#endif
