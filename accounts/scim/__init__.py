"""SCIM sync from INDIGO IAM: client.py reads, staging.py condenses, plan.py compares,
apply.py writes, sync.py runs it all under a lock and records a SyncRun."""
