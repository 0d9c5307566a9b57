"""What the sessions of one SDK mock share: the protos, the stub checks, the mock itself.

The mock is the runner's: embedded (an ``EmbeddedMock`` on the caller's event loop) or
remote (the client of a running ``scenario-run serve``), behind the same ``MockBackend``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..config import Options, check_listen, remote_options
from ..engine import Suite, build_global_stubs
from ..errors import ConfigError, Location, ProtoCompileError, ScenarioError, ScenarioFileError
from ..mock.backend import EmbeddedMock, MockBackend
from ..mock.stubs import Stub
from ..protos import MethodInfo
from ..runner.stub_setup import ScenarioStubs
from ..scenario.schema import validate_stub_file
from ..scenario.yamlsource import SourceDocument
from ..templating import Templates
from ._errors import SdkError, StubError

DEFAULT_TTL = 60.0  # seconds, as GripMock's SDK


class Core:
    def __init__(self, suite: Suite, backend: MockBackend, templates: Templates) -> None:
        self.suite = suite
        self.registry = suite.registry
        self.backend = backend
        self.templates = templates

    @classmethod
    async def start(
        cls,
        *,
        protos: Sequence[str | Path] = ("protos",),
        import_paths: Sequence[str | Path] = (),
        stubs: str | Path | None = None,
        listen: str = "127.0.0.1:0",
        remote: str | None = None,
        admin: str | None = None,
        admin_token: str | None = None,
    ) -> Core:
        """Compile the protos, load the stub folder, start (or reach) the mock."""
        options = Options(
            protos=tuple(Path(p) for p in protos),
            import_paths=tuple(Path(p) for p in import_paths),
            stubs=(Path(stubs),) if stubs is not None else (),
        )
        templates = Templates()
        try:
            suite = Suite(options)
            global_stubs = build_global_stubs(suite.global_stubs(), suite.registry)
        except ProtoCompileError as exc:
            raise SdkError(f"protos do not compile:\n{exc}") from exc
        except ScenarioError as exc:
            raise SdkError(str(exc)) from exc
        backend: MockBackend
        if remote is not None:
            from ..remote.client import RemoteMock

            try:
                where = remote_options(remote, admin)
            except ConfigError as exc:
                raise SdkError(exc.message.replace("--", "")) from exc
            client = RemoteMock(
                where["remote"],
                where["admin"],
                templates=templates,
                token=admin_token,
                global_stubs=global_stubs,
            )
            try:
                await client.start()
            except ScenarioError as exc:
                await client.aclose()
                raise SdkError(str(exc)) from exc
            backend = client
        else:
            try:
                address = check_listen(listen, "listen")
            except ConfigError as exc:
                raise SdkError(exc.message) from exc
            embedded = EmbeddedMock(suite.registry, None, global_stubs, templates)
            try:
                await embedded.start(address)
            except OSError as exc:
                await embedded.aclose()
                raise SdkError(f"the mock cannot listen on {address}: {exc}") from exc
            backend = embedded
        return cls(suite, backend, templates)

    async def aclose(self) -> None:
        await self.backend.aclose()

    def find_method(self, service: str, method: str | None = None) -> MethodInfo:
        """A method by ``("pkg.Service", "Method")``, a short service name, or one
        ``"pkg.Service/Method"``; ``SdkError`` naming what the protos have otherwise."""
        call = f"{service}/{method}" if method is not None else service
        found = self.registry.find_call(call)
        if found is None:
            raise SdkError(self.suite.loader.unknown_method_message(call.lstrip("/")))
        return found

    def build_stub(self, raw: dict[str, Any], where: Location) -> Stub:
        """A stub checked as a stub of a scenario file is, errors pointing at ``where``."""
        line = where.line or 1
        document = SourceDocument(where.file, 0, raw, {(): (line, 1)})
        try:
            errors = validate_stub_file(document)
            if not errors:
                source, errors = self.suite.loader.check_stub(raw, document, ())
            if errors:
                raise errors[0]
            assert source is not None
            builder = ScenarioStubs(self.registry, self.templates, dict, set())
            built = builder.ready([source])
        except ScenarioFileError as exc:
            raise StubError(
                exc.message, location=Location(where.file, line), path=exc.path
            ) from exc
        if not built:  # pragma: no cover - a stub without saved names is always built now
            raise StubError("the stub could not be built", location=where)
        return built[0]
