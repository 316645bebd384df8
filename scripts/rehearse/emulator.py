"""moto's server mode over TLS on a free 127.0.0.1 port, with the patches and answers listed in gaps.py.

    python -m scripts.rehearse.emulator --port 5123 --cert c.pem --key k.pem   # serve until stopped

`Emulator()` is the harness's handle: it makes a certificate for 127.0.0.1, starts this launcher
as a child process, waits until it answers, and always stops it on exit. Clients trust the
certificate through `ca_bundle` (SSL_CERT_FILE for Terraform, NODE_EXTRA_CA_CERTS for Node,
`verify=` for boto3), so every request is HTTPS, as the stacks' TLS-only bucket policies demand.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import ssl
import subprocess
import sys
import time
import types
import urllib.request
from pathlib import Path


def _patch_logging_policy_check() -> None:
    """moto reads `Principal.Service` of every policy statement and crashes on `"Principal": "*"`."""
    from moto.s3.models import FakeBucket

    original = FakeBucket._log_permissions_enabled_policy

    def check(target_bucket, target_prefix):
        policy = target_bucket.policy
        if policy:
            document = json.loads(policy.decode() if isinstance(policy, bytes) else policy)
            statements = [s for s in document.get("Statement", []) if isinstance(s.get("Principal"), dict)]
            policy = json.dumps({**document, "Statement": statements}).encode()
        view = types.SimpleNamespace(policy=policy, partition=target_bucket.partition, name=target_bucket.name)
        return original(view, target_prefix)

    FakeBucket._log_permissions_enabled_policy = staticmethod(check)


def _patch_conditioned_statements() -> None:
    """moto checks bucket policies without any request context and treats a statement whose
    Condition it cannot verify as a Deny, so our TLS-only deny refuses every request, TLS or not.

    Here a conditioned statement does not apply, which on this TLS-only server is what AWS does
    for every conditioned statement the stacks write: the TLS-only deny (aws:SecureTransport is
    never "false" over TLS) and the log-delivery allow (its principal is S3's logging service,
    never the rehearsal's caller). Unconditioned statements are evaluated by moto unchanged.
    """
    from moto.iam.access_control import PermissionResult
    from moto.s3.models import FakeBucket

    original = FakeBucket.get_permission

    def get_permission(self, action, resource):
        if self.policy is None:
            return original(self, action, resource)
        document = json.loads(self.policy.decode() if isinstance(self.policy, bytes) else self.policy)
        statements = document.get("Statement", [])
        statements = [statements] if isinstance(statements, dict) else statements
        kept = [s for s in statements if not s.get("Condition")]
        if not kept:
            return PermissionResult.NEUTRAL
        view = types.SimpleNamespace(policy=json.dumps({**document, "Statement": kept}).encode())
        return original(view, action, resource)

    FakeBucket.get_permission = get_permission


def _patch_delete_marker_dispose() -> None:
    """moto 5.2.5 crashes (HTTP 500) deleting the last version of a key whose other entry is a
    delete marker: `FakeDeleteMarker` has no `dispose()`. A marker holds no buffer to free."""
    from moto.s3.models import FakeDeleteMarker

    if not hasattr(FakeDeleteMarker, "dispose"):
        FakeDeleteMarker.dispose = lambda self, garbage=False: None


#: A new account's default Lambda concurrency quota; moto enforces Lambda's 100-unreserved rule against it.
LAMBDA_CONCURRENCY_QUOTA = 1000


def _account_settings(app):
    """moto 5.2.5 has no Lambda GetAccountSettings (bootstrap's preflight calls it). This answers
    it as AWS does for an account with the default quota, net of the functions' reservations."""
    from moto.awslambda.models import lambda_backends

    def serve(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") != "GET" or path.rstrip("/") != "/2016-08-19/account-settings":
            return app(environ, start_response)
        region = _region_of(environ.get("HTTP_AUTHORIZATION", ""))
        reserved = 0
        for account in list(lambda_backends):
            if region in lambda_backends[account]:
                reserved += sum(int(f.reserved_concurrency or 0) for f in lambda_backends[account][region].list_functions())
        body = json.dumps({
            "AccountLimit": {
                "ConcurrentExecutions": LAMBDA_CONCURRENCY_QUOTA,
                "UnreservedConcurrentExecutions": LAMBDA_CONCURRENCY_QUOTA - reserved,
                "CodeSizeUnzipped": 262144000, "CodeSizeZipped": 52428800, "TotalCodeSize": 80530636800,
            },
            "AccountUsage": {"FunctionCount": 0, "TotalCodeSize": 0},
        }).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    return serve


def _test_event_pattern(app):
    """moto 5.2.5 accepts EventBridge TestEventPattern but answers nothing. This answers it with
    moto's own matcher, the one that routes PutEvents to the rules' targets."""
    from moto.events.models import EventPattern, EventPatternParser

    def serve(environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET") != "AWSEvents.TestEventPattern":
            return app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        request = json.loads(environ["wsgi.input"].read(length) or b"{}")
        pattern = EventPatternParser(request["EventPattern"]).parse()
        matched = EventPattern(request["EventPattern"], pattern).matches_event(json.loads(request["Event"]))
        body = json.dumps({"Result": matched}).encode()
        start_response("200 OK", [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(body)))])
        return [body]

    return serve


def _validate_state_machine_definition(app):
    """moto 5.2.5 has no Step Functions ValidateStateMachineDefinition, which the aws provider calls
    before it creates or updates a state machine (moto answers 500 and the provider retries for
    ever). This answers it with the structural checks a definition must pass: JSON, StartAt and
    every transition naming a state. The full Amazon States Language check is asl-validator's
    (stacks/state-machine-definition.test.ts)."""

    def serve(environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET") != "AWSStepFunctions.ValidateStateMachineDefinition":
            return app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        request = json.loads(environ["wsgi.input"].read(length) or b"{}")
        problems = definition_problems(request.get("definition", ""))
        diagnostics = [{"severity": "ERROR", "code": "SCHEMA_VALIDATION_FAILED", "message": p} for p in problems]
        body = json.dumps({"result": "FAIL" if problems else "OK", "diagnostics": diagnostics}).encode()
        start_response("200 OK", [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(body)))])
        return [body]

    return serve


def _list_state_machine_versions(app):
    """moto 5.2.5 has no Step Functions ListStateMachineVersions, which the aws provider calls when it
    reads a state machine back (moto answers 500 and the provider retries for ever). The stacks never
    publish versions, so this answers as AWS does for such a state machine: no versions."""

    def serve(environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET") != "AWSStepFunctions.ListStateMachineVersions":
            return app(environ, start_response)
        body = json.dumps({"stateMachineVersions": []}).encode()
        start_response("200 OK", [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(body)))])
        return [body]

    return serve


