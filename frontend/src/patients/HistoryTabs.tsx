import { useId, useRef, useState, type KeyboardEvent, type ReactNode } from "react";
import { describeError } from "../api/errors";
import type { ApiClient } from "../api/client";
import type { CarePlan, Condition, Encounter, Immunization, Observation, PatientChart, Procedure } from "../api/types";
import { listHistory, type HistoryKind, type HistoryKinds } from "./api";
import { codingCode, codingText, formatDate, formatDateTime, formatDay } from "./format";
import { useLoad } from "./hooks";
import { Pager } from "./Pager";
import { VitalsCharts } from "./VitalsChart";
import { VITAL_CODES, observationLabel, observationValue } from "./vitals";

export const HISTORY_PAGE_SIZE = 20;

type Counts = PatientChart["counts"];

const TABS: { kind: HistoryKind; label: string; count: keyof Counts }[] = [
  { kind: "encounters", label: "Encounters", count: "encounters" },
  { kind: "observations", label: "Observations", count: "observations" },
  { kind: "conditions", label: "Conditions", count: "conditions" },
  { kind: "immunizations", label: "Immunizations", count: "immunizations" },
  { kind: "procedures", label: "Procedures", count: "procedures" },
  { kind: "care-plans", label: "Care plans", count: "care_plans" },
];

function Status({ status }: { status: string }) {
  return <span className={`status status-${status}`}>{status.replace(/-/g, " ")}</span>;
}

function Code({ coding }: { coding: Parameters<typeof codingCode>[0] }) {
  const code = codingCode(coding);
  return code ? <span className="code">{code}</span> : null;
}

function HistoryList<K extends HistoryKind>({
  api,
  patientId,
  kind,
  label,
  render,
}: {
  api: ApiClient;
  patientId: string;
  kind: K;
  label: string;
  render: (items: HistoryKinds[K][]) => ReactNode;
}) {
  const [offset, setOffset] = useState(0);
  const result = useLoad(
    (signal) => listHistory(api, kind, patientId, { limit: HISTORY_PAGE_SIZE, offset }, signal),
    [api, kind, patientId, offset],
  );
  const data = result.data;
  return (
    <div aria-busy={result.status === "loading"}>
      {result.status === "loading" && !data && (
        <p className="muted" role="status">
          <span className="spinner spinner-small" aria-hidden="true" /> Loading {label.toLowerCase()}…
        </p>
      )}
      {result.status === "error" && (
        <div className="form-error" role="alert">
          {describeError(result.error)}{" "}
          <button type="button" className="link-button" onClick={result.reload}>
            Try again
          </button>
        </div>
      )}
      {data && data.total === 0 && <p className="muted">No {label.toLowerCase()} recorded.</p>}
      {data && data.items.length > 0 && render(data.items)}
      {data && (
        <Pager
          label={label}
          total={data.total}
          limit={HISTORY_PAGE_SIZE}
          offset={offset}
          onChange={setOffset}
          busy={result.status === "loading"}
        />
      )}
    </div>
  );
}

function EncounterList({ items }: { items: Encounter[] }) {
  return (
    <ol className="timeline">
      {items.map((e) => (
        <li key={e.id} className="timeline-item">
          <div className="timeline-head">
            <strong>{e.type ? codingText(e.type) : e.class_code}</strong> <Status status={e.status} />
            <span className="muted">
              {" "}
              {formatDateTime(e.period_start)}
              {e.period_end ? ` – ${formatDateTime(e.period_end)}` : ""}
            </span>
          </div>
          <div className="muted small">
            {[e.practitioner_display, e.location_display].filter(Boolean).join(" · ")}
            {e.reasons.length > 0 && <> · Reason: {e.reasons.map(codingText).join(", ")}</>}
          </div>
          {e.notes.length > 0 && (
            <ul className="notes" aria-label="Clinical notes">
              {e.notes.map((n) => (
                <li key={n.id} className="note">
                  <div className="note-meta">
                    {n.author_display ?? "Unknown author"} · {formatDateTime(n.created_at)}
                  </div>
                  <p className="note-text">{n.text}</p>
                </li>
              ))}
            </ul>
          )}
        </li>
      ))}
    </ol>
  );
}

