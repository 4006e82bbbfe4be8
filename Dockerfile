# syntax=docker/dockerfile:1
# Attune node image: `docker build -t attune .` then `docker run -p 8080:8080 attune` (a demo node
# with the demo model; see deploy/README.md for Redis, secrets and compose/Helm).
# CPU only: onnxruntime-node's CPU binaries ship in its npm package; its install script, which
# would fetch GPU binaries, never runs (--ignore-scripts, and ONNXRUNTIME_NODE_INSTALL=skip for
# any npm step that runs scripts).
ARG NODE_IMAGE=node:20-bookworm-slim

# --- build: every dependency, TypeScript compiled to dist/ ---
FROM ${NODE_IMAGE} AS build
ENV ONNXRUNTIME_NODE_INSTALL=skip
WORKDIR /app
COPY package.json package-lock.json ./
# No lifecycle scripts here: `prepare` runs the build, and the sources are copied after this
# layer, which then stays cached until the lock file changes.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts ./scripts
RUN npm run build

# --- production dependencies only ---
FROM ${NODE_IMAGE} AS deps
ENV ONNXRUNTIME_NODE_INSTALL=skip
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would run tsc, a dev dependency that is not installed here (dist/
# comes from the build stage). onnxruntime-node's binaries for other systems are dropped.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && rm -rf node_modules/onnxruntime-node/bin/napi-v6/darwin node_modules/onnxruntime-node/bin/napi-v6/win32 \
 && npm cache clean --force

# --- runtime ---
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    ONNXRUNTIME_NODE_INSTALL=skip \
    ATTUNE_PORT=8080 \
    ATTUNE_DATA_DIR=/var/lib/attune
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY web ./web
COPY deploy/docker/healthcheck.mjs ./deploy/docker/healthcheck.mjs
# The data directory (the demo model, import files) is the only place the node writes; the
# code stays root's and read-only to the node's user.
RUN mkdir -p /var/lib/attune/imports && chown -R 1000:1000 /var/lib/attune
# Numeric, so Kubernetes' runAsNonRoot can verify it (the image's `node` user is 1000).
USER 1000:1000
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 CMD ["node", "deploy/docker/healthcheck.mjs"]
# SIGTERM makes the node hand its shards off and close its sockets before it exits.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "bin/attune.js"]
CMD ["serve"]
