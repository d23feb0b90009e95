"""`make bench` → `python -m bench`: generate the benchmark databases, measure, report.

    python -m bench                      # scales S and M, SQLite and PostgreSQL
    python -m bench --scales S           # quicker
    python -m bench --scales S,M,L       # L when asked
    python -m bench --regenerate         # rebuild the databases even if they exist
    python -m bench --scales S --parts charge   # the concurrent run only (bench.charge)
    python -m bench --databases sqlite   # one database only
    python -m bench --scales S,M --report-only   # rewrite docs/performance.md from the last
                                                 # saved measurements (var/bench/result-*.json)

Databases: SQLite files var/bench/cper-<scale>.sqlite3 and PostgreSQL databases
cper_bench_<scale> on BENCH_PG (default postgres://postgres@127.0.0.1:5432). Each generation
and each measurement runs in its own process (`bench.generate`, `bench.measure`), all the
timings of one database in one process. Writes docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "var" / "bench"
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
TARGETS = {
    "aggregate_ms": 50,
    "payment_ms": 10,
    "rebuild_s": 120,
}


def _url(scale: str, database: str) -> str:
    if database == "sqlite":
        return f"sqlite:///{BENCH_DIR / f'cper-{scale}.sqlite3'}"
    return f"{PG}/cper_bench_{scale.lower()}"


def _stamp(scale: str, database: str) -> Path:
    return BENCH_DIR / f"generated-{scale}-{database}.json"


def _pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def _reset(scale: str, database: str) -> None:
    if database == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            path = BENCH_DIR / f"cper-{scale}.sqlite3{suffix}"
            if path.exists():
                path.unlink()
    else:
        name = f"cper_bench_{scale.lower()}"
        _pg_admin(f"DROP DATABASE IF EXISTS {name}")
        _pg_admin(f"CREATE DATABASE {name}")


def _run(module: str, scale: str, database: str, *extra: str) -> dict[str, Any]:
    env = {**os.environ, "DATABASE_URL": _url(scale, database), "DJANGO_DEBUG": "0"}
    proc = subprocess.run(
        [sys.executable, "-m", module, "--scale", scale, *extra],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _generate(scale: str, database: str, *, regenerate: bool) -> Path:
    """The scale's database on `database`, generated unless it exists; its stamp's path."""
    stamp = _stamp(scale, database)
    if regenerate or not stamp.exists():
        print(f"== génération {scale} sur {database}…", flush=True)
        _reset(scale, database)
        gen = _run("bench.generate", scale, database)
        gen["database"] = database
        stamp.write_text(json.dumps(gen))
    return stamp


def _measure_import(scale: str, database: str, saved: Path) -> None:
    """Run `bench.imports` on the scale's database and save its figures."""
    print(f"== import {scale} sur {database}…", flush=True)
    imported = _run("bench.imports", scale, database)
    imported["database"] = database
    saved.write_text(json.dumps(imported))


def _measure_pages(scale: str, database: str, saved: Path, runs: int) -> None:
    """Run `bench.pages` on the scale's database and save its figures."""
    print(f"== pages {scale} sur {database}…", flush=True)
    measured = _run("bench.pages", scale, database, "--runs", str(max(runs, 11)))
    measured["database"] = database
    saved.write_text(json.dumps(measured))


def _measure_charge(scale: str, database: str, saved: Path, seconds: float) -> None:
    """Run `bench.charge` (the production server and 20 clients) on the scale's database."""
    print(f"== charge {scale} sur {database}…", flush=True)
    measured = _run("bench.charge", scale, database, "--seconds", str(seconds))
    measured["database"] = database
    saved.write_text(json.dumps(measured))


