"""Server reflection (v1 and v1alpha) and ``grpc.health.v1`` next to the mock's services.

Reflection answers from the descriptor pool the protos were compiled into (no generated
code): grpcurl, Postman or evans can list and call every loaded service. grpcio-reflection
ships the v1alpha service only; the v1 service has the same messages, field for field, under
another package, so the same servicer answers both (the bytes on the wire are identical),
and the pool also describes v1 (a copy of the v1alpha file under the v1 names).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import FileDescriptor
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection, reflection_pb2

from ..protos import ProtoRegistry

REFLECTION_V1 = "grpc.reflection.v1.ServerReflection"
REFLECTION_V1ALPHA = "grpc.reflection.v1alpha.ServerReflection"
HEALTH = "grpc.health.v1.Health"
_V1ALPHA_FILE = "grpc_reflection/v1alpha/reflection.proto"
_V1_FILE = "grpc/reflection/v1/reflection.proto"


def service_names(registry: ProtoRegistry) -> list[str]:
    return sorted({*registry.services, REFLECTION_V1, REFLECTION_V1ALPHA, HEALTH})


def extra_services(registry: ProtoRegistry, health: Any) -> Sequence[Callable[[aio.Server], None]]:
    """Adders for ``MockServer.start(services=...)``: reflection and health."""
    pool = registry.pool
    _ensure_file(pool, health_pb2.DESCRIPTOR)
    _ensure_file(pool, reflection_pb2.DESCRIPTOR)
    _ensure_v1_reflection(pool)
    names = service_names(registry)

    def add_reflection(server: aio.Server) -> None:
        servicer = reflection.aio.ReflectionServicer(names, pool=pool)
        handler = grpc.stream_stream_rpc_method_handler(
            servicer.ServerReflectionInfo,
            request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
            response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
        )
        for name in (REFLECTION_V1ALPHA, REFLECTION_V1):
            server.add_generic_rpc_handlers(
                (grpc.method_handlers_generic_handler(name, {"ServerReflectionInfo": handler}),)
            )

    def add_health(server: aio.Server) -> None:
        health_pb2_grpc.add_HealthServicer_to_server(health, server)

    return (add_reflection, add_health)


def health_servicer() -> Any:
    return health_aio.HealthServicer()


async def set_serving(health: Any, registry: ProtoRegistry, serving: bool) -> None:
    """Every loaded service (and the server as a whole, ``""``) SERVING or NOT_SERVING."""
    status = (
        health_pb2.HealthCheckResponse.SERVING
        if serving
        else health_pb2.HealthCheckResponse.NOT_SERVING
    )
    for name in ("", *registry.services):
        await health.set(name, status)


def _ensure_file(pool: descriptor_pool.DescriptorPool, file: FileDescriptor) -> None:
    """Add a file (and its imports) to ``pool`` unless the protos brought it already."""
    try:
        pool.FindFileByName(file.name)
        return
    except KeyError:
        pass
    for dependency in file.dependencies:
        _ensure_file(pool, dependency)
    pool.AddSerializedFile(file.serialized_pb)


def _ensure_v1_reflection(pool: descriptor_pool.DescriptorPool) -> None:
    try:
        pool.FindFileByName(_V1_FILE)
        return
    except KeyError:
        pass
    proto = descriptor_pb2.FileDescriptorProto()
    pool.FindFileByName(_V1ALPHA_FILE).CopyToProto(proto)
    proto.name = _V1_FILE
    proto.package = "grpc.reflection.v1"
    proto.options.Clear()
    old, new = ".grpc.reflection.v1alpha.", ".grpc.reflection.v1."
    for message in proto.message_type:
        for field in message.field:
            if field.type_name.startswith(old):
                field.type_name = new + field.type_name[len(old) :]
    for service in proto.service:
        for method in service.method:
            method.input_type = new + method.input_type[len(old) :]
            method.output_type = new + method.output_type[len(old) :]
    pool.Add(proto)
