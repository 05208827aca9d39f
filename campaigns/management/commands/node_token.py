"""Node tokens for the storage nodes: create (prints the token once), list, revoke."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from campaigns.models import NodeToken
from campaigns.services import node_token_create, node_token_revoke


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
        rows = NodeToken.objects.order_by("name").values_list(
            "name", "token_hash", "created", "revoked_at", "last_used_at", "last_used_ip"
        )
        self.stdout.write(f"{'name':24} {'state':8} {'hash':10} {'created':16} {'last used':16} ip")
        for name, digest, created, revoked_at, last_used_at, last_used_ip in rows:
            state = "revoked" if revoked_at else "active"
            self.stdout.write(
                f"{name:24} {state:8} {digest[:8] + '…':10} {_when(created):16} "
                f"{_when(last_used_at):16} {last_used_ip or '-'}"
            )

    def _revoke(self, *, name, comment, **options):
        node_token = NodeToken.objects.filter(name=name).first()
        if node_token is None:
            raise CommandError(
                f"There is no node token named {name!r}: see `manage.py node_token list`."
            )
        node_token_revoke(node_token=node_token, comment=comment)
        self.stdout.write(f"Node token {name!r} revoked.")
