# syntax=docker/dockerfile:1
# The web front: the React/Vite build of frontend/ served by nginx, which also proxies the API and
# the WebSockets (docker/nginx.conf). Build context: the repository root.

FROM node:22-slim AS build
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/ ./
RUN npm run build


# Non-root nginx listening on 8080; pid and temp files live in /tmp (a tmpfs in compose).
FROM nginxinc/nginx-unprivileged:1.28-alpine AS runtime
COPY docker/nginx.conf /etc/nginx/conf.d/default.conf
COPY docker/nginx-proxy-headers.conf /etc/nginx/snippets/proxy-headers.conf
COPY docker/nginx-security-headers.conf /etc/nginx/snippets/security-headers.conf
COPY --from=build /src/frontend/dist/ /usr/share/nginx/html/
EXPOSE 8080
