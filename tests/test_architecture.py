"""The shape of the code, read from its syntax tree (`ast`, not text): where domain rows are
written, and which imports hide inside functions.

1. A write to a model — `.save()`, `.delete()`, a manager chain ending in `create`,
   `get_or_create`, `update_or_create`, `update`, `delete`, `bulk_create`, `bulk_update`, or a
   raw `INSERT INTO` / `UPDATE … SET` / `DELETE FROM` string — is made only by the write modules
   of an app: its `services` (module or package), `bulk.py`, `summaries` (module or package);
   migrations are not read. A manager chain rooted in a model imported from another app's
   `models` is refused even there: each app writes its own rows.
2. No function imports another cper app (`import` / `from cper.X …` / `import_module("cper.X")`
   in a function body): such an import hides a dependency, often an app cycle.
3. No cycle between apps: the apps that import one another, directly or through others, are
   only those listed (none left).

What remains is listed below, each entry with why; an entry that no longer matches anything
fails too, so the lists only shrink.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "cper"

# --- what counts -------------------------------------------------------------------------------

MANAGERS = frozenset({"objects", "_default_manager", "_base_manager"})
MANAGER_WRITES = frozenset(
    {"create", "get_or_create", "update_or_create", "update", "delete", "bulk_create"}
    | {"bulk_update"}
)
INSTANCE_WRITES = frozenset({"save", "delete"})
BULK_WRITES = frozenset({"bulk_create", "bulk_update"})
# Uppercase SQL keywords, as the project writes its SQL; a docstring saying "Insert the rows…"
# does not match.
RAW_SQL = re.compile(r"^\s*(INSERT\s+INTO|UPDATE\s+\S+\s+SET|DELETE\s+FROM)\b")

# --- what remains, and why ---------------------------------------------------------------------

# {module: ({chain roots or "SQL"}, why)}. A root is the first name of the written chain: the
# model (`ImportLog.objects.create`), or the variable (`log.save()`).
ALLOWED_WRITES: dict[str, tuple[frozenset[str], str]] = {
    "cper/db.py": (
        frozenset({"SQL"}),
        "`insert_rows`, `insert_objects` and `update_rows`, the mechanics the batch services "
        "share to write many rows (COPY on PostgreSQL): called only from services (movements, "
        "audit trail, summaries, the operations' batch, the State lines' Chorus codes)",
    ),
    "cper/operations/lifecycle.py": (
        frozenset({"current", "OperationTransition"}),
        "`operation_transition` is the operations app's status service (keyword-only, atomic, "
        "audited); the lifecycle module is its home",
    ),
    "cper/api/idempotency.py": (
        frozenset({"IdempotencyRecord", "existing"}),
        "the API's idempotency records: request bookkeeping of the API face, not a domain row",
    ),
    "cper/api/ratelimit.py": (
        frozenset({"RateCounter"}),
        "the API's rate counters (one atomic UPDATE per request, shared by all processes): "
        "request bookkeeping of the API face, not a domain row; never audited",
    ),
    "cper/io/imports/run.py": (
        frozenset({"ImportLog", "log"}),
        "the import log, written by the import run that it records and by the functions that "
        "open it for the pages (`import_log_open`): the io app's runner",
    ),
    "cper/io/bench.py": (
        frozenset({"Operation", "OperationCommune", "FinancingLine", "Movement"}),
        "the benchmark's floor: the same rows by a raw bulk_create, rolled back, to measure the "
        "services against it (`make bench`)",
    ),
    "cper/io/writers.py": (
        frozenset({"book"}),
        "not a model: `book.save()` writes a spreadsheet (openpyxl) to a buffer",
    ),
    "cper/io/imports/template.py": (
        frozenset({"book"}),
        "not a model: `book.save()` writes the blank import template (openpyxl) to a buffer",
    ),
}

# {module: ({imported cper modules}, why)}.
ALLOWED_FUNCTION_IMPORTS: dict[str, tuple[frozenset[str], str]] = {
    "cper/io/bench.py": (
        frozenset({"cper.loading", "cper.operations.models", "cper.finance.models"}),
        "the benchmark harness, loaded by `cper bench` only: keeps the io app's import light",
    ),
}


# [(apps that import one another), why]: the strongly connected groups of the app graph.
ALLOWED_CYCLES: list[tuple[frozenset[str], str]] = []
# (finance ⇄ operations was the last: the register's services now reach the execution they keep
# through `cper.operations.execution`, which the finance app provides.)


# --- the reading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    module: str
    line: int
    key: str  # a write's chain root (or "SQL"), an import's module
    what: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line} {self.what}"


@functools.cache
def _modules() -> tuple[tuple[str, ast.Module], ...]:
    """The source modules (migrations aside), parsed once for all the tests."""
    return tuple(
        (path.relative_to(REPO).as_posix(), ast.parse(path.read_text(encoding="utf-8")))
        for path in sorted(SOURCE.rglob("*.py"))
        if "migrations" not in path.parts
    )


def _chain(node: ast.expr) -> list[str]:
    """`Operation.objects.filter(...).update` → ["Operation", "objects", "filter", "update"]."""
    parts: list[str] = []
    while True:
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Name):
            parts.append(node.id)
            break
        else:
            parts.append("?")
            break
    return parts[::-1]


def _app(module: str) -> str:
    """`cper/operations/services/lines.py` → "operations"; a project module → its name."""
    return Path(module).parts[1].removesuffix(".py")


def _is_write_module(module: str) -> bool:
    parts = Path(module).with_suffix("").parts[2:]
    return bool(parts) and (
        parts[0] in {"services", "summaries"} or (len(parts) == 1 and parts[0] == "bulk")
    )


def _model_apps(tree: ast.Module) -> dict[str, str]:
    """{name: app} for the names a module imports from an app's `models`."""
    out: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            match = re.fullmatch(r"cper\.(\w+)\.models", node.module)
            if match:
                out.update({a.asname or a.name: match[1] for a in node.names})
    return out


