/* libFuzzer target: the client address behind trusted proxies. X-Forwarded-For comes from
 * whoever sent the request (a trusted proxy only appends to what its client wrote), and the
 * CIDR parser reads the operator's flags. Arbitrary input must not crash, and the address
 * chosen must always be the peer or one of the header's own hops, never a trusted proxy
 * unless every hop is one. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/ratelimit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    vg_cidr_t nets[3], any;
    (void)vg_cidr_parse(s, &any); /* the operator's text */
    vg_cidr_parse("127.0.0.1", &nets[0]);
    vg_cidr_parse("10.0.0.0/8", &nets[1]);
    vg_cidr_parse("::1", &nets[2]);
    char out[64];
    vg_client_ip(nets, 3, "127.0.0.1", s, out, sizeof(out));
    if (strcmp(out, "127.0.0.1") != 0 && strstr(s, out) == NULL)
        abort(); /* an address out of nowhere */
    vg_client_ip(nets, 3, "192.0.2.1", s, out, sizeof(out));
    if (strcmp(out, "192.0.2.1") != 0)
        abort(); /* an untrusted peer's header was believed */
    free(s);
    return 0;
}
