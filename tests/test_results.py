"""results.py: path mapping and the confinement of result-file scraps (pure functions and local files)."""

from __future__ import annotations

import os
import posixpath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from argo_papermill.results import (
    ForbiddenPath,
    inside,
    map_path,
    read_confined,
    resolve_result_file,
)

RESULTS = "/home/jovyan/job-output/2026-01-01/job-1"


def test_longest_prefix_wins():
    pm = {"/home/jovyan": "/srv/home", "/home/jovyan/s3": "s3://bucket/data", "/home/jovyan/s3x": "/nope"}
    assert map_path("/home/jovyan/s3/a/b.ipynb", pm).url == "s3://bucket/data/a/b.ipynb"
    assert map_path("/home/jovyan/s3", pm).url == "s3://bucket/data"
    assert map_path("/home/jovyan/s3x/f", pm).url == "/nope/f"
    assert map_path("/home/jovyan/other/f", pm).url == "/srv/home/other/f"
    assert map_path("/home/jovyanX/f", pm).url == "/home/jovyanX/f"  # a prefix is a whole path component
    assert map_path("/tmp/x", pm, {"anon": True}).storage_options == {"anon": True}


@pytest.mark.parametrize("value", ["out.csv", "sub/out.csv", f"{RESULTS}/out.csv", "./a/../out.csv"])
def test_result_file_inside(value):
    assert inside(resolve_result_file(value, RESULTS), RESULTS)


@pytest.mark.parametrize("value", ["../x", "../../../../etc/passwd", "/etc/passwd", f"{RESULTS}/../other/x",
                                   f"{RESULTS}-evil/x", "", ".", "a/../..", None, 3, "a\x00b"])
def test_result_file_escapes_are_refused(value):
    with pytest.raises(ForbiddenPath):
        resolve_result_file(value, RESULTS)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["..", ".", "a", "b", "", "/", "job-1", "~", "%2e%2e"]), max_size=8))
def test_resolved_paths_never_leave_the_results_directory(parts):
    value = "/".join(parts)
    try:
        path = resolve_result_file(value, RESULTS)
    except ForbiddenPath:
        return
    assert path.startswith(RESULTS + "/") and ".." not in path.split("/")
    assert posixpath.normpath(path) == path


def test_symlink_out_of_the_directory_is_refused(tmp_path):
    d = tmp_path / "res"
    d.mkdir()
    (tmp_path / "secret").write_text("token")
    os.symlink(tmp_path / "secret", d / "link")
    (d / "ok.txt").write_text("fine")
    dir_loc = map_path(RESULTS, {RESULTS: str(d)})
    assert read_confined(map_path(f"{RESULTS}/ok.txt", {RESULTS: str(d)}), dir_loc) == b"fine"
    with pytest.raises(ForbiddenPath):
        read_confined(map_path(f"{RESULTS}/link", {RESULTS: str(d)}), dir_loc)


@pytest.mark.parametrize("path,owned", [
    ("/home/jovyan/out/2026-01-01/20260101-000000-000000-nb-JOB", True),
    ("/home/jovyan/out/nb_result_x_JOB.ipynb", True),
    ("/home/jovyan/out/JOB/..", False),
    ("/home/jovyan/JOB/../..", False),
    ("/JOB", False),
    ("JOB", False),
    ("/home/jovyan/out", False),
    ("/home/JOB/shared", False),
])
def test_owned_by_job_refuses_parents_even_when_the_path_names_the_job(path, owned):
    from argo_papermill.results import owned_by_job

    assert owned_by_job(path, "JOB") is owned
