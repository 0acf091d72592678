"""A long statement laid out in parts by several workers, then joined into one PDF.

WeasyPrint lays out about seven pages a second on one core; a thousand-page ledger is cut into
parts that the workers lay out side by side. Each part is rendered without page numbers (no
part knows the total); the joined file gets "第 x 页 / 共 y 页" stamped from a page-numbers
document laid out with the same @page box, so it sits exactly where a single render puts it.
"""

import io
from pathlib import Path

from django.conf import settings
from django.template.loader import render_to_string


def pdf_render(html: str) -> tuple[bytes, int]:
    from weasyprint import HTML

    document = HTML(string=html, base_url=str(settings.BASE_DIR)).render()
    return document.write_pdf(), len(document.pages)


def pdf_join(*, parts: list[Path], font: str) -> tuple[bytes, int]:
    """The parts in order as one PDF, every page numbered of the total."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for path in parts:
        writer.append(PdfReader(path))
    total = len(writer.pages)
    box = writer.pages[0].mediabox
    numbers, _ = pdf_render(render_to_string("reports/page_numbers.html", {
        "pages": range(total), "font_regular": font,
        "orientation": "landscape" if box.width > box.height else "portrait"}))
    for page, number in zip(writer.pages, PdfReader(io.BytesIO(numbers)).pages, strict=True):
        page.merge_page(number)
        page.compress_content_streams()  # merging leaves the page's stream uncompressed
    first = PdfReader(parts[0]).metadata
    if first:
        writer.add_metadata(dict(first))
    writer.compress_identical_objects(remove_duplicates=True, remove_unreferenced=True)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue(), total
