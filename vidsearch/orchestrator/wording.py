"""Texts as a trained text encoder should read them: each word it never trained on is
rewritten to a related trained one by the thesaurus (``contract.thesaurus``), from the
vocabulary its exporter wrote beside it. Tags ("crimson disc" as "red disk") and text
queries ("a huge donut rising" as "a big donut going up") are rewritten the same way; what
is stored and shown stays as written, only the text embedded changes."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

from vidsearch.contract.repository_layout import version_dir
from vidsearch.contract.thesaurus import Thesaurus, Vocabulary

log = logging.getLogger(__name__)


class Wording:
    """The rewrite for each served version of ``model``, whose vocabulary is ``file``
    beside it (read once per version)."""

    def __init__(self, thesaurus: Thesaurus, repository: Path, model: str, file: str) -> None:
        self._thesaurus = thesaurus
        self._repository = repository
        self._model, self._file = model, file
        self._vocabularies: dict[int, Vocabulary | None] = {}
        self._lock = threading.Lock()

    @staticmethod
    def of(folder: Path | None, repository: Path, model: str, file: str,
           senses: int | None = None) -> Wording | None:
        """None (texts embedded as written) without a thesaurus, with a warning when one
        was configured but is not there."""
        if folder is None:
            return None
        try:
            return Wording(Thesaurus(folder, senses), repository, model, file)
        except FileNotFoundError as exc:
            log.warning("%s; %s embeds texts as written", exc, model)
            return None

    def vocabulary(self, version: int) -> Vocabulary | None:
        """The vocabulary exported with ``version`` (None: an older export)."""
        with self._lock:
            if version not in self._vocabularies:
                path = version_dir(self._repository, self._model, version) / self._file
                try:
                    vocabulary: Vocabulary | None = Vocabulary.from_json(
                        json.loads(path.read_text()))
                except (OSError, ValueError, TypeError, KeyError):
                    log.warning("%s version %d has no readable %s: texts are embedded as "
                                "written (re-export it)", self._model, version, self._file)
                    vocabulary = None
                self._vocabularies[version] = vocabulary
            return self._vocabularies[version]

    def rewrite(self, texts: list[str], version: int) -> list[str]:
        vocabulary = self.vocabulary(version)
        if vocabulary is None:
            return texts
        return [self._thesaurus.rewrite(text, vocabulary) for text in texts]
