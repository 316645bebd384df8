"""The README's "Deploy to your AWS account" block, run as written against the AWS emulator.

    scripts/uv run --frozen python -m scripts.rehearse.walkthrough      (make rehearse-walkthrough)

The commands come from the README's one ```bash walkthrough``` block, so the docs cannot drift
from the code. Each runs in the repository with the emulator as its AWS. Where the emulator
cannot run a command as written, the nearest faithful equivalent runs instead, and the step says
`ran-equivalent (<reason>)`; the commands that get an equivalent, and why, are listed in
gaps.WALKTHROUGH_EQUIVALENTS. Bootstrap records go to a scratch folder, never .bootstrap/.
Needs `make package layer` done (step 3 re-runs it; it is quick when up to date), Terraform and
the provider mirror. Exit 1 if any step failed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from scripts.rehearse import gaps
from scripts.rehearse.emulator import Emulator
from scripts.rehearse.terraform import StepFailed, Terraform, base_env, cli_config

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
LOGS = ROOT / "build" / "walkthrough"
# Beside cdktf.out/stacks/<env>, so the stack's relative artifact paths resolve the same way.
WORK = ROOT / "cdktf.out" / "walkthrough"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
def _clone_name() -> str:
    """The name bootstrap gives this clone without --github-repo (names.localRepoName): origin's, else the folder's."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    found = re.search(r"([^/:]+?)(?:\.git)?/?$", git("remote", "get-url", "origin"))
    return found.group(1) if found else Path(git("rev-parse", "--show-toplevel") or ROOT).name


#: What the block's placeholders stand for here: a GitHub repository named as this clone, as a
#: clone of <owner>/<repo> is, so step 11 finds the state bucket steps 2 and 10 made.
PLACEHOLDERS = {"<owner>/<repo>": f"acme/{_clone_name()}"}
COMMAND_TIMEOUT = 600


@dataclass
class Step:
    title: str
    commands: list[str] = field(default_factory=list)


def readme_steps(text: str) -> list[Step]:
    """The steps of the README's ```bash walkthrough``` block: `# --- n. title` lines, then commands."""
    blocks = re.findall(r"^```bash walkthrough\n(.*?)^```", text, re.S | re.M)
    if len(blocks) != 1:
        raise StepFailed(f"README.md must have exactly one ```bash walkthrough block, found {len(blocks)}")
    steps: list[Step] = []
    for line in blocks[0].splitlines():
        header = re.match(r"^# --- (\d+\. .+)$", line)
        if header:
            steps.append(Step(header.group(1)))
        elif line.strip() and not line.lstrip().startswith("#"):
            if not steps:
                raise StepFailed(f"a command before the first '# --- n. title' line: {line}")
            steps[-1].commands.append(line)
    return steps


def equivalent_for(command: str) -> tuple[str, str] | None:
    """(name, reason) of the equivalent that replaces a command here, or None: it runs as written."""
    for pattern, name, reason in gaps.WALKTHROUGH_EQUIVALENTS:
        if re.search(pattern, command):
            return name, reason
    return None


