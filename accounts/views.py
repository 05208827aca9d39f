from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import services
from accounts.forms import RegistrationApproveForm, RegistrationForm, RegistrationRejectForm
from accounts.http import client_ip
from accounts.idps import ProviderUnavailable, discovery, get_providers
from accounts.models import Registration
from accounts.oidc.flow import safe_next
from accounts.oidc.views import login_start_url, pending_login
from accounts.selectors import account_name_suggestion, registration_latest, registrations_pending


@never_cache
@require_GET
def login_page(request):
    if request.user.is_authenticated:
        return redirect("home")
    next_url = safe_next(request, request.GET.get("next"))
    providers = []
    for provider in get_providers().values():
        try:
            discovery(provider)
            available = True
        except ProviderUnavailable:
            available = False
        url = login_start_url(provider, next_url)
        providers.append({"provider": provider, "available": available, "url": url})
    return render(request, "accounts/login.html", {"providers": providers})


# ---- Registration of first logins --------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "POST"])
def register(request):
    """The short form an unknown identity fills in; only right after its provider vouched for it."""
    if request.user.is_authenticated:
        return redirect("home")
    login = pending_login(request)
    if login is None:
        messages.info(request, "Log in with your provider first; then you can ask for an account.")
        return redirect("login")
    latest = registration_latest(identity=login.identity)
    if latest is not None and latest.state == Registration.State.PENDING:
        request.session["registration_id"] = latest.pk
        return redirect("registration_waiting")
    if request.method == "POST":
        form = RegistrationForm(request.POST)
        if form.is_valid():
            try:
                registration = services.registration_create(
                    idp=login.provider.nickname,
                    identity=login.identity,
                    ip=client_ip(request),
                    **form.cleaned_data,
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                request.session["registration_id"] = registration.pk
                return redirect("registration_waiting")
    else:
        claims = login.claims
        form = RegistrationForm(
            initial={
                "requested_name": account_name_suggestion(claims=claims),
                "email": claims.get("email") or "",
                "display_name": claims.get("name") or "",
            }
        )
    rejected = latest if latest and latest.state == Registration.State.REJECTED else None
    context = {"form": form, "provider": login.provider, "rejected": rejected}
    return render(request, "accounts/register.html", context)


@never_cache
@require_GET
def registration_waiting(request):
    """What became of the registration this browser sent."""
    registration = Registration.objects.filter(pk=request.session.get("registration_id")).first()
    if registration is None:
        return redirect("login")
    login = pending_login(request)
    context = {
        "registration": registration,
        "retry_url": login_start_url(login.provider) if login else None,
    }
    return render(request, "accounts/registration_waiting.html", context)


# ---- Admins decide registrations --------------------------------------------------------------


def _require_admin(request) -> None:
    if not request.user.is_admin:
        raise PermissionDenied("Only data-centre admins may decide registrations.")


def _get_registration_for_admin(request, pk: int) -> Registration:
    _require_admin(request)
    return get_object_or_404(Registration, pk=pk)


def _registration_row(request, registration, **forms):
    context = {
        "registration": registration,
        "approve_form": forms.get("approve_form")
        or RegistrationApproveForm(initial={"name": registration.requested_name}),
        "reject_form": forms.get("reject_form") or RegistrationRejectForm(),
    }
    return render(request, "accounts/registrations.html#registration-row", context)


@login_required
@require_GET
def registrations(request):
    _require_admin(request)
    rows = [
        {
            "registration": registration,
            "approve_form": RegistrationApproveForm(initial={"name": registration.requested_name}),
            "reject_form": RegistrationRejectForm(),
        }
        for registration in registrations_pending()
    ]
    decided = Registration.objects.exclude(state=Registration.State.PENDING).select_related(
        "account", "decided_by"
    )[:20]
    return render(request, "accounts/registrations.html", {"rows": rows, "decided": decided})


def _decided(request, registration, form_name, form, *, error="", success=""):
    """After a decision: the updated row for htmx, else back to the list (POST -> redirect)."""
    if request.htmx:
        registration.refresh_from_db()
        return _registration_row(request, registration, **{form_name: form})
    if error:
        messages.error(request, error)
    if success:
        messages.success(request, success)
    return redirect("registrations")


@login_required
@require_POST
def registration_approve(request, pk: int):
    registration = _get_registration_for_admin(request, pk)
    form = RegistrationApproveForm(request.POST)
    if not form.is_valid():
        error = "Give a valid account name: " + " ".join(form.errors.get("name", []))
        return _decided(request, registration, "approve_form", form, error=error)
    try:
        account = services.registration_approve(
            registration=registration,
            actor=request.user,
            name=form.cleaned_data["name"],
            ip=client_ip(request),
        )
    except ValidationError as exc:
        form.add_error(None, " ".join(exc.messages))
        return _decided(request, registration, "approve_form", form, error=" ".join(exc.messages))
    success = f"Approved: the account {account.name} was created."
    return _decided(request, registration, "approve_form", form, success=success)


@login_required
@require_POST
def registration_reject(request, pk: int):
    registration = _get_registration_for_admin(request, pk)
    form = RegistrationRejectForm(request.POST)
    if not form.is_valid():
        error = "Say why you reject it: the reason is sent to the person."
        return _decided(request, registration, "reject_form", form, error=error)
    try:
        services.registration_reject(
            registration=registration,
            actor=request.user,
            reason=form.cleaned_data["reason"],
            ip=client_ip(request),
        )
    except ValidationError as exc:
        form.add_error(None, " ".join(exc.messages))
        return _decided(request, registration, "reject_form", form, error=" ".join(exc.messages))
    success = f"Rejected the registration of {registration.requested_name}."
    return _decided(request, registration, "reject_form", form, success=success)
