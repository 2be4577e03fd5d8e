"""The book pipeline: jupytext sources → papermill executions at a preset → Jupyter Book HTML.

- ``notebooks/<name>.py`` (jupytext percent) are the only notebook sources.
- :func:`execute_notebook` runs one at a preset and writes it where :meth:`BookLayout.output` says:
  ``book/<name>.ipynb`` (preset ``book``), ``tests/notebooks/<name>.ipynb`` (preset ``smoke``, re-run by
  nbval in CI) or ``book/<preset>/<name>.ipynb`` (presets ``gpu`` and ``paper``, beside the book's own
  executions, never over them; a chapter there is published by listing it in ``_toc.yml``). It hides
  papermill's injected cell, inserts a provenance line under the title, and records in the notebook's
  metadata what it was executed from (source and package digests, preset, parameters).
- Every notebook defines ``smoke``, ``book`` and ``paper``; ``gpu`` only the CNN chapters whose sweeps
  that preset covers (:func:`notebooks_at`). :func:`execute_all` at a preset executes only the
  notebooks defined there.
- :func:`needs_execution` skips a notebook whose source, package, preset and parameters are unchanged,
  so re-building the book takes seconds. The summary (``reads_executions``) is also stale when an
  execution it read changed, those of ``book/gpu/`` and ``book/paper/`` included (:func:`sibling_digests`);
  it lists their verdicts apart, per preset (:func:`preset_verdicts`).
- :func:`build_html` runs ``jupyter-book build . --all -W -n --keep-going``: every page is re-read
  (``-W`` alone passes stale builds) and every warning fails the build.

Per-notebook parameters per preset are data in ``gradconf/notebooks.yaml``; :func:`notebook_parameters`
resolves them, applying only overrides that are not ``None`` (papermill ``-p``).
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from . import __version__
from .sweeps import PRESETS

if TYPE_CHECKING:
    import pandas as pd

PACKAGE_DIR = Path(__file__).resolve().parent
METADATA_KEY = "gradconf"
# presets whose executions live in a folder of their own under book/ (book/<preset>/<name>.ipynb), beside
# the book preset's, which they never replace; the summary executed at book reads them and lists their
# verdicts apart
SUBFOLDER_PRESETS: tuple[str, ...] = ("gpu", "paper")
# environment variables naming folders: a kernel runs in its output's folder, where a relative value would
# name another folder (or none)
PATH_ENV_VARS: tuple[str, ...] = ("GRADCONF_DATA", "GRADCONF_RESULTS")


def absolute_path_env(environ: Any = os.environ) -> dict[str, str]:
    """Make each of :data:`PATH_ENV_VARS` set in ``environ`` absolute (relative to the current folder, as the
    caller meant it; ``~`` expanded) before a kernel inherits it; returns what changed."""
    changed = {}
    for name in PATH_ENV_VARS:
        value = environ.get(name)
        absolute = value and os.path.abspath(os.path.expanduser(value))
        if absolute != value:  # relative, or starting with ~
            changed[name] = environ[name] = absolute
    return changed


# ----------------------------------------------------------------------------------------------
# parameters: presets are data
# ----------------------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def _notebook_presets() -> dict[str, Any]:
    with open(PACKAGE_DIR / "notebooks.yaml") as fh:
        return yaml.safe_load(fh)


def _check_preset(preset: str) -> None:
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; allowed: {', '.join(PRESETS)}")


def notebooks_at(preset: str) -> list[str]:
    """The notebooks whose entry in notebooks.yaml defines ``preset`` (every one for ``smoke``, ``book`` and
    ``paper``; the CNN chapters for ``gpu``), sorted by name."""
    _check_preset(preset)
    return sorted(name for name, entry in _notebook_presets().items() if preset in entry)


def notebook_parameters(notebook: str, preset: str, **overrides: Any) -> dict[str, Any]:
    """The parameters of ``notebook`` at ``preset``, with every non-``None`` override applied.

    Unknown notebooks, presets and parameter names, and a preset the notebook does not define, raise
    ``ValueError`` naming what is allowed.
    """
    table = _notebook_presets()
    if notebook not in table:
        raise ValueError(f"unknown notebook {notebook!r}; known: {', '.join(sorted(table))}")
    _check_preset(preset)
    entry = table[notebook]
    if preset not in entry:
        defined = [p for p in PRESETS if p in entry]
        raise ValueError(f"notebook {notebook} is not defined at preset {preset!r}; its presets: {', '.join(defined)}")
    params = {**entry.get("common", {}), **entry[preset]}
    unknown = (set(overrides) | injected_parameter_names()) - set(params) - {"preset"}
    if unknown:
        raise ValueError(f"unknown parameters {sorted(unknown)} for {notebook}; allowed: {sorted(params)}")
    params.update({k: _read_override(k, v, params[k]) for k, v in overrides.items() if v is not None})
    return params


def _read_override(name: str, value: Any, preset_value: Any) -> Any:
    """papermill's ``-p`` passes a list as its text (``'[32, 512]'``): read text as YAML unless the parameter
    is itself text, and check that a list stays a list and a number a number."""
    if isinstance(value, str) and not isinstance(preset_value, str):
        from .cli import UsageError, parse_value

        try:
            value = parse_value(value)
        except UsageError as err:
            raise ValueError(f"parameter {name}: {err}") from None
    expected = (list if isinstance(preset_value, list) else (int, float) if isinstance(preset_value, (int, float))
                and not isinstance(preset_value, bool) else None)
    if expected is not None and (not isinstance(value, expected) or isinstance(value, bool)):
        raise ValueError(f"parameter {name} takes a {'list' if expected is list else 'number'} like "
                         f"{preset_value!r}, got {value!r}")
    return value


def injected_parameter_names() -> set[str]:
    """Names papermill injected into the running kernel (its ``# Parameters`` cell), so that a
    notebook refuses ``-p`` names it does not have instead of only warning; empty outside a kernel."""
    import ast

    try:
        from IPython import get_ipython
    except ImportError:
        return set()
    shell = get_ipython()
    if shell is None:
        return set()
    names: set[str] = set()
    for source in shell.user_ns.get("In", []):
        if isinstance(source, str) and source.lstrip().startswith("# Parameters"):
            try:
                tree = ast.parse(source)
            except SyntaxError:
                continue
            names |= {t.id for node in tree.body if isinstance(node, ast.Assign)
                      for t in node.targets if isinstance(t, ast.Name)}
    return names


def reads_executions(notebook: str) -> bool:
    """Whether a notebook reads its sibling executions (``reads_executions`` in notebooks.yaml): it runs
    after them and is stale whenever one of them changes."""
    return bool(_notebook_presets().get(notebook, {}).get("reads_executions", False))


def _executions(folder: Path) -> list[Path]:
    """The executions in ``folder`` (not the failed or half-written ones), sorted."""
    return [p for p in sorted(folder.glob("*.ipynb")) if not p.name.endswith((".failed.ipynb", ".tmp.ipynb"))]


def sibling_digests(executed: str | os.PathLike) -> dict[str, str]:
    """SHA-256 of every other execution in the folder of ``executed`` (what a summary notebook read), and of
    every execution in its subfolders of :data:`SUBFOLDER_PRESETS` where they exist (keyed ``gpu/<name>``)."""
    path = Path(executed)
    digests = {p.stem: hashlib.sha256(p.read_bytes()).hexdigest() for p in _executions(path.parent)
               if p.stem != path.stem}
    for preset in SUBFOLDER_PRESETS:
        digests.update({f"{preset}/{p.stem}": hashlib.sha256(p.read_bytes()).hexdigest()
                        for p in _executions(path.parent / preset)})
    return digests


def preset_verdicts(folder: str | os.PathLike, preset: str) -> pd.DataFrame | None:
    """The verdict records (:func:`gradconf.verdicts.collect_verdicts`) of the executions at ``preset`` in
    ``folder/<preset>`` (one of :data:`SUBFOLDER_PRESETS`), or ``None`` when that folder holds no execution.

    The summary executed at ``book`` lists them apart from its own preset's. An execution there that was
    executed at another preset raises ``ValueError``: its verdicts would be counted under the wrong preset."""
    from .verdicts import collect_verdicts

    if preset not in SUBFOLDER_PRESETS:
        raise ValueError(f"preset {preset!r} has no folder of its own; those that do: {', '.join(SUBFOLDER_PRESETS)}")
    sub = Path(folder) / preset
    executions = _executions(sub)
    if not executions:
        return None
    for p in executions:
        meta = executed_metadata(p) or {}
        if meta.get("preset") != preset:
            raise ValueError(f"{p} was executed at preset {meta.get('preset')!r}, not {preset!r}: re-execute it "
                             f"(python -m gradconf book --preset {preset} --only {p.stem} --no-build) or remove it")
    return collect_verdicts(sub)


def notebook_datasets(notebook: str) -> list[str]:
    """Datasets a notebook can run on (``needs_data`` in notebooks.yaml; it needs any one of them)."""
    table = _notebook_presets()
    if notebook not in table:
        raise ValueError(f"unknown notebook {notebook!r}; known: {', '.join(sorted(table))}")
    return list(table[notebook].get("needs_data", []))


# ----------------------------------------------------------------------------------------------
# executing notebooks
# ----------------------------------------------------------------------------------------------

def package_digest() -> str:
    """SHA-256 over the package's source and data files (what a notebook's outputs depend on)."""
    h = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.glob("*.py")) + sorted(PACKAGE_DIR.glob("*.yaml")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def source_digest(source: str | os.PathLike) -> str:
    return hashlib.sha256(Path(source).read_bytes()).hexdigest()


def executed_metadata(executed: str | os.PathLike) -> dict[str, Any] | None:
    """The gradconf metadata of an executed notebook, or ``None`` when it has none (or is missing)."""
    path = Path(executed)
    if not path.exists():
        return None
    return json.loads(path.read_text()).get("metadata", {}).get(METADATA_KEY)


def stale_reason(source: str | os.PathLike, executed: str | os.PathLike, preset: str | None = None,
                 parameters: dict[str, Any] | None = None) -> str | None:
    """Why ``executed`` no longer matches what it would be executed from now (``None`` when current).

    The one definition of stale, used by ``make book`` (what to re-execute) and by CI (a committed
    execution must be current): the notebook source, the package (every ``gradconf/*.py`` and ``*.yaml``),
    the preset and parameters when given, and for the summary the executions it read."""
    meta = executed_metadata(executed)
    if meta is None:
        return f"{executed} is missing or was not executed by gradconf.book"
    if meta.get("source_sha256") != source_digest(source):
        return f"{executed} was executed from an older version of {source}"
    if meta.get("package_sha256") != package_digest():
        return f"{executed} was executed with an older version of the gradconf package"
    if preset is not None and meta.get("preset") != preset:
        return f"{executed} was executed at preset {meta.get('preset')!r}, not {preset!r}"
    if parameters is not None and meta.get("parameters") != parameters:
        return f"{executed} was executed with parameters {meta.get('parameters')}, not {parameters}"
    if reads_executions(Path(source).stem) and meta.get("inputs_sha256") != sibling_digests(executed):
        return f"{executed} read executions that have changed since (re-execute it last)"
    return None


def needs_execution(source: Path, output: Path, preset: str, parameters: dict[str, Any]) -> bool:
    """Whether ``output`` is stale by :func:`stale_reason` for this preset and these parameters."""
    return stale_reason(source, output, preset, parameters) is not None


class RecomputeRequired(RuntimeError):
    """Executing the requested notebooks would compute runs that the result store does not hold."""


def notebook_sweeps(notebook: str) -> list[str]:
    """The named sweeps (sweeps.yaml) whose runs ``notebook`` reads from the result store."""
    return list(_notebook_presets().get(notebook, {}).get("sweeps", []))


def sweep_read_presets(notebook: str, preset: str) -> dict[str, str]:
    """Each sweep ``notebook`` reads (:func:`notebook_sweeps`) and the preset it reads it at when executed at
    ``preset``: ``preset`` itself, unless ``sweep_presets`` in notebooks.yaml names a parameter that holds
    another (``cnn_depth`` shows the ``cnn_scale`` sweep at its ``scale_preset``)."""
    by_parameter = _notebook_presets().get(notebook, {}).get("sweep_presets", {})
    params = notebook_parameters(notebook, preset) if by_parameter else {}
    return {sweep: params[by_parameter[sweep]] if sweep in by_parameter else preset
            for sweep in notebook_sweeps(notebook)}


def pending_runs(notebooks: list[str], preset: str) -> dict[str, str]:
    """Per sweep the ``notebooks`` read at ``preset``: how many runs the store lacks (``"≥ N"`` while an LR
    pilot is incomplete, since its later stages depend on it). Sweeps with nothing missing are left out.
    A sweep read at another preset (:func:`sweep_read_presets`) is counted in that preset's store and
    named ``"<sweep> (preset <p>)"``."""
    from .studies import pending_sweep_runs, results_store

    reads = dict.fromkeys((s, p) for nb in notebooks for s, p in sweep_read_presets(nb, preset).items())
    out = {}
    for sweep, at in reads:
        missing, final = pending_sweep_runs(sweep, at, results_store(at))
        if missing:
            out[sweep if at == preset else f"{sweep} (preset {at})"] = f"{missing}" if final else f"≥ {missing}"
    return out


def _device_description() -> str:
    import torch

    if torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)})"
    return f"cpu ({platform.processor() or platform.machine()})"


def execute_notebook(source: str | os.PathLike, output: str | os.PathLike, preset: str,
                     parameters: dict[str, Any] | None = None, *, progress: bool = True) -> float:
    """Execute jupytext ``source`` with papermill at ``preset`` into ``output``; return wall seconds.

    The kernel runs in ``output``'s folder with ``MPLBACKEND`` removed (an inherited Agg backend
    silently drops every figure) and the data and result folders made absolute (:func:`absolute_path_env`).
    A failing cell raises ``papermill.PapermillExecutionError``; the failed notebook is written next to
    ``output`` as ``<name>.failed.ipynb`` and ``output`` is kept.
    """
    import jupytext
    import nbformat
    import papermill

    import torch

    source, output = Path(source), Path(output)
    parameters = dict(parameters or {})
    _check_preset(preset)
    nb = jupytext.read(source)
    nb.metadata.pop("jupytext", None)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    output.parent.mkdir(parents=True, exist_ok=True)
    absolute_path_env()
    env_backend = os.environ.pop("MPLBACKEND", None)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        src_nb, out_nb = Path(tmp) / "source.ipynb", Path(tmp) / "executed.ipynb"
        nbformat.write(nb, src_nb)
        try:
            papermill.execute_notebook(
                str(src_nb), str(out_nb), parameters={"preset": preset, **parameters},
                kernel_name="python3", cwd=str(output.parent), progress_bar=progress,
            )
        except Exception:
            if out_nb.exists():
                failed = output.with_suffix(".failed.ipynb")
                failed.write_bytes(out_nb.read_bytes())
            raise
        finally:
            if env_backend is not None:
                os.environ["MPLBACKEND"] = env_backend
        wall = time.perf_counter() - start
        executed = nbformat.read(out_nb, as_version=4)
    _finish(executed, source, preset, parameters, wall, torch.__version__, output)
    tmp_out = output.with_suffix(".tmp.ipynb")
    nbformat.write(executed, tmp_out)
    os.replace(tmp_out, output)  # a half-written notebook never replaces a good one
    failed = output.with_suffix(".failed.ipynb")
    if failed.exists():
        failed.unlink()
    return wall


def _finish(nb: Any, source: Path, preset: str, parameters: dict, wall: float, torch_version: str,
            output: Path) -> None:
    import nbformat

    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags and "hide-input" not in tags:
            tags.append("hide-input")  # papermill does not copy the parameters cell's tags
        # papermill's per-cell timings change on every run; they would make every execution a diff
        cell.get("metadata", {}).pop("papermill", None)
        cell.get("metadata", {}).pop("execution", None)
    nb.metadata.pop("papermill", None)
    overrides = f", overrides {parameters}" if parameters else ""
    line = (f"*Executed at preset **{preset}**{overrides} with gradconf {__version__}, torch {torch_version}, "
            f"Python {platform.python_version()}, on {_device_description()} in {wall:.0f} s. "
            f"Source: `notebooks/{source.name}`.*")
    provenance = nbformat.v4.new_markdown_cell(line, metadata={"tags": ["provenance"]})
    title = next((i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"), -1)
    if title >= 0:  # split "# Title\n\nintro" so that the provenance line sits right under the title
        head, _, rest = nb.cells[title].source.partition("\n")
        if head.startswith("# ") and rest.strip():
            nb.cells[title].source = head
            nb.cells.insert(title + 1, nbformat.v4.new_markdown_cell(rest.strip()))
    nb.cells.insert(title + 1, provenance)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:03d}"  # stable ids: re-executing gives no spurious diffs
    nb.metadata[METADATA_KEY] = {
        "source": f"notebooks/{source.name}",
        "source_sha256": source_digest(source),
        "package_sha256": package_digest(),
        "preset": preset,
        "parameters": parameters,
        "gradconf": __version__,
        "torch": torch_version,
        "wall_s": round(wall, 1),
    }
    if reads_executions(source.stem):
        nb.metadata[METADATA_KEY]["inputs_sha256"] = sibling_digests(output)  # what it has just read


def has_figure(executed: str | os.PathLike) -> bool:
    """Whether an executed notebook holds at least one PNG (displayed or glued)."""
    nb = json.loads(Path(executed).read_text())
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "image/png" in data or "application/papermill.record/image/png" in data:
                return True
    return False


# ----------------------------------------------------------------------------------------------
# the whole book
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BookLayout:
    """Where sources and executions live, relative to the repository root."""

    root: Path

    @property
    def sources(self) -> list[Path]:
        return sorted((self.root / "notebooks").glob("*.py"))

    def output(self, source: Path, preset: str) -> Path:
        """``tests/notebooks/<name>.ipynb`` at ``smoke``, ``book/<preset>/<name>.ipynb`` at a preset of
        :data:`SUBFOLDER_PRESETS` (``gpu``, ``paper``), else ``book/<name>.ipynb``."""
        if preset == "smoke":
            folder = self.root / "tests" / "notebooks"
        elif preset in SUBFOLDER_PRESETS:
            folder = self.root / "book" / preset
        else:
            folder = self.root / "book"
        return folder / f"{source.stem}.ipynb"

    def subfolder_executions(self) -> dict[str, list[Path]]:
        """Per preset of :data:`SUBFOLDER_PRESETS`, the executions under ``book/<preset>/`` (empty when none)."""
        return {preset: _executions(self.root / "book" / preset) for preset in SUBFOLDER_PRESETS}


def toc_problems(root: str | os.PathLike) -> list[str]:
    """What is wrong with ``_toc.yml`` under ``root``: a file entry with no page (``.md`` or ``.ipynb``), a
    notebook source not listed exactly once as ``book/<name>``, or an execution under ``book/<preset>/``
    (:data:`SUBFOLDER_PRESETS`) not listed exactly once as ``book/<preset>/<name>``. Empty when all is well.

    Jupyter Book skips pages the ToC does not list (``only_build_toc_files``) and fails on listed pages that
    are missing, so a ``gpu`` execution is published by adding it to ``_toc.yml`` in the same commit."""
    layout = BookLayout(Path(root).resolve())
    toc = yaml.safe_load((layout.root / "_toc.yml").read_text())
    files = [c["file"] for part in toc.get("parts", []) for c in part.get("chapters", [])] + [toc["root"]]
    problems = [f"_toc.yml names {f}, which has no .md or .ipynb" for f in files
                if not (layout.root / f"{f}.md").exists() and not (layout.root / f"{f}.ipynb").exists()]
    listed = [f"book/{s.stem}" for s in layout.sources]
    for preset, executions in layout.subfolder_executions().items():
        listed += [f"book/{preset}/{p.stem}" for p in executions]
    problems += [f"_toc.yml lists {f} {files.count(f)} times, not once" for f in listed if files.count(f) != 1]
    return problems


def execute_all(root: str | os.PathLike, preset: str, *, only: list[str] | None = None, force: bool = False,
                recompute: bool = False, progress: bool = True, log=print) -> dict[str, float]:
    """Execute every stale notebook (or ``only`` those) at ``preset``; return wall seconds per executed notebook.

    Only the notebooks defined at ``preset`` are considered (:func:`notebooks_at`: all of them except at
    ``gpu``); ``only`` naming another raises ``ValueError`` listing those the preset has.

    Executing from the result store is cheap; computing runs is not. Unless ``recompute`` (or at preset
    ``smoke``, which is seconds), a notebook that would compute runs the store lacks stops everything
    before it starts, with :class:`RecomputeRequired` saying which sweeps and how many runs."""
    layout = BookLayout(Path(root).resolve())
    sources = layout.sources
    defined = notebooks_at(preset)
    if only:
        unknown = set(only) - {s.stem for s in sources}
        if unknown:
            raise ValueError(f"unknown notebooks {sorted(unknown)}; known: {[s.stem for s in sources]}")
        undefined = set(only) - set(defined)
        if undefined:
            raise ValueError(f"notebooks {sorted(undefined)} are not defined at preset {preset}; "
                             f"preset {preset} has: {', '.join(defined)}")
        sources = [s for s in sources if s.stem in only]
    sources = [s for s in sources if s.stem in defined]
    sources = sorted(sources, key=lambda s: reads_executions(s.stem))  # summaries after what they read
    todo = [s.stem for s in sources if force or needs_execution(s, layout.output(s, preset), preset, {})]
    if preset != "smoke" and not recompute:
        pending = pending_runs(todo, preset)
        if pending:
            listed = ", ".join(f"{sweep}: {n} runs" for sweep, n in pending.items())
            raise RecomputeRequired(
                f"executing {', '.join(todo)} at preset {preset} would compute runs the store lacks ({listed}); "
                f"run the sweeps first (python -m gradconf run SWEEP --preset {preset} --store results/{preset}) "
                "or pass --recompute")
    walls: dict[str, float] = {}
    for i, source in enumerate(sources, 1):
        output = layout.output(source, preset)
        if not force and not needs_execution(source, output, preset, {}):
            log(f"[{i}/{len(sources)}] {source.stem}: up to date ({output.relative_to(layout.root)})")
            continue
        log(f"[{i}/{len(sources)}] {source.stem}: executing at preset {preset} ...")
        walls[source.stem] = execute_notebook(source, output, preset, progress=progress)
        log(f"[{i}/{len(sources)}] {source.stem}: {walls[source.stem]:.1f} s → {output.relative_to(layout.root)}")
    return walls


def stage_book(root: str | os.PathLike, dest: str | os.PathLike, preset: str) -> Path:
    """Copy the book's configuration and pages to ``dest`` with the ``preset`` executions as chapters.

    Used to build (and browser-check) the book from the smoke executions without touching ``book/``.
    """
    import shutil

    layout = BookLayout(Path(root).resolve())
    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    (dest / "book").mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(layout.root / name, dest / name)
    for page in (layout.root / "book").glob("*.md"):
        shutil.copy2(page, dest / "book" / page.name)
    for extra in (layout.root / "book").iterdir():
        if extra.is_dir() and not extra.name.startswith((".", "_")):
            shutil.copytree(extra, dest / "book" / extra.name)
    for source in layout.sources:
        executed = layout.output(source, preset)
        if not executed.exists():
            raise FileNotFoundError(f"{executed} is missing: run python -m gradconf book --preset {preset}")
        shutil.copy2(executed, dest / "book" / f"{source.stem}.ipynb")
    return dest


MATHJAX_STATIC = "_build/.mathjax"  # _config.yml's html_static_path; mathjax_path is relative to _static


def mathjax_source() -> Path:
    """The MathJax 2.7 files of the ``jupyter-server-mathjax`` package (a registry install, no CDN).

    Found without importing the package, whose ``__init__`` needs a Jupyter server."""
    import importlib.util

    spec = importlib.util.find_spec("jupyter_server_mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the book renders math offline with jupyter-server-mathjax: pip install -e '.[book]'")
    static = Path(list(spec.submodule_search_locations)[0]) / "static"
    if not (static / "MathJax.js").exists():
        raise RuntimeError(f"{static} holds no MathJax.js; reinstall jupyter-server-mathjax")
    return static


def stage_mathjax(root: str | os.PathLike) -> Path:
    """Copy MathJax under ``<root>/_build/.mathjax/mathjax`` so that the build serves it from ``_static``."""
    import shutil

    dest = Path(root) / MATHJAX_STATIC / "mathjax"
    if not (dest / "MathJax.js").exists():
        shutil.copytree(mathjax_source(), dest, dirs_exist_ok=True)
    return dest


def build_html(root: str | os.PathLike, *, path_output: str | os.PathLike | None = None) -> subprocess.CompletedProcess:
    """``jupyter-book build <root> --all -W -n --keep-going``, with MathJax served from the build itself (no
    network); raises ``RuntimeError`` with the log on failure."""
    stage_mathjax(root)
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe) if exe.exists() else "jupyter-book", "build", str(root), "--all", "-W", "-n", "--keep-going"]
    if path_output is not None:
        cmd += ["--path-output", str(path_output)]
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"book build failed (rc {proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}")
    return proc
