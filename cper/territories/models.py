"""Reference geography (régions, départements, EPCI, communes) and named project territories.

Loaded from the files under `cper/territories/data/` (COG, see that folder's README); project
territories (Bassin minier, Sambre-Avesnois-Thiérache, littoral, QPV…) are sets of communes.
"""

from __future__ import annotations

from django.db import models


class Region(models.Model):
    code = models.CharField("code INSEE", max_length=3, primary_key=True)
    name = models.CharField("nom", max_length=100)
    chef_lieu = models.CharField("chef-lieu (code commune)", max_length=5, blank=True)
    siren = models.CharField("SIREN de la collectivité", max_length=9, blank=True)

    class Meta:
        verbose_name = "région"
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Departement(models.Model):
    code = models.CharField("code INSEE", max_length=3, primary_key=True)
    name = models.CharField("nom", max_length=100)
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="departements")
    chef_lieu = models.CharField("chef-lieu (code commune)", max_length=5, blank=True)
    siren = models.CharField("SIREN de la collectivité", max_length=9, blank=True)

    class Meta:
        verbose_name = "département"
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class Epci(models.Model):
    siren = models.CharField("SIREN", max_length=9, primary_key=True)
    name = models.CharField("nom", max_length=200)
    kind = models.CharField(
        "nature juridique", max_length=10, blank=True
    )  # CC, CA, CU, METRO, MET69
    population = models.PositiveIntegerField("population municipale", default=0)

    class Meta:
        verbose_name = "EPCI"
        verbose_name_plural = "EPCI"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Commune(models.Model):
    code = models.CharField("code INSEE", max_length=5, primary_key=True)
    name = models.CharField("nom", max_length=200)
    departement = models.ForeignKey(Departement, on_delete=models.PROTECT, related_name="communes")
    epci = models.ForeignKey(
        Epci, on_delete=models.PROTECT, related_name="communes", null=True, blank=True
    )
    siren = models.CharField("SIREN", max_length=9, blank=True)
    population = models.PositiveIntegerField("population municipale", default=0)
    postal_codes = models.CharField("codes postaux", max_length=200, blank=True)

    class Meta:
        verbose_name = "commune"
        ordering = ["name"]
        indexes = [models.Index(fields=["name"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class ProjectTerritory(models.Model):
    """A named territory of a contract's policies (Bassin minier, QPV…): a set of communes."""

    code = models.SlugField("code", max_length=50, unique=True)
    name = models.CharField("nom", max_length=200)
    region = models.ForeignKey(
        Region, on_delete=models.PROTECT, related_name="project_territories", null=True, blank=True
    )
    description = models.TextField("description", blank=True)
    source = models.CharField("source du périmètre", max_length=500, blank=True)
    communes = models.ManyToManyField(Commune, related_name="project_territories", blank=True)
    epcis = models.ManyToManyField(
        Epci,
        related_name="project_territories",
        blank=True,
        help_text="EPCI entièrement couverts (leurs communes sont ajoutées au périmètre).",
    )

    class Meta:
        verbose_name = "territoire de projet"
        verbose_name_plural = "territoires de projet"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
