"""List campaigns whose data paths overlap or are string prefixes of each other; exit 1 if any."""

from django.core.management.base import BaseCommand, CommandError

from campaigns.selectors import data_path_overlaps


class Command(BaseCommand):
    help = (
        "List data paths shared by two campaigns (equal, nested, or a plain string prefix, which "
        "XRootD's path matching treats as nested); exits non-zero when there is any."
    )

    def handle(self, *args, **options):
        overlaps = data_path_overlaps()
        for conflict, campaign in overlaps:
            self.stdout.write(
                f"{campaign.slug}: {conflict.path} {conflict.clash} {conflict.other_path} "
                f"({conflict.campaign.slug})"
            )
        if overlaps:
            raise CommandError(
                f"{len(overlaps)} overlapping data paths: give each campaign its own paths "
                "(an admin can move a path in the campaign's admin page), then run this again."
            )
        self.stdout.write(self.style.SUCCESS("No campaign data paths overlap."))
