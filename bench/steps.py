"""Stepped builds: what do Lambda-sized steps cost over one `dbt build`?

A synthetic dbt project (default 200 models in 10 layers, each model joining two of the layer
above over --rows rows, a not_null test on each) is built on DuckDB, in ONE warm process (a warm
Lambda container: imports done, manifest kept):
  warm-up   one handler build of everything, after a `parse` call (so the manifest is kept): it
            leaves latest/, the run history the steps estimate from, and the tables, so every
            build measured after it replaces tables as a scheduled build does (a build into an
            empty database only creates them);
  one-shot  the same build again;
  stepped   the same build through `build_step` calls until done, each step limited to
            --step-seconds (default: the warm-up / 5, so >= 5 steps), margin 0;
  machine   the same stepped build through the state machine's definition on moto's ASL
            interpreter (scripts/demo/state_machine.py); its own overhead is the execution's
            wall time outside the handler, reported apart.
The machine is shared, so the builds alternate: warm-up, one-shot, then --rounds times (stepped,
one-shot). The ratio is the stepped builds' mean over the one-shot builds' mean (budget: stepped
<= 1.15x one-shot); each round's own ratio, against the one-shots either side of it, is printed
too. The overhead per step ((stepped - one-shot) / steps) is split into the handler's own time
outside dbt, dbt's fixed cost per invocation (its wall time outside dbt's own elapsed time: CLI,
project and adapter set-up, selection, graph) and the rest, the nodes themselves (threads idle
at a chunk's end, and noise). Asserts nothing.
Options: --models N (150-300), --rows N, --step-seconds S, --rounds N, --no-machine.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-machine", action="store_true")
    args = parser.parse_args(argv)
    if not 150 <= args.models <= 300:
        parser.error("--models: expected 150 to 300")
    if not 1 <= args.rounds <= 10:
        parser.error("--rounds: expected 1 to 10")

    with tempfile.TemporaryDirectory(prefix="bench-steps-") as tmp:
        root = Path(tmp)
        project = write_project(root, args.models, args.rows)
        local = root / "local"
        os.environ.update(common.handler_env(common.local_env(local), root / "tmp"))
        (root / "tmp").mkdir()
        tempfile.tempdir = None  # TMPDIR changed: the handler's scratch goes under it
        os.environ.update(DBT_PROJECT_DIR=str(project), DBT_STEP_MARGIN_SECONDS="0")
        from dbt_runner import handler

        event = {"command": ["build"]}
        started = time.perf_counter()
        handler.handler({"command": ["parse"]}, None)  # the container keeps this manifest
        print(f"project: {args.models} models; parse {time.perf_counter() - started:.1f}s", flush=True)

        def one_shot(label: str) -> Build:
            os.environ.pop("DBT_STEP_SECONDS", None)
            started = time.perf_counter()
            answer = handler.handler(event, None)
            build = Build(time.perf_counter() - started, 1, dbt_elapsed(Path(answer["artifacts"])), 0.0)
            assert answer["manifest_source"] == "reused", answer["manifest_source"]
            assert answer["status"] == "success", answer["status"]
            print(f"{label}: {build.seconds:.2f}s (dbt's own elapsed {build.dbt_elapsed:.2f}s)", flush=True)
            return build

        warm_up = one_shot("warm-up (warm, into an empty database)")
        once = [one_shot("one-shot 1 (warm)")]
        step_seconds = args.step_seconds or max(2.0, round(warm_up.seconds / 5, 1))
        stepped: list[Build] = []
        for round_no in range(1, args.rounds + 1):
            stepped.append(stepped_build(handler.handler, event, step_seconds, local, round_no))
            once.append(one_shot(f"one-shot {round_no + 1} (warm)"))
            print(f"  round {round_no}: ratio {stepped[-1].seconds / ((once[-2].seconds + once[-1].seconds) / 2):.3f} "
                  "(against the one-shots either side)", flush=True)

        one_mean = sum(b.seconds for b in once) / len(once)
        step_mean = sum(b.seconds for b in stepped) / len(stepped)
        count = round(sum(b.steps for b in stepped) / len(stepped), 1)
        overhead = (step_mean - one_mean) / count
        handler_part = sum(b.handler_seconds for b in stepped) / len(stepped) / count
        fixed_once = sum(b.seconds - b.dbt_elapsed for b in once) / len(once)
        fixed_stepped = sum(b.dbt_wall - b.dbt_elapsed for b in stepped) / len(stepped)
        fixed_part = (fixed_stepped - fixed_once) / count
        invocations = sum(b.invocations for b in stepped) / len(stepped)
        print(f"one-shot mean of {len(once)}: {one_mean:.2f}s; stepped mean of {len(stepped)}: {step_mean:.2f}s "
              f"in {count:g} steps, {invocations:g} dbt invocations")
        print(f"ratio stepped / one-shot: {step_mean / one_mean:.3f} (budget <= 1.15)")
        print(f"overhead per step: {overhead:.2f}s = handler outside the chunks (step 1 plans) {handler_part:.2f}s + dbt's fixed cost "
              f"{fixed_part:.2f}s ({fixed_stepped / invocations:.2f}s per invocation, {fixed_once:.2f}s in a one-shot) "
              f"+ nodes {overhead - handler_part - fixed_part:.2f}s", flush=True)

        if not args.no_machine:
            from scripts.demo import state_machine

            body, where = state_machine.definition()
            with state_machine.interpreter(step_seconds) as run:
                execution = run(event, body, name="bench")
            print(f"state machine ({where}): {execution.status}, {execution.steps} steps, "
                  f"wall {execution.wall_seconds:.2f}s, handler {execution.handler_seconds:.2f}s, "
                  f"interpreter's own overhead {execution.interpreter_seconds:.2f}s "
                  f"({execution.interpreter_seconds / max(execution.steps, 1):.2f}s per step)")
        print("RESULT " + json.dumps({"one_shot": round(one_mean, 3), "stepped": round(step_mean, 3), "steps": count,
                                      "ratio": round(step_mean / one_mean, 3), "overhead_per_step": round(overhead, 3),
                                      "rounds": args.rounds}))
    return 0


@dataclass(frozen=True)
class Build:
    seconds: float  # wall time of the whole build
    steps: int
    dbt_elapsed: float  # dbt's own elapsed time, summed over its invocations
    handler_seconds: float  # stepped: the steps' time outside dbt invocations
    dbt_wall: float = 0.0  # stepped: the dbt invocations' wall time
    invocations: int = 1


def dbt_elapsed(run: Path) -> float:
    return float(json.loads((run / "run_results.json").read_text())["elapsed_time"])


def stepped_build(handler: Any, event: dict, step_seconds: float, local: Path, round_no: int) -> Build:
    from scripts.testing.stepping import timed_steps

    os.environ["DBT_STEP_SECONDS"] = str(step_seconds)
    execution = f"bench-steps-{round_no}-{int(time.time())}"
    seconds, answers = timed_steps(handler, event, execution)
    last = answers[-1]
    assert last["status"] == "success", last["status"]
    chunks = sorted(local.glob(f"artifacts/runs/*/{execution}/steps/*/run_results.json"))
    elapsed = sum(dbt_elapsed(path.parent) for path in chunks)
    dbt_wall = sum(a["dbt_seconds"] for a in answers)
    build = Build(seconds, len(answers), elapsed, seconds - dbt_wall, dbt_wall, sum(a["chunks"] for a in answers))
    print(f"stepped {round_no} (warm, steps of {step_seconds:g}s): {seconds:.2f}s in {len(answers)} steps, "
          f"{build.invocations} dbt invocations, counts {last['counts']}; planning (step 1) "
          f"{answers[0]['planning_seconds']:.2f}s", flush=True)
    return build


if __name__ == "__main__":
    sys.exit(main())
