"""The web page for colleagues: ``GET /`` and its files under ``/web/`` (HTML, CSS and JavaScript
shipped in the package, :mod:`llmforge.serve.web`; nothing from outside, no build step).

The page is a client of the same HTTP API as any other, signed in with a user's access token kept
in the page's memory: these routes serve files only, to anyone (like ``/docs``), and hold no data.
They are left out of the API schema; setting ``serve.web = false`` leaves them out of the app.
"""

from __future__ import annotations

import html
from functools import cache
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from llmforge.errors import NotFoundError
from llmforge.serve.state import ServedProject
from llmforge.settings import SEARCH_MODES

router = APIRouter(include_in_schema=False)
MEDIA_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
               ".png": "image/png", ".svg": "image/svg+xml"}
_CACHE = {"Cache-Control": "no-cache"}   # revalidate: an upgraded server serves its own page at once


@cache
def assets() -> dict[str, bytes]:
    """The page's files by name, read once from the installed package (a wheel or a zip too)."""
    folder = resources.files("llmforge.serve.web")
    return {item.name: item.read_bytes() for item in folder.iterdir()
            if item.is_file() and any(item.name.endswith(suffix) for suffix in (*MEDIA_TYPES, ".html"))}


def render_index(search_k: int) -> str:
    """The page, with the choices only the server knows: the search modes (declared once, in
    :data:`llmforge.settings.SEARCH_MODES`) and the default number of results."""
    options = "".join(f'<option value="{html.escape(mode)}">{html.escape(mode)}</option>' for mode in SEARCH_MODES)
    return (assets()["index.html"].decode("utf-8").replace("<!--search-modes-->", options)
            .replace('value="5" data-search-k', f'value="{int(search_k)}" data-search-k'))


@router.get("/", response_class=HTMLResponse)
def index(project: ServedProject) -> HTMLResponse:
    return HTMLResponse(render_index(int(project.settings["search.k"])), headers=_CACHE)


@router.get("/web/{name}")
def asset(name: str) -> Response:
    suffix = name[name.rfind("."):] if "." in name else ""
    if suffix not in MEDIA_TYPES or name not in assets():
        raise NotFoundError(f"no file {name!r} in the web page")
    return Response(assets()[name], media_type=MEDIA_TYPES[suffix], headers=_CACHE)
