"""Pages of the data face: exports (links), and imports — upload, dry-run preview with the
rejections, confirmation, and the log of a run. Thin views over `cper.io.imports` / `exports`.

A large file runs in a background thread of the web process; the page polls a status
fragment (htmx, or a meta refresh without JavaScript) that shows the progress kept in the cache.
"""

from __future__ import annotations

import io
import threading
import uuid
import zipfile
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import close_old_connections
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from cper.accounts.models import User
from cper.accounts.permissions import can, require
from cper.contracts.models import Contract
from cper.io import datapackage, exports, scdl, writers
from cper.io import vocabulary as voc
from cper.io.imports import (
    ImportReport,
    Rejection,
    actor_for,
    import_log_failed,
    import_log_open,
    import_log_pending,
    run_logged,
)
from cper.io.models import ImportKind, ImportLog, ImportState
from cper.io.readers import Mapping_, locate_table, parse_date, read_file

MAX_UPLOAD_BYTES = 50 * 1024 * 1024


def _background_threshold() -> int:
    return int(getattr(settings, "CPER_IMPORT_BACKGROUND_BYTES", 256 * 1024))


def _contract(slug: str) -> Contract:
    return get_object_or_404(Contract, slug=slug)


def _crumbs(contract: Contract, current: str, *extra: tuple[str, str]) -> dict[str, Any]:
    links = [
        {"url": "/", "title": "Accueil"},
        {"url": reverse("web:contract", kwargs={"slug": contract.slug}), "title": contract.title},
    ]
    links += [{"url": url, "title": title} for url, title in extra]
    return {"links": links, "current": current}


def progress_key(pk: int) -> str:
    return f"cper-io-progress-{pk}"


def index(request: HttpRequest, slug: str) -> HttpResponse:
    contract = _contract(slug)
    can_import = can(request.user, "import.run")
    logs = (
        ImportLog.objects.filter(contract=contract).select_related("user", "partner")[:20]
        if can_import or can(request.user, "audit.view")
        else []
    )
    export_links = [
        {
            "kind": kind,
            "title": exports.KIND_TITLES[kind],
            "links": [
                (fmt.upper(), reverse("io:export", kwargs={"slug": slug, "kind": kind, "fmt": fmt}))
                for fmt in writers.FORMATS
            ],
        }
        for kind in exports.EXPORT_KINDS
    ]
    return render(
        request,
        "io/index.html",
        {
            "contract": contract,
            "title": f"Données — {contract.title}",
            "breadcrumb_data": _crumbs(contract, "Données"),
            "export_links": export_links,
            "partners": contract.partners.all(),
            "can_import": can_import,
            "logs": logs,
            "kinds": ImportKind.choices,
        },
    )


def _run_in_background(pk: int, user_pk: int | None) -> None:
    """Run a logged import in a thread of the web process (its own DB connection)."""

    try:
        log = ImportLog.objects.select_related("contract", "partner").get(pk=pk)
        user = User.objects.filter(pk=user_pk).first() if user_pk else None
        run_logged(
            log,
            actor=actor_for(user),
            progress=lambda done, total: cache.set(progress_key(pk), (done, total), 3600),
        )
    except Exception as exc:  # the page must show an end, whatever happened
        import_log_failed(pk, exc)
    finally:
        close_old_connections()


def _start(request: HttpRequest, log: ImportLog) -> None:
    size = Path(log.stored_path).stat().st_size if log.stored_path else 0
    if size > _background_threshold():
        import_log_pending(log)
        user_pk = request.user.pk if request.user.is_authenticated else None
        threading.Thread(
            target=_run_in_background, args=(log.pk, user_pk), daemon=True, name=f"import-{log.pk}"
        ).start()
    else:
        run_logged(log, actor=actor_for(request.user))


