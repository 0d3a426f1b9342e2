"""Scanned-looking test images rendered in code: text lines, pages, two-column pages, degradations.

Tests and ``bench/ocr_layouts.py`` need Arabic and English scans whose text is known exactly,
in several typefaces, without third-party files in the repository. Arabic is shaped by Pillow's
raqm layout (right to left); fonts are found by family name through fontconfig, from Debian's
``fonts-hosny-amiri``, ``fonts-noto-core`` and ``fonts-kacst`` (``scripts/setup.sh`` installs
them). :func:`font_file` returns None when a family is missing, so callers can skip cleanly.

Two text sets are kept apart on purpose: ``TUNED`` is what layout choices were tuned on,
``HELD_OUT`` (other sentences, other typefaces, other seeds) was only measured.
"""

from __future__ import annotations

import functools
import random
import re
import subprocess
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

DPI = 300
PAPER, INK = 255, 0
_VARIANT_STYLE = re.compile("bold|italic|oblique|condensed|light|slanted", re.IGNORECASE)


@dataclass(frozen=True)
class TextSet:
    """Sentences and typefaces of one sample, with the seed its degradations draw from."""

    arabic: tuple[str, ...]
    english: tuple[str, ...]
    arabic_fonts: tuple[str, ...]
    english_fonts: tuple[str, ...]
    seed: int


TUNED = TextSet(
    arabic=(
        "كانت المكتبة في وسط المدينة تفتح أبوابها للقراء منذ الصباح الباكر",
        "وقد جمع العلماء فيها كتب الطب والفلك والحساب من بلاد بعيدة",
        "يجلس الطلاب حول المعلم ويكتبون ما يسمعون في دفاتر صغيرة",
        "وكان الناسخ يقضي شهرا كاملا في نسخ كتاب واحد بخط جميل",
        "تعلم الصبي القراءة من أبيه ثم سافر إلى المدن الكبرى لطلب العلم",
        "وفي المساء يعود التجار من السوق ويتحدثون عن أسعار القمح والزيت",
        "حفظ الشيخ القصائد القديمة ورواها لتلاميذه جيلا بعد جيل",
        "إن الكتابة الواضحة تساعد القارئ على فهم المعنى دون عناء",
    ),
    english=(
        "The library in the middle of the town opened its doors early every morning",
        "Scholars gathered books on medicine, astronomy and arithmetic from distant lands",
        "Students sat around the teacher and wrote what they heard in small notebooks",
        "A copyist could spend a whole month writing out a single volume by hand",
        "The boy learnt to read from his father and later travelled to study",
        "In the evening the traders came back from the market to talk about prices",
    ),
    arabic_fonts=("Amiri", "Noto Naskh Arabic", "KacstBook"),
    english_fonts=("DejaVu Serif", "DejaVu Sans"),
    seed=11,
)

HELD_OUT = TextSet(
    arabic=(
        "يمتد النهر بين الجبال والسهول ويسقي الحقول على ضفتيه طوال العام",
        "اشترى الرجل خبزا وتمرا من الدكان القريب ثم عاد إلى بيته مسرعا",
        "تحمل الرياح الرمال في الصيف فيغلق أهل القرية نوافذهم عند الظهر",
        "قرأت الفتاة الرسالة مرتين قبل أن تكتب جوابها إلى أخيها البعيد",
        "يبدأ العمل في المصنع عند السابعة وينتهي قبل غروب الشمس بقليل",
        "ووصف الرحالة الأسواق والمساجد والحدائق التي رآها في سفره الطويل",
    ),
    english=(
        "The river runs between hills and plains and waters the fields all year long",
        "He bought bread and dates at the nearby shop and hurried back home",
        "Summer winds carry sand, so the villagers close their windows at noon",
        "She read the letter twice before writing her answer to her brother",
    ),
    arabic_fonts=("Noto Kufi Arabic", "Noto Sans Arabic", "KacstOffice"),
    english_fonts=("Noto Serif", "Noto Sans"),
    seed=97,
)


