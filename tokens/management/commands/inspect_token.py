"""`manage.py inspect_token`: the token inspector for operators and scripts.

Reads the token from stdin (never from argv, where other users and shell history see it).
Exit status: 0 valid (and every --path allowed), 1 invalid or a --path denied, 2 usage error.
"""

import argparse
import json
import sys

from django.core.management.base import BaseCommand, CommandError

from tokens.inspect import inspect
from tokens.inspection import MAX_TOKEN_CHARS, STORAGE_OPERATIONS

USAGE_ERROR = 2


def _operation_and_path(value: str) -> tuple[str, str]:
    operation, sep, path = value.partition(":")
    operation = operation.removeprefix("storage.")
    if not sep or operation not in STORAGE_OPERATIONS or not path:
        raise CommandError(
            f"--path {value!r} is not OP:PATH; use one of {', '.join(STORAGE_OPERATIONS)}, "
            "e.g. --path read:/data/run1/file",
            returncode=USAGE_ERROR,
        )
    return operation, path


class Command(BaseCommand):
    requires_system_checks = []  # a pure tool: no database, nothing to check first
    help = (
        "Inspect a JWT access token read from stdin: print the checklist and what it allows. "
        "Exit 0 valid, 1 invalid (or a --path denied), 2 usage error."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--audience",
            help="target: a storage URL, 'rucio', or se:<name> of a configured storage element",
        )
        parser.add_argument(
            "--path",
            action="append",
            default=[],
            metavar="OP:PATH",
            help="ask whether the token may do OP on PATH (repeatable), e.g. read:/data/f",
        )
        parser.add_argument("--scope", help="a scope the token must carry")
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        # Caught here rather than by argparse, whose error message would repeat the token.
        parser.add_argument("on_command_line", nargs="*", help=argparse.SUPPRESS)

    def handle(self, *args, **options):
        if options["on_command_line"]:
            raise CommandError(
                "A token on the command line shows in `ps` and shell history, so it is not "
                "read from there; pipe it on stdin instead (and treat this one as exposed).",
                returncode=USAGE_ERROR,
            )
        questions = [_operation_and_path(value) for value in options["path"]]
        if sys.stdin is None or sys.stdin.isatty():
            raise CommandError(
                "Pipe the token on stdin, e.g. `oidc-token wlcg | manage.py inspect_token`; "
                "it is never taken from the command line.",
                returncode=USAGE_ERROR,
            )
        try:
            raw = sys.stdin.read(4 * MAX_TOKEN_CHARS + 1)
        except UnicodeDecodeError:
            raise CommandError(
                "stdin is not UTF-8 text, so it holds no token: pipe the token itself.",
                returncode=USAGE_ERROR,
            ) from None
        if not raw.strip():
            raise CommandError(
                "stdin was empty: pipe one token into the command.", returncode=USAGE_ERROR
            )
        report = inspect(raw, target=options["audience"], expected_scope=options["scope"])
        inspection = report.inspection
        capabilities = report.capabilities
        decisions = [
            (operation, path, capabilities.may(operation, path) if capabilities else None)
            for operation, path in questions
        ]
        allowed = all(decision and decision.allowed for _op, _path, decision in decisions)
        if options["json"]:
            body = inspection.to_dict()
            body["target"] = report.target
            body["decisions"] = [
                {
                    "operation": op,
                    "path": path,
                    "allowed": bool(decision and decision.allowed),
                    "rule": decision.rule if decision else "The token could not be read.",
                }
                for op, path, decision in decisions
            ]
            self.stdout.write(json.dumps(body, indent=2, ensure_ascii=False))
        else:
            self._print_text(report, decisions)
        if not inspection.valid or not allowed:
            sys.exit(1)

    def _print_text(self, report, decisions):
        inspection = report.inspection
        self.stdout.write(f"token   {inspection.fingerprint}")
        if inspection.issuer:
            self.stdout.write(f"issuer  {inspection.issuer.label}")
        for check in inspection.checks:
            self.stdout.write(f"{check.status.upper():<5} {check.id:<14} {check.explanation}")
        for operation, path, decision in decisions:
            verdict = "ALLOW" if decision and decision.allowed else "DENY"
            rule = decision.rule if decision else "The token could not be read."
            self.stdout.write(f"{verdict:<5} {operation}:{path}  {rule}")
        verdict = "VALID" if inspection.valid else "INVALID"
        self.stdout.write(
            self.style.SUCCESS(verdict) if inspection.valid else self.style.ERROR(verdict)
        )
