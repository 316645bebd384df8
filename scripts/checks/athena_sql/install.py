"""Trino from Maven Central, checksum-verified and cached outside the repository; a Java that runs it."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tarfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

TRINO_VERSION = "476"
# Trino 476's launcher refuses older JVMs.
MIN_JAVA = 24
MAVEN = "https://repo1.maven.org/maven2/io/trino"
ARTIFACTS = {
    "server": f"{MAVEN}/trino-server-core/{TRINO_VERSION}/trino-server-core-{TRINO_VERSION}.tar.gz",
    "hive": f"{MAVEN}/trino-hive/{TRINO_VERSION}/trino-hive-{TRINO_VERSION}.zip",
}
JVM_ROOT = Path("/usr/lib/jvm")


class InstallError(RuntimeError):
    pass


@dataclass(frozen=True)
class Installation:
    home: Path        # the server's folder: bin/, lib/, plugin/ (with plugin/hive)
    java_home: Path


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "dbt-lambda" / f"trino-{TRINO_VERSION}"


def install(log=print) -> Installation:
    java_home = find_java()
    root = cache_dir()
    home = root / f"trino-server-{TRINO_VERSION}"
    done = home / ".installed"
    if not done.exists():
        downloads = root / "downloads"
        server = fetch_verified(ARTIFACTS["server"], downloads, log)
        hive = fetch_verified(ARTIFACTS["hive"], downloads, log)
        staging = root / "staging"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        with tarfile.open(server) as archive:
            archive.extractall(staging, filter="data")
        unpacked = staging / f"trino-server-core-{TRINO_VERSION}"
        if not (unpacked / "bin" / "launcher").exists():
            raise InstallError(f"{server.name}: no trino-server-core-{TRINO_VERSION}/bin/launcher inside")
        with zipfile.ZipFile(hive) as archive:
            archive.extractall(unpacked / "plugin")
        plugin = unpacked / "plugin" / f"trino-hive-{TRINO_VERSION}"
        if plugin.is_dir():
            plugin.rename(unpacked / "plugin" / "hive")
        if not (unpacked / "plugin" / "hive").is_dir():
            raise InstallError(f"{hive.name}: expected one folder trino-hive-{TRINO_VERSION}/ inside")
        for launcher in (unpacked / "bin").rglob("*"):
            if launcher.is_file():
                launcher.chmod(0o755)
        shutil.rmtree(home, ignore_errors=True)
        unpacked.rename(home)
        shutil.rmtree(staging, ignore_errors=True)
        done.write_text(f"{ARTIFACTS}\n")
    return Installation(home=home, java_home=java_home)


def fetch_verified(url: str, folder: Path, log=print) -> Path:
    """The artifact, downloaded once; its sha1 and (when published) sha512 from Maven Central must match."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / url.rsplit("/", 1)[1]
    expected = {algorithm: _published_digest(f"{url}.{algorithm}") for algorithm in ("sha1", "sha512")}
    expected = {algorithm: digest for algorithm, digest in expected.items() if digest}
    if "sha1" not in expected:
        raise InstallError(f"{url}.sha1: Maven Central published no checksum; refusing an unverified download")
    if not target.exists() or _digests(target, expected) != expected:
        log(f"athena-sql: downloading {url}")
        partial = target.with_name(target.name + ".part")
        with urllib.request.urlopen(url, timeout=60) as response, partial.open("wb") as out:
            shutil.copyfileobj(response, out, length=1 << 20)
        actual = _digests(partial, expected)
        if actual != expected:
            partial.unlink()
            raise InstallError(f"{target.name}: checksum mismatch: expected {expected}, got {actual}")
        partial.rename(target)
    return target


def _published_digest(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.read().decode().split()[0].strip().lower()
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise


def _digests(path: Path, algorithms) -> dict[str, str]:
    hashes = {algorithm: hashlib.new(algorithm) for algorithm in algorithms}
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            for digest in hashes.values():
                digest.update(chunk)
    return {algorithm: digest.hexdigest() for algorithm, digest in hashes.items()}


def find_java() -> Path:
    """JAVA_HOME if it is new enough, else the newest JDK >= 24 under /usr/lib/jvm."""
    candidates = []
    if os.environ.get("TRINO_JAVA_HOME"):
        candidates.append(Path(os.environ["TRINO_JAVA_HOME"]))
    if os.environ.get("JAVA_HOME"):
        candidates.append(Path(os.environ["JAVA_HOME"]))
    if JVM_ROOT.is_dir():
        candidates += sorted(p for p in JVM_ROOT.iterdir() if p.is_dir() and not p.is_symlink())
    found = []
    for home in candidates:
        version = java_version(home)
        if version is not None:
            found.append((version, home))
            if version >= MIN_JAVA and home in candidates[:2]:
                return home
    good = [item for item in found if item[0] >= MIN_JAVA]
    if good:
        return max(good)[1]
    seen = ", ".join(f"{home} (Java {version})" for version, home in found) or "none"
    raise InstallError(
        f"Trino {TRINO_VERSION} needs a JDK >= {MIN_JAVA} (bin/java); found {seen}. "
        f"Install one under {JVM_ROOT} (e.g. Temurin 25) or set TRINO_JAVA_HOME."
    )


def java_version(home: Path) -> int | None:
    release = home / "release"
    if release.is_file():
        match = re.search(r'^JAVA_VERSION="(\d+)', release.read_text(errors="replace"), re.M)
        if match and (home / "bin" / "java").exists():
            return int(match.group(1))
    java = home / "bin" / "java"
    if not java.exists():
        return None
    out = subprocess.run([str(java), "-version"], capture_output=True, text=True).stderr
    match = re.search(r'version "(\d+)', out)
    return int(match.group(1)) if match else None
