"""manage.py account add|list|suspend|reactivate|promote|demote — accounts, like rucio-admin."""

from django.core.management.base import CommandError

from accounts.management.commands._base import SubcommandsCommand, write_json, write_table
from accounts.models import Account
from accounts.selectors import account_find, accounts_list
from accounts.services import (
    account_create,
    account_demote,
    account_promote,
    account_reactivate,
    account_suspend,
)


def account_json(account: Account) -> dict:
    return {
        "name": account.name,
        "type": account.type,
        "status": account.status,
        "status_reason": account.status_reason,
        "email": account.email,
        "display_name": account.display_name,
        "uid": account.uid,
        "is_staff": account.is_staff,
        "created": account.created.isoformat(),
    }


class Command(SubcommandsCommand):
    help = "Add, list, suspend and reactivate accounts."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

        add = actions.add_parser("add", help="Create an account with a new POSIX uid.")
        add.add_argument("name", help="Account name: lowercase letters, digits, '-', '_'.")
        add.add_argument("--type", choices=Account.Type.values, default=Account.Type.USER)
        add.add_argument("--email", default="")
        add.add_argument("--display-name", default="", help="The person's name, for pages.")

        listing = actions.add_parser("list", help="List accounts.")
        listing.add_argument("--status", choices=Account.Status.values)
        listing.add_argument("--type", choices=Account.Type.values)

        suspend = actions.add_parser("suspend", help="Stop an account from logging in.")
        suspend.add_argument("name")
        suspend.add_argument("--reason", required=True, help="Why; kept with the account.")

        reactivate = actions.add_parser("reactivate", help="Let a suspended account log in.")
        reactivate.add_argument("name")
        reactivate.add_argument("--reason", default="", help="Why; kept in the audit log.")

        promote = actions.add_parser(
            "promote",
            help="Make an existing account (e.g. your own, after your first SSO login) an admin.",
        )
        promote.add_argument("name")
        promote.add_argument("--reason", default="", help="Why; kept in the audit log.")

        demote = actions.add_parser("demote", help="Take the admin role away from an account.")
        demote.add_argument("name")
        demote.add_argument("--reason", default="", help="Why; kept in the audit log.")

        for sub in (add, listing, suspend, reactivate, promote, demote):
            sub.add_argument("--json", action="store_true", help="Print JSON for scripts.")

    def _show(self, account: Account, options: dict, sentence: str) -> None:
        if options["json"]:
            write_json(self.stdout, account_json(account))
        else:
            self.stdout.write(sentence)

    def handle_add(self, *, name, type, email, display_name, **options):
        if account_find(name=name) is not None:
            raise CommandError(f"Account '{name}' already exists; choose another name.")
        account = account_create(
            name=name, type=type, email=email, display_name=display_name, actor=None
        )
        self._show(
            account, options, f"Added {account.type} account {account.name} (uid {account.uid})."
        )

    def handle_list(self, *, status, type, **options):
        accounts = list(accounts_list(status=status, type=type))
        if options["json"]:
            write_json(
                self.stdout,
                [{**account_json(a), "identities": a.identity_count} for a in accounts],
            )
            return
        if not accounts:
            self.stdout.write("No accounts match.")
            return
        write_table(
            self.stdout,
            ["NAME", "TYPE", "STATUS", "UID", "IDENTITIES", "EMAIL", "CREATED"],
            [
                [
                    a.name,
                    a.type,
                    a.status,
                    a.uid,
                    a.identity_count,
                    a.email or "-",
                    f"{a.created:%Y-%m-%d}",
                ]
                for a in accounts
            ],
        )

    def handle_suspend(self, *, name, reason, **options):
        account = account_suspend(account=self.account(name), reason=reason, actor=None)
        self._show(account, options, f"Suspended account {account.name}: {account.status_reason}")

    def handle_reactivate(self, *, name, reason, **options):
        account = account_reactivate(account=self.account(name), reason=reason, actor=None)
        self._show(account, options, f"Reactivated account {account.name}.")

    def handle_promote(self, *, name, reason, **options):
        account = account_promote(account=self.account(name), reason=reason, actor=None)
        self._show(
            account,
            options,
            f"Account {account.name} is an admin: it sees the admin pages after its next login.",
        )

    def handle_demote(self, *, name, reason, **options):
        account = account_demote(account=self.account(name), reason=reason, actor=None)
        self._show(account, options, f"Account {account.name} is no longer an admin.")