def definition_problems(text: str) -> list[str]:
    """What makes a state machine definition unusable: not JSON, no StartAt, a transition to no state."""
    try:
        definition = json.loads(text)
    except ValueError as err:
        return [f"definition is not JSON: {err}"]
    states = definition.get("States") if isinstance(definition, dict) else None
    if not isinstance(states, dict) or not states:
        return ["definition has no States"]
    problems = [] if definition.get("StartAt") in states else [f"StartAt {definition.get('StartAt')!r} is no state"]
    for name, state in states.items():
        targets = [state.get("Next"), state.get("Default")]
        targets += [rule.get("Next") for rule in state.get("Choices", [])]
        targets += [catcher.get("Next") for catcher in state.get("Catch", [])]
        problems += [f"state {name!r}: transition to {t!r}, which is no state" for t in targets if t is not None and t not in states]
    return problems


def _region_of(authorization: str) -> str:
    # SigV4: Credential=<key>/<date>/<region>/<service>/aws4_request
    parts = authorization.split("Credential=", 1)[-1].split("/")
    return parts[2] if len(parts) > 3 else "us-east-1"


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, valid for a day, that clients can trust as a root."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rehearsal emulator 127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, crl_sign=False, encipher_only=False,
                          decipher_only=False),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = directory / "emulator-cert.pem", directory / "emulator-key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Emulator:
    """A moto server for the length of a `with` block."""

    def __init__(self, log_file: Path, start_timeout: float = 30.0):
        self.port = free_port()
        self.endpoint = f"https://127.0.0.1:{self.port}"
        self.log_file = log_file
        self.ca_bundle, self._key = make_certificate(log_file.parent)
        self.start_timeout = start_timeout
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "Emulator":
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_file.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", __spec__.name, "--port", str(self.port), "--cert", str(self.ca_bundle), "--key", str(self._key)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        trust = ssl.create_default_context(cafile=str(self.ca_bundle))
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto exited with {self.process.returncode}; see {self.log_file}")
            try:
                urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=2, context=trust).close()
                return self
            except OSError:
                time.sleep(0.1)
        self.__exit__(None, None, None)
        raise RuntimeError(f"moto did not answer on {self.endpoint} within {self.start_timeout:.0f} s")

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    args = parser.parse_args()
    os.environ["MOTO_LAMBDA_CONCURRENCY_QUOTA"] = str(LAMBDA_CONCURRENCY_QUOTA)
    os.environ["MOTO_PORT"] = str(args.port)
    from scripts.rehearse.gaps import EMULATOR_ANSWERS, EMULATOR_PATCHES
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import run_simple

    for patch in EMULATOR_PATCHES:
        globals()[patch]()
    # As moto.server.main serves, with the missing APIs answered in front of it.
    app = DomainDispatcherApplication(create_backend_app)
    for answer in EMULATOR_ANSWERS:
        app = globals()[answer](app)
    run_simple("127.0.0.1", args.port, app, threaded=True,
               ssl_context=(args.cert, args.key), request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
