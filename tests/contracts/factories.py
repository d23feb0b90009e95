"""Factories for a small contract (independent of the Hauts-de-France data file)."""

from __future__ import annotations

from decimal import Decimal

import factory

from cper.contracts.models import Axis, Contract, Objective, Partner, PartnerKind, Volet
from cper.territories.models import Region
from tests.accounts.factories import OrganisationFactory


class ContractFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contract

    slug = factory.Sequence(lambda n: f"contrat-test-{n}")
    title = factory.Sequence(lambda n: f"Contrat de test {n}")
    region = factory.LazyFunction(lambda: Region.objects.get(code="32"))
    start_year = 2021
    end_year = 2027
    envelope = Decimal("1000000.00")


class PartnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Partner

    contract = factory.SubFactory(ContractFactory)
    code = factory.Sequence(lambda n: f"partenaire-{n}")
    organisation = factory.SubFactory(OrganisationFactory)
    kind = PartnerKind.REGION
    name = factory.Sequence(lambda n: f"Partenaire {n}")


class AxisFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Axis

    contract = factory.SubFactory(ContractFactory)
    number = factory.Sequence(lambda n: n + 1)
    title = factory.Sequence(lambda n: f"Axe {n}")


class ObjectiveFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Objective

    axis = factory.SubFactory(AxisFactory)
    contract = factory.SelfAttribute("axis.contract")
    code = factory.Sequence(lambda n: f"9.{n + 1}")
    title = factory.Sequence(lambda n: f"Objectif {n}")


class VoletFactory(factory.django.DjangoModelFactory):  # issue 12
    class Meta:
        model = Volet

    contract = factory.SubFactory(ContractFactory)
    code = factory.Sequence(lambda n: f"volet-{n}")
    title = factory.Sequence(lambda n: f"Volet {n}")
    start_year = factory.SelfAttribute("contract.start_year")
    end_year = factory.SelfAttribute("contract.end_year")
