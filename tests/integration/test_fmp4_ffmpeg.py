"""FFmpeg reads what media/fmp4 writes: x264 and x265 streams made at test time, cut into
LL-HLS-sized parts by build/fmp4_write (init segment + one moof/mdat per part, see
tools/fmp4_write.c), then probed and decoded by ffprobe/ffmpeg.

Expected values come from the source stream, never from vigil: the frame count, size and
keyframe positions ffprobe finds in the raw Annex B file, and the MD5 of every decoded
picture of it (so a dropped, duplicated, reordered or damaged sample fails).
"""
import os
import struct
import subprocess

import pytest

from conftest import VIGIL_BIN

FMP4_WRITE = os.environ.get("FMP4_WRITE") or os.path.join(
    os.path.dirname(VIGIL_BIN), "fmp4_write")
FPS = 30
SECONDS = 2

ENCODERS = {
    "h264": (["-c:v", "libx264", "-bf", "0"], "h264", "avc1"),
    "hevc": (["-c:v", "libx265", "-x265-params", "bframes=0:log-level=error"], "hevc", "hvc1"),
}


def run(args):
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


def probe(path, entries, *extra):
    p = run(["ffprobe", "-v", "error", *extra, "-show_entries", entries, "-of", "csv=p=0", path])
    assert p.returncode == 0, p.stderr
    return p.stdout.split()


def frame_md5s(path):
    p = run(["ffmpeg", "-v", "error", "-i", path, "-f", "framemd5", "-"])
    assert p.returncode == 0, p.stderr
    return [line.rsplit(",", 1)[1].strip() for line in p.stdout.splitlines()
            if line and not line.startswith("#")]


def top_level_boxes(data):
    """(type, offset, size) of each top-level box; asserts they tile the file."""
    boxes, at = [], 0
    while at < len(data):
        size, kind = struct.unpack(">I4s", data[at:at + 8])
        assert size >= 8 and at + size <= len(data), "box at %d: size %d" % (at, size)
        boxes.append((kind.decode("latin-1"), at, size))
        at += size
    return boxes


