"""Does lecture 04 find its demo checkpoints anywhere: beside it in the checkout, else downloaded
(md5-checked) from the course repository at the pinned tag, and never a corrupt one?"""

from __future__ import annotations

from pathlib import Path

import pytest

from dgm_utils import data
from dgm_utils.meta import Source
from unit_fakes import md5

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "lectures" / "checkpoints"
SPEC = data.DATASETS["lecture_checkpoints"]


def test_registry_lists_the_committed_checkpoints_with_their_md5s():
    """Do the md5s dgm_utils downloads against equal lectures/checkpoints/*.pt? (After retraining them, put the
    new md5s into dgm_utils/data.py and tag a release, or downloads from the pinned tag are refused.)"""
    committed = {p.name: data.md5sum(p) for p in sorted(COMMITTED.glob("*.pt"))}
    assert committed == SPEC.files, f"dgm_utils.data's lecture_checkpoints {SPEC.files} != the committed {committed}"


def test_the_mirror_is_the_repository_at_the_pinned_tag():
    """Is the download URL the raw GitHub file of this repository at v<version> (pyproject.toml), defined once?"""
    source = Source.from_pyproject(REPO / "pyproject.toml")
    assert SPEC.urls()[-1] + "pixel_rnn.pt" == source.raw_url("lectures/checkpoints/pixel_rnn.pt")
    assert f"/{source.slug}/v{source.version}/lectures/checkpoints/" in SPEC.urls()[-1]


def test_a_folder_beside_the_notebook_is_used_as_it_is(tmp_path, monkeypatch):
    """With a checkpoints/ folder (the checkout, the student pack): its file, unverified (the instructor may have
    retrained it), or None for a missing one (the notebook trains it); no download either way."""
    monkeypatch.setattr(data, "_download", lambda *a, **k: pytest.fail("downloaded although the folder exists"))
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    (folder / "markov_mlp.pt").write_bytes(b"retrained")
    assert data.lecture_checkpoint("markov_mlp.pt", folder) == folder / "markov_mlp.pt"
    assert data.lecture_checkpoint("pixel_rnn.pt", folder) is None


def test_without_the_folder_it_is_downloaded_from_the_repository_and_cached(tmp_path, monkeypatch):
    """No folder beside the notebook (Colab): is the file fetched from the raw GitHub URL at the pinned tag, kept
    in the cache only when its md5 matches, and then read from the cache with no request?"""
    monkeypatch.setenv("DGM_DATA_DIR", str(tmp_path / "cache"))
    requested = []

    def fake_download(url, dest, md5_expected, timeout):  # stands in for GitHub: serves the committed file
        requested.append(url)
        body = (COMMITTED / url.rsplit("/", 1)[1]).read_bytes()
        assert md5(body) == md5_expected
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(body)

    monkeypatch.setattr(data, "_download", fake_download)
    path = data.lecture_checkpoint("pixel_rnn.pt", tmp_path / "no-such-folder")
    assert requested == [SPEC.urls()[-1] + "pixel_rnn.pt"] and "raw.githubusercontent.com" in requested[0]
    assert path == tmp_path / "cache" / "lecture_checkpoints" / "pixel_rnn.pt"
    assert path.read_bytes() == (COMMITTED / "pixel_rnn.pt").read_bytes()
    assert data.lecture_checkpoint("pixel_rnn.pt", tmp_path / "no-such-folder") == path and len(requested) == 1


def test_wrong_bytes_from_the_mirror_are_refused_with_the_fix(tmp_path, monkeypatch, mirror):
    """A mirror serving other bytes (a stale tag, a proxy's error page): is nothing kept, and does the error say
    which file to put where?"""
    monkeypatch.setenv("DGM_DATA_DIR", str(tmp_path / "cache"))
    mirror.routes["ckpt"] = {"markov_mlp.pt": b"an html error page"}
    monkeypatch.setitem(data.DATASETS, "lecture_checkpoints",
                        data.DatasetSpec(SPEC.name, SPEC.files, mirrors=(mirror.url("ckpt"),)))
    with pytest.raises(data.DataUnavailableError, match="md5") as err:
        data.lecture_checkpoint("markov_mlp.pt", tmp_path / "none")
    assert "DGM_DATA_DIR" in str(err.value) and "markov_mlp.pt" in str(err.value)
    assert not (tmp_path / "cache" / "lecture_checkpoints" / "markov_mlp.pt").exists()
    mirror.routes["ckpt"]["markov_mlp.pt"] = (COMMITTED / "markov_mlp.pt").read_bytes()  # the right bytes: kept
    assert data.lecture_checkpoint("markov_mlp.pt", tmp_path / "none").read_bytes() == mirror.routes["ckpt"]["markov_mlp.pt"]


def test_unknown_checkpoint_is_a_key_error():
    with pytest.raises(KeyError, match="not a lecture checkpoint"):
        data.lecture_checkpoint("other.pt")
