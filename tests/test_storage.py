"""Saved visits on SQLite and on a real PostgreSQL: save, reopen, trend, delete, migration from an empty database,
concurrent saves, cross-clinic denial, the audit log, hostile input kept inert, a database that is down; and the
visit as a FHIR R4 Bundle validated by the FHIR resource-model library.

PostgreSQL: `.ci/run` starts Debian's server and sets HEAR_SCREENING_TEST_DATABASE_URL (a role that may create
databases); each test gets a database of its own. Without it the PostgreSQL half is skipped and says why."""
from __future__ import annotations

import datetime as dt
import os
import threading
import uuid

import pytest

from core.storage.store import Actor, StorageError, Store
from tests.conftest import DATA

PG = os.environ.get("HEAR_SCREENING_TEST_DATABASE_URL", "")


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'visits.db'}"
        return
    if not PG:
        pytest.skip("no PostgreSQL server (set HEAR_SCREENING_TEST_DATABASE_URL; .ci/run starts one)")
    from sqlalchemy import create_engine, text

    name = f"hear_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    yield PG.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


A = Actor("dr.a@clinic-a", "clinic-a")
B = Actor("dr.b@clinic-b", "clinic-b")
ADMIN_A = Actor("admin@clinic-a", "clinic-a", admin=True)


def _record(label: str, day: int, p_screen: float, share: float, site: str = "p1") -> dict:
    return {"kind": "analysis", "label": label, "visit_date": dt.date(2026, 11, day), "app_version": "t",
            "encoder": "acoustic:3", "models": {"recording": "model sha256 ab"}, "calibration": "",
            "clinician": {"note": "before salbutamol"}, "summary": {"answers": {"screen": {"label": "x"}}},
            "report": {"name": "rec.wav"}, "pdf": b"%PDF-1.4",
            "recordings": [{"site": site, "audio_sha256": uuid.uuid4().hex * 2, "duration_s": 12.0,
                            "answers": {"screen": {"label": "Adventitious sounds present" if p_screen > 0.3 else
                                                   "No adventitious sounds found", "probability": p_screen}},
                            "shares": {"continuous adventitious sounds": share}, "audio": b"RIFF...."}]}


def test_save_reopen_trend_and_delete(url):
    store = Store(url)  # migrated from empty
    ids = [store.save_visit(A, "C-0042", "respiratory", _record(f"visit {i}", 10 + i, p, s))
           for i, (p, s) in enumerate(((0.7, 0.30), (0.5, 0.12), (0.2, 0.0)))]
    assert store.children(A, "respiratory") == [{"ref": "C-0042", "visits": 3, "last": dt.date(2026, 11, 12)}]
    assert store.children(A, "cry") == []  # an infant's cry history is kept apart, by task
    hist = store.history(A, "C-0042", "respiratory")
    assert [h["label"] for h in hist] == ["visit 0", "visit 1", "visit 2"]  # the trend, in date order
    assert [h["recordings"][0]["shares"]["continuous adventitious sounds"] for h in hist] == [0.30, 0.12, 0.0]
    v = store.visit(A, ids[1])
    assert v["pdf"] == b"%PDF-1.4" and v["report"] == {"name": "rec.wav"} and v["saved_by"] == A.user
    assert "audio" not in v["recordings"][0]  # audio is never read back, and not kept unless enabled
    gone = store.delete_child(A, "C-0042", "respiratory")
    assert (gone.visits, gone.recordings) == (3, 3) and "Deleted child C-0042: 3 visit(s)" in gone.text()
    assert store.children(A, "respiratory") == [] and store.visit(A, ids[0]) is None
    actions = [e["action"] for e in store.audit(ADMIN_A)]
    assert actions[0] == "delete" and actions.count("save") == 3 and "open" in actions
    with pytest.raises(StorageError, match="administrator"):
        store.audit(A)


def test_another_clinic_gets_nothing_and_is_audited(url):
    store = Store(url)
    vid = store.save_visit(A, "C-0042", "respiratory", _record("v", 10, 0.5, 0.1))
    assert store.visit(B, vid) is None and store.history(B, "C-0042", "respiratory") == []
    assert store.children(B, "respiratory") == []
    assert store.delete_child(B, "C-0042", "respiratory").visits == 0
    assert store.visit(A, vid) is not None  # still there for its own clinic
    assert any(e["action"] == "denied" and e["target"] == f"visit {vid}"
               for e in store.audit(Actor("x", "clinic-b", True)))
    # the audit log holds ids and actions, no clinical content
    entries = store.audit(ADMIN_A)
    assert all(set(e) == {"at", "user", "action", "target"} for e in entries)
    assert not any("C-0042" in e["target"] or "salbutamol" in str(e) for e in entries)


