"""Matching the headers people write to the fields the importers know, when no synonym is
written exactly: « Code INSEE commune », « N° SIRET du MO », « Obj. CPER », « Intitulé du projet
(libellé court) ».

A header and each known phrase of a field (its label, synonyms and name) are cut into tokens —
already normalised by `cper.io.readers.normalize` (no case, accents or punctuation) — small
words dropped (de, du, la…), abbreviations spelled out (MO/MOA = maître d'ouvrage, Obj. =
objectif, N°/Num = numéro…) and plurals and feminine endings folded (programmée = programmé).
A phrase scores the share of tokens the two have in common (Jaccard), a token also matching
the start of a longer one (« intit » = « intitulé ») ; one of the two must hold all the other's
tokens. The best pairs above `THRESHOLD` are taken first, one column per field and one field
per column, so that no two columns feed the same field.

No Django and no other cper module: the readers pass normalised texts in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# Below this share of common tokens a header is left unknown (and said so in the report).
THRESHOLD = 0.5
# A longer cell is text, not a header: not compared (the header row is looked for among the
# first rows of every sheet, whatever they hold).
MAX_HEADER_CHARS = 120
MAX_HEADER_TOKENS = 12

STOPWORDS = frozenset(
    {"de", "du", "des", "la", "le", "les", "l", "d", "a", "au", "aux", "en", "et", "pour"}
    | {"par", "sur", "dans", "un", "une", "son", "sa", "ses", "eur"}
)

# Abbreviations of registers → the words they stand for (normalised, before folding).
ABBREVIATIONS: dict[str, tuple[str, ...]] = {
    "mo": ("maitre", "ouvrage"),
    "moa": ("maitre", "ouvrage"),
    "maitrise": ("maitre",),
    "obj": ("objectif",),
    "n": ("numero",),
    "no": ("numero",),
    "num": ("numero",),
    "nr": ("numero",),
    "ref": ("reference",),
    "lib": ("libelle",),
    "mt": ("montant",),
    "mnt": ("montant",),
    "cout": ("cout",),
    "prog": ("programmation",),
    "dept": ("departement",),
    "dep": ("departement",),
    "benef": ("beneficiaire",),
    "op": ("operation",),
    "ope": ("operation",),
    "operations": ("operation",),
}


def fold(token: str) -> str:
    """`programmees` → `programme`, `communes` → `commune`: plural and feminine folded."""
    if len(token) > 3 and token.endswith("s"):
        token = token[:-1]
    if len(token) > 3 and token.endswith("ee"):
        token = token[:-1]
    return token


def tokens(normalized: str) -> tuple[str, ...]:
    """The meaningful tokens of a normalised header, abbreviations spelled out, in order."""
    out: list[str] = []
    for word in normalized.split():
        for part in ABBREVIATIONS.get(word, (word,)):
            if part in STOPWORDS:
                continue
            part = fold(part)
            if part not in out:
                out.append(part)
    return tuple(out)


def _same(a: str, b: str) -> bool:
    # A shortened word (« intit. », « categ. ») stands for the longer one it begins.
    if a == b:
        return True
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return len(short) >= 4 and long_.startswith(short) and not short.isdigit()


@dataclass(frozen=True)
class Match:
    index: int  # the column's position in the header row
    field: str
    score: float
    phrase: str  # the known phrase that matched best (normalised)


class HeaderMatcher:
    """The known phrases of one vocabulary, tokenised once."""

    def __init__(self, phrases: Mapping[str, Iterable[str]]):
        self.phrases: list[tuple[str, str, tuple[str, ...]]] = []
        # token → the phrases holding it: a header is compared only with the phrases it
        # shares a word with (the header row is looked for among many cells).
        self.by_token: dict[str, set[int]] = {}
        for name, texts in phrases.items():
            for text in texts:
                toks = tokens(text)
                if toks:
                    for tok in toks:
                        self.by_token.setdefault(tok, set()).add(len(self.phrases))
                    self.phrases.append((name, text, toks))
        self._near: dict[str, tuple[str, ...]] = {}
        self._seen: dict[str, dict[str, tuple[float, str]]] = {}

    def near(self, token: str) -> tuple[str, ...]:
        """The known tokens a header's token stands for (itself, or a word it shortens)."""
        if token not in self._near:
            if len(self._near) > 50_000:  # a long-lived process reading many files
                self._near.clear()
            found = tuple(t for t in self.by_token if _same(token, t))
            self._near[token] = found
            return found
        return self._near.get(token, ())

    def candidates(self, header: str) -> dict[str, tuple[float, str]]:
        """Every field a normalised header may name, with its best score and phrase."""
        if len(header) > MAX_HEADER_CHARS:
            return {}
        if header in self._seen:
            return self._seen[header]
        head = tokens(header)
        best: dict[str, tuple[float, str]] = {}
        if len(head) > MAX_HEADER_TOKENS:
            return best
        # Each header token as the known tokens it stands for, then compared by set operations.
        nears = [frozenset(self.near(tok)) for tok in head]
        reach = frozenset().union(*nears)
        ids: set[int] = set()
        for known in reach:
            ids |= self.by_token[known]
        for i in sorted(ids):
            name, text, toks = self.phrases[i]
            common = sum(1 for t in toks if t in reach)
            covered = sum(1 for n in nears if not n.isdisjoint(toks))
            if common < len(toks) and covered < len(head):
                continue
            both = min(common, covered)
            s = both / (len(head) + len(toks) - both)
            if s >= THRESHOLD and s > best.get(name, (0.0, ""))[0]:
                best[name] = (s, text)
        if len(self._seen) < 10_000:  # headers and first rows repeat; bounded all the same
            self._seen[header] = best
        return best

    def assign(self, headers: Iterable[tuple[int, str]], taken: Iterable[str] = ()) -> list[Match]:
        """The columns' fields: best pairs first, each field and each column used once; the
        fields of `taken` (named exactly elsewhere in the row) are not given again."""
        pairs: list[tuple[float, int, str, str]] = []
        for index, header in headers:
            for name, (s, text) in self.candidates(header).items():
                pairs.append((s, index, name, text))
        # Highest score first; on a tie, the leftmost column (people put the main one first).
        pairs.sort(key=lambda p: (-p[0], p[1]))
        used_fields, used_columns = set(taken), set()
        out: list[Match] = []
        for s, index, name, text in pairs:
            if name in used_fields or index in used_columns:
                continue
            used_fields.add(name)
            used_columns.add(index)
            out.append(Match(index, name, round(s, 2), text))
        return sorted(out, key=lambda m: m.index)
