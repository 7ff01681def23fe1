"""The docs' notebook gallery (tools/gallery.py): the committed page and thumbnails are
what the script makes from the executed notebooks, every notebook is listed, and the page
is in the site's navigation."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest
import yaml
from test_notebooks import REQUIRED  # the notebooks that must exist; each has a gallery card

ROOT = Path(__file__).resolve().parents[1]
HINT = "run `python tools/gallery.py` after executing the notebooks (see notebooks/README.md)"


def _load_gallery():
    spec = importlib.util.spec_from_file_location("gallery", ROOT / "tools" / "gallery.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gallery = _load_gallery()


@pytest.mark.timeout(60)
def test_committed_gallery_is_what_the_script_makes():
    """Page and thumbnails equal the script's output for the notebooks as committed."""
    found = gallery.entries()
    assert {entry.name for entry in found} >= set(REQUIRED)
    assert (ROOT / "docs" / "gallery.md").read_text(encoding="utf-8") == gallery.render_page(
        found
    ), HINT
    for entry in found:
        thumbnail = ROOT / "docs" / "gallery" / f"{entry.name}.png"
        assert thumbnail.exists(), HINT
        assert thumbnail.read_bytes() == entry.thumbnail, f"{entry.name}: {HINT}"


@pytest.mark.timeout(60)
def test_every_entry_has_a_title_a_line_and_a_rendered_notebook():
    for entry in gallery.entries():
        assert entry.title and entry.title != entry.name, entry.name
        assert entry.line, entry.name
        assert (ROOT / "docs" / "notebooks" / f"{entry.name}.ipynb").exists(), entry.name
        assert entry.thumbnail.startswith(b"\x89PNG"), entry.name


@pytest.mark.timeout(60)
def test_a_new_notebook_is_listed_by_its_title_and_first_figure(tmp_path):
    """A notebook the script has no description for (say a later 04_...) still appears."""
    source = nbformat.read(ROOT / "notebooks" / "05_kmeans_as_a_limit.ipynb", as_version=4)
    nbformat.write(source, tmp_path / "04_new_notebook.ipynb")
    found = gallery.entries(tmp_path)
    assert [entry.name for entry in found] == ["04_new_notebook"]
    assert found[0].line == found[0].title == "k-means as a limit of EM"
    page = gallery.render_page(found)
    assert "(notebooks/04_new_notebook.ipynb)" in page
    assert "gallery/04_new_notebook.png" in page
    gallery.write(found, tmp_path / "docs")
    assert (tmp_path / "docs" / "gallery" / "04_new_notebook.png").read_bytes() == found[
        0
    ].thumbnail


@pytest.mark.timeout(60)
def test_a_notebook_without_a_figure_is_named(tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Empty")])
    nbformat.write(notebook, tmp_path / "09_empty.ipynb")
    with pytest.raises(ValueError, match=r"09_empty\.ipynb has no PNG figure"):
        gallery.entries(tmp_path)


@pytest.mark.timeout(60)
def test_gallery_page_is_in_the_navigation():
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)
    pages = [next(iter(item.values())) for item in config["nav"] if isinstance(item, dict)]
    assert "gallery.md" in pages
