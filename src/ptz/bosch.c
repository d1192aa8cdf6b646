/* bosch: the Bosch RCP+ driver, RCP+ tunnelled in HTTP GETs of /rcp.xml (sheet:
 * ../shared/protocols/bosch-rcp-plus.md, cited "§n").
 *
 * Every op is one GET (status is two: pan, then tilt). PTZ goes through the BiCom channel,
 * command 0x09A5 P_OCTET WRITE with flags 0x80 (no reply payload; §5-6): for those "HTTP
 * 200, XML, no <err>" is success and <result> is ignored, because what a camera puts there
 * is unknown (§5). Virtual alarms are 0x0a8b F_FLAG (§7, single-sourced: verify on
 * hardware). Auth is whatever the camera asks, Digest or Basic (net/http_client; §4).
 * Bosch cameras keep no preset names, and vigil does not read the preset bitmap (0x0212,
 * single-sourced): list_presets is not offered, so the control layer lists the presets
 * stored through vigil.
 * Loop thread only.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"
#include "ptz/ptz_int.h"

enum { K_WRITE, K_PAN, K_TILT, K_PROBE };

typedef struct bosch_call {
    struct bosch_call *prev, *next;
    vg_ptz_t *p;
    vg_http_req_t *req;
    int kind;
    vg_ptz_done_cb done;
    void *user;
    double pan; /* K_TILT: the pan read first */
} bosch_call_t;

typedef struct bosch {
    bosch_call_t *calls; /* in flight, for close */
} bosch_t;

/* ---- pure helpers ---- */

int vg__bosch_step(double v, int max)
{
    double a = fabs(v);
    if (!(a > 0))
        return 0;
    int s = (int)lround(a * max);
    return s < 1 ? 1 : s > max ? max : s;
}

void vg__bosch_move_payload(double pan, double tilt, double zoom, char out[32])
{
    /* §6.1: bit 7 set means right / up / in (tele); the low bits are the speed. */
    unsigned pp = (unsigned)vg__bosch_step(pan, 15) | (pan > 0 ? 0x80u : 0u);
    unsigned tt = (unsigned)vg__bosch_step(tilt, 15) | (tilt > 0 ? 0x80u : 0u);
    unsigned zz = (unsigned)vg__bosch_step(zoom, 7) | (zoom > 0 ? 0x80u : 0u);
    if ((pp & 0x7F) == 0)
        pp = 0;
    if ((tt & 0x7F) == 0)
        tt = 0;
    if ((zz & 0x7F) == 0)
        zz = 0;
    snprintf(out, 32, "0x800006011085%02X%02X%02X", pp, tt, zz);
}

int vg__bosch_preset_payload(int n, bool is_store, char out[32])
{
    if (n < 1 || n > 256)
        return VG_EINVAL;
    snprintf(out, 32, "0x800006%04X%s", 0x2000u + ((unsigned)(n - 1) << 4),
             is_store ? "80" : "81");
    return 0;
}

int vg__bosch_query(char *out, size_t len, const char *command, const char *type,
                    const char *direction, int num, const char *payload)
{
    int n = snprintf(out, len, "command=%s&type=%s&direction=%s&num=%d%s%s", command, type,
                     direction, num, payload ? "&payload=" : "", payload ? payload : "");
    return n < 0 || (size_t)n >= len ? VG_ENOSPC : 0;
}

