"""The Python SDK: GripMock's embedded SDK, in Python, embedded or against a running serve.

    from scenario_runner import sdk

    with sdk.run(protos=["protos"]) as mock:
        mock.stub("helloworld.Greeter", "SayHello").when(equals={"name": "x"}) \\
            .reply(data={"message": "hi"}).times(2).commit()
        stub = GreeterStub(mock.channel())          # calls carry the session
        ...
        mock.verify().method("helloworld.Greeter", "SayHello").called(2)

``run_async`` is the same on the running event loop. ``MockHost`` / ``AsyncMockHost`` keep
one mock for many sessions (the pytest plugin's ``mock_server`` fixture uses them).
"""

from ._errors import CallError, SdkError, StubError
from ._host import AsyncMockHost, MockHost, run, run_async
from ._session import AsyncMock, AsyncVerify, Mock, Verify
from ._stubs import AsyncStubBuilder, StubBuilder
from ._verify import AsyncMethodCheck, MethodCheck

__all__ = [
    "AsyncMethodCheck",
    "AsyncMock",
    "AsyncMockHost",
    "AsyncStubBuilder",
    "AsyncVerify",
    "CallError",
    "MethodCheck",
    "Mock",
    "MockHost",
    "SdkError",
    "StubBuilder",
    "StubError",
    "Verify",
    "run",
    "run_async",
]
