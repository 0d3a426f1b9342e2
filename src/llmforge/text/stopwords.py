"""Stop words: words that say nothing about what a text is about, in English and Arabic.

The English list doubles as the evidence that Latin text is English (:func:`detect_language`).
The Arabic list is in search form (:func:`llmforge.text.normalize.search_form`), since it is
compared with folded tokens.
"""

from __future__ import annotations

from llmforge.text.normalize import search_form

ENGLISH_STOPWORDS = frozenset("the of and to in is that for it as was with be by on not are this from or "
                              "have an which at but how what when where who why does did do".split())

ARABIC_STOPWORDS = frozenset(search_form(w) for w in (
    "في من على إلى عن مع هذا هذه ذلك تلك التي الذي الذين و أو ثم لا لم لن ما هو هي هم أن إن كان "
    "كانت قد كل بعض بين عند حتى إذا لكن أي "
    # question words: a question's own, never what it asks about
    "ماذا متى كيف أين لماذا كم هل عندما "
    # prepositions carrying a pronoun
    "فيه فيها عنه عنها منه منها له لها به بها عليه عليها إليه إليها "
    # relative pronouns behind a prefix, which light_stem would cut to الذ / الت
    "والذي والتي والذين فالذي فالتي فالذين بالذي بالتي بالذين للذي للتي للذين").split())
