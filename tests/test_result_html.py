"""The executed notebook as an HTML output artifact for the Argo UI (issue 14, point 3).

With an artifact repository (``result_artifact``) the papermill step renders the output notebook with
nbconvert where the image has it, and the Workflow saves it as ``result-html`` (``archive: none``, so the
key ends ``.html`` and the Argo UI previews it). The page is opened in headless Chromium (Debian's
``chromium``), which must show the output cells.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
from test_translate_run_papermill import VENV_BIN, _pod

from argo_papermill import NotebookProcessor
from argo_papermill.contract import ENV_RENDER_HTML

PLOT = """import io, math
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from IPython.display import Image, display
print("output-cell-text-" + str(6 * 7))
fig, ax = plt.subplots(figsize=(4, 3))
xs = [i / 20 for i in range(126)]
ax.plot(xs, [math.sin(x) for x in xs], linewidth=4)
buf = io.BytesIO(); fig.savefig(buf, format="png"); plt.close(fig)
display(Image(buf.getvalue(), format="png"))
"""


def _notebook(path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("x = 1")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# A plotted result"), params, nbformat.v4.new_code_cell(PLOT)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def _template(manifest: dict) -> dict:
    return manifest["spec"]["templates"][0]


def test_the_workflow_carries_the_html_artifact_only_with_an_artifact_repository():
    with_repo = NotebookProcessor({"result_artifact": True}).workflow_manifest("j-1", {"notebook": "a.ipynb"})
    artifacts = {a["name"]: a for a in _template(with_repo)["outputs"]["artifacts"]}
    assert artifacts["result-html"] == {"name": "result-html", "path": "/workspace/outputs/result.html",
                                        "optional": True, "archive": {"none": {}}}
    papermill = next(c for c in _template(with_repo)["containerSet"]["containers"] if c["name"] == "papermill")
    assert {"name": ENV_RENDER_HTML, "value": "true"} in papermill["env"]
    plain = NotebookProcessor({}).workflow_manifest("j-2", {"notebook": "a.ipynb"})
    assert "artifacts" not in (_template(plain).get("outputs") or {})
    papermill = next(c for c in _template(plain)["containerSet"]["containers"] if c["name"] == "papermill")
    assert ENV_RENDER_HTML not in {e["name"] for e in papermill["env"]}  # no rendering cost without a repository


def test_papermill_step_renders_the_html_page(tmp_path: Path):
    pod = _pod(tmp_path, {"result_artifact": True}, {"notebook": "plot.ipynb"})
    _notebook(pod.home / "plot.ipynb")
    proc = pod.run("papermill")
    assert proc.returncode == 0, proc.stderr
    page = (pod.workspace / "outputs" / "result.html").read_text()
    assert "output-cell-text-42" in page and "data:image/png;base64," in page and "A plotted result" in page


def test_papermill_step_without_nbconvert_still_succeeds(tmp_path: Path):
    pod = _pod(tmp_path, {"result_artifact": True}, {"notebook": "plot.ipynb"})
    _notebook(pod.home / "plot.ipynb")
    # PATH with papermill but without jupyter-nbconvert: a folder with links to the venv's commands but it
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in os.listdir(VENV_BIN):
        if name != "jupyter-nbconvert":
            (bin_dir / name).symlink_to(Path(VENV_BIN) / name)
    proc = pod.run("papermill", extra_env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert (pod.workspace / "outputs" / "result.ipynb").exists()
    assert not (pod.workspace / "outputs" / "result.html").exists()
    assert "no nbconvert in the image, so no result-html artifact" in proc.stderr


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Debian's chromium is needed in CI (scripts/bootstrap.sh installs it)")
        pytest.skip("chromium is not installed (Debian package chromium; scripts/bootstrap.sh installs it)")
    return found


def test_the_html_page_in_headless_chromium_shows_the_output_cell(tmp_path: Path):
    browser = chromium()
    pod = _pod(tmp_path, {"result_artifact": True}, {"notebook": "plot.ipynb"})
    _notebook(pod.home / "plot.ipynb")
    assert pod.run("papermill").returncode == 0
    page = pod.workspace / "outputs" / "result.html"
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1000,1400"]
    # what the browser built: the output cell's text and image are in the rendered DOM
    dom = subprocess.run([*flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "output-cell-text-42" in dom.stdout and "<img" in dom.stdout
    shot = tmp_path / "result-html.png"
    proc = subprocess.run([*flags, f"--screenshot={shot}", page.as_uri()], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
    from matplotlib.image import imread

    pixels = imread(shot)
    assert pixels.shape[0] == 1400 and pixels.shape[1] == 1000
    # not a blank page: the plot's line (matplotlib's default blue, #1f77b4) is on it
    blue = ((abs(pixels[..., 0] - 0x1F / 255) < 0.08) & (abs(pixels[..., 1] - 0x77 / 255) < 0.08)
            & (abs(pixels[..., 2] - 0xB4 / 255) < 0.08))
    assert blue.sum() > 200, blue.sum()
    keep = os.environ.get("ARGO_PAPERMILL_SCREENSHOT")
    if keep:  # where a person can look at it
        shutil.copy(shot, keep)
