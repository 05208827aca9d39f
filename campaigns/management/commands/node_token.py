"""Node tokens for the storage nodes: create (prints the token once), list, rotate, revoke."""

import re
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from campaigns.models import NodeToken
from campaigns.services import node_token_create, node_token_revoke, node_token_rotate

UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def grace_period(text: str) -> timedelta:
    """`24h`, `90m`, `2d`, `0` -> a timedelta (argparse type)."""
    match = re.fullmatch(r"(\d{1,6})([smhd]?)", text.strip())
    if match is None:
        raise ValueError(text)
    number, unit = int(match.group(1)), match.group(2) or "s"
    return timedelta(**{UNITS[unit]: number})


grace_period.__name__ = "grace period such as 24h, 90m or 2d"


def _when(value) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value else "-"


class Command(BaseCommand):
    help = "Manage the tokens storage nodes use to fetch /exports/<format>."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser(
            "create", help="Create a token and print it once; only its hash is kept."
        )
        create.add_argument("name", help="The node's name, e.g. its host name.")
        actions.add_parser("list", help="List node tokens and when they were last used.")
        rotate = actions.add_parser(
            "rotate",
            help="Print a new token for the node; the old one keeps working for --grace.",
        )
        rotate.add_argument("name")
        rotate.add_argument(
            "--grace",
            type=grace_period,
            default=timedelta(hours=24),
            help="How long the old token stays valid: 24h (default), 90m, 2d, or 0 to stop it now.",
        )
        revoke = actions.add_parser("revoke", help="Refuse a node's token from now on.")
        revoke.add_argument("name")
        revoke.add_argument("--comment", default="", help="Why, for the audit log.")

    def handle(self, *args, action, **options):
        try:
            getattr(self, f"_{action}")(**options)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc

    def _create(self, *, name, **options):
        node_token, secret = node_token_create(name=name)
        self.stderr.write(
            f"Node token {node_token.name!r} created. This is the only time it is shown: "
            "install it on the node now."
        )
        self.stdout.write(secret)

    def _list(self, **options):
        now = timezone.now()
        self.stdout.write(f"{'name':24} {'state':8} {'hash':10} {'created':16} {'last used':16} ip")
        for token in NodeToken.objects.order_by("name", "-created"):
            name, digest, created = token.name, token.token_hash, token.created
            last_used_at, last_used_ip = token.last_used_at, token.last_used_ip
            state = token.state(now)
            if state == "grace":
                state = f"valid until {_when(token.revoked_at)} (rotated)"
            self.stdout.write(
                f"{name:24} {state:8} {digest[:8] + '…':10} {_when(created):16} "
                f"{_when(last_used_at):16} {last_used_ip or '-'}"
            )

    def _usable(self, name: str) -> NodeToken:
        """The node's active token, else one in its grace period (to revoke it early)."""
        tokens = [t for t in NodeToken.objects.filter(name=name) if t.state() != "revoked"]
        tokens.sort(key=lambda t: t.state() != "active")
        if not tokens:
            raise CommandError(
                f"There is no active node token named {name!r}: see `manage.py node_token list`."
            )
        return tokens[0]

    def _rotate(self, *, name, grace, **options):
        old = self._usable(name)
        new, secret = node_token_rotate(node_token=old, grace=grace)
        old.refresh_from_db()
        self.stderr.write(
            f"Node token {new.name!r} rotated. The old token works until "
            f"{_when(timezone.localtime(old.revoked_at))}; install this new one on the node "
            "before then. This is the only time it is shown."
        )
        self.stdout.write(secret)

    def _revoke(self, *, name, comment, **options):
        node_token_revoke(node_token=self._usable(name), comment=comment)
        self.stdout.write(f"Node token {name!r} revoked.")