@require_POST
def import_upload(request: HttpRequest, slug: str) -> HttpResponse:
    contract = _contract(slug)
    require(request.user, "import.run")
    upload = request.FILES.get("file")
    kind = request.POST.get("kind", ImportKind.OPERATIONS)
    if kind not in ImportKind.values:
        raise Http404("nature d'import inconnue")
    if upload is None:
        messages.error(request, "Choisissez un fichier (XLSX, ODS ou CSV).")
        return redirect("io:index", slug=slug)
    if upload.size and upload.size > MAX_UPLOAD_BYTES:
        messages.error(request, "Fichier trop volumineux (50 Mo au plus) : utilisez `cper import`.")
        return redirect("io:index", slug=slug)
    partner = None
    if request.POST.get("partner"):
        partner = contract.partners.filter(code=request.POST["partner"]).first()
    mapping_text = None
    mapping_file = request.FILES.get("mapping")
    if mapping_file is not None:
        mapping_text = mapping_file.read().decode("utf-8", errors="replace")
    folder = Path(settings.MEDIA_ROOT) / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    name = Path(upload.name or "import.csv").name
    stored = folder / f"{uuid.uuid4().hex}-{name}"
    with stored.open("wb") as handle:
        for chunk in upload.chunks():
            handle.write(chunk)
    log = import_log_open(
        actor=actor_for(request.user),
        contract=contract,
        kind=kind,
        partner=partner,
        file_name=name,
        stored_path=str(stored),
        partial=bool(request.POST.get("partial")),
        options={"mapping": mapping_text},
    )
    _start(request, log)
    return redirect("io:import_preview", slug=slug, pk=log.pk)


def _log(request: HttpRequest, slug: str, pk: int) -> tuple[Contract, ImportLog]:
    contract = _contract(slug)
    if not (can(request.user, "import.run") or can(request.user, "audit.view")):
        raise PermissionDenied("Vous n'avez pas accès au journal des imports.")
    log = get_object_or_404(
        ImportLog.objects.select_related("user", "partner", "preview_of"), pk=pk, contract=contract
    )
    return contract, log


def _status_context(log: ImportLog) -> dict[str, Any]:
    done, total = cache.get(progress_key(log.pk), (log.rows_done, log.rows_total))
    percent = int(done * 100 / total) if total else (100 if log.is_finished else 0)
    counts = [
        ("Créées", log.created),
        ("Modifiées", log.updated),
        ("Inchangées", log.unchanged),
        ("Rejetées", log.rejected),
    ]
    return {"log": log, "done": done, "total": total, "percent": percent, "counts": counts}


