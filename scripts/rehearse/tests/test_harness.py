"""The rehearsal harness's own parts: the listed differences and nothing more, and the emulator's
patches doing what they say, on a real moto server."""

from __future__ import annotations

import json

import pytest

from scripts.rehearse import gaps
from scripts.rehearse.emulator import Emulator
from scripts.rehearse.rehearse import backend_flags, unexpected_changes
from scripts.rehearse.terraform import StepFailed

STACK = {
    "terraform": {
        "backend": {"s3": {"key": "k", "encrypt": True, "use_lockfile": True}},
        "required_providers": {"aws": {"source": "aws", "version": "6.25.0"}, "random": {"source": "hashicorp/random", "version": "3.7.2"}},
    },
    "provider": {"aws": [{"region": "ap-southeast-2"}], "random": [{}]},
    "resource": {
        "random_id": {"suffix": {"byte_length": 4}},
        "aws_s3_bucket": {"raw": {"bucket": "acme-raw-${random_id.suffix.hex}", "depends_on": ["random_id.suffix"]}},
        "aws_sqs_queue": {"q": {"name": "dev-q"}},
    },
}


def test_the_rehearsed_stack_differs_only_as_listed():
    out = gaps.rehearsal_stack(STACK, "https://127.0.0.1:1")
    assert out["terraform"]["required_providers"] == {"aws": {"source": "aws", "version": gaps.AWS_PROVIDER_VERSION}}
    assert out["terraform"]["backend"] == STACK["terraform"]["backend"]
    assert "random" not in out["provider"] and "random_id" not in out["resource"]
    assert out["resource"]["aws_s3_bucket"]["raw"] == {"bucket": f"acme-raw-{gaps.RANDOM_SUFFIX}", "depends_on": []}
    assert out["resource"]["aws_sqs_queue"] == STACK["resource"]["aws_sqs_queue"]
    provider = out["provider"]["aws"][0]
    assert provider["region"] == "ap-southeast-2"
    assert set(provider["endpoints"][0]) == set(gaps.PROVIDER_ENDPOINT_SERVICES)
    assert set(provider) - {"region", "endpoints"} == set(gaps.PROVIDER_EMULATOR_SETTINGS)
    assert STACK["terraform"]["required_providers"]["aws"]["version"] == "6.25.0"  # the input is left alone


def change(address, kind, actions, before, after, unknown=None):
    return {"address": address, "type": kind, "change": {"actions": actions, "before": before, "after": after, "after_unknown": unknown or {}}}


def test_a_replan_may_differ_only_in_the_listed_emulator_gaps():
    listed = change("aws_s3_bucket_notification.n", "aws_s3_bucket_notification", ["update"], {"eventbridge": False, "bucket": "b"}, {"eventbridge": True, "bucket": "b"})
    assert unexpected_changes({"resource_changes": [listed, change("x.y", "aws_sqs_queue", ["no-op"], {}, {})]}) == []
    other = change("aws_s3_bucket_notification.n", "aws_s3_bucket_notification", ["update"], {"bucket": "a"}, {"bucket": "b"})
    same_attribute_elsewhere = change("aws_sqs_queue.q", "aws_sqs_queue", ["update"], {"eventbridge": 1}, {"eventbridge": 2})
    unknown = change("aws_lambda_function.f", "aws_lambda_function", ["update"], {}, {}, {"source_code_hash": True})
    replaced = change("aws_s3_bucket.b", "aws_s3_bucket", ["delete", "create"], {}, {})
    assert unexpected_changes({"resource_changes": [other, same_attribute_elsewhere, unknown, replaced]}) == [
        "aws_s3_bucket_notification.n: update of bucket",
        "aws_sqs_queue.q: update of eventbridge",
        "aws_lambda_function.f: update of source_code_hash",
        "aws_s3_bucket.b: delete/create",
    ]


def test_init_uses_exactly_the_flags_bootstrap_prints():
    printed = "  terraform init \\\n      -backend-config=bucket=b-123 \\\n      -backend-config=region=ap-southeast-2\n"
    assert backend_flags(printed) == ["-backend-config=bucket=b-123", "-backend-config=region=ap-southeast-2"]
    with pytest.raises(StepFailed, match="no -backend-config"):
        backend_flags("done\n")


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    with Emulator(tmp_path_factory.mktemp("moto") / "moto.log") as emulator:
        yield emulator


