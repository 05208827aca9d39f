"""accounts.prepared.PreparedQuery: the rows of its queryset, compiled once, run with new values
(real PostgreSQL: the token endpoint's lookups, the access rule and the campaign pages use it;
tests/integration/campaigns/test_prepared_reads.py compares the pages' reads with their
querysets)."""

import datetime

import pytest
from django.db.models import Count, QuerySet, RowRange, Window
from django.test.utils import isolate_apps

from accounts.identities import oidc_identity
from accounts.models import Account, Identity
from accounts.prepared import PreparedQuery, PreparedQueryError, read_together
from accounts.selectors import account_of_identity
from accounts.services import account_suspend, identity_add
from campaigns import services as campaign_services
from campaigns.models import Campaign, Membership
from campaigns.selectors import campaigns_covering, current_memberships
from tests.integration.round_trips import round_trips

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]  # SQLite binds dates as text

ISSUER = "https://idp.example.org"


@pytest.fixture
def campaigns(admin, pi, member):
    today = datetime.date.today()
    nightsky = campaign_services.campaign_create(
        slug="nightsky",
        title="Night Sky",
        pi=pi,
        actor=admin,
        data_paths=["/data/nightsky", "/tape/nightsky/"],
        embargo_until=today + datetime.timedelta(days=30),
    )
    campaign_services.campaign_create(
        slug="deepfield", title="Deep Field", pi=pi, actor=admin, data_paths=["/data/deepfield"]
    )
    asked = campaign_services.membership_request(campaign=nightsky, account=member)
    membership = campaign_services.membership_approve(membership=asked, actor=pi)
    Membership.objects.filter(pk=membership.pk).update(valid_until=today + datetime.timedelta(2))
    return nightsky


def _current_of(account_id: int, campaign_id: int, today: datetime.date) -> QuerySet:
    return (
        current_memberships(today=today)
        .filter(account_id=account_id, campaign_id=campaign_id)
        .order_by("pk")
    )


def test_rows_are_the_querysets_rows_for_every_value(campaigns, pi, member, outsider):
    query = PreparedQuery(_current_of, account_id=int, campaign_id=int, today=datetime.date)
    today = datetime.date.today()
    for account in (pi, member, outsider):
        for day in (today, today + datetime.timedelta(2), today + datetime.timedelta(3)):
            expected = list(_current_of(account.pk, campaigns.pk, day))
            got = query(account_id=account.pk, campaign_id=campaigns.pk, today=day)
            assert got == expected
            # every field as the ORM loads it (dates, enums, timestamps)
            assert [vars(m) | {"_state": None} for m in got] == [
                vars(m) | {"_state": None} for m in expected
            ]
    assert query(account_id=member.pk, campaign_id=campaigns.pk, today=today)
    assert not query(
        account_id=member.pk, campaign_id=campaigns.pk, today=today + datetime.timedelta(3)
    )


def test_json_fields_come_back_as_python_values(campaigns):
    # a path kept with its trailing '/' (older data): found through the '/'-ended candidate
    Campaign.objects.filter(pk=campaigns.pk).update(
        data_paths=["/data/nightsky", "/tape/nightsky/"]
    )
    found = campaigns_covering("/tape/nightsky/run1/f.fits")
    assert [(c.slug, prefix) for c, prefix in found] == [("nightsky", "/tape/nightsky/")]
    assert found[0][0].data_paths == ["/data/nightsky", "/tape/nightsky/"]
    assert campaigns_covering("/data/nightskyX") == []
    assert [c.slug for c, _ in campaigns_covering("/data/deepfield")] == ["deepfield"]


def test_account_of_identity_follows_the_identity_table(member, outsider):
    identity = oidc_identity(sub="alice", issuer=ISSUER)
    assert account_of_identity(type=Identity.Type.OIDC, identity=identity) is None
    identity_add(account=member, type=Identity.Type.OIDC, identity=identity, actor=None)
    assert account_of_identity(type=Identity.Type.OIDC, identity=identity) == member
    assert account_of_identity(type=Identity.Type.X509, identity=identity) is None
    # the account as it is now, not as it was when the query was compiled
    account_suspend(account=member, actor=None, reason="test")
    found = account_of_identity(type=Identity.Type.OIDC, identity=identity)
    assert found.status == Account.Status.SUSPENDED


