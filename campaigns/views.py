"""Campaign pages. Every view starts with its permission check; writes go through services."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Page
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import push_url

from accounts.models import Account
from accounts.storage_paths import PathRejected
from campaigns import selectors, services
from campaigns.forms import (
    CampaignFilterForm,
    CampaignNewForm,
    CampaignRequestRejectForm,
    CampaignSettingsForm,
    CommentForm,
    DecisionForm,
    JoinRequestForm,
    MemberAddForm,
    ValidUntilForm,
    WhoCanReadForm,
)
from campaigns.models import Campaign, CampaignRequest, Membership
from campaigns.permissions import PlanSettingsError, campaign_permission_plan
from campaigns.selectors import Viewer

MANAGE = "campaigns/manage.html"


def _get_campaign(slug: str) -> Campaign:
    if (campaign := selectors.campaign_for_page(slug)) is None:
        raise Http404("No such campaign.")
    return campaign


def _get_campaign_and_viewer(request, slug: str, **options) -> tuple[Campaign, Viewer]:
    campaign, viewer = selectors.campaign_page(slug, account=request.user, **options)
    if campaign is None:
        raise Http404("No such campaign.")
    return campaign, viewer


def _get_campaign_for_manager(request, slug: str) -> tuple[Campaign, Viewer]:
    """PI, appointed managers and admins."""
    campaign, viewer = _get_campaign_and_viewer(request, slug)
    _require_manager(viewer)
    return campaign, viewer


def _require_manager(viewer: Viewer) -> None:
    if not viewer.may_manage:
        raise PermissionDenied("Only the PI, the managers and admins may manage this campaign.")


def _get_campaign_for_pi(request, slug: str) -> tuple[Campaign, Viewer]:
    campaign, viewer = _get_campaign_and_viewer(request, slug)
    if not viewer.may_appoint_managers:
        raise PermissionDenied("Only the PI may appoint or remove managers.")
    return campaign, viewer


def _get_campaign_for_settings(request, slug: str) -> tuple[Campaign, Viewer]:
    campaign, viewer = _get_campaign_and_viewer(request, slug)
    if not viewer.may_edit_settings:
        raise PermissionDenied("Only the PI and admins may change the embargo and data paths.")
    return campaign, viewer


def _get_membership_in(campaign: Campaign, pk: int, *states: str) -> Membership:
    membership = (
        Membership.objects.select_related("account", "campaign")
        .filter(campaign=campaign, pk=pk, state__in=states or Membership.State.values)
        .first()
    )
    if membership is None:
        raise Http404("No such membership in this campaign.")
    return membership


def _own_open_membership(request, campaign: Campaign, state: str) -> Membership:
    membership = Membership.objects.filter(
        campaign=campaign, account=request.user, state=state
    ).first()
    if membership is None:
        raise Http404("You have no such membership in this campaign.")
    return membership


def _error_text(exc: ValidationError) -> str:
    return " ".join(exc.messages)


# --- public pages -----------------------------------------------------------------------------


@require_GET
@vary_on_headers("HX-Request")
def campaign_list(request):
    form = CampaignFilterForm(request.GET or None)
    search, show = "", ""
    if form.is_valid():
        search, show = form.cleaned_data["q"].strip(), form.cleaned_data["show"]
    page = selectors.campaign_list(
        viewer=request.user, search=search, show=show, page=request.GET.get("page", 1)
    )
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "query": query.urlencode(), "show": show}
    template = "campaigns/list.html#results" if request.htmx else "campaigns/list.html"
    return render(request, template, context)


def _member_list_query(request) -> str:
    """The member list's search and page (GET `q`, `page`) as "?q=..&page=.." or "", so that
    the manage actions come back to the same page of the list."""
    keep = urlencode({k: request.GET[k] for k in ("q", "page") if request.GET.get(k, "").strip()})
    return f"?{keep}" if keep else ""


def _people(request, campaign: Campaign, **asked: bool) -> selectors.CampaignPeople:
    """What the page lists (selectors.campaign_people), with the member list's search and page."""
    return selectors.campaign_people(campaign, **_people_asked(request, **asked))


def _page_with_people(
    request, slug: str, **asked: bool
) -> tuple[Campaign, Viewer, selectors.CampaignPeople]:
    """_get_campaign_and_viewer() and _people() in one round trip to the database
    (selectors.campaign_page_with_people): the caller checks the Viewer before it uses the
    people, and reads a searched member list (_members) after that check."""
    campaign, viewer, people = selectors.campaign_page_with_people(
        slug, account=request.user, **_people_asked(request, **asked)
    )
    if campaign is None:
        raise Http404("No such campaign.")
    return campaign, viewer, people


