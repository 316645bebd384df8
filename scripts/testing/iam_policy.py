"""A small, faithful evaluator of IAM identity and session policies, for tests (moto enforces no IAM).

What it implements, as IAM documents it (policy evaluation logic, single account):
  - a request is allowed only if no statement of any policy Denies it and every policy type in
    play Allows it: the identity policy, and the session policy when there is one (an assumed
    role's session gets the intersection), and the permissions boundary when there is one;
  - Action / NotAction match case-insensitively, Resource / NotResource case-sensitively, both
    with the wildcards `*` (any run of characters, `/` and `:` included) and `?` (one character);
  - Condition: StringEquals, StringNotEquals, StringLike, StringNotLike (values OR-ed, keys and
    operators AND-ed; a missing key fails a positive operator and passes a negated one).
  - Glue checks several resources per call (catalog, database, table): `allowed_all`.
Not implemented (not used by the policies it checks): other condition operators, IfExists,
policy variables, resource-based policies, SCPs. Unknown ones raise, so nothing passes by omission.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

Policy = Mapping[str, Any]
_OPERATORS = {"StringEquals", "StringNotEquals", "StringLike", "StringNotLike"}


def _pattern(text: str, *, case: bool) -> re.Pattern:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)
    return re.compile(f"^{body}$", 0 if case else re.IGNORECASE)


def _matches(patterns: Any, value: str, *, case: bool) -> bool:
    return any(_pattern(p, case=case).match(value) for p in ([patterns] if isinstance(patterns, str) else patterns))


def _condition(block: Mapping[str, Any] | None, context: Mapping[str, str]) -> bool:
    for operator, tests in (block or {}).items():
        if operator not in _OPERATORS:
            raise NotImplementedError(f"condition operator {operator}")
        for key, values in tests.items():
            values = [values] if isinstance(values, str) else list(values)
            present = key in context
            if operator == "StringEquals":
                ok = present and context[key] in values
            elif operator == "StringNotEquals":
                ok = not present or context[key] not in values
            elif operator == "StringLike":
                ok = present and any(_pattern(v, case=True).match(context[key]) for v in values)
            else:
                ok = not present or not any(_pattern(v, case=True).match(context[key]) for v in values)
            if not ok:
                return False
    return True


def _applies(statement: Mapping[str, Any], action: str, resource: str, context: Mapping[str, str]) -> bool:
    if "Action" in statement:
        action_ok = _matches(statement["Action"], action, case=False)
    else:
        action_ok = not _matches(statement["NotAction"], action, case=False)
    if "Resource" in statement:
        resource_ok = _matches(statement["Resource"], resource, case=True)
    else:
        resource_ok = not _matches(statement["NotResource"], resource, case=True)
    return action_ok and resource_ok and _condition(statement.get("Condition"), context)


def _statements(policy: Policy) -> list[Mapping[str, Any]]:
    statements = policy["Statement"]
    return [statements] if isinstance(statements, Mapping) else list(statements)


def decision(action: str, resource: str, *, identity: Iterable[Policy], session: Policy | None = None,
             boundary: Policy | None = None, context: Mapping[str, str] | None = None) -> str:
    """"Allow", "ExplicitDeny" or "ImplicitDeny" for one action on one resource."""
    context = context or {}
    kinds = [list(identity), *([[session]] if session is not None else []), *([[boundary]] if boundary is not None else [])]
    for policies in kinds:
        for policy in policies:
            for statement in _statements(policy):
                if statement["Effect"] == "Deny" and _applies(statement, action, resource, context):
                    return "ExplicitDeny"
    for policies in kinds:
        if not any(statement["Effect"] == "Allow" and _applies(statement, action, resource, context)
                   for policy in policies for statement in _statements(policy)):
            return "ImplicitDeny"
    return "Allow"


def allowed(action: str, resource: str, **kwargs: Any) -> bool:
    return decision(action, resource, **kwargs) == "Allow"


def allowed_all(action: str, resources: Iterable[str], **kwargs: Any) -> bool:
    """An API call that IAM authorizes against several resources (Glue: catalog, database, table)."""
    return all(allowed(action, resource, **kwargs) for resource in resources)
