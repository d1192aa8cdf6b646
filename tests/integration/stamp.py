"""Reads the test camera's timestamp bar from a picture (layout in docs/test-camera.md).

The same decoder as vg_stamp_decode() in src/core/stamp.c, sample for sample: the bar is
floor(H/12) rows (at least 8) of 68 blocks, block i covering columns
floor(i*W/68) .. floor((i+1)*W/68)-1. Each block is read over the pixels lying wholly
inside the middle half of its columns and of the bar's rows (a quarter of the span,
rounded up, off each side; spans under 3 pixels are read whole), and is white when the
luma sum is above 127 times the pixel count. Change both decoders together.

    from stamp import decode_stamp
    capture_us = decode_stamp(jpeg_bytes)   # int, or None when there is no valid bar
"""

import io

from PIL import Image

BLOCKS = 68
DATA_BITS = 56
THRESHOLD = 127
MASK56 = (1 << DATA_BITS) - 1


def crc8(data: bytes) -> int:
    """CRC-8, polynomial 0x07, initial 0, no reflection, no final xor (CRC-8/SMBUS)."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def stamp_rows(height: int) -> int:
    """Rows of the bar for a picture of this height (vg_stamp_rows)."""
    return max(0, min(max(height // 12, 8), height))


def _middle_half(lo: int, hi: int) -> tuple[int, int]:
    n = hi - lo
    trim = (n + 3) // 4
    if n - 2 * trim < 1:
        trim = 0
    return lo + trim, hi - trim


def decode_luma(luma: bytes, width: int, height: int, stride: int | None = None) -> int | None:
    """Decodes the bar from an 8-bit luma plane; returns capture_us (its 56 low bits) or
    None when the guards or the CRC do not match."""
    stride = width if stride is None else stride
    if width < BLOCKS or height <= 0 or len(luma) < stride * (height - 1) + width:
        return None
    r0, r1 = _middle_half(0, stamp_rows(height))
    bits = []
    for i in range(BLOCKS):
        c0, c1 = _middle_half(i * width // BLOCKS, (i + 1) * width // BLOCKS)
        total = 0
        for r in range(r0, r1):
            total += sum(luma[r * stride + c0:r * stride + c1])
        bits.append(1 if total > THRESHOLD * (r1 - r0) * (c1 - c0) else 0)

    if bits[0] != 1 or bits[1] != 0 or bits[66] != 0 or bits[67] != 1:
        return None
    value = 0
    for b in bits[2:2 + DATA_BITS]:
        value = (value << 1) | b
    crc = 0
    for b in bits[2 + DATA_BITS:2 + DATA_BITS + 8]:
        crc = (crc << 1) | b
    if crc != crc8(value.to_bytes(7, 'big')):
        return None
    return value


def decode_image(img: Image.Image) -> int | None:
    """Decodes the bar from a PIL image of any mode (converted to greyscale 'L')."""
    if img.mode != 'L':
        img = img.convert('L')
    return decode_luma(img.tobytes(), img.width, img.height)


def decode_stamp(jpeg_bytes: bytes) -> int | None:
    """Decodes the bar from a JPEG (or any picture PIL reads); None when it has no valid
    bar or cannot be read."""
    try:
        img = Image.open(io.BytesIO(jpeg_bytes))
        # For a JPEG, draft('L') makes libjpeg hand over the Y channel itself, exactly the
        # luma the C decoder reads, instead of a Y -> RGB -> L round trip. Same size only:
        # draft may otherwise pick a DCT-scaled size.
        if img.format == 'JPEG':
            img.draft('L', img.size)
        img.load()
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    return decode_image(img)


def encode_luma(width: int, height: int, capture_us: int, background: int = 128) -> bytearray:
    """A luma plane with the bar drawn as vg_stamp_draw does it (for self-checks)."""
    value = capture_us & MASK56
    crc = crc8(value.to_bytes(7, 'big'))
    bits = [1, 0] + [(value >> (DATA_BITS - 1 - i)) & 1 for i in range(DATA_BITS)]
    bits += [(crc >> (7 - i)) & 1 for i in range(8)] + [0, 1]
    row = bytearray(width)
    for i, bit in enumerate(bits):
        x0, x1 = i * width // BLOCKS, (i + 1) * width // BLOCKS
        row[x0:x1] = bytes([255 if bit else 0]) * (x1 - x0)
    plane = bytearray([background]) * (width * height)
    for r in range(stamp_rows(height)):
        plane[r * width:(r + 1) * width] = row
    return plane


if __name__ == '__main__':
    # Self-check: draw, JPEG-compress, scale, decode; and refuse a damaged bar.
    assert crc8(b'123456789') == 0xF4
    us = 1790000000123456
    for w, h in ((1280, 720), (854, 480), (568, 320), (68, 16)):
        assert decode_luma(bytes(encode_luma(w, h, us)), w, h) == us, (w, h)
    img = Image.frombytes('L', (1280, 720), bytes(encode_luma(1280, 720, us)))
    for size, quality in (((1280, 720), 50), ((568, 320), 50), ((640, 360), 80)):
        buf = io.BytesIO()
        img.resize(size, Image.BILINEAR).convert('RGB').save(buf, 'JPEG', quality=quality)
        assert decode_stamp(buf.getvalue()) == us, (size, quality)
    bad = encode_luma(640, 360, us)
    bad[5 * 640 + 10 * 640 // 68 + 4] ^= 0xFF  # one pixel cannot flip a block...
    assert decode_luma(bytes(bad), 640, 360) == us
    for r in range(stamp_rows(360)):  # ...but a whole data block must be refused
        x0, x1 = 10 * 640 // 68, 11 * 640 // 68
        bad[r * 640 + x0:r * 640 + x1] = bytes(255 - b for b in bad[r * 640 + x0:r * 640 + x1])
    assert decode_luma(bytes(bad), 640, 360) is None
    assert decode_stamp(b'not a picture') is None
    print('stamp.py self-check ok')
