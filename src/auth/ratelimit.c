/* ratelimit: login backoff and the client address behind trusted proxies (see ratelimit.h). */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/ratelimit.h"
#include "core/util.h"

int64_t vg_backoff_wait_us(const vg_backoff_policy_t *p, int failures, int64_t last_us,
                           int64_t now_us)
{
    if (failures < p->free_failures || now_us - last_us >= (int64_t)p->forget_s * 1000000)
        return 0;
    int past = failures - p->free_failures + 1; /* 1 once the free failures are used up */
    int64_t wait_s = p->first_wait_s;
    for (int i = 1; i < past && wait_s < p->cap_s; i++)
        wait_s *= 2;
    if (wait_s > p->cap_s)
        wait_s = p->cap_s;
    int64_t left = last_us + wait_s * 1000000 - now_us;
    return left > 0 ? left : 0;
}

typedef struct slot {
    char key[140]; /* "" when free */
    int failures;
    int64_t last_us;
} slot_t;

struct vg_ratelimit {
    size_t count;
    slot_t slots[];
};

vg_ratelimit_t *vg_ratelimit_new(size_t slots)
{
    vg_ratelimit_t *r = vg_xcalloc(1, sizeof(*r) + slots * sizeof(slot_t));
    r->count = slots;
    return r;
}

void vg_ratelimit_free(vg_ratelimit_t **rp)
{
    free(*rp);
    *rp = NULL;
}

static slot_t *find(vg_ratelimit_t *r, const char *key)
{
    for (size_t i = 0; i < r->count; i++) {
        if (r->slots[i].key[0] && strcmp(r->slots[i].key, key) == 0)
            return &r->slots[i];
    }
    return NULL;
}

int vg_ratelimit_wait_s(vg_ratelimit_t *r, const vg_backoff_policy_t *p, const char *key,
                        int64_t now_us)
{
    slot_t *s = find(r, key);
    if (s == NULL)
        return 0;
    int64_t us = vg_backoff_wait_us(p, s->failures, s->last_us, now_us);
    return (int)((us + 999999) / 1000000);
}

void vg_ratelimit_fail(vg_ratelimit_t *r, const char *key, int64_t now_us)
{
    slot_t *s = find(r, key);
    if (s == NULL) {
        s = &r->slots[0]; /* a free slot, else the one idle longest */
        for (size_t i = 0; i < r->count && s->key[0]; i++) {
            if (r->slots[i].key[0] == '\0' || r->slots[i].last_us < s->last_us)
                s = &r->slots[i];
        }
        vg_strlcpy(s->key, key, sizeof(s->key));
        s->failures = 0;
    }
    s->failures++;
    s->last_us = now_us;
}

void vg_ratelimit_clear(vg_ratelimit_t *r, const char *key)
{
    slot_t *s = find(r, key);
    if (s)
        memset(s, 0, sizeof(*s));
}

/* ---- client address ---- */

static bool parse_ip(const char *text, uint8_t out[16])
{
    struct in_addr v4;
    if (inet_pton(AF_INET, text, &v4) == 1) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &v4, 4);
        return true;
    }
    return inet_pton(AF_INET6, text, out) == 1;
}

int vg_cidr_parse(const char *text, vg_cidr_t *out)
{
    char buf[64];
    if (text == NULL || !vg_strlcpy(buf, text, sizeof(buf)))
        return -1;
    char *slash = strchr(buf, '/');
    long prefix = -1;
    if (slash) {
        *slash = '\0';
        char *end;
        prefix = strtol(slash + 1, &end, 10);
        if (*end != '\0' || slash[1] == '\0')
            return -1;
    }
    if (!parse_ip(buf, out->addr))
        return -1;
    bool is_v4 = strchr(buf, ':') == NULL;
    long max = is_v4 ? 32 : 128;
    if (prefix < 0)
        prefix = max;
    if (prefix > max)
        return -1;
    out->prefix = (int)(is_v4 ? prefix + 96 : prefix);
    return 0;
}

static bool in_net(const vg_cidr_t *net, const uint8_t ip[16])
{
    int bits = net->prefix;
    for (int i = 0; i < 16 && bits > 0; i++, bits -= 8) {
        uint8_t mask = bits >= 8 ? 0xff : (uint8_t)(0xff << (8 - bits));
        if ((ip[i] & mask) != (net->addr[i] & mask))
            return false;
    }
    return true;
}

bool vg_cidr_contains(const vg_cidr_t *nets, size_t n, const char *ip)
{
    uint8_t a[16];
    if (ip == NULL || !parse_ip(ip, a))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (in_net(&nets[i], a))
            return true;
    }
    return false;
}

void vg_client_ip(const vg_cidr_t *nets, size_t n, const char *peer_ip, const char *xff,
                  char *out, size_t len)
{
    vg_strlcpy(out, peer_ip ? peer_ip : "", len);
    if (n == 0 || xff == NULL || !vg_cidr_contains(nets, n, peer_ip))
        return;
    /* From the right: each hop appended the address it got the request from. */
    const char *end = xff + strlen(xff);
    while (end > xff) {
        const char *start = end;
        while (start > xff && start[-1] != ',')
            start--;
        char hop[64];
        const char *a = start, *b = end;
        while (a < b && isspace((unsigned char)*a))
            a++;
        while (b > a && isspace((unsigned char)b[-1]))
            b--;
        size_t hl = (size_t)(b - a);
        uint8_t ignored[16];
        if (hl == 0 || hl >= sizeof(hop))
            return; /* a malformed hop: trust nothing further left */
        memcpy(hop, a, hl);
        hop[hl] = '\0';
        if (!parse_ip(hop, ignored))
            return;
        vg_strlcpy(out, hop, len);
        if (!vg_cidr_contains(nets, n, hop))
            return;
        end = start > xff ? start - 1 : xff;
    }
}
