"""Reads the deployed stack back through the AWS APIs and checks what a deploy must have made.

Each check compares what AWS returns with what the synthesized stack and its outputs say, so a
resource that Terraform reports as created but that lacks a setting fails here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable



@dataclass
class Findings:
    checked: int = 0
    problems: list[str] = field(default_factory=list)

    def expect(self, ok: bool, what: str) -> None:
        self.checked += 1
        if not ok:
            self.problems.append(what)


def resources(stack: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return list(stack.get("resource", {}).get(kind, {}).values())


def check_stack(clients: Callable[[str], Any], stack: dict[str, Any], outputs: dict[str, Any], env: str) -> Findings:
    """Every check over one applied stack; `stack` is the rehearsed JSON, `outputs` `terraform output -json`."""
    found = Findings()
    out = {name: value["value"] for name, value in outputs.items()}
    buckets = out["data_buckets"]
    _buckets(clients("s3"), stack, found)
    _function(clients("lambda"), stack, out, buckets, env, found)
    _rules(clients("events"), stack, out, found)
    _state_machine(clients("stepfunctions"), clients("logs"), stack, out, found)
    _glue(clients("glue"), stack, out, found)
    _athena(clients("athena"), out, buckets, found)
    _logs_queue_key(clients("logs"), clients("sqs"), clients("kms"), out, found)
    if "ingest_function_name" in out:
        _ingest(clients("lambda"), stack, out, buckets, found)
    _alerts(clients("sns"), clients("cloudwatch"), stack, out, found)
    _roles(clients("iam"), stack, found)
    if "ci_build_role_arn" in out:
        _ci_build_role(clients("iam"), clients("lambda"), out, found)
    return found


def _buckets(s3, stack, found: Findings) -> None:
    names = {r["bucket"] for r in resources(stack, "aws_s3_bucket")}
    existing = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    found.expect(names <= existing, f"buckets missing: {sorted(names - existing)}")
    logging_targets = {}
    for r in resources(stack, "aws_s3_bucket_logging"):
        logging_targets[r["bucket"]] = (r["target_bucket"], r["target_prefix"])
    for name in sorted(names & existing):
        versioning = s3.get_bucket_versioning(Bucket=name).get("Status")
        found.expect(versioning == "Enabled", f"{name}: versioning {versioning!r}, expected Enabled")
        rules = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"]
        algorithm = rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] if rules else None
        found.expect(algorithm in ("AES256", "aws:kms"), f"{name}: default encryption {algorithm!r}")
        block = s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
        found.expect(all(block.get(k) is True for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")),
                     f"{name}: public access block {block}")
        ownership = s3.get_bucket_ownership_controls(Bucket=name)["OwnershipControls"]["Rules"][0]["ObjectOwnership"]
        found.expect(ownership == "BucketOwnerEnforced", f"{name}: object ownership {ownership!r}")
        policy = json.loads(s3.get_bucket_policy(Bucket=name)["Policy"])
        deny = [s for s in policy["Statement"] if s.get("Sid") == "DenyInsecureTransport"]
        found.expect(
            len(deny) == 1 and deny[0]["Effect"] == "Deny"
            and deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}},
            f"{name}: no TLS-only deny in the bucket policy",
        )
        lifecycle = {r["ID"] for r in s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]}
        found.expect({"abort-incomplete-multipart-uploads", "remove-expired-delete-markers"} <= lifecycle,
                     f"{name}: lifecycle rules {sorted(lifecycle)}")
        enabled = s3.get_bucket_logging(Bucket=name).get("LoggingEnabled")
        if name in logging_targets:
            target, prefix = logging_targets[name]
            found.expect(enabled is not None and enabled["TargetBucket"] == target and enabled["TargetPrefix"] == prefix,
                         f"{name}: access logging {enabled}, expected {target}/{prefix}")


def _function(lam, stack, out, buckets, env, found: Findings) -> None:
    name = out["function_name"]
    config = lam.get_function_configuration(FunctionName=name)
    declared = next(r for r in resources(stack, "aws_lambda_function") if r["function_name"] == name)
    found.expect(config["Runtime"] == "python3.12", f"{name}: runtime {config['Runtime']}")
    found.expect(config.get("Architectures") == ["arm64"], f"{name}: architectures {config.get('Architectures')}")
    found.expect(config["MemorySize"] == declared["memory_size"], f"{name}: memory {config['MemorySize']}")
    found.expect(config["Timeout"] == declared["timeout"], f"{name}: timeout {config['Timeout']}")
    found.expect(len(config.get("Layers", [])) == 1, f"{name}: layers {config.get('Layers')}")
    found.expect(config.get("TracingConfig", {}).get("Mode") == "Active", f"{name}: tracing {config.get('TracingConfig')}")
    found.expect(bool(config.get("KMSKeyArn")), f"{name}: environment not encrypted with the platform key")
    variables = config.get("Environment", {}).get("Variables", {})
    expected = {
        "RAW_BUCKET_NAME": buckets["raw"],
        "PROCESSED_BUCKET_NAME": buckets["processed"],
        "ATHENA_RESULTS_BUCKET": buckets["athena_results"],
        "GLUE_DATABASE_NAME": out["glue_database"],
        "ATHENA_WORKGROUP": out["athena_workgroup"],
        "ENVIRONMENT": env,
    }
    for key, value in expected.items():
        found.expect(variables.get(key) == value, f"{name}: {key}={variables.get(key)!r}, expected {value!r}")
    reserved = declared.get("reserved_concurrent_executions")
    if reserved is not None:
        got = lam.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions")
        found.expect(got == reserved, f"{name}: reserved concurrency {got}, expected {reserved}")


def _rules(events, stack, out, found: Findings) -> None:
    """Each build rule starts the build state machine, through the rules' own role, with the event unchanged."""
    machine = out["state_machine_arn"]
    build = resources(stack, "aws_sfn_state_machine")[0]["name"]
    roles = {r["name"] for r in resources(stack, "aws_iam_role") if r["name"].endswith("-trigger-role")}
    rules = [r for r in resources(stack, "aws_cloudwatch_event_rule") if r["name"].startswith(f"{build}-")]
    found.expect(len(rules) >= 1, f"no rule starts {build}")
    for rule in rules:
        described = events.describe_rule(Name=rule["name"])
        if "event_pattern" in rule:
            found.expect(json.loads(described["EventPattern"]) == json.loads(_bucket_names(stack, rule["event_pattern"])),
                         f"rule {rule['name']}: event pattern differs from the stack's")
        else:
            found.expect(described.get("ScheduleExpression") == rule["schedule_expression"],
                         f"rule {rule['name']}: schedule {described.get('ScheduleExpression')!r}")
        targets = events.list_targets_by_rule(Rule=rule["name"])["Targets"]
        found.expect([t["Arn"] for t in targets] == [machine], f"rule {rule['name']}: targets {[t['Arn'] for t in targets]}")
        found.expect(all(t.get("RoleArn", "").rsplit("/", 1)[-1] in roles for t in targets),
                     f"rule {rule['name']}: target role {[t.get('RoleArn') for t in targets]}, expected the trigger role")
        found.expect(all(not ({"Input", "InputPath", "InputTransformer"} & set(t)) for t in targets),
                     f"rule {rule['name']}: the target rewrites the event")


