"""The descriptor-set cache: a second compile of an unchanged tree never runs protoc."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenario_runner import protos
from scenario_runner.errors import ProtoCompileError

PROTO = """syntax = "proto3";
package demo;
service S { rpc M (A) returns (A); }
message A { string x = 1; }
"""


def test_second_compile_comes_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "protos").mkdir()
    (tmp_path / "protos" / "demo.proto").write_text(PROTO)
    cache = tmp_path / "cache"
    first = protos.compile_protos([tmp_path / "protos"], cache_dir=cache)
    assert len(list(cache.glob("*.pb"))) == 1

    def no_protoc(*_args: object) -> bytes:
        raise AssertionError("protoc ran although the cache had this tree")

    monkeypatch.setattr(protos, "_run_protoc", no_protoc)
    second = protos.compile_protos([tmp_path / "protos"], cache_dir=cache)
    assert list(second.methods) == list(first.methods) == ["/demo.S/M"]


def test_a_changed_file_is_compiled_again(tmp_path: Path) -> None:
    source = tmp_path / "protos"
    source.mkdir()
    (source / "demo.proto").write_text(PROTO)
    cache = tmp_path / "cache"
    protos.compile_protos([source], cache_dir=cache)
    (source / "demo.proto").write_text(PROTO.replace("rpc M", "rpc N"))
    registry = protos.compile_protos([source], cache_dir=cache)
    assert list(registry.methods) == ["/demo.S/N"]
    assert len(list(cache.glob("*.pb"))) == 2


def test_compile_error_carries_protocs_file_line_column(tmp_path: Path) -> None:
    (tmp_path / "bad.proto").write_text('syntax = "proto3";\nmessage A { strin x = 1; }\n')
    with pytest.raises(ProtoCompileError, match=r"bad\.proto:2:13: \"strin\" is not defined"):
        protos.compile_protos([tmp_path / "bad.proto"])


def test_past_its_limit_a_compile_removes_the_older_half_of_the_sets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    monkeypatch.setattr(protos, "MAX_CACHED_SETS", 10)
    (tmp_path / "protos").mkdir()
    (tmp_path / "protos" / "demo.proto").write_text(PROTO)
    cache = tmp_path / "cache"
    (cache / "documents").mkdir(parents=True)
    (cache / "documents" / "x.marshal").write_bytes(b"")
    old = [cache / f"{n:032x}.pb" for n in range(12)]
    for n, path in enumerate(old):
        path.write_bytes(b"")
        os.utime(path, (1_000_000 + n, 1_000_000 + n))
    registry = protos.compile_protos([tmp_path / "protos"], cache_dir=cache)
    assert list(registry.methods) == ["/demo.S/M"]
    left = sorted(p.name for p in cache.glob("*.pb"))
    assert len(left) == 5  # half the limit: the newest four old ones and this compile's
    assert [p.name for p in old if p.name in left] == [p.name for p in old[8:]]
    assert (cache / "documents" / "x.marshal").exists()  # other caches are not its to prune
    protos.compile_protos([tmp_path / "protos"], cache_dir=cache)  # its own set is kept
    assert sorted(p.name for p in cache.glob("*.pb")) == left
