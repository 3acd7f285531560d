"""Former location of the decoy corpus; kept as an alias of :mod:`estimators.decoys.corpus`."""
import sys

from .decoys.corpus import (CorpusEntry, build_corpus, main, native_seed,  # noqa: F401
                            read_corpus_file, rebuild_manifest)

__all__ = ["build_corpus", "read_corpus_file", "CorpusEntry", "native_seed", "rebuild_manifest",
           "main"]

if __name__ == "__main__":
    sys.exit(main())
