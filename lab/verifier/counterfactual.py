"""Counterfactual training pairs made by rule, so that the verifier stops reading word overlap as support.

Each generator takes a sentence (and, where it needs one, its article) from allowed training data and returns a
(premise, hypothesis, label) pair whose label the rule fixes: two numbers swapped between the subjects they are
bound to, another name of the same article in a name's slot, a negation inserted or removed (contradiction); the
deciding sentence dropped from the premise (neutral: silence is not contradiction); the claim in lower case, in
capitals or without diacritics (the original label). `counterfactual_rows` writes them in `fit.write_rows`' layout.
"""

from __future__ import annotations

import random
import re
import unicodedata

from factcheck.checks import extract_quantities, names

from .fit import LABEL2ID

ENTAIL, NEUTRAL, CONTRADICT = LABEL2ID["entailment"], LABEL2ID["neutral"], LABEL2ID["contradiction"]
_AUX = re.compile(r"\b(is|are|was|were|has|have|had|will|would|can|could|did|does|do)\b")
_NEG = re.compile(r"\s+(not|never)\b|n't\b")


def swap_bound_numbers(sentence: str) -> str | None:
    """Exchange two counts of one noun ("2,500 in Iraq and 900 in Syria" -> "900 in Iraq and 2,500 in Syria")."""
    qs = [q for q in extract_quantities(sentence) if not q.is_year and q.nouns]
    for i, a in enumerate(qs):
        for b in qs[i + 1 :]:
            if a.nouns & b.nouns and a.value != b.value:
                return sentence[: a.start] + b.raw + sentence[a.end : b.start] + a.raw + sentence[b.end :]
    return None


def substitute_name(sentence: str, article: str, rng: random.Random) -> str | None:
    """One name of the sentence replaced by another name the same article uses in the same kind of slot."""
    own = names(sentence)
    pool = [n for n in names(article) if all(n.core[-1] not in m.core for m in own)]
    pairs = [(m, n) for m in own for n in pool if m.before == n.before and m.before]
    if not pairs:
        return None
    m, n = rng.choice(pairs)
    return sentence.replace(m.text, n.text, 1)


def toggle_negation(sentence: str) -> str | None:
    """The sentence with its negation removed, or with "not" after its first auxiliary."""
    if _NEG.search(sentence):
        out = _NEG.sub("", sentence, count=1)
        return out if out != sentence else None
    m = _AUX.search(sentence)
    return None if m is None else sentence[: m.end()] + " not" + sentence[m.end() :]


def silence(premise_sentences: list[str], deciding: int) -> str | None:
    """The premise without its deciding sentence: what is left says nothing either way."""
    rest = [s for i, s in enumerate(premise_sentences) if i != deciding]
    return " ".join(rest) if rest else None


def vary_surface(claim: str, rng: random.Random) -> str:
    """The claim as readers type it: lower case, capitals, or without diacritics."""
    kind = rng.choice(("lower", "upper", "plain"))
    if kind == "lower":
        return claim.lower()
    if kind == "upper":
        return claim.upper()
    return "".join(ch for ch in unicodedata.normalize("NFKD", claim) if not unicodedata.combining(ch))


def counterfactual_rows(
    articles: list[tuple[str, list[str]]], rng: random.Random, source: str, per_article: int = 4
) -> list[tuple[str, str, int, str]]:
    """(premise, hypothesis, label, source) rows from articles given as (id, sentences), a few of each kind per article."""
    rows: list[tuple[str, str, int, str]] = []
    for _, sents in articles:
        text = " ".join(sents)
        picks = rng.sample(range(len(sents)), min(per_article, len(sents)))
        for i in picks:
            s = sents[i]
            window = sents[max(0, i - 1) : i + 2]
            premise = " ".join(window)
            for hyp, label, kind in (
                (swap_bound_numbers(s), CONTRADICT, "swap_numbers"),
                (substitute_name(s, text, rng), CONTRADICT, "substitute"),
                (toggle_negation(s), CONTRADICT, "negation"),
                (vary_surface(s, rng), ENTAIL, "surface"),
            ):
                if hyp and hyp != s:
                    rows.append((premise, hyp, label, f"{source}:cf_{kind}"))
            quiet = silence(window, window.index(s))
            if quiet:
                rows.append((quiet, s, NEUTRAL, f"{source}:cf_silence"))
    return rows
