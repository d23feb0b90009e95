"""Pages of the data face: exports (links), and imports — upload, dry-run preview with the
rejections, confirmation, and the log of a run. Thin views over `cper.io.imports` / `exports`.

A large file is run by a background job (`cper.io.tasks.run_import`, in `cper worker`); the
page polls a status fragment (htmx, or a link to refresh without JavaScript) that reads the
log's state and the job's progress from the database, so any web process shows it. Only the
user who ran a simulation (or an administrator, `import.confirm_others`) may confirm it.
"""

from __future__ import annotations

import io
import logging
import uuid
import zipfile
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any, cast

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from cper.accounts.permissions import can, require
from cper.audit.models import Via
from cper.audit.services import Actor
from cper.contracts.models import Contract
from cper.io import datapackage, exports, scdl, tasks, writers
from cper.io import vocabulary as voc
from cper.io.imports import (
    ImportReport,
    Rejection,
    actor_for,
    import_log_open,
    run_logged,
    template,
)
from cper.io.models import ExportJob, ExportState, ImportKind, ImportLog, ImportState
from cper.io.readers import Mapping_, locate_table, read_file, upload_errors
from cper.io.readers import parse_date as parse_cell_date
from cper.io.services import (
    export_folder,
    export_job_open,
    export_retention,
    import_enqueue,
    import_fail,
    upload_folder,
)
from cper.params import guard_input
from cper.params import parse_date as parse_query_date

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
# A job still waiting after this long: the page says to check that `cper worker` runs.
WORKER_LATE_SECONDS = 60

logger = logging.getLogger(__name__)


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


@guard_input
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
            "templates": [
                (kind, reverse("io:import_template", kwargs={"slug": slug, "kind": kind}))
                for kind in template.KINDS
            ],
            "vocabularies": [
                ("Opérations et plans de financement", voc.OPERATION_FIELDS),
                ("Engagements et paiements", voc.MOVEMENT_FIELDS),
            ],
            "scdl_missing": scdl.missing_siret_message(missing)
            if (missing := scdl.missing_sirets(contract))
            else "",
            "sync_rows": _sync_rows(),
            "export_retention_days": export_retention().days,
            "prepared": ExportJob.objects.filter(contract=contract, user=request.user)[:10]
            if request.user.is_authenticated
            else [],
        },
    )


def _start(request: HttpRequest, log: ImportLog) -> None:
    """Run a logged import: a large file in a background job, a small one here and now."""
    actor = actor_for(request.user)
    size = Path(log.stored_path).stat().st_size if log.stored_path else 0
    if size > _background_threshold():
        import_enqueue(actor=actor, log=log, enqueue=tasks.enqueue_import)
        return
    try:
        run_logged(log, actor=actor)
    except PermissionDenied as exc:
        import_fail(log_id=log.pk, reason=tasks.failure_reason(exc))
        raise
    except Exception as exc:  # the page shows an end, with the reason, rather than an error page
        logger.exception("import %s en échec", log.pk)
        import_fail(log_id=log.pk, reason=tasks.failure_reason(exc))
        messages.error(request, "L'import a échoué : le motif est affiché ci-dessous.")


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
    problems = upload_errors(upload)  # before anything is stored or expanded
    if problems:
        for problem in problems:
            messages.error(request, problem)
        return redirect("io:index", slug=slug)
    partner = None
    if request.POST.get("partner"):
        partner = contract.partners.filter(code=request.POST["partner"]).first()
    programmed_on = None
    if request.POST.get("programmed_on") and kind == ImportKind.OPERATIONS:
        try:
            programmed_on = parse_cell_date(request.POST["programmed_on"])
        except ValueError as exc:
            messages.error(request, f"Date des décisions reprises : {exc}.")
            return redirect("io:index", slug=slug)
        if programmed_on > timezone.localdate():
            messages.error(
                request,
                "Date des décisions reprises : elle est à venir ; les décisions reprises ont été "
                "prises avant aujourd'hui.",
            )
            return redirect("io:index", slug=slug)
    mapping_text = None
    mapping_file = request.FILES.get("mapping")
    if mapping_file is not None:
        mapping_text = mapping_file.read().decode("utf-8", errors="replace")
    folder = upload_folder()
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
        options={
            "mapping": mapping_text,
            "programmed_on": programmed_on.isoformat() if programmed_on else None,
        },
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
    done, total = tasks.progress_of(log)
    percent = min(100, int(done * 100 / total)) if total else (100 if log.is_finished else 0)
    waited = (timezone.now() - log.started_at).total_seconds() if log.started_at else 0
    counts = [
        ("Créées", log.created),
        ("Modifiées", log.updated),
        ("Inchangées", log.unchanged),
        ("Rejetées", log.rejected),
    ]
    return {
        "log": log,
        "done": done,
        "total": total,
        "percent": percent,
        "counts": counts,
        "worker_late": log.state == ImportState.PENDING and waited > WORKER_LATE_SECONDS,
    }


