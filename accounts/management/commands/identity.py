"""manage.py identity add|list|remove — OIDC and X.509 identities, in the spirit of rucio-admin."""

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from accounts.identities import normalise_identity
from accounts.management.commands._base import SubcommandsCommand, write_json, write_table
from accounts.models import Identity
from accounts.selectors import identities_list, identity_find
from accounts.services import identity_add, identity_remove

TYPES = [Identity.Type.OIDC, Identity.Type.X509]


def identity_json(identity: Identity) -> dict:
    return {
        "account": identity.account.name,
        "type": identity.type,
        "identity": identity.identity,
        "email": identity.email,
        "source": identity.source,
        "idp": identity.idp,
        "created": identity.created.isoformat(),
    }


class Command(SubcommandsCommand):
    help = "Add, list and remove the OIDC and X.509 identities of accounts."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

        add = actions.add_parser("add", help="Link an identity to an account.")
        add.add_argument("--account", required=True)
        add.add_argument("--type", required=True, choices=TYPES)
        add.add_argument(
            "--id",
            required=True,
            dest="identity",
            help="OIDC: 'SUB=<sub>, ISS=<issuer>'; X509: a DN in slash or RFC 2253 form.",
        )
        add.add_argument("--email", default="")
        add.add_argument("--idp", default="", help="Provider nickname (OIDC; found from ISS).")

        listing = actions.add_parser("list", help="List identities.")
        listing.add_argument("--account")
        listing.add_argument("--type", choices=TYPES)

        remove = actions.add_parser("remove", help="Unlink an identity from an account.")
        remove.add_argument("--account", required=True)
        remove.add_argument("--type", required=True, choices=TYPES)
        remove.add_argument("--id", required=True, dest="identity")
        remove.add_argument(
            "--force",
            action="store_true",
            help="Remove even the last OIDC identity of a user account (it can no longer log in).",
        )

        for sub in (add, listing, remove):
            sub.add_argument("--json", action="store_true", help="Print JSON for scripts.")

    def _normalised(self, type: str, identity: str) -> str:
        try:
            return normalise_identity(type=type, identity=identity)
        except ValueError as exc:
            raise CommandError(str(exc)) from None

    def handle_add(self, *, account, type, identity, email, idp, **options):
        linked = identity_add(
            account=self.account(account),
            type=type,
            identity=self._normalised(type, identity),
            email=email,
            idp=idp,
            actor=None,
        )
        if options["json"]:
            write_json(self.stdout, identity_json(linked))
        else:
            self.stdout.write(f"Linked {linked.type} identity {linked.identity} to {account}.")

    def handle_list(self, *, account, type, **options):
        identities = identities_list(account=self.account(account) if account else None)
        if type:
            identities = identities.filter(type=type)
        identities = list(identities)
        if options["json"]:
            write_json(self.stdout, [identity_json(i) for i in identities])
            return
        if not identities:
            self.stdout.write("No identities match.")
            return
        write_table(
            self.stdout,
            ["ACCOUNT", "TYPE", "SOURCE", "IDP", "ADDED", "IDENTITY"],
            [
                [
                    i.account.name,
                    i.type,
                    i.source,
                    i.idp or "-",
                    f"{i.created:%Y-%m-%d}",
                    i.identity,
                ]
                for i in identities
            ],
        )

    def handle_remove(self, *, account, type, identity, force, **options):
        owner = self.account(account)
        value = self._normalised(type, identity)
        found = identity_find(type=type, identity=value)
        if found is None or found.account_id != owner.pk:
            elsewhere = f" (it belongs to account '{found.account.name}')" if found else ""
            raise CommandError(
                f"Account '{account}' has no {type} identity {value}{elsewhere}; "
                f"see `manage.py identity list --account {account}`."
            )
        try:
            identity_remove(identity=found, actor=None, allow_last=force)
        except ValidationError as exc:
            if exc.code == "last_login_identity":
                raise CommandError(
                    f"{' '.join(exc.messages)} Use --force to remove it anyway."
                ) from None
            raise
        if options["json"]:
            write_json(self.stdout, {**identity_json(found), "removed": True})
        else:
            self.stdout.write(f"Removed {type} identity {value} from {account}.")
