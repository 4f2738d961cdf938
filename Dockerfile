# syntax=docker/dockerfile:1
# Keygate: docker build -t keygate . && docker run -p 8080:8080 keygate
# Three stages: the pinned OPA CLI (built from source by scripts/install-opa.sh),
# the TypeScript build and policy bundle, and a small non-root runtime.

ARG NODE_VERSION=20

# --- the OPA CLI, at the version scripts/install-opa.sh pins ------------------
FROM golang:1.24-bookworm AS opa
WORKDIR /src
COPY scripts/install-opa.sh scripts/install-opa.sh
RUN bash scripts/install-opa.sh

# --- dist/ and build/bundle.tar.gz ----------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY --from=opa /src/.tools ./.tools
COPY tsconfig.json ./
COPY bin ./bin
COPY src ./src
COPY policies ./policies
COPY scripts ./scripts
COPY migrations ./migrations
RUN npm run build && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

# --- runtime ----------------------------------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim
ENV NODE_ENV=production \
    KEYGATE_HOST=0.0.0.0 \
    KEYGATE_PORT=8080
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/bin ./bin
COPY --from=build /app/dist ./dist
COPY --from=build /app/migrations ./migrations
COPY --from=build /app/policies ./policies
COPY --from=build /app/build/bundle.tar.gz ./build/bundle.tar.gz
# The embedded store (no KEYGATE_DATABASE_URL) and its signing key file: .keygate/ in the
# working directory, the default. Mount a volume there to keep them.
RUN mkdir -p /app/.keygate && chown node:node /app/.keygate
VOLUME /app/.keygate
USER node
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.KEYGATE_PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "bin/keygate.js"]
CMD ["serve"]
