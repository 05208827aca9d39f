"""My account: the account's facts, its identities, and linking a grid certificate.

Kept apart from accounts/views.py (login and registration) so the two areas merge cleanly.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from accounts import services
from accounts.certificates import client_certificate
from accounts.http import client_ip
from accounts.models import Identity
from accounts.rucio.selectors import rucio_state_of
from accounts.selectors import (
    identity_find,
    identity_is_last_login,
    identity_of_account,
    identity_provider_label,
    identity_rows_for_account,
)


def _own_identity(request: HttpRequest, pk: int) -> Identity:
    """The signed-in account's identity `pk`; anyone else's is a 404, not a 403."""
    identity = identity_of_account(account=request.user, pk=pk)
    if identity is None:
        raise Http404("No such identity on your account.")
    return identity


def _refusal(exc: ValidationError) -> str:
    return " ".join(exc.messages)


@login_required
@require_GET
def account_page(request: HttpRequest) -> HttpResponse:
    rows = identity_rows_for_account(account=request.user)
    return render(
        request,
        "accounts/account.html",
        {
            "account": request.user,
            "rows": rows,
            "has_certificate": any(r.identity.type == Identity.Type.X509 for r in rows),
            "rucio": rucio_state_of(account=request.user),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def identity_remove_page(request: HttpRequest, pk: int) -> HttpResponse:
    identity = _own_identity(request, pk)
    if request.method == "POST":
        try:
            services.identity_remove(identity=identity, actor=request.user, ip=client_ip(request))
        except ValidationError as exc:
            messages.error(request, _refusal(exc))
        else:
            noun = "certificate" if identity.type == Identity.Type.X509 else "identity"
            messages.success(request, f"The {noun} is no longer linked to your account.")
        return redirect("account")
    identity.account = request.user
    return render(
        request,
        "accounts/identity_remove.html",
        {
            "identity": identity,
            "provider": identity_provider_label(identity=identity),
            "last_login": identity_is_last_login(identity=identity),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def certificate_page(request: HttpRequest) -> HttpResponse:
    certificate = client_certificate(request)
    if request.method == "POST":
        return _certificate_link(request, certificate)
    linked = None
    if certificate.dn is not None:
        linked = identity_find(type=Identity.Type.X509, identity=certificate.dn.to_slash())
    certificate_address = ""
    if settings.GATEHOUSE_CERT_LOGIN_URL:
        certificate_address = settings.GATEHOUSE_CERT_LOGIN_URL + reverse("account-certificate")
    return render(
        request,
        "accounts/certificate.html",
        {
            "certificate": certificate,
            "linked_here": linked is not None and linked.account_id == request.user.pk,
            "linked_elsewhere": linked is not None and linked.account_id != request.user.pk,
            "certificate_address": certificate_address,
        },
    )


def _certificate_link(request: HttpRequest, certificate) -> HttpResponse:
    # The DN always comes from the proxy's headers on this very request, never from the form.
    if certificate.dn is None:
        messages.error(request, "No verified certificate came with this request; see below.")
        return redirect("account-certificate")
    dn = certificate.dn.to_slash()
    if request.POST.get("dn") != dn:
        messages.warning(
            request,
            "Your browser presented a different certificate from the one you confirmed. "
            "Check the one shown now and confirm again.",
        )
        return redirect("account-certificate")
    try:
        services.identity_add(
            account=request.user,
            type=Identity.Type.X509,
            identity=dn,
            email=request.user.email,
            actor=request.user,
            ip=client_ip(request),
        )
    except ValidationError as exc:
        messages.error(request, _refusal(exc))
        return redirect("account-certificate")
    messages.success(request, f"Your certificate {dn} is now linked to your account.")
    return redirect("account")
