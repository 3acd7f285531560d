"""Sphinx configuration of the fourier6d documentation (build: ``bash scripts/build_docs.sh``).

Built offline with warnings as errors (``sphinx-build -W``); only Sphinx's own extensions and the
local ``docs/_ext/f6d_docs.py`` are used.  autodoc imports the package from the repository (this
folder's parent comes first on ``sys.path``), so the API reference is that of the working tree.
"""
import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS / "_ext"))
os.environ.setdefault("MPLBACKEND", "Agg")

project = "fourier6d"
author = "the fourier6d developers"
copyright = "2026, the fourier6d developers"


def _version():
    for line in (ROOT / "fourier6d" / "__init__.py").read_text(encoding="utf-8").splitlines():
        if line.startswith("__version__"):
            return line.split("=", 1)[1].strip().strip("\"'")
    return "unknown"


release = version = _version()

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "f6d_docs",
]

exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store", "**/*.md"]
templates_path = []
root_doc = "index"
language = "en"

# numpydoc-style docstrings through napoleon (built into Sphinx)
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_use_ivar = True

autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_inherit_docstrings = False
autoclass_content = "class"
autodoc_preserve_defaults = True

html_theme = "alabaster"
html_title = f"fourier6d {release}"
html_static_path = []
html_theme_options = {
    "description": "6DCNN: SE(3)-equivariant operators in the spherical Fourier space",
    "page_width": "1100px",
    "sidebar_width": "240px",
}
html_show_sourcelink = False
pygments_style = "sphinx"
