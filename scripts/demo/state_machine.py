"""Run the `<env>-dbt-build` state machine's definition locally, on moto's ASL interpreter, with
the real dbt_runner handler answering its Lambda tasks on DuckDB.

The definition: the synthesized one (`cdktf.out/stacks/dev/cdk.tf.json`, resource type
`aws_sfn_state_machine`, its `definition`) when `make synth` has written it. FALLBACK: before
the construct exists (or without a synth) the step contract's copy in
scripts/testing/step_definition.py, and a notice says so.

The interpreter: moto's Step Functions (`mock_aws`, in-process) with `execute_state_machine` on,
which runs definitions with the ASL parser moto took from LocalStack (Pass, Task, Choice, Retry,
Catch, paths, `$$` context). EMULATOR GAP, handled here and only here: moto runs no Lambda code
without Docker, so moto's Lambda `invoke` (LambdaBackend.invoke, the one place every
`lambda:invoke` task reaches) is replaced by a call of `dbt_runner.handler.handler` in this
process; an exception becomes Lambda's `FunctionError: Unhandled` answer, as in AWS. Each step
gets `DBT_STEP_SECONDS` (the handler has no Lambda context here), with a margin of 0.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator
from unittest import mock

from scripts.testing import asl_interpreter
from scripts.testing.step_definition import contract_definition

REPO = Path(__file__).resolve().parents[2]
SYNTHESIZED = REPO / "cdktf.out" / "stacks" / "dev" / "cdk.tf.json"
REGION = "us-east-1"
ACCOUNT = "123456789012"


def definition(synthesized: Path = SYNTHESIZED) -> tuple[dict[str, Any], str]:
    """(the state machine's definition, where it came from)."""
    if synthesized.is_file():
        stack = json.loads(synthesized.read_text())
        machines = stack.get("resource", {}).get("aws_sfn_state_machine", {})
        for name, machine in machines.items():
            body = machine.get("definition")
            if isinstance(body, str) and body.strip():
                return json.loads(body), f"{synthesized.relative_to(REPO)} (aws_sfn_state_machine.{name})"
    print(f"notice: no aws_sfn_state_machine in {synthesized.relative_to(REPO)} yet; running the step contract's "
          "copy of the definition (scripts/testing/step_definition.py)", flush=True)
    return contract_definition(), "the step contract (scripts/testing/step_definition.py)"


@dataclass
class Execution:
    status: str  # SUCCEEDED | FAILED | ...
    output: dict[str, Any] | None
    error: str | None
    cause: str | None
    name: str = ""  # the execution's name: the run id of its record (runs/<date>/<name>/)
    calls: list[str] = field(default_factory=list)  # "build_step" / "build_step_failed", in order
    wall_seconds: float = 0.0
    handler_seconds: float = 0.0

    @property
    def steps(self) -> int:
        return self.calls.count("build_step")

    @property
    def interpreter_seconds(self) -> float:
        """What the interpreter itself added: the execution's wall time outside the handler."""
        return round(self.wall_seconds - self.handler_seconds, 3)


class _StepContext:
    aws_request_id = "local-step"
    function_name = "local-dbt-runner"


@contextmanager
def interpreter(step_seconds: float | None) -> Iterator[Any]:
    """moto's Step Functions with the handler serving lambda:invoke; yields a run(event) function."""
    from moto.awslambda.models import LambdaBackend

    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION",
                                            "DBT_STEP_SECONDS", "DBT_STEP_MARGIN_SECONDS")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=REGION)
    if step_seconds is not None:
        os.environ.update(DBT_STEP_SECONDS=str(step_seconds), DBT_STEP_MARGIN_SECONDS="0")
    calls: list[str] = []
    spent = [0.0]
    from dbt_runner import handler  # imported once, as a Lambda container's init does

    def serve(backend, function_name, qualifier, body, headers, response_headers):  # the one patched place
        payload = json.loads(body or b"{}")
        calls.append(next(iter(payload), "?") if isinstance(payload, dict) else "?")
        started = time.perf_counter()
        try:
            answer = handler.handler(payload, _StepContext())
        except Exception as error:  # noqa: BLE001 - Lambda's answer for an unhandled error
            response_headers["x-amz-function-error"] = "Unhandled"
            answer = {"errorMessage": str(error)[:4000], "errorType": type(error).__name__}
        finally:
            spent[0] += time.perf_counter() - started
        return json.dumps(answer, default=str).encode()

    try:
        # moto's interpreter with the definition's AWS SDK calls (the build queue's listExecutions)
        # answered as AWS does (scripts/testing/asl_interpreter.py, listed in gaps.py).
        with asl_interpreter.interpreter(), mock.patch.object(LambdaBackend, "invoke", serve):
            import boto3

            client = boto3.client("stepfunctions", region_name=REGION)

            def run(event: dict, body: dict[str, Any], name: str = "local-build", timeout: float = 3600) -> Execution:
                calls.clear()
                spent[0] = 0.0
                arn = client.create_state_machine(
                    name=f"{name}-{int(time.time() * 1000)}", definition=json.dumps(body), type="STANDARD",
                    roleArn=f"arn:aws:iam::{ACCOUNT}:role/local-dbt-build")["stateMachineArn"]
                started = time.perf_counter()
                execution_name = f"{name}-{int(time.time() * 1000)}"
                execution = client.start_execution(stateMachineArn=arn, name=execution_name,
                                                   input=json.dumps(event))["executionArn"]
                while True:
                    described = client.describe_execution(executionArn=execution)
                    if described["status"] != "RUNNING":
                        break
                    if time.perf_counter() - started > timeout:
                        raise TimeoutError(f"the execution ran over {timeout} s")
                    time.sleep(0.05)
                output = json.loads(described["output"]) if described.get("output") else None
                return Execution(described["status"], output, described.get("error"), described.get("cause"),
                                 execution_name, list(calls), round(time.perf_counter() - started, 3), round(spent[0], 3))

            yield run
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
