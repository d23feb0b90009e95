"""The NinjaAPI instance: /api/v1/, its OpenAPI document and its interactive docs.

The API is a face: its routers call the selectors, services, the aggregation service and the
permission function, never write a model of another app, never sum money.
"""

from __future__ import annotations

from ninja import NinjaAPI, Swagger

from cper.api.auth import READ_AUTH, THROTTLES
from cper.api.errors import install_error_handlers
from cper.api.routers import closings as closings_router  # issue 16: arrêtés
from cper.api.routers import contracts, finance, maquette, operations
from cper.api.routers import forecasts as forecasts_router  # issue 16: prévisions
from cper.api.routers import indicators as indicators_router  # issue 16: indicateurs
from cper.api.routers import partner_decisions as partner_decisions_router  # issue 12

DESCRIPTION = """\
API du système d'information des CPER : lecture du contrat, de la maquette, des opérations,
des mouvements et de l'exécution ; écriture des opérations, plans de financement, engagements
et paiements.

* **Authentification** : `Authorization: Bearer <jeton>` ; un jeton personnel se crée sur la
  page « Jetons d'API » (`/compte/jetons/`). Sans jeton, seules les données publiées se lisent.
* **Montants** : chaînes décimales (`"1234.56"`) ; **dates** : ISO 8601 (`2024-03-31`).
* **Listes** : `{"count": total, "results": [...]}`, avec `next_cursor` quand elles sont paginées ;
  le total `count` d'une liste paginée est donné sur la première page seulement (`null` sur les
  pages lues avec `cursor`).
* **Écritures idempotentes** : en-tête `Idempotency-Key` ; une requête renvoyée avec la même
  clé n'écrit pas deux fois.
* **Erreurs** : `{"code": ..., "message": ..., "field": ...}` avec le statut HTTP approprié.
"""

api = NinjaAPI(
    title="CPER — API",
    version="1",
    description=DESCRIPTION,
    urls_namespace="api",
    docs=Swagger(settings={"persistAuthorization": True}),
    docs_url="/docs",
    openapi_url="/openapi.json",
    auth=READ_AUTH,
    throttle=THROTTLES,
)
install_error_handlers(api)
api.add_router("", contracts.router)
api.add_router("", operations.router)
api.add_router("", finance.router)
api.add_router("", maquette.router)
api.add_router("", closings_router.router)
api.add_router("", indicators_router.router)  # issue 16: indicateurs
api.add_router("", forecasts_router.router)  # issue 16: prévisions
api.add_router("", partner_decisions_router.router)  # issue 12
