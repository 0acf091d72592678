"""The shipped font as TrueType outlines, for the canvas renderer (ReportLab reads glyf fonts only).

The WOFF2 files carry CFF outlines; fontTools converts them once (about 13 s a face) into
settings.REPORT_FONT_CACHE, which every worker on the machine shares.
"""

import os
from pathlib import Path

from django.conf import settings

FONTS = Path(__file__).resolve().parent / "fonts"
FACES = {"LedgerSans": "NotoSansSC-Regular-GB2312", "LedgerSans-Bold": "NotoSansSC-Bold-GB2312"}


def _convert(source: Path, target: Path) -> None:
    from fontTools.pens.cu2quPen import Cu2QuPen
    from fontTools.pens.ttGlyphPen import TTGlyphPen
    from fontTools.ttLib import TTFont, newTable

    font = TTFont(source)
    font.flavor = None
    order = font.getGlyphOrder()
    glyphs = font.getGlyphSet()
    glyf = newTable("glyf")
    glyf.glyphOrder, glyf.glyphs = order, {}
    for name in order:
        pen = TTGlyphPen(glyphs)
        glyphs[name].draw(Cu2QuPen(pen, 1.0, reverse_direction=True))  # cubic → quadratic within 1 unit
        glyf[name] = pen.glyph()
    font["glyf"], font["loca"] = glyf, newTable("loca")
    for table in ("CFF ", "VORG"):
        if table in font:
            del font[table]
    maxp = font["maxp"] = newTable("maxp")
    maxp.tableVersion, maxp.numGlyphs, maxp.maxZones = 0x00010000, len(order), 1
    for attr in ("maxPoints", "maxContours", "maxCompositePoints", "maxCompositeContours", "maxTwilightPoints",
                 "maxStorage", "maxFunctionDefs", "maxInstructionDefs", "maxStackElements", "maxSizeOfInstructions",
                 "maxComponentElements", "maxComponentDepth"):
        setattr(maxp, attr, 0)
    font["head"].indexToLocFormat = font["head"].glyphDataFormat = 0
    post = font["post"]
    post.formatType, post.extraNames, post.mapping = 2.0, [], {}
    font.sfntVersion = "\x00\x01\x00\x00"
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    font.save(tmp)
    tmp.replace(target)  # atomic: a second worker never reads half a file


def fonts_register() -> set[int]:
    """Register both faces with ReportLab (once a process); the code points the font has."""
    from fontTools.ttLib import TTFont
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont as ReportLabFont

    if "LedgerSans" in pdfmetrics.getRegisteredFontNames():
        return fonts_register.cmap
    cache = Path(settings.REPORT_FONT_CACHE)
    cache.mkdir(parents=True, exist_ok=True)
    for face, stem in FACES.items():
        target = cache / f"{stem}.ttf"
        if not target.exists():
            _convert(FONTS / f"{stem}.woff2", target)
        pdfmetrics.registerFont(ReportLabFont(face, str(target)))
    fonts_register.cmap = set(TTFont(FONTS / f"{FACES['LedgerSans']}.woff2").getBestCmap())
    return fonts_register.cmap
