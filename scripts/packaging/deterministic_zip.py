"""Reproducible zip archives for the Lambda layer and the function package.

Terraform hashes the zips (filebase64sha256), so a rebuild from the same
inputs must give the same bytes, or every plan would show a spurious update.
What would otherwise vary between builds is pinned here: entry order (sorted by
archive name), timestamps (1980-01-01, the earliest a zip can store), permissions
(0644, or 0755 when the source is executable), the creating system (Unix), and
the compression level. No directory entries are written: Lambda does not need them.
The bytes also depend on the zlib that Python links, so the build scripts always
run under the project's CPython 3.12.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
COMPRESS_LEVEL = 9
_UNIX = 3


@dataclass(frozen=True)
class ZipSummary:
    path: Path
    files: int
    unzipped_bytes: int
    zipped_bytes: int
    sha256: str


def collect(root: Path, prefix: str = "") -> dict[str, Path]:
    """Every file under root, keyed by its archive name (prefix + POSIX relative path)."""
    entries: dict[str, Path] = {}
    # Symlinks are followed and stored as the files they point to: `dbt deps` links local packages.
    for folder, _dirs, files in os.walk(root, followlinks=True):
        for name in files:
            path = Path(folder, name)
            if path.is_file():
                entries[prefix + path.relative_to(root).as_posix()] = path
    return entries


def write(dest: Path, entries: dict[str, Path]) -> ZipSummary:
    """Write entries ({archive name: source file}) to dest, deterministically and atomically."""
    if not entries:
        raise ValueError(f"refusing to write an empty archive: {dest}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    unzipped = 0
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL) as archive:
        for name in sorted(entries):
            source = entries[name]
            mode = 0o755 if os.stat(source).st_mode & stat.S_IXUSR else 0o644
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE_TIME)
            info.create_system = _UNIX
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            data = source.read_bytes()
            unzipped += len(data)
            archive.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL)
    os.replace(partial, dest)
    return ZipSummary(dest, len(entries), unzipped, dest.stat().st_size, sha256(dest))


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def unzipped_size(path: Path) -> int:
    """Bytes the archive occupies once extracted: what Lambda counts against its 250 MB quota."""
    with zipfile.ZipFile(path) as archive:
        return sum(info.file_size for info in archive.infolist())


def human(size: int) -> str:
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / (1024 * 1024):.1f} MiB"


def _main(argv: list[str]) -> int:
    # Used by dbt_layer/Dockerfile: zip a prepared folder the same way the scripts do.
    if len(argv) != 3:
        print("usage: deterministic_zip.py SOURCE_DIR DEST_ZIP", file=sys.stderr)
        return 2
    summary = write(Path(argv[2]), collect(Path(argv[1])))
    print(f"{summary.path}: {summary.files} files, {human(summary.unzipped_bytes)} unzipped, "
          f"{human(summary.zipped_bytes)} zipped, sha256 {summary.sha256}")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