@pytest.mark.parametrize("part_ms", [200, 250])
@pytest.mark.parametrize("codec", sorted(ENCODERS))
def test_ffmpeg_reads_fragments(tmp_path, codec, part_ms):
    assert os.access(FMP4_WRITE, os.X_OK), "%s is not built (set FMP4_WRITE)" % FMP4_WRITE
    args, codec_name, tag = ENCODERS[codec]
    src = str(tmp_path / ("in." + codec))
    out = str(tmp_path / "out.mp4")
    p = run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i",
             "testsrc2=s=640x360:r=%d" % FPS, "-t", str(SECONDS), *args, "-g", str(FPS),
             "-f", codec, src])
    assert p.returncode == 0, p.stderr
    p = run([FMP4_WRITE, src, out, str(FPS), str(part_ms)])
    assert p.returncode == 0, p.stderr

    frames = FPS * SECONDS
    src_keys = [i for i, flags in enumerate(probe(src, "packet=flags")) if flags.startswith("K")]
    assert src_keys == [0, FPS]  # -g 30 and no scene cut in testsrc2: what the rest assumes

    stream = probe(out, "stream=codec_name,codec_tag_string,width,height,nb_read_frames",
                   "-count_frames")[0].split(",")
    assert stream == [codec_name, tag, "640", "360", str(frames)]

    # Decode times: every AU lasts 3000 ticks of 90 kHz, parts follow each other.
    packets = [line.split(",") for line in probe(out, "packet=pts,dts")]
    assert [int(pts) for pts, _ in packets] == [i * 3000 for i in range(frames)]
    assert [int(dts) for _, dts in packets] == [i * 3000 for i in range(frames)]
    # Sync samples: a seek to 1.5 s starts at the keyframe before it, found through the trun
    # sample flags (packet flags would not tell: FFmpeg's H.264/H.265 parsers set them from
    # the slices whatever the flags say; with every sample non-sync, this seek fails).
    seek = probe(out, "packet=pts", "-read_intervals", "1.5%+#1")
    assert seek == [str(src_keys[1] * 3000)]

    err = run(["ffmpeg", "-v", "error", "-i", out, "-f", "null", "-"])
    assert err.returncode == 0 and err.stderr == "", err.stderr
    assert frame_md5s(out) == frame_md5s(src)

    # One init segment, then one moof+mdat per part, numbered from 1.
    data = open(out, "rb").read()
    boxes = top_level_boxes(data)
    part_aus = -(-part_ms * FPS // 1000)
    parts = -(-frames // part_aus)
    assert [kind for kind, _, _ in boxes] == ["ftyp", "moov"] + ["moof", "mdat"] * parts
    seqs = []
    for kind, at, _ in boxes:
        if kind == "moof":
            assert data[at + 12:at + 16] == b"mfhd"
            seqs.append(struct.unpack(">I", data[at + 20:at + 24])[0])
    assert seqs == list(range(1, parts + 1))


def packet_md5s(path, stream):
    """The MD5 of each packet's data of one stream, as FFmpeg reads it (copied, not decoded;
    the side data's hash that may follow, such as the encoder delay, is not looked at)."""
    p = run(["ffmpeg", "-v", "error", "-i", path, "-map", "0:" + stream, "-c", "copy",
             "-f", "framemd5", "-"])
    assert p.returncode == 0, p.stderr
    return [line.split(",")[5].strip() for line in p.stdout.splitlines()
            if line and not line.startswith("#")]


def test_ffmpeg_reads_the_audio_track(tmp_path):
    """An AAC track beside the video (an init segment with mp4a/esds, fragments with a second
    traf): FFmpeg finds both streams, every AAC frame intact and in order at 1024-sample steps,
    and decodes both without an error."""
    assert os.access(FMP4_WRITE, os.X_OK), "%s is not built (set FMP4_WRITE)" % FMP4_WRITE
    src = str(tmp_path / "in.h264")
    aac = str(tmp_path / "in.m4a")
    out = str(tmp_path / "out.mp4")
    p = run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=640x360:r=%d" % FPS,
             "-t", str(SECONDS), "-c:v", "libx264", "-bf", "0", "-g", str(FPS), "-f", "h264",
             src])
    assert p.returncode == 0, p.stderr
    p = run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
             "-ac", "2", "-t", str(SECONDS), "-c:a", "aac", aac])
    assert p.returncode == 0, p.stderr
    p = run([FMP4_WRITE, src, out, str(FPS), "200", aac])
    assert p.returncode == 0, p.stderr

    streams = probe(out, "stream=codec_type,codec_name,codec_tag_string,sample_rate,channels")
    assert streams == ["h264,video,avc1", "aac,audio,mp4a,48000,2"], streams
    src_audio = packet_md5s(aac, "a")
    assert len(src_audio) >= SECONDS * 48000 // 1024
    # Every frame that starts before the video ends (the last may start after it).
    out_audio = packet_md5s(out, "a")
    assert len(out_audio) >= len(src_audio) - 1 and out_audio == src_audio[:len(out_audio)]
    pts = [int(x) for x in probe(out, "packet=pts", "-select_streams", "a")]
    assert pts == [i * 1024 for i in range(len(out_audio))], pts[:10]
    assert frame_md5s_video(out) == frame_md5s(src)
    err = run(["ffmpeg", "-v", "error", "-i", out, "-f", "null", "-"])
    assert err.returncode == 0 and err.stderr == "", err.stderr

    # Each fragment: a video traf, then an audio traf while there is audio left for it.
    data = open(out, "rb").read()
    boxes = top_level_boxes(data)
    assert [kind for kind, _, _ in boxes[:2]] == ["ftyp", "moov"]
    assert data.count(b"mp4a") == 1 and data.count(b"esds") == 1
    trafs = [data[at:at + size].count(b"traf") for kind, at, size in boxes if kind == "moof"]
    assert trafs[0] == 2 and all(n in (1, 2) for n in trafs), trafs


def frame_md5s_video(path):
    p = run(["ffmpeg", "-v", "error", "-i", path, "-map", "0:v", "-f", "framemd5", "-"])
    assert p.returncode == 0, p.stderr
    return [line.rsplit(",", 1)[1].strip() for line in p.stdout.splitlines()
            if line and not line.startswith("#")]
