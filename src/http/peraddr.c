/* peraddr: requests in flight per client address; see peraddr.h. */
#include "http/peraddr.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#define SLOTS 8192

struct peraddr {
    pthread_mutex_t mu;
    unsigned max;
    unsigned n[SLOTS];
};

static uint32_t slot(const char *addr)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)addr; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h % SLOTS;
}

struct peraddr *peraddr_new(unsigned max)
{
    struct peraddr *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    pthread_mutex_init(&p->mu, NULL);
    p->max = max ? max : 1;
    return p;
}

void peraddr_free(struct peraddr *p)
{
    if (!p)
        return;
    pthread_mutex_destroy(&p->mu);
    free(p);
}

bool peraddr_take(struct peraddr *p, const char *addr)
{
    uint32_t i = slot(addr);
    pthread_mutex_lock(&p->mu);
    bool ok = p->n[i] < p->max;
    if (ok)
        p->n[i]++;
    pthread_mutex_unlock(&p->mu);
    return ok;
}

void peraddr_give(struct peraddr *p, const char *addr)
{
    uint32_t i = slot(addr);
    pthread_mutex_lock(&p->mu);
    if (p->n[i])
        p->n[i]--;
    pthread_mutex_unlock(&p->mu);
}
