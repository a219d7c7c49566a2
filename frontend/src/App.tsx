import { BrowserRouter, Route, Routes } from "react-router";
import { AuthProvider } from "./auth/AuthContext";
import type { AuthSession } from "./auth/session";
import { AppShell } from "./components/AppShell";
import { RequireAuth, RequirePage } from "./components/RequireAuth";
import { allPages } from "./nav";
import { HomePage } from "./pages/HomePage";
import { LoginPage } from "./pages/LoginPage";
import { ModulePage, NotFoundPage, SectionIndex } from "./pages/ModulePage";

export function AppRoutes() {
  const pages = allPages().filter((p) => p.path !== "/");
  return (
    <Routes>
      <Route path="/login" element={<LoginPage />} />
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
                {page.children ? <SectionIndex page={page} /> : <ModulePage page={page} />}
              </RequirePage>
            }
          />
        ))}
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
