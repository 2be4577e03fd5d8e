"""What every book notebook shares: deterministic set-up, glueing numbers/text/figures, figure captions.

Notebooks stay thin: parameters → gradconf → tidy frame → seaborn figure → prose with glued numbers.
"""
from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def setup(threads: int = 2, seed: int = 0) -> None:
    """Pin torch threads and seed every global stream, then apply one plotting theme for the book."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 100, "figure.figsize": (9, 3.6)})


class Plain:
    """Text that ``{glue:text}`` renders as is (a glued ``str`` would render with quotes)."""

    def __init__(self, text: str):
        self.text = str(text)

    def __repr__(self) -> str:
        return self.text


def glue_text(key: str, text: str) -> None:
    from myst_nb import glue

    glue(key, Plain(text), display=False)


def glue_number(key: str, value: float | int) -> None:
    """Glue a number (format it in the prose: ``{glue:text}`key:.3f```)."""
    from myst_nb import glue

    glue(key, float(value) if not isinstance(value, int) else value, display=False)


def glue_figure(key: str, fig: Any) -> None:
    """Glue a figure for ``{glue:figure}`` and close it, so it is not also shown inline."""
    import matplotlib.pyplot as plt
    from myst_nb import glue

    glue(key, fig, display=False)
    plt.close(fig)


def describe_seeds(seeds: Any) -> str:
    seeds = list(seeds) if not isinstance(seeds, int) else list(range(seeds))
    return f"{len(seeds)} seed{'s' if len(seeds) != 1 else ''} ({', '.join(map(str, seeds))})"


def record_verdicts(chapter: str, verdicts: dict, regime: str) -> None:
    """Glue a chapter's verdicts (``{claim id: verdicts.Verdict}``) as JSON for the summary chapter, each
    verdict's text as ``verdict_<id>`` for the chapter's verdict box, and its label (with the reason
    when not tested) as ``label_<id>`` for the prose, so that the two cannot disagree. ``regime`` says what
    the chapter's runs reached (:func:`gradconf.verdicts.regime_description`)."""
    import json

    from .verdicts import VERDICT_RECORDS, claim, rules_text, verdict_records, with_group

    for key, v in verdicts.items():
        glue_text(f"verdict_{key}", with_group(key, v).markdown(claim(key).get("role", "paper")))
        glue_text(f"label_{key}", v.title)
    glue_text("regime", regime)
    # the trained-regime rule is stated where some claim of the chapter is gated by it
    glue_text("verdict_rules", rules_text(trained=any(claim(key).get("regime") == "trained" for key in verdicts)))
    glue_text(VERDICT_RECORDS, json.dumps(verdict_records(chapter, verdicts, regime), ensure_ascii=False))


def record_lr_choice(study: Any, models: str, symbol: str) -> tuple[Any, Any]:
    """Glue how a study chose its LRs, for a chapter's prose: ``lr_choice`` (one fixed LR for every
    ``models``, or each at its LR and the rule), ``lr_grid`` (every LR tried) and ``lr_selected`` (``symbol``
    = value: LR per model). Returns the pilot table (:func:`gradconf.studies.pilot_table`, ``None`` without a
    pilot) and the selected LR per value of the study's axis."""
    from .studies import pilot_table

    table = pilot_table(study)
    glue_text("lr_choice", f"one fixed LR for every {models}" if table is None
              else f"each {models} at its LR, selected on {study.chosen['lr_rule'].iloc[0]}")
    glue_text("lr_grid", ", ".join(f"{v:g}" for v in sorted(study.runs["train.lr"].unique())))
    selected = study.chosen.groupby(study.axis)["train.lr"].first()
    glue_text("lr_selected", ", ".join(f"{symbol} = {v}: {lr:g}" for v, lr in selected.items()))
    return table, selected


def record_fixed_lr_comparison(verdicts: dict, fixed_verdicts: dict | None = None, fixed_lr: float | None = None,
                               fixed_regime: str = "", *, models: str = "model") -> Any:
    """Glue ``fixed_lr_text`` and ``verdicts_changed`` for a chapter whose LR rule changed after results were
    seen, and return the claims under both protocols side by side (:func:`gradconf.verdicts.verdict_table`),
    or ``None`` (with texts saying so) when the preset has no earlier fixed-LR runs (``fixed_verdicts``)."""
    from .verdicts import changed_verdicts_text, verdict_table

    if fixed_verdicts is None:
        glue_text("fixed_lr_text", "This preset has no earlier fixed-LR runs to compare with.")
        glue_text("verdicts_changed", "")
        return None
    if fixed_lr is None:
        raise ValueError("fixed_lr is required with fixed_verdicts")
    name = f"one fixed LR {fixed_lr:g}"
    table = verdict_table({"per-model LR (these runs)": verdicts, name: fixed_verdicts})
    glue_text("verdicts_changed", changed_verdicts_text(table))
    glue_text("fixed_lr_text", f"Before the LR pilot, this chapter trained every {models} at {name}. Judged by the "
                               f"same rules, those runs give (regime: {fixed_regime}):")
    return table


