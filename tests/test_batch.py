"""Batch analysis: a row per file, bad files in their own row, zips read safely in memory."""
from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.answers.analyzer import Analyzer
from core.reports.batch import analyze_batch, expand_uploads, expand_zip
from core.config import Limits
from tests.helpers import cry_like, encode, noise, zip_bytes

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
    an = Analyzer("cry", "acoustic")
    items = expand_uploads([("good.wav", encode(cry_like(4.0, f0=520), 16000, "WAV", "PCM_16")),
                            ("corrupt.wav", b"RIFF" + bytes(100)),
                            ("quiet.flac", encode(noise(3.0, amp=0.00002), 16000, "FLAC", "PCM_16"))])
    seen = []
    rows = analyze_batch(an, items, lambda d, t, n: seen.append((d, t, n)))
    assert [r.file for r in rows] == ["good.wav", "corrupt.wav", "quiet.flac"]
    assert rows[0].verdict in ("pain", "discomfort") and 0 <= rows[0].confidence <= 1 and rows[0].error == ""
    assert rows[1].error.startswith("cannot analyse") and rows[1].verdict == ""
    assert rows[2].verdict.startswith("no verdict") and "silent" in rows[2].flags
    assert seen[-1] == (3, 3, "quiet.flac")
    assert rows[0].experimental_notes == ""  # the experimental reason head stays out unless asked for
    asked = analyze_batch(an, items[:1], experimental=True)
    assert "Parent-tagged reason" in asked[0].experimental_notes


def test_batch_page_with_a_corrupt_file():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).run()
    at.switch_page("views/batch.py").run()
    at.sidebar.radio[0].set_value("cry").run()
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
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).run()
    at.switch_page("views/batch.py").run()
    assert at.sidebar.radio[0].value == "respiratory"
    at.file_uploader(key="batch_upload").set_value([(path.name, path.read_bytes(), "audio/flac"),
                                                   ("bad.wav", b"RIFF" + bytes(200), "audio/wav")]).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert table["verdict"][0] in ("Adventitious sounds present", "No adventitious sounds found")
    assert "Asthma-indicative" in table["screening"][0] and table["error"][1].startswith("cannot analyse")
    assert any("1 that could not be analysed" in m.value for m in at.markdown)
