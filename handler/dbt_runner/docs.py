"""Private docs: `docs generate` runs with `--static`, which writes ONE self-contained HTML page
(manifest and catalog inlined: nothing else is fetched), stored as `docs/index.html` in the
artifacts location. No website hosting: the page is read with credentials (or a pre-signed URL).
"""

from __future__ import annotations

import re
from pathlib import Path

STATIC_INDEX = "static_index.html"  # what `dbt docs generate --static` writes in the target folder
DOCS_KEY = "docs/index.html"


def static_args(cli_args: tuple[str, ...]) -> tuple[str, ...]:
    return cli_args if "--static" in cli_args else (*cli_args, "--static")


# dbt's page carries an unrendered favicon template (`${require(...)}`): a browser would try to
# fetch that relative path, so it is dropped and the page requests nothing at all.
_BROKEN_FAVICON = re.compile(rb'<link rel="shortcut icon" href="\$\{require\([^"]*\)\}"\s*/?>')


def page(target_path: Path) -> bytes | None:
    path = target_path / STATIC_INDEX
    return _BROKEN_FAVICON.sub(b"", path.read_bytes()) if path.is_file() else None
