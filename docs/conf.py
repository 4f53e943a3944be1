"""Sphinx configuration of the ese_hw documentation site (``make docs``).

Built with warnings as errors (``sphinx-build -W --keep-going``, tests/test_docs.py), so
a broken link, a page left out of the tree or a docstring napoleon cannot parse fails
the build. Pages are Markdown (myst-parser) except the API reference, which is reST
because autodoc directives are.
"""

import ese_hw

project = "ese_hw"
author = "the ese_hw authors"
copyright = "the ese_hw authors"
release = ese_hw.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# `(label)=` targets and ```{eval-rst}``` blocks; headings get anchors so pages can link
# to "contract.md#5-the-axi4-stream-top-and-the-load-byte-stream".
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3

html_theme = "furo"
html_title = f"ese_hw {release}"

# The docstrings are numpy style (STYLE.md). Two spellings of ours napoleon does not
# know: "Members" (the ports and attributes of a component, as in Amaranth's own docs)
# and "Parameters (keyword-only)" (a component's constructor).
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_custom_sections = [
    ("Members", "params_style"),
    ("Members (from the sequencer's side)", "params_style"),
    ("Parameters (keyword-only)", "Parameters"),
]
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": False}
# Defaults as the source writes them (``timing=DEFAULT_TIMING``), not as the long reprs
# of the objects they name.
autodoc_preserve_defaults = True
