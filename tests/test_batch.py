"""Batch analysis: a row per file, bad files in their own row, zips read safely in memory."""
import csv
import hashlib
import io
import re
from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.answers.analyzer import Analyzer
from core.reports.batch import (analyze_batch, batch_records, expand_uploads, expand_zip, recording_ids, window_csv,
                                window_rows)
from core.config import Limits
from core.reports.provenance import app_version
from tests.helpers import cry_like, encode, heads_only, noise, zip_bytes
from tests.helpers import ready_app, settle  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def test_zip_members_are_read_in_memory_and_limited():
    wav = encode(cry_like(3.0), 16000, "WAV", "PCM_16")
    big = bytes(2_000_000)
    data = zip_bytes({"a/cry.wav": wav, "notes.txt": b"hello", "__MACOSX/a/._cry.wav": b"junk", "big.wav": big})
    items = expand_zip("set.zip", data, Limits(max_bytes=1_000_000))
    by_name = {i.name: i for i in items}
    assert set(by_name) == {"set.zip/a/cry.wav", "set.zip/big.wav"}
    assert by_name["set.zip/a/cry.wav"].load() == wav
    assert by_name["set.zip/big.wav"].data is None and "limit" in by_name["set.zip/big.wav"].error
    assert expand_zip("x.zip", b"not a zip")[0].error == "not a readable zip archive"
    assert "no audio files" in expand_zip("e.zip", zip_bytes({"readme.md": b"#"}))[0].error


def test_one_bad_file_does_not_stop_the_others():
    an = heads_only(Analyzer("cry", "acoustic"))  # the rows' mechanics on a generated cry (see heads_only)
    items = expand_uploads([("good.wav", encode(cry_like(4.0, f0=520), 16000, "WAV", "PCM_16")),
                            ("corrupt.wav", b"RIFF" + bytes(100)),
                            ("quiet.flac", encode(noise(3.0, amp=0.00002), 16000, "FLAC", "PCM_16"))])
    seen = []
    rows = analyze_batch(an, items, lambda d, t, n: seen.append((d, t, n)))
    assert [r.file for r in rows] == ["good.wav", "corrupt.wav", "quiet.flac"]
    assert rows[0].verdict in ("pain", "discomfort") and 0 <= rows[0].probability <= 1 and rows[0].error == ""
    assert rows[1].error.startswith("cannot analyse") and rows[1].verdict == ""
    assert rows[2].verdict.startswith("no verdict") and "silent" in rows[2].flags
    assert seen[-1] == (3, 3, "quiet.flac")
    assert rows[0].experimental_notes == ""  # the experimental reason head stays out unless asked for
    asked = analyze_batch(an, items[:1], experimental=True)
    assert "Parent-tagged reason" in asked[0].experimental_notes


def test_batch_page_with_a_corrupt_file():
    at = ready_app(180)
    at.switch_page("views/batch.py").run()
    settle(at.sidebar.radio[0].set_value("cry").run())
    assert at.title[0].value == "Batch analysis"
    z = zip_bytes({"one.wav": encode(cry_like(3.0, f0=500), 16000, "WAV", "PCM_16"), "two.txt": b"x"})
    at.file_uploader(key="batch_upload").set_value([
        ("good.wav", encode(cry_like(4.0, f0=520), 16000, "WAV", "PCM_16"), "audio/wav"),
        ("bad.wav", b"definitely not audio" * 50, "audio/wav"),
        ("more.zip", z, "application/zip"),
    ]).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["file"]) == ["good.wav", "bad.wav", "more.zip/one.wav"]
    assert table["error"][1].startswith("cannot analyse") and table["error"][0] == ""
    assert any("could not be analysed" in m.value for m in at.markdown)


def test_batch_page_respiratory_rows_carry_the_recording_answers():
    from tests.conftest import data_path

    path = sorted(data_path("sprsound", "BioCAS2022", "test2022_intra_flac").glob("*.flac"))[0]
    at = ready_app(180)
    at.switch_page("views/batch.py").run()
    assert at.sidebar.radio[0].value == "respiratory"
    at.file_uploader(key="batch_upload").set_value([(path.name, path.read_bytes(), "audio/flac"),
                                                   ("bad.wav", b"RIFF" + bytes(200), "audio/wav")]).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert table["verdict"][0] in ("Adventitious sounds present", "No adventitious sounds found")
    assert "Continuous adventitious sounds" in table["screening"][0] and table["error"][1].startswith("cannot analyse")
    assert any("1 that could not be analysed" in m.value for m in at.markdown)
    assert table["child"][0] == path.name.split("_")[0] and table["site"][0] == path.name.split("_")[3]
    assert 0 <= table["P(Adventitious sounds present) [screen]"][0] <= 1
    assert table["audio_sha256"][0] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert table["app_version"][1] == app_version() and not any("[detector]" in c for c in table.columns)
    assert [b.label for b in at.download_button] == ["Download the table (CSV)"]
    at.checkbox(key="batch_windows").check().run()
    assert not at.exception
    assert [b.label for b in at.download_button] == ["Download the table (CSV)", "Download per-window table (CSV)"]


