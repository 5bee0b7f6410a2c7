"""The documentation site and the install paths: every command and public name has its page, the FVD guide
renders in a real browser, the README stays a front page, and requirements.txt cannot drift from pyproject."""

import re
import shutil
import subprocess

import cv2
import numpy as np
import pytest
import requirements  # tests/requirements.py, the generator of requirements.txt

from conftest import REPO, code_blocks, html_text
from i3d_keras.cli.main import COMMANDS

# the public API: i3d_keras' exports (by the module that defines them) and the modules the guides send users to
API_MODULES = ["i3d_keras.fvd", "i3d_keras.functional.LeanFunctional", "i3d_keras.snippets", "i3d_keras.runtimes", "i3d_keras.training",
               "i3d_keras.training.model_setup", "i3d_keras.training.strategy", "i3d_keras.data.datasets",
               "i3d_keras.data.pipeline", "i3d_keras.data.transforms", "i3d_keras.data.decoding",
               "i3d_keras.data.flow", "i3d_keras.data.tvl1", "i3d_keras.data.tfrecord", "i3d_keras.data.beam"]


def test_every_command_has_a_reference_entry_with_its_own_help(built_site):
    """An entry per command, in ``i3d --help``'s order, holding that command's help (``test_cli`` checks each
    entry equals what ``i3d COMMAND --help`` prints)."""
    page = (built_site / "commands" / "index.html").read_text(encoding="utf-8")
    blocks = code_blocks(built_site, "commands")
    for name in COMMANDS:
        assert f'id="{name}"' in page, f"no reference entry for i3d {name}"
        assert sum(f"usage: i3d {name} [flags]" in block for block in blocks) == 1, name
    anchors = [page.index(f'id="{name}"') for name in COMMANDS]
    assert anchors == sorted(anchors)


def test_every_public_name_has_an_api_page(built_site):
    import i3d_keras

    pages = "".join(path.read_text(encoding="utf-8") for path in (built_site / "api").rglob("index.html"))
    names = [f"{i3d_keras._EXPORTS[name]}.{name}" for name in i3d_keras.__all__] + API_MODULES
    missing = [name for name in names if f'id="{name}"' not in pages]
    assert not missing, f"no API entry for {missing}"
    # a rendered docstring, not just a heading: the constructor's arguments and a module's functions
    assert 'id="i3d_keras.fvd.Statistics.load"' in pages and "final_endpoint" in pages


def test_the_fvd_guide_renders_in_headless_chromium(built_site, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        pytest.skip("no headless browser: install Debian's chromium package (.ci/run does where it can)")
    url = (built_site / "fvd" / "index.html").as_uri()
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
             f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,1600", "--virtual-time-budget=5000"]
    shot = tmp_path / "fvd.png"
    subprocess.run([*flags, f"--screenshot={shot}", url], check=True, capture_output=True, timeout=120)
    dom = subprocess.run([*flags, "--dump-dom", url], check=True, capture_output=True, text=True, timeout=120).stdout

    assert re.search(r"<title>(.*?)</title>", dom, re.S).group(1) == "FVD - i3d-keras"  # nav title - site name
    assert re.search(r"<h1[^>]*>FVD: Fréchet Video Distance, exactly as the original", dom)
    source_blocks = (REPO / "docs" / "fvd.md").read_text(encoding="utf-8").count("\n```") // 2
    rendered_blocks = re.findall(r'<div class="language-(\w+) highlight">', dom)
    assert len(rendered_blocks) == source_blocks >= 3 and {"python", "bash"} <= set(rendered_blocks)
    assert "i3d fvd-stats" in html_text(dom)
    assert 'class="md-search' in dom  # the theme's script ran: the search box is there

    image = cv2.imread(str(shot))
    assert image is not None and image.shape[:2] == (1600, 1280)
    # a page, not a blank or an error screen: the theme's coloured header, text, and the grey code backgrounds
    assert image.std() > 20 and len(np.unique(image.reshape(-1, 3), axis=0)) > 100


def test_requirements_txt_is_generated_from_pyproject_and_every_install_path_has_apache_beam():
    text = (REPO / "requirements.txt").read_text(encoding="utf-8")
    assert text == requirements.render(), "requirements.txt differs from pyproject.toml: python tests/requirements.py"
    # the file is pyproject's list, line for line, so what pyproject requires both install paths get
    names = [re.match(r"[A-Za-z0-9_.-]+", requirement).group(0) for requirement in requirements.dependencies()]
    assert "apache-beam" in names


def test_the_readme_is_a_front_page_whose_links_resolve():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 150
    targets = re.findall(r"\]\(((?!https?://)[^)#]+)(?:#[^)]*)?\)", readme)
    assert targets and all((REPO / target).exists() for target in targets), targets
    assert "mkdocs serve" in readme
    for page in ("classify", "features", "fvd", "fine-tune", "export"):  # the five examples' guides
        assert f"docs/{page}.md" in readme
