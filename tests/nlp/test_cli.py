"""The CLI as a user runs it: JSON out, streaming, bad input, train/eval."""

import json




def test_classify_text_prints_one_json_object(cli):
    r = cli("classify", "请问人防车位能买吗")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["kind"] == "consultation" and d["topic"] == "parking"
    assert set(d) >= {"kind", "topic", "confidence", "matched"}
    assert b"Building prefix dict" not in r.stderr.encode() and "jieba" not in r.stderr.lower()


def test_classify_input_csv_in_order(tmp_path, cli):
    f = tmp_path / "in.csv"
    f.write_text("id,text\n1,在吗\n2,\"举报，物业在卖人防车位\"\n3,\n4,🙂\n", encoding="utf-8")
    r = cli("classify", "--input", str(f))
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [d["id"] for d in lines] == ["1", "2", "3", "4"]
    assert lines[1]["kind"] == "report" and lines[2]["kind"] == "other"


def test_classify_input_jsonl(tmp_path, cli):
    f = tmp_path / "in.jsonl"
    f.write_text('{"text": "警报几点响"}\n{"text": "建议警报前发短信"}\n', encoding="utf-8")
    r = cli("classify", "--input", str(f))
    assert r.returncode == 0, r.stderr
    kinds = [json.loads(x)["kind"] for x in r.stdout.splitlines()]
    assert kinds == ["consultation", "suggestion"]


def test_invalid_utf8_names_the_line_and_keeps_going(tmp_path, cli):
    f = tmp_path / "bad.csv"
    f.write_bytes("text\n在吗\n".encode() + b"\xff\xfe bad\n" + "谢谢你们帮忙修好了地下室\n".encode())
    r = cli("classify", "--input", str(f))
    assert "Traceback" not in r.stderr
    assert "line 3" in r.stderr
    out = [json.loads(x) for x in r.stdout.splitlines()]
    assert len(out) == 3 and "line 3" in out[1]["error"] and out[2]["kind"] == "praise"


def test_missing_text_column_is_a_clear_error(tmp_path, cli):
    f = tmp_path / "x.csv"
    f.write_text("body\nhello\n", encoding="utf-8")
    r = cli("classify", "--input", str(f))
    assert r.returncode == 2 and "text" in r.stderr and "Traceback" not in r.stderr


def test_huge_and_odd_texts_do_not_crash(cli, tmp_path):
    f = tmp_path / "big.jsonl"
    f.write_text(json.dumps({"text": "人防" * 50_000}) + "\n" + json.dumps({"text": "Mixed 車位 English ！！"}) + "\n",
                 encoding="utf-8")
    r = cli("classify", "--input", str(f))
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 2
    r = cli("classify", "人防" * 10_000)
    assert r.returncode == 0 and json.loads(r.stdout)["kind"]
    r = cli("classify", "")
    assert r.returncode == 0 and json.loads(r.stdout)["kind"] == "other"


def test_eval_prints_report_and_metric_line(dev_csv, cli):
    r = cli("nlp", "eval", str(dev_csv))
    assert r.returncode == 0, r.stderr
    last = r.stdout.strip().splitlines()[-1]
    assert last.startswith("macro_f1_kind=") and " macro_f1_topic=" in last
    assert "confusion" in r.stdout and "precision" not in last


def test_eval_of_a_file_labelled_for_kind_only(tmp_path, cli):
    """Board rows carry a topic column left blank: kind is scored, topic is
    skipped with a note, and a file with no label at all is a clear error."""
    f = tmp_path / "board.csv"
    f.write_text("text,kind,topic\n请问人防车位能买吗,consultation,\n物业乱收费太过分了,complaint,\n", encoding="utf-8")
    r = cli("nlp", "eval", str(f))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1].startswith("macro_f1_kind=") and "topic" not in r.stdout.splitlines()[-1]
    assert "not scored" in r.stderr and "Traceback" not in r.stderr
    f.write_text("text,kind,topic\n请问人防车位能买吗,,\n", encoding="utf-8")
    r = cli("nlp", "eval", str(f))
    assert r.returncode != 0 and "no row has a label" in r.stderr and "Traceback" not in r.stderr


