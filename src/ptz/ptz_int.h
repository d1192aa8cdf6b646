/* ptz_int: what the PTZ drivers share, and their pure helpers (exposed for unit tests). */
#ifndef VG_PTZ_PTZ_INT_H
#define VG_PTZ_PTZ_INT_H

#include <libxml/tree.h>

#include "ptz/ptz.h"

struct vg_ptz {
    const vg_ptz_ops_t *ops;
    char *camera_id, *address, *user, *password; /* password wiped on close */
    uint32_t timeout_ms;
    vg_http_client_t *http;
    void *priv; /* the driver's */
};

extern const vg_ptz_ops_t vg__ptz_bosch_ops;
extern const vg_ptz_ops_t vg__ptz_onvif_ops;

/* Reports an outcome with only an error text (res->error; NULL on success). */
void vg__ptz_done_simple(vg_ptz_done_cb done, void *user, int status, const char *error);
/* A failed HTTP exchange (status from vg_http_done_cb) as a PTZ status and message. */
int vg__ptz_http_error(int status, const vg_http_response_t *res, char *msg, size_t len);

/* ---- libxml2 helpers (xml.c) ---- */

/* Parses a reply without touching the network; NULL when it is not XML. */
xmlDoc *vg__xml_parse(const char *body, size_t len);
/* The first element child of n whose local name is local (and namespace ns, unless NULL). */
xmlNode *vg__xml_child(const xmlNode *n, const char *ns, const char *local);
/* Its text, trimmed, into out ("" when none). */
void vg__xml_text(const xmlNode *n, char *out, size_t len);
/* An attribute's value into out; false when absent. */
bool vg__xml_attr(const xmlNode *n, const char *name, char *out, size_t len);

/* ---- Bosch RCP+ (bosch.c), sheet: ../shared/protocols/bosch-rcp-plus.md ---- */

/* A speed in -1..1 as a BiCom step 0..max (0 only for 0; any other value at least 1). */
int vg__bosch_step(double v, int max);
/* The continuous-move BiCom payload "0x800006011085PPTTZZ" (sheet §6.1) into out[32]. */
void vg__bosch_move_payload(double pan, double tilt, double zoom, char out[32]);
/* Recall (is_store false) or store preset n (1..256): "0x800006" 2ooo "81"/"80" (§6.2). */
int vg__bosch_preset_payload(int n, bool is_store, char out[32]);
/* The rcp.xml query in the web UI's order: command, type, direction, num, payload (§1). */
int vg__bosch_query(char *out, size_t len, const char *command, const char *type,
                    const char *direction, int num, const char *payload);

typedef struct vg__rcp_reply {
    int err;            /* RCP+ <err> code, or -1 */
    int bicom_err;      /* BiCom error (operation 0x6F), or -1 */
    uint8_t str[256];   /* <str> bytes (P_OCTET / P_UNICODE) */
    size_t str_len;
    bool has_str;
    long long dec;      /* <dec>, when has_dec */
    bool has_dec;
} vg__rcp_reply_t;
/* Reads an rcp.xml reply (§3). 0, or VG_EPROTO (not XML, or no <rcp> root). */
int vg__bosch_parse(const char *body, size_t len, vg__rcp_reply_t *out);
/* A clear message for an RCP+ or BiCom error code. */
const char *vg__bosch_err_name(int err);
const char *vg__bosch_bicom_err_name(int err);

/* ---- ONVIF (onvif.c), sheet: ../shared/protocols/onvif.md ---- */

/* Base64(SHA-1(nonce || created || password)) into out[29] (sheet §4.2). */
void vg__onvif_digest(const uint8_t *nonce, size_t nonce_len, const char *created,
                      const char *password, char out[29]);
/* unix_ms as xs:dateTime in UTC with Z, seconds precision, into out[32]. */
void vg__onvif_created(int64_t unix_ms, char out[32]);
/* A SOAP 1.2 envelope around body (one operation element); with a WS-Security
 * UsernameToken when user is not NULL (sheet §3). Returns a new string (free it). */
char *vg__onvif_envelope(const char *user, const char *password, const uint8_t nonce[16],
                         const char *created, const char *body);
/* Operation bodies. Each returns a new string. */
char *vg__onvif_continuous_move(const char *profile, double pan, double tilt, double zoom,
                                int timeout_s);
char *vg__onvif_stop(const char *profile);
char *vg__onvif_goto_preset(const char *profile, const char *token);
char *vg__onvif_set_preset(const char *profile, const char *name, const char *token);
char *vg__onvif_get_presets(const char *profile);
char *vg__onvif_remove_preset(const char *profile, const char *token);
char *vg__onvif_get_status(const char *profile);

/* The operation's response element in a reply, or NULL with a message in err: a SOAP fault
 * ("ONVIF fault env:Sender/ter:InvalidArgVal/ter:NoToken: reason"), not XML, or no such
 * element. *doc gets the parsed document (free it with xmlFreeDoc) whatever happens. */
xmlNode *vg__onvif_response(const char *body, size_t len, const char *op_response,
                            xmlDoc **doc, char *err, size_t err_len);
/* The number vigil gives an ONVIF preset token: the token's trailing decimal digits
 * ("3" -> 3, "P003" -> 3), or 0 when it has none or it is out of 1..256. */
int vg__onvif_preset_number(const char *token);
/* Parses GetSystemDateAndTime's UTCDateTime into unix ms; false when absent. */
bool vg__onvif_device_time(xmlNode *resp, int64_t *unix_ms);

#endif
