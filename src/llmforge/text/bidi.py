"""Mixed-direction lines: from the order glyphs are drawn in (visual) to reading order (logical).

A PDF draws a line left to right; Arabic in it is therefore stored reversed. Turning such a line
back is the Unicode bidi algorithm (UAX #9) run backwards: resolve each character's embedding
level (Arabic odd, Latin even, numbers inside Arabic one higher), then reverse every run at or
above each odd level, highest first (rule L2, which is its own inverse). What the algorithm needs
and a drawn line does not record is the paragraph direction: ``Arabic: مرحبا`` and ``مرحبا :Arabic``
look alike on the page, the first in a left-to-right paragraph, the second in a right-to-left one.
:func:`paragraph_is_rtl` infers it from the line (see there).

The resolution is UAX #9's without explicit embeddings, simplified where a visual line leaves no
better evidence: weak types are resolved from visual neighbours, not logical ones.
"""

from __future__ import annotations

import re
import unicodedata

_STRONG_RIGHT = {"R", "AL"}
_NUMBER = {"EN", "AN"}
_SEPARATOR = {"ES", "ET", "CS"}
MIRRORED = str.maketrans("()[]{}<>«»", ")(][}{><»«")  # bracket glyphs a right-to-left run shows turned
# Punctuation that begins a word ("Arabic :word") is how a line read in the wrong direction looks.
_LEADING_PUNCTUATION = re.compile(r"(?:^|\s)[.:;,!?؟،؛]+(?=\w)")


def _classes(line: str) -> list[str]:
    """Each character's direction: R (Arabic, Hebrew), L (other letters), EN (numbers) or N."""
    out: list[str] = []
    for ch in line:
        kind = unicodedata.bidirectional(ch)
        if kind in _STRONG_RIGHT:
            out.append("R")
        elif kind == "L":
            out.append("L")
        elif kind in _NUMBER:
            out.append("EN")
        elif kind == "NSM" and out:
            out.append(out[-1])  # a mark (harakat) goes with its letter
        else:
            out.append("S" if kind in _SEPARATOR else "N")
    return out


def _resolve(classes: list[str]) -> list[str]:
    """Numbers after Latin become Latin (W7); a separator inside a number joins it (W4, W5); the
    rest of the neutrals take the direction of both neighbours when they agree (N1), else None."""
    resolved = list(classes)
    last_strong = ""
    for i, kind in enumerate(resolved):
        if kind in ("L", "R"):
            last_strong = kind
        elif kind == "EN" and last_strong == "L":
            resolved[i] = "L"
    for i, kind in enumerate(resolved):
        if kind == "S" and 0 < i < len(resolved) - 1 and resolved[i - 1] == resolved[i + 1] == "EN":
            resolved[i] = "EN"
    i = 0
    while i < len(resolved):
        if resolved[i] not in ("S", "N"):
            i += 1
            continue
        end = i
        while end < len(resolved) and resolved[end] in ("S", "N"):
            end += 1
        before = _side(resolved[i - 1]) if i else ""
        after = _side(resolved[end]) if end < len(resolved) else ""
        resolved[i:end] = [before if before == after else "N"] * (end - i)
        i = end
    return resolved


def _side(kind: str) -> str:
    return "R" if kind in ("R", "EN") else kind  # numbers count as right-to-left for neutrals (N1)


def reorder(line: str, rtl: bool) -> str:
    """``line`` from visual to logical order (or back: the reordering is its own inverse)."""
    levels = []
    for kind in _resolve(_classes(line)):
        kind = {"N": "R" if rtl else "L"}.get(kind, kind)
        if kind == "R":
            levels.append(1)
        elif kind == "EN":
            levels.append(2)
        else:
            levels.append(2 if rtl else 0)
    chars = [ch.translate(MIRRORED) if level % 2 else ch for ch, level in zip(line, levels)]
    for level in range(max(levels, default=0), 0, -1):
        i = 0
        while i < len(chars):
            if levels[i] < level:
                i += 1
                continue
            end = i
            while end < len(chars) and levels[end] >= level:
                end += 1
            chars[i:end] = chars[i:end][::-1]
            levels[i:end] = levels[i:end][::-1]
            i = end
    return "".join(chars)


def paragraph_is_rtl(line: str, rtl_context: bool | None = None) -> bool:
    """Whether visual ``line`` belongs to a right-to-left paragraph.

    A paragraph takes the direction of its first strong letter (UAX #9, P2), which a left-to-right
    paragraph draws leftmost and a right-to-left one rightmost. So Latin at both ends means
    left-to-right, Arabic at both ends right-to-left. Latin at one end and Arabic at the other
    fits both: the reading whose punctuation sits at word ends wins (``Arabic: …``, not
    ``… :Arabic``); failing that, ``rtl_context`` (the direction of the text around the line,
    when known), and failing that, the script with more letters.
    """
    strong = [kind for kind in _classes(line) if kind in ("L", "R")]
    if "R" not in strong:
        return False
    if "L" not in strong or strong[0] == strong[-1]:
        return strong[0] == "R"
    as_rtl = len(_LEADING_PUNCTUATION.findall(reorder(line, True)))
    as_ltr = len(_LEADING_PUNCTUATION.findall(reorder(line, False)))
    if as_rtl != as_ltr:
        return as_rtl < as_ltr
    if rtl_context is not None:
        return rtl_context
    return strong.count("R") > strong.count("L")


def visual_line_to_logical(line: str, rtl_context: bool | None = None) -> str:
    """One visual line in logical order, its paragraph direction inferred (see
    :func:`paragraph_is_rtl` for ``rtl_context``)."""
    return reorder(line, paragraph_is_rtl(line, rtl_context))
