"""Check robustness.jsonl: row format, label rules, verbatim quotes; print the kind x label table.

Run from the repository root: python evals/robustness/validate.py
"""
import collections
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
EVALS = HERE.parent
CORPORA = {"sample": EVALS / "corpus" / "iraq-coalition-2024", "holdout": EVALS / "holdout" / "news-holdout"}
KINDS = {"binding": 45, "substitution": 45, "negation": 45, "compound": 45, "surface": 45, "paraphrase": 30, "hedge": 30}
LABELS = ("supported", "contradicted", "unverified")


def norm(text):
    return re.sub(r"\s+", " ", text)


def main():
    texts = {name: {p.stem: norm(p.read_text(encoding="utf-8")) for p in d.glob("*.txt")} for name, d in CORPORA.items()}
    rows = [json.loads(line) for line in (HERE / "robustness.jsonl").read_text(encoding="utf-8").splitlines()]
    errors = []
    others = set()
    for other in list((EVALS / "datasets").glob("*.jsonl")) + list((EVALS / "tuning").glob("*.jsonl")):
        for line in other.read_text(encoding="utf-8").splitlines():
            claim = json.loads(line).get("claim")
            if claim:
                others.add(norm(claim).strip().lower())
    seen = set()
    for n, r in enumerate(rows, 1):
        rid = r.get("id")
        if rid != f"rob-{n:03d}":
            errors.append(f"{rid}: id out of order")
        if r["label"] not in LABELS or r["kind"] not in KINDS or r["corpus"] not in CORPORA:
            errors.append(f"{rid}: bad label/kind/corpus")
            continue
        key = norm(r["claim"]).strip().lower()
        if key in others:
            errors.append(f"{rid}: claim repeats a dataset/tuning claim")
        if key in seen:
            errors.append(f"{rid}: duplicate claim")
        seen.add(key)
        arts = texts[r["corpus"]]
        if r["label"] == "unverified":
            if r["evidence"] != [] or "quote" in r or "quote_article" in r:
                errors.append(f"{rid}: unverified row with evidence or quote")
            continue
        if not r["evidence"] or not set(r["evidence"]) <= set(arts):
            errors.append(f"{rid}: evidence not in the {r['corpus']} corpus")
        if r.get("quote_article") not in r["evidence"]:
            errors.append(f"{rid}: quote_article not in evidence")
        elif norm(r["quote"]) not in arts[r["quote_article"]]:
            errors.append(f"{rid}: quote not verbatim in {r['quote_article']}")
    table = collections.Counter((r["kind"], r["label"]) for r in rows)
    print("| kind | supported | contradicted | unverified | total |")
    print("|---|---:|---:|---:|---:|")
    for k in KINDS:
        c = [table[(k, lab)] for lab in LABELS]
        print(f"| {k} | {c[0]} | {c[1]} | {c[2]} | {sum(c)} |")
        if sum(c) < KINDS[k]:
            errors.append(f"kind {k}: {sum(c)} < {KINDS[k]}")
    tot = [sum(table[(k, lab)] for k in KINDS) for lab in LABELS]
    print(f"| **total** | **{tot[0]}** | **{tot[1]}** | **{tot[2]}** | **{sum(tot)}** |")
    corp = collections.Counter(r["corpus"] for r in rows)
    print("corpus:", dict(corp))
    print("errors:", len(errors))
    for e in errors:
        print("  ", e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
