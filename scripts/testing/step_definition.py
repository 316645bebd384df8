"""THE STEP CONTRACT: the `<env>-dbt-build` state machine's definition as issue 18 fixes it.

A copy for the runner's tests and the local harness only, until the construct
(constructs/build-state-machine.ts) lands and `make synth` writes the real one into
cdktf.out/stacks/<env>/cdk.tf.json; scripts/demo/state_machine.py reads that one when it is there
and falls back to this contract with a printed notice. The construct may put concurrency states
before `Start`; they leave `$$.Execution.Input` alone, so the runner sees the same payloads.
"""

from __future__ import annotations

from typing import Any

RETRIED = ["Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
           "Lambda.TooManyRequestsException"]


def contract_definition(function_name: str = "local-dbt-runner") -> dict[str, Any]:
    return {
        "Comment": "dbt build in Lambda-sized steps (issue 18's contract)",
        "StartAt": "Start",
        "States": {
            "Start": {"Type": "Pass", "Parameters": {"event.$": "$$.Execution.Input", "run": None}, "Next": "Step"},
            "Step": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": function_name, "Payload": {"build_step": {
                    "event.$": "$.event", "run.$": "$.run", "execution.$": "$$.Execution.Name"}}},
                "OutputPath": "$.Payload",
                "Retry": [{"ErrorEquals": RETRIED, "IntervalSeconds": 2, "MaxAttempts": 3, "BackoffRate": 2}],
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "RecordFailure"}],
                "Next": "Done?",
            },
            "Done?": {
                "Type": "Choice",
                "Choices": [
                    {"And": [{"Variable": "$.done", "BooleanEquals": True},
                             {"Variable": "$.status", "StringEquals": "success"}], "Next": "Succeeded"},
                    {"Variable": "$.done", "BooleanEquals": True, "Next": "BuildFailed"},
                ],
                "Default": "Step",
            },
            "RecordFailure": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": function_name, "Payload": {"build_step_failed": {
                    "event.$": "$.event", "run.$": "$.run", "error.$": "$.error",
                    "execution.$": "$$.Execution.Name"}}},
                "OutputPath": "$.Payload",
                "Next": "BuildFailed",
            },
            "Succeeded": {"Type": "Succeed"},
            "BuildFailed": {"Type": "Fail", "Error": "DbtBuildFailed", "Cause": "the dbt build failed or timed out"},
        },
    }
