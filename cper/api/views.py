"""Pages of the API app: the owner's API tokens (/compte/jetons/), and the API's JSON 404."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from cper.api.models import ApiToken
from cper.api.services import token_create, token_revoke, tokens_of


def api_index(request: HttpRequest) -> HttpResponse:
    """/api/v1/: where the description, the docs and the first resource are."""
    return JsonResponse(
        {
            "openapi": reverse("api:openapi-json"),
            "docs": reverse("api:openapi-view"),
            "contracts": reverse("api:contracts"),
            "tokens": "/compte/jetons/",
        }
    )


def api_not_found(request: HttpRequest) -> HttpResponse:
    return JsonResponse(
        {"code": "introuvable", "message": "Aucune ressource à cette adresse.", "field": None},
        status=404,
    )


@login_required
def tokens(request: HttpRequest) -> HttpResponse:
    created = None
    error = ""
    if request.method == "POST":
        name = request.POST.get("name", "").strip()
        if not name:
            error = "Donnez un nom au jeton (par exemple le logiciel qui l'utilisera)."
        elif len(name) > 100:
            error = "Le nom du jeton ne doit pas dépasser 100 caractères."
        else:
            created = token_create(user=request.user, name=name)
    return render(
        request,
        "api/tokens.html",
        {
            "title": "Jetons d'API",
            "tokens": tokens_of(user=request.user),
            "created": created,
            "error": error,
            "breadcrumb_data": {
                "links": [{"url": "/", "title": "Accueil"}],
                "current": "Jetons d'API",
            },
        },
        status=400 if error else 200,
    )


@login_required
@require_POST
def token_revoke_view(request: HttpRequest, token_id: int) -> HttpResponse:
    try:
        token = token_revoke(user=request.user, token_id=token_id)
    except ApiToken.DoesNotExist:
        raise Http404("Jeton introuvable.") from None
    messages.success(request, f"Le jeton « {token.name} » est révoqué.")
    return redirect("api_web:tokens")
