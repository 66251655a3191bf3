"""Words a trained text head never saw, rewritten to related words it did (WordNet).

A live tag library uses words the networks were never trained on: "crimson" where the
training tags said "red", "azure" for "blue". The frozen MiniLM encoder relates some of
them and misses others (BENCHMARKS.md, "Tag suggestions"). WordNet, a lexical database of
English, relates many: "crimson" is a synonym of "red", "azure" a kind of "blue".
``Thesaurus.rewrite`` replaces each word that no training tag uses by its closest related
word (a synonym first, then a similar adjective, then a direct hypernym, the more general
word, or a derived form: "three-sided" is a synonym of "triangular", derived from
"triangle"; inflected forms matched through their base forms) that is a whole training
tag ("rising" is a synonym of "move up", so it becomes "moving up"), and leaves a word it
cannot relate as it is.

The data is Debian's ``wordnet-base`` (the WordNet 3.0 database, /usr/share/wordnet), read
in its documented format (``wndb(5WN)``): ``index.<pos>`` maps a lemma to synset offsets,
which are byte offsets into ``data.<pos>``. NLTK's reader needs a ``lexnames`` file that
package does not ship. Shared by serving (tags, text and sentence queries:
``orchestrator.wording``) and evaluation, so the rewrite scored is the rewrite served.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path

_FILES = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
# Pointer symbols followed, by preference (wndb(5WN)): the synset's own words rank 0.
# Similar to (adjectives); hypernym, instance of; derivationally related, pertains to.
_RELATIONS = {"&": 1, "@": 2, "@i": 2, "+": 2, "\\": 2}
# Inflections WordNet's morphy strips when a form is not in the index itself.
_SUFFIXES = {"n": (("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"),
                   ("men", "man"), ("ies", "y"), ("s", "")),
             "v": (("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""),
                   ("ing", "e"), ("ing", ""), ("s", "")),
             "a": (("er", ""), ("est", ""), ("er", "e"), ("est", "e")),
             "r": ()}
_WORD = re.compile(r"[a-z][a-z'-]*", re.IGNORECASE)


class Thesaurus:
    """WordNet at ``root`` (``tags.thesaurus``); files are read on first use, synsets on
    demand. ``senses``: relate a word through its first ``senses`` senses of each part of
    speech only (WordNet lists them most frequent first); None: every sense."""

    def __init__(self, root: Path, senses: int | None = None) -> None:
        self.root = root
        self.senses = senses
        missing = [f"{kind}.{name}" for name in _FILES.values() for kind in ("index", "data")
                   if not (root / f"{kind}.{name}").is_file()]
        if missing:
            raise FileNotFoundError(f"no WordNet database in {root} (missing {missing[0]}): "
                                    "install Debian's wordnet-base")

    @cached_property
    def _index(self) -> dict[str, list[tuple[str, int]]]:
        """lemma -> [(pos, synset offset)], every part of speech."""
        out: dict[str, list[tuple[str, int]]] = {}
        for pos, name in _FILES.items():
            with open(self.root / f"index.{name}", encoding="latin-1") as lines:
                for line in lines:
                    if line.startswith(" "):  # the licence at the top
                        continue
                    fields = line.split()
                    synsets = int(fields[2])
                    out.setdefault(fields[0], []).extend(
                        (pos, int(o)) for o in fields[len(fields) - synsets:])
        return out

    @cached_property
    def _exceptions(self) -> dict[str, list[str]]:
        """Irregular forms -> lemmas ("better" -> "good", "rose" -> "rise")."""
        out: dict[str, list[str]] = {}
        for name in _FILES.values():
            path = self.root / f"{name}.exc"
            if path.is_file():
                for line in path.read_text(encoding="latin-1").splitlines():
                    form, *lemmas = line.split()
                    out.setdefault(form, []).extend(lemmas)
        return out

    def _synset(self, pos: str, offset: int
                ) -> tuple[list[str], list[tuple[str, str, int, int]]]:
        """(words, [(pointer symbol, pos, offset, target word)]) of the synset at
        ``offset``; target word 0: the whole synset, n: its n-th word (a lexical pointer,
        such as "triangular" -> "triangle")."""
        with open(self.root / f"data.{_FILES[pos]}", "rb") as data:
            data.seek(offset)
            fields = data.readline().decode("latin-1").split(" | ")[0].split()
        count = int(fields[3], 16)
        words = [_lemma(w) for w in fields[4:4 + 2 * count:2]]
        at = 4 + 2 * count
        pointers = [(fields[at + 1 + 4 * i], "a" if fields[at + 3 + 4 * i] == "s"
                     else fields[at + 3 + 4 * i], int(fields[at + 2 + 4 * i]),
                     int(fields[at + 4 + 4 * i][2:], 16))
                    for i in range(int(fields[at]))]
        return words, pointers

    def lemmas(self, word: str) -> list[str]:
        """``word`` and its base forms that WordNet lists ("rising" -> "rise")."""
        found = [word] if word in self._index else []
        found += [lemma for lemma in self._exceptions.get(word, []) if lemma in self._index]
        for suffixes in _SUFFIXES.values():
            found += [word[: -len(end)] + base for end, base in suffixes
                      if word.endswith(end) and word[: -len(end)] + base in self._index]
        return list(dict.fromkeys(found))

    def related(self, word: str) -> dict[str, int]:
        """Words related to ``word`` -> rank (0 synonym, 1 similar adjective, 2 hypernym or
        derived form)."""
        out: dict[str, int] = {}
        for lemma in self.lemmas(word.lower().replace(" ", "_")):
            seen: dict[str, int] = {}
            for pos, offset in self._index[lemma]:
                seen[pos] = seen.get(pos, 0) + 1
                if self.senses is not None and seen[pos] > self.senses:
                    continue
                words, pointers = self._synset(pos, offset)
                _keep(out, words, 0)
                for symbol, to_pos, to, target in pointers:
                    if symbol in _RELATIONS:
                        related = self._synset(to_pos, to)[0]
                        _keep(out, related[target - 1:target] if target else related,
                              _RELATIONS[symbol])
        out.pop(word.lower(), None)
        return out

    def rewrite(self, text: str, vocabulary: Vocabulary) -> str:
        """``text`` with each word the vocabulary's tags never use replaced by its
        best-ranked related word or phrase that is a whole tag; the rest kept as written."""

        def replace(match: re.Match[str]) -> str:
            closest = self._closest(match[0].lower(), vocabulary)
            return match[0] if closest == match[0].lower() else closest

        return _WORD.sub(replace, text)

    @cache  # noqa: B019 - a Thesaurus or two per process; words and vocabularies are few
    def _closest(self, word: str, vocabulary: Vocabulary) -> str:
        if word in vocabulary.words:
            return word
        forms = self._forms(vocabulary)
        known: dict[str, int] = {}
        for related, rank in self.related(word).items():
            # a hypernym or derived form must be the tag as written, not a base form of it:
            # "front" is a kind of "line", which says nothing of a "lined" background
            if (target := forms.get(related)) is not None and (rank < 2 or related == target):
                _keep(known, [target], rank)
        return min(known, key=lambda w: (known[w], w)) if known else word

    @cache  # noqa: B019
    def _forms(self, vocabulary: Vocabulary) -> dict[str, str]:
        """Each target tag and its base forms as WordNet lists them -> the tag ("spin" ->
        "spinning", "move up" -> "moving up": a phrase's first word inflects)."""
        out: dict[str, str] = {}
        for tag in sorted(vocabulary.targets):
            first, _, rest = tag.partition(" ")
            for lemma in self.lemmas(first):
                phrase = f"{lemma} {rest}".strip()
                if not rest or phrase.replace(" ", "_") in self._index:
                    out.setdefault(phrase, tag)
            out[tag] = tag
        return out


def rewriter(folder: Path | None, vocabulary: Vocabulary,
             senses: int | None = None) -> Callable[[str], str] | None:
    """The thesaurus at ``folder`` rewriting texts against ``vocabulary`` (what evaluation
    scores as the server embeds it); None without a WordNet database there."""
    if folder is None or not folder.is_dir():
        return None
    thesaurus = Thesaurus(folder, senses)
    return lambda text: thesaurus.rewrite(text, vocabulary)


@dataclass(frozen=True)
class Vocabulary:
    """What a model was trained on: ``words`` of its training tags are never rewritten,
    and a rewrite lands only on a whole tag (``targets``): "crimson" may become "red" and
    "rising" "moving up", never "moving", a word the tags use only in "moving up"."""

    words: frozenset[str]
    targets: frozenset[str]

    @staticmethod
    def of(tags: Iterable[str], words: Iterable[str] = ()) -> Vocabulary:
        """Tags that are both kept and targets; ``words``: more texts whose words are kept
        (the templates of training captions, whose phrases are the targets)."""
        texts = [" ".join(_WORD.findall(t.lower())) for t in tags]
        kept = [w for t in [*texts, *words] for w in _WORD.findall(t.lower())]
        # and the parts of a hyphenated word: "wave patterned" says what "wave-patterned" does
        parts = [p for w in kept for p in w.split("-") if p]
        return Vocabulary(frozenset([*kept, *parts]), frozenset(t for t in texts if t))

    @staticmethod
    def from_json(data: object) -> Vocabulary:
        """What an exporter wrote beside a model: a list of tags, or {"words", "targets"}."""
        if isinstance(data, dict):
            return Vocabulary(frozenset(map(str, data["words"])),
                              frozenset(map(str, data["targets"])))
        if isinstance(data, list):
            return Vocabulary.of(map(str, data))
        raise TypeError(f"not a vocabulary: {type(data).__name__}")

    def to_json(self) -> dict[str, list[str]]:
        return {"words": sorted(self.words), "targets": sorted(self.targets)}


def _lemma(word: str) -> str:
    """A data-file word as text: "sky_blue" -> "sky blue", "big(a)" -> "big"."""
    return re.sub(r"\(\w+\)$", "", word).replace("_", " ").lower()


def _keep(out: dict[str, int], words: Iterable[str], rank: int) -> None:
    for word in words:
        if rank < out.get(word, rank + 1):
            out[word] = rank
