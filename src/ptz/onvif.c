/* onvif: the ONVIF PTZ driver, SOAP 1.2 over HTTP POST (sheet: ../shared/protocols/onvif.md,
 * cited "§n").
 *
 * An op is a short chain of exchanges, each one step of a call:
 *
 *   GetSystemDateAndTime (once, unauthenticated: the device's clock offset, §4.3)
 *   -> GetServices (once: the media and PTZ XAddrs, their host:port replaced by the address
 *      vigil dialled, since a device behind NAT names its inside address, §1)
 *   -> GetProfiles (once: the first profile with a PTZConfiguration is the ProfileToken, §8)
 *   -> GetPresets / GetRelayOutputs (when a preset number or an alarm number must become a
 *      device token)
 *   -> the operation itself.
 *
 * Auth: every request after the first carries a WS-UsernameToken with PasswordDigest
 * (SHA-1 over a fresh 16-byte nonce, Created on the device's clock, §4.2); the same
 * credentials go to the HTTP client, which answers a Digest challenge if the device sends
 * one (§4.1's fallback). Replies are parsed with libxml2 (never the network) and a SOAP
 * fault becomes a message naming its code, subcodes and reason (§5).
 *
 * Preset numbers: ONVIF tokens are device-chosen strings (§9.7). vigil numbers a preset by
 * its token's trailing digits ("3" and "P003" are both preset 3); a new preset stored
 * through vigil gets the token the device picks, and the reply says which number it has.
 * Alarms: ONVIF has no virtual input; alarm n is relay output n in GetRelayOutputs order,
 * set active/inactive with SetRelayOutputState (devicemgmt.wsdl; not in the sheet).
 * Loop thread only.
 */
#include <errno.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/err.h"
#include "core/util.h"
#include "ptz/onvif.h"
#include "ptz/ptz_int.h"

#define NS_SOAP "http://www.w3.org/2003/05/soap-envelope"
#define NS_TDS "http://www.onvif.org/ver10/device/wsdl"
#define NS_TRT "http://www.onvif.org/ver10/media/wsdl"
#define NS_TPTZ "http://www.onvif.org/ver20/ptz/wsdl"
#define NS_TT "http://www.onvif.org/ver10/schema"
#define NS_WSSE "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
#define NS_WSU "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"

/* A running continuous move also stops on the device by itself this long after the last
 * ContinuousMove, should vigil vanish; vigil's own lease (1 s) acts long before. */
#define MOVE_TIMEOUT_S 5

/* ---- pure helpers ---- */

void vg__onvif_digest(const uint8_t *nonce, size_t nonce_len, const char *created,
                      const char *password, char out[29])
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned md_len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    VG_ASSERT(ctx != NULL);
    EVP_DigestInit_ex(ctx, EVP_sha1(), NULL);
    EVP_DigestUpdate(ctx, nonce, nonce_len);
    EVP_DigestUpdate(ctx, created, strlen(created));
    if (password)
        EVP_DigestUpdate(ctx, password, strlen(password));
    EVP_DigestFinal_ex(ctx, md, &md_len);
    EVP_MD_CTX_free(ctx);
    sodium_bin2base64(out, 29, md, md_len, sodium_base64_VARIANT_ORIGINAL);
}

