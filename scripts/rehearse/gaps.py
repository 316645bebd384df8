"""Every difference between the rehearsal and a real deploy, in one place, each with its reason.

The rehearsal applies the synthesized stacks as they are, except for what is listed here. Nothing
else in the harness may change a stack, skip a step or loosen a check; a new difference is added
here, with its reason, or it is a defect of the project.
"""

from __future__ import annotations

import re
from typing import Any

# --- what the rehearsed stack differs in --------------------------------------------------------

#: The stacks pin hashicorp/aws 6.25.0; this machine cannot download providers and its filesystem
#: mirror holds 5.100.0 only. The resources and arguments the stacks use exist in both.
AWS_PROVIDER_VERSION = "5.100.0"

#: hashicorp/random cannot be downloaded either, so `random_id` (the buckets' name suffix) is
#: replaced by this fixed 8-hex-digit value. Names keep their real length and shape.
RANDOM_SUFFIX = "5eed0a1b"

#: The provider talks to the emulator: every service endpoint is moto's, path-style S3 (moto serves
#: no virtual-host DNS), and credential/account checks that need real AWS are off. The account is
#: still read from STS, which moto answers (123456789012).
PROVIDER_EMULATOR_SETTINGS: dict[str, Any] = {  # TLS is verified: SSL_CERT_FILE names the emulator's certificate
    "access_key": "testing",
    "secret_key": "testing",
    "s3_use_path_style": True,
    "skip_credentials_validation": True,
    "skip_metadata_api_check": "true",
    "skip_region_validation": True,
}
#: Services the stacks call; each gets moto's endpoint (keys as the provider's `endpoints` block names them).
PROVIDER_ENDPOINT_SERVICES = (
    "athena", "cloudwatch", "cloudwatchlogs", "events", "glue", "iam", "kms", "lambda",
    "s3", "sfn", "sns", "sqs", "sts",
)
#: The same for the S3 backend (its own settings; see `terraform init -backend-config`).
BACKEND_EMULATOR_SETTINGS = (
    "use_path_style = true\n"
    "skip_credentials_validation = true\n"
    "skip_requesting_account_id = true\n"
    "skip_metadata_api_check = true\n"
    "skip_region_validation = true\n"
    'access_key = "testing"\n'
    'secret_key = "testing"\n'
)

# --- what moto does differently ------------------------------------------------------------------

#: Attributes moto does not read back as they were written, so every re-plan shows them as an
#: in-place update although nothing changed. The no-changes check ignores exactly these
#: (resource type -> top-level attributes); any other difference fails it.
REPLAN_IGNORED: dict[str, dict[str, str]] = {
    "aws_s3_bucket_notification": {
        "eventbridge": "moto's GetBucketNotificationConfiguration omits EventBridgeConfiguration",
    },
    "aws_lambda_function": {
        "dead_letter_config": "moto's GetFunction returns no DeadLetterConfig",
        "logging_config": "moto's GetFunction returns no LoggingConfig",
    },
}

#: moto defects the launcher patches before it serves (emulator.py: function name -> reason).
EMULATOR_PATCHES: dict[str, str] = {
    "_patch_logging_policy_check": (
        "moto 5.2.5's PutBucketLogging reads `Principal.Service` of every statement of the target bucket's "
        'policy and crashes on `"Principal": "*"` (our TLS-only deny); the provider then retries for ever. '
        "Real S3 accepts the policy."
    ),
    "_patch_conditioned_statements": (
        "moto checks bucket policies without request context and treats a statement whose Condition it "
        "cannot verify as a Deny, so the TLS-only deny refuses every request, HTTPS included. The emulator "
        "serves TLS only (a certificate made per run, trusted by every client) and skips conditioned "
        "statements, which over TLS is AWS's own outcome for each one the stacks write."
    ),
    "_patch_delete_marker_dispose": (
        "moto 5.2.5 answers HTTP 500 when a versioned key's last version is deleted beside a delete marker "
        "(`FakeDeleteMarker` has no `dispose`), so force_destroy of a used bucket retries for ever."
    ),
}

#: APIs moto lacks, answered in front of it (emulator.py: function name -> reason).
EMULATOR_ANSWERS: dict[str, str] = {
    "_account_settings": (
        "moto 5.2.5 has no Lambda GetAccountSettings (bootstrap's preflight): answered as for an account "
        "with the default quota, 1000 net of the functions' reservations; moto enforces Lambda's "
        "100-unreserved rule against that quota."
    ),
    "_validate_state_machine_definition": (
        "moto 5.2.5 has no Step Functions ValidateStateMachineDefinition, which the aws provider calls before "
        "it creates a state machine; moto's 500 makes the provider retry for ever. Answered with the structural "
        "checks (JSON, StartAt, every transition naming a state); the full ASL check is asl-validator's, in the "
        "TypeScript tests of the synthesized definition."
    ),
    "_list_state_machine_versions": (
        "moto 5.2.5 has no Step Functions ListStateMachineVersions, which the aws provider calls when it reads "
        "a state machine back; moto's 500 makes the provider retry for ever. The stacks never publish versions, "
        "so it is answered as AWS answers for them: no versions."
    ),
    "_test_event_pattern": (
        "moto 5.2.5's TestEventPattern answers nothing: answered with moto's own matcher, the one that "
        "routes PutEvents to the rules' targets, so the seed-pipeline step asks the deployed rule itself."
    ),
}

