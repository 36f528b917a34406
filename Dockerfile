# syntax=docker/dockerfile:1
# One image for every component: `fleetiq-agones <pubsub|webhook|reconciler|certs>`; each manifest picks
# its subcommand with args. It holds Node and the production bundle (npm run build: the product's code and
# its runtime dependencies, split per component), nothing else: no sandbox/, tests, benchmarks,
# node_modules or package manager.
#
# Build: docker build -t fleetiq-agones:0.1.0 .
# Both architectures: docker buildx build --platform linux/amd64,linux/arm64 -t fleetiq-agones:0.1.0 .
# The bundle is plain JavaScript (no native module among the dependencies), so it is built once, on the
# builder's own platform, and copied into each architecture's Node image.

# --- build: bundle the product with esbuild -----------------------------------------------------------
FROM --platform=$BUILDPLATFORM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: no third-party install scripts at build time. esbuild's binary comes in its
# platform package (an optional dependency), with no script; the `node` devDependency, which pins npm
# scripts to Node 24 on a developer's machine, is not needed: this image is Node 24.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN node scripts/build.ts --only image

# --- runtime -----------------------------------------------------------------------------------------
FROM node:24-bookworm-slim AS runtime
# The runtime needs node only: no package manager to misuse in a running container.
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
      /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack /opt/yarn-* /usr/local/bin/yarn /usr/local/bin/yarnpkg
WORKDIR /app
# MALLOC_ARENA_MAX: see the ENTRYPOINT's flags below.
ENV NODE_ENV=production \
    MALLOC_ARENA_MAX=2
# The bundle's entry and its chunks, owned by root and read-only to the process. The files are ES
# modules by their .mjs extension: no package.json needed.
COPY --chown=0:0 --from=build /src/dist/fleetiq-agones/ ./
# It runs as an unprivileged user with no home.
USER 65532:65532
LABEL org.opencontainers.image.title="fleetiq-agones" \
      org.opencontainers.image.description="Agones game servers on EC2 Spot, steered by GameLift FleetIQ, without cutting a session short" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/fleetiq-agones/fleetiq-agones"
# Node's flags and MALLOC_ARENA_MAX, chosen by measurement (npm run bench:memory; README, "Memory"):
# scripts/build.ts PRODUCTION_NODE_FLAGS and PRODUCTION_ENV, which test/manifests/image.test.ts holds
# these lines to. Flags given here win over a NODE_OPTIONS set in a manifest.
ENTRYPOINT ["node", "--max-semi-space-size=1", "--v8-pool-size=1", "--optimize-for-size", "main.mjs"]
CMD ["--help"]
