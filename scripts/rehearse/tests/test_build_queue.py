"""The build state machine's queue (constructs/build-definition.ts) run on moto's ASL interpreter:
executions started together build one at a time, in the order they started, each with its own
event. The runner's step is stubbed by a wait and a successful answer (moto runs no Lambda code
here); the queue states are buildDefinition()'s own, with short waits."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from scripts.rehearse import gaps
from scripts.testing import asl_interpreter
from scripts.testing.runner_env import REPO

RUNNER = "arn:aws:lambda:ap-southeast-2:123456789012:function:dev-dbt-runner"
STEP_SECONDS = 3


def build_definition(**props: object) -> dict:
    out = subprocess.run(
        ["npx", "tsx", "scripts/testing/print-build-definition.ts", json.dumps(props)],
        cwd=REPO, capture_output=True, text=True, check=True, timeout=120,
    )
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def definition() -> dict:
    d = build_definition(runnerInvokeArn=RUNNER, queuePollSeconds=1, queueSettleSeconds=1, timeoutSeconds=600)
    states = d["States"]
    # The runner's step, stubbed: a step that takes STEP_SECONDS and answers "done, success".
    assert states["Step"]["Parameters"]["FunctionName"] == RUNNER
    states["Step"] = {"Type": "Wait", "Seconds": STEP_SECONDS, "Next": "Answer"}
    states["Answer"] = {"Type": "Pass", "Parameters": {"event.$": "$.event", "run": None, "done": True, "status": "success"},
                        "Next": "Done?"}
    del states["RecordFailure"]
    return d


def test_the_interpreter_difference_is_listed():
    assert set(gaps.INTERPRETER_PATCHES) == {"patch_aws_sdk_casing"}
    assert callable(getattr(asl_interpreter, "patch_aws_sdk_casing"))


def test_builds_run_one_at_a_time_in_the_order_they_were_triggered(definition, monkeypatch):
    import boto3

    for key, value in {"AWS_DEFAULT_REGION": "ap-southeast-2", "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with asl_interpreter.interpreter():
        sfn = boto3.client("stepfunctions")
        role = boto3.client("iam").create_role(RoleName="dev-dbt-build-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        machine = sfn.create_state_machine(name="dev-dbt-build", definition=json.dumps(definition), roleArn=role)["stateMachineArn"]
        events = {name: {"source": "aws.s3", "detail-type": "Object Created", "detail": {"object": {"key": f"manifests/{name}.json"}}}
                  for name in ("first", "second", "third")}
        arns = {}
        for name, event in events.items():
            arns[name] = sfn.start_execution(stateMachineArn=machine, name=name, input=json.dumps(event))["executionArn"]
            time.sleep(0.3)

        deadline = time.time() + 90
        while time.time() < deadline and any(sfn.describe_execution(executionArn=a)["status"] == "RUNNING" for a in arns.values()):
            time.sleep(0.5)

        builds = {}
        for name, arn in arns.items():
            described = sfn.describe_execution(executionArn=arn)
            assert described["status"] == "SUCCEEDED", (name, described["status"])
            history = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
            started = next(e["timestamp"] for e in history if e.get("stateEnteredEventDetails", {}).get("name") == "Start")
            builds[name] = (started, described["stopDate"])
            # The queue left the execution's input alone: Start read the event as triggered.
            assert json.loads(described["output"])["event"] == events[name]

    order = sorted(builds, key=lambda n: builds[n][0])
    assert order == ["first", "second", "third"]
    for earlier, later in zip(order, order[1:]):
        assert builds[later][0] >= builds[earlier][1], f"{later} started building before {earlier} ended"
