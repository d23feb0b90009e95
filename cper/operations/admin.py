"""The admin over the register: same permission function, same services, same audit trail.

Every `has_*_permission` asks `cper.accounts.permissions.can`; every save goes through the
services with `via="admin"` (so it is validated and audited like a page or an import); nothing
that touches money can be deleted here (financing lines are cancelled, decisions stay).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest

from cper.accounts.permissions import can
from cper.audit.services import Actor
from cper.contracts.models import Partner
from cper.operations import services
from cper.operations.models import (
    Committee,
    Decision,
    FinancingLine,
    Operation,
    OperationCommune,
    OperationTransition,
    ProjectOwner,
)


def _actor(request: HttpRequest) -> Actor:
    return Actor(user=request.user, via="admin")


class ServiceAdmin(admin.ModelAdmin):
    """Base: permissions from `can`, saves through a service, no deletion."""

    view_action = "operation.view"
    add_action = ""
    change_action = ""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_staff) and can(request.user, "operation.history")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return bool(self.add_action) and can(request.user, self.add_action)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(self.change_action) and can(request.user, self.change_action, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        try:
            saved = self.service_save(request, obj, form, change)
        except ValidationError as exc:
            # The form already passed: report the service's refusal and write nothing.
            for field, msgs in getattr(exc, "message_dict", {"": exc.messages}).items():
                for m in msgs:
                    messages.error(request, f"{field} : {m}" if field else m)
            raise
        obj.pk = saved.pk

    def service_save(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> Any:
        raise NotImplementedError

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # Many-to-many fields and inlines are written by the service in save_model.
        return None

    def changeform_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().changeform_view(request, *args, **kwargs)
        except ValidationError:
            from django.http import HttpResponseRedirect

            return HttpResponseRedirect(request.get_full_path())


def _changed(form: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    return {f: form.cleaned_data[f] for f in fields if f in form.changed_data}


@admin.register(ProjectOwner)
class ProjectOwnerAdmin(ServiceAdmin):
    list_display = ["name", "siret", "rna", "legal_category", "provenance"]
    list_filter = ["legal_category", "provenance"]
    search_fields = ["name", "siret", "rna"]
    FIELDS = ("name", "legal_category", "siret", "rna", "commune")
    fields = list(FIELDS)
    raw_id_fields = ["commune"]
    add_action = change_action = "owner.edit"

    def service_save(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> Any:
        data = {k: form.cleaned_data.get(k) for k in self.FIELDS}
        if change:
            return services.owner_update(
                actor=_actor(request), owner=obj, **_changed(form, self.FIELDS)
            )
        return services.owner_create(actor=_actor(request), **data)


class OperationCommuneInline(admin.TabularInline):
    model = OperationCommune
    extra = 0
    fields = ["position", "commune"]
    readonly_fields = ["position", "commune"]
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class FinancingLineInline(admin.TabularInline):
    model = FinancingLine
    extra = 0
    fields = ("financer_kind", "partner", "financer_label", "objective", "amount", "status")
    readonly_fields = (
        "financer_kind",
        "partner",
        "financer_label",
        "objective",
        "amount",
        "status",
    )
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Operation)
class OperationAdmin(ServiceAdmin):
    list_display = ["code", "title", "status", "objective", "departement", "published"]
    list_filter = ["contract", "status", "published", "provenance"]
    search_fields = ["code", "title", "owner__name"]
    list_select_related = ["objective", "departement"]
    raw_id_fields = ["owner"]
    readonly_fields = ["status", "departement", "epci", "provenance"]
    fields = [
        "contract",
        "code",
        "title",
        "description",
        "owner",
        "objective",
        "secondary_objectives",
        "markers",
        "start_date",
        "end_date",
        "cost_ht",
        "cost_ttc",
        "cost_base",
        "physical_progress",
        "published",
        "status",
        "departement",
        "epci",
        "provenance",
    ]
    inlines = [OperationCommuneInline, FinancingLineInline]
    add_action = "operation.create"
    change_action = "operation.edit"
    EDITABLE = (
        "title",
        "description",
        "owner",
        "objective",
        "secondary_objectives",
        "markers",
        "start_date",
        "end_date",
        "cost_ht",
        "cost_ttc",
        "cost_base",
        "physical_progress",
        "published",
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        ro = list(self.readonly_fields)
        return [*ro, "contract", "code"] if obj else ro

    def get_form(  # type: ignore[override]
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        if "code" in form.base_fields:  # left empty, the service numbers it OP-000001…
            form.base_fields["code"].required = False
        return form

    def service_save(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> Any:
        if change:
            return services.operation_update(
                actor=_actor(request), operation=obj, **_changed(form, self.EDITABLE)
            )
        data = {k: form.cleaned_data.get(k) for k in self.EDITABLE}
        return services.operation_create(
            actor=_actor(request),
            contract=form.cleaned_data["contract"],
            code=form.cleaned_data.get("code") or None,
            **data,
        )


@admin.register(FinancingLine)
class FinancingLineAdmin(ServiceAdmin):
    list_display = ["operation", "financer_kind", "partner", "objective", "amount", "status"]
    list_filter = ["financer_kind", "partner", "status", "contractualised"]
    search_fields = ["operation__code", "financer_label"]
    list_select_related = ["operation", "partner", "objective"]
    raw_id_fields = ["operation"]
    readonly_fields = ["status", "cancel_reason"]
    fields = [
        "operation",
        "financer_kind",
        "partner",
        "financer_label",
        "objective",
        "amount",
        "contractualised",
        "budget_nature",
        "programme",
        "year",
        "external_ref",
        "status",
        "cancel_reason",
    ]
    EDITABLE = (
        "amount",
        "financer_label",
        "objective",
        "contractualised",
        "budget_nature",
        "programme",
        "year",
        "external_ref",
    )
    actions = ["cancel_lines"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        ro = list(self.readonly_fields)
        return [*ro, "operation", "financer_kind", "partner"] if obj else ro

    def has_add_permission(self, request: HttpRequest) -> bool:
        return can(request.user, "financing_line.edit")

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "partner":  # only the partners whose lines the user may write
            allowed = [
                p.pk
                for p in Partner.objects.select_related("organisation")
                if can(request.user, "financing_line.edit", (None, p))
            ]
            kwargs["queryset"] = Partner.objects.filter(pk__in=allowed)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return can(request.user, "financing_line.edit", obj)

    def service_save(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> Any:
        if change:
            return services.financing_line_update(
                actor=_actor(request), line=obj, **_changed(form, self.EDITABLE)
            )
        data = {k: form.cleaned_data.get(k) for k in self.EDITABLE}
        return services.financing_line_add(
            actor=_actor(request),
            operation=form.cleaned_data["operation"],
            financer_kind=form.cleaned_data["financer_kind"],
            partner=form.cleaned_data.get("partner"),
            **data,
        )

    @admin.action(description="Annuler les lignes choisies (motif : annulation depuis l'admin)")
    def cancel_lines(self, request: HttpRequest, queryset: Any) -> None:
        done = 0
        for line in queryset.select_related("partner", "operation"):
            try:
                services.financing_line_cancel(
                    actor=_actor(request), line=line, reason="annulée depuis l'administration"
                )
                done += 1
            except (ValidationError, PermissionDenied) as exc:
                messages.error(
                    request, f"{line} : {' '.join(getattr(exc, 'messages', [str(exc)]))}"
                )
        if done:
            messages.success(request, f"{done} ligne(s) annulée(s).")


@admin.register(Committee)
class CommitteeAdmin(ServiceAdmin):
    list_display = ["date", "kind", "place", "contract", "provenance"]
    list_filter = ["contract", "kind", "provenance"]
    fields = ["contract", "kind", "date", "place", "title", "minutes"]
    add_action = change_action = "committee.edit"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["contract"] if obj else []

    def service_save(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> Any:
        fields = ("kind", "date", "place", "title", "minutes")
        if change:
            return services.committee_update(
                actor=_actor(request), committee=obj, **_changed(form, fields)
            )
        return services.committee_create(
            actor=_actor(request),
            contract=form.cleaned_data["contract"],
            **{k: form.cleaned_data.get(k) or "" for k in fields if k != "date"},
            date=form.cleaned_data["date"],
        )


@admin.register(Decision)
class DecisionAdmin(ServiceAdmin):
    """Read-only: decisions are recorded on the committee's page (`decision_record`)."""

    list_display = ["committee", "operation", "outcome", "decided_at"]
    list_filter = ["outcome"]
    readonly_fields = ["committee", "operation", "outcome", "notes", "decided_at"]


@admin.register(OperationTransition)
class OperationTransitionAdmin(ServiceAdmin):
    """Read-only: the log is written by `lifecycle.operation_transition`."""

    list_display = ["operation", "from_status", "to_status", "at", "user"]
    list_filter = ["to_status"]
    readonly_fields = ["operation", "from_status", "to_status", "at", "user", "reason", "decision"]
