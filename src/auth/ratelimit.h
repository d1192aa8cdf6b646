/* ratelimit: slowing password guessing without locking anybody out.
 *
 * A counter per key ("u:<user>@<address>", "a:<address>", "u:<user>") of failed logins.
 * Past a number of free failures, each further attempt must wait twice as long as the one
 * before, up to a cap: a guesser gets a few tries a minute, while the owner of an account
 * under attack waits at most the cap, never a fixed lock-out window (an attacker who fails
 * on purpose cannot lock the admin out for 15 minutes). The counter is forgotten after a
 * quiet period, and cleared by a successful login.
 *
 * The policy is a pure function (vg_backoff_wait_us) of the counter and the time, unit
 * tested without sleeping. The table has a fixed number of slots: when full, the slot idle
 * longest is reused, so memory is bounded whatever an attacker sends. Loop thread only. */
#ifndef VG_AUTH_RATELIMIT_H
#define VG_AUTH_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct vg_backoff_policy {
    int free_failures; /* failures before the first wait */
    int first_wait_s;  /* the wait after that many */
    int cap_s;         /* the longest wait */
    int forget_s;      /* a counter this long without a failure is forgotten */
} vg_backoff_policy_t;

/* How long (µs) to wait from now_us before another attempt, after `failures` failures the
 * last of which was at last_us; 0: may try now. */
int64_t vg_backoff_wait_us(const vg_backoff_policy_t *p, int failures, int64_t last_us,
                           int64_t now_us);

typedef struct vg_ratelimit vg_ratelimit_t;

vg_ratelimit_t *vg_ratelimit_new(size_t slots);
void vg_ratelimit_free(vg_ratelimit_t **rp);
/* Seconds (rounded up) key must wait at now_us under p; 0 when it may try. */
int vg_ratelimit_wait_s(vg_ratelimit_t *r, const vg_backoff_policy_t *p, const char *key,
                        int64_t now_us);
void vg_ratelimit_fail(vg_ratelimit_t *r, const char *key, int64_t now_us);
void vg_ratelimit_clear(vg_ratelimit_t *r, const char *key);

/* ---- the client's address behind trusted reverse proxies ----
 *
 * Behind a proxy every client has the proxy's address, so a per-address limit would throttle
 * everybody together. X-Forwarded-For is believed only from configured proxies (CIDRs):
 * walking it from the right, the first address that is not a trusted proxy is the client.
 * From any other peer the header is ignored: anybody can write one. */
#define VG_PROXY_MAX 16
typedef struct vg_cidr {
    uint8_t addr[16]; /* IPv4 as ::ffff:a.b.c.d */
    int prefix;       /* over the 128 bits */
} vg_cidr_t;

/* "10.0.0.0/8", "::1", "192.168.1.5". 0 or < 0. */
int vg_cidr_parse(const char *text, vg_cidr_t *out);
bool vg_cidr_contains(const vg_cidr_t *nets, size_t n, const char *ip);
/* The client's address into out (at most len bytes): peer_ip, or from xff (may be NULL) when
 * peer_ip is a trusted proxy. */
void vg_client_ip(const vg_cidr_t *nets, size_t n, const char *peer_ip, const char *xff,
                  char *out, size_t len);

#endif
