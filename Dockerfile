# Sluice's container image: compile TypeScript with dev dependencies, then run dist/ on a slim Node 20 image with
# production dependencies only, as the unprivileged `node` user. Build: docker build -t sluice:0.1.0 .

# --- build: every dependency, then `npm run build` (tsc -p tsconfig.build.json → dist/) ---
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Each install proves itself: when the registry is out of reach npm 10 can print `Exit handler never called!` and
# exit 0 with nothing installed; `npm ls --all` exits 1 on any missing package, so the step fails (and is not cached)
# instead of a later step, or the image, finding node_modules empty.
RUN npm ci --no-audit --no-fund && npm ls --all >/dev/null
COPY tsconfig.json tsconfig.build.json ./
COPY broker ./broker
COPY client ./client
COPY metrics ./metrics
RUN npm run build

# --- runtime: production dependencies and dist/ only ---
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm ls --omit=dev --all >/dev/null && npm cache clean --force
COPY --from=build /app/dist ./dist
# Inside a container the listeners must accept connections from outside it (the defaults are 127.0.0.1).
ENV SLUICE_HOST=0.0.0.0 SLUICE_ADMIN_HOST=0.0.0.0
# Main listener (REST, SSE, /ws) and admin listener (/healthz, /readyz, /metrics).
EXPOSE 8080 9190
USER node
# The slim image has no curl: node itself asks the admin listener. /healthz = the process answers; use /readyz
# (Redis reachable, not draining) for routing decisions such as Kubernetes readiness.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.SLUICE_ADMIN_PORT || 9190) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Exec form, no npm or shell in between: SIGTERM from `docker stop` reaches node, which drains (SLUICE_DRAIN_TIMEOUT_MS,
# default 10 s) before exiting; give `docker stop -t` / stop_grace_period / terminationGracePeriodSeconds more than that.
CMD ["node", "--max-semi-space-size=64", "dist/broker/main.js"]
