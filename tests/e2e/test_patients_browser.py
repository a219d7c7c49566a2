"""Patients in a real Chromium: search (accent-insensitive) -> chart -> prescribe through the allergy
check with an override, and a receptionist's demographics-only view.

The record is seeded through the public REST API as the demo doctor, exactly as a client would.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, Response, expect

from tests.e2e.conftest import DEMO_PASSWORD, LiveServer
from tests.e2e.test_login_browser import sign_in

pytestmark = pytest.mark.browser

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"


@dataclass(frozen=True)
class Seeded:
    patient_id: str
    mrn: str


def _token(client: httpx.Client, username: str) -> str:
    answer = client.post("/api/auth/token", data={"username": username, "password": DEMO_PASSWORD})
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def _post(client: httpx.Client, path: str, body: dict[str, object]) -> dict[str, object]:
    answer = client.post(path, json=body)
    assert answer.status_code == 201, f"{path}: {answer.status_code} {answer.text}"
    data: dict[str, object] = answer.json()
    return data


def _vital(code: str, display: str, value: str, unit: str, at: datetime) -> dict[str, object]:
    return {
        "category": "vital-signs",
        "code": {"system": LOINC, "code": code, "display": display},
        "value_quantity": value,
        "value_unit": unit,
        "effective_at": at.isoformat(),
    }


def _bp(systolic: str, diastolic: str, at: datetime) -> dict[str, object]:
    return {
        "category": "vital-signs",
        "code": {"system": LOINC, "code": "85354-9", "display": "Blood pressure panel"},
        "effective_at": at.isoformat(),
        "components": [
            {
                "code": {"system": LOINC, "code": "8480-6", "display": "Systolic"},
                "value_quantity": systolic,
                "value_unit": "mm[Hg]",
            },
            {
                "code": {"system": LOINC, "code": "8462-4", "display": "Diastolic"},
                "value_quantity": diastolic,
                "value_unit": "mm[Hg]",
            },
        ],
    }


@pytest.fixture(scope="module")
def seeded(live_server: LiveServer) -> Iterator[Seeded]:
    """María José Godínez: a high-criticality penicillin allergy, a problem, a medication, vitals
    over a week, an encounter with a note, an immunization, a procedure and a care plan."""
    with httpx.Client(base_url=live_server.url, timeout=15) as client:
        client.headers["Authorization"] = f"Bearer {_token(client, 'doctor')}"
        patient = _post(
            client,
            "/api/patients",
            {
                "names": [
                    {"given": ["María", "José"], "family": "Godínez", "prefix": ["Sra."], "is_primary": True}
                ],
                "gender": "female",
                "birth_date": "1984-03-12",
                "preferred_language": "es",
                "telecoms": [{"system": "phone", "value": "+1 555 0100", "use": "mobile"}],
                "addresses": [{"line": ["12 Calle Mayor"], "city": "Springfield", "country": "US"}],
                "contacts": [{"name": "Luis Godínez", "phone": "+1 555 0101"}],
                "identifiers": [{"system": "urn:hospital-hub:passport", "value": "E2E-PASS-001"}],
            },
        )
        pid = str(patient["id"])
        base = f"/api/patients/{pid}"
        _post(
            client,
            f"{base}/allergies",
            {
                "code": {"system": RXNORM, "code": "7984", "display": "Penicillin V"},
                "category": "medication",
                "type": "allergy",
                "criticality": "high",
                "reactions": [
                    {"manifestation": {"system": SNOMED, "code": "39579001", "display": "Anaphylaxis"}}
                ],
            },
        )
        _post(
            client,
            f"{base}/allergies",
            {"code": {"display": "Peanut"}, "category": "food", "criticality": "low"},
        )
        _post(
            client,
            f"{base}/conditions",
            {"code": {"system": SNOMED, "code": "38341003", "display": "Hypertension"}},
        )
        _post(
            client,
            f"{base}/medication-requests",
            {
                "medication": {"system": RXNORM, "code": "314076", "display": "Lisinopril 10 MG Oral Tablet"},
                "dose_value": "10",
                "dose_unit": "mg",
                "frequency": "once daily",
            },
        )
        now = datetime.now(UTC).replace(microsecond=0)
        readings = [
            ("72", "128", "84", "98", "36.8"),
            ("78", "135", "88", "97", "37.4"),
            ("70", "124", "80", "99", "36.6"),
        ]
        for days_ago, (hr, sys_, dia, spo2, temp) in zip((6, 3, 0), readings, strict=True):
            at = now - timedelta(days=days_ago, hours=1)
            _post(client, f"{base}/observations", _vital("8867-4", "Heart rate", hr, "/min", at))
            _post(client, f"{base}/observations", _bp(sys_, dia, at))
            _post(client, f"{base}/observations", _vital("59408-5", "SpO2", spo2, "%", at))
            _post(client, f"{base}/observations", _vital("8310-5", "Body temperature", temp, "Cel", at))
            _post(client, f"{base}/observations", _vital("29463-7", "Body weight", "68.5", "kg", at))
        encounter = _post(
            client,
            f"{base}/encounters",
            {
                "class_code": "AMB",
                "status": "finished",
                "type": {"display": "Outpatient visit"},
                "period_start": (now - timedelta(days=3)).isoformat(),
                "practitioner_display": "Dr. Demo",
            },
        )
        # A long history (years of yearly check-ups), so the chart is much taller than the window.
        for years_ago in range(1, 21):
            _post(
                client,
                f"{base}/encounters",
                {
                    "class_code": "AMB",
                    "status": "finished",
                    "type": {"display": "General examination"},
                    "period_start": (now - timedelta(days=365 * years_ago)).isoformat(),
                    "practitioner_display": "Dr. Demo",
                },
            )
        _post(
            client,
            f"{base}/encounters/{encounter['id']}/notes",
            {"text": "BP above target; lifestyle advice given. Review in 2 weeks."},
        )
        _post(
            client,
            f"{base}/immunizations",
            {
                "vaccine": {"system": "http://hl7.org/fhir/sid/cvx", "code": "140", "display": "Influenza"},
                "occurrence_at": (now - timedelta(days=40)).isoformat(),
            },
        )
        _post(
            client,
            f"{base}/care-plans",
            {
                "title": "Hypertension management",
                "goals": [{"description": "BP below 130/80"}],
                "activities": [{"description": "Home BP readings twice a week", "status": "in-progress"}],
            },
        )
        yield Seeded(patient_id=pid, mrn=str(patient["mrn"]))


async def test_doctor_searches_opens_chart_and_prescribes_through_the_allergy_check(
    page: Page, seeded: Seeded, screenshot_dir: Path | None
):
    await sign_in(page, "doctor")
    nav = page.get_by_role("navigation", name="Main")
    await nav.get_by_role("link", name="Patients", exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Patients")

    # An unaccented fragment finds the accented name.
    await page.get_by_label("Name, MRN or identifier").fill("godi")
    row_link = page.get_by_role("link", name="Godínez, María José")
    await expect(row_link).to_be_visible()
    await expect(page.get_by_role("status").filter(has_text="found")).to_have_text(
        re.compile(r"\d+ patients? found")
    )
    await expect(page.get_by_role("row").filter(has=row_link)).to_contain_text(seeded.mrn)
    if screenshot_dir is not None:
        await page.screenshot(path=str(screenshot_dir / "patients-search.png"), full_page=True)

    await row_link.click()
    await expect(page).to_have_url(re.compile(rf"/patients/{seeded.patient_id}$"))
    await expect(page.get_by_role("heading", level=1)).to_have_text("Sra. María José Godínez")
    header = page.locator(".patient-header")
    await expect(header).to_contain_text(seeded.mrn)
    badge = header.locator(".allergy-badge", has_text="Penicillin V")
    await expect(badge).to_be_visible()
    await expect(badge).to_contain_text("HIGH")
    await expect(header).to_contain_text("Peanut")
    meds = page.get_by_role("list", name="Active medications")
    await expect(meds).to_contain_text("Lisinopril")
    await expect(page.get_by_role("region", name="Latest vitals")).to_contain_text("124/80 mmHg")
    if screenshot_dir is not None:
        await page.screenshot(path=str(screenshot_dir / "patients-chart.png"))

    # History: the encounter's note, then the vitals charts.
    await expect(page.get_by_role("tabpanel")).to_contain_text("lifestyle advice given")
    await page.get_by_role("tab", name=re.compile("^Observations")).click()
    await expect(page.get_by_role("img", name=re.compile(r"^Heart rate: 3 readings"))).to_be_visible()
    await expect(page.get_by_role("img", name=re.compile(r"^Blood pressure: 3 readings"))).to_be_visible()
    if screenshot_dir is not None:
        history = page.get_by_role("region", name="History")
        await history.screenshot(path=str(screenshot_dir / "patients-vitals.png"))
    await page.get_by_role("tab", name=re.compile("^Care plans")).click()
    await expect(page.get_by_role("tabpanel")).to_contain_text("BP below 130/80")

    # Prescribe a drug whose ingredient is the allergen (the long encounter list open below).
    await page.get_by_role("tab", name=re.compile("^Encounters")).click()
    await page.get_by_role("button", name="Prescribe…").click()
    await page.get_by_label("Drug", exact=True).fill("Penicillin V Potassium 500 MG Oral Tablet")
    await page.get_by_label("RxNorm code").fill("834102")
    await page.get_by_label("Ingredient codes (optional)").fill("7984")
    await page.get_by_label("Dose", exact=True).fill("500")
    await page.get_by_label("Frequency").fill("every 6 hours")
    await page.get_by_label("Duration", exact=True).fill("10")
    # The chart's allergy shows up before anything is sent.
    await expect(page.get_by_role("note")).to_contain_text("Penicillin V")

    await page.get_by_role("button", name="Prescribe", exact=True).click()
    warning = page.get_by_role("alert").filter(has_text="Allergy conflict")
    await expect(warning).to_be_visible()
    await expect(warning).to_contain_text("Penicillin V")
    await expect(warning).to_contain_text("RxNorm 7984")
    await expect(warning).to_contain_text("high criticality")
    if screenshot_dir is not None:
        await page.screenshot(path=str(screenshot_dir / "patients-allergy-warning.png"))

    await warning.get_by_role("button", name="Override with reason…").click()
    reason = page.get_by_label("Reason for overriding the allergy (required)")
    await expect(reason).to_be_focused()
    # No reason, no override.
    await page.get_by_role("button", name="Prescribe despite allergy").click()
    await expect(warning).to_contain_text("Give the clinical reason")
    await reason.fill("Tolerated a penicillin challenge under supervision in 2023")
    if screenshot_dir is not None:
        await page.screenshot(path=str(screenshot_dir / "patients-override.png"))
    await page.get_by_role("button", name="Prescribe despite allergy").click()

    # The page comes back to the medications, where the new one is, with a visible confirmation
    # (it used to stay scrolled far down in the history once the panel closed).
    await expect(meds).to_contain_text("Penicillin V Potassium 500 MG Oral Tablet")
    await expect(meds).to_be_in_viewport()
    await expect(page.get_by_role("status").filter(has_text="Prescribed Penicillin V")).to_be_in_viewport()
    if screenshot_dir is not None:
        await page.screenshot(path=str(screenshot_dir / "patients-after-override.png"))
    await expect(meds).to_contain_text("Penicillin V Potassium 500 MG Oral Tablet")
    await expect(meds).to_contain_text("Allergy overridden: Tolerated a penicillin challenge")
    await expect(page.get_by_role("status").filter(has_text="Prescribed")).to_have_text(
        "Prescribed Penicillin V Potassium 500 MG Oral Tablet."
    )
    await expect(page.get_by_role("alert").filter(has_text="Allergy conflict")).to_have_count(0)


async def test_receptionist_sees_demographics_but_no_clinical_sections(
    page: Page, seeded: Seeded, screenshot_dir: Path | None
):
    refused: list[str] = []
    clinical_calls: list[str] = []

    def watch(response: Response) -> None:
        if response.status in (401, 403):
            refused.append(f"{response.status} {response.url}")
        if re.search(
            r"/api/patients/[^/]+/(chart|allergies|encounters|observations|medication-requests)", response.url
        ):
            clinical_calls.append(response.url)

    page.on("response", watch)
    await sign_in(page, "receptionist")
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Patients", exact=True).click()
    await page.get_by_label("Name, MRN or identifier").fill(seeded.mrn)
    await page.get_by_role("link", name="Godínez, María José").click()

    await expect(page.get_by_role("heading", level=1)).to_have_text("Sra. María José Godínez")
    demographics = page.get_by_role("region", name="Demographics")
    await expect(demographics).to_contain_text("+1 555 0100")
    await expect(demographics).to_contain_text("Luis Godínez")
    await expect(demographics).to_contain_text("E2E-PASS-001")
    await expect(page.get_by_text("Clinical information is not shown for your role")).to_be_visible()
    for hidden in ("Allergies", "Active medications", "Active problems", "Latest vitals", "History"):
        await expect(page.get_by_role("heading", name=hidden, exact=True)).to_have_count(0)
    await expect(page.get_by_role("button", name="Prescribe…")).to_have_count(0)
    await expect(page.get_by_text("Penicillin")).to_have_count(0)
    if screenshot_dir is not None:
        await page.screenshot(path=str(screenshot_dir / "patients-receptionist.png"), full_page=True)
    assert clinical_calls == []
    assert refused == []


async def test_receptionist_registers_and_is_told_about_a_duplicate_identifier(
    page: Page, seeded: Seeded, screenshot_dir: Path | None
):
    await sign_in(page, "receptionist")
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Patients", exact=True).click()
    await page.get_by_role("link", name="Register patient").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Register a patient")

    # Client-side validation first: nothing is sent without a name.
    await page.get_by_role("button", name="Register patient").click()
    await expect(page.get_by_role("alert")).to_contain_text(
        "Family name: Enter a family name or a given name."
    )

    await page.get_by_label("Given names").fill("Joaquín")
    await page.get_by_label("Family name").fill("Núñez")
    await page.get_by_label("Birth date").fill("1990-07-01")
    await page.get_by_label("Sex").select_option("male")
    await page.get_by_role("button", name="Add identifier").click()
    await page.get_by_label("Identifier 1 type").fill("urn:hospital-hub:passport")
    await page.get_by_label("Identifier 1 value").fill("E2E-PASS-001")  # María José's passport
    await page.get_by_role("button", name="Register patient").click()
    summary = page.get_by_role("alert").filter(has_text="This identifier is already registered")
    await expect(summary).to_be_visible()
    await expect(page.get_by_label("Identifier 1 value")).to_have_attribute("aria-invalid", "true")
    if screenshot_dir is not None:
        await page.screenshot(path=str(screenshot_dir / "patients-register-duplicate.png"), full_page=True)
    existing = summary.get_by_role("link", name="Open the existing patient")
    await expect(existing).to_have_attribute("href", f"/patients/{seeded.patient_id}")

    await page.get_by_label("Identifier 1 value").fill("E2E-PASS-002")
    await page.get_by_role("button", name="Register patient").click()
    await expect(page).to_have_url(re.compile(r"/patients/[0-9a-f-]{36}$"))
    await expect(page.get_by_role("heading", level=1)).to_have_text("Joaquín Núñez")
    await expect(page.get_by_role("region", name="Demographics")).to_contain_text("E2E-PASS-002")