def _may_confirm(user: Any, preview: ImportLog) -> bool:
    """Only who ran a simulation confirms it (they saw its report), or an administrator."""
    own = preview.user_id is not None and preview.user_id == getattr(user, "pk", None)
    return (own and can(user, "import.run")) or can(user, "import.confirm_others")


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
            "may_confirm": _may_confirm(request.user, log),
            **_status_context(log),
        },
    )


@require_POST
def import_confirm(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    contract, preview = _log(request, slug, pk)
    require(request.user, "import.run")
    if not _may_confirm(request.user, preview):
        author = preview.user or "un autre utilisateur"
        messages.error(
            request,
            f"Seul l'auteur de la simulation ({author}) ou un administrateur peut la confirmer : "
            "lancez votre propre simulation du fichier.",
        )
        return redirect("io:import_preview", slug=slug, pk=pk)
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


@require_http_methods(["GET"])
def import_template(request: HttpRequest, slug: str, kind: str) -> HttpResponse:
    """A blank file to fill in: the headers, their help and drop-down lists of the contract's
    objectives, partners and statuses (`cper.io.imports.template`)."""
    contract = _contract(slug)
    require(request.user, "import.run")
    if kind not in template.KINDS:
        raise Http404("modèle inconnu")
    response = HttpResponse(
        template.build(contract, kind), content_type=writers.CONTENT_TYPES["xlsx"]
    )
    response["Content-Disposition"] = f'attachment; filename="{template.file_name(contract, kind)}"'
    return response


# --- exports ------------------------------------------------------------------------------------


def _as_of(request: HttpRequest) -> Any:
    name = "as_of" if request.GET.get("as_of") else "date"
    text = request.GET.get(name)
    return parse_query_date(name, text) if text else None  # a bad date is a French 400


RESERVED = {"as_of", "date", "by", "format", "partner_scdl"}


def _export_params(request: HttpRequest) -> tuple[dict[str, Any], list[str], Any]:
    """(filters, group_by, as_of) of an export, from the query string."""
    filters = {
        k: (v if len(v) > 1 else v[0])
        for k, v in request.GET.lists()
        if k not in RESERVED and any(v)
    }
    group_by = [d for d in request.GET.get("by", "").split(",") if d]
    return filters, group_by, _as_of(request)


def _sync_rows() -> int:
    """Over this many rows, a register's XLSX or ODS is prepared in the background."""
    return int(getattr(settings, "CPER_EXPORT_SYNC_ROWS", 5000))


@guard_input
def export(request: HttpRequest, slug: str, kind: str, fmt: str) -> HttpResponse:
    contract = _contract(slug)
    require(request.user, "export.run")
    if kind not in exports.EXPORT_KINDS or fmt not in writers.FORMATS:
        raise Http404("export inconnu")
    filters, group_by, as_of = _export_params(request)
    try:
        if fmt != "csv" and kind in exports.REGISTER_KINDS:
            rows = exports.row_estimate(
                kind, contract, user=request.user, filters=filters, as_of=as_of
            )
            if rows > _sync_rows():  # too long to wait for: a background job prepares it
                return _prepare_page(request, contract, kind, fmt, rows)
        sheets = exports.build(
            kind, contract, user=request.user, filters=filters, as_of=as_of, group_by=group_by
        )
    except ValueError as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
    response: HttpResponseBase
    if fmt == "csv" and kind in exports.REGISTER_KINDS:
        # A register's CSV is streamed: the first bytes leave at once, the rows follow as the
        # database gives them (a server-side cursor on PostgreSQL), memory bounded by a chunk
        # of operations.
        response = StreamingHttpResponse(
            writers.iter_csv(sheets[0]), content_type=writers.CONTENT_TYPES[fmt]
        )
    else:
        try:
            content = writers.render(sheets, fmt)
        except writers.ExportTooLarge as exc:
            return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
        response = HttpResponse(content, content_type=writers.CONTENT_TYPES[fmt])
    name = exports.file_name(kind, contract, fmt, as_of)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    # `guard_input` is typed for HttpResponse; a streaming response goes through it unchanged.
    return cast(HttpResponse, response)


# --- exports prepared in the background -------------------------------------------------------

# What a background job prepares: each register and the execution in CSV, XLSX or ODS, the
# SCDL file (CSV) and the data package (ZIP).
PREPARED = {
    **{kind: writers.FORMATS for kind in exports.EXPORT_KINDS},
    "scdl": ("csv",),
    "datapackage": ("zip",),
}
PREPARED_TITLES = {
    **exports.KIND_TITLES,
    "scdl": "Subventions attribuées (SCDL subventions)",
    "datapackage": "Paquet de données Frictionless",
}


def _prepare_page(
    request: HttpRequest,
    contract: Contract,
    kind: str,
    fmt: str,
    rows: int,
    unit: str = "lignes",
) -> HttpResponse:
    query = request.GET.urlencode()
    action = reverse("io:export_prepare", kwargs={"slug": contract.slug, "kind": kind, "fmt": fmt})
    return render(
        request,
        "io/export_prepare.html",
        {
            "contract": contract,
            "title": f"Préparer l'export — {PREPARED_TITLES[kind]}",
            "breadcrumb_data": _crumbs(
                contract,
                "Préparer l'export",
                (reverse("io:index", kwargs={"slug": contract.slug}), "Données"),
            ),
            "what": PREPARED_TITLES[kind],
            "fmt": fmt.upper(),
            "rows": rows,
            "unit": unit,
            # a register's CSV streams: it is offered at once beside the prepared file
            "csv_now": kind in exports.REGISTER_KINDS and fmt != "csv",
            "action": f"{action}?{query}" if query else action,
        },
    )


@require_POST
@guard_input
def export_prepare(request: HttpRequest, slug: str, kind: str, fmt: str) -> HttpResponse:
    """« Préparer l'export »: record the export and hand it to a background job; the page of
    the job shows its progress, then the file. The query string carries the export's filters,
    `as_of`, `by` (and `partner` for SCDL), as for a direct download."""
    contract = _contract(slug)
    require(request.user, "export.run")
    if fmt not in PREPARED.get(kind, ()):
        raise Http404("export inconnu")
    filters, group_by, as_of = _export_params(request)
    try:
        rows = exports.row_estimate(kind, contract, user=request.user, filters=filters, as_of=as_of)
    except ValueError as exc:  # an unknown filter: said before anything is prepared
        return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
    params: dict[str, Any] = {
        "filters": filters,
        "group_by": group_by,
        "as_of": as_of.isoformat() if as_of else None,
    }
    if kind == "scdl" and request.GET.get("partner"):
        params["partner"] = request.GET["partner"]
    job = export_job_open(
        actor=Actor(user=request.user, via=Via.WEB),
        contract=contract,
        kind=kind,
        fmt=fmt,
        params=params,
        rows_total=rows,
        enqueue=tasks.enqueue_export,
    )
    return redirect("io:export_job", slug=slug, pk=job.pk)


def _export_job(request: HttpRequest, slug: str, pk: Any) -> tuple[Contract, ExportJob]:
    """The export `pk` of `slug`, to the user who asked for it (an anonymous visitor's export,
    of public data, to whoever has its link): anyone else gets a 404."""
    contract = _contract(slug)
    job = get_object_or_404(ExportJob, pk=pk, contract=contract)
    if job.user_id is not None and job.user_id != getattr(request.user, "pk", None):
        raise Http404("export introuvable")
    return contract, job


def _export_status_context(contract: Contract, job: ExportJob) -> dict[str, Any]:
    waited = (timezone.now() - job.created_at).total_seconds()
    return {
        "contract": contract,
        "job": job,
        "what": PREPARED_TITLES.get(job.kind, job.kind),
        "available": job.state == ExportState.DONE and bool(job.stored_path),
        "worker_late": job.state == ExportState.PENDING and waited > WORKER_LATE_SECONDS,
    }


def export_job(request: HttpRequest, slug: str, pk: Any) -> HttpResponse:
    contract, job = _export_job(request, slug, pk)
    context = _export_status_context(contract, job)
    return render(
        request,
        "io/export_job.html",
        {
            **context,
            "title": f"Export — {context['what']}",
            "breadcrumb_data": _crumbs(
                contract, "Export", (reverse("io:index", kwargs={"slug": slug}), "Données")
            ),
        },
    )


def export_job_status(request: HttpRequest, slug: str, pk: Any) -> HttpResponse:
    """The progress fragment the job's page polls (htmx) until the file is ready."""
    contract, job = _export_job(request, slug, pk)
    return render(request, "io/_export_status.html", _export_status_context(contract, job))


def export_download(request: HttpRequest, slug: str, pk: Any) -> HttpResponseBase:
    """The prepared file, to the user who asked for it; never served as a static file."""
    _, job = _export_job(request, slug, pk)
    if job.state != ExportState.DONE or not job.stored_path:
        raise Http404("fichier indisponible : préparez l'export à nouveau")
    root = export_folder().resolve()
    path = (Path(settings.MEDIA_ROOT) / job.stored_path).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise Http404("fichier indisponible : préparez l'export à nouveau")
    content_type = "application/zip" if job.fmt == "zip" else writers.CONTENT_TYPES.get(job.fmt, "")
    return FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=job.file_name,
        content_type=content_type or "application/octet-stream",
    )


