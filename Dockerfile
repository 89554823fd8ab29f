# The one meshgate image: control plane, proxy (sidecar and gateways) and capture (istio-init's job).
# docker build -t meshgate:0.1.0 .   — then `meshgate install --image meshgate:0.1.0 --dry-run` (README).

# Build: dependencies with dev tools (tsc), the SO_ORIGINAL_DST addon compiled by node-gyp during npm ci.
FROM node:20-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json binding.gyp tsconfig.json ./
COPY native ./native
# npm runs `node-gyp rebuild` for the root binding.gyp: build/Release/original_dst.node.
RUN npm ci
COPY src ./src
COPY test ./test
COPY bench ./bench
COPY soak ./soak
RUN npm run build

# Runtime: production dependencies only, the compiled CLI, the addon, iptables for `meshgate capture`.
FROM node:20-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the addon comes built from the build stage (no compiler in this image).
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/build/Release/original_dst.node ./build/Release/original_dst.node
COPY --from=build /app/dist/src ./dist/src
RUN chmod +x dist/src/cli/main.js && ln -s /app/dist/src/cli/main.js /usr/local/bin/meshgate
# The proxy's user: capture exempts uid 1337's traffic. istio-init runs as root by its securityContext.
USER 1337:1337
CMD ["meshgate", "--help"]
