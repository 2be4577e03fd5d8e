"""The book pipeline: sources ↔ executions, presets as data, a -W build and a headless-browser check."""
import json
import os
import re
from pathlib import Path

import pytest
import yaml

from gradconf.book import (BookLayout, build_html, has_figure, needs_execution, notebook_parameters, notebooks_at,
                           stage_book, stale_reason, toc_problems)
from gradconf.sweeps import PRESETS

ROOT = Path(__file__).resolve().parents[1]
LAYOUT = BookLayout(ROOT)
SOURCES = LAYOUT.sources
IDS = [s.stem for s in SOURCES]
GPU_CHAPTERS = ["bn_skip", "cnn_depth", "cnn_width"]  # the CNN chapters whose sweeps preset gpu covers


def test_there_are_notebooks_and_the_toc_lists_each_once():
    assert len(SOURCES) >= 5
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]] + [toc["root"]]
    for source in SOURCES:
        assert files.count(f"book/{source.stem}") == 1, f"{source.stem} is not in _toc.yml exactly once"
    for f in files:
        assert (ROOT / f"{f}.md").exists() or (ROOT / f"{f}.ipynb").exists(), f"_toc.yml names missing {f}"
    # and every execution at preset gpu or paper (book/gpu/, book/paper/) is listed once: Jupyter Book skips
    # unlisted pages
    for preset, executions in LAYOUT.subfolder_executions().items():
        for executed in executions:
            assert files.count(f"book/{preset}/{executed.stem}") == 1, f"{executed} is not in _toc.yml exactly once"
    assert toc_problems(ROOT) == []


def test_toc_problems_flag_unlisted_gpu_executions_and_missing_pages(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "cnn_depth.py").write_text("")
    (tmp_path / "book" / "gpu").mkdir(parents=True)
    (tmp_path / "book" / "intro.md").write_text("# Intro\n")
    (tmp_path / "book" / "cnn_depth.ipynb").write_text("{}")
    toc = {"format": "jb-book", "root": "book/intro", "parts": [{"caption": "Trained networks",
                                                                 "chapters": [{"file": "book/cnn_depth"}]}]}
    (tmp_path / "_toc.yml").write_text(yaml.safe_dump(toc))
    assert toc_problems(tmp_path) == []
    (tmp_path / "book" / "gpu" / "cnn_depth.failed.ipynb").write_text("{}")  # a failed execution is no page
    assert toc_problems(tmp_path) == []
    (tmp_path / "book" / "gpu" / "cnn_depth.ipynb").write_text("{}")
    assert toc_problems(tmp_path) == ["_toc.yml lists book/gpu/cnn_depth 0 times, not once"]
    toc["parts"].append({"caption": "Paper scale on a GPU", "chapters": [{"file": "book/gpu/cnn_depth"}]})
    (tmp_path / "_toc.yml").write_text(yaml.safe_dump(toc))
    assert toc_problems(tmp_path) == []
    (tmp_path / "book" / "gpu" / "cnn_depth.ipynb").unlink()
    assert toc_problems(tmp_path) == ["_toc.yml names book/gpu/cnn_depth, which has no .md or .ipynb"]


@pytest.mark.parametrize("source", SOURCES, ids=IDS)
def test_parameters_cell_starts_with_preset_and_matches_presets(source):
    text = source.read_text()
    cell = re.search(r'# %% tags=\["parameters"[^\n]*\n(.*?)\n\n', text, re.S)
    assert cell, f"{source.name} has no papermill parameters cell"
    names = [line.split("=")[0].strip() for line in cell.group(1).splitlines() if "=" in line]
    assert names[0] == "preset"
    for preset in PRESETS:
        if source.stem in notebooks_at(preset):
            assert set(notebook_parameters(source.stem, preset)) == set(names[1:]), (source.name, preset)


