"""Render the application icon's PNG sizes from the master SVG with Qt's own SVG renderer.

    .venv/bin/python resources/render_icons.py            # writes resources/icons/png/io.github.cryogui-<N>.png
    .venv/bin/python resources/render_icons.py --check    # exit 1 if a committed PNG is missing or out of date

Runs headless (Qt's offscreen platform).  The PNGs are committed (a few KB each) so that installing the desktop
files needs no Qt; rerun this after editing the SVG.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
APP_ID = "io.github.cryogui"
SVG = HERE / "icons" / f"{APP_ID}.svg"
PNG_DIR = HERE / "icons" / "png"
SIZES = (16, 32, 48, 64, 128, 256)


def png_path(size: int) -> Path:
    return PNG_DIR / f"{APP_ID}-{size}.png"


def _app():
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance()
    if app is None:  # standalone: no display needed (inside a running app or a test, its instance is used)
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        app = QGuiApplication(sys.argv[:1])
    return app


def render(size: int, svg: Path = SVG):
    """The icon at ``size`` x ``size`` pixels as a QImage (ARGB32, transparent outside the hexagon)."""
    _app()
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise ValueError(f"{svg}: not a valid SVG for QtSvg")
    image = QImage(size, size, QImage.Format_ARGB32)
    image.fill(Qt.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.Antialiasing)
    painter.setRenderHint(QPainter.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    return image


def _same(a, b) -> bool:
    from PySide6.QtGui import QImage

    a = a.convertToFormat(QImage.Format_ARGB32)
    b = b.convertToFormat(QImage.Format_ARGB32)
    if a.size() != b.size():
        return False
    # allow +-2 per channel: rasteriser rounding differs a little between Qt builds
    pa, pb = bytes(a.constBits()), bytes(b.constBits())
    return max((abs(x - y) for x, y in zip(pa, pb)), default=0) <= 2


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="compare with the committed PNGs instead of writing")
    p.add_argument("--out", type=Path, default=PNG_DIR, help="folder for the PNGs")
    args = p.parse_args(argv)
    from PySide6.QtGui import QImage

    bad = []
    args.out.mkdir(parents=True, exist_ok=True)
    for size in SIZES:
        image = render(size)
        target = args.out / f"{APP_ID}-{size}.png"
        if args.check:
            if not target.exists() or not _same(image, QImage(str(target))):
                bad.append(target.name)
            continue
        tmp = target.with_suffix(".tmp.png")
        if not image.save(str(tmp), "PNG", 0):  # for PNG, Qt maps quality 0 to the strongest compression
            raise OSError(f"could not write {tmp}")
        tmp.replace(target)
        print(f"{target}  {target.stat().st_size} bytes")
    if bad:
        print("out of date (run resources/render_icons.py): " + ", ".join(bad), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
