"""python manage.py scim_sync [--idp NICK] [--dry-run] [--force]"""

from django.core.management.base import BaseCommand, CommandError

from accounts.idps import get_provider
from accounts.models import SyncRun
from accounts.scim.sync import SyncBusy, SyncNotConfigured, scim_providers, scim_sync

BAR = 30


class Command(BaseCommand):
    help = "Read users and groups from IAM (SCIM); bring accounts, identities, groups up to date."

    def add_arguments(self, parser):
        parser.add_argument(
            "--idp", help="provider nickname (default: every one in GATEHOUSE_SCIM_IDPS)"
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="print what would change; change nothing"
        )
        parser.add_argument(
            "--force", action="store_true", help="apply even past the suspension failsafe"
        )

    def handle(self, *args, idp=None, dry_run=False, force=False, **options):
        nicknames = [idp] if idp else scim_providers()
        if not nicknames:
            raise CommandError(
                "No provider to sync: set GATEHOUSE_SCIM_IDPS (or GATEHOUSE_ADMIN_ISSUER), "
                "or name one with --idp."
            )
        failed = []
        for nickname in nicknames:
            provider = get_provider(nickname)
            if provider is None:
                raise CommandError(f"There is no provider {nickname!r} in idpsecrets.json.")
            try:
                run = scim_sync(
                    provider=provider,
                    dry_run=dry_run,
                    force=force,
                    triggered_by="command",
                    progress=self._progress if options["verbosity"] > 0 else None,
                )
            except (SyncBusy, SyncNotConfigured) as exc:
                raise CommandError(str(exc)) from exc
            self._report(run)
            if run.outcome in (SyncRun.Outcome.FAILED, SyncRun.Outcome.HALTED):
                failed.append(nickname)
        if failed:
            raise CommandError(f"The sync of {', '.join(failed)} did not complete (see above).")

    def _progress(self, what: str, done: int, total: int) -> None:
        filled = BAR * done // total if total else BAR
        bar = "#" * filled + "." * (BAR - filled)
        end = "\n" if done >= total else ""
        self.stderr.write(f"\r{what:>13} [{bar}] {done}/{total}", ending=end)
        self.stderr.flush()

    def _report(self, run: SyncRun) -> None:
        title = f"SCIM sync of {run.idp}: {run.get_outcome_display()}"
        style = self.style.SUCCESS if run.outcome in ("success", "dry-run") else self.style.ERROR
        self.stdout.write(style(title))
        for key, value in run.counts.items():
            if isinstance(value, int | float):
                self.stdout.write(f"  {key.replace('_', ' '):<28} {value}")
        lines = run.counts.get("would") or run.counts.get("report") or []
        if lines:
            self.stdout.write("Would change:" if run.outcome == "dry-run" else "Report:")
            for line in lines:
                self.stdout.write(f"  - {line}")
        if run.error:
            self.stdout.write(self.style.ERROR(run.error))