def _people_asked(request, **asked: bool) -> dict:
    return {"search": _member_search(request), "page": request.GET.get("page", 1), **asked}


def _members(request, campaign: Campaign, people: selectors.CampaignPeople) -> Page:
    """The member list's page: the one read with the campaign, or the member search's."""
    if people.members is not None:
        return people.members
    return selectors.campaign_members(
        campaign, search=_member_search(request), page=request.GET.get("page", 1)
    )


def _member_search(request) -> str:
    return request.GET.get("q", "").strip()[:100]


def _member_list(request, members: Page, url: str) -> dict:
    """The member list's context: one page of it for the page at `url`, and the query that
    keeps it."""
    return {
        "members": members,
        "member_search": _member_search(request),
        "members_url": url,
        "keep": _member_list_query(request),
    }


@require_GET
def campaign_detail(request, slug: str):
    # Anyone may see the campaign and its managers; its members only its members and managers
    # (checked below). The member list is read with the rest for a signed-in viewer, who may
    # be a member: for one who is not, that read is wasted, not shown.
    campaign, viewer, people = _page_with_people(
        request,
        slug,
        member_count=True,
        managers=True,
        members=request.user.is_authenticated,
    )
    context = {
        "campaign": campaign,
        "viewer": viewer,
        "managers": people.managers,
        "member_count": campaign.member_count,
        "join_form": JoinRequestForm(),
        **_storage_plan(campaign),
    }
    if viewer.may_see_members:
        context.update(_member_list(request, _members(request, campaign, people), request.path))
    return render(request, "campaigns/detail.html", context)


def _storage_plan(campaign: Campaign) -> dict:
    """The permission plan's lines for the campaign's paths, or why there are none."""
    try:
        plan = campaign_permission_plan(campaign)
    except PlanSettingsError:
        return {"plan": [], "plan_error": True}
    return {"plan": plan, "plan_error": False}


@require_GET
def who_can_read(request):
    form = WhoCanReadForm(request.GET or None)
    context = {"form": form, "decision": None}
    if not form.is_valid():
        return render(request, "campaigns/who_can_read.html", context)
    path, name = form.cleaned_data["path"], form.cleaned_data["account"].strip().lower()
    me = request.user if request.user.is_authenticated else None
    try:
        decision = selectors.path_access(path=path)
    except PathRejected as exc:
        form.add_error("path", f"{exc}.")
        return render(request, "campaigns/who_can_read.html", context)
    account = me
    if name and (me is None or name != me.name):
        account = Account.objects.filter(name=name).first()
        if not _may_check_others(me, _deciding_campaigns(decision)):
            form.add_error(
                "account",
                "You may check only your own account: the PI, managers and admins of the "
                "campaign may check others.",
            )
            account = None
        elif account is None:
            form.add_error("account", f"There is no account named {name!r}.")
    if account is not None:
        decision = selectors.path_access(path=path, account=account)
    context["decision"] = decision
    if decision.campaign is not None:
        viewer = selectors.viewer_for(campaign=decision.campaign, account=me)
        context["viewer"] = viewer
        context["member_count"] = selectors.current_members(decision.campaign).count()
        if viewer.may_see_members:
            context["members"] = selectors.current_members(decision.campaign)
    return render(request, "campaigns/who_can_read.html", context)


def _deciding_campaigns(decision: selectors.AccessDecision) -> list[Campaign]:
    """The campaigns whose prefix decides the path: for nested campaigns, the inner ones only
    (the outer campaign's managers have no say there, so may not learn its members)."""
    prefix = decision.matched_prefix.rstrip("/")
    return [c for c in decision.campaigns if any(p.rstrip("/") == prefix for p in c.data_paths)]


def _may_check_others(me: Account | None, campaigns: list[Campaign]) -> bool:
    if me is None:
        return False
    if me.is_admin:
        return True
    # Every deciding campaign: a PI of one of two campaigns on one (old, overlapping) prefix
    # must not learn the other's members.
    return bool(campaigns) and all(
        selectors.viewer_for(campaign=c, account=me).may_manage for c in campaigns
    )


# --- the member's own steps -------------------------------------------------------------------


@login_required
@require_POST
def membership_request(request, slug: str):
    campaign = _get_campaign(slug)
    form = JoinRequestForm(request.POST)
    if form.is_valid():
        try:
            services.membership_request(
                campaign=campaign, account=request.user, message=form.cleaned_data["message"]
            )
        except ValidationError as exc:
            messages.error(request, _error_text(exc))
        else:
            messages.success(
                request,
                f"Your request to join {campaign.slug} was sent to its PI and managers. "
                "You will get an email when they decide.",
            )
    else:
        messages.error(request, "Your message is too long: keep it under 2000 characters.")
    return redirect("campaigns:detail", slug=campaign.slug)


