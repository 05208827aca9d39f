"""python manage.py issuer_key create [--alg RS256] | rotate | retire <kid> [--now] | list"""

from django.core.management.base import BaseCommand, CommandError

from tokens.issuer.keys import (
    issuer_key_create,
    issuer_key_retire,
    issuer_key_rotate,
    published_keys,
)
from tokens.models import IssuerKey


def _when(value) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value else "-"


class Command(BaseCommand):
    help = "Signing keys of Gatehouse's storage-token issuer (published at /oauth/jwks)."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser(
            "create", help="Make a key: active if none is, else the next one (published early)."
        )
        create.add_argument("--alg", choices=IssuerKey.Alg.values, default=IssuerKey.Alg.ES256)
        actions.add_parser(
            "rotate", help="Next key becomes active, active retires, a new next key is made."
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

    def _rotate(self, **options):
        key = issuer_key_rotate()
        self.stdout.write(
            f"Issuer key {key.kid} is now active; the previous key stays published until its "
            "tokens expire plus the storage key-cache time."
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
