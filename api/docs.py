"""The API documentation page at ``/schema``, working with no network: Swagger UI's files
come from the ``swagger-ui-bundle-v2`` package through the service's own static route, and
the page has no inline script (the security policy allows none)."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from litestar import Request, Router
from litestar.datastructures import CacheControlHeader
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.static_files import create_static_files_router
from swagger_ui_bundle import swagger_ui_path

ASSETS = "/schema/assets"
_OWN_FILES = Path(__file__).resolve().parent / "static"


class OfflineSwagger(SwaggerRenderPlugin):
    """Swagger UI from our own static route; its start-up script is a file too."""

    def __init__(self) -> None:
        super().__init__(
            js_url=f"{ASSETS}/swagger-ui-bundle.js",
            css_url=f"{ASSETS}/swagger-ui.css",
            standalone_preset_js_url=f"{ASSETS}/swagger-ui-standalone-preset.js",
            path=["/", "/swagger"],
            favicon="",
            style="",
        )

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        title = escape(str(openapi_schema.get("info", {}).get("title", "API")))
        spec = escape(self.get_openapi_json_route(request))
        return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}: API documentation</title>
<link rel="icon" href="{ASSETS}/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="{self.css_url}">
<link rel="stylesheet" href="{ASSETS}/api-docs.css">
</head>
<body>
<div id="swagger-ui" data-spec="{spec}"></div>
<script src="{self.js_url}"></script>
<script src="{ASSETS}/api-docs.js"></script>
</body>
</html>
""".encode()

    def receive_router(self, router: Router) -> None:
        """No OAuth2 redirect page: this API takes bearer tokens only (and that page is an
        inline script)."""


def docs_assets_router() -> Router:
    return create_static_files_router(
        path=ASSETS,
        directories=[_OWN_FILES, Path(str(swagger_ui_path))],
        name="api-docs-assets",
        cache_control=CacheControlHeader(max_age=86400),
        include_in_schema=False,
    )
