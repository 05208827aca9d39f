"""python manage.py cleanup_tokens [--dry-run] [--batch N]"""

from django.core.management.base import BaseCommand

from tokens.services import CLEANUP_BATCH, tokens_cleanup


class Command(BaseCommand):
    help = "Delete expired tokens (whose refresh token is expired or absent) and expired sessions."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="count; delete nothing")
        parser.add_argument("--batch", type=int, default=CLEANUP_BATCH, help="rows per transaction")

    def handle(self, *args, dry_run=False, batch=CLEANUP_BATCH, **options):
        report = tokens_cleanup(batch=batch, dry_run=dry_run)
        verb = "Would delete" if dry_run else "Deleted"
        self.stdout.write(
            f"{verb} {report.tokens:,} expired tokens and {report.sessions:,} expired sessions"
            + ("." if dry_run else f" in {report.batches:,} batches.")
        )
