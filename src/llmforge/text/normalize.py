"""Text normalisation: the stored form (text as written, cleaned) and a search form.

Stored text keeps what the author wrote. Only these change:

* Arabic presentation forms (U+FB50–FDFF, U+FE70–FEFE), which some PDF producers emit instead of
  letters, and Latin ligatures (ﬁ, ﬂ) become letters (NFKC on those characters only);
* text outside Arabic runs is NFC-composed. Arabic runs are left alone on purpose: canonical
  ordering would swap shadda and fatha, and a DOCX paragraph must come out byte-identical;
* control, bidi-control, soft-hyphen and BOM characters go; ``\\r\\n`` becomes ``\\n``;
* a word hyphenated across a line break is joined; runs of spaces collapse; blank-line
  paragraph breaks are kept (one blank line), single line breaks too.

Arabic stored in visual order (reversed, as some PDFs do) is detected and turned back into
logical order. The search form (:func:`search_form`) additionally folds case, removes tatweel and
diacritics, unifies alef, ya and ta-marbuta variants and maps Arabic-Indic digits to ASCII, so
keyword search matches however a word was spelt.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from llmforge.text.bidi import visual_line_to_logical

ARABIC_BLOCK = "\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff"
PRESENTATION_FORMS = "\ufb50-\ufdff\ufe70-\ufefe"
_LIGATURES_AND_FORMS = f"\ufb00-\ufb4f{PRESENTATION_FORMS}"  # ﬁ ﬂ … and Arabic presentation forms
_ARABIC_LETTER = re.compile(f"[{ARABIC_BLOCK}{PRESENTATION_FORMS}]")
_PRESENTATION = re.compile(f"[{_LIGATURES_AND_FORMS}]+")
_NON_ARABIC_RUN = re.compile(f"[^{ARABIC_BLOCK}]+")
_BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_HYPHEN_BREAK = re.compile(r"(?<=[a-zà-ÿ])-\n(?=[a-zà-ÿ])")
_SPACE = " \t\u00a0\u2000-\u200a\u202f\u205f\u3000"
_SPACES = re.compile(f"[{_SPACE}]{{2,}}|[{_SPACE[1:]}]")  # what becomes one plain space
_BLANK_LINES = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)*")
_LINE_EDGES = re.compile(r" \n ?|\n ")

TATWEEL = "\u0640"
_ARABIC_DIACRITICS = re.compile("[\u064b-\u065f\u0670\u06d6-\u06ed]")
_SEARCH_FOLD = str.maketrans({
    "أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه", "ؤ": "و", "ئ": "ي",
    **{chr(0x0660 + d): str(d) for d in range(10)},
    **{chr(0x06F0 + d): str(d) for d in range(10)},
})


# category Cc but \t \n \r; and lone surrogates (pypdf decodes broken ToUnicode maps to them)
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


# U+FFFE marks where PDFium joined a word hyphenated across lines ("dan\ufffegerous").
_DROP_RE = re.compile(f"[{_BIDI_CONTROLS}\u00ad\ufeff\u200b\ufffe\uffff]")


_REMOVED = re.compile(f"{_DROP_RE.pattern}|{_CONTROLS.pattern}")


def _strip_controls(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n\n")
    return _REMOVED.sub("", text)


def _compose(text: str) -> str:
    text = _PRESENTATION.sub(lambda m: unicodedata.normalize("NFKC", m.group()), text)
    return _NON_ARABIC_RUN.sub(lambda m: unicodedata.normalize("NFC", m.group()), text)


def is_latin1(text: str) -> bool:
    """Western text with nothing outside Latin-1: no Arabic, no presentation forms, no bidi
    controls, and already NFC. Most of a typical corpus; the cheap paths below test this first."""
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def normalize_text(text: str) -> str:
    """The stored form of extracted text (see the module docstring for what changes)."""
    text = _strip_controls(text)
    if not is_latin1(text):
        if _CARE.search(text):
            if looks_visual_order(text):
                text = visual_to_logical(text)
            text = _compose(text)
        elif not unicodedata.is_normalized("NFC", text):
            text = unicodedata.normalize("NFC", text)
    if "-\n" in text:
        text = _HYPHEN_BREAK.sub("", text)
    text = _SPACES.sub(" ", text)
    text = _BLANK_LINES.sub("\n\n", text)
    return _LINE_EDGES.sub("\n", text).strip()


def search_form(text: str) -> str:
    """A form for keyword matching: case-folded, Arabic letters unified, diacritics removed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _ARABIC_DIACRITICS.sub("", text.replace(TATWEEL, ""))
    return text.translate(_SEARCH_FOLD)


