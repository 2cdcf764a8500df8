"""Command line: ``intake classify`` and ``intake nlp train|eval|cv``.

``register(subparsers)`` adds the commands to the ``intake`` parser;
``python -m nlp.cli …`` runs them standalone.
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import sys
import time
from pathlib import Path

SEEN_MAX = 65536  # JSON lines kept per distinct text during `classify --input`
CHUNK = 2048  # records classified and written together during `classify --input`
TRAINED_DIR_ENV = "INTAKE_NLP_DIR"  # where `nlp train` keeps models by default


def trained_dir() -> Path:
    return Path(os.environ.get(TRAINED_DIR_ENV) or Path("var") / "nlp")


def default_trained_model() -> Path:
    return trained_dir() / "office.json"


def _pointer_file() -> Path:
    return trained_dir() / "last_trained.json"


def _last_trained_for(head: str) -> Path | None:
    try:
        data = json.loads(_pointer_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    p = data.get(head)
    return Path(p) if p and Path(p).exists() else None


def _remember_trained(heads: list[str], path: Path) -> None:
    pf = _pointer_file()
    try:
        data = json.loads(pf.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    for h in heads:
        data[h] = str(path.resolve())
    try:
        pf.parent.mkdir(parents=True, exist_ok=True)
        pf.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    except OSError:
        pass


def office_model_path(explicit: str | None) -> Path | None:
    """--model, else $INTAKE_NLP_MODEL, else the last trained office model, else shipped."""
    from . import MODEL_ENV, resolve_model_path

    if explicit:
        return Path(explicit)
    if os.environ.get(MODEL_ENV):
        return Path(os.environ[MODEL_ENV])
    last = default_trained_model()
    if last.exists():
        return last
    return resolve_model_path(None)


def _err(msg: str) -> None:
    print(f"error: {msg}", file=sys.stderr)


def _load(args, mode="combined"):
    from . import load_classifier

    path = office_model_path(getattr(args, "model", None))
    return load_classifier(path, mode=mode)


# ------------------------------------------------------------------ classify
def _iter_input_records(path: Path):
    """Yield (line number, text or None, error or None, extra) from a CSV
    (column `text`) or JSONL file, streaming. Invalid UTF-8 or JSON in one
    record yields an error for that record and the rest continue."""
    suffix = path.suffix.lower()
    f = sys.stdin.buffer if str(path) == "-" else open(path, "rb")
    try:
        first = f.readline()
        rest = f
        if suffix in (".jsonl", ".ndjson", ".json") or first.lstrip().startswith(b"{"):
            yield from _iter_jsonl(first, rest)
        else:
            yield from _iter_csv(first, rest, path)
    finally:
        if f is not sys.stdin.buffer:
            f.close()


def _iter_jsonl(first: bytes, rest):
    n = 0
    for raw in _chain(first, rest):
        n += 1
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except UnicodeDecodeError:
            yield n, None, f"line {n}: not valid UTF-8", None
            continue
        except ValueError as e:
            yield n, None, f"line {n}: not valid JSON ({getattr(e, 'msg', e)})", None
            continue
        if not isinstance(obj, dict) or not isinstance(obj.get("text", ""), (str, type(None))):
            yield n, None, f"line {n}: expected a JSON object with a text field", None
            continue
        yield n, obj.get("text") or "", None, obj.get("id")


def _chain(first, rest):
    if first:
        yield first
    yield from rest


def _iter_csv(first: bytes, rest, path):
    bad_lines: set[int] = set()
    counter = [0]

    def decoded():
        for raw in _chain(first, rest):
            counter[0] += 1
            try:
                yield raw.decode("utf-8-sig" if counter[0] == 1 else "utf-8")
            except UnicodeDecodeError:
                bad_lines.add(counter[0])
                yield raw.decode("utf-8", errors="replace")

    reader = csv.reader(decoded())
    try:
        header = next(reader)
    except StopIteration:
        return
    cols = [h.strip().lower() for h in header]
    if "text" not in cols:
        raise SystemExit(_fail(f"{path}: no 'text' column in the header (found: {', '.join(cols) or 'nothing'})"))
    ti = cols.index("text")
    ii = cols.index("id") if "id" in cols else None
    start = reader.line_num
    for rec in reader:
        first = start + 1
        start = reader.line_num
        if not rec:
            continue
        if bad_lines:
            bad = [ln for ln in range(first, start + 1) if ln in bad_lines]
            if bad:
                yield bad[0], None, f"line {bad[0]}: not valid UTF-8", None
                continue
        yield first, rec[ti] if ti < len(rec) else "", None, (rec[ii] if ii is not None and ii < len(rec) else None)


def _fail(msg: str) -> int:
    _err(msg)
    return 2


def cmd_classify(args) -> int:
    from .classifier import kind_from_hint

    if args.hint_kind and kind_from_hint(args.hint_kind) is None:
        return _fail(f"unknown --hint-kind {args.hint_kind!r}")
    try:
        clf = _load(args, args.mode)
    except Exception as e:  # a broken model or rules file: say which
        return _fail(str(e))
    if args.input is None:
        if args.text is None:
            return _fail("give a TEXT to classify or --input FILE")
        text = " ".join(args.text) if isinstance(args.text, list) else args.text
        print(json.dumps(clf.classify(text, hint_kind=args.hint_kind).as_dict(), ensure_ascii=False))
        return 0
    path = Path(args.input)
    if str(path) != "-" and not path.is_file():
        return _fail(f"{path}: no such file")
    # the model, the rules and jieba's dictionary live as long as the process:
    # keep them out of the cyclic garbage collector's full passes
    try:
        clf.prepare_batch()
    except Exception:  # only a head start: classify_json builds what it needs or goes one by one
        pass
    gc.freeze()
    # a chunk makes tens of thousands of short-lived, acyclic objects: for
    # the rest of this command (the process ends with it) the cyclic
    # collector looks at them a hundred times less often (the few cycles an
    # error's traceback can make are still collected)
    gc.set_threshold(70_000, 10, 10)
    out = sys.stdout
    dumps = json.dumps
    classify_json = clf.classify_json
    hint = args.hint_kind
    errors = 0
    seen: dict[str, str] = {}  # batches repeat texts: the JSON line of each text seen
    # records are handled in chunks: the texts not seen yet are classified
    # together, then the chunk's lines are written in input order
    lines: list = []
    todo: dict[str, list] = {}  # text -> [(index in lines, id)]

    def flush():
        if todo:
            texts = list(todo)
            for text, line_json in zip(texts, classify_json(texts, hint_kind=hint)):
                if len(text) <= 512:
                    if len(seen) >= SEEN_MAX:
                        seen.clear()
                    seen[text] = line_json
                for k, rid in todo[text]:
                    lines[k] = line_json if rid is None else with_id(line_json, rid)
            todo.clear()
        out.write("\n".join(lines) + "\n")
        lines.clear()

    def with_id(line_json, rid):  # same text as dumps(d | {"id": rid})
        return f'{line_json[:-1]}, "id": {dumps(rid, ensure_ascii=False)}}}'

    try:
        for line, text, error, rid in _iter_input_records(path):
            if error is not None:
                errors += 1
                print(f"warning: {path}: {error}", file=sys.stderr)
                d = {"kind": "other", "topic": "general", "confidence": 0.0, "matched": [], "needs_review": True,
                     "source": "error", "error": f"{path}: {error}", "line": line}
                lines.append(dumps(d, ensure_ascii=False))
            else:
                line_json = seen.get(text)
                if line_json is None:
                    slots = todo.get(text)
                    if slots is None:
                        todo[text] = [(len(lines), rid)]
                    else:
                        slots.append((len(lines), rid))
                    lines.append(None)
                else:
                    lines.append(line_json if rid is None else with_id(line_json, rid))
            if len(lines) >= CHUNK:
                flush()
        if lines:
            flush()
        out.flush()
    except SystemExit as e:
        return int(e.code or 2)
    except OSError as e:
        return _fail(f"{path}: {e}")
    return 1 if errors else 0


# --------------------------------------------------------------------- train
def _heads_arg(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    out = []
    for v in values:
        out += [x.strip().lower() for x in v.split(",") if x.strip()]
    return out


def _corrections(args) -> list:
    """Rows from staff corrections in the database, when asked for (or when
    INTAKE_DATABASE_URL names an existing database). Isolated: any problem
    here is reported and training continues from the file alone, unless
    --with-corrections was explicit. The database is read by the loader the
    ``intake`` command gives (nlp does not know the database)."""
    url = os.environ.get("INTAKE_DATABASE_URL", "")
    explicit = args.with_corrections
    load_corrections = getattr(args, "load_corrections", None)
    if not explicit:
        if not url or args.no_corrections or load_corrections is None:
            return []
        if url.startswith("sqlite"):
            dbfile = url.split("///", 1)[-1]
            if not dbfile or not Path(dbfile).exists():
                return []
    if load_corrections is None:
        raise RuntimeError("reading them needs the database: run `intake nlp train`")

    try:
        triples = load_corrections(url or None)
    except Exception as e:
        if explicit:
            raise
        print(f"note: staff corrections not used ({e})", file=sys.stderr)
        return []
    from .training import rows_from_corrections

    rows = rows_from_corrections(triples)
    print(f"staff corrections: {len(rows)} rows", file=sys.stderr)
    return rows


def _weight(v: str) -> float:
    """A weight given on the command line: a number from 0 to 100."""
    try:
        x = float(v)
    except ValueError:
        x = -1.0
    if not 0.0 <= x <= 100.0:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 100, not {v!r}")
    return x


def _rule_weights_arg(values: list[str], heads: list[str]) -> dict[str, float]:
    """``--rule-weight kind=0.1`` (repeatable) → {"kind": 0.1}."""
    from .training import TrainingError

    out = {}
    for v in values:
        head, _, w = v.partition("=")
        try:
            weight = _weight(w)
        except argparse.ArgumentTypeError:
            weight = None
        if weight is None or head not in heads or head not in ("kind", "topic"):
            raise TrainingError(f"--rule-weight {v!r}: expected kind=W or topic=W with W from 0 to 100")
        out[head] = weight
    return out


def cmd_train(args) -> int:
    from .training import TrainingError, read_table, rows_from_file, save_model, train

    paths = [Path(f) for f in args.file]
    for path in paths:
        if not path.is_file():
            return _fail(f"{path}: no such file")
    heads = _heads_arg(args.label_column)
    try:
        if heads is None:
            header, _ = read_table(paths[0])
            heads = [h for h in ("kind", "topic") if h in header]
            if not heads:
                return _fail(f"{paths[0]}: no kind or topic column; name the label column with --label-column")
        rows = []
        for path in paths:
            # among several files, one may label only some heads (board rows: kind)
            rows += rows_from_file(path, heads, some_heads=len(paths) > 1)
        office = set(heads) <= {"kind", "topic"}
        if office:
            try:
                rows += _corrections(args)
            except Exception as e:
                return _fail(f"staff corrections: {e}")
        if not rows:
            return _fail(f"{', '.join(map(str, paths))}: no labelled rows")
        rule_weights = _rule_weights_arg(args.rule_weight, heads)
        t0 = time.perf_counter()
        model = train(rows, heads, algo=args.algo, C=args.C, words=args.words or None,
                      ngram_max=args.ngram_max, tfidf=args.tfidf, balanced=args.balanced, rule_weights=rule_weights,
                      prune_below=args.prune_below,
                      meta={"source": ", ".join(p.name for p in paths), "heads": heads})
    except TrainingError as e:
        return _fail(str(e))
    except ImportError as e:
        return _fail(f"training needs scikit-learn ({e})")
    out = Path(args.output) if args.output else default_trained_model()
    if not args.output and "kind" not in heads:
        return _fail("a model without a kind head would replace the office classifier; write it elsewhere with -o MODEL")
    save_model(model, out)
    _remember_trained(heads, out)
    counts = ", ".join(f"{h}: {len(model['heads'][h]['classes'])} classes" for h in heads)
    print(f"trained on {len(rows)} rows ({counts}) in {time.perf_counter() - t0:.1f}s → {out}")
    return 0


# ---------------------------------------------------------------------- eval
def cmd_eval(args) -> int:
    from . import KINDS, TOPICS
    from .evaluation import predict_model_head
    from .metrics import format_report, macro_f1
    from .model import LinearModel
    from .training import TrainingError, read_table

    path = Path(args.file)
    if not path.is_file():
        return _fail(f"{path}: no such file")
    try:
        header, rows = read_table(path)
        heads = _heads_arg(args.label_column)
        if heads is None:
            if "kind" not in header:
                return _fail(f"{path}: no 'kind' column (found: {', '.join(header)}); use --label-column")
            heads = ["kind"] + (["topic"] if "topic" in header else [])
        missing = [c for c in ["text", *heads] if header and c not in header]
        if missing:
            return _fail(f"{path}: missing column(s) {', '.join(missing)} (found: {', '.join(header)})")
        records = [(rec.get("text") or "", {h: (rec.get(h) or "").strip() for h in heads}) for _, rec in rows]
    except TrainingError as e:
        return _fail(str(e))
    office_heads = [h for h in heads if h in ("kind", "topic")]
    other_heads = [h for h in heads if h not in ("kind", "topic")]
    results = []
    if office_heads:
        try:
            clf = _load(args, args.mode)
        except Exception as e:
            return _fail(str(e))
        preds = [clf.classify(t) for t, _ in records]
        for h in office_heads:
            pairs = [(lab[h], getattr(p, h)) for (_, lab), p in zip(records, preds) if lab[h]]
            if not pairs:  # e.g. board rows, labelled for kind only
                print(f"note: no row of {path} is labelled for {h}; {h} is not scored", file=sys.stderr)
                continue
            gold, pred = [g for g, _ in pairs], [p for _, p in pairs]
            unknown = sorted(set(gold) - set(KINDS if h == "kind" else TOPICS))
            if unknown:
                print(f"note: {h} labels not known to the classifier: {', '.join(unknown)}", file=sys.stderr)
            print(format_report(h, gold, pred))
            print()
            results.append((h, macro_f1(gold, pred)))
    for h in other_heads:
        mpath = Path(args.model) if args.model else _last_trained_for(h)
        if mpath is None:
            return _fail(f"no model with a {h!r} head: train one with "
                         f"`intake nlp train FILE --label-column {h} -o MODEL` and pass --model MODEL")
        try:
            model = LinearModel.load(mpath)
        except Exception as e:
            return _fail(str(e))
        if h not in model.heads:
            return _fail(f"{mpath}: the model has no {h!r} head (heads: {', '.join(model.heads)})")
        pairs = [(t, lab[h]) for t, lab in records if lab[h]]
        if not pairs:
            print(f"note: no row of {path} is labelled for {h}; {h} is not scored", file=sys.stderr)
            continue
        pred = predict_model_head(model, [t for t, _ in pairs], h)
        gold = [g for _, g in pairs]
        print(f"model: {mpath}")
        print(format_report(h, gold, pred))
        print()
        results.append((h, macro_f1(gold, pred)))
    if not results:
        return _fail(f"{path}: no row has a label to score ({', '.join(heads)} are all empty)")
    print(" ".join(f"macro_f1_{h}={f:.3f}" for h, f in results))
    return 0


# ------------------------------------------------------------------------ cv
def cmd_cv(args) -> int:
    from .evaluation import cross_validate
    from .training import TrainingError, rows_from_file

    try:
        rows = rows_from_file(args.file, ["kind", "topic"])
    except TrainingError as e:
        return _fail(str(e))
    seeds = tuple(range(args.seeds))
    res = cross_validate(rows, k=args.folds, seeds=seeds)
    print(f"{args.folds}-fold stratified cross-validation, {len(seeds)} seed(s), {len(rows)} rows; "
          "the model is retrained on each training fold, the rules file is fixed")
    for (mode, _), v in sorted(res.items(), key=lambda kv: ["rules", "model", "combined"].index(kv[0][0])):
        print(f"{mode:<9} macro_f1_kind={v['kind']:.3f} macro_f1_topic={v['topic']:.3f}")
    return 0


def cmd_compare(args) -> int:
    from .public_eval import compare
    from .training import TrainingError

    path = Path(args.file)
    if not path.is_file():
        return _fail(f"{path}: no such file")
    try:
        compare(path, args.label_column, range(args.seeds))
    except TrainingError as e:
        return _fail(str(e))
    except ImportError as e:
        return _fail(f"compare needs scikit-learn ({e})")
    return 0


# ------------------------------------------------------------------ register
def register(subparsers, *, load_corrections=None) -> None:
    """The classify and nlp commands. ``load_corrections(url)`` reads the
    staff's corrections (text, kind, topic) for ``nlp train``."""
    p = subparsers.add_parser("classify", help="classify a text or a file of texts (JSON out)")
    p.add_argument("text", nargs="*", help="the text to classify")
    p.add_argument("--input", "-i", metavar="FILE", help="CSV with a text column, or JSONL with text; - for stdin")
    p.add_argument("--hint-kind", metavar="TYPE", help="a known kind / 诉求类型 to keep (only the topic is inferred)")
    p.add_argument("--model", metavar="MODEL", help="model file (default: $INTAKE_NLP_MODEL, last trained, shipped)")
    p.add_argument("--mode", choices=["combined", "rules", "model"], default="combined")
    p.set_defaults(func=cmd_classify)

    nlp = subparsers.add_parser("nlp", help="train and evaluate the classifier")
    sub = nlp.add_subparsers(dest="nlp_command", metavar="{train,eval,cv,compare}")
    sub.required = True
    t = sub.add_parser("train", help="train the learned stage from a labelled CSV (and staff corrections)")
    t.add_argument("file", metavar="FILE", nargs="+", help="labelled CSV/JSONL file(s); a file may lack a head's column")
    t.add_argument("--label-column", action="append", metavar="COL",
                   help="label column(s): kind, topic, label… (default: kind and topic when present in the first file)")
    t.add_argument("-o", "--output", metavar="MODEL", help=f"model file (default: {default_trained_model()})")
    t.add_argument("--with-corrections", action="store_true",
                   help="also train on staff corrections from the database (default when INTAKE_DATABASE_URL names an existing DB)")
    t.add_argument("--no-corrections", action="store_true", help="never read the database")
    t.add_argument("--algo", choices=["lr", "svm", "nb"],
                   help="lr (logistic regression; default for kind/topic), svm (linear SVM; default for other label "
                        "columns) or nb (naive Bayes)")
    t.add_argument("--C", type=float, help="inverse regularisation strength for lr (default 10)")
    t.add_argument("--words", action="store_true", help="add jieba words to the character n-gram features (slower)")
    t.add_argument("--ngram-max", type=int, choices=[1, 2, 3, 4, 5], help="longest character n-gram (default 3)")
    t.add_argument("--tfidf", action=argparse.BooleanOptionalAction, default=None,
                   help="TF-IDF weighting of the features (default: off)")
    t.add_argument("--balanced", action=argparse.BooleanOptionalAction, default=None,
                   help="balanced class weights (default: on for label columns other than kind/topic)")
    t.add_argument("--prune-below", type=_weight, metavar="W",
                   help="drop features whose largest weight is under W (default 0.01; a smaller model file)")
    t.add_argument("--rule-weight", action="append", metavar="HEAD=W", default=[],
                   help="kind/topic: how much the classifier counts the rules beside this model, stored in the "
                        "model (e.g. kind=0.1; default: the classifier's 0.5)")
    t.set_defaults(func=cmd_train, load_corrections=load_corrections)

    e = sub.add_parser("eval", help="score the classifier on a labelled CSV (does not learn from it)")
    e.add_argument("file", metavar="FILE")
    e.add_argument("--label-column", action="append", metavar="COL",
                   help="label column(s) to score (default: kind, and topic when present)")
    e.add_argument("--model", metavar="MODEL", help="model file (default: $INTAKE_NLP_MODEL, last trained, shipped)")
    e.add_argument("--mode", choices=["combined", "rules", "model"], default="combined")
    e.set_defaults(func=cmd_eval)

    c = sub.add_parser("cv", help="cross-validate rules, model and combined on a labelled CSV")
    c.add_argument("file", metavar="FILE")
    c.add_argument("--folds", type=int, default=5)
    c.add_argument("--seeds", type=int, default=3)
    c.set_defaults(func=cmd_cv)

    m = sub.add_parser("compare", help="ours vs a char 1-3-gram TF-IDF + LR baseline on stratified 80/20 splits")
    m.add_argument("file", metavar="FILE")
    m.add_argument("--label-column", default="label", metavar="COL")
    m.add_argument("--seeds", type=int, default=5)
    m.set_defaults(func=cmd_compare)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="intake", description="gov-intake classifier commands")
    subparsers = parser.add_subparsers(dest="command", metavar="{classify,nlp}")
    subparsers.required = True
    register(subparsers)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
