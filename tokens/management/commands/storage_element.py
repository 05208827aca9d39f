"""python manage.py storage_element add <name> --audience URL [--base-path /data] ... | list |
disable <name> | enable <name>"""

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from tokens.issuer.services import storage_element_create, storage_element_set_enabled
from tokens.models import StorageElement


class Command(BaseCommand):
    help = "The storage elements Gatehouse issues tokens for and inspects tokens against."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        add = actions.add_parser("add", help="Register a storage element.")
        add.add_argument("name")
        add.add_argument(
            "--audience",
            action="append",
            required=True,
            help="An `aud` it accepts (repeat for more; tokens carry the first).",
        )
        add.add_argument(
            "--base-path", default="/", help="Where Gatehouse's issuer area starts there."
        )
        add.add_argument("--endpoint", action="append", default=[], help="A URL (repeatable).")
        add.add_argument(
            "--lifetime-minutes", type=int, default=20, help="Token lifetime (at most 360)."
        )
        add.add_argument("--tape", action="store_true", help="Everything there is on tape.")
        add.add_argument(
            "--tape-path", action="append", default=[], help="A path on tape (repeatable)."
        )
        actions.add_parser("list", help="List storage elements.")
        for verb in ("disable", "enable"):
            actions.add_parser(verb, help=f"{verb.title()} a storage element.").add_argument("name")

    def handle(self, *args, action, **options):
        try:
            getattr(self, f"_{action}")(**options)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc

    def _add(self, *, name, audience, base_path, endpoint, lifetime_minutes, tape, tape_path, **_):
        element = storage_element_create(
            name=name,
            audiences=audience,
            base_path=base_path,
            endpoints=endpoint,
            max_lifetime=timedelta(minutes=lifetime_minutes),
            tape=tape,
            tape_paths=tape_path,
        )
        self.stdout.write(
            f"Storage element {element.name} added: audience {element.audience}, base path "
            f"{element.base_path}, tokens for {lifetime_minutes} minutes."
        )

    def _element(self, name: str) -> StorageElement:
        element = StorageElement.objects.filter(name=name).first()
        if element is None:
            raise CommandError(
                f"There is no storage element {name!r}: see `manage.py storage_element list`."
            )
        return element

    def _disable(self, *, name, **_):
        storage_element_set_enabled(storage_element=self._element(name), enabled=False)
        self.stdout.write(f"Storage element {name} disabled: no tokens are issued for it.")

    def _enable(self, *, name, **_):
        storage_element_set_enabled(storage_element=self._element(name), enabled=True)
        self.stdout.write(f"Storage element {name} enabled.")

    def _list(self, **_):
        self.stdout.write(f"{'name':20} {'state':8} {'base path':24} {'lifetime':9} audiences")
        for element in StorageElement.objects.order_by("name"):
            minutes = int(element.max_lifetime.total_seconds() // 60)
            state = "enabled" if element.enabled else "disabled"
            self.stdout.write(
                f"{element.name:20} {state:8} {element.base_path:24} {f'{minutes} min':9} "
                + " ".join(element.audiences)
            )
