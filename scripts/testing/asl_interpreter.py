"""moto's Amazon States Language interpreter (ported from LocalStack's), to run the build state
machine's definition locally, with the one difference from AWS that the definition meets patched
(listed with its reason in scripts/rehearse/gaps.py, INTERPRETER_PATCHES)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


def patch_aws_sdk_casing() -> None:
    """AWS SDK integrations take their Parameters in PascalCase (`StateMachineArn`) and answer in
    PascalCase (`Executions[*].ExecutionArn`), as the Step Functions docs say; moto 5.2.5 hands the
    Parameters to boto3 as written and its answer back unchanged. This converts both ways with
    botocore's own shapes, as LocalStack's interpreter does."""
    import botocore.session
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service

    session = botocore.session.get_session()
    service_class = state_task_service.StateTaskService
    if getattr(service_class, "_dbt_lambda_casing", False):
        return

    def operation(task: Any, boto_service_name: str | None, service_action_name: str | None) -> Any:
        service = task._get_boto_service_name(boto_service_name)
        action = service_action_name or task.resource.api_action
        return session.get_service_model(service).operation_model(action[0].upper() + action[1:])

    def normalise_parameters(self, parameters, boto_service_name=None, service_action_name=None):  # noqa: ANN001
        self._to_boto_request(parameters, operation(self, boto_service_name, service_action_name).input_shape)

    def normalise_response(self, response, boto_service_name=None, service_action_name=None):  # noqa: ANN001
        self._from_boto_response(response, operation(self, boto_service_name, service_action_name).output_shape)

    service_class._normalise_parameters = normalise_parameters
    service_class._normalise_response = normalise_response
    service_class._dbt_lambda_casing = True


@contextlib.contextmanager
def interpreter() -> Iterator[None]:
    """moto's in-process AWS with Step Functions executing definitions (boto3 clients made inside use it)."""
    from moto import mock_aws

    patch_aws_sdk_casing()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield
