"""bayesgmm._utils.progress: the bar rich draws, and the plain-text bar a notebook without
ipywidgets gets instead of rich's widget (which would only warn and show nothing)."""

from __future__ import annotations

import importlib.util

import pytest
import rich.console

from bayesgmm._utils import progress


@pytest.mark.timeout(60)
def test_in_jupyter_without_ipywidgets_the_bar_ends_as_plain_text(monkeypatch, capsys):
    monkeypatch.setattr(rich.console, "_is_jupyter", lambda: True)
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "ipywidgets" else find_spec(name, *a),
    )
    assert not progress._console().is_jupyter
    with progress.progress_bar("advi (10 steps)", 10) as update:
        for done in range(1, 11):
            update(done)
    out = capsys.readouterr().out
    assert "advi (10 steps)" in out
    assert "100%" in out
    assert "\x1b" not in out  # no terminal redraws or colour codes in the saved output


@pytest.mark.timeout(60)
def test_with_ipywidgets_rich_keeps_its_jupyter_display(monkeypatch):
    monkeypatch.setattr(rich.console, "_is_jupyter", lambda: True)
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: object() if name == "ipywidgets" else find_spec(name, *a),
    )
    assert progress._console().is_jupyter


@pytest.mark.timeout(60)
def test_disabled_bar_is_none():
    with progress.progress_bar("x", 3, enabled=False) as update:
        assert update is None