def test_every_notebook_defines_the_cpu_presets_and_gpu_only_the_cnn_chapters():
    yaml_entries = yaml.safe_load((ROOT / "gradconf" / "notebooks.yaml").read_text())
    assert set(yaml_entries) == set(IDS)
    for preset in ("smoke", "book", "paper"):
        assert notebooks_at(preset) == sorted(IDS), preset
    assert notebooks_at("gpu") == GPU_CHAPTERS
    assert notebook_parameters("cnn_depth", "gpu")["scale_preset"] == "book"
    assert notebook_parameters("cnn_width", "gpu") == notebook_parameters("cnn_width", "paper")
    with pytest.raises(ValueError, match=r"summary is not defined at preset 'gpu'; its presets: smoke, book, paper"):
        notebook_parameters("summary", "gpu")
    with pytest.raises(ValueError, match="unknown preset"):
        notebooks_at("huge")


def test_layout_puts_each_preset_in_its_folder():
    source = ROOT / "notebooks" / "cnn_depth.py"
    assert LAYOUT.output(source, "smoke") == ROOT / "tests" / "notebooks" / "cnn_depth.ipynb"
    assert LAYOUT.output(source, "book") == ROOT / "book" / "cnn_depth.ipynb"
    # paper and gpu executions never replace the book's own
    assert LAYOUT.output(source, "paper") == ROOT / "book" / "paper" / "cnn_depth.ipynb"
    assert LAYOUT.output(source, "gpu") == ROOT / "book" / "gpu" / "cnn_depth.ipynb"


def test_relative_data_and_result_folders_are_made_absolute_before_a_kernel_inherits_them(tmp_path, monkeypatch):
    from gradconf.book import absolute_path_env

    monkeypatch.chdir(tmp_path)
    env = {"GRADCONF_DATA": "../shared/data", "GRADCONF_RESULTS": "/abs/results", "OTHER": "rel"}
    assert absolute_path_env(env) == {"GRADCONF_DATA": str((tmp_path / "../shared/data").resolve())}
    assert env["GRADCONF_RESULTS"] == "/abs/results" and env["OTHER"] == "rel"
    home = {"GRADCONF_RESULTS": "~/results"}  # read literally, ~ would be a folder named "~"
    assert absolute_path_env(home) == {"GRADCONF_RESULTS": os.path.join(os.path.expanduser("~"), "results")}
    assert absolute_path_env({"GRADCONF_DATA": ""}) == {}  # unset or empty: left alone
    # the test session did it for the nbval kernels too
    assert all(Path(os.environ[k]).is_absolute() for k in ("GRADCONF_DATA", "GRADCONF_RESULTS") if os.environ.get(k))


def test_execute_all_considers_only_the_notebooks_defined_at_the_preset(monkeypatch):
    import gradconf.book as book

    seen: list[Path] = []

    def up_to_date(source, output, preset, parameters):
        seen.append(output)
        return False

    monkeypatch.setattr(book, "needs_execution", up_to_date)
    log: list[str] = []
    assert book.execute_all(ROOT, "gpu", log=log.append) == {}
    assert sorted(p.relative_to(ROOT).as_posix() for p in set(seen)) == [f"book/gpu/{n}.ipynb" for n in GPU_CHAPTERS]
    assert len(log) == 3 and all("book/gpu/" in m for m in log)
    seen.clear()
    assert book.execute_all(ROOT, "book", log=lambda m: None) == {}
    assert sorted(set(seen)) == sorted(ROOT / "book" / f"{n}.ipynb" for n in IDS)
    seen.clear()
    assert book.execute_all(ROOT, "gpu", only=["cnn_depth"], log=lambda m: None) == {}
    assert set(seen) == {ROOT / "book" / "gpu" / "cnn_depth.ipynb"}
    with pytest.raises(ValueError, match=r"\['summary'\] are not defined at preset gpu; preset gpu has: "
                                         r"bn_skip, cnn_depth, cnn_width"):
        book.execute_all(ROOT, "gpu", only=["cnn_depth", "summary"], log=lambda m: None)
    with pytest.raises(ValueError, match="unknown notebooks"):
        book.execute_all(ROOT, "gpu", only=["nope"], log=lambda m: None)