def _sql_text(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):  # f"UPDATE {table} SET …" → "UPDATE {} SET …"
        return "".join(str(v.value) if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return None


def _not_sql(tree: ast.Module) -> set[int]:
    """The ids of the string nodes not read as SQL: docstrings, and the pieces of an f-string
    (the f-string is read whole)."""
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            ids.update(id(v) for v in node.values)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


Modules = Iterable[tuple[str, ast.Module]]


def writes(modules: Modules | None = None) -> list[Hit]:
    """Every write outside its app's write modules (or to another app's model)."""
    hits = []
    for module, tree in modules if modules is not None else _modules():
        own = _is_write_module(module)
        model_apps = _model_apps(tree)
        not_sql = _not_sql(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                chain = _chain(node.func)
                name, root = chain[-1], chain[0]
                through_manager = any(p in MANAGERS for p in chain[:-1])
                is_write = (
                    name in BULK_WRITES
                    or (through_manager and name in MANAGER_WRITES)
                    or (name in INSTANCE_WRITES and not through_manager)
                )
                # `super().save()` in a model's own `save` extends that write, it is not one.
                if not is_write or root == "super":
                    continue
                other_app = model_apps.get(root, _app(module)) != _app(module)
                if not own or (through_manager and other_app):
                    hits.append(Hit(module, node.lineno, root, ".".join(chain) + "()"))
            elif isinstance(node, ast.Constant | ast.JoinedStr) and id(node) not in not_sql:
                text = _sql_text(node)
                if text and RAW_SQL.match(text) and not own:
                    hits.append(Hit(module, node.lineno, "SQL", f"raw SQL {text[:30]!r}"))
    return hits


def function_imports(modules: Modules | None = None) -> list[Hit]:
    """Every import of another cper app (or project module) made inside a function."""
    hits = []
    for module, tree in modules if modules is not None else _modules():
        app = _app(module)
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(fn):
                names = _imported(node)
                if (
                    isinstance(node, ast.Call)
                    and _chain(node.func)[-1] in {"import_module", "__import__"}
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                ):
                    names = [str(node.args[0].value)]
                for name in names:
                    parts = name.split(".")
                    if parts[0] == "cper" and len(parts) > 1 and parts[1] != app:
                        line = getattr(node, "lineno", 0)
                        hits.append(Hit(module, line, name, f"import {name} in {fn.name}"))
    # A nested function's imports are walked from each enclosing function too.
    return sorted(set(hits), key=str)


def _imported(node: ast.AST) -> list[str]:
    """The modules an import statement names (absolute imports)."""
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        return [node.module]
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    return []


def app_graph(modules: Modules | None = None) -> dict[str, set[str]]:
    """{app: the other apps it imports}, module level or in a function. A project module
    (`cper/loading.py`, `cper/db.py`…) is a node of its own: a cycle through one (an app's
    command importing `cper.loading`, which imports that app back) is a cycle all the same."""
    nodes = {p.name.removesuffix(".py") for p in SOURCE.iterdir() if p.name != "__init__.py"}
    graph: dict[str, set[str]] = {}
    for module, tree in modules if modules is not None else _modules():
        app = _app(module)
        for node in ast.walk(tree):
            for name in _imported(node):
                parts = name.split(".")
                if parts[0] == "cper" and len(parts) > 1 and parts[1] in nodes and parts[1] != app:
                    graph.setdefault(app, set()).add(parts[1])
    return graph


def app_cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The groups of apps that reach one another (strongly connected, two apps or more)."""
    reach = {a: set(b) for a, b in graph.items()}
    changed = True
    while changed:  # transitive closure: a few dozen apps
        changed = False
        for targets in reach.values():
            more = set().union(*(reach.get(t, set()) for t in targets)) - targets
            if more:
                targets |= more
                changed = True
    groups = {frozenset({a} | {b for b in reach[a] if a in reach.get(b, set())}) for a in reach}
    return sorted((g for g in groups if len(g) > 1), key=sorted)


def _outside(hits: list[Hit], allowed: dict[str, tuple[frozenset[str], str]]) -> list[str]:
    return [str(h) for h in hits if h.key not in allowed.get(h.module, (frozenset(), ""))[0]]


def _stale(hits: list[Hit], allowed: dict[str, tuple[frozenset[str], str]]) -> list[str]:
    found = {(h.module, h.key) for h in hits}
    return [f"{m}: {k}" for m, (keys, _) in allowed.items() for k in keys if (m, k) not in found]


# --- the tests ---------------------------------------------------------------------------------


def test_domain_rows_are_written_by_their_apps_services_only():
    assert _outside(writes(), ALLOWED_WRITES) == []


def test_no_function_imports_another_app():
    assert _outside(function_imports(), ALLOWED_FUNCTION_IMPORTS) == []


def test_no_apps_import_one_another():
    assert app_cycles(app_graph()) == [apps for apps, _ in ALLOWED_CYCLES]


def test_the_cycle_reading_finds_a_cycle_through_a_third_app():
    sample = [
        ("cper/maquette/views.py", ast.parse("from cper.io.writers import x")),
        ("cper/io/exports.py", ast.parse("def f():\n    from cper.web import y")),
        ("cper/web/views.py", ast.parse("import cper.maquette.models")),
        ("cper/web/page.py", ast.parse("from cper.contracts.models import C")),
    ]
    graph = app_graph(sample)
    assert graph["io"] == {"web"} and graph["web"] == {"maquette", "contracts"}
    assert app_cycles(graph) == [frozenset({"io", "maquette", "web"})]
    # through a project module: an app's command that loads with `cper.loading`, which
    # imports that app back
    through = [
        ("cper/contracts/management/commands/x.py", ast.parse("from cper.loading import f")),
        ("cper/loading.py", ast.parse("from cper.contracts.loader import g")),
    ]
    assert app_cycles(app_graph(through)) == [frozenset({"contracts", "loading"})]


def test_the_allow_lists_name_only_what_remains():
    """A debt paid off leaves the list with it (delete the entry this names)."""
    assert _stale(writes(), ALLOWED_WRITES) == []
    assert _stale(function_imports(), ALLOWED_FUNCTION_IMPORTS) == []


def test_the_reading_catches_what_it_should():
    """The detector itself, on a sample: each kind of write and of hidden import is seen."""
    sample = '''
from cper.operations.models import Operation
def f(op, cursor):
    """Insert nothing: a docstring is not SQL."""
    import cper.finance.models
    from cper.maquette import selectors
    op.save()
    Operation.objects.filter(pk=1).update(title="x")
    Operation.objects.bulk_create([])
    cursor.execute(f"UPDATE {t} SET a = 1")
    cursor.execute("DELETE FROM x")
    super().save()
'''
    tree = ast.parse(sample)
    assert _chain(tree.body[1].body[3].value.func) == ["op", "save"]  # type: ignore[attr-defined]
    web = [("cper/web/sample.py", tree)]
    assert sorted(h.key for h in writes(web)) == ["Operation", "Operation", "SQL", "SQL", "op"]
    assert sorted(h.key for h in function_imports(web)) == ["cper.finance.models", "cper.maquette"]
    assert writes([("cper/operations/services/lines.py", tree)]) == []
    # Even a services module writes only its own app's models.
    assert {h.key for h in writes([("cper/finance/services.py", tree)])} == {"Operation"}