#: Differences of moto's ASL interpreter (moto.stepfunctions.parser) that running the build state
#: machine's definition locally meets (scripts/testing/asl_interpreter.py: function name -> reason).
INTERPRETER_PATCHES: dict[str, str] = {
    "patch_aws_sdk_casing": (
        "AWS SDK integrations take and return PascalCase names (StateMachineArn; Executions[*].ExecutionArn), "
        "as the Step Functions docs say; moto 5.2.5 passes the Parameters to boto3 unchanged (KeyError "
        "'StateMachineArn') and returns boto3's camelCase answer, so the build queue's listExecutions fails. "
        "Patched to convert both ways with botocore's shapes, as LocalStack's interpreter, which moto's is a "
        "port of, does."
    ),
}

# Not exercised at all: moto runs no Lambda code and no Athena query and enforces no IAM policy,
# so the rehearsal proves the resources and their wiring, not that the roles' permissions suffice.


def ignored_replan_attributes(resource_type: str) -> set[str]:
    return set(REPLAN_IGNORED.get(resource_type, {}))


# --- applying the differences to a synthesized stack -----------------------------------------------

_RANDOM_REF = re.compile(r"\$\{random_id\.[A-Za-z0-9_-]+\.hex\}")


def rehearsal_stack(stack: dict[str, Any], endpoint: str) -> dict[str, Any]:
    """The synthesized stack with exactly the differences above applied (a new dict)."""
    import copy
    import json

    out = copy.deepcopy(stack)
    terraform = out["terraform"]
    providers = terraform["required_providers"]
    providers["aws"]["version"] = AWS_PROVIDER_VERSION
    providers.pop("random", None)
    out.get("provider", {}).pop("random", None)
    out.get("resource", {}).pop("random_id", None)
    for block in out["provider"]["aws"]:
        block.update(PROVIDER_EMULATOR_SETTINGS)
        block["endpoints"] = [{service: endpoint for service in PROVIDER_ENDPOINT_SERVICES}]

    # depends_on lists that named random_id would now point at nothing.
    for resources in out.get("resource", {}).values():
        for resource in resources.values():
            if "depends_on" in resource:
                resource["depends_on"] = [d for d in resource["depends_on"] if not d.startswith("random_id.")]
    text = _RANDOM_REF.sub(RANDOM_SUFFIX, json.dumps(out))
    if "random_id." in text:
        raise ValueError("the stack still references random_id after the suffix was fixed")
    return json.loads(text)


def backend_settings(endpoint: str) -> str:
    """HCL for `terraform init -backend-config=<file>`, beside bootstrap's bucket and region flags."""
    return f'endpoints = {{ s3 = "{endpoint}", sts = "{endpoint}" }}\n' + BACKEND_EMULATOR_SETTINGS


# --- `npx cdktf deploy` as a user runs it -------------------------------------------------------

#: cdktf runs its own `terraform init` and takes no -backend-config, so the emulator's backend
#: settings above (endpoints, path-style, no real-AWS checks) reach that init through Terraform's
#: TF_CLI_ARGS_init. Bucket, region and key come from bootstrap's record, as in a real deploy.
def cdktf_init_args(backend_file: str) -> str:
    """TF_CLI_ARGS_init for a cdktf run against the emulator: the file of backend_settings()."""
    return f"-backend-config={backend_file}"


#: The pinned providers (aws 6.25.0, random 3.7.2) cannot be installed here (no network; the mirror
#: holds aws 5.100.0 only), so a `cdktf deploy` here stops at provider installation, after the
#: backend is configured. A harness asserts it got that far, and says so.
CDKTF_DEPLOY_STOPS_AT = "provider installation"


#: moto runs no Lambda code without a Docker engine (there is none here): an invoke reaches the
#: function and answers FunctionError "Handled" with "error running docker". Harnesses that need
#: a run's response run dbt_runner.handler.handler in-process on DuckDB instead, and feed its real
#: response to whatever reads Lambda's answer.
MOTO_LAMBDA_INVOKE_ANSWER = "error running docker"


# --- the README walkthrough (scripts/rehearse/walkthrough.py) --------------------------------------

#: The README block's commands that cannot run as written here: (pattern, equivalent, reason). Every
#: other command of the block runs as written, with the emulator as its AWS.
WALKTHROUGH_EQUIVALENTS: tuple[tuple[str, str, str], ...] = (
    (r"^curl .*chinook", "chinook_download",
     "no internet: the tests' database in the public Chinook DDL"),
    (r"^npx cdktf deploy dev ", "cdktf_deploy",
     "pinned providers unavailable: ran as written up to provider installation, then applied with aws 5.100.0"),
    (r"^npx cdktf deploy prod ", "cdktf_deploy",
     "pinned providers unavailable: ran as written up to provider installation; prod's apply is make rehearse's"),
    (r"^npx cdktf destroy ", "cdktf_destroy",
     "pinned providers unavailable: ran as written up to provider installation, then destroyed with aws 5.100.0"),
    (r"^aws lambda invoke --function-name \S+-ingest", "lambda_invoke_ingest",
     "moto runs no Lambda code: the ingest handler ran here with the deployed function's environment"),
    (r"^make invoke ", "make_invoke",
     "moto runs no Lambda code and no Athena query: the runner's handler ran here with the deployed "
     "function's environment, on DuckDB over the ingested raw zone, storing its run in the deployed bucket"),
)