def test_book_help_names_every_preset_and_the_gpu_folder(capsys):
    from gradconf.cli import main

    with pytest.raises(SystemExit):
        main(["book", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert all(p in text for p in PRESETS) and "book/gpu/" in text and "book/paper/" in text
    assert all(n in text for n in notebooks_at("gpu"))


@pytest.mark.parametrize("source", SOURCES, ids=IDS)
def test_checked_cells_glue_nothing(source):
    # nbval compares every output of a checked cell, glued records included; a glued wall time there
    # makes the regression test flaky
    for cell in re.split(r"^# %%", source.read_text(), flags=re.M):
        if "NBVAL_CHECK_OUTPUT" in cell:
            assert not re.search(r"\bglue_\w+\(", cell), f"{source.name}: a checked cell also glues outputs"


@pytest.mark.parametrize("preset", ["smoke", "book"])
@pytest.mark.parametrize("source", SOURCES, ids=IDS)
def test_executions_are_current_and_hold_figures(source, preset):
    executed = LAYOUT.output(source, preset)
    reason = stale_reason(source, executed, preset, {})
    assert reason is None, f"{reason}: run python -m gradconf book --preset {preset} --only {source.stem}"
    meta = json.loads(executed.read_text())["metadata"]["gradconf"]
    assert meta["preset"] == preset and meta["parameters"] == {}
    assert has_figure(executed), f"{executed} holds no PNG figure (was MPLBACKEND=Agg set?)"


@pytest.mark.parametrize("name", GPU_CHAPTERS)
def test_gpu_executions_are_current_where_they_exist(name):
    """A committed book/gpu/<name>.ipynb (preset gpu, executed from the results/gpu store) must be current like
    the book's own; until a GPU session publishes one there is nothing to check."""
    source = ROOT / "notebooks" / f"{name}.py"
    executed = LAYOUT.output(source, "gpu")
    if not executed.exists():
        pytest.skip(f"no execution at preset gpu yet ({executed.relative_to(ROOT)})")
    reason = stale_reason(source, executed, "gpu", {})
    assert reason is None, f"{reason}: run python -m gradconf book --preset gpu --only {name} --no-build"
    meta = json.loads(executed.read_text())["metadata"]["gradconf"]
    assert meta["preset"] == "gpu" and meta["parameters"] == {}
    assert has_figure(executed), f"{executed} holds no PNG figure (was MPLBACKEND=Agg set?)"


def test_paper_executions_are_current_where_they_exist():
    """Every committed book/paper/<name>.ipynb (a reader's or a cluster's run at preset paper, which never
    replaces the book's own execution) is current, at its preset, with figures."""
    for executed in LAYOUT.subfolder_executions()["paper"]:
        source = ROOT / "notebooks" / f"{executed.stem}.py"
        assert source.exists(), f"{executed} has no notebook source"
        reason = stale_reason(source, executed, "paper", {})
        assert reason is None, f"{reason}: run python -m gradconf book --preset paper --only {executed.stem} --no-build"
        assert json.loads(executed.read_text())["metadata"]["gradconf"]["preset"] == "paper"
        assert has_figure(executed), f"{executed} holds no PNG figure"


def test_only_gpu_chapters_are_executed_into_book_gpu():
    assert {p.stem for p in LAYOUT.subfolder_executions()["gpu"]} <= set(notebooks_at("gpu"))
    assert set(GPU_CHAPTERS) == set(notebooks_at("gpu"))


def test_notebook_parameters_validate_and_override():
    base = notebook_parameters("width_depth_init", "smoke")
    assert notebook_parameters("width_depth_init", "smoke", draws=None) == base
    assert notebook_parameters("width_depth_init", "smoke", draws=7)["draws"] == 7
    with pytest.raises(ValueError, match="unknown preset"):
        notebook_parameters("width_depth_init", "huge")
    with pytest.raises(ValueError, match="unknown parameters"):
        notebook_parameters("width_depth_init", "smoke", depht=3)
    with pytest.raises(ValueError, match="unknown notebook"):
        notebook_parameters("nope", "smoke")


def test_staleness_is_detected(tmp_path):
    source = tmp_path / "x.py"
    source.write_text((SOURCES[0]).read_text())
    executed = LAYOUT.output(SOURCES[0], "smoke")
    copy = tmp_path / "x.ipynb"
    copy.write_text(executed.read_text())
    assert stale_reason(source, copy) is None
    assert not needs_execution(source, copy, "smoke", {})
    assert needs_execution(source, copy, "book", {}) and needs_execution(source, copy, "smoke", {"draws": 3})
    assert "preset 'smoke', not 'book'" in stale_reason(source, copy, "book")
    # one meaning of stale: a package edit makes an execution stale for CI exactly as for `make book`
    nb = json.loads(copy.read_text())
    nb["metadata"]["gradconf"]["package_sha256"] = "0" * 64
    edited = tmp_path / "edited.ipynb"
    edited.write_text(json.dumps(nb))
    assert "older version of the gradconf package" in stale_reason(source, edited)
    assert needs_execution(source, edited, "smoke", {})
    source.write_text(source.read_text() + "\n# %%\nprint(1)\n")
    assert "older version" in stale_reason(source, copy)
    assert "missing" in stale_reason(source, tmp_path / "absent.ipynb")


def test_book_refuses_to_compute_missing_runs_without_recompute(tmp_path, monkeypatch, real_data_root):
    from gradconf.book import RecomputeRequired, execute_all, notebook_sweeps, pending_runs

    monkeypatch.setenv("GRADCONF_DATA", str(real_data_root))
    monkeypatch.setenv("GRADCONF_RESULTS", str(tmp_path / "empty-store"))
    assert notebook_sweeps("mlp_sweeps") == ["mlp_depth", "mlp_width"] and notebook_sweeps("sgd_floor") == []
    pending = pending_runs(["mlp_sweeps", "sgd_floor"], "book")
    assert set(pending) == {"mlp_depth", "mlp_width"} and pending["mlp_depth"].startswith("≥ ")
    with pytest.raises(RecomputeRequired, match=r"mlp_depth: ≥ \d+ runs.*--recompute"):
        execute_all(ROOT, "book", only=["mlp_sweeps"], force=True, log=lambda m: None)
    # the committed store holds every run the book's trained chapters read
    monkeypatch.setenv("GRADCONF_RESULTS", str(ROOT / "results"))
    assert pending_runs([s.stem for s in SOURCES], "book") == {}


def _copy_smoke_executions(folder: Path) -> Path:
    """A new ``folder`` holding copies of the committed smoke executions (for staleness tests)."""
    folder.mkdir()
    for p in (ROOT / "tests" / "notebooks").glob("*.ipynb"):
        (folder / p.name).write_bytes(p.read_bytes())
    return folder


def test_summary_is_stale_when_a_chapter_it_read_changes(tmp_path):
    from gradconf.book import reads_executions, sibling_digests

    assert reads_executions("summary") and not reads_executions("cnn_depth")
    source = ROOT / "notebooks" / "summary.py"
    folder = _copy_smoke_executions(tmp_path / "notebooks")
    summary = folder / "summary.ipynb"
    assert stale_reason(source, summary) is None
    assert "summary" not in sibling_digests(summary) and "cnn_depth" in sibling_digests(summary)
    chapter = folder / "cnn_depth.ipynb"
    chapter.write_text(chapter.read_text().replace("Depth", "Depth!", 1))
    assert "have changed" in stale_reason(source, summary)
    assert needs_execution(source, summary, "smoke", {})


def test_summary_collects_the_verdicts_every_chapter_recorded():
    from gradconf.verdicts import LABELS, ROLES, collect_verdicts, load_claims

    table = collect_verdicts(ROOT / "tests" / "notebooks")
    claims = load_claims()
    assert set(table.label) <= set(LABELS) and set(table.role) <= set(ROLES)
    assert (table.reason.astype(bool) == (table.label == "not tested")).all()
    assert table.regime.astype(bool).all() and table.test.astype(bool).all()
    assert all(i.split("__")[0] in claims for i in table.id)
    chapters_with_records = set(table.chapter)
    for source in SOURCES:
        text = source.read_text()
        if "record_verdicts(" in text:
            assert source.stem in chapters_with_records, f"{source.stem} recorded no verdicts"
    assert list(table.checklist) == sorted(table.checklist)


def test_the_intro_rerun_example_works_as_printed(tmp_path):
    """book/intro.md's jupytext | papermill example, verbatim except for the preset (smoke) and the output path."""
    import subprocess
    import sys

    intro = (ROOT / "book" / "intro.md").read_text()
    block = re.search(r"```bash\n(.*?)```", intro, re.S).group(1)
    command = " ".join(line.rstrip("\\").strip() for line in block.splitlines() if not line.startswith("pip "))
    assert "-p widths '[32, 512]'" in command and "-p preset book" in command
    command = command.replace("-p preset book", "-p preset smoke").replace("out.ipynb", str(tmp_path / "out.ipynb"))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads((tmp_path / "out.ipynb").read_text())
    printed = "".join("".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", ""))
                      for c in out["cells"] for o in c.get("outputs", []))
    assert "'widths': [32, 512]" in printed and "'draws': 50" in printed
    bad = subprocess.run(["bash", "-o", "pipefail", "-c", command.replace("'[32, 512]'", "'[32, 512'")], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=600)
    assert bad.returncode != 0 and "parameter widths" in bad.stderr + bad.stdout


OLD_LABELS = ("partly reproduced", "not reproduced at this scale", "reproduced for narrow nets only")


@pytest.mark.parametrize("folder", ["tests/notebooks", "book"])
def test_glued_labels_and_verdict_boxes_agree(folder):
    """The prose's {glue:text}`label_<id>` and the verdict box's `verdict_<id>` come from one Verdict, and no
    chapter carries a label of the old rules in its source or its executed text."""
    from gradconf.verdicts import VERDICT_RECORDS, glued_texts

    for source in SOURCES:
        text = source.read_text()
        for old in OLD_LABELS:
            assert old not in text, f"{source.name} still says {old!r}"
        executed = ROOT / folder / f"{source.stem}.ipynb"
        glued = glued_texts(executed)
        if VERDICT_RECORDS not in glued:
            assert "record_verdicts(" not in text, f"{executed} has no verdict records"
            continue
        records = {r["id"]: r for r in json.loads(glued[VERDICT_RECORDS])}
        for used in re.findall(r"\{glue:text\}`(label|verdict)_([A-Za-z0-9_]+)`", text):
            assert used[1] in records or used[1] == "rules", f"{source.name} shows {used} with no such verdict"
        for cid, r in records.items():
            title = f"{r['label']}: {r['reason']}" if r["reason"] else r["label"]
            assert glued[f"label_{cid}"] == title, (executed.name, cid)
            box = glued[f"verdict_{cid}"]
            assert box.startswith(f"**{title[0].upper() + title[1:]}.**") and r["test"] in box, (executed.name, cid)
            assert not any(old in box for old in OLD_LABELS)


@pytest.fixture(scope="module")
def smoke_html():
    """The book built from the smoke executions with -W (any warning fails), under _build/."""
    dest = stage_book(ROOT, ROOT / "_build" / "smoke-book", "smoke")
    build_html(dest)
    return dest / "_build" / "html"


def test_browser_check_flags_raw_tex_and_blocks_the_network(tmp_path):
    from gradconf.browser import check_page, find_chromium

    chromium = find_chromium()
    if chromium is None:
        pytest.skip("no chromium on PATH (CI installs it)")
    page = tmp_path / "raw.html"
    # a page whose MathJax would come from a CDN: offline, its math stays raw TeX and the check says so
    page.write_text('<html><head><script src="https://cdn.jsdelivr.net/npm/mathjax@2/MathJax.js"></script></head>'
                    '<body><main><p>Loss <span class="math">\\(F(w) = \\frac1N\\sum_i f_i(w)\\)</span></p></main></body></html>')
    report = check_page(page, chromium)
    assert report["loaded"] and not report["mathjax"] and report["raw_tex"]


def test_math_is_served_from_the_build_not_a_cdn(smoke_html):
    page = (smoke_html / "book" / "confusion_definition.html").read_text()
    scripts = re.findall(r'<script[^>]*src="([^"]*[Mm]ath[Jj]ax[^"]*)"', page)
    assert scripts and all(not s.startswith(("http:", "https:", "//")) for s in scripts), scripts
    assert (smoke_html / "_static" / "mathjax" / "MathJax.js").exists()


def test_smoke_book_builds_with_warnings_as_errors(smoke_html):
    for source in SOURCES:
        assert (smoke_html / "book" / f"{source.stem}.html").exists()
    assert (smoke_html / "book" / "intro.html").exists() and (smoke_html / "book" / "differences.html").exists()


def test_chapters_render_in_headless_chromium(smoke_html):
    from gradconf.browser import check_page, find_chromium, screenshot

    chromium = find_chromium()
    if chromium is None:
        if os.environ.get("GRADCONF_REQUIRE_BROWSER"):
            pytest.fail("GRADCONF_REQUIRE_BROWSER is set but no chromium is on PATH")
        pytest.skip("no chromium on PATH (CI installs it)")
    shots = ROOT / "_build" / "screenshots"
    pages = ["intro", "differences", *IDS]
    for page in pages:
        html = smoke_html / "book" / f"{page}.html"
        report = check_page(html, chromium)
        assert report["loaded"], f"{page} did not load: {report.get('stderr')}"
        assert not report["errors"], f"{page} shows error text: {report['errors']}"
        assert not report["broken_images"], f"{page} has images that do not decode: {report['broken_images']}"
        # math must render with the network blocked (check_page runs Chromium offline)
        assert not report["raw_tex"], f"{page} shows raw TeX: {report['raw_tex'][:3]}"
        if 'class="math' in html.read_text():
            assert report["mathjax"] and report["typeset"] > 0, f"{page}: MathJax did not typeset its math offline"
        if page in IDS:
            assert len(report["images"]) >= 1, f"{page} shows no figure"
        screenshot(html, shots / f"{page}.png", chromium)
    assert len(list(shots.glob("*.png"))) >= len(pages)


def _as_preset(src: Path, dst: Path, preset: str) -> None:
    """Copy an execution, relabelled as executed at ``preset`` (a synthetic book/gpu/ execution)."""
    nb = json.loads(src.read_text())
    nb["metadata"]["gradconf"]["preset"] = preset
    dst.write_text(json.dumps(nb))


def test_gpu_verdicts_are_read_apart_and_counted(tmp_path):
    from gradconf.book import preset_verdicts
    from gradconf.report import label_counts, verdict_counts_text
    from gradconf.verdicts import LABELS, collect_verdicts

    smoke = ROOT / "tests" / "notebooks"
    assert preset_verdicts(tmp_path, "gpu") is None  # no book/gpu/ folder yet
    (tmp_path / "gpu").mkdir()
    assert preset_verdicts(tmp_path, "gpu") is None  # an empty one
    for name in ("cnn_depth", "bn_skip"):
        _as_preset(smoke / f"{name}.ipynb", tmp_path / "gpu" / f"{name}.ipynb", "gpu")
    table = preset_verdicts(tmp_path, "gpu")
    assert set(table.chapter) == {"cnn_depth", "bn_skip"}
    expected = collect_verdicts(smoke)
    expected = expected[expected.chapter.isin(["cnn_depth", "bn_skip"])].reset_index(drop=True)
    assert table.equals(expected)
    counts = label_counts(table)
    assert list(counts) == list(LABELS) and sum(counts.values()) == int((table.role == "paper").sum()) > 0
    text = verdict_counts_text(table, "gpu")
    assert text.startswith("At preset gpu, 2 chapters give ") and f"on {table[table.role == 'paper'].id.nunique()} distinct" in text
    assert all(f"{n} {label}" in text for label, n in counts.items())
    # the scale of chance: 2α per decided verdict, against the definite labels actually found
    from gradconf.report import chance_labels_text

    decided = sum(n for label, n in counts.items() if label != "not tested")
    chance = chance_labels_text(table)
    assert f"Over the {decided} verdicts" in chance and f"about {0.05 * decided:.1f} wrong" in chance
    assert "at most 5 % (nominal" in chance  # 2α with α = 2.5 % per side
    assert f"against the {counts['reproduced'] + counts['contradicted']} definite" in chance
    # an execution at another preset in book/gpu/ would be counted under the wrong preset
    _as_preset(smoke / "cnn_width.ipynb", tmp_path / "gpu" / "cnn_width.ipynb", "book")
    with pytest.raises(ValueError, match="executed at preset 'book', not 'gpu'"):
        preset_verdicts(tmp_path, "gpu")
    with pytest.raises(ValueError, match="no folder of its own"):
        preset_verdicts(tmp_path, "book")


def test_summary_is_stale_when_a_gpu_execution_changes(tmp_path):
    from gradconf.book import sibling_digests

    source = ROOT / "notebooks" / "summary.py"
    folder = _copy_smoke_executions(tmp_path / "book")
    summary = folder / "summary.ipynb"
    assert stale_reason(source, summary) is None
    (folder / "gpu").mkdir()
    gpu = folder / "gpu" / "cnn_depth.ipynb"
    _as_preset(folder / "cnn_depth.ipynb", gpu, "gpu")
    assert "gpu/cnn_depth" in sibling_digests(summary)
    assert "have changed" in stale_reason(source, summary)  # a new gpu execution: the summary must list it


def test_fixed_lr_comparison_glues_both_protocols_or_says_there_is_none(monkeypatch):
    import gradconf.report as report
    from gradconf.verdicts import Verdict

    glued: dict[str, str] = {}
    monkeypatch.setattr(report, "glue_text", lambda key, text: glued.__setitem__(key, text))
    now = {"x": Verdict("claim x", "reproduced", "e", "t")}
    before = {"x": Verdict("claim x", "inconclusive", "e", "t")}
    table = report.record_fixed_lr_comparison(now, before, 0.05, "R", models="depth")
    assert list(table.columns) == ["claim", "per-model LR (these runs)", "one fixed LR 0.05"]
    assert glued["fixed_lr_text"] == ("Before the LR pilot, this chapter trained every depth at one fixed LR 0.05. "
                                      "Judged by the same rules, those runs give (regime: R):")
    assert glued["verdicts_changed"].startswith("1 of 1 claims changed label")
    assert report.record_fixed_lr_comparison(now) is None and glued["verdicts_changed"] == ""
    assert glued["fixed_lr_text"] == "This preset has no earlier fixed-LR runs to compare with."
    with pytest.raises(ValueError, match="fixed_lr is required"):
        report.record_fixed_lr_comparison(now, before)


def test_disagreements_name_only_the_papers_contradicted_claims():
    from gradconf.report import disagreements_text
    from gradconf.verdicts import Verdict

    paper = Verdict("deeper networks have a lower minimum cosine.", "contradicted", "e", "t")
    sanity = Verdict("an identity holds.", "contradicted", "e", "t")   # floor_bound is role sanity
    assert disagreements_text({"depth_min_cos": paper, "floor_bound": sanity}) == (
        "Our runs contradict the paper on this claim: Deeper networks have a lower minimum cosine. "
        "The evidence and the test are in the verdict box.")
    calm = {"depth_min_cos": Verdict("c", "inconclusive", "e", "t"), "floor_bound": sanity}
    assert disagreements_text(calm).startswith("No claim of the paper")


def test_lr_choice_glues_the_rule_the_grid_and_each_models_lr(monkeypatch):
    import pandas as pd

    import gradconf.report as report
    from gradconf.studies import Study

    glued: dict[str, str] = {}
    monkeypatch.setattr(report, "glue_text", lambda key, text: glued.__setitem__(key, text))
    chosen = pd.DataFrame({"model.width": [2, 2, 4, 4], "seed": [0, 1, 0, 1], "train.lr": [0.05, 0.05, 0.025, 0.025],
                           "lr_rule": ["fixed"] * 4})
    runs = pd.concat([chosen, chosen.assign(**{"train.lr": 0.1})])
    study = Study("toy", "smoke", "model.width", runs, chosen, pd.DataFrame(), pd.DataFrame(), 1.0, 0)
    table, selected = report.record_lr_choice(study, "width", "ℓ")
    assert table is None and selected.to_dict() == {2: 0.05, 4: 0.025}
    assert glued == {"lr_choice": "one fixed LR for every width", "lr_grid": "0.025, 0.05, 0.1",
                     "lr_selected": "ℓ = 2: 0.05, ℓ = 4: 0.025"}


def test_the_introduction_states_the_summarys_counts():
    """book/intro.md gives the headline by hand (a Markdown page has no glue): it must match what the
    executed chapters say, and its statement about the CNN chapters must still hold."""
    from gradconf.report import verdict_counts
    from gradconf.verdicts import claim, collect_verdicts

    table = collect_verdicts(ROOT / "book")
    counts = verdict_counts(table)
    text = " ".join((ROOT / "book" / "intro.md").read_text().split())
    labels = counts["labels"]
    stated = (f"the chapters give {counts['verdicts']} verdicts on the paper's claims: **{labels['reproduced']} "
              f"reproduced, {labels['contradicted']} contradicted, {labels['inconclusive']} inconclusive, "
              f"{labels['not tested']} not tested**")
    assert stated in text, f"book/intro.md should say: {stated}"
    cnn = table[(table.role == "paper") & table.chapter.isin(["cnn_depth", "cnn_width", "bn_skip"])]
    cosine = cnn[[("cos" in claim(i).get("metric", "")) for i in cnn.id]]
    assert len(cosine) >= 3 and "none of the claims about gradient cosines in the CNN chapters" in text
    assert not (cosine.label == "reproduced").any(), "book/intro.md says no CNN cosine claim is reproduced"
    # "The reproduced confusion trends come from the width sweep of the MNIST MLPs (their depth trend in
    # per-example cosines is contradicted) and from random networks at initialisation or with weights of
    # operator norm 1."
    paper = table[table.role == "paper"]
    confusion = paper[[any(m in claim(i).get("metric", "") for m in ("cos", "eta", "inner")) for i in paper.id]]
    reproduced = confusion[confusion.label == "reproduced"]
    assert "come from the width sweep of the MNIST MLPs" in text
    assert set(reproduced.chapter) <= {"mlp_sweeps", "width_depth_init", "bounded_weights", "orthogonal_init"}
    assert all(i.startswith("width_") for i in reproduced[reproduced.chapter == "mlp_sweeps"].id)
    assert paper.set_index("id").loc["depth_probe_cos", "label"] == "contradicted"
    # "... and so, marginally, is the one in the final training loss, a label that rests on the shallowest net"
    mlp = paper[paper.chapter == "mlp_sweeps"].set_index("id")
    assert "marginally, is the one in the final training loss" in text
    assert mlp.loc["depth_loss", "label"] == "contradicted"
    # "on three fresh seeds run afterwards, all four width labels are found again and neither depth
    # contradiction is": the chapter's replication sentence, glued from its verdicts
    from gradconf.verdicts import glued_texts

    replication = glued_texts(ROOT / "book" / "mlp_sweeps.ipynb")["replication_text"]
    assert "all four width labels are found again and neither depth contradiction is" in text
    assert "4 are found again (width_loss, width_min_cos, width_spread, width_probe_cos)" in replication
    assert "2 not decided there (depth_loss: inconclusive, depth_probe_cos: inconclusive)" in replication
    # "too few of the deeper networks train (only BatchNorm with skips does at the largest depth)"
    assert "only BatchNorm with skips does at the largest depth" in text
    regime = table[table.chapter == "bn_skip"].regime.iloc[0]
    untrained = regime.split("not reached:")[1].split(";")[0]
    deepest = max(int(d) for d in re.findall(r"(?:CNN|WRN)-(\d+)-", regime))
    assert all(f"CNN-{deepest}-2{v}" in untrained for v in ("+BN", "+skip", "/")), regime
    assert f"WRN-{deepest}-2" not in untrained, regime
