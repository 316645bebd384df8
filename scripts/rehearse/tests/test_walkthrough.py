"""The README walkthrough's parsing: one block, numbered steps, and an equivalent only where listed."""

from __future__ import annotations

import pytest

from scripts.rehearse import gaps
from scripts.rehearse.terraform import StepFailed
from scripts.rehearse.walkthrough import README, equivalent_for, readme_steps


def test_the_readme_block_is_the_ordered_path_from_zero():
    steps = readme_steps(README.read_text())
    titles = [s.title.split(". ", 1)[1].split(" ")[0] for s in steps]
    assert [s.title.split(".")[0] for s in steps] == [str(n) for n in range(1, len(steps) + 1)]
    assert titles[:4] == ["Check", "Bootstrap", "Build", "Deploy"] and titles[-1] == "Teardown"
    commands = [c for s in steps for c in s.commands]
    order = [next(i for i, c in enumerate(commands) if c.startswith(p)) for p in (
        'make bootstrap ARGS="--region ap-southeast-2 --env dev"', "make package layer", "npx cdktf deploy dev",
        "aws s3 cp ", "aws lambda invoke --function-name dev-ingest", "make invoke ENV=dev", "make build-changed ENV=dev",
        "make runs ENV=dev",
        "make docs ENV=dev", 'make bootstrap ARGS="--region ap-southeast-2 --env prod"', "npx cdktf deploy prod",
        "make bootstrap ARGS=\"--region ap-southeast-2 --env dev --github-repo", "npx cdktf destroy dev")]
    assert order == sorted(order)


def test_only_the_listed_commands_get_an_equivalent_and_every_listed_one_is_used():
    commands = [c for s in readme_steps(README.read_text()) for c in s.commands]
    replaced = {c: equivalent_for(c) for c in commands if equivalent_for(c)}
    assert {name for name, _ in replaced.values()} == {name for _, name, _ in gaps.WALKTHROUGH_EQUIVALENTS}
    for command in ("make bootstrap ARGS=\"--region ap-southeast-2 --env dev\"", "make runs ENV=dev", "make docs ENV=dev",
                    'aws s3 cp build/chinook.db "s3://$RAW/db/chinook.db"', "make package layer", "make build-changed ENV=dev"):
        assert command in commands and equivalent_for(command) is None


def test_a_readme_without_exactly_one_block_is_refused():
    with pytest.raises(StepFailed, match="exactly one"):
        readme_steps("no block here")
    with pytest.raises(StepFailed, match="before the first"):
        readme_steps("```bash walkthrough\nmake x\n```\n")