def _respiratory_items():
    from tests.conftest import data_path

    # a real lung recording under a SPRSound-style name: answered, so every answer has its probabilities (generated
    # signals are refused as poor quality by the respiratory model)
    real = sorted(data_path("sprsound", "BioCAS2022", "test2022_intra_flac").glob("*.flac"))[0]
    cry = real.read_bytes()
    hiss = encode(noise(8.0, amp=0.05), 16000, "WAV", "PCM_16")  # poor quality: the screening answers abstain
    bad = b"RIFF" + bytes(200)
    files = [("123_4.5_0_p3_7.flac", cry), ("spr.zip", zip_bytes({"set/41112159_4.9_1_p1_153.wav": hiss})),
             ("bad.wav", bad)]
    return files, {"123_4.5_0_p3_7.flac": cry, "spr.zip/set/41112159_4.9_1_p1_153.wav": hiss, "bad.wav": bad}


def test_respiratory_rows_carry_every_answer_its_probabilities_and_provenance():
    an = heads_only(Analyzer("respiratory", "acoustic"))  # every answer column, on generated audio
    files, data = _respiratory_items()
    rows = analyze_batch(an, expand_uploads(files))
    assert [r.file for r in rows] == list(data)
    assert [(r.child, r.site) for r in rows] == [("123", "p3"), ("41112159", "p1"), ("", "")]
    for row in rows[:2]:
        ran = an.analyze(data[row.file])
        answers = [h for h in ran.heads.values() if h.unit != "window"]
        assert {"screen", "continuous", "record"} <= {h.name for h in answers}
        for h in answers:
            v = h.verdict
            assert row.answers[f"{h.title} [{h.name}]"] == (f"no answer: {v.reason}" if v.abstained else v.label)
            for lab in h.labels:
                want = None if v.abstained else round(v.probabilities[lab], 3)
                assert row.answers[f"P({lab}) [{h.name}]"] == want, (row.file, h.name, lab)
        assert not any("[detector]" in c for c in row.answers)  # the window track is not a recording answer
        assert set(ran.timeline.counts()) == {"CAS", "DAS"}
        assert row.answers["segments: discontinuous sounds (crackles)"] == ran.timeline.counts()["DAS"]
        assert row.audio_sha256 == hashlib.sha256(data[row.file]).hexdigest()
        assert row.app_version == app_version() and row.encoder == an.encoder.info.identity
        assert row.models.startswith("recording: trained ")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:]{8}Z", row.analysed_at)
    assert rows[0].answers["P(Adventitious sounds present) [screen]"] is not None
    assert rows[1].answers["P(Adventitious sounds present) [screen]"] is None  # abstained: no probability shown
    err = rows[2]
    assert err.error.startswith("cannot analyse") and err.answers == {}
    assert err.app_version == app_version() and err.encoder == an.encoder.info.identity and err.analysed_at
    assert err.audio_sha256 == hashlib.sha256(data["bad.wav"]).hexdigest()
    table = batch_records(reversed(rows))  # an error row first must not change the layout
    assert [list(t) for t in table] == [list(table[0])] * 3
    cols = list(table[0])
    assert cols[:7] == ["file", "child", "site", "duration_s", "usable_windows", "verdict", "probability"]
    assert cols.index("P(Adventitious sounds present) [screen]") < cols.index("error") < cols.index("audio_sha256")
    assert table[0]["P(Adventitious sounds present) [screen]"] is None and table[0]["app_version"] == app_version()


def test_child_and_site_only_from_sprsound_names():
    assert recording_ids("a.zip/x/y/41112159_4.9_1_p1_153.flac") == ("41112159", "p1")
    assert recording_ids("41112159_4.9_1_p1_153.wav") == ("41112159", "p1")
    assert recording_ids("41112159_4.9_1_p1_153_copy.wav") == ("", "")
    assert recording_ids("41112159_4.9_1_p5_153.wav") == ("", "")
    assert recording_ids("cry.wav") == ("", "")


