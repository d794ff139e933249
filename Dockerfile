# syntax=docker/dockerfile:1

# Dependencies, installed exactly from the lockfile. tsx runs the TypeScript sources directly,
# so the development dependencies it belongs to are installed too.
FROM node:22-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund && npm cache clean --force

FROM node:22-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY . .
# The embedded database (used when DATABASE_URL is unset) lives in ./data; mount a volume there
# to keep it, e.g. docker run -v desk-data:/app/data ...
RUN mkdir -p /app/data && chown node:node /app/data
USER node
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.HTTP_PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node itself is the process (tsx as a loader), so it receives SIGTERM directly.
CMD ["node", "--import", "tsx", "app/main.ts"]
