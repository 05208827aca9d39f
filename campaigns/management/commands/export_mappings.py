"""Write one export (multimap, group, passwd, LDIF, permissions) to stdout or, atomically, to a
file."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from campaigns.exports import FORMATS, ExportError, ExportReport, chunked, render
from campaigns.exports.files import write_atomically
from campaigns.exports.verify import verify_multimap


def _share(value: str) -> float:
    share = float(value)
    if not 0 <= share <= 1:
        raise ValueError(value)
    return share


class Command(BaseCommand):
    help = (
        "Export the user/group mapping for the storage nodes. Without --output it goes to "
        "stdout; with --output the file is replaced atomically, unless the new content would "
        "remove more than --max-drop of its lines. With --verify FILE it reads a multimap file "
        "(ours or a hand-written one) as dCache does and reports every line dCache would drop "
        "and every login it would map to two uids or usernames."
    )

    def add_arguments(self, parser):
        parser.add_argument("--format", dest="format_name", choices=list(FORMATS))
        parser.add_argument(
            "--verify", metavar="FILE", help="Check a multimap file with dCache's rules."
        )
        parser.add_argument("--output", help="File to replace atomically (default: stdout).")
        parser.add_argument(
            "--max-drop",
            type=_share,
            default=None,
            help="Largest share of the old file's lines the new one may remove, 0 to 1 "
            "(default: GATEHOUSE_EXPORT_MAX_DROP).",
        )
        parser.add_argument(
            "--force", action="store_true", help="Replace the file however much it removes."
        )
        parser.add_argument(
            "--campaign",
            help="Only this campaign's paths (slug; the permissions format only).",
        )

    def handle(self, *args, format_name, output, max_drop, force, verify, campaign=None, **options):
        if verify:
            return self.verify(verify)
        if not format_name:
            raise CommandError("Give --format (what to export) or --verify FILE (what to check).")
        report = ExportReport()
        try:
            lines = render(format_name, report, campaign=campaign)
            if output:
                result = write_atomically(
                    output,
                    lines,
                    max_drop=settings.GATEHOUSE_EXPORT_MAX_DROP if max_drop is None else max_drop,
                    force=force,
                )
            else:
                for block in chunked(lines):
                    self.stdout.write(block.decode(), ending="")
        except ExportError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            for warning in report.warnings():
                self.stderr.write(f"warning: {warning}")
        if output:
            change = "replaced" if result.replaced else "unchanged"
            self.stdout.write(
                f"{output}: {change}, {result.lines} lines (+{result.added}/-{result.removed})"
            )

    def verify(self, path: str) -> None:
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise CommandError(f"Cannot read {path} ({exc.strerror}).") from exc
        result = verify_multimap(data, path)
        for problem in result.problems:
            self.stdout.write(problem)
        if not result.ok:
            raise CommandError(
                f"{path}: {len(result.problems)} problem(s) above; dCache would not map these "
                "logins as the file intends. Fix the lines named, then verify again."
            )
        self.stdout.write(f"{path}: {result.mappings} mappings, all read by dCache as written.")
