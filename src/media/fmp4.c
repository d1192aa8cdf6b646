/* fmp4: see fmp4.h. Boxes are written with big-endian put helpers into one frame whose size is
 * computed first: the init segment's layout is fixed but for the avcC/hvcC record, and a
 * fragment's is fixed but for the sample count and the NAL units kept, which a first pass over
 * the access units adds up. Each box's size field is filled when the box ends, and the total
 * is checked against the computed size (VG_ASSERT), so a layout change that forgets the size
 * arithmetic fails every test instead of writing past the frame.
 *
 * Box layouts: ISO/IEC 14496-12:2015 (section numbers below), sample entries and records
 * ISO/IEC 14496-15. Any thread; no state.
 */
#include "media/fmp4.h"

#include <string.h>

#include "core/err.h"
#include "core/log.h"

/* ---- big-endian writer ------------------------------------------------------------------ */

typedef struct writer {
    uint8_t *p;
} writer_t;

static void put_u16(writer_t *w, uint32_t v)
{
    w->p[0] = (uint8_t)(v >> 8);
    w->p[1] = (uint8_t)v;
    w->p += 2;
}

static void put_u32_at(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put_u32(writer_t *w, uint32_t v)
{
    put_u32_at(w->p, v);
    w->p += 4;
}

static void put_u64(writer_t *w, uint64_t v)
{
    put_u32(w, (uint32_t)(v >> 32));
    put_u32(w, (uint32_t)v);
}

static void put_fourcc(writer_t *w, const char *type)
{
    memcpy(w->p, type, 4);
    w->p += 4;
}

static void put_bytes(writer_t *w, const void *src, size_t len)
{
    memcpy(w->p, src, len);
    w->p += len;
}

static void put_zeros(writer_t *w, size_t len)
{
    memset(w->p, 0, len);
    w->p += len;
}

/* Starts a box; its size is written by box_end. Returns where the box starts. */
static uint8_t *box_begin(writer_t *w, const char *type)
{
    uint8_t *start = w->p;
    w->p += 4;
    put_fourcc(w, type);
    return start;
}

static uint8_t *full_box_begin(writer_t *w, const char *type, uint8_t version, uint32_t flags)
{
    uint8_t *start = box_begin(w, type);
    put_u32(w, (uint32_t)version << 24 | (flags & 0xffffff));
    return start;
}

static void box_end(writer_t *w, uint8_t *start)
{
    put_u32_at(start, (uint32_t)(w->p - start));
}

/* The unity transformation matrix of mvhd and tkhd (8.2.2.3): 16.16 and 2.30 fixed point. */
static void put_unity_matrix(writer_t *w)
{
    static const uint32_t matrix[9] = {0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000};
    for (int i = 0; i < 9; i++)
        put_u32(w, matrix[i]);
}

/* ---- init segment ----------------------------------------------------------------------- */

/* Sizes of the init segment's boxes that do not depend on the stream. */
enum {
    FTYP_SIZE = 28,
    MVHD_SIZE = 108,
    TKHD_SIZE = 92,
    MDHD_SIZE = 32,
    HDLR_SIZE = 45, /* with the name "VideoHandler" and its NUL */
    VMHD_SIZE = 20,
    DINF_SIZE = 36,
    SAMPLE_ENTRY_SIZE = 86, /* VisualSampleEntry without its boxes */
    EMPTY_TABLES_SIZE = 16 + 16 + 20 + 16, /* stts, stsc, stsz, stco with no entries */
    TREX_SIZE = 32,
    BOX_HEADER = 8,
    FULL_BOX_HEADER = 12,
    SMHD_SIZE = 16,
    AUDIO_SAMPLE_ENTRY_SIZE = 36, /* AudioSampleEntry without its boxes (12.2.3) */
    ESDS_FIXED_SIZE = 37, /* esds without the AudioSpecificConfig (see write_esds) */
};

static size_t audio_trak_size(size_t config_len)
{
    size_t stsd = FULL_BOX_HEADER + 4 + AUDIO_SAMPLE_ENTRY_SIZE + ESDS_FIXED_SIZE + config_len;
    size_t stbl = BOX_HEADER + stsd + EMPTY_TABLES_SIZE;
    size_t minf = BOX_HEADER + SMHD_SIZE + DINF_SIZE + stbl;
    size_t mdia = BOX_HEADER + MDHD_SIZE + HDLR_SIZE + minf;
    return BOX_HEADER + TKHD_SIZE + mdia;
}

static size_t init_segment_size(size_t record_len, const vg_fmp4_audio_t *audio)
{
    size_t stsd = FULL_BOX_HEADER + 4 + SAMPLE_ENTRY_SIZE + BOX_HEADER + record_len;
    size_t stbl = BOX_HEADER + stsd + EMPTY_TABLES_SIZE;
    size_t minf = BOX_HEADER + VMHD_SIZE + DINF_SIZE + stbl;
    size_t mdia = BOX_HEADER + MDHD_SIZE + HDLR_SIZE + minf;
    size_t trak = BOX_HEADER + TKHD_SIZE + mdia;
    size_t tracks = audio ? 2 : 1;
    size_t moov = BOX_HEADER + MVHD_SIZE + trak + BOX_HEADER + tracks * TREX_SIZE;
    if (audio)
        moov += audio_trak_size(audio->config_len);
    return FTYP_SIZE + moov;
}

static void write_ftyp(writer_t *w)
{
    /* iso6: the brand whose rules (tfdt, default-base-is-moof) the fragments follow; cmfc:
     * they are CMAF chunks, which LL-HLS expects; mp41 for older readers. */
    uint8_t *ftyp = box_begin(w, "ftyp");
    put_fourcc(w, "iso6"); /* major_brand */
    put_u32(w, 0);         /* minor_version */
    put_fourcc(w, "iso6");
    put_fourcc(w, "cmfc");
    put_fourcc(w, "mp41");
    box_end(w, ftyp);
}

static void write_mvhd(writer_t *w, uint32_t timescale, uint32_t next_track_id)
{
    uint8_t *mvhd = full_box_begin(w, "mvhd", 0, 0); /* 8.2.2 */
    put_u32(w, 0);          /* creation_time */
    put_u32(w, 0);          /* modification_time */
    put_u32(w, timescale);
    put_u32(w, 0);          /* duration: unknown, the fragments carry the media */
    put_u32(w, 0x00010000); /* rate 1.0 */
    put_u16(w, 0x0100);     /* volume 1.0 */
    put_zeros(w, 2 + 8);    /* reserved */
    put_unity_matrix(w);
    put_zeros(w, 24); /* pre_defined */
    put_u32(w, next_track_id);
    box_end(w, mvhd);
}

/* An audio track has no size and full volume; a video track the picture's size, volume 0. */
static void write_tkhd(writer_t *w, uint32_t track_id, bool is_audio, int width, int height)
{
    /* flags: track_enabled | track_in_movie (8.3.2) */
    uint8_t *tkhd = full_box_begin(w, "tkhd", 0, 0x000003);
    put_u32(w, 0); /* creation_time */
    put_u32(w, 0); /* modification_time */
    put_u32(w, track_id);
    put_u32(w, 0);     /* reserved */
    put_u32(w, 0);     /* duration */
    put_zeros(w, 8);   /* reserved */
    put_u16(w, 0);     /* layer */
    put_u16(w, 0);     /* alternate_group */
    put_u16(w, is_audio ? 0x0100 : 0); /* volume, 8.8 */
    put_u16(w, 0);     /* reserved */
    put_unity_matrix(w);
    put_u32(w, (uint32_t)width << 16); /* 16.16 */
    put_u32(w, (uint32_t)height << 16);
    box_end(w, tkhd);
}

static void write_mdhd(writer_t *w, uint32_t timescale)
{
    uint8_t *mdhd = full_box_begin(w, "mdhd", 0, 0); /* 8.4.2 */
    put_u32(w, 0); /* creation_time */
    put_u32(w, 0); /* modification_time */
    put_u32(w, timescale);
    put_u32(w, 0); /* duration */
    /* language "und" (ISO 639-2/T), three 5-bit letters minus 0x60 */
    put_u16(w, ('u' - 0x60) << 10 | ('n' - 0x60) << 5 | ('d' - 0x60));
    put_u16(w, 0); /* pre_defined */
    box_end(w, mdhd);
}

static void write_hdlr(writer_t *w, bool is_audio)
{
    /* Both names are 12 characters: HDLR_SIZE holds for either. */
    const char *name = is_audio ? "SoundHandler" : "VideoHandler";
    uint8_t *hdlr = full_box_begin(w, "hdlr", 0, 0); /* 8.4.3 */
    put_u32(w, 0);          /* pre_defined */
    put_fourcc(w, is_audio ? "soun" : "vide"); /* handler_type */
    put_zeros(w, 12);       /* reserved */
    put_bytes(w, name, strlen(name) + 1);
    box_end(w, hdlr);
}

static void write_dinf(writer_t *w)
{
    uint8_t *dinf = box_begin(w, "dinf"); /* 8.7.1 */
    uint8_t *dref = full_box_begin(w, "dref", 0, 0);
    put_u32(w, 1); /* entry_count */
    /* flags 1: the media is in this file */
    uint8_t *url = full_box_begin(w, "url ", 0, 0x000001);
    box_end(w, url);
    box_end(w, dref);
    box_end(w, dinf);
}

/* VisualSampleEntry (12.1.3) with its decoder configuration record (14496-15 5.4.2, 8.4.1). */
static void write_sample_entry(writer_t *w, vg_codec_t codec, int width, int height,
                               const uint8_t *record, size_t record_len)
{
    bool is_h264 = codec == VG_CODEC_H264;
    uint8_t *entry = box_begin(w, is_h264 ? "avc1" : "hvc1");
    put_zeros(w, 6);        /* reserved */
    put_u16(w, 1);          /* data_reference_index */
    put_zeros(w, 2 + 2 + 12); /* pre_defined, reserved, pre_defined */
    put_u16(w, (uint32_t)width);
    put_u16(w, (uint32_t)height);
    put_u32(w, 0x00480000); /* horizresolution 72 dpi */
    put_u32(w, 0x00480000); /* vertresolution */
    put_u32(w, 0);          /* reserved */
    put_u16(w, 1);          /* frame_count */
    put_zeros(w, 32);       /* compressorname: empty Pascal string */
    put_u16(w, 0x0018);     /* depth: colour, no alpha */
    put_u16(w, 0xffff);     /* pre_defined = -1 */
    uint8_t *config = box_begin(w, is_h264 ? "avcC" : "hvcC");
    put_bytes(w, record, record_len);
    box_end(w, config);
    box_end(w, entry);
}

static void write_empty_table(writer_t *w, const char *type, bool has_sample_size)
{
    uint8_t *box = full_box_begin(w, type, 0, 0);
    if (has_sample_size)
        put_u32(w, 0); /* stsz sample_size */
    put_u32(w, 0);     /* entry_count / sample_count */
    box_end(w, box);
}

static void write_mvex(writer_t *w, bool has_audio)
{
    uint8_t *mvex = box_begin(w, "mvex"); /* 8.8.1 */
    for (uint32_t id = VG_FMP4_TRACK_ID; id <= (has_audio ? VG_FMP4_AUDIO_TRACK_ID : VG_FMP4_TRACK_ID);
         id++) {
        uint8_t *trex = full_box_begin(w, "trex", 0, 0);
        put_u32(w, id);
        put_u32(w, 1); /* default_sample_description_index */
        put_u32(w, 0); /* default_sample_duration: every trun sample has its own */
        put_u32(w, 0); /* default_sample_size */
        put_u32(w, 0); /* default_sample_flags */
        box_end(w, trex);
    }
    box_end(w, mvex);
}

/* An MPEG-4 descriptor's tag and one-byte length (14496-1 8.3.3: lengths under 128 need one
 * byte, which VG_FMP4_AUDIO_CONFIG_MAX keeps them). */
static void put_descriptor(writer_t *w, uint8_t tag, size_t len)
{
    w->p[0] = tag;
    w->p[1] = (uint8_t)len;
    w->p += 2;
}

/* esds (14496-14 5.6): an ES_Descriptor whose DecoderConfigDescriptor says MPEG-4 audio
 * (objectTypeIndication 0x40, streamType 5) and carries the AudioSpecificConfig as its
 * DecoderSpecificInfo, then the SLConfigDescriptor MP4 files use (predefined 2). Its size is
 * ESDS_FIXED_SIZE + config_len. */
static void write_esds(writer_t *w, const vg_fmp4_audio_t *a)
{
    uint8_t *esds = full_box_begin(w, "esds", 0, 0);
    size_t dsi = a->config_len, dcd = 13 + 2 + dsi, es = 3 + 2 + dcd + 3;
    put_descriptor(w, 0x03, es); /* ES_DescrTag */
    put_u16(w, 0);               /* ES_ID: 0 in MP4 files */
    *w->p++ = 0;                 /* no dependsOn, URL or OCR stream */
    put_descriptor(w, 0x04, dcd); /* DecoderConfigDescrTag */
    *w->p++ = 0x40;              /* objectTypeIndication: Audio ISO/IEC 14496-3 */
    *w->p++ = 0x05 << 2 | 1;     /* streamType audio, upStream 0, reserved 1 */
    put_zeros(w, 3);             /* bufferSizeDB: unknown */
    put_u32(w, 0);               /* maxBitrate: unknown */
    put_u32(w, 0);               /* avgBitrate: variable or unknown */
    put_descriptor(w, 0x05, dsi); /* DecSpecificInfoTag */
    put_bytes(w, a->config, dsi);
    put_descriptor(w, 0x06, 1);  /* SLConfigDescrTag */
    *w->p++ = 0x02;              /* predefined: reserved for MP4 files */
    box_end(w, esds);
}

/* The audio trak: tkhd, mdia (mdhd at the sample rate, hdlr 'soun', minf with smhd and an
 * 'mp4a' AudioSampleEntry, 12.2.3, whose esds holds the AudioSpecificConfig). */
static void write_audio_trak(writer_t *w, const vg_fmp4_audio_t *a)
{
    uint8_t *trak = box_begin(w, "trak");
    write_tkhd(w, VG_FMP4_AUDIO_TRACK_ID, true, 0, 0);
    uint8_t *mdia = box_begin(w, "mdia");
    write_mdhd(w, a->sample_rate);
    write_hdlr(w, true);
    uint8_t *minf = box_begin(w, "minf");
    uint8_t *smhd = full_box_begin(w, "smhd", 0, 0); /* 12.2.2 */
    put_u16(w, 0); /* balance: centre */
    put_u16(w, 0); /* reserved */
    box_end(w, smhd);
    write_dinf(w);
    uint8_t *stbl = box_begin(w, "stbl");
    uint8_t *stsd = full_box_begin(w, "stsd", 0, 0);
    put_u32(w, 1); /* entry_count */
    uint8_t *entry = box_begin(w, "mp4a");
    put_zeros(w, 6);    /* reserved */
    put_u16(w, 1);      /* data_reference_index */
    put_zeros(w, 8);    /* reserved */
    put_u16(w, (uint32_t)a->channels);
    put_u16(w, 16);     /* samplesize */
    put_u16(w, 0);      /* pre_defined */
    put_u16(w, 0);      /* reserved */
    /* samplerate, 16.16: rates above 65535 Hz do not fit and are written 0 (the
     * AudioSpecificConfig has the rate readers use). */
    put_u32(w, a->sample_rate <= UINT16_MAX ? a->sample_rate << 16 : 0);
    write_esds(w, a);
    box_end(w, entry);
    box_end(w, stsd);
    write_empty_table(w, "stts", false);
    write_empty_table(w, "stsc", false);
    write_empty_table(w, "stsz", true);
    write_empty_table(w, "stco", false);
    box_end(w, stbl);
    box_end(w, minf);
    box_end(w, mdia);
    box_end(w, trak);
}

vg_frame_t *vg_fmp4_init_segment(const vg_fmp4_track_t *t, int *err)
{
    /* The longest record: hvcC's 23 bytes plus three arrays of one set each. */
    uint8_t record[23 + 3 * (5 + VG_H26X_PS_MAX)];
    int width, height;
    const vg_fmp4_audio_t *a = t->audio;
    if (t->timescale == 0 ||
        (a != NULL && (a->config == NULL || a->config_len < 2 ||
                       a->config_len > VG_FMP4_AUDIO_CONFIG_MAX || a->sample_rate == 0 ||
                       a->channels < 1 || a->channels > 255))) {
        *err = VG_EINVAL;
        return NULL;
    }
    int record_len = vg_h26x_description(t->params, record, sizeof(record));
    int rc = record_len < 0 ? record_len : vg_h26x_picture_size(t->params, &width, &height);
    if (rc < 0 || width > UINT16_MAX || height > UINT16_MAX) {
        /* VG_ENOSPC cannot happen with this buffer; anything else is the stream's fault. */
        *err = VG_EPROTO;
        return NULL;
    }

    size_t size = init_segment_size((size_t)record_len, a);
    vg_frame_t *f = vg_frame_new(size);
    writer_t w = {.p = f->data};
    write_ftyp(&w);
    uint8_t *moov = box_begin(&w, "moov");
    write_mvhd(&w, t->timescale, (a ? VG_FMP4_AUDIO_TRACK_ID : VG_FMP4_TRACK_ID) + 1);
    uint8_t *trak = box_begin(&w, "trak");
    write_tkhd(&w, VG_FMP4_TRACK_ID, false, width, height);
    uint8_t *mdia = box_begin(&w, "mdia");
    write_mdhd(&w, t->timescale);
    write_hdlr(&w, false);
    uint8_t *minf = box_begin(&w, "minf");
    uint8_t *vmhd = full_box_begin(&w, "vmhd", 0, 0x000001); /* flags 1, 12.1.2 */
    put_zeros(&w, 2 + 6); /* graphicsmode copy, opcolor */
    box_end(&w, vmhd);
    write_dinf(&w);
    uint8_t *stbl = box_begin(&w, "stbl");
    uint8_t *stsd = full_box_begin(&w, "stsd", 0, 0);
    put_u32(&w, 1); /* entry_count */
    write_sample_entry(&w, t->params->codec, width, height, record, (size_t)record_len);
    box_end(&w, stsd);
    /* The sample tables are empty: the samples are in the fragments (8.8.1). */
    write_empty_table(&w, "stts", false);
    write_empty_table(&w, "stsc", false);
    write_empty_table(&w, "stsz", true);
    write_empty_table(&w, "stco", false);
    box_end(&w, stbl);
    box_end(&w, minf);
    box_end(&w, mdia);
    box_end(&w, trak);
    if (a != NULL)
        write_audio_trak(&w, a);
    write_mvex(&w, a != NULL);
    box_end(&w, moov);
    f->len = (size_t)(w.p - f->data);
    VG_ASSERT(f->len == size);
    *err = 0;
    return f;
}

/* ---- fragments -------------------------------------------------------------------------- */

enum {
    /* traf header 8, tfhd 16, tfdt (version 1) 20, trun header 20 */
    TRAF_FIXED_SIZE = BOX_HEADER + 16 + 20 + 20,
    /* moof: its header, mfhd 16, one traf */
    MOOF_FIXED_SIZE = BOX_HEADER + 16 + TRAF_FIXED_SIZE,
    TRUN_ENTRY_SIZE = 12, /* duration, size, flags */
    NAL_LENGTH_SIZE = 4,  /* lengthSizeMinusOne 3 in avcC/hvcC */
};

/* tfhd flags (8.8.7.1) and trun flags (8.8.8.1). */
#define TFHD_DEFAULT_BASE_IS_MOOF 0x020000u
#define TRUN_DATA_OFFSET 0x000001u
#define TRUN_SAMPLE_DURATION 0x000100u
#define TRUN_SAMPLE_SIZE 0x000200u
#define TRUN_SAMPLE_FLAGS 0x000400u

/* Sample flags (8.8.3.1): is_leading 2 bits, sample_depends_on 2, sample_is_depended_on 2,
 * sample_has_redundancy 2, padding 3, sample_is_non_sync_sample 1, degradation_priority 16. */
#define SAMPLE_FLAGS_SYNC (2u << 24)                 /* depends on no other picture */
#define SAMPLE_FLAGS_NON_SYNC (1u << 24 | 1u << 16) /* depends on others; not a sync sample */

/* Whether a NAL unit of this type goes into a sample. Parameter sets are in the sample entry
 * (14496-15 5.3.2 and 8.3.2 allow them in band too, but hvc1 with array_completeness 1 and
 * avc1 expect them out of band) and access unit delimiters carry nothing a decoder needs. */
static bool is_sample_nal(vg_codec_t codec, int type)
{
    if (codec == VG_CODEC_H264)
        return type != 7 && type != 8 && type != 9; /* SPS, PPS, AUD */
    return type < 32 || type > 35;                  /* VPS, SPS, PPS, AUD */
}

/* The mdat bytes of one access unit (length prefixes included) added to *payload. Returns
 * false when the AU has none or when the sum passes limit; never overflows. */
static bool add_sample_size(const vg_frame_t *au, uint64_t limit, uint64_t *payload)
{
    vg_codec_t codec = au->meta.codec;
    uint64_t before = *payload;
    size_t pos = 0, nal_len;
    const uint8_t *nal;
    if (codec != VG_CODEC_H264 && codec != VG_CODEC_H265)
        return false;
    while (vg_h26x_next_nal(au->data, au->len, &pos, &nal, &nal_len)) {
        if (!is_sample_nal(codec, vg_h26x_nal_type(codec, nal, nal_len)))
            continue;
        if (*payload > limit - NAL_LENGTH_SIZE || nal_len > limit - NAL_LENGTH_SIZE - *payload)
            return false;
        *payload += NAL_LENGTH_SIZE + nal_len;
    }
    return *payload > before;
}

/* Writes the AU's kept NAL units into mdat; returns the bytes written. */
static size_t write_sample(writer_t *w, const vg_frame_t *au)
{
    vg_codec_t codec = au->meta.codec;
    uint8_t *start = w->p;
    size_t pos = 0, nal_len;
    const uint8_t *nal;
    while (vg_h26x_next_nal(au->data, au->len, &pos, &nal, &nal_len)) {
        if (!is_sample_nal(codec, vg_h26x_nal_type(codec, nal, nal_len)))
            continue;
        put_u32(w, (uint32_t)nal_len);
        put_bytes(w, nal, nal_len);
    }
    return (size_t)(w->p - start);
}

/* The mdat bytes of one AAC frame added to *payload: the frame as it is. */
static bool add_audio_size(const vg_frame_t *au, uint64_t limit, uint64_t *payload)
{
    if (au->meta.codec != VG_CODEC_AAC || au->len == 0 || *payload > limit ||
        au->len > limit - *payload)
        return false;
    *payload += au->len;
    return true;
}

/* A traf with its tfhd, tfdt and trun header; returns where the n trun entries go (filled
 * once the samples are written). */
static uint8_t *write_traf(writer_t *w, uint32_t track_id, uint64_t base_decode_time, size_t n,
                           size_t data_offset)
{
    uint8_t *traf = box_begin(w, "traf");
    /* default-base-is-moof: data_offset counts from this moof, so each fragment stands on
     * its own wherever it lands in a segment (CMAF 7.5.16). */
    uint8_t *tfhd = full_box_begin(w, "tfhd", 0, TFHD_DEFAULT_BASE_IS_MOOF);
    put_u32(w, track_id);
    box_end(w, tfhd);
    uint8_t *tfdt = full_box_begin(w, "tfdt", 1, 0); /* 8.8.12: version 1, 64-bit time */
    put_u64(w, base_decode_time);
    box_end(w, tfdt);
    uint8_t *trun = full_box_begin(w, "trun", 0,
                                   TRUN_DATA_OFFSET | TRUN_SAMPLE_DURATION | TRUN_SAMPLE_SIZE |
                                       TRUN_SAMPLE_FLAGS);
    put_u32(w, (uint32_t)n);
    put_u32(w, (uint32_t)data_offset); /* the track's first byte in the mdat */
    uint8_t *entries = w->p;
    w->p += n * TRUN_ENTRY_SIZE;
    box_end(w, trun);
    box_end(w, traf);
    return entries;
}

static void put_entry(uint8_t *entries, size_t i, uint32_t duration, size_t size, uint32_t flags)
{
    uint8_t *entry = entries + i * TRUN_ENTRY_SIZE;
    put_u32_at(entry, duration);
    put_u32_at(entry + 4, (uint32_t)size);
    put_u32_at(entry + 8, flags);
}

vg_frame_t *vg_fmp4_fragment_av(uint32_t sequence_number, const vg_fmp4_run_t *video,
                                const vg_fmp4_run_t *audio, int *err)
{
    size_t n = video->n, na = audio ? audio->n : 0;
    /* Every size in a fragment is a 32-bit field: the sample count, the moof, each sample
     * and the mdat. Refuse before reading anything when the counts alone break that. */
    size_t max_entries = (UINT32_MAX - MOOF_FIXED_SIZE - TRAF_FIXED_SIZE - BOX_HEADER) /
                         TRUN_ENTRY_SIZE;
    if (n == 0 || n > max_entries || na > max_entries - n) {
        *err = VG_EINVAL;
        return NULL;
    }
    size_t moof_size = MOOF_FIXED_SIZE + n * TRUN_ENTRY_SIZE +
                       (na ? TRAF_FIXED_SIZE + na * TRUN_ENTRY_SIZE : 0);
    uint64_t payload = 0, limit = UINT32_MAX - BOX_HEADER;
    if (limit > SIZE_MAX - moof_size - BOX_HEADER)
        limit = SIZE_MAX - moof_size - BOX_HEADER; /* 32-bit size_t */
    for (size_t i = 0; i < n; i++) {
        if (video->samples[i].au == NULL ||
            !add_sample_size(video->samples[i].au, limit, &payload)) {
            *err = VG_EINVAL;
            return NULL;
        }
    }
    uint64_t video_payload = payload;
    for (size_t i = 0; i < na; i++) {
        if (audio->samples[i].au == NULL ||
            !add_audio_size(audio->samples[i].au, limit, &payload)) {
            *err = VG_EINVAL;
            return NULL;
        }
    }

    size_t mdat_size = BOX_HEADER + (size_t)payload;
    vg_frame_t *f = vg_frame_new(moof_size + mdat_size);
    writer_t w = {.p = f->data};
    uint8_t *moof = box_begin(&w, "moof");
    uint8_t *mfhd = full_box_begin(&w, "mfhd", 0, 0); /* 8.8.5 */
    put_u32(&w, sequence_number);
    box_end(&w, mfhd);
    uint8_t *entries = write_traf(&w, VG_FMP4_TRACK_ID, video->base_decode_time, n,
                                  moof_size + BOX_HEADER);
    uint8_t *audio_entries = NULL;
    if (na > 0)
        audio_entries = write_traf(&w, VG_FMP4_AUDIO_TRACK_ID, audio->base_decode_time, na,
                                   moof_size + BOX_HEADER + (size_t)video_payload);
    box_end(&w, moof);
    VG_ASSERT((size_t)(w.p - f->data) == moof_size);

    put_u32(&w, (uint32_t)mdat_size);
    put_fourcc(&w, "mdat");
    for (size_t i = 0; i < n; i++) {
        const vg_fmp4_sample_t *s = &video->samples[i];
        size_t sample_size = write_sample(&w, s->au);
        put_entry(entries, i, s->duration, sample_size,
                  s->au->meta.is_key ? SAMPLE_FLAGS_SYNC : SAMPLE_FLAGS_NON_SYNC);
    }
    for (size_t i = 0; i < na; i++) {
        const vg_fmp4_sample_t *s = &audio->samples[i];
        put_bytes(&w, s->au->data, s->au->len);
        put_entry(audio_entries, i, s->duration, s->au->len, SAMPLE_FLAGS_SYNC);
    }
    f->len = (size_t)(w.p - f->data);
    VG_ASSERT(f->len == moof_size + mdat_size);
    const vg_frame_meta_t *first = &video->samples[0].au->meta;
    f->meta.codec = first->codec;
    f->meta.is_key = first->is_key; /* LL-HLS: INDEPENDENT=YES */
    f->meta.capture_us = first->capture_us;
    f->meta.ingest_us = first->ingest_us;
    *err = 0;
    return f;
}

vg_frame_t *vg_fmp4_fragment(uint32_t sequence_number, uint64_t base_decode_time,
                             const vg_fmp4_sample_t *samples, size_t n, int *err)
{
    vg_fmp4_run_t video = {.base_decode_time = base_decode_time, .samples = samples, .n = n};
    return vg_fmp4_fragment_av(sequence_number, &video, NULL, err);
}
