"""Size limits the layer and function zips must meet, with messages that say which one broke and by how much.

Lambda's own quotas: the function plus all its layers may occupy at most
262,144,000 bytes unzipped ("250 MB"), and a zip uploaded directly through the
API may be at most 50 MB (beyond that it must go through S3). Our own budgets
for the layer are tighter so that user models, packages and the handler keep
room to grow under the hard quota.
"""

from __future__ import annotations

from pathlib import Path

from scripts.packaging.deterministic_zip import human, unzipped_size

MiB = 1024 * 1024
LAMBDA_UNZIPPED_LIMIT = 262_144_000
LAMBDA_DIRECT_UPLOAD_LIMIT = 50 * MiB
LAYER_UNZIPPED_BUDGET = 120 * MiB
LAYER_ZIPPED_BUDGET = 45 * MiB


class OverBudget(Exception):
    pass


def check(label: str, size: int, limit: int, what: str) -> None:
    if size > limit:
        raise OverBudget(f"{label} is {human(size)} ({size} bytes), over the {what} of {human(limit)} ({limit} bytes) "
                         f"by {human(size - limit)}")


def check_deployment(layer_zip: Path | None, function_zip: Path | None) -> int:
    """Layer + function unzipped against Lambda's quota; returns the total. A zip not built yet counts as 0."""
    parts = {name: unzipped_size(path) for name, path in (("layer", layer_zip), ("function", function_zip))
             if path is not None and path.is_file()}
    total = sum(parts.values())
    detail = " + ".join(f"{name} {human(size)}" for name, size in parts.items()) or "nothing built"
    check(f"layer + function unzipped ({detail})", total, LAMBDA_UNZIPPED_LIMIT, "Lambda limit for a function and its layers")
    return total
