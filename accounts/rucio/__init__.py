"""Provisioning into Rucio: the REST client, the reconcile, its pages."""