@login_required
@require_POST
def membership_withdraw(request, slug: str):
    campaign = _get_campaign(slug)
    membership = _own_open_membership(request, campaign, Membership.State.REQUESTED)
    try:
        services.membership_withdraw(membership=membership, actor=request.user)
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, f"You withdrew your request to join {campaign.slug}.")
    return redirect("campaigns:detail", slug=campaign.slug)


@login_required
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def membership_leave(request, slug: str):
    """GET asks to confirm (a page, or the form into the card for htmx); POST confirm=yes leaves."""
    campaign = _get_campaign(slug)
    membership = _own_open_membership(request, campaign, Membership.State.APPROVED)
    if request.method == "GET" or request.POST.get("confirm") != "yes":
        context = {"campaign": campaign, "membership": membership}
        template = "campaigns/leave.html#confirm" if request.htmx else "campaigns/leave.html"
        return render(request, template, context)
    try:
        services.membership_leave(
            membership=membership,
            actor=request.user,
            comment=request.POST.get("comment", "").strip()[:2000],
        )
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, f"You left {campaign.slug}. Its PI has been told.")
    return redirect("campaigns:detail", slug=campaign.slug)


@login_required
@require_GET
def my_campaigns(request):
    context = {
        "memberships": [
            m
            for m in selectors.memberships_for_account(account=request.user)
            if m.state == Membership.State.APPROVED
        ],
        "requests": Membership.objects.filter(
            account=request.user, state=Membership.State.REQUESTED
        )
        .select_related("campaign", "campaign__pi")
        .order_by("created"),
        "waiting": selectors.requests_waiting_for(account=request.user),
        "history": selectors.memberships_history(account=request.user),
        "campaign_requests": selectors.campaign_requests_of(account=request.user),
    }
    return render(request, "campaigns/mine.html", context)


# --- manage -----------------------------------------------------------------------------------


def _manage_context(
    request,
    campaign: Campaign,
    viewer: Viewer,
    people: selectors.CampaignPeople | None = None,
    **extra,
) -> dict:
    """The manage page's context; `people`: its requests and members, when read already."""
    if people is None:
        people = _people(request, campaign, requests=True, members=True)
    requests = people.requests
    # The template builds each row's action URLs on this one (`members/<pk>/remove/`, ...):
    # reversing four URLs per row cost more than the rest of the row.
    manage_url = reverse("campaigns:manage", args=[campaign.slug])
    return {
        "campaign": campaign,
        "campaign_url": reverse("campaigns:detail", args=[campaign.slug]),
        "viewer": viewer,
        "requests": requests,
        "waiting": requests[0].waiting if requests else 0,
        "manage_url": manage_url,
        **_member_list(request, _members(request, campaign, people), manage_url),
        "add_form": MemberAddForm(),
        "settings_form": CampaignSettingsForm(
            initial={
                "embargo_until": campaign.embargo_until,
                "data_paths": "\n".join(campaign.data_paths),
            }
        ),
        **extra,
    }


def _manage_done(request, campaign, viewer, fragment: str, *, ok: str = "", error: str = ""):
    """After a manage action: the fragment for htmx, else a message and a redirect (PRG)."""
    if request.htmx:
        context = _manage_context(
            request, campaign, viewer, notice=ok, error=error, fragment=fragment
        )
        # The targeted section is swapped in place, the other one out of band (a decision
        # changes both lists); the action's URL must not become the page's (boosted form).
        return push_url(render(request, f"{MANAGE}#sections", context), False)
    if error:
        messages.error(request, error)
    if ok:
        messages.success(request, ok)
    url = reverse("campaigns:manage", args=[campaign.slug]) + _member_list_query(request)
    return redirect(f"{url}#{fragment}")


@login_required
@require_GET
def campaign_manage(request, slug: str):
    campaign, viewer, people = _page_with_people(request, slug, requests=True, members=True)
    _require_manager(viewer)  # before the lists read with the campaign are used
    return render(request, MANAGE, _manage_context(request, campaign, viewer, people))