def disagreements_text(verdicts: dict) -> str:
    """One sentence naming the paper's claims (role ``paper``) that a chapter's verdicts
    (``{claim id: verdicts.Verdict}``) contradict, or saying that none is; for the chapter's prose, so
    that a disagreement is stated plainly and not only in the verdict box."""
    from .verdicts import CONTRADICTED, claim

    against = list(dict.fromkeys(  # one claim judged per slice (e.g. relu and tanh) is named once
        f"{v.claim[0].upper()}{v.claim[1:]}".rstrip(".") + "." for cid, v in verdicts.items()
        if v.label == CONTRADICTED and claim(cid).get("role", "paper") == "paper"))
    if not against:
        return "No claim of the paper judged in this chapter is contradicted by our runs."
    return ("Our runs contradict the paper on " + ("these claims: " if len(against) > 1 else "this claim: ")
            + " ".join(against) + " The evidence and the test are in the verdict box.")


def verdict_counts(table: Any) -> dict[str, Any]:
    """What the summary counts in a verdict table (:func:`gradconf.verdicts.collect_verdicts`): the paper's
    verdicts per label (``labels``, in the order of :data:`gradconf.verdicts.LABELS`), the reasons of those
    not tested, how many verdicts, distinct claims and chapters that is, and the sanity checks and the book's
    own claims counted apart."""
    paper = table[table.role == "paper"]
    reasons = paper[paper.label == "not tested"].reason.value_counts()
    return {"labels": label_counts(table),
            "reasons": "; ".join(f"{n} {r}" for r, n in reasons.items()) if len(reasons) else "none",
            "verdicts": len(paper), "claim_ids": int(paper.id.nunique()), "chapters": int(paper.chapter.nunique()),
            "sanity": int((table.role == "sanity").sum()), "own": int((table.role == "own").sum())}


def chance_labels_text(table: Any) -> str:
    """How many of the paper's definite labels (reproduced, contradicted) in a verdict table chance alone could
    give, from the per-test error rate of :mod:`gradconf.verdicts` (``alpha`` in claims.yaml): no label is
    corrected for the number of claims, so a reader needs this scale to weigh any single one."""
    from .verdicts import CONTRADICTED, NOT_TESTED, REPRODUCED, settings

    alpha = float(settings()["alpha"])
    labels = label_counts(table)
    judged = sum(labels.values()) - labels[NOT_TESTED]
    definite = labels[REPRODUCED] + labels[CONTRADICTED]
    return (f"No label is corrected for the number of claims. Whatever the true effect, each test gives a wrong "
            f"definite label (*reproduced* or *contradicted*) with probability at most {100 * 2 * alpha:g} % "
            f"(nominal; reached when the effect sits on the test's boundary), and with as few as "
            f"{settings()['min_seeds']} seeds the Welch–Satterthwaite approximation makes the simulated rates "
            f"somewhat higher. Over the {judged} "
            f"verdicts that a test judged (all but those not tested), chance alone would give at most about "
            f"{2 * alpha * judged:.1f} wrong definite labels in expectation (nominal), against the {definite} "
            "definite labels found. Verdicts that share runs (below) leave that expectation unchanged but make "
            "wrong labels come together rather than independently. A single surprising label is weaker "
            "evidence than its own interval suggests; the same label in several settings is stronger.")


def label_counts(table: Any) -> dict[str, int]:
    """How many of the paper's claims (role ``paper``) in a verdict table (:func:`gradconf.verdicts.collect_verdicts`)
    carry each label, in the order of :data:`gradconf.verdicts.LABELS`."""
    from .verdicts import LABELS

    paper = table[table.role == "paper"]
    return {label: int((paper.label == label).sum()) for label in LABELS}


def verdict_counts_text(table: Any, preset: str) -> str:
    """One paragraph (Markdown) counting a verdict table's labels at ``preset`` as the summary counts its own
    preset's: the paper's claims per label, the reasons of those not tested, and the sanity checks and the
    book's own claims listed apart. Used for the executions at preset ``gpu`` (book/gpu/), never mixed
    with the book preset's counts."""
    c = verdict_counts(table)
    labels = [f"{n} {label}" for label, n in c["labels"].items()]
    return (f"At preset {preset}, {c['chapters']} chapter{'' if c['chapters'] == 1 else 's'} give"
            f"{'s' if c['chapters'] == 1 else ''} {c['verdicts']} verdicts on {c['claim_ids']} distinct claims of the "
            f"paper: **{', '.join(labels[:-1])} and {labels[-1]}** (reasons: {c['reasons']}). Apart from those, "
            f"{c['sanity']} sanity checks and {c['own']} of the book's own claims are listed below and not counted.")
