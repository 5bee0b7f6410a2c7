"""The Colab notebooks: committed clean, public API only, and run top to bottom offline and small (nbclient)."""

import importlib
import importlib.util
import json
import re
import tomllib

import nbclient
import nbformat
import pytest

from conftest import REPO, SHARED_VIDEOS

COLAB = REPO / "colab"
REAL_CLIP = SHARED_VIDEOS / "mmaction2_demo.mp4"  # Kinetics class "arm wrestling"

# notebook: parameter overrides for a small offline run
NOTEBOOKS = {
    "action_recognition.ipynb": {"MAX_FRAMES": 64},
    "transfer_learning.ipynb": {"CLIPS_PER_CLASS": 2, "FRAMES": 16, "CROP": 112, "TRAINABLE_FROM": "Mixed_5b", "EPOCHS": 2,
                                "BATCH_SIZE": 6},
    "optical_flow_two_stream.ipynb": {"MAX_FRAMES": 12},
}


def code_cells(notebook):
    return [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]


def source(cell):
    return cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])


def test_the_notebooks_are_committed_clean_and_open_in_colab():
    assert sorted(path.name for path in COLAB.glob("*.ipynb")) == sorted(NOTEBOOKS)
    repository = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["urls"]["Repository"]
    github_path = repository.removeprefix("https://github.com/")
    site_page = (REPO / "docs" / "notebooks.md").read_text(encoding="utf-8")  # the site links to each notebook
    for name in NOTEBOOKS:
        notebook = json.loads((COLAB / name).read_text(encoding="utf-8"))
        cells = code_cells(notebook)
        assert all(cell["outputs"] == [] and cell["execution_count"] is None for cell in cells), f"{name}: outputs"
        badge = f"https://colab.research.google.com/github/{github_path}/blob/main/colab/{name}"
        assert badge in source(notebook["cells"][0]), name
        assert badge in site_page, f"docs/notebooks.md lacks {name}'s Colab badge"
        install = source(cells[0])
        assert 'find_spec("i3d_keras") is None' in install and "--no-deps" in install
        assert f'"git+{repository}"' in install, name
        parameters = [cell for cell in cells if "parameters" in cell["metadata"].get("tags", [])]
        assert len(parameters) == 1 and "ONLINE = True" in source(parameters[0]), name


def test_the_notebooks_use_only_the_public_api():
    for name in NOTEBOOKS:
        code = "\n".join(source(cell) for cell in code_cells(json.loads((COLAB / name).read_text(encoding="utf-8"))))
        imports = re.findall(r"^from (i3d_keras[\w.]*) import (.+)$", code, flags=re.M)
        assert imports, name
        for module, names in imports:
            for imported in (part.strip() for part in names.split(",")):
                assert not imported.startswith("_"), imported
                assert hasattr(importlib.import_module(module), imported) or importlib.util.find_spec(
                    f"{module}.{imported}"), f"{module}.{imported}"
        assert not re.search(r"\b(i3d_keras|decoding|flow|synthetic|serving|evaluation|inference)\.\_", code), name


def run_notebook(name, folder, **extra):
    """Executes the notebook in ``folder`` with its small offline parameters; returns the executed notebook."""
    overrides = NOTEBOOKS[name]
    notebook = nbformat.read(COLAB / name, as_version=4)
    parameters = next(cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", []))
    lines = [f"{key} = {value!r}" for key, value in {"ONLINE": False, **overrides, **extra}.items()]
    parameters.source += "\n# the tests' small offline run\n" + "\n".join(lines) + "\n"
    nbclient.NotebookClient(notebook, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(folder)}}).execute()  # raises on any cell's error
    return notebook


def outputs(notebook):
    return [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]


def printed(notebook):
    return "".join(output.get("text", "") for output in outputs(notebook) if output.output_type == "stream")


def number_after(text, words):
    return float(re.search(re.escape(words) + r"\s*([-+0-9.e]+)", text).group(1))


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_notebook_runs_offline_and_draws_its_figures(name, tmp_path, request):
    extra = {}
    if name == "action_recognition.ipynb":  # the export tests' module (exporting again would add ~30 s)
        extra["MODULE_DIR"] = request.getfixturevalue("rgb_module")
        if REAL_CLIP.exists():
            extra["VIDEO_PATH"] = str(REAL_CLIP)
    notebook = run_notebook(name, tmp_path, **extra)
    promised = sum(source(cell).count("plt.show()") for cell in notebook.cells if cell.cell_type == "code")
    figures = [output for output in outputs(notebook) if "image/png" in output.get("data", {})]
    assert promised >= 2 and len(figures) == promised, f"{name}: {len(figures)} of {promised} figures"
    text = printed(notebook)
    if name == "action_recognition.ipynb":
        assert number_after(text, "largest difference from the Keras logits:") <= 1e-4
        assert "features of" in text and "shape (1024,)" in text
        if "VIDEO_PATH" in extra:  # the real clip: its true class comes first
            assert re.search(r"^\s*[0-9.]+%\s+(.+)$", text, flags=re.M).group(1) == "arm wrestling"
    elif name == "transfer_learning.ipynb":
        assert number_after(text, "largest difference between the module and the Keras model:") <= 1e-4
        assert "full video (all frames, windows averaged): top-1" in text
    else:
        assert re.search(r"^11 flow fields of 224x224", text, flags=re.M)  # 12 frames
        assert "two-stream (sum):" in text
