# syntax=docker/dockerfile:1
# One image for every component: `fleetiq-agones <pubsub|webhook|reconciler|certs|...>`; each
# manifest picks its subcommand with args. Build: docker build -t fleetiq-agones:0.1.0 .

# --- build: compile TypeScript to dist/ ------------------------------------------------------------
FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: no third-party install scripts at build time. The one that matters for local
# development (the `node` devDependency, which pins npm scripts to Node 24) is not needed here: the
# image already is Node 24, and tsc is run with it directly.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN node node_modules/typescript/bin/tsc -p tsconfig.build.json

# --- deps: production dependencies only ------------------------------------------------------------
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# --- runtime ---------------------------------------------------------------------------------------
FROM node:24-bookworm-slim AS runtime
# The runtime needs node only: no package manager to misuse in a running container.
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
      /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack /opt/yarn-* /usr/local/bin/yarn /usr/local/bin/yarnpkg
WORKDIR /app
ENV NODE_ENV=production \
    NODE_OPTIONS=--enable-source-maps
# package.json carries "type": "module", which the compiled ES modules need.
COPY --chown=0:0 package.json ./
COPY --chown=0:0 --from=deps /app/node_modules ./node_modules
COPY --chown=0:0 --from=build /src/dist ./dist
# Files owned by root and read-only to the process; it runs as an unprivileged user with no home.
USER 65532:65532
LABEL org.opencontainers.image.title="fleetiq-agones" \
      org.opencontainers.image.description="Agones game servers on EC2 Spot, steered by GameLift FleetIQ, without cutting a session short" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/fleetiq-agones/fleetiq-agones"
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["--help"]
