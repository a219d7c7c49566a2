import "@testing-library/jest-dom/vitest";
import { cleanup, configure } from "@testing-library/react";
import { afterEach } from "vitest";

// Screens debounce and chain requests; the first render in a fresh jsdom can be slow.
configure({ asyncUtilTimeout: 3000 });

afterEach(() => {
  cleanup();
  window.sessionStorage.clear();
});

// jsdom lays nothing out, so it has no scrollIntoView; screens call it to bring a result into view
// (the browser tests check where it lands). Here it has nothing to do.
if (!("scrollIntoView" in Element.prototype)) {
  Object.defineProperty(Element.prototype, "scrollIntoView", { value: () => undefined, configurable: true });
}