def test_two_users_saving_the_same_child_at_once_lose_nothing(url):
    store = Store(url)
    errors: list = []

    def save(i: int) -> None:
        try:
            store.save_visit(Actor(f"user{i}", "clinic-a"), "C-0777", "respiratory", _record(f"v{i}", 10, 0.4, 0.1))
        except Exception as exc:  # noqa: BLE001 (collected and asserted below)
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert store.children(A, "respiratory") == [{"ref": "C-0777", "visits": 8, "last": dt.date(2026, 11, 10)}]


@pytest.mark.parametrize("ref", ["Maria Lopez", "x", "'; DROP TABLE children; --", "C-1\x00", "../C-1", "C" * 41,
                                 "<script>1</script>"])
def test_hostile_child_references_are_refused(url, ref):
    store = Store(url)
    with pytest.raises(StorageError, match="pseudonymous code"):
        store.save_visit(A, ref, "respiratory", _record("v", 10, 0.5, 0.1))


def test_hostile_fields_are_stored_inert(url):
    store = Store(url)
    rec = _record("'); DELETE FROM visits; --\x07" + "x" * 200, 10, 0.5, 0.1)
    rec["clinician"] = {"note": "Robert'); DROP TABLE audit;--"}
    vid = store.save_visit(A, "C-0042", "respiratory", rec)
    v = store.visit(A, vid)
    assert v["label"].startswith("'); DELETE FROM visits; --") and "\x07" not in v["label"] and len(v["label"]) == 80
    assert v["clinician"]["note"] == "Robert'); DROP TABLE audit;--"
    assert len(store.audit(ADMIN_A)) >= 2  # the audit table is still there


def test_audio_is_kept_only_when_the_deployment_enables_it(tmp_path):
    from sqlalchemy import select

    from core.storage.models import Recording

    for keep in (False, True):
        store = Store(f"sqlite:///{tmp_path / f'k{keep}.db'}", keep_audio=keep)
        store.save_visit(A, "C-0042", "respiratory", _record("v", 10, 0.5, 0.1))
        with store._sessions() as s:
            assert (s.scalars(select(Recording)).one().audio is not None) == keep


def test_a_database_that_cannot_be_reached_says_so(tmp_path):
    with pytest.raises(StorageError, match="cannot be opened"):
        Store("postgresql+psycopg://nobody:x@127.0.0.1:1/none")
    store = Store(f"sqlite:///{tmp_path / 'v.db'}")
    store.engine.dispose()
    (tmp_path / "v.db").unlink()
    (tmp_path / "v.db").mkdir()  # the file replaced by a folder: every write fails
    with pytest.raises(StorageError, match="could not be saved.*Your analysis is still here"):
        store.save_visit(A, "C-0042", "respiratory", _record("v", 10, 0.5, 0.1))


@pytest.mark.skipif(not (DATA / "sprsound").is_dir(), reason="needs ../shared/data")
def test_a_real_analysis_saved_and_exported_as_a_valid_fhir_bundle(tmp_path):
    from pathlib import Path

    from fhir.resources.R4B.bundle import Bundle

    from core.answers.analyzer import Analyzer
    from core.reports.fhir import visit_bundle
    from core.reports.pdf import analysis_pdf
    from core.storage.records import analysis_record
    an = Analyzer("respiratory")
    f = sorted((DATA / "sprsound" / "BioCAS2022" / "test2022_intra_flac").glob("*_p1_*.flac"))[0]
    r = an.analyze(f, name=f.name)
    report = an.report(r)
    rec = analysis_record(r, report, label="visit 1", visit_date=dt.date(2026, 12, 6), pdf=analysis_pdf(r, report))
    store = Store(f"sqlite:///{tmp_path / 'v.db'}")
    vid = store.save_visit(A, "C-0042", "respiratory", rec)
    saved = store.visit(A, vid, action="export")
    bundle = Bundle.model_validate(visit_bundle(saved, child_ref="C-0042", clinic=A.clinic, task="respiratory",
                                                visit_id=vid))
    kinds = [e.resource.__class__.__name__ for e in bundle.entry]
    assert kinds[:3] == ["Patient", "Device", "DiagnosticReport"] and kinds[-1] == "Provenance"
    report_res = bundle.entry[2].resource
    assert report_res.status == "preliminary" and report_res.presentedForm[0].contentType == "application/pdf"
    assert len(report_res.result) == kinds.count("Observation") >= 2
    patient = bundle.entry[0].resource
    assert patient.identifier[0].value == "C-0042" and not patient.name  # pseudonymous only
    assert any(e["action"] == "export" for e in store.audit(ADMIN_A))