def test_train_then_eval_a_separate_label_column(tmp_path, cli):
    rows = ["text,label"] + [f"关于{w}的问题{i},{lab}" for i in range(12)
                             for w, lab in (("学校招生", "教育文体"), ("公交线路", "交通运输"), ("医保报销", "劳动和社会保障"))]
    f = tmp_path / "pub.csv"
    f.write_text("\n".join(rows) + "\n", encoding="utf-8")
    model = tmp_path / "pub.json"
    env = {"INTAKE_NLP_DIR": str(tmp_path / "nlpdir")}
    r = cli("nlp", "train", str(f), "--label-column", "label", "-o", str(model), env=env)
    assert r.returncode == 0, r.stderr
    r = cli("nlp", "eval", str(f), "--label-column", "label", "--model", str(model), env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "macro_f1_label=1.000"
    # without --model, the last model trained for that column is used
    r = cli("nlp", "eval", str(f), "--label-column", "label", env=env)
    assert r.returncode == 0 and r.stdout.strip().endswith("macro_f1_label=1.000"), r.stderr


def test_train_without_label_column_refuses_to_replace_office_model(tmp_path, cli):
    f = tmp_path / "pub.csv"
    f.write_text("text,label\na,x\nb,y\n", encoding="utf-8")
    r = cli("nlp", "train", str(f), "--label-column", "label", env={"INTAKE_NLP_DIR": str(tmp_path)})
    assert r.returncode == 2 and "-o" in r.stderr


def test_compare_prints_baseline_and_ours_per_seed(tmp_path, cli):
    rows = ["text,label"] + [f"关于{w}的问题{i},{lab}" for i in range(15)
                             for w, lab in (("学校招生", "教育文体"), ("公交线路", "交通运输"), ("医保报销", "劳动和社会保障"))]
    f = tmp_path / "pub.csv"
    f.write_text("\n".join(rows) + "\n", encoding="utf-8")
    r = cli("nlp", "compare", str(f), "--seeds", "2")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert sum(1 for x in lines if x.startswith("seed ")) == 2
    assert lines[-1].startswith("mean of 2 seeds: baseline 1.0000  ours 1.0000")


def test_train_on_several_files_with_the_rules_weight(tmp_path, cli):
    """Files may label different heads (board rows: kind only); the rule
    weight given is stored in the model; a bad one is refused clearly."""
    import json

    written = tmp_path / "written.csv"
    written.write_text("text,kind,topic\n请问人防车位怎么租,consultation,parking\n地下室漏水没人管,complaint,shelter\n"
                       "警报几点响,consultation,siren\n", encoding="utf-8")
    board = tmp_path / "board.csv"
    board.write_text("text,kind\n举报有人占用地下室,report\n楼下噪音太吵没人管,complaint\n", encoding="utf-8")
    model = tmp_path / "m.json"
    r = cli("nlp", "train", str(written), str(board), "--rule-weight", "kind=0.1", "-o", str(model),
            env={"INTAKE_DATABASE_URL": ""})
    assert r.returncode == 0, r.stderr
    data = json.loads(model.read_text(encoding="utf-8"))
    assert data["heads"]["kind"]["rule_weight"] == 0.1 and "rule_weight" not in data["heads"]["topic"]
    assert sum(data["heads"]["kind"]["counts"].values()) == 5 and sum(data["heads"]["topic"]["counts"].values()) == 3
    for bad in ("kind=abc", "kind=-1", "label=0.2", "0.3"):
        r = cli("nlp", "train", str(written), "--rule-weight", bad, "-o", str(tmp_path / "x.json"))
        assert r.returncode == 2 and "--rule-weight" in r.stderr, (bad, r.stderr)
        assert not (tmp_path / "x.json").exists()
    r = cli("nlp", "train", str(written), str(tmp_path / "missing.csv"), "-o", str(tmp_path / "x.json"))
    assert r.returncode == 2 and "missing.csv" in r.stderr
    # board rows as JSON lines count the same; a CSV with neither label column is refused
    lines = tmp_path / "board.jsonl"
    lines.write_text('{"text": "举报有人占用地下室", "kind": "report"}\n{"text": "楼下噪音太吵没人管", "kind": "complaint"}\n',
                     encoding="utf-8")
    r = cli("nlp", "train", str(written), str(lines), "-o", str(model), env={"INTAKE_DATABASE_URL": ""})
    assert r.returncode == 0, r.stderr
    assert sum(json.loads(model.read_text(encoding="utf-8"))["heads"]["kind"]["counts"].values()) == 5
    unlabelled = tmp_path / "unlabelled.csv"
    unlabelled.write_text("text,department\n楼下噪音太吵没人管,城乡建设\n", encoding="utf-8")
    r = cli("nlp", "train", str(written), str(unlabelled), "-o", str(tmp_path / "x.json"))
    assert r.returncode == 2 and "unlabelled.csv" in r.stderr and "kind" in r.stderr
