"""Real (small) pictures for upload tests: every picture is decoded and drawn again before it is kept,
so a test's file must be one a phone could send, not a few magic bytes."""
from __future__ import annotations

import io

from PIL import Image

GPS = {1: "N", 2: (30.0, 15.0, 1.0), 3: "E", 4: (114.0, 5.0, 2.0)}  # a position in the township


def picture(fmt: str = "JPEG", size=(64, 32), *, gps: bool = False, maker: str = "") -> bytes:
    """A picture in `fmt` (JPEG, PNG, WEBP or HEIF), with a GPS position and a camera maker in its
    EXIF when asked."""
    image = Image.new("RGB", size, (200, 30, 30))
    exif = Image.Exif()
    if gps:
        exif[0x8825] = GPS  # GPSInfo
    if maker:
        exif[0x010F] = maker  # Make
    if fmt == "HEIF":
        from pillow_heif import register_heif_opener

        register_heif_opener()
    out = io.BytesIO()
    image.save(out, format=fmt, **({"exif": exif} if gps or maker else {}))
    return out.getvalue()


def exif_of(data: bytes) -> dict:
    if data[4:8] == b"ftyp":
        from pillow_heif import register_heif_opener

        register_heif_opener()
    with Image.open(io.BytesIO(data)) as image:
        return dict(image.getexif())
