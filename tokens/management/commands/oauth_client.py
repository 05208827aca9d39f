"""python manage.py oauth_client add <client_id> ... | list | reset-secret <id> | disable <id>"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.selectors import account_find
from tokens.issuer.services import (
    oauth_client_create,
    oauth_client_disable,
    oauth_client_secret_reset,
)
from tokens.models import OAuthClient

GRANTS = {"exchange": OAuthClient.Grant.TOKEN_EXCHANGE, "client_credentials": "client_credentials"}


class Command(BaseCommand):
    help = "Services allowed to ask Gatehouse for storage tokens (secrets shown once)."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        add = actions.add_parser("add", help="Register a client and print its secret once.")
        add.add_argument("client_id")
        add.add_argument("--grant", action="append", choices=sorted(GRANTS), required=True)
        add.add_argument("--storage-element", action="append", required=True, help="Repeatable.")
        add.add_argument(
            "--path-prefix",
            action="append",
            required=True,
            help="Relative to each element's base path (repeatable).",
        )
        add.add_argument(
            "--operation",
            action="append",
            default=[],
            choices=["read", "create", "modify", "stage"],
            help="For its own service account (client_credentials).",
        )
        add.add_argument("--act-for-users", action="store_true")
        add.add_argument("--service-account", help="Account name for client_credentials.")
        actions.add_parser("list", help="List clients.")
        actions.add_parser("reset-secret", help="Print a new secret once.").add_argument(
            "client_id"
        )
        actions.add_parser("disable", help="Refuse the client from now on.").add_argument(
            "client_id"
        )

    def handle(self, *args, action, **options):
        try:
            getattr(self, f"_{action.replace('-', '_')}")(**options)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc

    def _client(self, client_id: str) -> OAuthClient:
        client = OAuthClient.objects.filter(client_id=client_id).first()
        if client is None:
            raise CommandError(f"There is no client {client_id!r}: see `oauth_client list`.")
        return client

    def _add(self, *, client_id, grant, storage_element, path_prefix, operation, **options):
        service_account = None
        if options["service_account"]:
            service_account = account_find(name=options["service_account"])
            if service_account is None:
                raise CommandError(f"There is no account {options['service_account']!r}.")
        client, secret = oauth_client_create(
            client_id=client_id,
            grants=[GRANTS[g] for g in grant],
            audiences=storage_element,
            path_prefixes=path_prefix,
            operations=operation,
            may_act_for_users=options["act_for_users"],
            service_account=service_account,
        )
        self.stderr.write(
            f"Client {client.client_id} registered. This is the only time its secret is shown."
        )
        self.stdout.write(secret)

    def _reset_secret(self, *, client_id, **_):
        secret = oauth_client_secret_reset(client=self._client(client_id))
        self.stderr.write(f"New secret for {client_id}; the old one no longer works.")
        self.stdout.write(secret)

    def _disable(self, *, client_id, **_):
        oauth_client_disable(client=self._client(client_id))
        self.stdout.write(f"Client {client_id} disabled.")

    def _list(self, **_):
        for client in OAuthClient.objects.order_by("client_id"):
            grants = ",".join("exchange" if g != "client_credentials" else g for g in client.grants)
            self.stdout.write(
                f"{client.client_id:20} {'enabled' if client.enabled else 'disabled':8} "
                f"{grants:30} {' '.join(client.audiences):20} {' '.join(client.path_prefixes)}"
            )
