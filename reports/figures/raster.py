"""A figure drawn once, written twice: the PNG and a one-page PDF of the same pixels.

The PDF is written here, not by matplotlib's PDF backend (that would draw the figure a
second time, vector by vector: about 40% of a report's figure time) nor by Pillow (it
stores RGB pages as JPEG, which smears text). It holds one 8-bit RGB image, Flate-
compressed (lossless), on a page of the figure's size in inches; pdflatex's
``\\includegraphics`` and ``pdftoppm`` read it like any other.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

PNG_COMPRESSION = 3  # zlib level: plots are mostly flat colour, so a low level loses little size


def write_png(pixels: np.ndarray, path: Path, dpi: int) -> None:
    from PIL import Image

    Image.fromarray(pixels).save(path, format="png", compress_level=PNG_COMPRESSION, dpi=(dpi, dpi))


def pdf_bytes(pixels: np.ndarray, dpi: int) -> bytes:
    """A one-page PDF showing the ``(rows, cols, 3)`` uint8 ``pixels`` at ``dpi``."""
    height, width = pixels.shape[:2]
    w_pt, h_pt = width * 72 / dpi, height * 72 / dpi
    image = zlib.compress(np.ascontiguousarray(pixels[..., :3], dtype=np.uint8).tobytes(), 6)
    content = f"q {w_pt:.3f} 0 0 {h_pt:.3f} 0 0 cm /Im0 Do Q".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {w_pt:.3f} {h_pt:.3f}] "
        "/Resources << /XObject << /Im0 4 0 R >> >> /Contents 5 0 R >>".encode(),
        f"<< /Type /XObject /Subtype /Image /Width {width} /Height {height} /ColorSpace /DeviceRGB "
        f"/BitsPerComponent 8 /Filter /FlateDecode /Length {len(image)} >>\nstream\n".encode() + image + b"\nendstream",
        f"<< /Length {len(content)} >>\nstream\n".encode() + content + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def write_pdf(pixels: np.ndarray, path: Path, dpi: int) -> None:
    Path(path).write_bytes(pdf_bytes(pixels, dpi))


def save_both(fig, png: Path, pdf: Path, dpi: int) -> None:
    """Draw ``fig`` once with Agg at ``dpi`` and write its pixels as ``png`` and ``pdf``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig.set_dpi(dpi)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    pixels = np.asarray(canvas.buffer_rgba())[..., :3]
    write_png(pixels, png, dpi)
    write_pdf(pixels, pdf, dpi)
