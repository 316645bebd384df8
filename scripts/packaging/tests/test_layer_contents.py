"""What ships in build/dbt-layer.zip: arm64 binaries only, package metadata and dbt's run-time data kept."""

from __future__ import annotations

import re
import struct
import zipfile
from pathlib import Path

import pytest

EM_AARCH64 = 183
ELF_MAGIC = b"\x7fELF"


def elf_machine(header: bytes) -> int:
    assert header[:4] == ELF_MAGIC
    assert header[4] == 2, "not a 64-bit ELF"
    assert header[5] == 1, "not little-endian"
    return struct.unpack_from("<H", header, 18)[0]


def test_elf_machine_reader_tells_architectures_apart():
    header = bytearray(ELF_MAGIC + bytes([2, 1, 1]) + bytes(9) + struct.pack("<HH", 3, 62))
    assert elf_machine(bytes(header)) == 62  # x86-64
    struct.pack_into("<H", header, 18, EM_AARCH64)
    assert elf_machine(bytes(header)) == EM_AARCH64


def test_every_compiled_extension_is_an_aarch64_elf(layer_zip: Path):
    checked = []
    with zipfile.ZipFile(layer_zip) as archive:
        for info in archive.infolist():
            with archive.open(info) as handle:
                header = handle.read(20)
            if header[:4] == ELF_MAGIC or re.search(r"\.so(\.|$)", info.filename):
                assert elf_machine(header) == EM_AARCH64, f"{info.filename} is not an aarch64 ELF"
                checked.append(info.filename)
    # pydantic-core, rpds-py, pyyaml, msgpack, markupsafe, mmh3, charset-normalizer, dbt-extractor...
    assert len(checked) >= 8, checked
    assert any("pydantic_core/_pydantic_core" in name for name in checked)


def test_binary_wheels_target_manylinux_aarch64_up_to_glibc_2_28(layer_zip: Path, layer_names: list[str]):
    with zipfile.ZipFile(layer_zip) as archive:
        wheels = {name: archive.read(name).decode() for name in layer_names if name.endswith(".dist-info/WHEEL")}
    binary = {}
    for name, text in wheels.items():
        tags = re.findall(r"^Tag: (\S+)", text, re.M)
        platforms = {platform for tag in tags for platform in tag.split("-")[2].split(".")}
        if platforms != {"any"}:
            binary[name] = platforms
    assert binary, "expected compiled wheels in the layer"
    for name, platforms in binary.items():
        glibc = [tuple(map(int, m.groups())) for p in platforms
                 for m in [re.fullmatch(r"manylinux_(\d+)_(\d+)_aarch64", p.replace("manylinux2014", "manylinux_2_17"))]
                 if m]
        assert glibc and min(glibc) <= (2, 28), f"{name}: {platforms} is not manylinux <= 2.28 aarch64"
        assert not [p for p in platforms if "x86_64" in p or "musllinux" in p], f"{name}: {platforms}"


def test_everything_is_under_python(layer_names: list[str]):
    assert layer_names and all(name.startswith("python/") for name in layer_names)


@pytest.mark.parametrize("distribution", ["dbt_core", "dbt_athena", "dbt_adapters", "dbt_common", "boto3", "botocore"])
def test_package_metadata_is_kept(layer_names: list[str], distribution: str):
    assert any(re.fullmatch(rf"python/{distribution}-[^/]+\.dist-info/METADATA", name) for name in layer_names)


def test_dbt_run_time_data_is_kept(layer_names: list[str]):
    names = set(layer_names)
    assert "python/dbt/include/global_project/dbt_project.yml" in names
    assert "python/dbt/include/athena/dbt_project.yml" in names
    assert any(n.startswith("python/dbt/include/global_project/macros/materializations/tests/") for n in names)
    assert any(n.startswith("python/dbt/include/athena/macros/") and n.endswith(".sql") for n in names)
    assert "python/dbt_common/tests.py" in names  # a run-time module, despite its name
    assert "python/dbt/include/global_project/docs/overview.md" in names


def test_what_the_runtime_never_loads_is_pruned(layer_names: list[str]):
    outside_include = [n for n in layer_names if "/include/" not in n]
    assert not [n for n in layer_names if n.endswith(".pyo") or re.search(r"\.opt-\d\.pyc$", n)]
    assert not [n for n in outside_include if n.endswith(".pyi")]
    assert not [n for n in outside_include if set(n.split("/")[1:-1]) & {"tests", "test"}]
    assert not [n for n in layer_names if n.startswith("python/bin/")]
    locales = sorted(n.rsplit("/", 1)[1] for n in layer_names if n.startswith("python/babel/locale-data/") and n.endswith(".dat"))
    assert locales == ["en.dat", "en_US.dat", "root.dat"]
    assert "python/babel/global.dat" in layer_names  # babel's locale-independent data stays


def test_every_module_ships_its_cpython_312_bytecode_and_nothing_else_does(layer_names: list[str]):
    sources = {n for n in layer_names if n.endswith(".py")}
    compiled = {n for n in layer_names if n.endswith(".pyc")}
    expected = {f"{s.rsplit('/', 1)[0]}/__pycache__/{s.rsplit('/', 1)[1][:-3]}.cpython-312.pyc" for s in sources}
    assert len(sources) > 1500
    assert sorted(expected - compiled)[:5] == [], "modules without bytecode"
    assert sorted(compiled - expected)[:5] == [], "bytecode without a module (stale, or for another interpreter)"


def test_bytecode_is_unchecked_hash_based_for_the_source_beside_it(layer_zip: Path, layer_names: list[str]):
    # Header (PEP 552): magic, flags (bit 0 hash-based, bit 1 check the source), source hash.
    # Unchecked: the importer never reads or stats the .py, and no mtime is in the bytes.
    import importlib.util

    magic = importlib.util.MAGIC_NUMBER  # the test runs under CPython 3.12, like the runtime
    sampled = [n for n in layer_names if n.endswith(".pyc")][::25]
    with zipfile.ZipFile(layer_zip) as archive:
        for name in sampled:
            header = archive.read(name)[:16]
            folder, leaf = name.rsplit("/__pycache__/", 1)
            source = archive.read(f"{folder}/{leaf.removesuffix('.cpython-312.pyc')}.py")
            assert header[:4] == magic, name
            assert int.from_bytes(header[4:8], "little") == 0b01, f"{name} is not an unchecked hash-based pyc"
            assert header[8:16] == importlib.util.source_hash(source), f"{name} was not compiled from its .py"
    assert len(sampled) > 50


def test_bytecode_names_the_path_lambda_mounts_the_layer_at(layer_zip: Path):
    import marshal

    with zipfile.ZipFile(layer_zip) as archive:
        code = marshal.loads(archive.read("python/dbt/__pycache__/version.cpython-312.pyc")[16:])
    assert code.co_filename == "/opt/python/dbt/version.py"


def test_bytecode_rows_are_in_record(layer_zip: Path, layer_names: list[str]):
    with zipfile.ZipFile(layer_zip) as archive:
        record = archive.read(next(n for n in layer_names if re.fullmatch(r"python/agate-[^/]+\.dist-info/RECORD", n))).decode()
    listed = {line.split(",", 1)[0] for line in record.splitlines()}
    shipped = {n.removeprefix("python/") for n in layer_names if n.startswith("python/agate/") and n.endswith(".pyc")}
    assert "agate/__pycache__/config.cpython-312.pyc" in shipped
    assert shipped <= listed
