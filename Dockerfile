# syntax=docker/dockerfile:1
# One image for every service of the system (signer, ceremony CLI, indexer, API, pipeline), and a
# stage for the Bitcoin node. Services run their TypeScript entry points with tsx, as in development.
#
#   docker build -t babylon-covenant-stack .                    # the services
#   docker build -t babylon-covenant-stack-node --target bitcoind .   # the node (Bitcoin Knots)
#
# Package mirrors are the base images' own apt sources; nothing here names a mirror host.

# ---- build: dependencies (native addons: pkcs11js, lmdb), the curve addon and the dashboard bundle ----
FROM node:20-bookworm AS build
# libsecp256k1-dev and the toolchain node-gyp needs for native/secp256k1 (the services' curve).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libsecp256k1-dev pkg-config python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm install --no-audit --no-fund
COPY . .
RUN bash native/secp256k1/build.sh
RUN if [ -f web/build.ts ]; then npm run build:web; fi

# ---- services ----
FROM node:20-bookworm-slim AS services
# softhsm2: the PKCS#11 module the signer's pkcs11 custody uses by default (a real HSM's vendor
# module is mounted instead, and custody.pkcs11.library points at it).
# libsecp256k1-1: the shared library the curve addon (built in the build stage) links against.
RUN apt-get update \
 && apt-get install -y --no-install-recommends softhsm2 openssl ca-certificates libsecp256k1-1 \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/softhsm/tokens /var/lib/signer /var/lib/indexer \
 && chown -R node:node /var/lib/softhsm/tokens /var/lib/signer /var/lib/indexer
WORKDIR /app
COPY --from=build --chown=root:root /app /app
# The image fails to build, rather than a service to start, if the addon cannot load here.
RUN node -e "require('/app/native/secp256k1/build/Release/secp256k1_native.node')"
ENV NODE_ENV=production \
    SOFTHSM2_CONF=/etc/softhsm/softhsm2.conf
USER node
ENTRYPOINT ["node", "--import", "tsx"]
CMD ["api/main.ts", "--help"]

# ---- the Bitcoin node: Bitcoin Knots (a Bitcoin Core derivative) from Debian trixie-backports ----
FROM debian:trixie-slim AS bitcoind
RUN sed -i -E 's/^(Suites: trixie trixie-updates)$/\1 trixie-backports/' /etc/apt/sources.list.d/debian.sources \
 && apt-get update \
 && apt-get install -y --no-install-recommends -t trixie-backports bitcoin-knots \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /var/lib/bitcoind bitcoin
USER bitcoin
ENTRYPOINT ["bitcoind", "-datadir=/var/lib/bitcoind", "-printtoconsole"]
