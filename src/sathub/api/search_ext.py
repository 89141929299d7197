"""The search extensions as sathub configures them for the clients partners use.

- POST bodies take a filter as CQL2-JSON *or* cql2-text (``filter-lang: cql2-text`` is what
  pystac-client sends by default), in ``/search`` and in ``/aggregate``; the aggregation body
  takes every search parameter (``filter``, ``query``, ``q``), not only the core ones.
- Conformance: the Sort extension is advertised under v1.0.0 as well as v1.1.0 (sortby means
  the same in both; pystac-client 0.9 looks for v1.0.x and warns otherwise), and the CQL2
  classes the translation implements (catalog/cql2sql.py) are listed.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator
from stac_fastapi.extensions import AggregationExtension
from stac_fastapi.extensions.aggregation.request import AggregationExtensionPostRequest
from stac_fastapi.extensions.filter.filter import FilterConformanceClasses, SearchFilterExtension
from stac_fastapi.extensions.free_text.request import FreeTextExtensionPostRequest
from stac_fastapi.extensions.query.request import QueryExtensionPostRequest
from stac_fastapi.extensions.sort import (
    CollectionSearchSortExtension,
    ItemCollectionSortExtension,
    SearchSortExtension,
)
from stac_fastapi.extensions.sort.sort import SortConformanceClasses

FilterLang = Literal["cql2-json", "cql2-text"]

# CQL2 classes beyond basic-cql2 that the SQL translation implements and the tests exercise
CQL2_CLASSES = [
    FilterConformanceClasses.ADVANCED_COMPARISON_OPERATORS,  # LIKE, BETWEEN, IN
    FilterConformanceClasses.BASIC_SPATIAL_FUNCTIONS,  # S_INTERSECTS
    FilterConformanceClasses.TEMPORAL_FUNCTIONS,  # all fifteen T_* (test_cql2_temporal.py)
]


class FilterPost(BaseModel):
    """The Filter extension's POST fields, taking cql2-text as well as CQL2-JSON (the filter
    is parsed, bounded and validated in catalog/cql2input.py)."""

    filter_expr: str | dict[str, Any] | None = Field(
        None, alias="filter", description="A CQL2 filter: CQL2-JSON, or cql2-text with filter-lang."
    )
    filter_crs: str | None = Field(None, alias="filter-crs", description="CRS of spatial literals (CRS84).")
    filter_lang: FilterLang | None = Field(
        None, alias="filter-lang",
        description="cql2-json or cql2-text (default: cql2-json for an object, cql2-text for a string).",
    )  # fmt: skip


class FilterExtension(SearchFilterExtension):  # type: ignore[misc]
    POST = FilterPost


def _sort_classes(*v1_1: str) -> list[str]:
    v1_0 = [c.replace("/v1.1.0/", "/v1.0.0/") for c in v1_1]
    return [*v1_1, *v1_0]


def search_sort() -> SearchSortExtension:
    return SearchSortExtension(conformance_classes=_sort_classes(SortConformanceClasses.ITEM_SEARCH_SORT))


def items_sort() -> ItemCollectionSortExtension:
    return ItemCollectionSortExtension(conformance_classes=_sort_classes(SortConformanceClasses.FEATURES_SORT))


def collections_sort() -> CollectionSearchSortExtension:
    classes = [SortConformanceClasses.COLLECTION_SEARCH_SORT,
               # the Collection Search extension v1.0.0-rc.1 names its sort class so
               "https://api.stacspec.org/v1.0.0-rc.1/collection-search#sort"]  # fmt: skip
    return CollectionSearchSortExtension(conformance_classes=classes)


def search_filter(client: Any) -> FilterExtension:
    ext = FilterExtension(client=client)
    ext.conformance_classes = [*ext.conformance_classes, *CQL2_CLASSES]
    return ext


class AggregatePost(AggregationExtensionPostRequest, FilterPost, QueryExtensionPostRequest,
                    FreeTextExtensionPostRequest):  # fmt: skip
    """POST /aggregate body: the search parameters (filter, query, q included) and the
    aggregations. A JSON object (stac-pydantic's own validator fails with a 500 on anything
    else)."""

    # a plain object, checked by sathub.catalog.geometry in linear time (bounds): pydantic's
    # union of geometry models takes ~10 s per 100,000 positions, on the event loop
    intersects: dict[str, Any] | None = None  # type: ignore[assignment]

    @model_validator(mode="before")
    @classmethod
    def _object(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError("the aggregation body must be a JSON object")
        return data


class StrictAggregationExtension(AggregationExtension):  # type: ignore[misc]
    POST = AggregatePost
