"""Deploy rehearsal: bootstrap, init, plan, apply, re-plan, read back, use and destroy each stack
on an AWS emulator (moto), so that a first deploy is never a first try.

    scripts/uv run --frozen python -m scripts.rehearse.rehearse [--env dev] [--env prod]

Needs the synthesized stacks (`make synth`), the Lambda artifacts (`make package layer`),
Terraform and a provider mirror. What differs from a real deploy is listed, with its reason, in
gaps.py; everything else is the stack as synthesized. One line per step, then a summary; exit 1
if any step failed.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent

from scripts.rehearse import gaps
from scripts.rehearse.emulator import Emulator
from scripts.rehearse.pipeline import PipelineFailed, rehearse_seed_pipeline
from scripts.rehearse.readback import check_stack, object_versions, resources, write_like_the_pipeline
from scripts.rehearse.terraform import StepFailed, Terraform, base_env, cli_config

ROOT = HERE.parents[1]
STACKS = ROOT / "cdktf.out" / "stacks"
# Beside cdktf.out/stacks/<env>, so the stacks' relative artifact paths resolve the same way.
WORK = ROOT / "cdktf.out" / "rehearsal"
LOGS = ROOT / "build" / "rehearsal"
ARTIFACTS = (ROOT / "build" / "function.zip", ROOT / "build" / "dbt-layer.zip")
GITHUB_REPO = "acme/dbt-lambda-platform"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}

_print_lock = threading.Lock()


def say(line: str) -> None:
    with _print_lock:
        print(line, flush=True)


@dataclass
class Rehearsal:
    env: str
    steps: list[tuple[str, float, str]] = field(default_factory=list)
    failed: str | None = None

    def step(self, name: str, action: Callable[[], str | None]) -> Any:
        if self.failed:
            return None
        started = time.monotonic()
        try:
            detail = action() or ""
        except StepFailed as error:
            self.failed = f"{name}: {error}"
            detail = "FAILED"
        except Exception as error:  # an SDK error is a finding too: report it, never hide it
            self.failed = f"{name}: {type(error).__name__}: {error}"
            detail = "FAILED"
        seconds = time.monotonic() - started
        self.steps.append((name, seconds, detail))
        say(f"[{self.env:<4}] {name:<28} {seconds:6.1f} s  {detail}")
        if self.failed:
            say(f"[{self.env:<4}]   {self.failed}")
        return detail


# --- re-plan: nothing may change except the listed emulator gaps ------------------------------------

def unexpected_changes(plan: dict[str, Any]) -> list[str]:
    """Each change in a `terraform show -json` plan that gaps.REPLAN_IGNORED does not list."""
    problems = []
    for change in plan.get("resource_changes", []):
        actions = change["change"]["actions"]
        if actions in (["no-op"], ["read"]):
            continue
        if actions != ["update"]:
            problems.append(f"{change['address']}: {'/'.join(actions)}")
            continue
        before, after = change["change"]["before"] or {}, change["change"]["after"] or {}
        changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
        changed |= {k for k, v in (change["change"].get("after_unknown") or {}).items() if v}
        extra = sorted(changed - gaps.ignored_replan_attributes(change["type"]))
        if extra:
            problems.append(f"{change['address']}: update of {', '.join(extra)}")
    return problems


def backend_flags(bootstrap_output: str) -> list[str]:
    """The `-backend-config=...` flags bootstrap prints for `terraform init`, exactly."""
    flags = re.findall(r"(-backend-config=[^\s\\]+)", bootstrap_output)
    if not any(f.startswith("-backend-config=bucket=") for f in flags) or not any(
        f.startswith("-backend-config=region=") for f in flags
    ):
        raise StepFailed(f"bootstrap printed no -backend-config bucket/region flags:\n{bootstrap_output[-1500:]}")
    return flags


# --- the steps ------------------------------------------------------------------------------------

class StackRun:
    def __init__(self, env: str, emulator: Emulator, flags: list[str], tf_env: dict[str, str]):
        import boto3

        self.env = env
        self.endpoint = endpoint = emulator.endpoint
        self.flags = flags
        self.synthesized = json.loads((STACKS / env / "cdk.tf.json").read_text())
        self.stack = gaps.rehearsal_stack(self.synthesized, endpoint)
        self.region = self.stack["provider"]["aws"][0]["region"]
        self.workdir = WORK / env
        self.tf = Terraform(self.workdir, {**tf_env, "AWS_REGION": self.region}, LOGS / env)
        session = boto3.session.Session(region_name=self.region, **{
            "aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"], "aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"]})
        self.client = lambda service: session.client(service, endpoint_url=endpoint, verify=str(emulator.ca_bundle))
        # What an SDK in a subprocess needs to reach the emulator (AWS_CA_BUNDLE trusts its certificate).
        self.aws_env = {**CREDENTIALS, "AWS_ENDPOINT_URL": endpoint, "AWS_CA_BUNDLE": str(emulator.ca_bundle),
                        "AWS_DEFAULT_REGION": self.region, "AWS_REGION": self.region}
        self.s3 = self.client("s3")
        self.outputs: dict[str, Any] = {}
        self.state_bucket = next(f.split("=", 2)[2] for f in flags if f.startswith("-backend-config=bucket="))
        self.state_key = self.stack["terraform"]["backend"]["s3"]["key"]

    def prepare(self) -> str:
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.workdir.mkdir(parents=True)
        (self.workdir / "cdk.tf.json").write_text(json.dumps(self.stack, indent=2))
        (self.workdir / "emulator.s3.tfbackend").write_text(gaps.backend_settings(self.endpoint))
        count = sum(len(v) for v in self.stack["resource"].values())
        return f"{count} resources"

    def init(self) -> str:
        self.tf.run("init", "init", "-input=false", "-no-color", *self.flags, "-backend-config=emulator.s3.tfbackend")
        backend = json.loads((self.workdir / ".terraform" / "terraform.tfstate").read_text())["backend"]
        if backend["type"] != "s3" or backend["config"].get("use_lockfile") is not True or backend["config"].get("encrypt") is not True:
            raise StepFailed(f"backend is {backend['type']} with {backend['config']}")
        return f"s3://{self.state_bucket}/{self.state_key}, use_lockfile"

    def plan(self) -> str:
        self.tf.run("plan", "plan", "-input=false", "-no-color", "-out=tfplan")
        plan = self.tf.json("plan-show", "show", "-json", "tfplan")
        creates = sum(1 for c in plan["resource_changes"] if c["change"]["actions"] == ["create"])
        return f"{creates} to create"

    def apply(self) -> str:
        self.tf.run("apply", "apply", "-input=false", "-no-color", "tfplan")
        head = self.s3.head_object(Bucket=self.state_bucket, Key=self.state_key)
        lock = self.s3.list_objects_v2(Bucket=self.state_bucket, Prefix=f"{self.state_key}.tflock").get("KeyCount", 0)
        if lock:
            raise StepFailed("the state lock file was left behind after apply")
        state = json.loads(self.s3.get_object(Bucket=self.state_bucket, Key=self.state_key)["Body"].read())
        self.outputs = self.tf.json("output", "output", "-json")
        return f"state {head['ContentLength']} B, {len(state['resources'])} resources"

    def replan(self) -> str:
        self.tf.run("replan", "plan", "-input=false", "-no-color", "-out=replan")
        problems = unexpected_changes(self.tf.json("replan-show", "show", "-json", "replan"))
        if problems:
            raise StepFailed("the second plan is not empty:\n  " + "\n  ".join(problems))
        ignored = sum(len(v) for v in gaps.REPLAN_IGNORED.values())
        return f"no changes (beyond {ignored} listed emulator gaps)"

    def read_back(self) -> str:
        found = check_stack(self.client, self.stack, self.outputs, self.env)
        if found.problems:
            raise StepFailed(f"{len(found.problems)} of {found.checked} checks failed:\n  " + "\n  ".join(found.problems))
        return f"{found.checked} checks"

    def seed_pipeline(self) -> str:
        out = {name: value["value"] for name, value in self.outputs.items()}
        if "ingest_function_name" not in out:
            return "no ingest function in this stack"
        rule = next(r["name"] for r in resources(self.stack, "aws_cloudwatch_event_rule") if "event_pattern" in r)
        try:
            return rehearse_seed_pipeline(self.client, out["function_name"], out["ingest_function_name"], rule, self.aws_env)
        except PipelineFailed as error:
            raise StepFailed(str(error)) from None

    def use(self) -> str:
        artifacts = self.outputs.get("artifacts_bucket", {}).get("value")
        written = write_like_the_pipeline(self.s3, self.outputs["data_buckets"]["value"], self.access_logs_bucket(), artifacts)
        return f"{written} writes and deletes"

    def access_logs_bucket(self) -> str:
        return next(r["bucket"] for r in resources(self.stack, "aws_s3_bucket") if "-access-logs-" in r["bucket"])

    def protected_buckets(self) -> dict[str, str]:
        found = {}
        for resource_id, resource in self.stack["resource"]["aws_s3_bucket"].items():
            if resource.get("lifecycle", {}).get("prevent_destroy"):
                found[f"aws_s3_bucket.{resource_id}"] = resource["bucket"]
        return found

    def destroy(self) -> str:
        protected = self.protected_buckets()
        if not protected:
            self.tf.run("destroy", "destroy", "-auto-approve", "-input=false", "-no-color")
            names = {r["bucket"] for r in resources(self.stack, "aws_s3_bucket")}
            left = names & {b["Name"] for b in self.s3.list_buckets()["Buckets"]}
            if left:
                raise StepFailed(f"buckets left after destroy: {sorted(left)}")
            state = json.loads(self.s3.get_object(Bucket=self.state_bucket, Key=self.state_key)["Body"].read())
            if state["resources"]:
                raise StepFailed(f"{len(state['resources'])} resources left in the state after destroy")
            return f"everything gone, {len(names)} used buckets included"

        refused = self.tf.run("destroy", "destroy", "-auto-approve", "-input=false", "-no-color", check=False)
        named = set(re.findall(r"Resource\s+(aws_s3_bucket\.\S+)\s+has\s+lifecycle\.prevent_destroy", refused.stdout + refused.stderr))
        if refused.code == 0 or named != set(protected):
            raise StepFailed(f"destroy should stop on exactly the protected buckets {sorted(protected)}; "
                             f"exit {refused.code}, named {sorted(named)}")
        kept = {name: object_versions(self.s3, name) for name in protected.values()}
        if not all(kept.values()):
            raise StepFailed(f"a protected bucket lost its data: {kept}")
        return f"refused on {len(protected)} protected buckets; their {sum(kept.values())} object versions kept"

    def clean_up(self) -> str | None:
        """prod only: forget the protected buckets (as a decommission keeps its data) and destroy the rest."""
        protected = self.protected_buckets()
        if not protected:
            return None
        self.tf.run("state-rm", "state", "rm", *protected)
        self.tf.run("destroy-rest", "destroy", "-auto-approve", "-input=false", "-no-color")
        return f"the rest destroyed; {len(protected)} buckets kept with their data"


def bootstrap(env: str, region: str, emulator: Emulator, bin_dir: Path) -> str:
    """scripts/bootstrap/bootstrap.ts as a user runs it (no gh on PATH, so it prints the GitHub commands)."""
    import subprocess

    command = ["node", str(ROOT / "node_modules/tsx/dist/cli.mjs"), str(ROOT / "scripts/bootstrap/bootstrap.ts"),
               "--region", region, "--env", env, "--github-repo", GITHUB_REPO]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, env={
        "PATH": str(bin_dir), "HOME": str(bin_dir.parent), **CREDENTIALS,
        "AWS_REGION": region, "AWS_ENDPOINT_URL": emulator.endpoint, "NODE_EXTRA_CA_CERTS": str(emulator.ca_bundle),
        # Never the clone's .bootstrap/: a record of the emulator's bucket would steer a real cdktf deploy.
        "BOOTSTRAP_RECORD_DIR": str(LOGS / "bootstrap-records")})
    (LOGS / env).mkdir(parents=True, exist_ok=True)
    (LOGS / env / "bootstrap.log").write_text(done.stdout + "\n--- stderr ---\n" + done.stderr)
    if done.returncode != 0:
        raise StepFailed(f"bootstrap exited {done.returncode}:\n{(done.stderr or done.stdout)[-1500:]}")
    return done.stdout


def rehearse_env(run: Rehearsal, make: Callable[[], StackRun]) -> None:
    holder: dict[str, StackRun] = {}

    def prepare() -> str:
        holder["stack"] = make()
        return holder["stack"].prepare()

    run.step("prepare stack", prepare)
    s = holder.get("stack")
    if s is None:
        return
    for name, action in [("terraform init", s.init), ("terraform plan", s.plan), ("terraform apply (first)", s.apply),
                         ("terraform plan (again)", s.replan), ("read back through the APIs", s.read_back),
                         ("seed pipeline on the stack", s.seed_pipeline), ("write data like the pipeline", s.use), ("terraform destroy", s.destroy)]:
        run.step(name, action)
    if s.protected_buckets():
        run.step("clean up", s.clean_up)


def check_inputs(envs: list[str]) -> None:
    missing = [str(p.relative_to(ROOT)) for p in ARTIFACTS if not p.is_file()]
    missing += [f"cdktf.out/stacks/{e}/cdk.tf.json" for e in envs if not (STACKS / e / "cdk.tf.json").is_file()]
    if not (ROOT / "node_modules/tsx/dist/cli.mjs").is_file():
        missing.append("node_modules (npm ci)")
    if missing:
        raise SystemExit(f"rehearse: missing {', '.join(missing)}; run `make package layer synth` first (make rehearse does)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="Every difference from a real deploy is listed in scripts/rehearse/gaps.py.")
    parser.add_argument("--env", action="append", choices=["dev", "prod"], help="stack to rehearse (repeatable; default both)")
    args = parser.parse_args(argv)
    envs = args.env or ["dev", "prod"]
    check_inputs(envs)

    started = time.monotonic()
    shutil.rmtree(LOGS, ignore_errors=True)
    LOGS.mkdir(parents=True)
    bin_dir = LOGS / "bin"
    bin_dir.mkdir()
    for tool in ("node", "git"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    tf_env = base_env(cli_config(LOGS / "terraform.rc"))
    say(f"Rehearsing {', '.join(envs)} on moto {_moto_version()} with hashicorp/aws {gaps.AWS_PROVIDER_VERSION} "
        f"(the stacks pin {_pinned_aws()}); random_id fixed to {gaps.RANDOM_SUFFIX}. Differences: scripts/rehearse/gaps.py")

    runs = {env: Rehearsal(env) for env in envs}
    with Emulator(LOGS / "moto.log") as emulator:
        flags: dict[str, list[str]] = {}
        for env in envs:
            region = json.loads((STACKS / env / "cdk.tf.json").read_text())["provider"]["aws"][0]["region"]
            runs[env].step("bootstrap (state bucket)",
                           lambda env=env, region=region: _bootstrapped(flags, env, region, emulator, bin_dir))
        # Terraform (Go) trusts the emulator's certificate through SSL_CERT_FILE.
        tf_env = {**tf_env, **CREDENTIALS, "SSL_CERT_FILE": str(emulator.ca_bundle)}
        threads = [
            threading.Thread(target=rehearse_env, args=(runs[env], lambda env=env: StackRun(env, emulator, flags[env], tf_env)))
            for env in envs if not runs[env].failed
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    total = time.monotonic() - started
    say("")
    say("Rehearsal summary")
    for env, run in runs.items():
        apply_time = next((s for n, s, _ in run.steps if n.startswith("terraform apply")), 0.0)
        status = "FAILED: " + run.failed if run.failed else "passed"
        say(f"  {env:<4} {status}  ({len(run.steps)} steps, {sum(s for _, s, _ in run.steps):.1f} s, first apply {apply_time:.1f} s)")
    say(f"  wall time {total:.1f} s; logs in {LOGS.relative_to(ROOT)}/")
    return 1 if any(r.failed for r in runs.values()) else 0


def _bootstrapped(flags: dict[str, list[str]], env: str, region: str, emulator: Emulator, bin_dir: Path) -> str:
    flags[env] = backend_flags(bootstrap(env, region, emulator, bin_dir))
    return " ".join(f.split("=", 1)[1] for f in flags[env])


def _moto_version() -> str:
    from importlib.metadata import version

    return version("moto")


def _pinned_aws() -> str:
    stack = json.loads(next(STACKS.glob("*/cdk.tf.json")).read_text())
    return stack["terraform"]["required_providers"]["aws"]["version"]


if __name__ == "__main__":
    sys.exit(main())
