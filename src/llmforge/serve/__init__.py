"""The HTTP shell: the app factory, its routers, usage records and metrics. The work itself is
done by the library (:mod:`llmforge.inference`, :mod:`llmforge.structure`, ...)."""
