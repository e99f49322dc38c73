"""Connecting to Temporal, and the search attributes operators filter by."""

from __future__ import annotations

import dataclasses

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from sojourn.ground.codec import codec_of
from sojourn.ground.settings import Settings

SEARCH_ATTRIBUTES = {
    "CustomerId": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "JourneyName": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "JourneyStep": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "JourneyVariant": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "JourneyWakeUp": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
}
FLAG_TYPES = {IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD: "Keyword",
              IndexedValueType.INDEXED_VALUE_TYPE_DATETIME: "Datetime"}


def dev_server_flags() -> list[str]:
    """`--search-attribute` flags for `temporal server start-dev`."""
    return [flag for name, kind in SEARCH_ATTRIBUTES.items()
            for flag in ("--search-attribute", f"{name}={FLAG_TYPES[kind]}")]


def data_converter(settings: Settings) -> DataConverter:
    """The default converter, with the payload codec when SOJOURN_PAYLOAD_KEYS is set
    (sojourn/ground/codec.py): the client and the worker must share it."""
    codec = codec_of(settings.payload_keys)
    return dataclasses.replace(DataConverter.default, payload_codec=codec) if codec else DataConverter.default


async def connect(settings: Settings, *, lazy: bool = False, runtime: Runtime | None = None) -> Client:
    return await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace, lazy=lazy,
                                runtime=runtime or Runtime.default(), data_converter=data_converter(settings))


def metrics_runtime(bind_address: str) -> Runtime:
    """A Temporal runtime whose telemetry serves Prometheus metrics on `bind_address`:
    the SDK's own (workflow and activity task latencies, schedule-to-start, polls,
    sticky cache) and Sojourn's sends (activities/channel.py)."""
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=bind_address,
                                                                      durations_as_seconds=True)))


async def ensure_search_attributes(client: Client) -> None:
    """Register Sojourn's search attributes if the server lacks them. The dev server
    gets them from --search-attribute; a fresh production cluster gets them here."""
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    missing = {k: v for k, v in SEARCH_ATTRIBUTES.items() if k not in listed.custom_attributes}
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
        )
