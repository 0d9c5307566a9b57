"""orders.v1.Orders: places an order by reserving stock, then charging the customer.

A small real gRPC service (grpcio, no generated code checked in: the protos are compiled
when it starts). Its two dependencies, inventory.v1.Inventory and payments.v1.Payments,
are reached at the addresses in INVENTORY_ADDR and PAYMENTS_ADDR; each downstream call has
the deadline DOWNSTREAM_TIMEOUT (seconds). It listens on 127.0.0.1:$ORDERS_PORT and serves
grpc.health.v1 too.

It forwards the caller's ``x-mock-session`` header on every downstream call: under
scenario-run, that keeps each scenario's downstream calls in the scenario's own mock
session, however many scenarios run at once.
"""

from __future__ import annotations

import os
import signal
import sys
from concurrent import futures
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "protos"))
orders_pb2, orders_grpc = grpc.protos_and_services("orders/v1/orders.proto")
inventory_pb2, inventory_grpc = grpc.protos_and_services("inventory/v1/inventory.proto")
payments_pb2, payments_grpc = grpc.protos_and_services("payments/v1/payments.proto")

SESSION_HEADER = "x-mock-session"


def forwarded(context: grpc.ServicerContext) -> list[tuple[str, str]]:
    """The one line a service needs: pass the session header on to its dependencies."""
    return [(k, v) for k, v in context.invocation_metadata() if k == SESSION_HEADER]


class Orders(orders_grpc.OrdersServicer):  # type: ignore[misc,name-defined]
    def __init__(self, inventory: str, payments: str, timeout: float) -> None:
        self.inventory = inventory_grpc.InventoryStub(grpc.insecure_channel(inventory))
        self.payments = payments_grpc.PaymentsStub(grpc.insecure_channel(payments))
        self.timeout = timeout

    def PlaceOrder(self, request, context):
        if not request.items:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "an order needs at least one item")
        metadata = forwarded(context)
        order_id = f"ord-{request.customer_id}-{len(request.items)}"
        items = [inventory_pb2.Item(sku=i.sku, quantity=i.quantity) for i in request.items]
        try:
            reservation = self.inventory.Reserve(
                inventory_pb2.ReserveRequest(order_id=order_id, items=items),
                metadata=metadata,
                timeout=self.timeout,
            )
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.FAILED_PRECONDITION:
                context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"out of stock: {exc.details()}")
            self._unavailable(context, "inventory", exc)
        try:
            charge = self.payments.Charge(
                payments_pb2.ChargeRequest(
                    customer_id=request.customer_id,
                    payment_token=request.payment_token,
                    amount_cents=reservation.total_cents,
                    idempotency_key=order_id,
                ),
                metadata=metadata,
                timeout=self.timeout,
            )
        except grpc.RpcError as exc:
            self._release(reservation.reservation_id, metadata)
            self._unavailable(context, "payments", exc)
        if not charge.approved:
            self._release(reservation.reservation_id, metadata)
            return orders_pb2.PlaceOrderResponse(
                order_id=order_id,
                status=orders_pb2.ORDER_STATUS_PAYMENT_DECLINED,
                total_cents=reservation.total_cents,
                decline_reason=charge.decline_reason,
            )
        return orders_pb2.PlaceOrderResponse(
            order_id=order_id,
            status=orders_pb2.ORDER_STATUS_CONFIRMED,
            total_cents=reservation.total_cents,
            charge_id=charge.charge_id,
        )

    def _release(self, reservation_id: str, metadata: list[tuple[str, str]]) -> None:
        try:
            self.inventory.Release(
                inventory_pb2.ReleaseRequest(reservation_id=reservation_id),
                metadata=metadata,
                timeout=self.timeout,
            )
        except grpc.RpcError as exc:
            print(f"orders: could not release {reservation_id}: {exc.code().name}", flush=True)

    def _unavailable(self, context: grpc.ServicerContext, name: str, exc: grpc.RpcError) -> None:
        if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
            message = f"{name} did not answer within {self.timeout:g}s"
        else:
            message = f"{name} failed: {exc.code().name}: {exc.details()}"
        context.abort(grpc.StatusCode.UNAVAILABLE, message)


def main() -> None:
    port = int(os.environ.get("ORDERS_PORT", "50061"))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=32))
    orders_grpc.add_OrdersServicer_to_server(
        Orders(
            os.environ["INVENTORY_ADDR"],
            os.environ["PAYMENTS_ADDR"],
            float(os.environ.get("DOWNSTREAM_TIMEOUT", "1.0")),
        ),
        server,
    )
    checker = health.HealthServicer()
    checker.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(checker, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    print(f"orders: serving on 127.0.0.1:{port}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: server.stop(1.0))
    server.wait_for_termination()


if __name__ == "__main__":
    main()
