"""python manage.py rucio_sync [--dry-run] [--force] [--verify] [--account NAME]"""

from django.core.management.base import BaseCommand, CommandError

from accounts.models import SyncRun
from accounts.rucio.sync import RucioNotConfigured, SyncBusy, rucio_sync

BAR = 30


class Command(BaseCommand):
    help = "Make Rucio hold Gatehouse's USER accounts, their e-mail, status and identities."

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="say what would change; change nothing"
        )
        parser.add_argument(
            "--force", action="store_true", help="apply even past the suspension failsafe"
        )
        parser.add_argument(
            "--verify",
            action="store_true",
            help="re-read every account's identities from Rucio (finds changes made by hand)",
        )
        parser.add_argument("--account", help="reconcile only this account")

    def handle(self, *args, dry_run=False, force=False, verify=False, account=None, **options):
        try:
            run = rucio_sync(
                dry_run=dry_run,
                force=force,
                verify=verify,
                only=account,
                triggered_by="command",
                progress=self._progress if options["verbosity"] > 0 else None,
            )
        except (SyncBusy, RucioNotConfigured) as exc:
            raise CommandError(str(exc)) from exc
        style = self.style.SUCCESS if run.outcome in ("success", "dry-run") else self.style.ERROR
        self.stdout.write(style(f"Rucio sync: {run.get_outcome_display()}"))
        for key, value in run.counts.items():
            if isinstance(value, int):
                self.stdout.write(f"  {key.replace('_', ' '):<20} {value}")
        for line in run.counts.get("report", []):
            self.stdout.write(f"  - {line}")
        if run.error:
            self.stdout.write(self.style.ERROR(run.error))
        if run.outcome in (SyncRun.Outcome.FAILED, SyncRun.Outcome.HALTED):
            raise CommandError("The Rucio sync did not complete (see above).")

    def _progress(self, what: str, done: int, total: int) -> None:
        filled = BAR * done // total if total else BAR
        bar = "#" * filled + "." * (BAR - filled)
        end = "\n" if done >= total else ""
        self.stderr.write(f"\r{what:>10} [{bar}] {done}/{total}", ending=end)
        self.stderr.flush()