def _state_machine(sfn, logs, stack, out, found: Findings) -> None:
    """The build state machine: Standard, its definition invoking the deployed runner, logs without execution data."""
    machine = out["state_machine_arn"]
    described = sfn.describe_state_machine(stateMachineArn=machine)
    declared = resources(stack, "aws_sfn_state_machine")[0]
    found.expect(described["type"] == "STANDARD", f"{machine}: type {described['type']}")
    definition = json.loads(described["definition"])
    found.expect(definition["StartAt"] == json.loads(declared["definition"])["StartAt"], f"{machine}: StartAt {definition['StartAt']}")
    invoked = {definition["States"][s]["Parameters"]["FunctionName"] for s in ("Step", "RecordFailure")}
    found.expect(invoked == {out["function_arn"]}, f"{machine}: invokes {sorted(invoked)}, expected {out['function_arn']}")
    found.expect(described["roleArn"].endswith(f":role/{declared['name']}-role"), f"{machine}: role {described['roleArn']}")
    logging = described.get("loggingConfiguration", {})
    # Absent is AWS's default, false (moto omits it when the provider sent false).
    found.expect(logging.get("level") in ("ALL", "ERROR") and logging.get("includeExecutionData", False) is False,
                 f"{machine}: logging {logging}")
    destinations = [d["cloudWatchLogsLogGroup"]["logGroupArn"] for d in logging.get("destinations", [])]
    name = f"/aws/vendedlogs/states/{declared['name']}"
    found.expect(len(destinations) == 1 and f":log-group:{name}:" in destinations[0] + ":", f"{machine}: log destinations {destinations}")
    group = next((g for g in logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"] if g["logGroupName"] == name), None)
    found.expect(group is not None and bool(group.get("kmsKeyId")), f"log group {name}: {group}")
    found.expect(described.get("tracingConfiguration", {}).get("enabled") is True, f"{machine}: tracing {described.get('tracingConfiguration')}")


def _bucket_names(stack, text: str) -> str:
    """Resolves `${aws_s3_bucket.<id>.bucket}` references (the names are literal in the rehearsed stack)."""
    buckets = stack["resource"]["aws_s3_bucket"]
    return re.sub(r"\$\{aws_s3_bucket\.([^.}]+)\.(?:bucket|id)\}", lambda m: buckets[m.group(1)]["bucket"], text)


def _glue(glue, stack, out, found: Findings) -> None:
    database = out["glue_database"]
    declared = {r["name"]: r for r in resources(stack, "aws_glue_catalog_table")}
    tables = {t["Name"]: t for t in glue.get_tables(DatabaseName=database)["TableList"]}
    found.expect(set(declared) == set(tables), f"glue tables {sorted(tables)}, expected {sorted(declared)}")
    for name in sorted(set(declared) & set(tables)):
        parameters = tables[name].get("Parameters", {})
        found.expect(parameters.get("projection.enabled") == "true", f"glue {name}: partition projection not enabled")
        found.expect(parameters.get("projection.ingest_date.type") == "date", f"glue {name}: ingest_date not projected as a date")
        location = tables[name]["StorageDescriptor"]["Location"]
        found.expect(parameters.get("storage.location.template", "").startswith(location.rstrip("/")),
                     f"glue {name}: location template {parameters.get('storage.location.template')!r} outside {location!r}")
        keys = [k["Name"] for k in tables[name].get("PartitionKeys", [])]
        found.expect(keys == ["ingest_date"], f"glue {name}: partition keys {keys}")


def _athena(athena, out, buckets, found: Findings) -> None:
    workgroup = athena.get_work_group(WorkGroup=out["athena_workgroup"])["WorkGroup"]
    config = workgroup["Configuration"]
    location = config.get("ResultConfiguration", {}).get("OutputLocation", "")
    found.expect(location.startswith(f"s3://{buckets['athena_results']}/"), f"workgroup results at {location!r}")
    found.expect(config.get("EnforceWorkGroupConfiguration") is False, "workgroup enforces its configuration")
    found.expect(config.get("BytesScannedCutoffPerQuery", 0) > 0, "workgroup has no bytes-scanned cutoff")


def _logs_queue_key(logs, sqs, kms, out, found: Findings) -> None:
    groups = logs.describe_log_groups(logGroupNamePrefix=out["log_group"])["logGroups"]
    group = next((g for g in groups if g["logGroupName"] == out["log_group"]), None)
    found.expect(group is not None and group.get("retentionInDays", 0) > 0 and bool(group.get("kmsKeyId")),
                 f"log group {out['log_group']}: {group}")
    attributes = sqs.get_queue_attributes(QueueUrl=out["dead_letter_queue"], AttributeNames=["All"])["Attributes"]
    found.expect(attributes.get("SqsManagedSseEnabled") == "true", "dead-letter queue not encrypted")
    if group and group.get("kmsKeyId"):
        found.expect(kms.get_key_rotation_status(KeyId=group["kmsKeyId"])["KeyRotationEnabled"], "platform key not rotated")


def _ingest(lam, stack, out, buckets, found: Findings) -> None:
    name = out["ingest_function_name"]
    config = lam.get_function_configuration(FunctionName=name)
    declared = next(r for r in resources(stack, "aws_lambda_function") if r["function_name"] == name)
    found.expect(config["Handler"] == "ingest.handler.handler" and config["Runtime"] == "python3.12", f"{name}: {config['Handler']} on {config['Runtime']}")
    found.expect(config.get("Architectures") == ["arm64"], f"{name}: architectures {config.get('Architectures')}")
    found.expect(not config.get("Layers"), f"{name}: has layers {config.get('Layers')}; it needs none")
    variables = config.get("Environment", {}).get("Variables", {})
    expected = declared["environment"]["variables"]["INGEST_SOURCE_KEY"]
    found.expect(variables.get("RAW_BUCKET_NAME") == buckets["raw"] and variables.get("INGEST_SOURCE_KEY") == expected,
                 f"{name}: environment {variables}")


def _alerts(sns, cloudwatch, stack, out, found: Findings) -> None:
    topic = out["alert_topic_arn"]
    attributes = sns.get_topic_attributes(TopicArn=topic)["Attributes"]
    found.expect(bool(attributes.get("KmsMasterKeyId")), f"topic {topic}: not encrypted")
    declared = {r["alarm_name"] for r in resources(stack, "aws_cloudwatch_metric_alarm")}
    alarms = {a["AlarmName"]: a for a in cloudwatch.describe_alarms(AlarmNames=sorted(declared))["MetricAlarms"]}
    found.expect(set(alarms) == declared, f"alarms {sorted(alarms)}, expected {sorted(declared)}")
    for name, alarm in sorted(alarms.items()):
        found.expect(alarm.get("AlarmActions") == [topic], f"alarm {name}: actions {alarm.get('AlarmActions')}")


def _roles(iam, stack, found: Findings) -> None:
    for role in resources(stack, "aws_iam_role"):
        got = iam.get_role(RoleName=role["name"])["Role"]
        boundary = got.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn")
        found.expect(boundary is not None and boundary.endswith(":policy/" + boundary.rsplit("/", 1)[-1]),
                     f"role {role['name']}: no permissions boundary")
        found.expect(bool(iam.list_role_policies(RoleName=role["name"])["PolicyNames"]), f"role {role['name']}: no policy")


def _ci_build_role(iam, lam, out, found: Findings) -> None:
    """The role PR builds run as: the runner's CI_BUILD_ROLE_ARN names it, and only the runner may assume it."""
    arn = out["ci_build_role_arn"]
    role = iam.get_role(RoleName=arn.rsplit("/", 1)[-1])["Role"]
    found.expect(role["Arn"] == arn, f"CI build role: {role['Arn']}, output says {arn}")
    runner = lam.get_function_configuration(FunctionName=out["function_name"])
    variables = runner.get("Environment", {}).get("Variables", {})
    found.expect(variables.get("CI_BUILD_ROLE_ARN") == arn,
                 f"{out['function_name']}: CI_BUILD_ROLE_ARN={variables.get('CI_BUILD_ROLE_ARN')!r}, expected {arn!r}")
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    principals = [st.get("Principal", {}).get("AWS") for st in trust.get("Statement", [])]
    found.expect(principals == [runner["Role"]], f"CI build role: trusted by {principals}, expected only {runner['Role']}")


# --- the pipeline's writes ---------------------------------------------------------------------------

def write_like_the_pipeline(s3, buckets: dict[str, str], access_logs: str, artifacts: str | None) -> int:
    """Objects, several versions and delete markers in every bucket, as a used stack has them."""
    writes = {
        buckets["raw"]: [("db/chinook.db", b"SQLite format 3\x00"),
                         ("raw/album/ingest_date=2026-11-30/part-0000.jsonl", b'{"AlbumId":1}\n'),
                         ("raw/album/ingest_date=2026-11-30/part-0000.jsonl", b'{"AlbumId":1}\n{"AlbumId":2}\n')],
        buckets["processed"]: [("album_track_counts/part-0.parquet", b"PAR1"), ("album_track_counts/part-0.parquet", b"PAR1v2")],
        buckets["athena_results"]: [("athena/0001.csv", b"a\n1\n"), ("athena/0001.csv.metadata", b"meta")],
        access_logs: [(f"{buckets['raw']}/2026-11-30-00-00-00-0001", b"log line\n")],
    }
    if artifacts:
        writes[artifacts] = [("runs/2026-11-30/0001/run_results.json", b"{}"), ("latest/manifest.json", b"{}"),
                             ("latest/manifest.json", b'{"v": 2}')]
    count = 0
    for bucket, objects in writes.items():
        for key, body in objects:
            s3.put_object(Bucket=bucket, Key=key, Body=body)
            count += 1
        # dbt-athena deletes a table's files on every rebuild: a delete marker in a versioned bucket.
        s3.delete_object(Bucket=bucket, Key=objects[0][0])
        count += 1
    return count


def object_versions(s3, bucket: str) -> int:
    pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket)
    return sum(len(p.get("Versions", [])) + len(p.get("DeleteMarkers", [])) for p in pages)
