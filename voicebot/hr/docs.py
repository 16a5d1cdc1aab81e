"""`/redoc` served whole from here. fastapi-offline serves ReDoc's bundle locally, but the
bundle itself still loads its sidebar logo from cdn.redoc.ly (found by the browser test that
refuses every request off the machine); this page serves the same bundle with that one URL
pointed at the local favicon, so an offline /redoc makes no request out."""

import functools
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html
from fastapi.responses import HTMLResponse, Response

_STATIC = Path(fastapi_offline.__file__).parent / "static"
_CDN_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
_LOCAL_LOGO = "static-offline-docs/favicon.png"  # relative: resolves under any root_path


@functools.cache
def _bundle() -> bytes:
    js = (_STATIC / "redoc.standalone.js").read_text(encoding="utf-8")
    return js.replace(_CDN_LOGO, _LOCAL_LOGO).encode()


def add_redoc(app: FastAPI, path: str = "/redoc") -> None:
    """Mount ReDoc at `path` (create the app with `redoc_url=None`)."""

    @app.get(f"{path}.js", include_in_schema=False)
    async def redoc_js() -> Response:
        return Response(_bundle(), media_type="application/javascript",
                        headers={"Cache-Control": "public, max-age=86400"})  # fmt: skip

    @app.get(path, include_in_schema=False)
    async def redoc_html(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{path}.js",
            with_google_fonts=False,
            redoc_favicon_url=f"{root}/static-offline-docs/favicon.png",
        )
