"""A saved (or about to be saved) visit as an HL7 FHIR R4 Bundle, the form hospital records exchange.

One `collection` Bundle: the Patient (the pseudonymous child reference as an identifier, never a name), the Device
(this app and its model versions), a DiagnosticReport (status preliminary: a screening aid, not a diagnosis) whose
results are one Observation per answer (per site for an examination, and the child's answers), the PDF report as its
presentedForm, and a Provenance naming the device and the audio's SHA-256. Built from the record `core.storage.records`
makes, so the report section and the history export one thing. Plain dicts; the tests validate them with the FHIR
resource-model library (`fhir.resources`, R4B models, which read R4).
"""
from __future__ import annotations

import base64
import datetime as dt
import uuid

from core.config import DISCLAIMER
from core.decisions.child import SITE_NAMES
from core.reports.provenance import APP_NAME

SYSTEM = "urn:hear-screening"  # identifier systems of this app (a deployment may map them to its own OIDs)
NS = uuid.UUID("6f1d3c3e-7d1a-4b8e-9d9a-2f6f0c9b1a10")


def _id(*parts) -> str:
    return str(uuid.uuid5(NS, "/".join(str(p) for p in parts)))


def _when(v) -> str:
    if isinstance(v, dt.datetime):
        return (v if v.tzinfo else v.replace(tzinfo=dt.timezone.utc)).isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v)


def _observation(oid: str, key: str, a: dict, subject: str, device: str, when: str, site: str = "") -> dict:
    obs = {"resourceType": "Observation", "id": oid, "status": "preliminary",
           "code": {"coding": [{"system": f"{SYSTEM}/answer", "code": key}], "text": a.get("title") or key},
           "subject": {"reference": subject}, "effectiveDateTime": when, "device": {"reference": device}}
    if site:
        obs["bodySite"] = {"text": f"chest, {SITE_NAMES.get(site, site)} ({site})"}
    if a.get("label") is None:
        obs["dataAbsentReason"] = {"text": a.get("reason") or "no answer"}
        return obs
    obs["valueCodeableConcept"] = {"text": str(a["label"])}
    if a.get("probability") is not None:
        obs["component"] = [{"code": {"text": f"probability of '{a.get('positive') or a['label']}'"},
                             "valueQuantity": {"value": round(float(a["probability"]), 4), "unit": "1",
                                               "system": "http://unitsofmeasure.org", "code": "1"}}]
    notes = []
    if a.get("threshold") is not None:
        notes.append(f"decided at threshold {a['threshold']:.3f}")
    if a.get("sensitivity") is not None and a.get("specificity") is not None:
        notes.append(f"validated sensitivity {a['sensitivity']:.2f}, specificity {a['specificity']:.2f}"
                     + (f" ({a['validated_on']})" if a.get("validated_on") else ""))
    if notes:
        obs["note"] = [{"text": "; ".join(notes)}]
    return obs


def visit_bundle(record: dict, *, child_ref: str, clinic: str, task: str, visit_id: int | str | None = None) -> dict:
    """The Bundle of one visit `record` (as saved, or as `core.storage.records` builds it before saving)."""
    key = visit_id if visit_id is not None else record.get("report", {}).get("provenance", {}).get("audio_sha256", "")
    when = _when(record["visit_date"])
    issued = _when(record.get("saved_at") or dt.datetime.now(dt.timezone.utc))
    pid, did, rid, prov_id = (_id(clinic, "patient", child_ref), _id("device", record.get("app_version", "")),
                              _id(clinic, "report", key, record.get("label")), _id(clinic, "provenance", key))
    patient = {"resourceType": "Patient", "id": pid}
    if child_ref:  # the pseudonymous reference only; an unsaved analysis may have none
        patient["identifier"] = [{"system": f"{SYSTEM}/{clinic}/child", "value": child_ref}]
    device = {"resourceType": "Device", "id": did, "deviceName": [{"name": APP_NAME, "type": "user-friendly-name"}],
              "version": [{"type": {"text": "app"}, "value": record.get("app_version") or "unknown"},
                          {"type": {"text": "encoder"}, "value": record.get("encoder") or "unknown"}]
              + [{"type": {"text": f"model {k}"}, "value": str(v)} for k, v in (record.get("models") or {}).items()]}
    observations = []
    if record["kind"] == "examination":
        for k, a in (record.get("summary", {}).get("child") or {}).items():
            observations.append(_observation(_id(rid, "child", k), k, {**a, "title": f"child: {k}"},
                                             f"urn:uuid:{pid}", f"urn:uuid:{did}", when))
    for i, r in enumerate(record.get("recordings", [])):
        for k, a in (r.get("answers") or {}).items():
            observations.append(_observation(_id(rid, i, k), k, a, f"urn:uuid:{pid}", f"urn:uuid:{did}", when,
                                             r.get("site", "") if record["kind"] == "examination" else ""))
    report = {"resourceType": "DiagnosticReport", "id": rid, "status": "preliminary",
              "code": {"coding": [{"system": f"{SYSTEM}/report", "code": f"{task}-{record['kind']}"}],
                       "text": f"Body-sound screening ({task}, {record['kind']}): {record.get('label', '')}"},
              "subject": {"reference": f"urn:uuid:{pid}"}, "effectiveDateTime": when, "issued": issued,
              "result": [{"reference": f"urn:uuid:{o['id']}"} for o in observations],
              "conclusion": DISCLAIMER + (f" {record['calibration']}" if record.get("calibration") else "")}
    if record.get("pdf"):
        report["presentedForm"] = [{"contentType": "application/pdf", "title": "Screening report (PDF)",
                                    "data": base64.b64encode(record["pdf"]).decode()}]
    provenance = {"resourceType": "Provenance", "id": prov_id, "target": [{"reference": f"urn:uuid:{rid}"}],
                  "recorded": issued,
                  "agent": [{"type": {"text": "software"}, "who": {"reference": f"urn:uuid:{did}"}}],
                  "entity": [{"role": "source", "what": {"identifier": {"system": "urn:ietf:rfc:6920",
                                                                        "value": f"sha-256;{r['audio_sha256']}"},
                                                         "display": f"audio {r.get('site') or ''}".strip()}}
                             for r in record.get("recordings", []) if r.get("audio_sha256")]}
    entries = [patient, device, report, *observations, provenance]
    return {"resourceType": "Bundle", "id": _id(clinic, "bundle", key, record.get("label")), "type": "collection",
            "timestamp": issued,
            "entry": [{"fullUrl": f"urn:uuid:{e['id']}", "resource": e} for e in entries]}