const char *vg__bosch_err_name(int err)
{
    /* §3, names as the Bosch web UI has them. */
    switch (err) {
    case 0x10: return "INVALID_VERSION";
    case 0x20: return "NOT_REGISTERED";
    case 0x21: return "INVALID_CLIENT_ID";
    case 0x30: return "INVALID_METHOD";
    case 0x40: return "INVALID_CMD: command unknown on this camera";
    case 0x50: return "INVALID_ACCESS_TYPE";
    case 0x60: return "INVALID_DATA_TYPE";
    case 0x70: return "WRITE_ERROR";
    case 0x80: return "PACKET_SIZE";
    case 0x90: return "READ_NOT_SUPPORTED";
    case 0xA0: return "INVALID_AUTH_LEVEL: the camera account may not control (use a user or service account)";
    case 0xB0: return "INVALID_SESSION_ID";
    case 0xC0: return "TRY_LATER: the camera is busy";
    case 0xD0: return "TIMEOUT";
    case 0xE0: return "NO_LICENCE or COMMAND_SPECIFIC";
    case 0xF0: return "COMMAND_SPECIFIC";
    case 0xF1: return "ADDRESS_FORMAT";
    case 0xF2: return "NOT_SUPPORTED_ON_THIS_PLATFORM";
    default: return "UNKNOWN";
    }
}

const char *vg__bosch_bicom_err_name(int err)
{
    switch (err) {
    case 0x0001: return "illegal object id";
    case 0x0002: return "illegal member id";
    case 0x0003: return "illegal operation";
    case 0x0010: return "out of range";
    case 0x0011: return "illegal data size";
    case 0x0020: return "not allowed";
    case 0x0021: return "OSD active";
    default: return "unknown BiCom error";
    }
}


int vg__bosch_parse(const char *body, size_t len, vg__rcp_reply_t *out)
{
    memset(out, 0, sizeof(*out));
    out->err = out->bicom_err = -1;
    xmlDoc *doc = vg__xml_parse(body, len);
    xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (root == NULL || strcmp((const char *)root->name, "rcp") != 0) {
        xmlFreeDoc(doc);
        return VG_EPROTO;
    }
    xmlNode *result = vg__xml_child(root, NULL, "result");
    char text[1024];
    xmlNode *e = vg__xml_child(result, NULL, "err");
    if (e) {
        vg__xml_text(e, text, sizeof(text));
        out->err = 0xFF; /* an <err> we cannot read is still an error */
        if (strncmp(text, "0x", 2) == 0 || strncmp(text, "0X", 2) == 0) {
            char *end;
            unsigned long x = strtoul(text + 2, &end, 16);
            out->err = *end == '\0' && x <= 0xFFFF ? (int)x : 0xFF;
        }
    }
    xmlNode *d = vg__xml_child(result, NULL, "dec");
    if (d) {
        vg__xml_text(d, text, sizeof(text)); /* the UI's sample pads with spaces (§3) */
        long long v;
        if (vg_parse_int(text, -(1LL << 40), 1LL << 40, &v) == 0) {
            out->dec = v;
            out->has_dec = true;
        }
    }
    xmlNode *s = vg__xml_child(result, NULL, "str");
    if (s) {
        vg__xml_text(s, text, sizeof(text));
        out->has_str = true;
        for (const char *q = text; *q && out->str_len < sizeof(out->str);) {
            if (*q == ' ') {
                q++;
                continue;
            }
            int hi = vg_hex_digit(q[0]), lo = hi >= 0 ? vg_hex_digit(q[1]) : -1;
            if (hi < 0 || lo < 0) {
                out->has_str = false;
                break;
            }
            out->str[out->str_len++] = (uint8_t)(hi << 4 | lo);
            q += 2;
        }
        /* §5: operation byte 0x6F is a BiCom error, its code in the next two bytes. */
        if (out->has_str && out->str_len >= 8 && out->str[0] >= 0x80 && out->str[5] == 0x6F)
            out->bicom_err = out->str[6] << 8 | out->str[7];
    }
    xmlFreeDoc(doc);
    return 0;
}

/* ---- the driver ---- */

static void call_unlink(bosch_t *b, bosch_call_t *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        b->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
}

static void on_reply(void *arg, int status, const vg_http_response_t *res);