void vg__onvif_created(int64_t unix_ms, char out[32])
{
    time_t t = (time_t)(unix_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* s escaped for XML text and attributes (new string). */
static char *xml_esc(const char *s)
{
    size_t n = 1;
    for (const char *p = s; *p; p++)
        n += *p == '&' ? 5 : (*p == '<' || *p == '>') ? 4 : (*p == '"' || *p == '\'') ? 6 : 1;
    char *out = vg_xmalloc(n), *o = out;
    for (const char *p = s; *p; p++) {
        const char *r = *p == '&' ? "&amp;" : *p == '<' ? "&lt;" : *p == '>' ? "&gt;"
                      : *p == '"' ? "&quot;" : *p == '\'' ? "&apos;" : NULL;
        if (r) {
            memcpy(o, r, strlen(r));
            o += strlen(r);
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    va_list ap, ap2;
    va_start(ap, f);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, f, ap);
    va_end(ap);
    char *out = vg_xmalloc((size_t)n + 1);
    vsnprintf(out, (size_t)n + 1, f, ap2);
    va_end(ap2);
    return out;
}

char *vg__onvif_envelope(const char *user, const char *password, const uint8_t nonce[16],
                         const char *created, const char *body)
{
    char *header = vg_xstrdup("");
    if (user) {
        char digest[29], nonce64[32];
        vg__onvif_digest(nonce, 16, created, password, digest);
        sodium_bin2base64(nonce64, sizeof(nonce64), nonce, 16, sodium_base64_VARIANT_ORIGINAL);
        char *u = xml_esc(user);
        free(header);
        header = fmt(
            "<s:Header>"
            "<wsse:Security s:mustUnderstand=\"1\" xmlns:wsse=\"" NS_WSSE "\" xmlns:wsu=\"" NS_WSU "\">"
            "<wsse:UsernameToken>"
            "<wsse:Username>%s</wsse:Username>"
            "<wsse:Password Type=\"http://docs.oasis-open.org/wss/2004/01/"
            "oasis-200401-wss-username-token-profile-1.0#PasswordDigest\">%s</wsse:Password>"
            "<wsse:Nonce EncodingType=\"http://docs.oasis-open.org/wss/2004/01/"
            "oasis-200401-wss-soap-message-security-1.0#Base64Binary\">%s</wsse:Nonce>"
            "<wsu:Created>%s</wsu:Created>"
            "</wsse:UsernameToken></wsse:Security></s:Header>",
            u, digest, nonce64, created);
        free(u);
    }
    char *env = fmt("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
                    "<s:Envelope xmlns:s=\"" NS_SOAP "\" xmlns:tds=\"" NS_TDS
                    "\" xmlns:trt=\"" NS_TRT "\" xmlns:tptz=\"" NS_TPTZ "\" xmlns:tt=\"" NS_TT
                    "\">%s<s:Body>%s</s:Body></s:Envelope>",
                    header, body);
    free(header);
    return env;
}

/* A speed as the sheet writes it: "-0.5", "0", "1" (no exponent, at most 4 decimals). */
static void num(double v, char out[16])
{
    snprintf(out, 16, "%.4f", v);
    char *e = out + strlen(out) - 1;
    while (*e == '0')
        *e-- = '\0';
    if (*e == '.')
        *e = '\0';
    if (strcmp(out, "-0") == 0)
        vg_strlcpy(out, "0", 16);
}

char *vg__onvif_continuous_move(const char *profile, double pan, double tilt, double zoom,
                                int timeout_s)
{
    char x[16], y[16], z[16];
    num(pan, x);
    num(tilt, y);
    num(zoom, z);
    char *pr = xml_esc(profile);
    char *out = fmt("<tptz:ContinuousMove><tptz:ProfileToken>%s</tptz:ProfileToken>"
                    "<tptz:Velocity><tt:PanTilt x=\"%s\" y=\"%s\"/><tt:Zoom x=\"%s\"/>"
                    "</tptz:Velocity><tptz:Timeout>PT%dS</tptz:Timeout></tptz:ContinuousMove>",
                    pr, x, y, z, timeout_s);
    free(pr);
    return out;
}

char *vg__onvif_stop(const char *profile)
{
    char *pr = xml_esc(profile);
    char *out = fmt("<tptz:Stop><tptz:ProfileToken>%s</tptz:ProfileToken>"
                    "<tptz:PanTilt>true</tptz:PanTilt><tptz:Zoom>true</tptz:Zoom></tptz:Stop>",
                    pr);
    free(pr);
    return out;
}

static char *profile_token_op(const char *op, const char *profile, const char *token)
{
    char *pr = xml_esc(profile), *tk = token ? xml_esc(token) : NULL;
    char *out = tk ? fmt("<tptz:%s><tptz:ProfileToken>%s</tptz:ProfileToken>"
                         "<tptz:PresetToken>%s</tptz:PresetToken></tptz:%s>",
                         op, pr, tk, op)
                   : fmt("<tptz:%s><tptz:ProfileToken>%s</tptz:ProfileToken></tptz:%s>", op, pr,
                         op);
    free(pr);
    free(tk);
    return out;
}

char *vg__onvif_goto_preset(const char *profile, const char *token)
{
    return profile_token_op("GotoPreset", profile, token);
}

char *vg__onvif_set_preset(const char *profile, const char *name, const char *token)
{
    /* WSDL order: ProfileToken, PresetName, PresetToken (§9.7). */
    char *pr = xml_esc(profile);
    char *nm = name ? xml_esc(name) : NULL, *tk = token ? xml_esc(token) : NULL;
    char *nm_el = nm ? fmt("<tptz:PresetName>%s</tptz:PresetName>", nm) : vg_xstrdup("");
    char *tk_el = tk ? fmt("<tptz:PresetToken>%s</tptz:PresetToken>", tk) : vg_xstrdup("");
    char *out = fmt("<tptz:SetPreset><tptz:ProfileToken>%s</tptz:ProfileToken>%s%s"
                    "</tptz:SetPreset>",
                    pr, nm_el, tk_el);
    free(pr);
    free(nm);
    free(tk);
    free(nm_el);
    free(tk_el);
    return out;
}

char *vg__onvif_get_presets(const char *profile)
{
    return profile_token_op("GetPresets", profile, NULL);
}

char *vg__onvif_remove_preset(const char *profile, const char *token)
{
    return profile_token_op("RemovePreset", profile, token);
}

char *vg__onvif_get_status(const char *profile)
{
    return profile_token_op("GetStatus", profile, NULL);
}

static void fault_values(xmlNode *code, char *out, size_t len)
{
    /* Code/Value, then each nested Subcode/Value (§5). */
    for (xmlNode *n = code; n; n = vg__xml_child(n, NS_SOAP, "Subcode")) {
        char v[128];
        vg__xml_text(vg__xml_child(n, NS_SOAP, "Value"), v, sizeof(v));
        if (v[0] == '\0')
            break;
        size_t k = strlen(out);
        snprintf(out + k, len - k, "%s%s", k ? "/" : "", v);
    }
}

xmlNode *vg__onvif_response(const char *body, size_t len, const char *op_response,
                            xmlDoc **doc, char *err, size_t err_len)
{
    *doc = vg__xml_parse(body, len);
    xmlNode *env = *doc ? xmlDocGetRootElement(*doc) : NULL;
    xmlNode *b = vg__xml_child(env, NS_SOAP, "Body");
    if (env == NULL || strcmp((const char *)env->name, "Envelope") != 0 || b == NULL) {
        snprintf(err, err_len, "the camera's reply is not a SOAP 1.2 envelope");
        return NULL;
    }
    xmlNode *fault = vg__xml_child(b, NS_SOAP, "Fault");
    if (fault) {
        char codes[256] = "", reason[256];
        fault_values(vg__xml_child(fault, NS_SOAP, "Code"), codes, sizeof(codes));
        vg__xml_text(vg__xml_child(vg__xml_child(fault, NS_SOAP, "Reason"), NS_SOAP, "Text"),
                     reason, sizeof(reason));
        snprintf(err, err_len, "ONVIF fault %s: %s", codes[0] ? codes : "(no code)",
                 reason[0] ? reason : "(no reason)");
        return NULL;
    }
    for (xmlNode *c = b->children; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, op_response) == 0)
            return c;
    }
    snprintf(err, err_len, "the camera's reply has no %s", op_response);
    return NULL;
}

int vg__onvif_preset_number(const char *token)
{
    size_t n = strlen(token), k = n;
    while (k > 0 && token[k - 1] >= '0' && token[k - 1] <= '9')
        k--;
    if (k == n || n - k > 6)
        return 0;
    long v = strtol(token + k, NULL, 10);
    return v >= 1 && v <= VG_PTZ_PRESET_MAX ? (int)v : 0;
}

static int child_int(xmlNode *n, const char *local)
{
    char t[32];
    vg__xml_text(vg__xml_child(n, NS_TT, local), t, sizeof(t));
    long long v;
    return vg_parse_int(t, 0, 9999, &v) == 0 ? (int)v : -1;
}

bool vg__onvif_device_time(xmlNode *resp, int64_t *unix_ms)
{
    xmlNode *sdt = vg__xml_child(resp, NS_TDS, "SystemDateAndTime");
    xmlNode *utc = vg__xml_child(sdt, NS_TT, "UTCDateTime");
    xmlNode *t = vg__xml_child(utc, NS_TT, "Time"), *d = vg__xml_child(utc, NS_TT, "Date");
    if (t == NULL || d == NULL)
        return false;
    struct tm tm = {.tm_hour = child_int(t, "Hour"), .tm_min = child_int(t, "Minute"),
                    .tm_sec = child_int(t, "Second"), .tm_year = child_int(d, "Year") - 1900,
                    .tm_mon = child_int(d, "Month") - 1, .tm_mday = child_int(d, "Day")};
    if (tm.tm_hour < 0 || tm.tm_min < 0 || tm.tm_sec < 0 || tm.tm_year < 70 || tm.tm_mon < 0 ||
        tm.tm_mday < 1)
        return false;
    time_t s = timegm(&tm);
    if (s == (time_t)-1)
        return false;
    *unix_ms = (int64_t)s * 1000;
    return true;
}

/* ---- the driver ---- */

enum op {
    OP_MOVE, OP_STOP, OP_GOTO, OP_SET, OP_REMOVE, OP_LIST, OP_ALARM, OP_STATUS, OP_PROBE,
    OP_MEDIA /* vg_onvif_media_info */
};
enum step { S_CLOCK, S_SERVICES, S_PROFILE, S_LOOKUP, S_OP };

typedef struct onvif_call {
    struct onvif_call *prev, *next;
    vg_ptz_t *p;
    vg_http_req_t *req;
    enum op op;
    enum step step;
    double pan, tilt, zoom;
    int number;
    bool is_on;
    char *name;
    char token[128]; /* the looked-up preset or relay token ("" when none) */
    vg_ptz_done_cb done;
    void *user;
    /* OP_MEDIA: GetProfiles, GetStreamUri main (and sub), GetSnapshotUri */
    vg_onvif_media_cb media_done;
    vg_onvif_media_t *media;
    int mstep;
    char main_profile[128], sub_profile[128];
} onvif_call_t;

typedef struct onvif {
    onvif_call_t *calls;
    bool has_clock, has_services, has_profile;
    int64_t offset_ms; /* device clock - ours */
    char *media_url, *ptz_url;
    char profile[128];
} onvif_t;

static bool needs_profile(enum op op)
{
    return op != OP_ALARM && op != OP_PROBE && op != OP_MEDIA;
}

static void call_unlink(onvif_t *o, onvif_call_t *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        o->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

static void call_finish(onvif_call_t *c, int status, const vg_ptz_result_t *res,
                        const char *error)
{
    call_unlink(c->p->priv, c);
    if (c->op == OP_MEDIA) {
        c->media_done(c->user, status,
                      status < 0 ? (error ? error : vg_strerror(status)) : NULL,
                      status < 0 ? NULL : c->media);
        free(c->media);
        free(c);
        return;
    }
    if (res)
        c->done(c->user, status, res);
    else
        vg__ptz_done_simple(c->done, c->user, status, error);
    free(c->name);
    free(c);
}

/* The XAddr's path on the host:port vigil dialled (§1: behind NAT a device names its
 * inside address). */
static char *rebase(const char *address, const char *xaddr)
{
    const char *a = strstr(address, "://"), *x = strstr(xaddr, "://");
    if (a == NULL || x == NULL)
        return vg_xstrdup(address);
    const char *a_path = strchr(a + 3, '/'), *x_path = strchr(x + 3, '/');
    size_t base = a_path ? (size_t)(a_path - address) : strlen(address);
    return fmt("%.*s%s", (int)base, address, x_path ? x_path : "/");
}

static void on_reply(void *arg, int status, const vg_http_response_t *res);

static int send_op(onvif_call_t *c, const char *url, const char *body, bool is_signed)
{
    vg_ptz_t *p = c->p;
    onvif_t *o = p->priv;
    uint8_t nonce[16];
    randombytes_buf(nonce, sizeof(nonce));
    char created[32];
    vg__onvif_created(vg_wall_us() / 1000 + o->offset_ms, created);
    char *env = vg__onvif_envelope(is_signed && p->user ? p->user : NULL, p->password, nonce,
                                   created, body);
    static const char *const headers[] = {"Content-Type: application/soap+xml; charset=utf-8",
                                          NULL};
    vg_http_request_t rq = {.method = "POST", .url = url, .headers = headers, .body = env,
                            .body_len = strlen(env), .user = p->user, .password = p->password,
                            .timeout_ms = p->timeout_ms, .key = p->camera_id,
                            .max_body_bytes = 256 * 1024};
    int rc = vg_http_request(p->http, &rq, on_reply, c, &c->req);
    sodium_memzero(env, strlen(env));
    free(env);
    return rc;
}

static int advance_media(onvif_call_t *c)
{
    onvif_t *o = c->p->priv;
    if (c->mstep == 0)
        return send_op(c, o->media_url, "<trt:GetProfiles/>", true);
    char *tk = xml_esc(c->mstep == 2 ? c->sub_profile : c->main_profile);
    char *b = c->mstep == 3
                  ? fmt("<trt:GetSnapshotUri><trt:ProfileToken>%s</trt:ProfileToken>"
                        "</trt:GetSnapshotUri>", tk)
                  : fmt("<trt:GetStreamUri><trt:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream>"
                        "<tt:Transport><tt:Protocol>RTSP</tt:Protocol></tt:Transport>"
                        "</trt:StreamSetup><trt:ProfileToken>%s</trt:ProfileToken>"
                        "</trt:GetStreamUri>", tk);
    int rc = send_op(c, o->media_url, b, true);
    free(tk);
    free(b);
    return rc;
}

/* One media step's reply; true when the call is complete. */
static bool take_media(onvif_call_t *c, xmlNode *resp)
{
    vg_onvif_media_t *m = c->media;
    if (c->mstep == 0) {
        int k = 0;
        for (xmlNode *pr = resp->children; pr; pr = pr->next) {
            if (pr->type != XML_ELEMENT_NODE || strcmp((const char *)pr->name, "Profiles") != 0)
                continue;
            if (vg__xml_child(pr, NS_TT, "PTZConfiguration"))
                m->has_ptz = true;
            if (k < 2)
                vg__xml_attr(pr, "token", k == 0 ? c->main_profile : c->sub_profile,
                             sizeof(c->main_profile));
            k++;
        }
        m->profiles = k;
        c->mstep = 1;
        return k == 0; /* no profile: nothing more to ask */
    }
    xmlNode *uri = vg__xml_child(vg__xml_child(resp, NS_TRT, "MediaUri"), NS_TT, "Uri");
    char *dst = c->mstep == 1 ? m->main_uri : c->mstep == 2 ? m->sub_uri : m->snapshot_uri;
    vg__xml_text(uri, dst, sizeof(m->main_uri));
    c->mstep = c->mstep == 1 && c->sub_profile[0] == '\0' ? 3 : c->mstep + 1;
    return c->mstep > 3;
}

static const char *media_response(const onvif_call_t *c)
{
    return c->mstep == 0 ? "GetProfilesResponse"
           : c->mstep == 3 ? "GetSnapshotUriResponse" : "GetStreamUriResponse";
}

/* Sends the call's next exchange. 0, or < 0 (nothing sent). */
static int advance(onvif_call_t *c)
{
    vg_ptz_t *p = c->p;
    onvif_t *o = p->priv;
    if (!o->has_clock) {
        c->step = S_CLOCK;
        return send_op(c, p->address, "<tds:GetSystemDateAndTime/>", false);
    }
    if (!o->has_services) {
        c->step = S_SERVICES;
        return send_op(c, p->address,
                       "<tds:GetServices><tds:IncludeCapability>false</tds:IncludeCapability>"
                       "</tds:GetServices>",
                       true);
    }
    if (needs_profile(c->op) && !o->has_profile) {
        c->step = S_PROFILE;
        return send_op(c, o->media_url, "<trt:GetProfiles/>", true);
    }
    if (c->step < S_LOOKUP && (c->op == OP_GOTO || c->op == OP_SET || c->op == OP_REMOVE)) {
        c->step = S_LOOKUP;
        char *b = vg__onvif_get_presets(o->profile);
        int rc = send_op(c, o->ptz_url, b, true);
        free(b);
        return rc;
    }
    if (c->step < S_LOOKUP && c->op == OP_ALARM) {
        c->step = S_LOOKUP;
        return send_op(c, p->address, "<tds:GetRelayOutputs/>", true);
    }
    c->step = S_OP;
    if (c->op == OP_MEDIA)
        return advance_media(c);
    char *b = NULL;
    const char *url = o->ptz_url;
    switch (c->op) {
    case OP_MOVE:
        b = vg__onvif_continuous_move(o->profile, c->pan, c->tilt, c->zoom, MOVE_TIMEOUT_S);
        break;
    case OP_STOP: b = vg__onvif_stop(o->profile); break;
    case OP_GOTO: b = vg__onvif_goto_preset(o->profile, c->token); break;
    case OP_SET:
        b = vg__onvif_set_preset(o->profile, c->name, c->token[0] ? c->token : NULL);
        break;
    case OP_REMOVE: b = vg__onvif_remove_preset(o->profile, c->token); break;
    case OP_LIST: b = vg__onvif_get_presets(o->profile); break;
    case OP_STATUS: b = vg__onvif_get_status(o->profile); break;
    case OP_ALARM: {
        char *tk = xml_esc(c->token);
        b = fmt("<tds:SetRelayOutputState><tds:RelayOutputToken>%s</tds:RelayOutputToken>"
                "<tds:LogicalState>%s</tds:LogicalState></tds:SetRelayOutputState>",
                tk, c->is_on ? "active" : "inactive");
        free(tk);
        url = p->address;
        break;
    }
    case OP_PROBE:
        b = vg_xstrdup("<tds:GetDeviceInformation/>");
        url = p->address;
        break;
    case OP_MEDIA: break; /* above */
    }
    int rc = send_op(c, url, b, true);
    free(b);
    return rc;
}

static const char *const responses[] = {
    [OP_MOVE] = "ContinuousMoveResponse", [OP_STOP] = "StopResponse",
    [OP_GOTO] = "GotoPresetResponse",     [OP_SET] = "SetPresetResponse",
    [OP_REMOVE] = "RemovePresetResponse", [OP_LIST] = "GetPresetsResponse",
    [OP_ALARM] = "SetRelayOutputStateResponse", [OP_STATUS] = "GetStatusResponse",
    [OP_PROBE] = "GetDeviceInformationResponse",
};

static const char *step_response(const onvif_call_t *c)
{
    switch (c->step) {
    case S_CLOCK: return "GetSystemDateAndTimeResponse";
    case S_SERVICES: return "GetServicesResponse";
    case S_PROFILE: return "GetProfilesResponse";
    case S_LOOKUP: return c->op == OP_ALARM ? "GetRelayOutputsResponse" : "GetPresetsResponse";
    default: return c->op == OP_MEDIA ? media_response(c) : responses[c->op];
    }
}

static int fault_status(const char *msg)
{
    if (strstr(msg, "NotAuthorized"))
        return VG_EUNAUTHORIZED;
    if (strstr(msg, "NoToken"))
        return VG_ENOENT;
    return VG_EPROTO;
}

static void presets_result(onvif_call_t *c, xmlNode *resp)
{
    vg_ptz_preset_t *list = vg_xcalloc(VG_PTZ_PRESET_MAX, sizeof(*list));
    size_t n = 0;
    for (xmlNode *e = resp->children; e && n < VG_PTZ_PRESET_MAX; e = e->next) {
        char token[128];
        if (e->type != XML_ELEMENT_NODE || strcmp((const char *)e->name, "Preset") != 0 ||
            !vg__xml_attr(e, "token", token, sizeof(token)))
            continue;
        int number = vg__onvif_preset_number(token);
        if (number == 0)
            continue; /* a token vigil cannot number: not offered */
        list[n].number = number;
        vg__xml_text(vg__xml_child(e, NS_TT, "Name"), list[n].name, sizeof(list[n].name));
        n++;
    }
    vg_ptz_result_t res = {.presets = list, .n_presets = n};
    call_finish(c, 0, &res, NULL);
    free(list);
}

static void status_result(onvif_call_t *c, xmlNode *resp)
{
    xmlNode *st = vg__xml_child(resp, NS_TPTZ, "PTZStatus");
    xmlNode *pos = vg__xml_child(st, NS_TT, "Position");
    xmlNode *pt = vg__xml_child(pos, NS_TT, "PanTilt"), *z = vg__xml_child(pos, NS_TT, "Zoom");
    vg_ptz_status_t s = {0};
    char v[64];
    if (pt && vg__xml_attr(pt, "x", v, sizeof(v))) {
        s.has_position = true;
        s.pan = strtod(v, NULL);
        if (vg__xml_attr(pt, "y", v, sizeof(v)))
            s.tilt = strtod(v, NULL);
        if (z && vg__xml_attr(z, "x", v, sizeof(v)))
            s.zoom = strtod(v, NULL);
    }
    xmlNode *ms = vg__xml_child(st, NS_TT, "MoveStatus");
    char a[32], b[32];
    vg__xml_text(vg__xml_child(ms, NS_TT, "PanTilt"), a, sizeof(a));
    vg__xml_text(vg__xml_child(ms, NS_TT, "Zoom"), b, sizeof(b));
    s.is_moving = strcmp(a, "MOVING") == 0 || strcmp(b, "MOVING") == 0;
    vg_ptz_result_t res = {.status = &s};
    call_finish(c, 0, &res, NULL);
}

/* A step's reply read; false when the call finished (failed) here. */
static bool take_step(onvif_call_t *c, xmlNode *resp)
{
    vg_ptz_t *p = c->p;
    onvif_t *o = p->priv;
    char msg[256];
    switch (c->step) {
    case S_CLOCK: {
        int64_t dev_ms;
        /* A device that will not tell its time unauthenticated: our own clock (§4.3). */
        o->offset_ms = resp && vg__onvif_device_time(resp, &dev_ms)
                           ? dev_ms - vg_wall_us() / 1000 : 0;
        o->has_clock = true;
        return true;
    }
    case S_SERVICES: {
        free(o->media_url);
        free(o->ptz_url);
        o->media_url = o->ptz_url = NULL;
        for (xmlNode *s = resp ? resp->children : NULL; s; s = s->next) {
            char ns[128], xaddr[512];
            if (s->type != XML_ELEMENT_NODE || strcmp((const char *)s->name, "Service") != 0)
                continue;
            vg__xml_text(vg__xml_child(s, NS_TDS, "Namespace"), ns, sizeof(ns));
            vg__xml_text(vg__xml_child(s, NS_TDS, "XAddr"), xaddr, sizeof(xaddr));
            if (strcmp(ns, NS_TRT) == 0 && o->media_url == NULL)
                o->media_url = rebase(p->address, xaddr);
            else if (strcmp(ns, NS_TPTZ) == 0 && o->ptz_url == NULL)
                o->ptz_url = rebase(p->address, xaddr);
        }
        /* Without GetServices, everything at the device service (some devices do so). */
        if (o->media_url == NULL)
            o->media_url = vg_xstrdup(p->address);
        if (o->ptz_url == NULL)
            o->ptz_url = vg_xstrdup(p->address);
        o->has_services = true;
        return true;
    }
    case S_PROFILE:
        for (xmlNode *pr = resp->children; pr; pr = pr->next) {
            if (pr->type == XML_ELEMENT_NODE && strcmp((const char *)pr->name, "Profiles") == 0 &&
                vg__xml_child(pr, NS_TT, "PTZConfiguration") &&
                vg__xml_attr(pr, "token", o->profile, sizeof(o->profile))) {
                o->has_profile = true;
                return true;
            }
        }
        call_finish(c, VG_EPROTO, NULL, "the camera has no media profile with PTZ");
        return false;
    case S_LOOKUP:
        c->token[0] = '\0';
        if (c->op == OP_ALARM) {
            int i = 0;
            for (xmlNode *r = resp->children; r; r = r->next) {
                if (r->type == XML_ELEMENT_NODE &&
                    strcmp((const char *)r->name, "RelayOutputs") == 0 && ++i == c->number)
                    vg__xml_attr(r, "token", c->token, sizeof(c->token));
            }
            if (c->token[0] == '\0') {
                snprintf(msg, sizeof(msg), "the camera has no relay output %d (it has %d)",
                         c->number, i);
                call_finish(c, VG_ENOENT, NULL, msg);
                return false;
            }
            return true;
        }
        for (xmlNode *e = resp->children; e; e = e->next) {
            char token[128];
            if (e->type == XML_ELEMENT_NODE && strcmp((const char *)e->name, "Preset") == 0 &&
                vg__xml_attr(e, "token", token, sizeof(token)) &&
                vg__onvif_preset_number(token) == c->number) {
                vg_strlcpy(c->token, token, sizeof(c->token));
                if (c->op == OP_SET && c->name == NULL) { /* keep the name it has */
                    char name[VG_PTZ_NAME_MAX + 1];
                    vg__xml_text(vg__xml_child(e, NS_TT, "Name"), name, sizeof(name));
                    if (name[0])
                        c->name = vg_xstrdup(name);
                }
                break;
            }
        }
        if (c->token[0] == '\0' && c->op != OP_SET) {
            snprintf(msg, sizeof(msg), "the camera has no preset %d", c->number);
            call_finish(c, VG_ENOENT, NULL, msg);
            return false;
        }
        if (c->token[0] == '\0' && c->name == NULL) {
            char name[32];
            snprintf(name, sizeof(name), "Preset %d", c->number);
            c->name = vg_xstrdup(name);
        }
        return true;
    case S_OP:
        break;
    }
    return true;
}

static void on_reply(void *arg, int status, const vg_http_response_t *res)
{
    onvif_call_t *c = arg;
    vg_ptz_t *p = c->p;
    onvif_t *o = p->priv;
    c->req = NULL;
    char msg[320];
    if (status < 0) {
        int rc = vg__ptz_http_error(status, res, msg, sizeof(msg));
        call_finish(c, rc, NULL, msg);
        return;
    }
    xmlDoc *doc = NULL;
    xmlNode *resp = vg__onvif_response(res->body, res->body_len, step_response(c), &doc, msg,
                                       sizeof(msg));
    if (resp == NULL) {
        xmlFreeDoc(doc);
        bool is_soap = strncmp(msg, "ONVIF fault", 11) == 0;
        if (c->step == S_CLOCK || (c->step == S_SERVICES && is_soap)) {
            /* Optional steps: go on without (our clock; the device service for all). */
            take_step(c, NULL);
        } else {
            int rc;
            if (is_soap) {
                rc = fault_status(msg);
                if (c->step == S_OP && strstr(msg, "NoProfile"))
                    o->has_profile = false; /* reconfigured device: look again next time */
            } else if (res->http_status != 200) {
                rc = vg__ptz_http_error(0, res, msg, sizeof(msg));
            } else {
                rc = VG_EPROTO;
            }
            call_finish(c, rc, NULL, msg);
            return;
        }
    } else if (c->step != S_OP) {
        bool go_on = take_step(c, resp);
        xmlFreeDoc(doc);
        if (!go_on)
            return;
    } else if (c->op == OP_MEDIA) {
        bool is_done = take_media(c, resp);
        xmlFreeDoc(doc);
        if (is_done) {
            call_finish(c, 0, NULL, NULL);
            return;
        }
    } else {
        if (c->op == OP_LIST) {
            presets_result(c, resp);
        } else if (c->op == OP_STATUS) {
            status_result(c, resp);
        } else if (c->op == OP_PROBE) {
            char make[64], model[64], name[140];
            vg__xml_text(vg__xml_child(resp, NS_TDS, "Manufacturer"), make, sizeof(make));
            vg__xml_text(vg__xml_child(resp, NS_TDS, "Model"), model, sizeof(model));
            snprintf(name, sizeof(name), "%s%s%s", make, make[0] ? " " : "", model);
            vg_ptz_result_t r = {.device_name = name};
            call_finish(c, 0, &r, NULL);
        } else if (c->op == OP_SET) {
            char token[128];
            vg__xml_text(vg__xml_child(resp, NS_TPTZ, "PresetToken"), token, sizeof(token));
            vg_ptz_preset_t pr = {.number = vg__onvif_preset_number(token)};
            vg_strlcpy(pr.name, c->name ? c->name : "", sizeof(pr.name));
            vg_ptz_result_t r = {.presets = &pr, .n_presets = pr.number ? 1 : 0};
            call_finish(c, 0, &r, NULL);
        } else {
            call_finish(c, 0, NULL, NULL);
        }
        xmlFreeDoc(doc);
        return;
    }
    int rc = advance(c);
    if (rc < 0)
        call_finish(c, rc, NULL, "too many camera requests waiting");
}

static int begin(vg_ptz_t *p, onvif_call_t *tmpl)
{
    onvif_t *o = p->priv;
    onvif_call_t *c = vg_xmalloc(sizeof(*c));
    *c = *tmpl;
    c->p = p;
    c->step = S_CLOCK;
    int rc = advance(c);
    if (rc < 0) {
        free(c->name);
        free(c);
        return rc;
    }
    c->next = o->calls;
    if (o->calls)
        o->calls->prev = c;
    o->calls = c;
    return 0;
}

static int o_open(vg_ptz_t *p, const vg_ptz_cfg_t *cfg)
{
    p->priv = vg_xcalloc(1, sizeof(onvif_t));
    return 0;
}

static void o_close(vg_ptz_t *p)
{
    onvif_t *o = p->priv;
    if (o == NULL)
        return;
    while (o->calls) {
        onvif_call_t *c = o->calls;
        o->calls = c->next;
        if (c->req)
            vg_http_cancel(c->req);
        free(c->name);
        free(c->media);
        free(c);
    }
    free(o->media_url);
    free(o->ptz_url);
    free(o);
    p->priv = NULL;
}

static int o_move(vg_ptz_t *p, double pan, double tilt, double zoom, vg_ptz_done_cb done,
                  void *user)
{
    onvif_call_t c = {.op = OP_MOVE, .pan = pan, .tilt = tilt, .zoom = zoom, .done = done,
                      .user = user};
    return begin(p, &c);
}

static int o_simple(vg_ptz_t *p, enum op op, vg_ptz_done_cb done, void *user)
{
    onvif_call_t c = {.op = op, .done = done, .user = user};
    return begin(p, &c);
}

static int o_stop(vg_ptz_t *p, vg_ptz_done_cb done, void *user)
{
    return o_simple(p, OP_STOP, done, user);
}
static int o_list(vg_ptz_t *p, vg_ptz_done_cb done, void *user)
{
    return o_simple(p, OP_LIST, done, user);
}
static int o_status(vg_ptz_t *p, vg_ptz_done_cb done, void *user)
{
    return o_simple(p, OP_STATUS, done, user);
}
static int o_probe(vg_ptz_t *p, vg_ptz_done_cb done, void *user)
{
    return o_simple(p, OP_PROBE, done, user);
}

static int o_numbered(vg_ptz_t *p, enum op op, int n, vg_ptz_done_cb done, void *user)
{
    onvif_call_t c = {.op = op, .number = n, .done = done, .user = user};
    return begin(p, &c);
}

static int o_goto(vg_ptz_t *p, int n, vg_ptz_done_cb done, void *user)
{
    return o_numbered(p, OP_GOTO, n, done, user);
}
static int o_remove(vg_ptz_t *p, int n, vg_ptz_done_cb done, void *user)
{
    return o_numbered(p, OP_REMOVE, n, done, user);
}

static int o_set(vg_ptz_t *p, int n, const char *name, vg_ptz_done_cb done, void *user)
{
    onvif_call_t c = {.op = OP_SET, .number = n, .name = name && *name ? vg_xstrdup(name) : NULL,
                      .done = done, .user = user};
    return begin(p, &c);
}

static int o_alarm(vg_ptz_t *p, int n, bool is_on, vg_ptz_done_cb done, void *user)
{
    onvif_call_t c = {.op = OP_ALARM, .number = n, .is_on = is_on, .done = done, .user = user};
    return begin(p, &c);
}

int vg_onvif_media_info(vg_ptz_t *p, vg_onvif_media_cb done, void *user)
{
    if (vg_ptz_driver(p) != &vg__ptz_onvif_ops)
        return VG_EINVAL;
    onvif_call_t c = {.op = OP_MEDIA, .media_done = done, .user = user,
                      .media = vg_xcalloc(1, sizeof(vg_onvif_media_t))};
    int rc = begin(p, &c);
    if (rc < 0)
        free(c.media);
    return rc;
}

const vg_ptz_ops_t vg__ptz_onvif_ops = {
    .name = "onvif",
    .open = o_open,
    .close = o_close,
    .move = o_move,
    .stop = o_stop,
    .goto_preset = o_goto,
    .set_preset = o_set,
    .remove_preset = o_remove,
    .list_presets = o_list,
    .set_alarm = o_alarm,
    .status = o_status,
    .probe = o_probe,
};
