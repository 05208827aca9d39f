"""manage.py issuer_key create [--alg RS256] | rotate [--force] | retire <kid> [--now] | list"""

from django.core.management.base import BaseCommand, CommandError

from tokens.issuer.keys import (
    issuer_key_create,
    issuer_key_retire,
    issuer_key_rotate,
    key_cache_time,
    published_keys,
)
from tokens.models import IssuerKey


def _when(value) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value else "-"


def _minutes() -> int:
    return int(key_cache_time().total_seconds() // 60)


class Command(BaseCommand):
    help = "Signing keys of Gatehouse's storage-token issuer (published at /oauth/jwks)."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser(
            "create",
            help="Make the next key (published early); on a new issuer the active key and a next.",
        )
        create.add_argument("--alg", choices=IssuerKey.Alg.values, default=IssuerKey.Alg.ES256)
        rotate = actions.add_parser(
            "rotate",
            help="Next key becomes active, active retires, a new next key is made. Refused "
            "until the next key has been published for the storage key-cache time.",
        )
        rotate.add_argument(
            "--force",
            action="store_true",
            help="Rotate anyway (a leaked key): storage that has not refetched the key set "
            "refuses the new key's tokens until its key cache expires.",
        )
        retire = actions.add_parser("retire", help="Retire a next or retired key.")
        retire.add_argument("kid")
        retire.add_argument(
            "--now",
            action="store_true",
            help="Take it out of the JWKS at once (a leaked key; its tokens stop working).",
        )
        actions.add_parser("list", help="Every key, its state and whether the JWKS names it.")

    def handle(self, *args, action, **options):
        try:
            getattr(self, f"_{action}")(**options)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc

    def _create(self, *, alg, **options):
        key = issuer_key_create(alg=alg)
        self.stdout.write(f"Issuer key {key.kid} ({key.alg}) created: {key.state}.")
        if key.state == IssuerKey.State.ACTIVE:
            for waiting in IssuerKey.objects.filter(state=IssuerKey.State.NEXT):
                self.stdout.write(
                    f"Issuer key {waiting.kid} ({waiting.alg}) is the next key, published now; "
                    f"`issuer_key rotate` may activate it after {_minutes()} minutes."
                )

    def _rotate(self, *, force, **options):
        key = issuer_key_rotate(force=force)
        self.stdout.write(
            f"Issuer key {key.kid} is now active; the previous key stays published until its "
            "tokens expire plus the storage key-cache time, and a new next key is published."
        )
        if force and key.activated - key.created < key_cache_time():
            self.stderr.write(
                "Forced: storage that has not refetched the key set since this key was "
                f"published refuses its tokens for up to {_minutes()} minutes. For a leaked key, "
                "also run `issuer_key retire <old kid> --now`."
            )

    def _retire(self, *, kid, now, **options):
        key = issuer_key_retire(kid=kid, now=now)
        shown = "removed from the JWKS" if now else "retired"
        self.stdout.write(f"Issuer key {key.kid} {shown}.")

    def _list(self, **options):
        published = {key.kid for key in published_keys()}
        self.stdout.write(f"{'kid':44} {'alg':6} {'state':8} {'created':16} {'expires':16} jwks")
        for key in IssuerKey.objects.order_by("-created"):
            self.stdout.write(
                f"{key.kid:44} {key.alg:6} {key.state:8} {_when(key.created):16} "
                f"{_when(key.last_expiry):16} {'yes' if key.kid in published else 'no'}"
            )