def test_a_value_used_twice_fills_both_places(campaigns):
    either = PreparedQuery(
        lambda text: (
            Campaign.objects.filter(slug=text) | Campaign.objects.filter(title=text)
        ).values("slug"),
        text=str,
    )
    assert either(text="nightsky") == [{"slug": "nightsky"}]
    assert either(text="Deep Field") == [{"slug": "deepfield"}]


def test_a_value_django_rewrites_or_drops_is_refused(db):
    searched = PreparedQuery(
        lambda q: Campaign.objects.filter(title__icontains=q).values("slug"), q=str
    )
    with pytest.raises(PreparedQueryError, match="rewritten"):
        searched(q="sky")
    listed = PreparedQuery(lambda slugs: Campaign.objects.filter(slug__in=slugs), slugs=list)
    with pytest.raises(PreparedQueryError, match="rewritten"):  # __in splits a list into items
        listed(slugs=["nightsky"])
    absent = PreparedQuery(lambda slug: Campaign.objects.filter(slug="fixed"), slug=str)
    with pytest.raises(PreparedQueryError, match=r"\['slug'\] do not reach the SQL"):
        absent(slug="x")
    with pytest.raises(PreparedQueryError, match="no marker"):
        PreparedQuery(lambda at: Campaign.objects.filter(created=at), at=datetime.datetime)


def test_a_value_written_into_the_sql_text_is_refused(db):
    """A window frame's bound is SQL text, not a parameter: the caller's value would be ignored."""
    framed = PreparedQuery(
        lambda n: (
            Campaign.objects.filter(pk__gt=n)
            .annotate(running=Window(Count("*"), order_by="gid", frame=RowRange(start=n, end=0)))
            .values("slug", "running")
        ),
        n=int,
    )
    with pytest.raises(PreparedQueryError, match="changes the SQL text"):
        framed(n=3)


def test_only_values_or_whole_rows_without_slices_and_every_value_given(db):
    joined = PreparedQuery(
        lambda slug: Campaign.objects.select_related("pi").filter(slug=slug), slug=str
    )
    with pytest.raises(PreparedQueryError, match="whole model rows"):
        joined(slug="x")
    sliced = PreparedQuery(lambda slug: Campaign.objects.filter(slug=slug)[:3], slug=str)
    with pytest.raises(PreparedQueryError, match="limit="):
        sliced(slug="x")
    plain = PreparedQuery(lambda slug: Campaign.objects.filter(slug=slug), slug=str)
    with pytest.raises(TypeError):
        plain()
    with pytest.raises(TypeError):
        plain(slug="x", title="y")
    assert plain(slug="x") == []


def test_values_are_bound_never_spliced_into_the_sql(campaigns):
    by_slug = PreparedQuery(
        lambda slug: Campaign.objects.filter(slug=slug).values("slug"), slug=str
    )
    assert by_slug(slug="nightsky") == [{"slug": "nightsky"}]
    assert by_slug(slug="x' OR '1'='1") == []
    assert by_slug(slug="nightsky", limit=1, offset=1) == []
    assert Campaign.objects.filter(slug="nightsky").exists()


def _loaded(instance) -> tuple:
    return (
        {k: v for k, v in vars(instance).items() if k != "_state"},
        instance.get_deferred_fields(),
        instance._state.adding,
        instance._state.db,
    )


def test_rows_become_the_instances_from_db_makes(campaigns, member):
    """instance_from_row skips Model.__init__ where that only stores values: the instance must be
    the one Django's from_db builds, whole or with fields deferred, and behave as one."""
    from accounts.prepared import instance_from_row

    for model in (Account, Campaign, Membership, Identity):
        for whole in model.objects.all():
            row = {f.attname: getattr(whole, f.attname) for f in model._meta.concrete_fields}
            some = {k: v for i, (k, v) in enumerate(row.items()) if i % 2 == 0}
            for given in (row, some):
                django = model.from_db("default", list(given), list(given.values()))
                assert _loaded(instance_from_row(model, given)) == _loaded(django)
    first = Membership.objects.select_related("account").first()
    membership = instance_from_row(Membership, {"id": first.pk, "valid_until": first.valid_until})
    assert membership.get_deferred_fields() >= {"role", "account_id"}
    assert membership.account == first.account  # a deferred relation loads on demand
    account = instance_from_row(
        Account, {f.attname: getattr(member, f.attname) for f in Account._meta.concrete_fields}
    )
    account.display_name = "Renamed"
    account.save(update_fields=["display_name"])  # an UPDATE, not an INSERT
    assert Account.objects.get(pk=member.pk).display_name == "Renamed"
    assert Account.objects.filter(name=member.name).count() == 1


