// Named aliases over the generated schema. Reached through `paths`, not `components`, so that a
// renamed Pydantic model in the backend does not break the app as long as the endpoint's shape holds.
import type { paths } from "./schema";

type JsonOf<T> = T extends { content: { "application/json": infer B } } ? B : never;

export type TokenPair = JsonOf<paths["/api/auth/token"]["post"]["responses"][200]>;
export type Me = JsonOf<paths["/api/auth/me"]["get"]["responses"][200]>;
export type { paths };
