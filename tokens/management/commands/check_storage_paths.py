"""python manage.py check_storage_paths: campaign data paths that storage cannot keep apart.

Reports every pair of campaigns whose data paths are equal, nested, or where one is a plain
string prefix of the other (`/data/c4` and `/data/c42`): Debian's XRootD 5.5 matches token scope
paths as string prefixes, so a token for one would open the other. Exits 1 when any is found.
"""

from django.core.management.base import BaseCommand, CommandError

from tokens.policy import data_path_conflicts


class Command(BaseCommand):
    help = "Report campaign data paths that overlap or are string prefixes of each other."

    def handle(self, *args, **options):
        conflicts = data_path_conflicts()
        for conflict in conflicts:
            self.stdout.write(conflict.sentence)
        if conflicts:
            raise CommandError(
                f"{len(conflicts)} conflicting data path pair(s): give each campaign a path that "
                "no other campaign's path starts with, then run this again."
            )
        self.stdout.write("No campaign data path overlaps another or is a string prefix of one.")
