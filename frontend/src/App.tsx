import type { ReactElement } from "react";
import { BrowserRouter, Route, Routes } from "react-router";
import { AuthProvider } from "./auth/AuthContext";
import type { AuthSession } from "./auth/session";
import { AppShell } from "./components/AppShell";
import { RequireAuth, RequirePage } from "./components/RequireAuth";
import { allPages } from "./nav";
import { HomePage } from "./pages/HomePage";
import { LoginPage } from "./pages/LoginPage";
import { ModulePage, NotFoundPage, SectionIndex } from "./pages/ModulePage";
import { ChartPage } from "./patients/ChartPage";
import { PatientSearchPage } from "./patients/PatientSearchPage";
import { RegisterPatientPage } from "./patients/RegisterPatientPage";
import { BookingDeskPage } from "./appointments/BookingDeskPage";
import { CalendarPage } from "./appointments/CalendarPage";
import { MonitoringWallPage } from "./monitoring/MonitoringWallPage";
import { MyReadingsPage } from "./monitoring/MyReadingsPage";
import { PatientMonitorPage } from "./monitoring/PatientMonitorPage";
import { BookVisitPage } from "./portal/BookVisitPage";
import { MyAppointmentsPage } from "./portal/MyAppointmentsPage";
import { LicenceReportPage } from "./staff/LicenceReportPage";
import { RotaPage } from "./staff/RotaPage";
import { StaffDirectoryPage } from "./staff/StaffDirectoryPage";
import { StaffRecordPage } from "./staff/StaffRecordPage";
import {
  ClinicianCallPage,
  ClinicianVisitsPage,
  GuestVisitPage,
  MyVisitsPage,
  PatientCallPage,
} from "./telehealth/TelehealthPages";

/** Modules that have landed; the rest show their placeholder. */
const SCREENS: Record<string, () => ReactElement> = {
  patients: () => <PatientSearchPage />,
  "appointments-calendar": () => <CalendarPage />,
  "appointments-desk": () => <BookingDeskPage />,
  "my-appointments": () => <MyAppointmentsPage />,
  "staff-directory": () => <StaffDirectoryPage />,
  "staff-rota": () => <RotaPage />,
  "staff-licences": () => <LicenceReportPage />,
  telehealth: () => <ClinicianVisitsPage />,
  "my-visits": () => <MyVisitsPage />,
  monitoring: () => <MonitoringWallPage />,
  "my-readings": () => <MyReadingsPage />,
};

export function AppRoutes() {
  const pages = allPages().filter((p) => p.path !== "/");
  const patients = pages.find((p) => p.id === "patients")!;
  const myAppointments = pages.find((p) => p.id === "my-appointments")!;
  const staffDirectory = pages.find((p) => p.id === "staff-directory")!;
  const telehealth = pages.find((p) => p.id === "telehealth")!;
  const myVisits = pages.find((p) => p.id === "my-visits")!;
  const monitoring = pages.find((p) => p.id === "monitoring")!;
  return (
    <Routes>
      <Route path="/login" element={<LoginPage />} />
      <Route path="/visit/guest" element={<GuestVisitPage />} />
      <Route
        element={
          <RequireAuth>
            <AppShell />
          </RequireAuth>
        }
      >
        <Route index element={<HomePage />} />
        {pages.map((page) => (
          <Route
            key={page.id}
            path={page.path}
            element={
              <RequirePage page={page}>
                {page.children ? (
                  <SectionIndex page={page} />
                ) : (
                  (SCREENS[page.id]?.() ?? <ModulePage page={page} />)
                )}
              </RequirePage>
            }
          />
        ))}
        <Route
          path="/patients/new"
          element={
            <RequirePage page={patients}>
              <RegisterPatientPage />
            </RequirePage>
          }
        />
        <Route
          path="/patients/:id"
          element={
            <RequirePage page={patients}>
              <ChartPage />
            </RequirePage>
          }
        />
        <Route
          path="/staff/directory/:id"
          element={
            <RequirePage page={staffDirectory}>
              <StaffRecordPage />
            </RequirePage>
          }
        />
        <Route
          path="/monitoring/patients/:id"
          element={
            <RequirePage page={monitoring}>
              <PatientMonitorPage />
            </RequirePage>
          }
        />
        <Route
          path="/my/appointments/book"
          element={
            <RequirePage page={myAppointments}>
              <BookVisitPage />
            </RequirePage>
          }
        />
        <Route
          path="/telehealth/:id"
          element={
            <RequirePage page={telehealth}>
              <ClinicianCallPage />
            </RequirePage>
          }
        />
        <Route
          path="/my/visits/:id"
          element={
            <RequirePage page={myVisits}>
              <PatientCallPage />
            </RequirePage>
          }
        />
        <Route path="*" element={<NotFoundPage />} />
      </Route>
    </Routes>
  );
}

export function App({ session }: { session: AuthSession }) {
  return (
    <AuthProvider session={session}>
      <BrowserRouter>
        <AppRoutes />
      </BrowserRouter>
    </AuthProvider>
  );
}
