"""Where this package comes from: its version, the course repository, and the pinned tag.

Every fact is read from the installed package's metadata, which ``pyproject.toml`` writes
(``[project] version`` and ``[project.urls] Repository``), so nothing here is written twice:

    >>> from dgm_utils import meta
    >>> meta.installed().version, meta.installed().ref       # ("0.1.0", "v0.1.0")
    >>> meta.installed().pip_spec                              # what a notebook's bootstrap cell installs
    >>> meta.installed().raw_url("lectures/checkpoints/pixel_rnn.pt")

The pinned version of the course is the tag ``v<version>`` of the repository: the notebooks'
bootstrap cells install the package at that tag, their "Open in Colab" links open the notebooks
at that tag, and the lecture checkpoints are downloaded from it. ``course_tools.bootstrap`` builds
the same ``Source`` from pyproject.toml to write the notebooks' cells.
"""

from __future__ import annotations

import functools
import importlib.metadata
import re
from dataclasses import dataclass
from pathlib import Path

DISTRIBUTION = "dgm-utils"  # the name pip knows the package by (import name: dgm_utils)
URL_LABEL = "Repository"  # the key of [project.urls] that names the course repository
_GITHUB = re.compile(r"https://github\.com/(?P<owner>[A-Za-z0-9_.-]+)/(?P<name>[A-Za-z0-9_.-]+?)(?:\.git)?/?")


class MetadataError(RuntimeError):
    """The package's metadata is missing or does not name a GitHub repository."""


@dataclass(frozen=True)
class Source:
    """The course repository on GitHub at one version: every URL a notebook or download needs."""

    repository: str  # https://github.com/<owner>/<name>
    version: str

    def __post_init__(self) -> None:
        if not _GITHUB.fullmatch(self.repository):
            raise MetadataError(f"{URL_LABEL} URL {self.repository!r} is not https://github.com/<owner>/<name> "
                                "(pyproject.toml, [project.urls])")

    @property
    def slug(self) -> str:
        """``<owner>/<name>``."""
        match = _GITHUB.fullmatch(self.repository)
        assert match is not None
        return f"{match['owner']}/{match['name']}"

    @property
    def ref(self) -> str:
        """The git tag of this version: the pin of every install, link and download."""
        return f"v{self.version}"

    @property
    def pip_spec(self) -> str:
        """The pip requirement of this package at the pinned tag."""
        return f"{DISTRIBUTION} @ git+https://github.com/{self.slug}@{self.ref}"

    def raw_url(self, path: str) -> str:
        """The URL of the file ``path`` (relative to the repository root) at the pinned tag."""
        return f"https://raw.githubusercontent.com/{self.slug}/{self.ref}/{path.lstrip('/')}"

    def colab_url(self, path: str) -> str:
        """The URL that opens the notebook ``path`` of the repository, at the pinned tag, in Colab."""
        return f"https://colab.research.google.com/github/{self.slug}/blob/{self.ref}/{path.lstrip('/')}"

    @classmethod
    def from_pyproject(cls, path: str | Path) -> "Source":
        """The Source that pyproject.toml at ``path`` declares (what the package's metadata will say)."""
        import tomllib

        project = tomllib.loads(Path(path).read_text(encoding="utf-8"))["project"]
        return cls(repository=project["urls"][URL_LABEL], version=project["version"])


@functools.lru_cache(maxsize=1)
def _metadata() -> importlib.metadata.PackageMetadata | None:
    try:
        return importlib.metadata.metadata(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None


def version() -> str:
    """The installed package's version; ``0+unknown`` when dgm_utils runs from a folder without being
    installed (``pip install -e .`` in the checkout fixes that)."""
    md = _metadata()
    return md["Version"] if md is not None else "0+unknown"


def installed() -> Source:
    """The Source of the installed package, from its metadata.

    Raises:
        MetadataError: dgm_utils is not installed (imported from a bare folder), or its metadata
            names no GitHub repository.
    """
    md = _metadata()
    if md is None:
        raise MetadataError(f"dgm_utils is imported from {Path(__file__).parent} without being installed, so its "
                            "version and repository are unknown: run `pip install -e .` in the checkout "
                            "(make setup does), or install the package")
    urls = dict(entry.split(", ", 1) for entry in (md.get_all("Project-URL") or []) if ", " in entry)
    if URL_LABEL not in urls:
        raise MetadataError(f"the metadata of {DISTRIBUTION} {md['Version']} has no {URL_LABEL} URL "
                            "(pyproject.toml, [project.urls]): reinstall it")
    return Source(repository=urls[URL_LABEL], version=md["Version"])
