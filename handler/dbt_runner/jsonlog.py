"""One JSON object per line on stdout: the shared logger of both Lambdas (package lambda_logging).

Kept as the runner's import path; `mask` hides row values in messages, `redact_args` the values
of --vars and --args.
"""

from __future__ import annotations

from lambda_logging import REDACTED, log, mask, redact_args

__all__ = ["REDACTED", "log", "mask", "redact_args"]