function ObservationTable({ items }: { items: Observation[] }) {
  return (
    <div className="table-wrap">
      <table className="data-table">
        <caption className="visually-hidden">Observations, newest first</caption>
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Observation</th>
            <th scope="col">Value</th>
            <th scope="col">Reference</th>
            <th scope="col">Status</th>
          </tr>
        </thead>
        <tbody>
          {items.map((o) => (
            <tr key={o.id}>
              <td>{formatDateTime(o.effective_at)}</td>
              <td>
                {observationLabel(o)} <Code coding={o.code} />
              </td>
              <td className="num">
                {observationValue(o)}
                {o.interpretation && <span className="tag">{codingText(o.interpretation)}</span>}
              </td>
              <td className="muted">
                {o.reference_low || o.reference_high ? `${o.reference_low ?? ""}–${o.reference_high ?? ""}` : "—"}
              </td>
              <td>
                <Status status={o.status} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function ObservationsTab({ api, patientId }: { api: ApiClient; patientId: string }) {
  const vitals = useLoad(
    (signal) => listHistory(api, "observations", patientId, { limit: 200, offset: 0, code: VITAL_CODES }, signal),
    [api, patientId],
  );
  return (
    <>
      <h3 className="subsection-title">Vital signs over time</h3>
      {vitals.status === "error" && (
        <p className="form-error" role="alert">
          {describeError(vitals.error)}
        </p>
      )}
      {vitals.data && <VitalsCharts observations={vitals.data.items} />}
      {vitals.data && vitals.data.total > vitals.data.items.length && (
        <p className="muted small">Charts show the latest {vitals.data.items.length} of {vitals.data.total} readings.</p>
      )}
      <h3 className="subsection-title">All observations</h3>
      <HistoryList api={api} patientId={patientId} kind="observations" label="Observations" render={(items) => <ObservationTable items={items} />} />
    </>
  );
}

function ConditionTable({ items }: { items: Condition[] }) {
  return (
    <div className="table-wrap">
      <table className="data-table">
        <caption className="visually-hidden">Conditions</caption>
        <thead>
          <tr>
            <th scope="col">Condition</th>
            <th scope="col">Status</th>
            <th scope="col">Onset</th>
            <th scope="col">Resolved</th>
          </tr>
        </thead>
        <tbody>
          {items.map((c) => (
            <tr key={c.id}>
              <td>
                {codingText(c.code)} <Code coding={c.code} />
                {c.note && <div className="muted small">{c.note}</div>}
              </td>
              <td>
                <Status status={c.clinical_status} />
                {c.verification_status !== "confirmed" && <span className="muted small"> ({c.verification_status})</span>}
              </td>
              <td>{formatDay(c.onset_at)}</td>
              <td>{formatDay(c.abatement_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function ImmunizationTable({ items }: { items: Immunization[] }) {
  return (
    <div className="table-wrap">
      <table className="data-table">
        <caption className="visually-hidden">Immunizations</caption>
        <thead>
          <tr>
            <th scope="col">Vaccine</th>
            <th scope="col">Date</th>
            <th scope="col">Lot</th>
            <th scope="col">Status</th>
          </tr>
        </thead>
        <tbody>
          {items.map((i) => (
            <tr key={i.id}>
              <td>
                {codingText(i.vaccine)} <Code coding={i.vaccine} />
              </td>
              <td>{formatDay(i.occurrence_at)}</td>
              <td className="mono">{i.lot_number ?? "—"}</td>
              <td>
                <Status status={i.status} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function ProcedureTable({ items }: { items: Procedure[] }) {
  return (
    <div className="table-wrap">
      <table className="data-table">
        <caption className="visually-hidden">Procedures</caption>
        <thead>
          <tr>
            <th scope="col">Procedure</th>
            <th scope="col">Performed</th>
            <th scope="col">Status</th>
          </tr>
        </thead>
        <tbody>
          {items.map((p) => (
            <tr key={p.id}>
              <td>
                {codingText(p.code)} <Code coding={p.code} />
                {p.note && <div className="muted small">{p.note}</div>}
              </td>
              <td>{formatDateTime(p.performed_start)}</td>
              <td>
                <Status status={p.status} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function CarePlanList({ items }: { items: CarePlan[] }) {
  return (
    <ul className="plain-list">
      {items.map((p) => (
        <li key={p.id} className="care-plan">
          <div className="timeline-head">
            <strong>{p.title ?? (p.category ? codingText(p.category) : "Care plan")}</strong> <Status status={p.status} />
            <span className="muted">
              {" "}
              {formatDay(p.period_start)}
              {p.period_end ? ` – ${formatDay(p.period_end)}` : ""}
              {p.author_display ? ` · ${p.author_display}` : ""}
            </span>
          </div>
          {p.description && <p>{p.description}</p>}
          <div className="care-plan-cols">
            <div>
              <h4>Goals</h4>
              {p.goals.length === 0 ? (
                <p className="muted small">None recorded.</p>
              ) : (
                <ul>
                  {p.goals.map((g, i) => (
                    <li key={i}>
                      {g.description} <Status status={g.lifecycle_status} />
                      {g.target_date && <span className="muted small"> · by {formatDate(g.target_date)}</span>}
                    </li>
                  ))}
                </ul>
              )}
            </div>
            <div>
              <h4>Activities</h4>
              {p.activities.length === 0 ? (
                <p className="muted small">None recorded.</p>
              ) : (
                <ul>
                  {p.activities.map((a, i) => (
                    <li key={i}>
                      {a.description ?? codingText(a.code)} <Status status={a.status} />
                    </li>
                  ))}
                </ul>
              )}
            </div>
          </div>
        </li>
      ))}
    </ul>
  );
}

/** The history, one tab per kind of record (WAI-ARIA tabs: arrows move, Home/End jump). */
export function HistoryTabs({ api, patientId, counts }: { api: ApiClient; patientId: string; counts: Counts }) {
  const id = useId();
  const [active, setActive] = useState<HistoryKind>("encounters");
  const tabRefs = useRef(new Map<HistoryKind, HTMLButtonElement>());

  const onKey = (event: KeyboardEvent) => {
    const at = TABS.findIndex((t) => t.kind === active);
    let next = at;
    if (event.key === "ArrowRight") next = (at + 1) % TABS.length;
    else if (event.key === "ArrowLeft") next = (at - 1 + TABS.length) % TABS.length;
    else if (event.key === "Home") next = 0;
    else if (event.key === "End") next = TABS.length - 1;
    else return;
    event.preventDefault();
    const kind = TABS[next]!.kind;
    setActive(kind);
    tabRefs.current.get(kind)?.focus();
  };

  const panel = () => {
    switch (active) {
      case "encounters":
        return <HistoryList api={api} patientId={patientId} kind="encounters" label="Encounters" render={(items) => <EncounterList items={items} />} />;
      case "observations":
        return <ObservationsTab api={api} patientId={patientId} />;
      case "conditions":
        return <HistoryList api={api} patientId={patientId} kind="conditions" label="Conditions" render={(items) => <ConditionTable items={items} />} />;
      case "immunizations":
        return <HistoryList api={api} patientId={patientId} kind="immunizations" label="Immunizations" render={(items) => <ImmunizationTable items={items} />} />;
      case "procedures":
        return <HistoryList api={api} patientId={patientId} kind="procedures" label="Procedures" render={(items) => <ProcedureTable items={items} />} />;
      case "care-plans":
        return <HistoryList api={api} patientId={patientId} kind="care-plans" label="Care plans" render={(items) => <CarePlanList items={items} />} />;
    }
  };

  return (
    <section className="history" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`} className="section-title">
        History
      </h2>
      <div role="tablist" aria-label="Clinical history" className="tabs" onKeyDown={onKey}>
        {TABS.map((t) => (
          <button
            key={t.kind}
            ref={(el) => {
              if (el) tabRefs.current.set(t.kind, el);
            }}
            type="button"
            role="tab"
            id={`${id}-tab-${t.kind}`}
            aria-selected={active === t.kind}
            aria-controls={`${id}-panel`}
            tabIndex={active === t.kind ? 0 : -1}
            className="tab"
            onClick={() => setActive(t.kind)}
          >
            {t.label} <span className="tab-count">{counts[t.count]}</span>
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`${id}-panel`} aria-labelledby={`${id}-tab-${active}`} tabIndex={0} className="tab-panel">
        <div key={active}>{panel()}</div>
      </div>
    </section>
  );
}