class Walkthrough:
    def __init__(self, emulator: Emulator, scratch: Path):
        self.emulator = emulator
        self.scratch = scratch
        self.vars: dict[str, str] = {}
        backend_file = scratch / "emulator.s3.tfbackend"
        backend_file.write_text(gaps.backend_settings(emulator.endpoint))
        tf_config = cli_config(scratch / "terraform.rc")
        emulator_env = {**CREDENTIALS, "AWS_ENDPOINT_URL": emulator.endpoint, "AWS_CA_BUNDLE": str(emulator.ca_bundle),
                        "NODE_EXTRA_CA_CERTS": str(emulator.ca_bundle), "SSL_CERT_FILE": str(emulator.ca_bundle),
                        "AWS_REGION": "ap-southeast-2", "AWS_DEFAULT_REGION": "ap-southeast-2"}
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_", "BOOTSTRAP_"))}
        # What a user's shell has, with the emulator as AWS (see gaps.cdktf_init_args for TF_CLI_ARGS_init).
        self.shell_env = {**clean, **emulator_env, "CHECKPOINT_DISABLE": "1", "NO_COLOR": "1",
                          "BOOTSTRAP_RECORD_DIR": str(scratch / "bootstrap-records"),
                          "TF_CLI_CONFIG_FILE": str(tf_config), "TF_CLI_ARGS_init": gaps.cdktf_init_args(str(backend_file))}
        self.tf_env = {**base_env(tf_config), **CREDENTIALS, "SSL_CERT_FILE": str(emulator.ca_bundle)}
        self.backend_file = backend_file
        self.log = (LOGS / "commands.log").open("w")

    # --- as written -------------------------------------------------------------------------------

    def shell(self, command: str, check: bool = True) -> subprocess.CompletedProcess:
        for placeholder, value in PLACEHOLDERS.items():
            command = command.replace(placeholder, value)
        assignment = re.match(r"^([A-Z_][A-Z0-9_]*)=(.*)$", command)
        script = f'{assignment.group(1)}={assignment.group(2)}; printf %s "${assignment.group(1)}"' if assignment else command
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, env={**self.shell_env, **self.vars},
                              capture_output=True, text=True, timeout=COMMAND_TIMEOUT, stdin=subprocess.DEVNULL)
        self.log.write(f"$ {command}\n{done.stdout}\n--- stderr ---\n{done.stderr}\n--- exit {done.returncode}\n\n")
        self.log.flush()
        if check and done.returncode != 0:
            raise StepFailed(f"`{command}` exited {done.returncode}:\n{(done.stderr or done.stdout)[-1500:]}")
        if assignment:
            self.vars[assignment.group(1)] = done.stdout
        return done

    # --- the equivalents (gaps.WALKTHROUGH_EQUIVALENTS) ----------------------------------------------

    def chinook_download(self, command: str) -> str:
        from scripts.testing.chinook import fixture_database

        target = re.search(r"-o\s+(\S+)", command).group(1)
        fixture_database(ROOT / target)
        return f"wrote {target}"

    def cdktf_deploy(self, command: str) -> str:
        """As written up to provider installation; then the same stack applied with the mirror's provider."""
        env = re.search(r"cdktf deploy (\w+)", command).group(1)
        self.cdktf_up_to_providers(command, env)
        if env != "dev":
            return "stopped at provider installation; the apply of prod is make rehearse's"
        self.terraform(env).run("apply", "apply", "-auto-approve", "-input=false", "-no-color")
        return "applied the same stack with hashicorp/aws 5.100.0"

    def cdktf_destroy(self, command: str) -> str:
        env = re.search(r"cdktf destroy (\w+)", command).group(1)
        self.cdktf_up_to_providers(command, env)
        self.terraform(env).run("destroy", "destroy", "-auto-approve", "-input=false", "-no-color")
        return "destroyed the same stack with hashicorp/aws 5.100.0"

    def cdktf_up_to_providers(self, command: str, env: str) -> None:
        done = self.shell(command, check=False)
        output = done.stdout + done.stderr
        record = json.loads((self.scratch / "bootstrap-records" / f"{env}.json").read_text())
        state = ROOT / "cdktf.out" / "stacks" / env / ".terraform" / "terraform.tfstate"
        configured = json.loads(state.read_text())["backend"]["config"]["bucket"] if state.is_file() else None
        # A first init says 'Successfully configured the backend "s3"'; a later one only initialises it.
        if "Enter a value" in output or "Initializing the backend" not in output \
                or configured != record["backend"]["bucket"] or "hashicorp/aws" not in output:
            raise StepFailed(f"`{command}` did not get to {gaps.CDKTF_DEPLOY_STOPS_AT} with bootstrap's backend:\n{output[-2000:]}")

    def terraform(self, env: str) -> Terraform:
        """The stack cdktf synthesized, in its own folder, as the rehearsal applies it (gaps.rehearsal_stack)."""
        workdir = WORK / env
        tf = Terraform(workdir, self.tf_env, LOGS / env)
        if not (workdir / ".terraform").is_dir():
            shutil.rmtree(workdir, ignore_errors=True)
            workdir.mkdir(parents=True)
            synthesized = json.loads((ROOT / "cdktf.out" / "stacks" / env / "cdk.tf.json").read_text())
            (workdir / "cdk.tf.json").write_text(json.dumps(gaps.rehearsal_stack(synthesized, self.emulator.endpoint)))
            tf.run("init", "init", "-input=false", "-no-color", f"-backend-config={self.backend_file}")
        return tf

    def lambda_invoke_ingest(self, command: str) -> str:
        import boto3

        from scripts.rehearse.pipeline import run_ingest

        name = re.search(r"--function-name\s+(\S+)", command).group(1)
        client = boto3.client("lambda", endpoint_url=self.emulator.endpoint, verify=str(self.emulator.ca_bundle),
                              region_name="ap-southeast-2", **_keys())
        function_env = client.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
        result = run_ingest(function_env, {**CREDENTIALS, "AWS_ENDPOINT_URL": self.emulator.endpoint,
                                           "AWS_CA_BUNDLE": str(self.emulator.ca_bundle), "AWS_REGION": "ap-southeast-2"})
        out = re.search(r"(\S+\.json)\s*$", command).group(1)
        (ROOT / out).write_text(json.dumps(result))
        return f"{name}'s handler ingested {len(result['tables'])} tables"

    def make_invoke(self, command: str) -> str:
        """The runner's handler here, with the deployed function's environment, on DuckDB over the ingested raw zone."""
        import shlex

        import boto3

        from scripts.operations import invoke

        words = dict(w.split("=", 1) for w in shlex.split(command)[2:])
        runner = invoke.runner_of(words["ENV"])  # the lookup make invoke does, on cdktf.out/stacks/<env>
        event = invoke.payload(words.get("CMD"))
        session = dict(endpoint_url=self.emulator.endpoint, verify=str(self.emulator.ca_bundle), region_name=runner.region, **_keys())
        function_env = boto3.client("lambda", **session).get_function_configuration(
            FunctionName=runner.function_name)["Environment"]["Variables"]
        local = self.scratch / "local"
        s3 = boto3.client("s3", **session)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=function_env["RAW_BUCKET_NAME"], Prefix="raw/"):
            for obj in page.get("Contents", []):
                (local / obj["Key"]).parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(function_env["RAW_BUCKET_NAME"], obj["Key"], str(local / obj["Key"]))
        code = ("import json, sys\nfrom dbt_runner import handler\n"
                "try:\n    print(json.dumps({'ok': True, 'body': handler.handler(json.loads(sys.argv[1]))}))\n"
                "except handler.DbtRunFailed as e:\n    print(json.dumps({'ok': False, 'body': {'errorType': 'DbtRunFailed', 'errorMessage': str(e)}}))\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DBT_"))}
        env.update(function_env, **CREDENTIALS, AWS_ENDPOINT_URL=self.emulator.endpoint, AWS_CA_BUNDLE=str(self.emulator.ca_bundle),
                   AWS_REGION=runner.region, DBT_TARGET="local", LOCAL_DATA_DIR=str(local), DBT_LOG_LEVEL="warn")
        done = subprocess.run([sys.executable, "-c", code, json.dumps(event)], env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
        self.log.write(f"$ {command}  (equivalent)\n{done.stdout[-3000:]}\n--- stderr ---\n{done.stderr[-3000:]}\n\n")
        if done.returncode != 0:
            raise StepFailed(f"the runner's handler failed:\n{done.stderr[-1500:]}")
        answer = json.loads(done.stdout.strip().splitlines()[-1])
        lines = invoke.summary_lines(runner.function_name, answer["ok"], answer["body"])
        if not answer["ok"]:
            raise StepFailed("\n".join(lines))
        return lines[0].split(": ", 1)[1].split("  (")[0] + ", " + lines[1].strip()


def _keys() -> dict[str, str]:
    return {"aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"], "aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"]}