@login_required
@require_POST
def request_approve(request, slug: str, pk: int):
    campaign, viewer = _get_campaign_for_manager(request, slug)
    membership = _get_membership_in(campaign, pk)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return _manage_done(request, campaign, viewer, "requests", error=_form_error(form))
    try:
        services.membership_approve(
            membership=membership,
            actor=request.user,
            comment=form.cleaned_data["comment"],
            valid_until=form.cleaned_data["valid_until"],
        )
    except ValidationError as exc:
        return _manage_done(request, campaign, viewer, "requests", error=_error_text(exc))
    ok = f"{membership.account.name} is now a member of {campaign.slug}."
    return _manage_done(request, campaign, viewer, "requests", ok=ok)


@login_required
@require_POST
def request_reject(request, slug: str, pk: int):
    campaign, viewer = _get_campaign_for_manager(request, slug)
    membership = _get_membership_in(campaign, pk)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return _manage_done(request, campaign, viewer, "requests", error=_form_error(form))
    try:
        services.membership_reject(
            membership=membership, actor=request.user, reason=form.cleaned_data["comment"]
        )
    except ValidationError as exc:
        return _manage_done(request, campaign, viewer, "requests", error=_error_text(exc))
    ok = f"You rejected {membership.account.name}'s request; they will be told the reason."
    return _manage_done(request, campaign, viewer, "requests", ok=ok)


@login_required
@require_POST
def member_add(request, slug: str):
    campaign, viewer = _get_campaign_for_manager(request, slug)
    form = MemberAddForm(request.POST)
    if not form.is_valid():
        return _manage_done(request, campaign, viewer, "members", error=_form_error(form))
    try:
        membership = services.membership_add(
            campaign=campaign,
            account_name=form.cleaned_data["account_name"],
            actor=request.user,
            valid_until=form.cleaned_data["valid_until"],
            comment=form.cleaned_data["comment"],
        )
    except ValidationError as exc:
        return _manage_done(request, campaign, viewer, "members", error=_error_text(exc))
    ok = f"{membership.account.name} is now a member of {campaign.slug}."
    return _manage_done(request, campaign, viewer, "members", ok=ok)


@login_required
@require_POST
def member_remove(request, slug: str, pk: int):
    campaign, viewer = _get_campaign_for_manager(request, slug)
    membership = _get_membership_in(campaign, pk)
    form = CommentForm(request.POST)
    comment = form.cleaned_data["comment"] if form.is_valid() else ""
    try:
        services.membership_revoke(membership=membership, actor=request.user, comment=comment)
    except ValidationError as exc:
        return _manage_done(request, campaign, viewer, "members", error=_error_text(exc))
    ok = f"{membership.account.name} is no longer a member of {campaign.slug}."
    return _manage_done(request, campaign, viewer, "members", ok=ok)


@login_required
@require_POST
def member_valid_until(request, slug: str, pk: int):
    campaign, viewer = _get_campaign_for_manager(request, slug)
    membership = _get_membership_in(campaign, pk)
    form = ValidUntilForm(request.POST)
    if not form.is_valid():
        return _manage_done(request, campaign, viewer, "members", error=_form_error(form))
    valid_until = form.cleaned_data["valid_until"]
    if "clear" in request.POST:
        valid_until = None
    try:
        services.membership_set_valid_until(
            membership=membership,
            valid_until=valid_until,
            actor=request.user,
            comment=form.cleaned_data["comment"],
        )
    except ValidationError as exc:
        return _manage_done(request, campaign, viewer, "members", error=_error_text(exc))
    name = membership.account.name
    ok = (
        f"{name}'s membership now ends after {valid_until:%Y-%m-%d}."
        if valid_until
        else f"{name}'s membership has no end date now."
    )
    return _manage_done(request, campaign, viewer, "members", ok=ok)


@login_required
@require_POST
def manager_appoint(request, slug: str, pk: int):
    campaign, viewer = _get_campaign_for_pi(request, slug)
    membership = _get_membership_in(campaign, pk, Membership.State.APPROVED)
    try:
        services.manager_appoint(campaign=campaign, account=membership.account, actor=request.user)
    except ValidationError as exc:
        return _manage_done(request, campaign, viewer, "members", error=_error_text(exc))
    ok = f"{membership.account.name} is now a manager of {campaign.slug}."
    return _manage_done(request, campaign, viewer, "members", ok=ok)


@login_required
@require_POST
def manager_remove(request, slug: str, pk: int):
    campaign, viewer = _get_campaign_for_pi(request, slug)
    membership = _get_membership_in(campaign, pk, Membership.State.APPROVED)
    try:
        services.manager_remove(campaign=campaign, account=membership.account, actor=request.user)
    except ValidationError as exc:
        return _manage_done(request, campaign, viewer, "members", error=_error_text(exc))
    ok = f"{membership.account.name} is no longer a manager (still a member)."
    return _manage_done(request, campaign, viewer, "members", ok=ok)


