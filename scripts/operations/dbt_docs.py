"""The dbt docs as one private, self-contained HTML page.

  docs.py              run `docs generate` through the handler on the local target and print
                       the page's path ($LOCAL_DATA_DIR/artifacts/docs/index.html)
  docs.py --env dev    download the dev stack's docs/index.html and print its path, plus a
                       pre-signed URL valid for 15 minutes (the bucket itself is never public)
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from scripts.operations.artifact_source import REPO, S3Source, SourceError, add_arguments, resolve

DOCS_KEY = "docs/index.html"
URL_SECONDS = 15 * 60


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.add_argument("--out", type=Path, help="where to save a downloaded page (default .local/docs/<env>/index.html)")
    args = parser.parse_args(argv)
    try:
        if args.env or args.bucket:
            return _download(args)
        return _generate(args)
    except SourceError as error:
        print(f"docs: {error}", file=sys.stderr)
        return 2


def _generate(args: argparse.Namespace) -> int:
    data_dir = (args.local_dir.parent if args.local_dir else Path(os.environ.get("LOCAL_DATA_DIR") or REPO / ".local")).resolve()
    os.environ["LOCAL_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("ENVIRONMENT", "local")
    os.environ.setdefault("DBT_LOG_LEVEL", "warn")
    for name in ("DBT_TARGET", "ARTIFACTS_BUCKET_NAME", "ALERT_TOPIC_ARN"):
        os.environ.pop(name, None)
    from dbt_runner import handler

    try:
        summary = handler.handler({"command": ["docs", "generate"]})
    except handler.DbtRunFailed as failure:
        print(f"docs: dbt docs generate failed: {failure}", file=sys.stderr)
        return 1
    page = summary.get("docs")
    if not page:
        print("docs: dbt ran but no page was stored (see the log above)", file=sys.stderr)
        return 1
    print(f"Docs (one self-contained page, open it in a browser): {page}")
    return 0


def _download(args: argparse.Namespace) -> int:
    source = resolve(args)
    assert isinstance(source, S3Source)
    body = source.read(DOCS_KEY)
    if body is None:
        raise SourceError(f"no {source.where(DOCS_KEY)} yet: invoke the runner with "
                          '{"command": ["docs", "generate"]} first')
    out = args.out or REPO / ".local" / "docs" / (args.env or source.bucket) / "index.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(body)
    url = source.client.generate_presigned_url(
        "get_object", Params={"Bucket": source.bucket, "Key": DOCS_KEY}, ExpiresIn=URL_SECONDS
    )
    print(f"Docs saved to {out} ({len(body):,} bytes)")
    print(f"Pre-signed URL (valid {URL_SECONDS // 60} minutes, do not share): {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
