# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Summary: which claims reproduce
#
# Every chapter judges the claims it checks from its own results, by the stated test of its kind
# (`gradconf/verdicts.py`), and records each verdict with its evidence and its test. This page collects those records from the executed chapters of the same preset. The
# counts and tables are not typed by hand: they are rebuilt whenever a chapter changes (the section on
# what is not checked is prose). The claim numbers refer to
# the reproduction checklist of our notes on the paper (§7 there); the wording of each claim lives in
# `gradconf/claims.yaml`.

# %% tags=["parameters", "hide-input"]
preset = "smoke"

# %% tags=["hide-input"]
import html
from pathlib import Path

import pandas as pd
from IPython.display import HTML, Markdown, display

from gradconf.book import SUBFOLDER_PRESETS, notebook_parameters, preset_verdicts
from gradconf.figures import verdict_figure
from gradconf.report import chance_labels_text, glue_figure, glue_text, setup, verdict_counts, verdict_counts_text
from gradconf.verdicts import ROLES, collect_verdicts, rules_text

notebook_parameters("summary", preset)
setup()
table = collect_verdicts(Path.cwd())  # papermill and nbval run a notebook in its own folder
paper = table[table.role == "paper"]
glue_text("preset", preset)
counts = verdict_counts(table)
for label, n in counts["labels"].items():
    glue_text(f"n_{label.replace(' ', '_')}", str(n))
glue_text("not_tested_reasons", counts["reasons"])
glue_text("n_claims", str(counts["verdicts"]))
glue_text("n_sanity", str(counts["sanity"]))
glue_text("n_own", str(counts["own"]))
glue_text("chapters", str(counts["chapters"]))
glue_text("n_claim_ids", str(counts["claim_ids"]))
glue_text("verdict_rules", rules_text())
glue_text("chance_labels", chance_labels_text(table))
glue_figure("fig_verdicts", verdict_figure(table))

# %% tags=["hide-input"]
# NBVAL_CHECK_OUTPUT
print(f"{len(table)} verdicts (the paper's claims, sanity checks and the book's own) from {table.chapter.nunique()} "
      f"chapters; {len(paper)} on claims of the paper, from {paper.chapter.nunique()} chapters")

# %% [markdown]
# At preset {glue:text}`preset`, {glue:text}`chapters` chapters give {glue:text}`n_claims` verdicts on
# {glue:text}`n_claim_ids` distinct claims of the paper (a claim checked in two settings has two): **{glue:text}`n_reproduced` reproduced, {glue:text}`n_contradicted` contradicted,
# {glue:text}`n_inconclusive` inconclusive and {glue:text}`n_not_tested` not tested**
# (reasons: {glue:text}`not_tested_reasons`). Apart from those, {glue:text}`n_sanity` sanity checks
# (identities, lemmas and bounds that hold by construction) and {glue:text}`n_own` of the book's own
# claims are listed below and not counted. {glue:text}`verdict_rules`
#
# {glue:text}`chance_labels`
#
# ```{glue:figure} fig_verdicts
# :name: fig-verdicts
#
# Labels of the paper's claims per chapter at preset {glue:text}`preset`: counts of verdicts (a claim
# judged in two settings counts twice; sanity checks and the book's own claims are left out). Each verdict
# states its test, data, models and seeds in the chapter it comes from and in the tables below. The paper
# has no such figure.
# ```
#
# ## In which regime each chapter ran
#
# A figure about trained networks only speaks to the paper's claims if the networks trained. What each
# chapter's runs reached:

# %% tags=["hide-input"]
def regime_table(rows: pd.DataFrame, folder: str = "") -> HTML:
    regimes = rows.drop_duplicates("chapter")[["chapter", "regime"]]
    return HTML(pd.DataFrame({"chapter": [f'<a href="{folder}{c}.html">{c}</a>' for c in regimes.chapter],
                              "regime": regimes.regime.map(html.escape)})
                .to_html(index=False, escape=False, classes="verdict-table", border=0))


display(regime_table(table))

# %% [markdown]
# ## Every claim, its evidence and its verdict

# %% tags=["hide-input"]
def verdict_table(rows: pd.DataFrame, folder: str = "") -> HTML:
    claims = [f'{html.escape(r.claim)}<br><span class="where">{html.escape(r.paper)} · '
              f'<a href="{folder}{r.chapter}.html">{r.chapter}</a></span>' for r in rows.itertuples()]
    labels = [f"{r.label}: {r.reason}" if r.reason else r.label for r in rows.itertuples()]
    shown = pd.DataFrame({"#": rows.checklist, "claim": claims, "verdict": labels,
                          "evidence and test": [html.escape(f"{r.evidence} Test: {r.test}") for r in rows.itertuples()]})
    return HTML(shown.to_html(index=False, escape=False, classes="verdict-table", border=0))


def role_tables(rows: pd.DataFrame, folder: str = "") -> None:
    for role, title in ROLES.items():
        part = rows[rows.role == role]
        if len(part):
            display(HTML(f"<h3>{html.escape(title[0].upper() + title[1:])} ({len(part)})</h3>"))
            display(verdict_table(part, folder))


role_tables(table)

# %% tags=["hide-input"]
# The chapters executed at presets gpu (book/gpu/: the CNN sweeps at paper scale on a GPU) and paper
# (book/paper/: the paper's protocol, computed elsewhere), each counted apart
ELSEWHERE = {"gpu": "the CNN chapters at paper scale on a GPU", "paper": "the paper's protocol, computed elsewhere"}
assert set(ELSEWHERE) == set(SUBFOLDER_PRESETS), "every preset with a folder of its own is listed here"
for other, what in ELSEWHERE.items():
    found = preset_verdicts(Path.cwd(), other)
    if found is None:
        display(Markdown(f"*No chapter has been executed at preset `{other}` ({what}) yet.*"))
        continue
    display(HTML(f"<h2>At preset {other}: {html.escape(what)}</h2>"))
    display(Markdown(verdict_counts_text(found, other) + " These verdicts are not part of the counts above. "
                     + chance_labels_text(found)))
    display(regime_table(found, f"{other}/"))
    role_tables(found, f"{other}/")

# %% [markdown]
# ## What is not checked
#
# - Item 6, the v1/v2 linear-model theorem, is not run: it was dropped after v2 ({doc}`differences`).
# - Item 14 (even the smallest models reach good accuracy) is reported, not judged: every model table
#   gives parameter counts and test accuracy. The full-MNIST MLPs of {doc}`mlp_sweeps` reach it; the
#   CPU-scale CNNs train on a small subset of CIFAR-10 and reach low test accuracy (their model tables),
#   and their paper-scale runs need a GPU.
# - The counts are not of independent evidence: where two chapters' models share a configuration they
#   share the stored runs (for example, where their depths overlap, the BN/skip chapter's plain networks
#   are the depth chapter's runs), so a label resting on those runs is counted in each chapter that
#   judges them.
# - Item 16 (confusion is most visible late in training) is judged on the full-MNIST MLP sweeps of
#   {doc}`mlp_sweeps` only; the CPU-scale CNN chapters show their per-epoch curves without a verdict.
# - Item 17 is checked on MNIST MLPs only; CIFAR-100 is not on this machine ({doc}`differences`).
# - Item 19 (a link between confusion and generalisation) is explored, not judged, in
#   {doc}`related_metrics`.
