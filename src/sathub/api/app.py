"""Build the FastAPI application: the STAC API on stac-fastapi plus sathub's own routers, over
one :class:`~sathub.app.Installation`.

Every route passes the permission gate (:mod:`sathub.api.gate`): the app does not build when a
route declares no permission.
"""

from __future__ import annotations

import importlib
import logging

import orjson
from typing import Any

from fastapi import APIRouter, FastAPI
from pydantic import model_validator
from stac_fastapi.api.app import StacApi
from stac_fastapi.api.middleware import ProxyHeaderMiddleware
from stac_fastapi.api.models import (
    EmptyRequest,
    ItemCollectionUri,
    create_get_request_model,
    create_post_request_model,
    create_request_model,
)
from stac_fastapi.extensions import (
    CollectionSearchExtension,
    CollectionSearchFilterExtension,
    FieldsExtension,
    FreeTextExtension,
    ItemCollectionFilterExtension,
    OffsetPaginationExtension,
    QueryExtension,
    TokenPaginationExtension,
)
from stac_fastapi.extensions.fields import FieldsConformanceClasses
from stac_fastapi.extensions.free_text import FreeTextConformanceClasses
from stac_fastapi.extensions.query import QueryConformanceClasses
from stac_fastapi.types.config import ApiSettings
from stac_fastapi.types.search import BaseSearchPostRequest
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from sathub import __version__
from sathub.api import access, errors, gate
from sathub.api import search_ext as sathub_ext
from sathub.api.client import AggregationClient, CoreClient, FiltersClient
from sathub.api.middleware import (BodyLimitMiddleware, JsonBodyMiddleware,
                                   TrustedProxyMiddleware)
from sathub.api.transactions import TransactionExtension
from sathub.app import Installation
from sathub.catalog import geometry
from sathub.config import Settings

log = logging.getLogger("sathub.api")

# Domain routers mounted when their package is present: module path → attribute.
DOMAIN_ROUTERS = ("sathub.api.routers.ingest", "sathub.api.routers.orbits", "sathub.api.routers.assets",
                  "sathub.api.routers.tiles", "sathub.api.routers.viewer", "sathub.api.routers.analytics",
                  "sathub.api.routers.admin", "sathub.api.routers.budget",
                  "sathub.api.routers.budget_writes", "sathub.api.routers.learn",
                  "sathub.api.console")


class SearchPost(BaseSearchPostRequest):
    """POST /search body, lenient where the spec lets a server be: a single collection or id
    may come as a string."""

    # a plain object, checked by sathub.catalog.geometry in linear time (bounds): pydantic's
    # union of geometry models takes ~10 s per 100,000 positions, on the event loop
    intersects: dict[str, Any] | None = None  # type: ignore[assignment]

    @model_validator(mode="before")
    @classmethod
    def _lenient(cls, data: Any) -> Any:
        if isinstance(data, (bytes, str)):  # a JSON body sent without a JSON content type
            try:
                data = orjson.loads(data)
            except orjson.JSONDecodeError as exc:
                raise ValueError(f"body is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ValueError("the search body must be a JSON object")
        if "fields" in data and data["fields"] is None:
            raise ValueError("fields must be an object with include and/or exclude, not null")
        if isinstance(data, dict):
            for key in ("collections", "ids"):
                if isinstance(data.get(key), str):
                    data = {**data, key: [s for s in data[key].split(",") if s]}
        return data


EXPOSED_HEADERS = ["Content-Range", "Content-Length", "Accept-Ranges", "ETag", "Last-Modified",
                   "Retry-After", "WWW-Authenticate", "X-Mosaic-Items"]  # fmt: skip


def create_app(installation: Installation | Settings | None = None) -> FastAPI:
    """The app over an installation (given Settings, its data directory is created when
    missing: tests and embedded uses; the CLI opens installations strictly)."""
    if not isinstance(installation, Installation):
        installation = Installation.open(installation or Settings(), create=True)
    inst = installation
    settings = inst.settings
    geometry.configure(max_vertices=settings.max_geometry_vertices)

    filters = FiltersClient()
    search_ext = [
        QueryExtension(),
        sathub_ext.search_sort(),
        FieldsExtension(),
        sathub_ext.search_filter(filters),
        FreeTextExtension(),
        TokenPaginationExtension(),
    ]
    items_ext = [
        QueryExtension(conformance_classes=[QueryConformanceClasses.ITEMS]),
        sathub_ext.items_sort(),
        FieldsExtension(conformance_classes=[FieldsConformanceClasses.ITEMS]),
        ItemCollectionFilterExtension(client=filters),
        TokenPaginationExtension(),
    ]
    collection_search = CollectionSearchExtension.from_extensions(
        [
            FreeTextExtension(conformance_classes=[FreeTextConformanceClasses.COLLECTIONS]),
            sathub_ext.collections_sort(),
            FieldsExtension(conformance_classes=[FieldsConformanceClasses.COLLECTIONS]),
            CollectionSearchFilterExtension(client=filters),
            OffsetPaginationExtension(),
        ]
    )
    extensions = [
        *search_ext,
        *items_ext,
        collection_search,
        sathub_ext.StrictAggregationExtension(client=AggregationClient()),
        TransactionExtension(),
    ]
    post_model = create_post_request_model(search_ext, base_model=SearchPost)
    get_model = create_get_request_model(search_ext)
    items_model = create_request_model(
        model_name="ItemCollectionUri",
        base_model=ItemCollectionUri,
        extensions=items_ext,
        request_type="GET",
    )
    api_settings = ApiSettings(
        stac_fastapi_title=settings.title,
        stac_fastapi_description="sathub STAC API",
        stac_fastapi_version=__version__,
        root_path=settings.root_path,
        stac_fastapi_landing_id="sathub",
    )
    api = StacApi(
        app=FastAPI(
            title=settings.title,
            version=__version__,
            description="sathub: STAC API, distribution and planning for an Earth-observation archive",
            root_path=settings.root_path,
            openapi_url=api_settings.openapi_url,
            docs_url=None,  # served on local swagger-ui assets by routers/viewer.py
            redoc_url=None,
        ),
        router=APIRouter(),
        settings=api_settings,
        extensions=extensions,
        client=CoreClient(landing_page_id="sathub", title=settings.title,
                          description=f"{settings.title}: STAC API of the archive"),
        items_get_request_model=items_model,  # type: ignore[arg-type]
        search_get_request_model=get_model,
        search_post_request_model=post_model,
        collections_get_request_model=collection_search.GET if collection_search else EmptyRequest,
        # stac-fastapi inserts each middleware at the front: the LAST here is the outermost.
        # Outermost first: CORS (every answer, 401 and 413 included, carries its headers), the
        # body limit, the trusted-proxy filter, then the forwarded-header rewrite it guards, then
        # the caller's identity.
        middlewares=[
            Middleware(access.AccessMiddleware),
            Middleware(ProxyHeaderMiddleware),
            Middleware(TrustedProxyMiddleware, trusted=settings.trusted_proxies),
            Middleware(JsonBodyMiddleware, max_depth=settings.max_json_depth),  # inside the body limit
            Middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes),
            Middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["*"],
                       allow_headers=["*"], expose_headers=EXPOSED_HEADERS),
        ],  # fmt: skip
    )
    app = api.app
    app.state.installation = inst
    errors.install(app)
    gate.declare_stac_routes(app.router.routes)
    for module_name in DOMAIN_ROUTERS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and module_name.startswith(exc.name):
                continue
            raise
        for router in getattr(module, "routers", [module.router]):
            app.include_router(router)
    gate.check_routes(app)
    return app