def _machine() -> dict[str, str]:
    import django
    import duckdb

    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
        memory = f"{mem_kb / 1024 / 1024:.1f} Gio"
    except (OSError, StopIteration):
        memory = "?"
    return {
        "cpu": cpu or platform.processor() or "?",
        "nproc": str(os.cpu_count()),
        "memory": memory,
        "os": platform.platform(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "duckdb": duckdb.__version__,
    }


def _fmt_ms(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 1000:
        return f"{value / 1000:,.2f} s".replace(",", " ")
    return f"{value:.1f} ms"


def _uncached(row: dict[str, Any]) -> str:
    if row.get("p50_uncached_ms") is None:
        return "—"
    return f"{_fmt_ms(row['p50_uncached_ms'])}, {_fmt_ms(row['p95_uncached_ms'])}"


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.3f}" if b else "—"


def report(
    results: list[dict[str, Any]],
    generation: list[dict[str, Any]],
    imports: list[dict[str, Any]] | None = None,
    pages: list[dict[str, Any]] | None = None,
    charges: list[dict[str, Any]] | None = None,
) -> str:
    machine = _machine()
    lines = [
        "# Performances de l'exécution financière",
        "",
        "Produit par `make bench` (`python -m bench`, paquet `bench/`) ; ne pas éditer à la main.",
        "Chaque mesure est la médiane de plusieurs exécutions dans un même processus par base :",
        "le service (`cper.finance.aggregation`, qui lit les agrégats maintenus), du SQL simple",
        "sur les mouvements bruts de la même base, et DuckDB sur les mêmes lignes chargées en",
        "mémoire (l'étalon). Les trois donnent les mêmes chiffres au centime (vérifié par le",
        "banc lui-même, colonne « identiques »).",
        "",
        "Les mesures faites à la main entre deux passages du banc (date, machine, commande) sont",
        "dans `docs/performance-journal.md`, que `make bench` ne réécrit pas.",
        "",
        "## Machine",
        "",
        f"- processeur : {machine['cpu']} — {machine['nproc']} cœurs visibles (nproc)",
        f"- mémoire : {machine['memory']}",
        f"- système : {machine['os']}",
        f"- Python {machine['python']}, Django {machine['django']}, DuckDB {machine['duckdb']}",
    ]
    for r in results:
        v = r["versions"]
        name = "PostgreSQL" if v["vendor"] == "postgresql" else "SQLite"
        entry = f"- {name} {v['server']}"
        if entry not in lines:
            lines.append(entry)
    lines += ["", "## Données", ""]
    lines.append(
        "| échelle | base | opérations | lignes de financement | mouvements "
        "| agrégats (cellules) | générateur | génération |"
    )
    lines.append("|---|---|---:|---:|---:|---:|---|---:|")
    gen = {(g["scale"], g["database"]): g for g in generation}
    for r in results:
        c = r["counts"]
        g = gen.get((r["scale"], r["database"]), {})
        lines.append(
            f"| {r['scale']} | {r['database']} | {c['operations']:,} | {c['lines']:,} | "
            f"{c['movements']:,} | {c['cells']:,} | {g.get('generator', 'existante')} | "
            f"{g.get('generate_s', '—')} s |".replace(",", " ")
        )
    for r in results:
        lines += [
            "",
            f"## Échelle {r['scale']} — {r['database']}",
            "",
            "| question | service | SQL brut | DuckDB | service / SQL brut | service / DuckDB "
            "| identiques |",
            "|---|---:|---:|---:|---:|---:|:---:|",
        ]
        for c in r["cases"]:
            lines.append(
                f"| {c['name']} | {_fmt_ms(c['service_ms'])} | {_fmt_ms(c['raw_ms'])} | "
                f"{_fmt_ms(c['duckdb_ms'])} | {_ratio(c['service_ms'], c['raw_ms'])} | "
                f"{_ratio(c['service_ms'], c['duckdb_ms'])} | "
                f"{'oui' if c['identical'] else '**NON**'} |"
            )
        lines += [
            "",
            f"- enregistrement d'un paiement (avec la mise à jour des agrégats), médiane : "
            f"{_fmt_ms(r['payment_ms'])}",
            f"- `cper execution rebuild-summaries` : {r['rebuild_s']:.1f} s",
            f"- preuve agrégats = recalcul (`verify`, partie de `cper contract check`) : "
            f"{r['verify_s']:.1f} s, {'égalité' if r['verify_ok'] else '**écarts**'}",
            *(
                [
                    f"- `cper contract check` (processus à part) : {r['check_s']:.1f} s, "
                    f"mémoire de pointe {r['check_mb']:.0f} Mo"
                ]
                if r.get("check_s") is not None
                else []
            ),
            *(
                [
                    "",
                    "Exports du registre entier par `cper export` (processus à part) :",
                    "",
                    "| export | durée | mémoire de pointe | taille du fichier |",
                    "|---|---:|---:|---:|",
                    *(
                        f"| {e['what']} | {e['seconds']:.1f} s | {e['peak_mb']:.0f} Mo | "
                        + (f"{e['size_mb']:.1f} Mo |" if e["size_mb"] is not None else "— |")
                        for e in r["exports"]
                    ),
                    "",
                ]
                if r.get("exports")
                else []
            ),
            f"- page des opérations : {r['selector']}",
        ]
        if r.get("api"):
            lines += [
                "",
                "API (`/api/v1/contracts/…`, en processus, jeton d'administrateur) :",
                "",
                "| point d'entrée | p50 | p95 |",
                "|---|---:|---:|",
            ]
            for name, fig in r["api"].items():
                lines.append(f"| {name} | {_fmt_ms(fig['p50_ms'])} | {_fmt_ms(fig['p95_ms'])} |")
    lines += _pages_section(pages or [])
    lines += _charge_section(charges or [])
    lines += _import_section(imports or [])
    lines += ["", "## Cibles", ""]
    targeted = [r for r in results if r["scale"] != "S"] or results
    lines += [
        "Les cibles de l'énoncé portent sur l'échelle M (et au-delà) ; à l'échelle S, où DuckDB",
        "balaie quelques dizaines de milliers de lignes en quelques millisecondes, elles ne",
        "s'appliquent pas (les chiffres S ci-dessus sont indicatifs).",
        "",
    ]
    lines += _targets(targeted)
    lines += ["", *NOTES]
    return "\n".join(lines) + "\n"


NOTES = [
    "## Lecture",
    "",
    "- **Questions** : le tableau de bord est `execution(group_by=(axis, partner, year))` à la",
    "  date du jour ; les filtres sont `departement=59` et `marker=emploi-formation-orientation` ;",
    "  la série est `execution_series` ; la page d'opérations est la première page (50) de",
    "  `operation_list` puis `execution(group_by=(operation,), filters={operation: codes})` ; la",
    "  date passée est le 15/06/2024 (milieu d'année et de mois : cellules annuelles, mensuelles",
    "  et journalières).",
    "- **SQL brut** : les mêmes chiffres par jointures et GROUP BY sur les lignes de base",
    "  (mouvements, lignes, opérations, objectifs, axes, partenaires, transitions, décisions,",
    "  comités), sans les agrégats ; la date de programmation y est la date UTC de la transition",
    "  (égale à la date de Paris pour les données générées). **DuckDB** : les mêmes requêtes sur",
    "  ces lignes copiées en mémoire (copie non chronométrée, montants en centimes), avec tous",
    "  les cœurs ; c'est l'étalon d'un balayage complet rapide.",
    "- **Paiement** : `payment_record` d'un centime par un administrateur (permission vérifiée),",
    "  transaction validée comprise (avec sa synchronisation disque).",
    "- **Page d'opérations** : le temps mesuré comprend le sélecteur des opérations",
    "  (`operation_list` : compte, page triée) et le service pour les 50 numéros ; sur",
    "  PostgreSQL à l'échelle M, l'essentiel est le sélecteur (≈ 80 ms mesurés à part, contre",
    "  ≈ 7 ms pour le service).",
    "- **Reconstruction** : `summaries.rebuild` (supprime puis recalcule états de ligne et",
    "  cellules) ; la preuve `verify` recalcule et compare sans rien écrire.",
    "- **Machine partagée** : d'autres processus tournaient pendant les mesures ; les médianes",
    "  amortissent le bruit, pas tout. Relancer : `make bench` (les bases générées sont gardées",
    "  sous `var/bench/` et `cper_bench_<échelle>` ; `--regenerate` pour les refaire).",
    "- **Échelle** : le générateur de démonstration (`cper demo`) produit 100 000 opérations et",
    "  390 000 lignes à l'échelle M, dont environ 289 000 programmées, qui reçoivent une dizaine",
    "  de mouvements chacune : 2,9 millions de mouvements (l'énoncé en prévoyait environ 4).",
]


IMPORT_TITLE = "## Import d'un tableur (opérations et plans de financement)"


def splice(text: str, section: list[str], title: str = IMPORT_TITLE) -> str:
    """`text` with its section `title` (the import's by default) replaced by `section` (added
    before « Cibles » when absent)."""
    body = "\n".join(section).strip("\n")
    if not body:
        return text
    if title in text:
        head, rest = text.split(title, 1)
        tail = rest[rest.index("\n## ") :] if "\n## " in rest else "\n"
        return f"{head}{body}\n{tail}"
    head, sep, tail = text.partition("\n## Cibles")
    return f"{head.rstrip()}\n\n{body}\n{sep}{tail}" if sep else f"{text.rstrip()}\n\n{body}\n"


PAGES_TITLE = "## Pages (cycle complet d'une requête Django)"


def _pages_section(pages: list[dict[str, Any]]) -> list[str]:
    """Each main page through the Django request cycle, next to the service's time for the same
    question, with the targets of issue 14 at M (twice them at L)."""
    if not pages:
        return []
    from bench.pages import TARGET_MEDIAN_MS, TARGET_P95_MS, TARGET_SERVICE_RATIO

    lines = [
        "",
        PAGES_TITLE,
        "",
        "`python -m bench.pages` : chaque page par le client de test de Django (routage,",
        "intergiciels, session, vue, gabarits : tout le travail du serveur, sans le réseau),",
        "connecté comme l'observateur de la démonstration (il voit les opérations non publiées :",
        "les listes les plus longues). « Premier appel » : la première requête du processus",
        "(caches à froid) ; médiane et 95e centile sur les appels suivants. « Service » : le seul",
        "appel `aggregation.execution(…)` de la question principale de la page (mêmes filtres,",
        "même date ; le tableau de bord : axe × partenaire × année), dans le même processus.",
        "Le tableau de bord et la page emploi et formation gardent leur contenu entre deux",
        "requêtes jusqu'à la prochaine écriture (`cper.web.figcache`) : « médiane » est celle",
        "des appels servis par ce cache, « sans cache » celle des mêmes appels quand chacun",
        "reconstruit la page (ce qu'attend le premier visiteur après une écriture).",
        f"Cibles à l'échelle M : médiane ≤ {TARGET_MEDIAN_MS} ms et 95e centile ≤ "
        f"{TARGET_P95_MS} ms ; tableau de bord ≤ {TARGET_SERVICE_RATIO} × le service ; "
        "deux fois ces temps à L ; S indicatif.",
    ]
    for p in pages:
        factor = {"M": 1, "L": 2}.get(p["scale"])
        lines += [
            "",
            f"### Échelle {p['scale']} — {p['database']}",
            "",
            "| page | premier appel | médiane | p95 | sans cache : médiane, p95 | requêtes SQL "
            "| service | page / service | cible atteinte |",
            "|---|---:|---:|---:|---:|---:|---:|---:|:---:|",
        ]
        for row in p["pages"]:
            service = row.get("service_ms")
            ratio = row["p50_ms"] / service if service else None
            verdict = "—"
            if factor:
                ok = (
                    row["p50_ms"] <= TARGET_MEDIAN_MS * factor
                    and row["p95_ms"] <= TARGET_P95_MS * factor
                )
                if ratio is not None and row["name"].startswith("tableau de bord"):
                    ok = ok and ratio <= TARGET_SERVICE_RATIO
                verdict = "oui" if ok else "**non**"
            lines.append(
                f"| {row['name']} | {_fmt_ms(row.get('first_ms'))} | {_fmt_ms(row['p50_ms'])} | "
                f"{_fmt_ms(row['p95_ms'])} | {_uncached(row)} | {row['queries']} | "
                f"{_fmt_ms(service)} | "
                f"{'—' if ratio is None else f'{ratio:.1f} ×'} | {verdict} |"
            )
        if p.get("exports"):
            lines += [
                "",
                f"Exports, échelle {p['scale']} — {p['database']} (CSV : la page, réponse en "
                "flux ; XLSX : la tâche en arrière-plan, son corps chronométré dans le même "
                "processus). Cible : CSV du registre entier, premier octet ≤ 1 s et 100 000 "
                "opérations en ≤ 15 s.",
                "",
                "| export | premier octet | total | taille |",
                "|---|---:|---:|---:|",
            ]
            for e in p["exports"]:
                size = f"{e['bytes'] / 1_048_576:.1f} Mo".replace(".", ",")
                lines.append(
                    f"| {e['name']} | {_fmt_ms(e.get('first_byte_ms'))} | "
                    f"{_fmt_ms(e['total_ms'])} | {size} |"
                )
    return lines


CHARGE_TITLE = "## Charge (serveur de production, clients simultanés)"


def _charge_section(charges: list[dict[str, Any]]) -> list[str]:
    """The concurrent run: the production server with several workers, N clients on the
    dashboard, then on the API, for a bounded time (loopback only), with the targets of issue
    14 for the dashboard at M."""
    if not charges:
        return []
    from bench.charge import TARGET_P95_MS, TARGET_PER_SECOND

    lines = [
        "",
        CHARGE_TITLE,
        "",
        "`python -m bench.charge` : `cper serve` (gunicorn, plusieurs processus) sur la base de",
        "banc, puis `bench.load` : N clients simultanés, chacun avec sa connexion persistante,",
        "sur la boucle locale, pendant une durée bornée (après quelques secondes de mise en",
        "route non mesurées). Le tableau de bord est demandé en visiteur anonyme (chiffres",
        "publics) avec et sans filtre département ; l'API (listes d'opérations, de mouvements",
        "et de lignes, 1re page de 50) avec le jeton d'un observateur. Les clients tournent sur",
        "la même machine que le serveur et lui prennent du temps de calcul. Cible au tableau de",
        f"bord, échelle M : ≥ {TARGET_PER_SECOND} requêtes/s, 95e centile ≤ "
        f"{TARGET_P95_MS} ms, aucune erreur ; S indicatif.",
        "",
        "| échelle | base | charge | processus | clients | durée | requêtes | requêtes/s | "
        "médiane | p95 | erreurs | cible atteinte |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for c in charges:
        for phase in c["phases"]:
            verdict = "—"
            if c["scale"] != "S" and phase["name"].startswith("tableau de bord"):
                ok = (
                    phase["per_second"] >= TARGET_PER_SECOND
                    and phase["p95_ms"] <= TARGET_P95_MS
                    and phase["errors"] == 0
                )
                verdict = "oui" if ok else "**non**"
            lines.append(
                f"| {c['scale']} | {c['database']} | {phase['name']} | {c['workers']} | "
                f"{phase['clients']} | {c['seconds']:.0f} s | {phase['requests']} | "
                f"{str(phase['per_second']).replace('.', ',')} | {_fmt_ms(phase['median_ms'])} | "
                f"{_fmt_ms(phase['p95_ms'])} | {phase['errors']} | {verdict} |"
            )
    return lines


def _import_section(imports: list[dict[str, Any]]) -> list[str]:
    """The spreadsheet import of a scale's whole register, next to a raw bulk insert."""
    rows = [r for r in imports if r.get("rows")]
    if not rows:
        return []
    lines = [
        "",
        IMPORT_TITLE,
        "",
        "`python -m bench.imports` : le registre entier de l'échelle exporté en CSV (disposition",
        "longue, une ligne par ligne de financement, statut et date de comité compris), importé",
        "dans un contrat jumeau par les services (chemin par lots de `cper.io.imports`, tout ou",
        "rien, appliqué), comparé à un `bulk_create` brut des mêmes lignes (le plancher, sans",
        "règle, sans journal, sans agrégats) ; puis le même fichier réimporté dans son propre",
        "contrat en simulation (toutes les lignes inchangées). « Registre identique » : le",
        "jumeau et l'original ont les mêmes opérations, communes, lignes actives et décisions de",
        "programmation (empreintes comparées, sans les identifiants). Tout est annulé à la fin.",
        "",
        "| échelle | base | opérations | lignes du CSV | import | lignes/s | `bulk_create` brut "
        "| lignes/s | import / brut | réimport (inchangé) | lignes/s | registre identique |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for i in rows:
        lines.append(
            f"| {i['scale']} | {i['database']} | {i['operations']:,} | {i['rows']:,} | "
            f"{i['import_seconds']:.1f} s | {i['import_rows_per_s']:,.0f} | "
            f"{i['bulk_seconds']:.1f} s | {i['bulk_rows_per_s']:,.0f} | {i['ratio']} | "
            f"{i['reimport_seconds']:.1f} s | {i['reimport_rows_per_s']:,.0f} | "
            f"{ {True: 'oui', False: '**non**'}.get(i.get('identical'), '—') } |".replace(",", " ")
        )
    moved = [i for i in rows if i.get("movements")]
    if moved:
        lines += [
            "",
            "Mouvements (engagements, paiements, désengagements, annulations) des premières",
            "opérations, importés dans le jumeau qui les contient désormais, par le service par",
            "lots `movements_record_many` (mêmes règles du grand livre, même audit, agrégats tenus",
            "à jour), comparés à un `bulk_create` brut des mêmes mouvements :",
            "",
            "| échelle | base | opérations | mouvements | import | mouvements/s "
            "| `bulk_create` brut | mouvements/s | import / brut |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for i in moved:
            m = i["movements"]
            lines.append(
                f"| {i['scale']} | {i['database']} | {m['operations']:,} | {m['rows']:,} | "
                f"{m['import_seconds']:.1f} s | {m['import_rows_per_s']:,.0f} | "
                f"{m['bulk_seconds']:.1f} s | {m['bulk_rows_per_s']:,.0f} | {m['ratio']} |".replace(
                    ",", " "
                )
            )
    return lines


def _targets(results: list[dict[str, Any]]) -> list[str]:
    out = [
        "| échelle | base | cible | mesure | atteinte |",
        "|---|---|---|---|:---:|",
    ]
    for r in results:
        cases = {c["name"]: c for c in r["cases"]}
        names = list(cases)
        dash, dep, marker, past = cases[names[0]], cases[names[1]], cases[names[2]], cases[names[5]]

        def row(target: str, measure: str, ok: bool, r: dict[str, Any] = r) -> None:
            verdict = "oui" if ok else "non"
            out.append(f"| {r['scale']} | {r['database']} | {target} | {measure} | {verdict} |")

        for c in (dash, dep, marker):
            row(f"{c['name']} ≤ 50 ms", _fmt_ms(c["service_ms"]), c["service_ms"] <= 50)
            row(
                f"{c['name']} ≤ ½ DuckDB",
                f"{_ratio(c['service_ms'], c['duckdb_ms'])} × DuckDB",
                c["service_ms"] <= c["duckdb_ms"] / 2,
            )
        row(
            "date passée ≤ 2 × date du jour",
            f"{_ratio(past['service_ms'], dash['service_ms'])} ×",
            past["service_ms"] <= 2 * dash["service_ms"],
        )
        if r["payment_ms"] is not None:
            row("paiement < 10 ms", _fmt_ms(r["payment_ms"]), r["payment_ms"] < 10)
        row("rebuild-summaries < 2 min", f"{r['rebuild_s']:.1f} s", r["rebuild_s"] < 120)
        if r.get("check_s") is not None and r["scale"] != "S":
            row(
                "`cper contract check` ≤ 60 s et ≤ 500 Mo",
                f"{r['check_s']:.1f} s, {r['check_mb']:.0f} Mo",
                r["check_s"] <= 60 and r["check_mb"] <= 500,
            )
        if r.get("exports") and r["scale"] != "S":
            heaviest = max(r["exports"], key=lambda e: e["peak_mb"])
            row(
                "mémoire ≤ 300 Mo pour tout export",
                f"{heaviest['peak_mb']:.0f} Mo au plus ({heaviest['what']})",
                heaviest["peak_mb"] <= 300,
            )
        row("chiffres identiques au centime", "", all(c["identical"] for c in r["cases"]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description="Banc d'essai de l'exécution financière")
    parser.add_argument("--scales", default="S,M")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--raw-runs", type=int, default=3)
    parser.add_argument("--output", default=str(ROOT / "docs" / "performance.md"))
    parser.add_argument(
        "--parts",
        default="measure,import,pages,charge",
        help="measure (execution, payments, API), import (the spreadsheet import), pages "
        "(the main pages through the Django request cycle) and/or charge (the production "
        "server under 20 concurrent clients)",
    )
    parser.add_argument(
        "--charge-seconds", type=float, default=15.0, help="durée de chaque charge (secondes)"
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="rewrite the report from the last saved measurements, without measuring",
    )
    args = parser.parse_args()
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    results, generation, imports, pages, charges = [], [], [], [], []
    for scale in [s.strip().upper() for s in args.scales.split(",") if s.strip()]:
        for database in [d.strip() for d in args.databases.split(",") if d.strip()]:
            saved = BENCH_DIR / f"result-{scale}-{database}.json"
            saved_import = BENCH_DIR / f"import-{scale}-{database}.json"
            parts = {p.strip() for p in args.parts.split(",")}
            regenerate = args.regenerate
            saved_pages = BENCH_DIR / f"pages-{scale}-{database}.json"
            if "pages" in parts and not args.report_only:
                _generate(scale, database, regenerate=regenerate)
                regenerate = False  # once per scale and database
                _measure_pages(scale, database, saved_pages, args.runs)
            if saved_pages.exists():
                pages.append(json.loads(saved_pages.read_text()))
            saved_charge = BENCH_DIR / f"charge-{scale}-{database}.json"
            if "charge" in parts and not args.report_only:
                _generate(scale, database, regenerate=regenerate)
                regenerate = False
                _measure_charge(scale, database, saved_charge, args.charge_seconds)
            if saved_charge.exists():
                charges.append(json.loads(saved_charge.read_text()))
            if args.report_only or "measure" not in parts:
                if "import" in parts and not args.report_only:
                    _generate(scale, database, regenerate=regenerate)
                    _measure_import(scale, database, saved_import)
                if saved_import.exists():
                    imports.append(json.loads(saved_import.read_text()))
                if saved.exists() and _stamp(scale, database).exists():
                    results.append(json.loads(saved.read_text()))
                    gen = json.loads(_stamp(scale, database).read_text())
                    gen["database"] = database
                    generation.append(gen)
                continue
            stamp = _generate(scale, database, regenerate=regenerate)
            gen = json.loads(stamp.read_text())
            gen["database"] = database
            generation.append(gen)
            print(f"== mesures {scale} sur {database}…", flush=True)
            res = _run(
                "bench.measure",
                scale,
                database,
                "--runs",
                str(args.runs),
                "--raw-runs",
                str(args.raw_runs),
            )
            res["database"] = database
            saved.write_text(json.dumps(res))
            if "import" in parts:
                _measure_import(scale, database, saved_import)
            if saved_import.exists():
                imports.append(json.loads(saved_import.read_text()))
            results.append(res)
    output = Path(args.output)
    if results:
        text = report(results, generation, imports, pages, charges)
    elif (imports or pages or charges) and output.exists():
        # Only the import, the pages or the charge were measured: their sections are
        # rewritten, the rest of the report kept.
        text = splice(output.read_text(), _import_section(imports))
        text = splice(text, _pages_section(pages), PAGES_TITLE)
        text = splice(text, _charge_section(charges), CHARGE_TITLE)
    else:
        text = report(results, generation, imports, pages, charges)
    print(text)
    output.write_text(text)
    print(f"écrit : {args.output}")


if __name__ == "__main__":
    main()
