"""Shared by the account and identity commands: subcommand dispatch, tables and JSON output."""

import json
from collections.abc import Iterable, Sequence

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, OutputWrapper

from accounts.models import Account
from accounts.selectors import account_find


def write_table(
    out: OutputWrapper, headers: Sequence[str], rows: Iterable[Sequence[object]]
) -> None:
    """Columns padded to their widest cell; the last column is left ragged."""
    cells = [[("" if v is None else str(v)) for v in row] for row in rows]
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]
    for line in [list(headers), *cells]:
        padded = [cell.ljust(width) for cell, width in zip(line[:-1], widths, strict=False)]
        out.write("  ".join([*padded, line[-1]]).rstrip())


def write_json(out: OutputWrapper, data: object) -> None:
    out.write(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def refusal(exc: ValidationError) -> CommandError:
    """A service's refusal as the command's error, in the same sentences."""
    if hasattr(exc, "error_dict"):
        text = " ".join(
            message if field == "__all__" else f"{field}: {message}"
            for field, messages in exc.message_dict.items()
            for message in messages
        )
    else:
        text = " ".join(exc.messages)
    return CommandError(text)


class SubcommandsCommand(BaseCommand):
    """`manage.py <command> <action> ...`: runs handle_<action>; service refusals exit 1."""

    def handle(self, *args, action: str, **options):
        try:
            getattr(self, f"handle_{action}")(**options)
        except ValidationError as exc:
            raise refusal(exc) from None

    def account(self, name: str) -> Account:
        account = account_find(name=name)
        if account is None:
            raise CommandError(f"There is no account '{name}'; see `manage.py account list`.")
        return account