def import_status(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """The progress fragment a page polls while a run goes on."""
    contract, log = _log(request, slug, pk)
    response = render(request, "io/_status.html", {"contract": contract, **_status_context(log)})
    if log.is_finished and request.headers.get("HX-Request"):
        target = "io:import_preview" if log.dry_run else "io:import_log"
        response["HX-Redirect"] = reverse(target, kwargs={"slug": slug, "pk": pk})
    return response


def import_preview(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    contract, log = _log(request, slug, pk)
    report = log.report or {}
    return render(
        request,
        "io/import_preview.html",
        {
            "contract": contract,
            "title": f"Simulation de l'import « {log.file_name} »",
            "breadcrumb_data": _crumbs(
                contract,
                "Simulation",
                (reverse("io:index", kwargs={"slug": slug}), "Données"),
            ),
            "report": report,
            "rejections": report.get("rejections", []),
            "can_confirm": log.dry_run
            and log.state == ImportState.DRY_RUN
            and (log.rejected == 0 or log.partial)
            and (log.created or log.updated),
            **_status_context(log),
        },
    )


@require_POST
def import_confirm(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    contract, preview = _log(request, slug, pk)
    require(request.user, "import.run")
    if not preview.dry_run or preview.state != ImportState.DRY_RUN or not preview.stored_path:
        messages.error(request, "Cette simulation ne peut pas être confirmée.")
        return redirect("io:import_preview", slug=slug, pk=pk)
    if not Path(preview.stored_path).is_file():
        messages.error(request, "Le fichier de la simulation n'est plus disponible : recommencez.")
        return redirect("io:index", slug=slug)
    log = import_log_open(
        actor=actor_for(request.user),
        contract=contract,
        kind=preview.kind,
        partner=preview.partner,
        file_name=preview.file_name,
        stored_path=preview.stored_path,
        partial=preview.partial,
        dry_run=False,
        sha256=preview.sha256,
        options=(preview.report or {}).get("options", {}),
        preview_of=preview,
    )
    _start(request, log)
    return redirect("io:import_log", slug=slug, pk=log.pk)


def import_log(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    contract, log = _log(request, slug, pk)
    report = log.report or {}
    return render(
        request,
        "io/import_log.html",
        {
            "contract": contract,
            "title": f"Import « {log.file_name} »",
            "breadcrumb_data": _crumbs(
                contract, "Import", (reverse("io:index", kwargs={"slug": slug}), "Données")
            ),
            "report": report,
            "rejections": report.get("rejections", []),
            **_status_context(log),
        },
    )


@require_http_methods(["GET"])
def import_rejects(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """The rejected rows of a run, with an « Erreur » column, to correct and re-import."""
    _, log = _log(request, slug, pk)
    if not log.stored_path or not Path(log.stored_path).is_file():
        raise Http404("fichier source indisponible")
    report = _replay_rejects(log)
    data = report.rejected_file("xlsx")
    response = HttpResponse(data, content_type=writers.CONTENT_TYPES["xlsx"])
    stem = Path(log.file_name).stem
    response["Content-Disposition"] = f'attachment; filename="{stem}-rejets.xlsx"'
    return response


def _replay_rejects(log: ImportLog) -> Any:
    """The rows a run rejected, read again from its stored file, with their messages."""
    data = Path(log.stored_path).read_bytes()
    vocabulary = voc.OPERATIONS if log.kind == ImportKind.OPERATIONS else voc.MOVEMENTS
    directory = voc.FinancerDirectory(list(log.contract.partners.all()))
    table = locate_table(
        read_file(data, log.file_name),
        vocabulary,
        mapping=Mapping_.load((log.report or {}).get("options", {}).get("mapping")),
        is_financer=directory.is_financer if log.kind == ImportKind.OPERATIONS else None,
    )
    report = ImportReport(log.kind, log.file_name, log.sha256, False, True)
    report.sheet = table.sheet
    report.headers = [c.header for c in table.columns]
    cells = dict(table.rows)
    for r in (log.report or {}).get("rejections", []):
        report.rejections.append(Rejection(r["sheet"], r["row"], r["column"], r["message"]))
        if r["row"] in cells:
            report.rejected_rows[r["row"]] = cells[r["row"]]
    return report


# --- exports ------------------------------------------------------------------------------------


def _as_of(request: HttpRequest) -> Any:
    text = request.GET.get("as_of") or request.GET.get("date")
    if not text:
        return None
    try:
        return parse_date(text)
    except ValueError as exc:
        raise Http404(str(exc)) from exc


RESERVED = {"as_of", "date", "by", "format", "partner_scdl"}


def export(request: HttpRequest, slug: str, kind: str, fmt: str) -> HttpResponse:
    contract = _contract(slug)
    require(request.user, "export.run")
    if kind not in exports.EXPORT_KINDS or fmt not in writers.FORMATS:
        raise Http404("export inconnu")
    filters = {
        k: (v if len(v) > 1 else v[0])
        for k, v in request.GET.lists()
        if k not in RESERVED and any(v)
    }
    group_by = [d for d in request.GET.get("by", "").split(",") if d]
    as_of = _as_of(request)
    try:
        sheets = exports.build(
            kind, contract, user=request.user, filters=filters, as_of=as_of, group_by=group_by
        )
    except ValueError as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
    response = HttpResponse(writers.render(sheets, fmt), content_type=writers.CONTENT_TYPES[fmt])
    name = exports.file_name(kind, contract, fmt, as_of)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def export_scdl(request: HttpRequest, slug: str) -> HttpResponse:
    contract = _contract(slug)
    require(request.user, "export.run")
    partner = None
    if request.GET.get("partner"):
        partner = contract.partners.filter(code=request.GET["partner"]).first()
    as_of = _as_of(request)
    try:
        rows = scdl.grants(contract, partner=partner, as_of=as_of, user=request.user)
    except scdl.ScdlError as exc:
        return HttpResponse(str(exc), status=409, content_type="text/plain; charset=utf-8")
    response = HttpResponse(scdl.render_csv(rows), content_type="text/csv; charset=utf-8")
    suffix = f"-{partner.code}" if partner else ""
    response["Content-Disposition"] = (
        f'attachment; filename="{contract.slug}-subventions-scdl{suffix}.csv"'
    )
    return response


def export_datapackage(request: HttpRequest, slug: str) -> HttpResponse:
    contract = _contract(slug)
    require(request.user, "export.run")
    buffer = io.BytesIO()
    with TemporaryDirectory() as tmp:
        datapackage.export(contract, tmp, as_of=_as_of(request), user=request.user)
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(Path(tmp).iterdir()):
                archive.write(path, arcname=f"{contract.slug}/{path.name}")
    response = HttpResponse(buffer.getvalue(), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{contract.slug}-datapackage.zip"'
    return response