static int submit(vg_ptz_t *p, const char *query, bosch_call_t *c)
{
    bosch_t *b = p->priv;
    size_t n = strlen(p->address) + strlen(query) + 16;
    char *url = vg_xmalloc(n);
    snprintf(url, n, "%s/rcp.xml?%s", p->address, query);
    vg_http_request_t rq = {.method = "GET", .url = url, .user = p->user,
                            .password = p->password, .timeout_ms = p->timeout_ms,
                            .key = p->camera_id, .max_body_bytes = 64 * 1024};
    int rc = vg_http_request(p->http, &rq, on_reply, c, &c->req);
    free(url);
    if (rc < 0)
        return rc;
    c->next = b->calls;
    c->prev = NULL;
    if (b->calls)
        b->calls->prev = c;
    b->calls = c;
    return 0;
}

static int start(vg_ptz_t *p, int kind, const char *query, vg_ptz_done_cb done, void *user)
{
    bosch_call_t *c = vg_xcalloc(1, sizeof(*c));
    *c = (bosch_call_t){.p = p, .kind = kind, .done = done, .user = user};
    int rc = submit(p, query, c);
    if (rc < 0)
        free(c);
    return rc;
}

static int bicom(vg_ptz_t *p, const char *payload, vg_ptz_done_cb done, void *user)
{
    char q[256];
    vg__bosch_query(q, sizeof(q), "0x09A5", "P_OCTET", "WRITE", 1, payload);
    return start(p, K_WRITE, q, done, user);
}