def run_step(walk: Walkthrough, step: Step) -> tuple[str, str]:
    """(verdict, detail): `ran`, or `ran-equivalent (<reasons>)`."""
    reasons, details = [], []
    for command in step.commands:
        found = equivalent_for(command)
        if found is None:
            walk.shell(command)
            continue
        name, reason = found
        reasons.append(reason)
        details.append(getattr(walk, name)(command))
    verdict = f"ran-equivalent ({'; '.join(dict.fromkeys(reasons))})" if reasons else "ran"
    return verdict, "; ".join(details)


def main(argv: list[str] | None = None) -> int:
    steps = readme_steps(README.read_text())
    started = time.monotonic()
    shutil.rmtree(LOGS, ignore_errors=True)
    LOGS.mkdir(parents=True)
    print(f"README walkthrough: {len(steps)} steps as written against moto (equivalents: scripts/rehearse/gaps.py)", flush=True)
    failed = None
    with tempfile.TemporaryDirectory(prefix="walkthrough-") as tmp, Emulator(LOGS / "moto.log") as emulator:
        walk = Walkthrough(emulator, Path(tmp))
        try:
            for step in steps:
                if failed:
                    print(f"  {step.title:<70} skipped")
                    continue
                t0 = time.monotonic()
                try:
                    verdict, detail = run_step(walk, step)
                except (StepFailed, subprocess.TimeoutExpired, KeyError, ValueError, OSError) as error:
                    failed = f"{step.title}: {error}"
                    verdict, detail = "FAILED", str(error).splitlines()[0]
                line = f"  {step.title:<70} {time.monotonic() - t0:5.1f} s  {verdict}" + (f"  [{detail}]" if detail else "")
                print(line, flush=True)
                (LOGS / "steps.txt").open("a").write(line + "\n")
        finally:
            _leave_clean(walk)
    print(f"wall time {time.monotonic() - started:.1f} s; logs in {LOGS.relative_to(ROOT)}/")
    if failed:
        print(f"FAILED: {failed}")
        return 1
    return 0


def _leave_clean(walk: Walkthrough) -> None:
    """No trace of the emulator for a later real deploy: its backend in cdktf.out, the files the block wrote."""
    walk.log.close()
    for env in ("dev", "prod"):
        shutil.rmtree(ROOT / "cdktf.out" / "stacks" / env / ".terraform", ignore_errors=True)
    shutil.rmtree(WORK, ignore_errors=True)
    for name in ("build/chinook.db", "build/ingest.json"):
        (ROOT / name).unlink(missing_ok=True)
    # Re-synthesize without the scratch records, so cdktf.out holds the CI stacks again.
    env = {k: v for k, v in walk.shell_env.items() if not k.startswith(("AWS_", "TF_"))}
    subprocess.run(["npx", "cdktf", "synth"], cwd=ROOT, env={**env, "BOOTSTRAP_RECORD_DIR": str(walk.scratch / "none")},
                   capture_output=True, timeout=300, stdin=subprocess.DEVNULL)


if __name__ == "__main__":
    sys.exit(main())
