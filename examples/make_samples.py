"""Regenerate the bundled sample documents in examples/sample/ (all text written for llmforge).

    .venv/bin/python examples/make_samples.py

Makes a DOCX (English and Arabic paragraphs, a table, a header), a scanned (image-only) PDF in
English, a scanned PNG in Arabic, and a Windows-1256 text file, beside the committed Markdown and
UTF-8 text. Rendering Arabic needs a font with Arabic glyphs (DejaVu Sans, Debian fonts-dejavu-core)
and Pillow built with libraqm.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

HERE = Path(__file__).parent / "sample"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

SCAN_EN = [
    "NORTHWIND WATER AUTHORITY - MAINTENANCE NOTICE",
    "",
    "Pump station 4 will be closed for maintenance from 3 March",
    "to 7 March 2025. During the closure the reservoir at Hill Road",
    "supplies the eastern district. Chlorine dosing is checked every",
    "four hours by the duty operator, who records the readings in",
    "the station log. Questions go to the operations desk, extension 2214.",
]
SCAN_AR = [
    "هيئة مياه نورثويند - إشعار صيانة",
    "",
    "تغلق محطة الضخ رقم أربعة للصيانة من الثالث إلى السابع من مارس.",
    "خلال فترة الإغلاق يغذي خزان طريق التل المنطقة الشرقية.",
    "يفحص المشغل المناوب جرعة الكلور كل أربع ساعات",
    "ويسجل القراءات في سجل المحطة.",
]
DOCX_AR = [
    "تهدف هذه السياسة إلى ضمان سلامة مياه الشرب في جميع مرافق الهيئة.",
    "يجب على كل مشغل أن يُسجِّل قراءات الكلور والعكارة مرتين في كل وردية.",
    "عند تجاوز العكارة حد واحد وحدة قياس، يُبلَّغ مدير المحطة فوراً.",
]


def render(lines: list[str], size: int, rtl: bool) -> Image.Image:
    font = ImageFont.truetype(FONT, size)
    page = Image.new("L", (2480, 120 + len(lines) * int(size * 1.8)), 255)
    draw = ImageDraw.Draw(page)
    for number, line in enumerate(lines):
        y = 80 + number * int(size * 1.8)
        if rtl:
            draw.text((2400, y), line, font=font, fill=0, anchor="ra", direction="rtl", language="ar")
        else:
            draw.text((120, y), line, font=font, fill=0)
    return page


def make_docx(path: Path) -> None:
    import docx

    document = docx.Document()
    document.core_properties.title = "Drinking water safety policy"
    document.core_properties.author = "Northwind Water Authority"
    document.sections[0].header.paragraphs[0].text = "Northwind Water Authority - internal"
    document.add_heading("Drinking water safety policy", level=1)
    document.add_paragraph("This policy keeps drinking water safe in every facility of the authority. "
                           "Operators record chlorine and turbidity readings twice per shift.")
    table = document.add_table(rows=3, cols=3)
    for row, values in zip(table.rows, [("Reading", "Limit", "Action"),
                                         ("Free chlorine", "0.2-1.0 mg/L", "Adjust dosing"),
                                         ("Turbidity", "1 NTU", "Inform the station manager")]):
        for cell, value in zip(row.cells, values):
            cell.text = value
    document.add_heading("سياسة سلامة مياه الشرب", level=1)
    for paragraph in DOCX_AR:
        document.add_paragraph(paragraph)
    document.save(str(path))


def main() -> None:
    HERE.mkdir(exist_ok=True)
    make_docx(HERE / "water-policy.docx")
    render(SCAN_EN, 42, rtl=False).save(HERE / "maintenance-notice-scan.pdf", resolution=300)
    render(SCAN_AR, 50, rtl=True).save(HERE / "maintenance-notice-ar-scan.png", optimize=True)
    legacy = "تعليمات الطوارئ: عند انقطاع الكهرباء يشغل المولد الاحتياطي خلال عشر دقائق.\n"
    (HERE / "emergency-ar-cp1256.txt").write_bytes(legacy.encode("cp1256"))


if __name__ == "__main__":
    main()
