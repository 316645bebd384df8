"""make ship-project on moto_server: upload, validate, move the pointer, roll back; the runner uses it.

The runner is the real handler, called in-process with AWS_ENDPOINT_URL at moto (moto runs no
Lambda code): ship_project.ship's one injectable `invoke_runner` is the only difference.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import boto3
import pytest

from dbt_runner import bundles
from dbt_runner.dbt_run import DbtSession
from scripts.operations import ship_project
from scripts.testing.chinook import REPO, aws_env, moto_server
from scripts.testing.runner_env import HANDLER_ENV

BUCKET = "dev-artifacts-test"


class Context:
    aws_request_id = "ship-test"
    function_name = "dev-dbt-runner"


@pytest.fixture(scope="module")
def moto():
    with moto_server() as url:
        yield url


@pytest.fixture
def env(moto, monkeypatch, tmp_path):
    for name in (*HANDLER_ENV, "DBT_CI_PR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DBT_LOG_LEVEL", "warn")
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))  # the container's /tmp: unpacked bundles
    (tmp_path / "tmp").mkdir()
    with aws_env(moto):
        s3 = boto3.client("s3")
        bucket = f"{BUCKET}-{tmp_path.name.lower().replace('_', '-')[-20:]}"
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "ap-southeast-2"})
        key = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [
            {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}}]})
        monkeypatch.setenv("ARTIFACTS_BUCKET_NAME", bucket)
        monkeypatch.setenv("ENVIRONMENT", "local")
        monkeypatch.setenv("LOCAL_DATA_DIR", str(tmp_path / "local"))
        from dbt_runner import handler

        monkeypatch.setattr(handler, "SESSION", DbtSession())  # a new container
        bundles.forget()
        yield {"s3": s3, "bucket": bucket, "kms": key, "handler": handler, "tmp": tmp_path}
        bundles.forget()


def in_process(handler):
    """The dry-run invocation, in-process: moto runs no Lambda code (ship_project.lambda_invoke in AWS)."""
    return lambda function_name, payload: handler.handler(payload, Context())


def project(tmp_path: Path, name: str, edits: dict[str, tuple[str, str] | str]) -> Path:
    root = tmp_path / name / "dbt"
    shutil.copytree(REPO / "dbt", root, ignore=shutil.ignore_patterns("target", "logs", "project_tests"))
    for path, edit in edits.items():
        file = root / path
        if isinstance(edit, str):
            file.write_text(edit)
        else:
            assert edit[0] in file.read_text()
            file.write_text(file.read_text().replace(*edit))
    return root


def ship(env, dbt_dir=None, bundle=None):
    return ship_project.ship(bucket=env["bucket"], function_name="dev-dbt-runner", dbt_dir=dbt_dir or REPO / "dbt",
                             bundle=bundle, invoke_runner=in_process(env["handler"]), s3=env["s3"], say=lambda _: None)


def pointer(env) -> str | None:
    return (ship_project.read_pointer(env["s3"], env["bucket"]) or {}).get("bundle")


def models(env) -> tuple[list[str], dict]:
    summary = env["handler"].handler({"command": ["ls"], "cli_args": ["--resource-type", "model", "--output", "name"]},
                                     Context())
    return summary["output"], summary


NEW_MODEL = {"models/marts/shipped_model.sql": "select 1 as shipped\n"}


def test_ship_uploads_validates_then_moves_the_pointer_and_the_runner_uses_the_bundle(env, capsys):
    first = ship(env, project(env["tmp"], "v1", NEW_MODEL))
    name = first["bundle"]
    assert first["pointer_moved"] and first["previous"] is None and pointer(env) == name
    head = env["s3"].head_object(Bucket=env["bucket"], Key=f"projects/bundles/{name}.zip")
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == env["kms"]
    # The same project packs to the same bundle: shipping it again uploads nothing new.
    again = ship(env, project(env["tmp"], "v1-again", NEW_MODEL))
    assert again["bundle"] == name and again["previous"] == name

    names, summary = models(env)
    assert "shipped_model" in names
    assert summary["project"]["source"] == "bundle" and summary["project"]["bundle"] == name
    assert summary["project"]["pointer_check_ms"] >= 0
    assert summary["manifest_source"] == "reused"  # the dry run's parse, kept warm
    # The run's record names the bundle (make runs shows it).
    record = json.loads(env["s3"].get_object(Bucket=env["bucket"], Key=summary["artifacts"].split("/", 3)[3] + "summary.json")["Body"].read())
    assert record["project"]["bundle"] == name
    # A warm call with an unchanged pointer: one conditional GET answered 304, no download.
    client = bundles.s3_client()
    requests = []
    client.meta.events.register("after-call.s3.GetObject", lambda http_response, **_: requests.append(http_response.status_code))
    _, warm = models(env)
    assert (warm["project"]["bundle"], warm["manifest_source"]) == (name, "reused")
    assert requests == [304]
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert any(line["event"] == "dbt_project" and "pointer_check_ms" in line for line in logged)


def test_a_bundle_that_does_not_parse_never_becomes_current_and_the_error_names_the_file(env):
    good = ship(env)["bundle"]
    broken = project(env["tmp"], "broken", {"models/marts/album_track_counts.sql": ("{{ ref('stg_raw__album') }}", "{{ ref('stg_raw__album' }}")})
    with pytest.raises(ship_project.ShipError) as raised:
        ship(env, broken)
    assert "album_track_counts.sql" in str(raised.value)
    assert pointer(env) == good
    names, summary = models(env)
    assert summary["project"]["bundle"] == good and "shipped_model" not in names


def test_rollback_re_points_to_an_uploaded_bundle_after_validating_it_again(env):
    first = ship(env)["bundle"]
    second = ship(env, project(env["tmp"], "v2", NEW_MODEL))["bundle"]
    assert pointer(env) == second and "shipped_model" in models(env)[0]
    calls = []
    runner = in_process(env["handler"])
    back = ship_project.ship(bucket=env["bucket"], function_name="dev-dbt-runner", bundle=first, s3=env["s3"],
                             invoke_runner=lambda fn, payload: calls.append(payload) or runner(fn, payload), say=lambda _: None)
    assert calls == [{"validate_bundle": first}]
    assert (back["bundle"], back["previous"], pointer(env)) == (first, second, first)
    names, summary = models(env)
    assert summary["project"]["bundle"] == first and "shipped_model" not in names
    with pytest.raises(ship_project.ShipError, match="no bundle"):
        ship(env, bundle="0" * 64)
    assert pointer(env) == first


def test_with_no_pointer_the_runner_runs_the_packaged_project_and_warns(env, capsys):
    names, summary = models(env)
    assert summary["project"] == {"source": "package", "bundle": None, "pointer_check_ms": summary["project"]["pointer_check_ms"]}
    assert "album_track_counts" in names
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert any(line["event"] == "dbt_project_pointer_missing" and line["level"] == "warning" for line in logged)


def test_an_altered_bundle_is_refused(env):
    name = ship(env)["bundle"]
    env["s3"].put_object(Bucket=env["bucket"], Key=f"projects/bundles/{name}.zip", Body=b"not the bundle")
    bundles.forget()
    with pytest.raises(bundles.BundleError, match="sha256 is not its name"):
        env["handler"].handler({"validate_bundle": name}, Context())


def test_a_validation_event_names_a_bundle_and_nothing_else(env):
    from dbt_runner.events import EventError

    for event, field in [({"validate_bundle": "../current"}, "validate_bundle"),
                         ({"validate_bundle": "a" * 64, "command": ["build"]}, "command")]:
        with pytest.raises(EventError) as raised:
            env["handler"].handler(event, Context())
        assert raised.value.field == field


def test_a_pull_requests_bundle_builds_only_what_it_changed_under_its_own_prefix(env):
    from scripts.testing.chinook import ingest_module, sample_data

    local = env["tmp"] / "local"
    sample_data().generate(env["tmp"] / "chinook.db", scale=1)
    ingest_module().ingest(str(env["tmp"] / "chinook.db"), str(local))
    handler, s3, bucket = env["handler"], env["s3"], env["bucket"]
    assert handler.handler({"command": ["build"]}, Context())["status"] == "success"  # the env's latest/
    latest = {key: s3.get_object(Bucket=bucket, Key=key)["Body"].read()
              for key in (o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="latest/")["Contents"])}

    changed = project(env["tmp"], "pr7", {"models/marts/album_track_counts.sql": (
        "count(tracks.track_id) as track_count", "count(tracks.track_id) as track_count  -- PR 7")})
    uploaded = ship_project.ship(bucket=bucket, function_name="dev-dbt-runner", dbt_dir=changed, ci_pr=7, s3=s3,
                                 invoke_runner=lambda *_: pytest.fail("a PR's bundle is not validated"), say=lambda _: None)
    assert uploaded["key"] == f"ci/pr_7/bundles/{uploaded['bundle']}.zip" and not uploaded["pointer_moved"]
    assert pointer(env) is None

    summary = handler.handler({"ci": {"pr": 7, "bundle": uploaded["bundle"]}, "command": ["build"]}, Context())
    built = {n["unique_id"] for n in summary["nodes"] if not n["unique_id"].startswith("operation.")}
    assert "model.dbt_lambda.album_track_counts" in built
    assert {uid.split(".")[0] for uid in built} == {"model", "test"} and len([u for u in built if u.startswith("model.")]) == 1
    assert summary["project"]["bundle"] == uploaded["bundle"] and summary["ci"]["database"] == "main_pr_7"
    assert summary["artifacts"].startswith(f"s3://{bucket}/ci/pr_7/runs/")
    after = {key: s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in latest}
    assert after == latest and len(s3.list_objects_v2(Bucket=bucket, Prefix="latest/")["Contents"]) == len(latest)

    # Another PR cannot name PR 7's bundle: it is looked up under its own prefix only.
    with pytest.raises(bundles.BundleError, match="ci/pr_8/bundles/"):
        handler.handler({"ci": {"pr": 8, "bundle": uploaded["bundle"]}, "command": ["build"]}, Context())
