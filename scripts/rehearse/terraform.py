"""Terraform as the rehearsal runs it: the machine's CLI, the provider mirror, a timeout on every step."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

#: A hung emulator must not hang CI: no step of a two-stack rehearsal takes this long here.
STEP_TIMEOUT_SECONDS = {"init": 120, "plan": 300, "apply": 600, "destroy": 600, "show": 60, "output": 60, "state": 60}

MIRROR_CANDIDATES = (Path("/opt/tf-plugins"), Path("/usr/share/terraform/plugins"), Path.home() / ".terraform.d/plugins")


class StepFailed(RuntimeError):
    """A rehearsal step did not do what a real deploy must; the message says what and where."""


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str


def provider_mirror() -> Path:
    """The filesystem mirror that holds hashicorp/aws (see gaps.AWS_PROVIDER_VERSION)."""
    from scripts.rehearse.gaps import AWS_PROVIDER_VERSION

    for root in MIRROR_CANDIDATES:
        if (root / "registry.terraform.io/hashicorp/aws" / AWS_PROVIDER_VERSION).is_dir():
            return root
    raise StepFailed(
        f"no Terraform provider mirror with hashicorp/aws {AWS_PROVIDER_VERSION} in "
        f"{', '.join(map(str, MIRROR_CANDIDATES))}; the rehearsal cannot download providers"
    )


def cli_config(path: Path) -> Path:
    """A CLI config that installs providers from the mirror only, never from the network."""
    path.write_text(
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path = "{provider_mirror()}"\n    include = ["registry.terraform.io/hashicorp/aws"]\n  }}\n'
        '  direct {\n    exclude = ["*/*"]\n  }\n'
        "}\n"
    )
    return path


class Terraform:
    def __init__(self, workdir: Path, env: dict[str, str], log_dir: Path):
        if shutil.which("terraform") is None:
            raise StepFailed("terraform is not on PATH (the rehearsal needs Terraform >= 1.11)")
        self.workdir = workdir
        self.env = env
        self.log_dir = log_dir

    def run(self, step: str, *args: str, check: bool = True) -> Result:
        command = ["terraform", f"-chdir={self.workdir}", *args]
        try:
            done = subprocess.run(
                command, env=self.env, capture_output=True, text=True, timeout=STEP_TIMEOUT_SECONDS[args[0]]
            )
        except subprocess.TimeoutExpired as error:
            self._log(step, error.stdout or "", error.stderr or "")
            raise StepFailed(f"terraform {args[0]} did not finish within {STEP_TIMEOUT_SECONDS[args[0]]} s") from None
        self._log(step, done.stdout, done.stderr)
        if check and done.returncode != 0:
            raise StepFailed(f"terraform {args[0]} exited {done.returncode}:\n{_errors(done.stderr or done.stdout)}")
        return Result(done.returncode, done.stdout, done.stderr)

    def json(self, step: str, *args: str):
        return json.loads(self.run(step, *args).stdout)

    def _log(self, step: str, stdout, stderr) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        text = lambda v: v.decode(errors="replace") if isinstance(v, bytes) else v  # noqa: E731
        (self.log_dir / f"{step}.log").write_text(f"{text(stdout)}\n--- stderr ---\n{text(stderr)}")


def _errors(output: str, limit: int = 12) -> str:
    """The `Error:` lines of Terraform's output, without colour codes."""
    import re

    clean = re.sub(r"\x1b\[[0-9;]*m", "", output)
    lines = [line.strip("│ ").rstrip() for line in clean.splitlines() if "Error:" in line]
    return "\n".join(lines[:limit]) or clean.strip()[-2000:]


def base_env(cli_config_file: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_"))}
    env.update(
        TF_CLI_CONFIG_FILE=str(cli_config_file),
        TF_IN_AUTOMATION="1",
        TF_INPUT="0",
        CHECKPOINT_DISABLE="1",
    )
    return env
