"""Stepped builds: what do Lambda-sized steps cost over one `dbt build`?

A synthetic dbt project (default 200 models in 10 layers, each model joining two of the layer
above over --rows rows, a not_null test on each) is built on DuckDB, in ONE warm process (a warm
Lambda container: imports done, manifest kept):
  one-shot  one handler build of everything, after a `parse` call (so the manifest is kept); it
            leaves latest/, the run history the steps estimate from; built again after the
            stepped build, and the mean of the two is the one-shot time (the machine is shared);
  stepped   the same build through `build_step` calls until done, each step limited to
            --step-seconds (default: one-shot / 5, so >= 5 steps), margin 0;
  machine   the same stepped build through the state machine's definition on moto's ASL
            interpreter (scripts/demo/state_machine.py); its own overhead is the execution's
            wall time outside the handler, reported apart.
Prints the stepped and one-shot times, their ratio (budget: stepped <= 1.15x one-shot) and the
overhead per step ((stepped - one-shot) / steps). Asserts nothing.
Options: --models N (150-300), --rows N, --step-seconds S, --no-machine.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

from bench import common

LAYERS = 10


def write_project(root: Path, models: int, rows: int) -> Path:
    """The synthetic project: layer 0 generates rows, each later model joins two of the layer above."""
    project = root / "synthetic"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text(
        "name: synthetic\nversion: '1.0.0'\nconfig-version: 2\nprofile: synthetic\nmodel-paths: ['models']\n"
        "models:\n  synthetic:\n    +materialized: table\n")
    (project / "profiles.yml").write_text(
        "synthetic:\n  target: local\n  outputs:\n    local:\n      type: duckdb\n"
        "      path: \"{{ env_var('LOCAL_DATA_DIR') }}/synthetic.duckdb\"\n      threads: 2\n")
    per_layer = max(1, models // LAYERS)
    names: list[list[str]] = []
    tests = []
    for layer in range(LAYERS):
        count = per_layer if layer < LAYERS - 1 else models - per_layer * (LAYERS - 1)
        current = []
        for index in range(count):
            name = f"m{layer:02d}_{index:03d}"
            if layer == 0:
                sql = (f"select range as id, (range * {index + 7}) % 1009 as v "
                       f"from range({rows})")
            else:
                above = names[layer - 1]
                left, right = above[index % len(above)], above[(index * 7 + 3) % len(above)]
                sql = (f"select a.id, (a.v + b.v + {index}) % 1013 as v from {{{{ ref('{left}') }}}} a "
                       f"join {{{{ ref('{right}') }}}} b on a.id = b.id")
            (project / "models" / f"{name}.sql").write_text(sql + "\n")
            current.append(name)
            tests.append(f"  - name: {name}\n    columns:\n      - name: id\n        data_tests: [not_null]\n")
        names.append(current)
    (project / "models" / "schema.yml").write_text("version: 2\nmodels:\n" + "".join(tests))
    return project


def main(argv: list[str] | None = None) -> int:
    parser = common.parser("bench.steps", __doc__)
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--rows", type=int, default=2_000_000)  # a one-shot build of >= 30 s here
    parser.add_argument("--step-seconds", type=float, default=None)
    parser.add_argument("--no-machine", action="store_true")
    args = parser.parse_args(argv)
    if not 150 <= args.models <= 300:
        parser.error("--models: expected 150 to 300")

    with tempfile.TemporaryDirectory(prefix="bench-steps-") as tmp:
        root = Path(tmp)
        project = write_project(root, args.models, args.rows)
        local = root / "local"
        os.environ.update(common.handler_env(common.local_env(local), root / "tmp"))
        (root / "tmp").mkdir()
        tempfile.tempdir = None  # TMPDIR changed: the handler's scratch goes under it
        os.environ.update(DBT_PROJECT_DIR=str(project), DBT_STEP_MARGIN_SECONDS="0")
        from dbt_runner import handler
        from scripts.testing.stepping import timed_steps

        event = {"command": ["build"]}
        started = time.perf_counter()
        handler.handler({"command": ["parse"]}, None)  # the container keeps this manifest
        print(f"project: {args.models} models; parse {time.perf_counter() - started:.1f}s", flush=True)

        started = time.perf_counter()
        once = handler.handler(event, None)
        one_shot = time.perf_counter() - started
        assert once["manifest_source"] == "reused", once["manifest_source"]
        print(f"one-shot (warm): {one_shot:.2f}s", flush=True)

        step_seconds = args.step_seconds or max(2.0, round(one_shot / 5, 1))
        os.environ["DBT_STEP_SECONDS"] = str(step_seconds)
        stepped, answers = timed_steps(handler.handler, event, f"bench-steps-{int(time.time())}")
        count = len(answers)
        last = answers[-1]
        planning = answers[0]["planning_seconds"]
        overhead = (stepped - one_shot) / count
        print(f"stepped (warm, steps of {step_seconds:g}s): {stepped:.2f}s in {count} steps, status {last['status']}, "
              f"counts {last['counts']} (one-shot {once['counts']})")
        print(f"  planning (dbt ls + graph, step 1): {planning:.2f}s; "
              f"dbt invocations: {sum(a['chunks'] for a in answers)} chunks")
        # The machine is shared: a one-shot build after the stepped one too, and their mean.
        started = time.perf_counter()
        handler.handler(event, None)
        after = time.perf_counter() - started
        print(f"one-shot again (warm): {after:.2f}s", flush=True)
        one_shot = (one_shot + after) / 2
        overhead = (stepped - one_shot) / count
        print(f"ratio stepped / one-shot (mean of the two): {stepped / one_shot:.2f} (budget <= 1.15)")
        print(f"overhead per step: {overhead:.2f}s ((stepped - one-shot) / steps)", flush=True)

        if not args.no_machine:
            from scripts.demo import state_machine

            body, where = state_machine.definition()
            with state_machine.interpreter(step_seconds) as run:
                execution = run(event, body, name="bench")
            print(f"state machine ({where}): {execution.status}, {execution.steps} steps, "
                  f"wall {execution.wall_seconds:.2f}s, handler {execution.handler_seconds:.2f}s, "
                  f"interpreter's own overhead {execution.interpreter_seconds:.2f}s "
                  f"({execution.interpreter_seconds / max(execution.steps, 1):.2f}s per step)")
        print("RESULT " + json.dumps({"one_shot": round(one_shot, 3), "stepped": round(stepped, 3), "steps": count,
                                      "ratio": round(stepped / one_shot, 3), "overhead_per_step": round(overhead, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