@pytest.fixture
def s3(moto):
    import boto3

    return boto3.client("s3", endpoint_url=moto.endpoint, region_name="ap-southeast-2", verify=str(moto.ca_bundle),
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def tls_only(bucket: str, *extra: dict) -> str:
    deny = {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    return json.dumps({"Version": "2012-10-17", "Statement": [deny, *extra]})


def test_tls_requests_pass_the_tls_only_policy_and_logging_accepts_its_target(s3):
    where = {"LocationConstraint": "ap-southeast-2"}
    s3.create_bucket(Bucket="logs", CreateBucketConfiguration=where)
    s3.create_bucket(Bucket="data", CreateBucketConfiguration=where)
    delivery = {"Sid": "Delivery", "Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"},
                "Action": "s3:PutObject", "Resource": "arn:aws:s3:::logs/*",
                "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}}}
    s3.put_bucket_policy(Bucket="logs", Policy=tls_only("logs", delivery))
    s3.put_bucket_policy(Bucket="data", Policy=tls_only("data"))
    s3.put_bucket_logging(Bucket="data", BucketLoggingStatus={"LoggingEnabled": {"TargetBucket": "logs", "TargetPrefix": "data/"}})
    assert s3.get_bucket_logging(Bucket="data")["LoggingEnabled"]["TargetBucket"] == "logs"
    s3.put_object(Bucket="data", Key="k", Body=b"over TLS")
    assert s3.get_object(Bucket="data", Key="k")["Body"].read() == b"over TLS"


def test_an_unconditioned_deny_still_denies(s3):
    from botocore.exceptions import ClientError

    s3.create_bucket(Bucket="locked", CreateBucketConfiguration={"LocationConstraint": "ap-southeast-2"})
    s3.put_bucket_policy(Bucket="locked", Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "NoWrites", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::locked/*"}]}))
    with pytest.raises(ClientError, match="Forbidden|AccessDenied"):
        s3.put_object(Bucket="locked", Key="k", Body=b"x")


def test_a_used_versioned_bucket_can_be_emptied(s3):
    s3.create_bucket(Bucket="versioned", CreateBucketConfiguration={"LocationConstraint": "ap-southeast-2"})
    s3.put_bucket_versioning(Bucket="versioned", VersioningConfiguration={"Status": "Enabled"})
    for body in (b"1", b"2"):
        s3.put_object(Bucket="versioned", Key="k", Body=body)
    s3.delete_object(Bucket="versioned", Key="k")  # a delete marker
    listed = s3.list_object_versions(Bucket="versioned")
    entries = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in listed["Versions"] + listed["DeleteMarkers"]]
    assert len(entries) == 3
    assert s3.delete_objects(Bucket="versioned", Delete={"Objects": entries}).get("Errors", []) == []
    s3.delete_bucket(Bucket="versioned")


def test_lambda_account_settings_report_the_default_quota(moto):
    import boto3

    lam = boto3.client("lambda", endpoint_url=moto.endpoint, region_name="ap-southeast-2", verify=str(moto.ca_bundle),
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    limit = lam.get_account_settings()["AccountLimit"]
    assert (limit["ConcurrentExecutions"], limit["UnreservedConcurrentExecutions"]) == (1000, 1000)


def test_event_patterns_are_matched_by_prefix(moto):
    import boto3

    events = boto3.client("events", endpoint_url=moto.endpoint, region_name="ap-southeast-2", verify=str(moto.ca_bundle),
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    pattern = json.dumps({"source": ["aws.s3"], "detail": {"object": {"key": [{"prefix": "manifests/"}]}}})
    event = lambda key: json.dumps({"source": "aws.s3", "detail-type": "Object Created", "account": "123456789012",  # noqa: E731
                                    "id": "1", "time": "2026-12-01T00:00:00Z", "region": "ap-southeast-2", "resources": [],
                                    "detail": {"object": {"key": key}}})
    assert events.test_event_pattern(EventPattern=pattern, Event=event("manifests/ingest_date=2026-12-01/a.json"))["Result"] is True
    assert events.test_event_pattern(EventPattern=pattern, Event=event("raw/album/ingest_date=2026-12-01/part-0000.jsonl"))["Result"] is False


def test_every_listed_emulator_difference_is_a_function_of_the_launcher():
    from scripts.rehearse import emulator

    for name in [*gaps.EMULATOR_PATCHES, *gaps.EMULATOR_ANSWERS]:
        assert callable(getattr(emulator, name, None)), name


def test_state_machine_definitions_are_validated_and_have_no_versions(moto):
    import boto3

    sfn = boto3.client("stepfunctions", endpoint_url=moto.endpoint, region_name="ap-southeast-2", verify=str(moto.ca_bundle),
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    good = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Succeed"}}}
    assert sfn.validate_state_machine_definition(definition=json.dumps(good))["result"] == "OK"
    dangling = {"StartAt": "A", "States": {"A": {"Type": "Choice", "Choices": [{"Variable": "$.x", "BooleanEquals": True, "Next": "C"}],
                                                 "Default": "A"}}}
    answer = sfn.validate_state_machine_definition(definition=json.dumps(dangling))
    assert answer["result"] == "FAIL"
    assert [d["message"] for d in answer["diagnostics"]] == ["state 'A': transition to 'C', which is no state"]
    assert sfn.validate_state_machine_definition(definition="{")["result"] == "FAIL"
    arn = "arn:aws:states:ap-southeast-2:123456789012:stateMachine:dev-dbt-build"
    assert sfn.list_state_machine_versions(stateMachineArn=arn)["stateMachineVersions"] == []