/* UTF-16BE bytes up to the 00 00 terminator as UTF-8 (§8; the BMP is enough for a name). */
static void utf16be(const uint8_t *s, size_t n, char *out, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i + 1 < n; i += 2) {
        unsigned cp = (unsigned)s[i] << 8 | s[i + 1];
        if (cp == 0)
            break;
        if (cp < 0x80 && o + 1 < len) {
            out[o++] = (char)cp;
        } else if (cp < 0x800 && o + 2 < len) {
            out[o++] = (char)(0xC0 | cp >> 6);
            out[o++] = (char)(0x80 | (cp & 0x3F));
        } else if (o + 3 < len) {
            out[o++] = (char)(0xE0 | cp >> 12);
            out[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            out[o++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    out[o] = '\0';
}

static void on_reply(void *arg, int status, const vg_http_response_t *res)
{
    bosch_call_t *c = arg;
    vg_ptz_t *p = c->p;
    call_unlink(p->priv, c);
    char msg[256];
    int rc = 0;
    vg__rcp_reply_t r;
    if (status < 0 || res->http_status != 200) {
        rc = vg__ptz_http_error(status, res, msg, sizeof(msg));
    } else if (vg__bosch_parse(res->body, res->body_len, &r) < 0) {
        rc = VG_EPROTO;
        snprintf(msg, sizeof(msg), "the camera's reply is not RCP+ XML");
    } else if (r.err >= 0) {
        rc = VG_EPROTO;
        snprintf(msg, sizeof(msg), "the camera refused: RCP+ error 0x%02x (%s)", r.err,
                 vg__bosch_err_name(r.err));
    } else if (r.bicom_err >= 0) {
        rc = VG_EPROTO;
        snprintf(msg, sizeof(msg), "the camera refused: BiCom error 0x%04x (%s)", r.bicom_err,
                 vg__bosch_bicom_err_name(r.bicom_err));
    }
    if (rc < 0) {
        vg__ptz_done_simple(c->done, c->user, rc, msg);
        free(c);
        return;
    }
    if (c->kind == K_PAN || c->kind == K_TILT) {
        /* §6.3: Get replies echo the 6 header bytes, then a signed 16-bit value in
         * radians x 10000 (units single-sourced). */
        if (!r.has_str || r.str_len < 8) {
            vg__ptz_done_simple(c->done, c->user, VG_EPROTO,
                                "the camera's position reply is too short");
            free(c);
            return;
        }
        double rad = (int16_t)(r.str[6] << 8 | r.str[7]) / 10000.0;
        if (c->kind == K_PAN) {
            c->pan = rad;
            c->kind = K_TILT;
            char q[256];
            vg__bosch_query(q, sizeof(q), "0x09A5", "P_OCTET", "WRITE", 1, "0x810006011301");
            if (submit(p, q, c) < 0) {
                vg__ptz_done_simple(c->done, c->user, VG_EFULL, "too many camera requests");
                free(c);
            }
            return;
        }
        /* Pan -pi..pi and tilt -pi/2..pi/2 onto the generic -1..1; Bosch gives no zoom
         * position here, and whether it moves is the control layer's to say. */
        vg_ptz_status_t st = {.has_position = true,
                              .pan = c->pan / M_PI,
                              .tilt = rad / (M_PI / 2),
                              .zoom = 0};
        vg_ptz_result_t out = {.status = &st};
        c->done(c->user, 0, &out);
        free(c);
        return;
    }
    if (c->kind == K_PROBE) {
        char name[VG_PTZ_NAME_MAX * 3 + 1] = "";
        if (r.has_str)
            utf16be(r.str, r.str_len, name, sizeof(name));
        vg_ptz_result_t out = {.device_name = name};
        c->done(c->user, 0, &out);
        free(c);
        return;
    }
    vg__ptz_done_simple(c->done, c->user, 0, NULL);
    free(c);
}

static int b_open(vg_ptz_t *p, const vg_ptz_cfg_t *cfg)
{
    p->priv = vg_xcalloc(1, sizeof(bosch_t));
    return 0;
}

static void b_close(vg_ptz_t *p)
{
    bosch_t *b = p->priv;
    if (b == NULL)
        return;
    while (b->calls) {
        bosch_call_t *c = b->calls;
        b->calls = c->next;
        vg_http_cancel(c->req);
        free(c);
    }
    free(b);
    p->priv = NULL;
}

static int b_move(vg_ptz_t *p, double pan, double tilt, double zoom, vg_ptz_done_cb done,
                  void *user)
{
    char payload[32];
    vg__bosch_move_payload(pan, tilt, zoom, payload);
    return bicom(p, payload, done, user);
}

static int b_stop(vg_ptz_t *p, vg_ptz_done_cb done, void *user)
{
    return bicom(p, "0x800006011085000000", done, user); /* §9.2 */
}

static int b_preset(vg_ptz_t *p, int n, bool is_store, vg_ptz_done_cb done, void *user)
{
    char payload[32];
    int rc = vg__bosch_preset_payload(n, is_store, payload);
    return rc < 0 ? rc : bicom(p, payload, done, user);
}

static int b_goto(vg_ptz_t *p, int n, vg_ptz_done_cb done, void *user)
{
    return b_preset(p, n, false, done, user);
}

static int b_set(vg_ptz_t *p, int n, const char *name, vg_ptz_done_cb done, void *user)
{
    return b_preset(p, n, true, done, user);
}

static int b_alarm(vg_ptz_t *p, int n, bool is_on, vg_ptz_done_cb done, void *user)
{
    char q[256];
    vg__bosch_query(q, sizeof(q), "0x0a8b", "F_FLAG", "WRITE", n, is_on ? "1" : "0");
    return start(p, K_WRITE, q, done, user);
}

static int b_status(vg_ptz_t *p, vg_ptz_done_cb done, void *user)
{
    char q[256];
    vg__bosch_query(q, sizeof(q), "0x09A5", "P_OCTET", "WRITE", 1, "0x810006011201");
    return start(p, K_PAN, q, done, user);
}

static int b_probe(vg_ptz_t *p, vg_ptz_done_cb done, void *user)
{
    char q[256];
    vg__bosch_query(q, sizeof(q), "0x0019", "P_UNICODE", "READ", 1, NULL); /* §9.8 */
    return start(p, K_PROBE, q, done, user);
}

const vg_ptz_ops_t vg__ptz_bosch_ops = {
    .name = "bosch",
    .open = b_open,
    .close = b_close,
    .move = b_move,
    .stop = b_stop,
    .goto_preset = b_goto,
    .set_preset = b_set,
    .remove_preset = NULL, /* BiCom has no documented preset delete */
    .list_presets = NULL,
    .set_alarm = b_alarm,
    .status = b_status,
    .probe = b_probe,
};