def test_a_model_with_init_receivers_is_built_by_django(member):
    """A pre_init/post_init receiver (a library's, say) must still run for every row."""
    from django.db.models.signals import post_init

    from accounts.prepared import instance_from_row

    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance.pk)

    post_init.connect(receiver, sender=Account)
    try:
        instance_from_row(Account, {"id": member.pk, "name": member.name})
        by_id = PreparedQuery(lambda pk: Account.objects.filter(pk=pk), pk=int)
        assert by_id(pk=member.pk) == [member]
    finally:
        post_init.disconnect(receiver, sender=Account)
    assert seen == [member.pk, member.pk]


@pytest.mark.django_db(transaction=True)  # pg_prepared_statements is the connection's
def test_generic_plan_reads_are_prepared_statements_and_nothing_else_is(pi, member, settings):
    """generic_plan=True: PostgreSQL plans the read once per connection; the ORM's own queries
    stay unprepared (so the connection's plan_cache_mode changes no other plan), the rows are the
    same, and the debug log shows the SQL with its values as for any query."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def prepared() -> dict[str, int]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT statement, generic_plans FROM pg_prepared_statements")
            return dict(cursor.fetchall())

    def by_name(generic_plan: bool) -> PreparedQuery:
        return PreparedQuery(
            lambda name: Account.objects.filter(name=name).order_by().values("pk", "name"),
            generic_plan=generic_plan,
            name=str,
        )

    if connection.vendor != "postgresql":  # `make run`'s SQLite: a plain read, same rows
        assert by_name(True)(name="member") == [{"pk": member.pk, "name": "member"}]
        return
    before = prepared()
    for _ in range(3):
        assert list(Account.objects.filter(name="pi").values_list("pk", flat=True)) == [pi.pk]
    assert prepared() == before  # ORM queries are never prepared
    plain = by_name(False)
    assert plain(name="member") == [{"pk": member.pk, "name": "member"}]
    assert prepared() == before
    read = by_name(True)
    with CaptureQueriesContext(connection) as captured:
        for name, account in (("pi", pi), ("member", member), ("pi", pi)):
            assert read(name=name) == [{"pk": account.pk, "name": name}]
    new = {sql: plans for sql, plans in prepared().items() if sql not in before}
    assert len(new) == 1 and list(new.values()) == [3]  # one statement, one generic plan each
    assert "$1" in next(iter(new)) and '"accounts_account"."name" = $1' in next(iter(new))
    logged = captured.captured_queries[0]["sql"]
    assert logged.startswith("SELECT") and "'pi'" in logged and "$1" not in logged

    settings.GATEHOUSE_DB_PREPARED_STATEMENTS = False  # behind a pooler that cannot keep them
    assert read(name="member") == [{"pk": member.pk, "name": "member"}]
    assert prepared() == before | new  # not run as the prepared statement (still 3 runs)


@isolate_apps("accounts")  # the proxies below stay out of the app registry
def test_a_model_with_its_own_init_or_from_db_is_built_by_django():
    from django.db import models

    from accounts.prepared import _plain_init, instance_from_row

    class OwnInit(Account):
        class Meta:
            proxy = True
            app_label = "accounts"

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.seen = True

    class OwnFromDb(Account):
        class Meta:
            proxy = True
            app_label = "accounts"

        @classmethod
        def from_db(cls, db, field_names, values):
            return super().from_db(db, field_names, values)

    assert _plain_init(Account) and issubclass(OwnInit, models.Model)
    assert not _plain_init(OwnInit) and not _plain_init(OwnFromDb)
    assert instance_from_row(OwnInit, {"id": 1, "name": "x"}).seen  # its __init__ ran


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("together", [False, True], ids=["alone", "together"])
def test_prepared_reads_survive_a_migration_that_changes_what_they_read(member, together):
    """PostgreSQL refuses a prepared statement whose result type a migration changed ("cached
    plan must not change result type"); the read, or the reads asked together, start again on
    a new connection."""
    from django.db import connection
    from django.utils import timezone

    from accounts.models import Session

    read = PreparedQuery(
        lambda key: Session.objects.filter(session_key=key).values("session_key"),
        generic_plan=True,
        key=str,
    )

    def session_read():
        if together:
            return read_together(read.read(key="k" * 32), read.counted(key="k" * 32))
        return read(key="k" * 32)

    expected = [[{"session_key": "k" * 32}], 1] if together else [{"session_key": "k" * 32}]
    later = timezone.now() + datetime.timedelta(days=1)
    Session.objects.create(session_key="k" * 32, session_data="x", expire_date=later)
    assert session_read() == expected
    if connection.vendor != "postgresql":  # `make run`'s SQLite prepares nothing
        return
    column = "ALTER TABLE accounts_session ALTER COLUMN session_key TYPE {}"
    migration = connection.copy()  # another process's connection, as `manage.py migrate`'s
    try:
        with migration.cursor() as cursor:
            cursor.execute(column.format("text"))
        assert session_read() == expected
    finally:
        with migration.cursor() as cursor:
            cursor.execute(column.format("varchar(40)"))
        migration.close()


@pytest.mark.django_db(transaction=True)
def test_a_generic_plan_read_has_its_constants_written_in(member, outsider, settings):
    """The query's own constants (a status, a pattern with % and a quote) are literals of the
    prepared statement, so its generic plan can use the partial indexes they match; the
    callers' values stay parameters; the rows are the plain read's."""
    from django.db import connection

    Account.objects.filter(pk=member.pk).update(display_name="50% O'Brien")
    Account.objects.filter(pk=outsider.pk).update(display_name="50 O'Brien")

    def read(generic_plan: bool) -> PreparedQuery:
        return PreparedQuery(
            lambda name: (
                Account.objects.filter(
                    status=Account.Status.ACTIVE, display_name__startswith="50% O'", name__gte=name
                )
                .order_by("pk")
                .values("pk")
            ),
            generic_plan=generic_plan,
            name=str,
        )

    plain, generic = read(False), read(True)
    for name in ("a", "member", "n", "z"):
        assert generic(name=name) == plain(name=name)
    assert generic(name="a") == [{"pk": member.pk}]
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        statements = [row[0] for row in cursor.fetchall() if "display_name" in row[0]]
    assert len(statements) == 1
    assert "'ACTIVE'" in statements[0] and "$1" in statements[0] and "$2" not in statements[0]


def _people_after() -> PreparedQuery:
    """Accounts whose name sorts after `after`, by name."""
    return PreparedQuery(
        lambda after: Account.objects.filter(name__gt=after).order_by("name").values("name"),
        generic_plan=True,
        after=str,
    )


def _names_after(after: str) -> list[dict]:
    return list(Account.objects.filter(name__gt=after).order_by("name").values("name"))


def test_reads_together_give_what_each_gives_alone(campaigns, pi, member, outsider):
    people = _people_after()
    memberships = PreparedQuery(
        lambda campaign: Membership.objects.filter(campaign=campaign).order_by("pk"),
        generic_plan=True,
        campaign=int,
    )
    reads = [
        people.read(after=""),
        people.read(after="", limit=2, offset=1),
        people.counted(after=""),
        memberships.read(campaign=campaigns.pk),
        people.counted(after="zzz"),
    ]
    alone = [
        people(after=""),
        people(after="", limit=2, offset=1),
        people.count(after=""),
        memberships(campaign=campaigns.pk),
        people.count(after="zzz"),
    ]
    together = read_together(*reads)
    assert together[:3] + together[4:] == alone[:3] + alone[4:]
    assert [m.pk for m in together[3]] == [m.pk for m in alone[3]]
    assert together[3] and isinstance(together[3][0], Membership)
    assert together[0] == _names_after("") and together[1] == _names_after("")[1:3]
    assert together[2] == Account.objects.count() >= 3 and together[4] == 0
    assert read_together() == []


def test_prepared_reads_together_take_one_round_trip(member, outsider):
    """Each round trip ends with one ReadyForQuery from the server: psycopg's pipeline mode
    sends the reads' messages and a single Sync."""
    from django.db import connection, transaction

    if connection.vendor != "postgresql":  # `make run`'s SQLite: one read after the other
        return
    people = _people_after()
    people(after="m"), people.count(after="o")  # connected and prepared before the trace

    expected = [_names_after("m"), len(_names_after("o"))]

    def both():
        assert read_together(people.read(after="m"), people.counted(after="o")) == expected

    assert round_trips(lambda: (people(after="m"), people.count(after="o"))) == 2
    assert round_trips(both) == 1
    with transaction.atomic():  # inside a transaction as well
        assert round_trips(both) == 1


@pytest.mark.django_db(transaction=True)
def test_a_requests_first_read_is_its_connections_health_check(member, outsider):
    """With CONN_HEALTH_CHECKS Django sends a `SELECT 1` before a request's first query; a
    prepared read outside a transaction stands in for it: one round trip on a live connection,
    and on one that died since the last request the read is asked again on a new connection."""
    from django.db import connection

    if connection.vendor != "postgresql":  # `make run`'s SQLite: nothing to check
        return
    assert connection.health_check_enabled  # webui/settings.py turns the checks on
    people = _people_after()
    people(after="m")  # connected and prepared

    def new_request():  # what Django's request_started handler does to the connection
        connection.close_if_unusable_or_obsolete()
        assert connection.connection is not None and not connection.health_check_done

    def orm_read():
        assert list(Account.objects.filter(name="member").values_list("name", flat=True))

    new_request()
    assert round_trips(orm_read) == 2  # Django's SELECT 1, then the query
    new_request()
    assert round_trips(lambda: people(after="m")) == 1
    assert round_trips(orm_read) == 1  # checked once a request

    def backend() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            return cursor.fetchone()[0]

    def terminated() -> int:  # an admin, or a PostgreSQL restart, between two requests
        pid = backend()
        _terminate_backend(pid)
        new_request()
        return pid

    before = terminated()
    assert people(after="m") == _names_after("m")  # read again on a new connection
    assert backend() != before
    expected = [_names_after("m"), len(_names_after("o"))]
    before = terminated()  # and reads asked together, in one round trip
    assert read_together(people.read(after="m"), people.counted(after="o")) == expected
    assert backend() != before


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("when", ["before the batch", "within the batch", "before its sync"])
def test_a_connection_lost_in_reads_together_is_djangos_error(when, member, outsider):
    """Reads asked together must raise Django's OperationalError when the server goes away (the
    site answers it with its 503 page), not psycopg's (a 500 and a traceback), wherever psycopg
    learns of it: the backend ends before the batch (another session terminates it), within it
    (the batch's second read ends it), or once the reads are sent and before the pipeline's
    sync, where psycopg raises outside Django's cursor. The last is a PostgreSQL shut down
    under load at the wrong moment; the test terminates the backend there itself, by wrapping
    the connection's real pipeline."""
    import contextlib

    from django.db import OperationalError, connection
    from django.db.models import BooleanField, Func

    if connection.vendor != "postgresql":  # `make run`'s SQLite: no pipeline
        return
    people = _people_after()
    people(after="m")  # connected
    connection.health_check_done = True  # in the middle of a request: no retry
    reads = [people.read(after="m"), people.counted(after="o")]
    pid = connection.connection.info.backend_pid

    def terminate() -> None:
        _terminate_backend(pid)

    if when == "before the batch":
        terminate()
    elif when == "within the batch":
        gone = PreparedQuery(
            lambda: Account.objects.annotate(
                gone=Func(
                    Func(function="pg_backend_pid"),
                    function="pg_terminate_backend",
                    output_field=BooleanField(),
                )
            ).values("gone"),
            generic_plan=True,
        )
        reads.insert(1, gone.read(limit=1))
    else:
        pipeline = connection.connection.pipeline

        @contextlib.contextmanager
        def cut_before_sync():
            with pipeline() as real:
                yield real
                terminate()

        connection.connection.pipeline = cut_before_sync
    try:
        with pytest.raises(OperationalError):
            read_together(*reads)
        assert not connection.is_usable()
    finally:
        connection.close()
    assert people(after="m") == _names_after("m")  # the next request connects again


def _terminate_backend(pid: int) -> None:
    """End PostgreSQL backend `pid` from another session, as an admin or a restart does."""
    from django.db import connection

    killer = connection.copy()
    try:
        with killer.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        killer.close()
