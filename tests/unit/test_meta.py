"""Are the package's version and repository read from its metadata, and does that metadata say what
pyproject.toml says (the one place they are written)?"""

from __future__ import annotations

from pathlib import Path

import pytest

import dgm_utils
from dgm_utils import meta

REPO = Path(__file__).resolve().parents[2]


def test_installed_metadata_is_pyproject():
    """Is the installed package's Source (version, Repository URL) the one pyproject.toml declares? (Stale
    metadata after editing pyproject: make setup reinstalls the package.)"""
    assert meta.installed() == meta.Source.from_pyproject(REPO / "pyproject.toml")


def test_version_attribute_comes_from_the_metadata():
    assert dgm_utils.__version__ == meta.version() == meta.Source.from_pyproject(REPO / "pyproject.toml").version
    with pytest.raises(AttributeError):
        dgm_utils.no_such_attribute  # noqa: B018


def test_urls_of_a_source():
    s = meta.Source("https://github.com/owner/repo.git", "1.2.3")
    assert (s.slug, s.ref) == ("owner/repo", "v1.2.3")
    assert s.pip_spec == "dgm-utils @ git+https://github.com/owner/repo@v1.2.3"
    assert s.raw_url("/lectures/a.pt") == "https://raw.githubusercontent.com/owner/repo/v1.2.3/lectures/a.pt"
    assert s.colab_url("x/y.ipynb") == "https://colab.research.google.com/github/owner/repo/blob/v1.2.3/x/y.ipynb"


def test_a_repository_that_is_not_github_is_refused():
    with pytest.raises(meta.MetadataError, match="not https://github.com/<owner>/<name>"):
        meta.Source("https://gitlab.com/owner/repo", "1.0")


def test_without_metadata_the_error_says_how_to_install(monkeypatch):
    monkeypatch.setattr(meta, "_metadata", lambda: None)
    assert meta.version() == "0+unknown"
    with pytest.raises(meta.MetadataError, match="pip install -e ."):
        meta.installed()
