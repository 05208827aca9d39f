from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from accounts.idps import get_providers


@require_GET
def login_page(request):
    if request.user.is_authenticated:
        return redirect("home")
    return render(request, "accounts/login.html", {"providers": get_providers().values()})