# --- Arabic in visual order -------------------------------------------------------------
#
# Two independent signals. With presentation forms, a logical-order word starts with an initial
# (or isolated) form and ends with a final one; stored reversed, the first character is a final
# form. Without them, the definite article: logical words start with "ال", reversed ones end in
# "لا", and "لا" is rare as a real ending compared with how common "ال" is as a start.

_WORD = re.compile(f"[{ARABIC_BLOCK}{PRESENTATION_FORMS}]{{2,}}")


def _form(ch: str) -> str:
    name = unicodedata.name(ch, "")
    for form in ("INITIAL", "FINAL", "MEDIAL", "ISOLATED"):
        if name.endswith(f"{form} FORM"):
            return form
    return ""


def looks_visual_order(text: str) -> bool:
    """True when the Arabic in ``text`` is evidently stored right-to-left reversed."""
    words = _WORD.findall(text)
    if len(words) < 3:
        return False
    logical = reversed_ = 0
    for word in words:
        first, last = _form(word[0]), _form(word[-1])
        if first or last:
            logical += first == "INITIAL" or last == "FINAL"
            reversed_ += first == "FINAL" or last == "INITIAL"
        else:
            logical += word.startswith("ال")
            reversed_ += word.endswith("لا")
    return reversed_ >= 3 and reversed_ > 2 * logical


def visual_to_logical(text: str) -> str:
    """Each line that holds Arabic from visual to logical order, as a whole: its paragraph
    direction inferred, Latin words and numbers kept readable (see :mod:`llmforge.text.bidi`)."""
    arabic = len(_ARABIC_LETTER.findall(text))
    context = arabic > count_letters(text) - arabic
    return "\n".join(visual_line_to_logical(line, context) if _ARABIC_LETTER.search(line) else line
                     for line in text.split("\n"))


# --- quality of extracted text -------------------------------------------------------

_L, _G, _C = "A-Za-z\u00c0-\u024f", "\u0370-\u03ff", "\u0400-\u04ff"
_A = ARABIC_BLOCK + PRESENTATION_FORMS
_SCRIPT_SWITCH = re.compile(f"[{_L}](?=[{_G}{_C}{_A}])|[{_G}](?=[{_L}{_C}{_A}])"
                            f"|[{_C}](?=[{_L}{_G}{_A}])|[{_A}](?=[{_L}{_G}{_C}])")
# a letter with no letter on either side (its harakat do not count as neighbours)
_LONE_ARABIC_LETTER = re.compile("(?<!\\w)[\u0621-\u0626\u0628-\u0647\u0649\u064a]"
                                 "(?![\\w\u064b-\u065f\u0670])")
_REVERSED_ARTICLE = re.compile("\\w{2,}لا(?!\\w)")
_WORDS = re.compile(r"\w+")


_CARE = re.compile(f"[{ARABIC_BLOCK}\u0590-\u05ff\ufb00-\ufeff{_BIDI_CONTROLS}\u200b\ufffd-\uffff"
                   "\ue000-\uf8ff\u0370-\u04ff\U000f0000-\U0010fffd]")
_CID = re.compile(r"\(cid:\d+\)")
_MOJIBAKE = re.compile(r"[ÃØÙÂ][\u0080-\u00bf]|â€|ï¿½")
_UNREADABLE = re.compile("[\ue000-\uf8ff\U000f0000-\U0010fffd\ufffd]")  # private use, replacement
_LATIN1_LETTERS = bytes(b for b in range(256) if chr(b).isalpha())
_LATIN1_SPACE = bytes(b for b in range(256) if chr(b).isspace())


# Letters of the scripts a document is plausibly written in: Latin, Greek, Cyrillic, Armenian,
# Hebrew, Arabic, the Indic and South-East Asian scripts, Georgian, Hangul, Ethiopic, CJK, math
# alphanumerics. A letter outside them (Tai Le, Cyrillic Supplement, archaic Greek...) is what a
# font whose ToUnicode map lies typically yields; a real page rarely holds many.
_USUAL_LETTERS = ("\u0000-\u03d7\u0400-\u04ff\u0530-\u06ff\u0750-\u077f\u08a0-\u0fff\u1000-\u137f"
                  "\u1780-\u17ff\u1e00-\u1fff\u2100-\u214f\u2e80-\u9fff\uac00-\ud7af\uf900-\uffef"
                  "\U0001d400-\U0001d7ff\U00020000-\U0002fa1f")
_UNUSUAL_LETTER = re.compile(f"(?![{_USUAL_LETTERS}])[^\\W\\d_]")
_MAYBE_UNUSUAL = re.compile(f"[^{_USUAL_LETTERS}\u2000-\u2bff\u3000-\u303f\ue000-\uf8ff]")  # cheap pre-check
_DIGIT = re.compile(r"\d")
_LEADERS = re.compile(r"\.{4,}|_{4,}|-{4,}|…{2,}|(?:\. ){4,}")