@functools.cache
def font_file(family: str) -> str | None:
    """Path of the upright, normal-weight face of a font family; None when it is not installed.

    Found through fontconfig, whose style names vary by foundry (Regular, Book, Medium).
    """
    try:
        listing = subprocess.run(["fc-list", f":family={family}", "file", "style"],
                                 capture_output=True, text=True, timeout=30, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    plain = sorted(path for path, _, style in (line.partition(": ") for line in listing.splitlines())
                   if path and not _VARIANT_STYLE.search(style))
    return plain[0] if plain else None


def is_arabic(text: str) -> bool:
    """True when the text holds Arabic letters (it is then set right to left)."""
    return any("\u0600" <= char <= "\u06ff" for char in text)


def _font(family: str, points: float) -> ImageFont.FreeTypeFont:
    path = font_file(family)
    if path is None:
        raise LookupError(f"font family {family!r} is not installed")
    return ImageFont.truetype(path, int(round(points * DPI / 72)),
                              layout_engine=ImageFont.Layout.RAQM)


def _options(text: str) -> dict[str, str]:
    return {"direction": "rtl", "language": "ar"} if is_arabic(text) else {"direction": "ltr"}


def line_image(text: str, family: str, points: float = 14, margin: float = 0.5) -> Image.Image:
    """One text line on paper, ``margin`` line heights of paper around it (a typical crop)."""
    font = _font(family, points)
    left, top, right, bottom = font.getbbox(text, **_options(text))
    pad = int(margin * font.size)
    image = Image.new("L", (right - left + 2 * pad, bottom - top + 2 * pad), PAPER)
    ImageDraw.Draw(image).text((pad - left, pad - top), text, font=font, fill=INK,
                               **_options(text))
    image.info["dpi"] = (DPI, DPI)
    return image


def wrap(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """Words of ``text`` filled into lines no wider than ``width`` pixels."""
    lines: list[str] = []
    for word in text.split():
        candidate = f"{lines[-1]} {word}" if lines else word
        if lines and font.getlength(candidate, **_options(text)) <= width:
            lines[-1] = candidate
        else:
            lines.append(word)
    return lines


Box = tuple[int, int, int, int]   # left, top, right, bottom


def draw_block(image: Image.Image, box: Box, text: str, family: str, points: float = 12,
               leading: float = 1.5) -> list[tuple[str, Box]]:
    """Fill ``box`` (left, top, right, bottom) with wrapped text, aligned to the script's start.

    Returns the lines drawn in reading order (lines that do not fit are left out), each with the
    slot it was set in: the column's width and one line pitch, as line-image datasets crop them.
    """
    font = _font(family, points)
    left, top, right, bottom = box
    height = sum(font.getmetrics())  # ascent + descent: Kufi faces reach far beyond the size
    step = max(int(font.size * leading), height)
    drawn = []
    draw = ImageDraw.Draw(image)
    for number, line in enumerate(wrap(text, font, right - left)):
        y = top + number * step
        if y + step > bottom:
            break
        anchor, x = ("ra", right) if is_arabic(line) else ("la", left)
        draw.text((x, y), line, font=font, fill=INK, anchor=anchor, **_options(line))
        gap = (step - height) // 2
        drawn.append((line, (left, y - gap, right, y - gap + step)))
    return drawn


def page_image(paragraphs: list[str], family: str, points: float = 12,
               size: tuple[int, int] = (1240, 1754)) -> tuple[Image.Image, str]:
    """A page (A5 at 300 dpi by default) of paragraphs; returns it and the text it shows."""
    image = Image.new("L", size, PAPER)
    margin, top, shown = size[0] // 10, size[1] // 12, []
    for paragraph in paragraphs:
        lines = draw_block(image, (margin, top, size[0] - margin, size[1] - margin), paragraph,
                           family, points)
        shown.append("\n".join(line for line, _ in lines))
        font = _font(family, points)
        top += (len(lines) + 1) * max(int(font.size * 1.5), sum(font.getmetrics()))
    image.info["dpi"] = (DPI, DPI)
    return image, "\n\n".join(text for text in shown if text)


def two_column_image(first: str, second: str, family: str, points: float = 11,
                     size: tuple[int, int] = (1754, 1240)) -> tuple[Image.Image, str]:
    """A page of two columns: ``first`` where its script starts reading, ``second`` beside it.

    Arabic text puts ``first`` in the right column, English in the left. Returns the page and
    its text in reading order: the whole first column, then the second.
    """
    image = Image.new("L", size, PAPER)
    margin, gutter = size[0] // 14, size[0] // 16
    half = (size[0] - 2 * margin - gutter) // 2
    left_box = (margin, margin, margin + half, size[1] - margin)
    right_box = (size[0] - margin - half, margin, size[0] - margin, size[1] - margin)
    boxes = (right_box, left_box) if is_arabic(first) else (left_box, right_box)
    columns = [draw_block(image, box, text, family, points) for box, text in zip(boxes, (first, second))]
    image.info["dpi"] = (DPI, DPI)
    return image, "\n\n".join("\n".join(line for line, _ in lines) for lines in columns)


def line_crops(text: str, family: str, points: float = 12,
               width: int = 1000) -> list[tuple[Image.Image, str]]:
    """A paragraph set in a column ``width`` pixels wide, cut into one image per line slot."""
    font = _font(family, points)
    pitch = max(int(font.size * 1.5), sum(font.getmetrics()))
    height = pitch * (len(wrap(text, font, width)) + 1)
    page = Image.new("L", (width + 100, height), PAPER)
    crops = []
    for line, box in draw_block(page, (50, font.size // 2, width + 50, height), text, family, points):
        crop = page.crop(box)
        crop.info["dpi"] = (DPI, DPI)
        crops.append((crop, line))
    return crops


def sparse_image(words: list[str], family: str, seed: int, points: float = 12,
                 size: tuple[int, int] = (1240, 1754)) -> tuple[Image.Image, str]:
    """A form-like page: pairs of ``words`` strewn one per row at random places.

    Returns the page and its text, a pair per line, top to bottom.
    """
    pick = random.Random(seed)
    font = _font(family, points)
    image = Image.new("L", size, PAPER)
    draw = ImageDraw.Draw(image)
    pairs = [" ".join(words[i:i + 2]) for i in range(0, len(words) - 1, 2)][:8]
    pitch = (size[1] - 300) // max(1, len(pairs))
    for number, pair in enumerate(pairs):
        x = pick.randrange(size[0] // 12, size[0] * 2 // 3)
        y = 150 + number * pitch + pick.randrange(0, pitch // 3)
        draw.text((x, y), pair, font=font, fill=INK, **_options(pair))
    image.info["dpi"] = (DPI, DPI)
    return image, "\n".join(pairs)


def degrade(image: Image.Image, kind: str, seed: int = 0) -> Image.Image:
    """The image as a poorer scan: ``noise`` (Gaussian, sigma 30), ``blur`` (radius 1.5),
    ``lowcontrast`` (ink 110 on paper 190) or ``clean`` (unchanged)."""
    if kind == "clean":
        return image
    if kind == "blur":
        out = image.filter(ImageFilter.GaussianBlur(1.5))
    elif kind == "lowcontrast":
        pixels = np.asarray(image, dtype=np.float32)
        out = Image.fromarray((110 + pixels * (80 / 255)).astype(np.uint8))
    elif kind == "noise":
        pixels = np.asarray(image, dtype=np.float32)
        noise = np.random.default_rng(seed).normal(0.0, 30.0, pixels.shape)
        out = Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))
    else:
        raise ValueError(f"unknown degradation {kind!r}")
    out.info["dpi"] = image.info.get("dpi", (DPI, DPI))
    return out