def test_per_window_rows_one_per_window_only_when_asked():
    an = Analyzer("respiratory", "acoustic")
    files, data = _respiratory_items()
    items = expand_uploads(files)
    plain = analyze_batch(an, items)
    assert all(r.windows is None for r in plain) and list(window_rows(plain)) == []
    rows = analyze_batch(an, items, windows=True)
    counts = {name: len(an.analyze(b).windows) for name, b in list(data.items())[:2]}
    out = list(window_rows(rows))
    assert len(out) == sum(counts.values()) and {r["file"] for r in out} == set(counts)
    first = [r for r in out if r["file"] == "123_4.5_0_p3_7.flac"]
    assert [r["window"] for r in first] == list(range(counts["123_4.5_0_p3_7.flac"]))
    assert first[0]["child"] == "123" and first[0]["start_s"] == 0.0 and first[0]["end_s"] == 2.0
    probs = [c for c in first[0] if c.startswith("P(")]
    assert probs and all(c.endswith("[detector]") for c in probs) and all(0 <= first[0][c] <= 1 for c in probs)
    noisy = [r for r in out if r["child"] == "41112159"]
    assert all(isinstance(r["usable"], bool) and (r["usable"] or r["flags"]) for r in noisy)
    parsed = list(csv.DictReader(io.StringIO(window_csv(rows).decode())))
    assert len(parsed) == len(out) and parsed[0]["file"] == "123_4.5_0_p3_7.flac"


def test_experimental_heads_stay_out_of_the_columns_unless_asked():
    an = Analyzer("cry", "acoustic")
    items = expand_uploads([("good.wav", encode(cry_like(4.0, f0=520), 16000, "WAV", "PCM_16"))])
    plain = analyze_batch(an, items)[0].answers
    assert "Pain vs discomfort [pain]" in plain and any(c.endswith("[pain]") and c.startswith("P(") for c in plain)
    assert not any("[reason]" in c for c in plain)
    asked = analyze_batch(an, items, experimental=True)[0].answers
    assert "Parent-tagged reason [reason]" in asked


def test_worker_processes_give_the_same_rows_in_the_same_order():
    """jobs=2 (the CLI's and Batch page's path for several files): the same rows as in-process, in input order,
    an unreadable file kept to its own row."""
    an = Analyzer("respiratory", "acoustic")
    items = expand_uploads([(f"n{i}.wav", encode(noise(4.0 + i, amp=0.02, seed=i), 16000, "WAV", "PCM_16"))
                            for i in range(3)] + [("corrupt.wav", b"RIFF" + bytes(100))]
                           + [("n9.wav", encode(noise(5.0, amp=0.01, seed=9), 16000, "WAV", "PCM_16"))])
    seen = []
    one = analyze_batch(an, items)
    two = analyze_batch(an, items, lambda d, t, n: seen.append(n), jobs=2)
    assert [r.file for r in two] == [r.file for r in one] == ["n0.wav", "n1.wav", "n2.wav", "corrupt.wav", "n9.wav"]
    assert [(r.verdict, r.probability, r.error != "") for r in two] == [(r.verdict, r.probability, r.error != "")
                                                                        for r in one]
    assert sorted(seen) == sorted(r.file for r in one) and two[3].error and not two[4].error


def test_the_cli_analyses_several_files_in_worker_processes(tmp_path):
    import subprocess
    import sys

    from core.config import PROJECT_ROOT
    from tests.helpers import write

    files = [write(tmp_path / f"r{i}.wav", noise(4.0, amp=0.02, seed=i)) for i in range(4)]
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"nope" * 10)
    out = subprocess.run([sys.executable, "-m", "core", "analyze", *map(str, files[:2]), str(bad), *map(str, files[2:]),
                          "--task", "respiratory", "--jobs", "2"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 1  # one file failed, the others were analysed
    assert [line.split()[1] for line in out.stdout.splitlines() if line.startswith("== ")] == \
        ["r0.wav", "r1.wav", "r2.wav", "r3.wav"]  # input order
    assert "bad.wav: cannot analyse" in out.stderr and "analysed in 2 worker processes" in out.stderr


def test_workers_that_cannot_load_the_models_fail_each_file_with_the_reason(monkeypatch):
    """A worker whose models do not load (here HeAR without its weights) never prints a traceback: each file sent to
    it fails with the reason, and the next batch starts workers afresh."""
    from core.answers import parallel

    monkeypatch.delenv("HEAR_MODEL_DIR", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    out = parallel.map_in_order(parallel._ready, [1, 2, 3], "respiratory", "hear", 2,
                                failed=lambda item, exc: (item, type(exc).__name__, str(exc)))
    assert [o[:2] for o in out] == [(i, "WorkerError") for i in (1, 2, 3)]
    assert all("could not load the models" in o[2] and "HEAR_MODEL_DIR" in o[2] for o in out)
    assert not [k for k in parallel._POOLS if k[1] == "hear"]
