"""The text layer every stage shares: stored and search forms, language, stop words, keywords.

Below ingest, structure, inference and train, so none of them imports another stage for it:

    normalize.py   normalize_text (the stored form), search_form (folded for matching), visual-order
                   Arabic, and how readable an extraction is (assess)
    bidi.py        mixed-direction lines from drawing order to reading order (UAX #9 backwards)
    language.py    script_letters, detect_language (of a page or chunk), query_language (which
                   keyword analyser a query goes to): one count of letters behind both
    stopwords.py   English and Arabic stop words
    keywords.py    the Arabic light stemmer and the Arabic full-text column
"""
