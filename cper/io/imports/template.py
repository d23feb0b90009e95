"""Blank import files to fill in (`cper import template operations|movements`, and the link on
the import page): an XLSX workbook whose first sheet carries the headers the importer reads,
each with a comment saying what to write, and drop-down lists of the contract's objectives,
partners and statuses (and movement kinds) read from a « Listes » sheet; an « Aide » sheet
repeats the help. The importer reads it back as it is, once filled in."""

from __future__ import annotations

import io
import re
from typing import Any

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from cper.contracts.models import Contract
from cper.io import vocabulary as voc
from cper.operations.models import OperationStatus

KINDS = ("operations", "movements")
# Rows the drop-down lists and formats cover below the headers.
TEMPLATE_ROWS = 2000

# The columns of each template, in order, with what to write in them.
HELP: dict[str, dict[str, str]] = {
    "operations": {
        "reference": "Votre numéro de dossier (obligatoire) : il identifie la ligne d'un import "
        "à l'autre. L'opération reçoit en plus le numéro du contrat (OP-…).",
        "title": "Intitulé de l'opération (obligatoire pour une nouvelle opération).",
        "owner_name": "Nom du maître d'ouvrage (obligatoire s'il est nouveau).",
        "owner_siret": "SIRET du maître d'ouvrage, 14 chiffres (ou N° RNA d'une association).",
        "communes": "Code(s) INSEE des communes, séparés par des virgules (ex. 59350).",
        "objective": "Objectif du contrat (liste) : son code suffit (ex. 2.2).",
        "status": "Statut (liste) : brouillon, déposée, en instruction, programmée, en cours…",
        "committee_date": "Date du comité qui a programmé l'opération (JJ/MM/AAAA). Vide pour "
        "une décision antérieure reprise : donnez alors sa date une fois à l'import.",
        "start_date": "Début prévu (JJ/MM/AAAA).",
        "end_date": "Fin prévue (JJ/MM/AAAA).",
        "cost_ht": "Coût total HT en euros (ex. 1 234 567,89).",
        "financer": "Financeur de la ligne (liste des partenaires), ou FEDER, Autofinancement, "
        "« Autre financement public : NOM ». Une ligne du fichier par financeur.",
        "amount": "Montant de la ligne de financement en euros.",
        "programme": "Ligne de l'État : son programme LOLF (ex. P112), attendu pour "
        "l'exécution par programme.",
        "bop": "Ligne de l'État : code Chorus de son BOP, facultatif.",
        "activity": "Ligne de l'État : code Chorus de son activité, facultatif.",
        "year": "Année de programmation de la ligne (AAAA), facultative.",
    },
    "movements": {
        "reference": "Votre numéro de dossier de l'opération (ou, sans partenaire, le N° "
        "d'opération du contrat).",
        "code": "N° d'opération du contrat (OP-…), si vous n'avez pas de numéro de dossier.",
        "financer": "Financeur de la ligne (liste des partenaires).",
        "kind": "Nature (liste) : engagement, désengagement, paiement, annulation de paiement.",
        "date": "Date du mouvement (JJ/MM/AAAA).",
        "amount": "Montant en euros, positif.",
        "movement_ref": "N° de l'engagement juridique ou du mandat (identifie le mouvement). "
        "Engagement de l'État : le n° d'EJ de Chorus, 10 chiffres.",
        "cancels_ref": "Pour une annulation : le N° du mouvement annulé.",
        "note": "Commentaire libre.",
    },
}

MOVEMENT_KIND_WORDS = ("engagement", "désengagement", "paiement", "annulation de paiement")
# Statuses offered in the list: those a register records (not the drafts of the pages).
STATUS_CHOICES = tuple(label for _, label in OperationStatus.choices)


def objective_choices(contract: Contract) -> list[str]:
    """« 2.2 — Mobilités… »: the code first, which is what the importer reads."""
    out = []
    for o in contract.objectives.order_by("axis__number", "position"):
        if re.fullmatch(r"\d+(?:\.\d+)*", o.code):
            out.append(f"{o.code} — {o.title}"[:250])
        else:
            out.append(o.code)
    return out


def partner_choices(contract: Contract) -> list[str]:
    return [str(p.short_name or p.name) for p in contract.partners.order_by("pk")]


def columns(kind: str) -> list[tuple[str, str, str]]:
    """(field, header, help) of a template's columns."""
    fields = voc.OPERATIONS.fields if kind == "operations" else voc.MOVEMENTS.fields
    return [(name, fields[name].label, text) for name, text in HELP[kind].items()]


def build(contract: Contract, kind: str) -> bytes:
    """The template of `kind` (operations or movements) for `contract`, as XLSX bytes."""
    if kind not in KINDS:
        raise ValueError(f"modèle inconnu « {kind} » : operations ou movements")
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Opérations" if kind == "operations" else "Mouvements"
    lists = book.create_sheet("Listes")
    helps = book.create_sheet("Aide")

    choices: dict[str, list[str]] = {"financer": partner_choices(contract)}
    if kind == "operations":
        choices["objective"] = objective_choices(contract)
        choices["status"] = list(STATUS_CHOICES)
    else:
        choices["kind"] = list(MOVEMENT_KIND_WORDS)
    titles = {"financer": "Partenaires", "objective": "Objectifs", "status": "Statuts"}
    titles["kind"] = "Natures de mouvement"
    ranges: dict[str, str] = {}
    for n, (name, values) in enumerate(choices.items(), start=1):
        letter = get_column_letter(n)
        lists.cell(row=1, column=n, value=titles[name]).font = Font(bold=True)
        for i, value in enumerate(values, start=2):
            lists.cell(row=i, column=n, value=value)
        lists.column_dimensions[letter].width = 40
        ranges[name] = f"Listes!${letter}$2:${letter}${max(2, len(values) + 1)}"

    helps.append(["Colonne", "Ce qu'il faut y écrire"])
    for c in helps[1]:
        c.font = Font(bold=True)
    helps.column_dimensions["A"].width = 34
    helps.column_dimensions["B"].width = 110
    for n, (name, header, text) in enumerate(columns(kind), start=1):
        cell = sheet.cell(row=1, column=n, value=header)
        cell.font = Font(bold=True)
        cell.comment = Comment(text, "cper", width=320, height=110)
        sheet.column_dimensions[get_column_letter(n)].width = max(16, min(40, len(header) + 4))
        helps.append([header, text])
        if name in ranges:
            rule = _list_rule(ranges[name], header)
            sheet.add_data_validation(rule)
            letter = get_column_letter(n)
            rule.add(f"{letter}2:{letter}{TEMPLATE_ROWS + 1}")
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _list_rule(source: str, header: str) -> Any:
    # A typed value outside the list is allowed with a warning: financers such as FEDER or
    # « Autre financement public : ADEME » are not in the partners' list.
    rule = DataValidation(type="list", formula1=f"={source}", allow_blank=True)
    rule.errorStyle = "warning"
    rule.showErrorMessage = True
    rule.errorTitle = header
    rule.error = "Valeur hors de la liste : vérifiez-la avant l'import."
    rule.promptTitle = header[:32]
    rule.prompt = "Choisissez dans la liste."
    rule.showInputMessage = True
    return rule


def file_name(contract: Contract, kind: str) -> str:
    what = "operations" if kind == "operations" else "mouvements"
    return f"{contract.slug}-modele-import-{what}.xlsx"
