"""Point the portal at test identity providers: write an idpsecrets.json and reset the caches."""

import json
from pathlib import Path

from django.core.cache import cache

from accounts import idps


def use_idpsecrets(settings, path: Path, entries: dict) -> dict[str, idps.IdentityProvider]:
    """Write `entries` (Rucio's idpsecrets.json format) to `path` and make the portal use it.

    `settings` is pytest-django's fixture, so the old value comes back after the test. The
    provider list, discovery documents, key sets (accounts.keys) and login rate counters are
    forgotten.
    """
    path.write_text(json.dumps(entries, indent=2))
    settings.GATEHOUSE_IDPSECRETS = str(path)
    idps._load.cache_clear()
    idps.key_source().forget()
    cache.clear()
    return idps.get_providers()