@login_required
@require_POST
def campaign_settings(request, slug: str):
    campaign, viewer = _get_campaign_for_settings(request, slug)
    form = CampaignSettingsForm(request.POST)
    if not form.is_valid():
        context = _manage_context(request, campaign, viewer, settings_form=form)
        return render(request, MANAGE, context, status=400)
    data, comment = form.cleaned_data, form.cleaned_data["comment"]
    changed = []
    try:
        if data["embargo_until"] != campaign.embargo_until:
            campaign = services.campaign_update_embargo(
                campaign=campaign,
                embargo_until=data["embargo_until"],
                actor=request.user,
                comment=comment,
            )
            changed.append("embargo date")
        if services.data_paths_clean(data["data_paths"]) != campaign.data_paths:
            services.campaign_update_data_paths(
                campaign=campaign,
                data_paths=data["data_paths"],
                actor=request.user,
                comment=comment,
            )
            changed.append("data paths")
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    if changed:
        messages.success(request, f"Saved the {' and '.join(changed)} of {campaign.slug}.")
    else:
        messages.info(request, "Nothing changed.")
    return redirect(reverse("campaigns:manage", args=[campaign.slug]) + "#settings")


def _form_error(form) -> str:
    return " ".join(
        f"{form.fields[f].label}: {' '.join(e)}" if f in form.fields else " ".join(e)
        for f, e in form.errors.items()
    )


# --- new campaigns: scientists ask, admins decide (or create at once) ---------------------------


def _require_admin(request) -> None:
    if not request.user.is_admin:
        raise PermissionDenied("Only data-centre admins may decide campaign requests.")


@login_required
@require_http_methods(["GET", "POST"])
def campaign_new(request):
    """Scientists ask for a new campaign; admins create one at once, naming its PI."""
    admin = request.user.is_admin
    initial = {"pi": request.user.name} if admin else {}
    form = CampaignNewForm(request.POST or None, admin=admin, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        fields = {
            "slug": data["slug"],
            "title": data["title"],
            "description": data["description"],
            "embargo_until": data["embargo_until"],
            "data_paths": data["data_paths"],
        }
        try:
            if admin:
                pi = Account.objects.filter(name=data["pi"]).first()
                if pi is None:
                    raise ValidationError(
                        {"pi": f"There is no account {data['pi']!r}: the PI must have logged in."}
                    )
                campaign = services.campaign_create(**fields, pi=pi, actor=request.user)
            else:
                services.campaign_request_create(
                    **fields, reason=data["reason"], requester=request.user
                )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            if admin:
                messages.success(request, f"Campaign {campaign.slug} created (gid {campaign.gid}).")
                return redirect("campaigns:manage", slug=campaign.slug)
            messages.success(
                request,
                f"Your request for the campaign {data['slug']} was sent to the admins; "
                "you will get an email when they decide.",
            )
            return redirect("campaigns:mine")
    return render(request, "campaigns/new.html", {"form": form, "admin": admin})


def _form_errors(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


@login_required
@require_GET
def campaign_requests(request):
    _require_admin(request)
    context = {
        "pending": selectors.campaign_requests_pending(),
        "decided": selectors.campaign_requests_decided(),
        "reject_form": CampaignRequestRejectForm(),
    }
    return render(request, "campaigns/requests.html", context)


def _get_campaign_request_for_admin(request, pk: int) -> CampaignRequest:
    _require_admin(request)
    return get_object_or_404(CampaignRequest.objects.select_related("requester"), pk=pk)


@login_required
@require_POST
def campaign_request_approve(request, pk: int):
    campaign_request = _get_campaign_request_for_admin(request, pk)
    try:
        campaign = services.campaign_request_approve(request=campaign_request, actor=request.user)
    except ValidationError as exc:
        messages.error(request, f"{campaign_request.slug}: {_error_text(exc)}")
    else:
        messages.success(
            request,
            f"Campaign {campaign.slug} created; {campaign.pi.name} is its PI and was told.",
        )
    return redirect("campaigns:requests")


@login_required
@require_POST
def campaign_request_reject(request, pk: int):
    campaign_request = _get_campaign_request_for_admin(request, pk)
    form = CampaignRequestRejectForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say why the request is rejected; the requester reads it.")
        return redirect("campaigns:requests")
    try:
        services.campaign_request_reject(
            request=campaign_request, actor=request.user, reason=form.cleaned_data["reason"]
        )
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, f"The request for {campaign_request.slug} was rejected.")
    return redirect("campaigns:requests")