def _whole_register_waits(
    request: HttpRequest, contract: Contract, kind: str, fmt: str
) -> HttpResponse | None:
    """The SCDL file and the data package hold the whole register the user sees: over
    `CPER_EXPORT_SYNC_ROWS` operations, their direct address offers « Préparer l'export »
    (a background job) rather than building them while the visitor waits; None under it."""
    operations = exports.row_estimate("operations", contract, user=request.user)
    if operations > _sync_rows():
        return _prepare_page(request, contract, kind, fmt, operations, unit="opérations")
    return None


@guard_input
def export_scdl(request: HttpRequest, slug: str) -> HttpResponse:
    contract = _contract(slug)
    require(request.user, "export.run")
    if (waits := _whole_register_waits(request, contract, "scdl", "csv")) is not None:
        return waits
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


@guard_input
def export_datapackage(request: HttpRequest, slug: str) -> HttpResponse:
    contract = _contract(slug)
    require(request.user, "export.run")
    if (waits := _whole_register_waits(request, contract, "datapackage", "zip")) is not None:
        return waits
    buffer = io.BytesIO()
    with TemporaryDirectory() as tmp:
        datapackage.export(contract, tmp, as_of=_as_of(request), user=request.user)
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(Path(tmp).iterdir()):
                archive.write(path, arcname=f"{contract.slug}/{path.name}")
    response = HttpResponse(buffer.getvalue(), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{contract.slug}-datapackage.zip"'
    return response