@dataclass(frozen=True)
class Assessment:
    letters: int
    quality: float   # 0..1, see assess
    score: float     # quality less the share of words that betray a broken extraction
    digits: int = 0
    unusual: int = 0  # letters outside the usual scripts (see _USUAL_LETTERS)

    @property
    def unusual_share(self) -> float:
        return self.unusual / self.letters if self.letters else 0.0


def assess(text: str) -> Assessment:
    """How much of ``text`` looks like real words rather than extraction garbage.

    ``quality`` penalises ``(cid:NN)`` placeholders, private-use glyphs, replacement characters,
    UTF-8 read as Latin-1 (``Ã©``, ``Ø§``) and text made mostly of symbols (digits are real text:
    a table of figures is not garbage). ``unusual`` counts letters of scripts no usual document
    is written in, the mark of a lying ToUnicode map. ``score`` also
    counts words that mix scripts (a bad ToUnicode map puts Greek inside Latin), lone Arabic
    letters (ligatures split apart) and reversed articles (Arabic in visual order).

    This runs on every page of every PDF, so it counts with regular expressions and byte
    translation (in C), and skips the script checks when no character needs them.
    """
    raw = _western_bytes(text)
    if raw is not None:
        visible = len(raw.translate(None, _LATIN1_SPACE))
        letters = len(raw) - len(raw.translate(None, _LATIN1_LETTERS))
        digits = len(raw) - len(raw.translate(None, b"0123456789"))
        bad = _CID.subn("", text)[1] * 6 if "(cid:" in text else 0
        if any(c in text for c in "ÃØÙÂâï"):
            bad += _MOJIBAKE.subn("", text)[1] * 2
        quality = _quality(text, letters + digits, visible, bad)
        return Assessment(letters, quality, quality, digits)
    text = _DROP_RE.sub("", text)
    visible = sum(map(len, text.split()))
    letters = sum(map(str.isalpha, text))  # twice as fast as a regular expression for letters
    digits = _DIGIT.subn("", text)[1]
    unusual = _UNUSUAL_LETTER.subn("", text)[1] if _MAYBE_UNUSUAL.search(text) else 0
    bad = _CID.subn("", text)[1] * 6 if "(cid:" in text else 0
    if any(c in text for c in "ÃØÙÂâï"):
        bad += _MOJIBAKE.subn("", text)[1] * 2
    if _UNREADABLE.search(text):
        bad += _UNREADABLE.subn("", text)[1]
    quality = _quality(text, letters + digits, visible, bad)
    if not _CARE.search(text):
        return Assessment(letters, quality, quality, digits, unusual)
    words = _WORDS.subn("", text)[1]
    broken = sum(pattern.subn("", text)[1]
                 for pattern in (_SCRIPT_SWITCH, _LONE_ARABIC_LETTER, _REVERSED_ARTICLE))
    return Assessment(letters, quality, quality - min(broken, words) / max(words, 1), digits, unusual)


def _leaders(text: str) -> int:
    """Characters of dot leaders and rules (``Contents ...... 3``): layout, not garbage."""
    if not any(leader in text for leader in ("....", "____", "----", "……", ". . . .")):
        return 0
    return sum(map(len, _LEADERS.findall(text)))


def _quality(text: str, good: int, visible: int, bad: int) -> float:
    """Share of letters and digits among the visible characters (dot leaders left out when they
    matter), a quarter of symbols forgiven, less the bad signs."""
    if good < visible * 0.8:
        visible -= _leaders(text)
    if visible <= 0:
        return 0.0
    return max(0.0, min(1.0, good / visible * 1.25) - bad / visible)



def count_letters(text: str) -> int:
    raw = _western_bytes(text)
    if raw is not None:
        return len(raw) - len(raw.translate(None, _LATIN1_LETTERS))
    return sum(map(str.isalpha, text))


# Typographic punctuation and symbols (dashes, curly quotes, bullets, arrows, box drawing) that
# Western text holds beyond Latin-1; none is a letter, a digit or a sign of broken extraction.
_BEYOND_WESTERN = re.compile("[^\x00-\xff\u2010-\u2027\u2030-\u205e\u20a0-\u20cf\u2190-\u23ff"
                             "\u2500-\u27bf]")


def _western_bytes(text: str) -> bytes | None:
    """``text`` as Latin-1 bytes, typographic punctuation as ``?`` (visible, neither letter nor
    digit), when it holds nothing else beyond Latin-1; None otherwise. Lets the counting in
    :func:`assess` run on bytes in C for nearly every Western page."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        pass
    return None if _BEYOND_WESTERN.search(text) else text.encode("latin-1", "replace")
