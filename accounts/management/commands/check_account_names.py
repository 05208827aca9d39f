"""Report accounts whose names break the account name rule (they are left out of passwd/group)."""

from django.core.management.base import BaseCommand, CommandError

from accounts.management.commands._base import write_table
from accounts.models import ACCOUNT_NAME_RULE
from accounts.selectors import accounts_with_invalid_names


class Command(BaseCommand):
    help = (
        "List the accounts whose names are not valid today (for example a leading '-', which "
        "Rucio allowed but POSIX tools do not). The passwd and group exports leave them out. "
        "Exits non-zero when there is one."
    )

    def handle(self, *args, **options):
        accounts = accounts_with_invalid_names()
        if not accounts:
            self.stdout.write(self.style.SUCCESS("Every account name is valid."))
            return
        write_table(
            self.stdout,
            ["account", "uid", "status"],
            [(account.name, account.uid, account.status) for account in accounts],
        )
        raise CommandError(
            f"{len(accounts)} account name(s) are not valid, and the passwd and group exports "
            f"leave these accounts out. {ACCOUNT_NAME_RULE} Give these accounts valid names "
            "(their uids stay), then export again."
        )
