"""The web page's files (HTML, CSS, JavaScript), served by :mod:`llmforge.serve.routers.web`."""
