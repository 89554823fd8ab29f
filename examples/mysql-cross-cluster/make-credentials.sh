#!/usr/bin/env bash
# Creates the organisation's root CA R and the two gateway credentials of the seed scenario, using only
# `meshgate ca`:
#   - client-credential (istio-system, cluster A): the egress gateway's client certificate for the
#     gateway-to-gateway leg (DestinationRule tls.mode MUTUAL, credentialName client-credential);
#   - mysql-credential  (istio-system, cluster B): the ingress gateway's server certificate for
#     mysql.fqdn.example (Gateway tls.mode MUTUAL, credentialName mysql-credential).
# Both trust R only (ca.crt). The lab runs this at start, so no private key is ever committed.
#
# usage: make-credentials.sh OUTDIR     (MESHGATE overrides the command, default: node dist/src/cli/main.js)
set -euo pipefail

OUT=${1:?usage: make-credentials.sh OUTDIR}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
MESHGATE=${MESHGATE:-"node $REPO/dist/src/cli/main.js"}
TTL=${CREDENTIAL_TTL:-720h}

umask 077
mkdir -p "$OUT"

# shellcheck disable=SC2086 # MESHGATE is a command line and is meant to be split into words
mg() { $MESHGATE "$@"; }

mg ca create-root --name "meshgate example root CA R" --org "Example Org" --ttl 8760h --force --out "$OUT/root-ca" >/dev/null

mg ca issue --ca "$OUT/root-ca" --name istio-egressgateway.istio-system --dns client.mysql.fqdn.example \
  --usage client --ttl "$TTL" --out "$OUT/client-credential" >/dev/null
mg ca issue --ca "$OUT/root-ca" --dns mysql.fqdn.example \
  --usage server --ttl "$TTL" --out "$OUT/mysql-credential" >/dev/null

for name in client-credential mysql-credential; do
  mg ca secret --name "$name" --namespace istio-system \
    --cert "$OUT/$name/cert.pem" --key "$OUT/$name/key.pem" --cacert "$OUT/$name/ca.pem" > "$OUT/$name.yaml"
done

echo "root CA R:          $OUT/root-ca/root-cert.pem"
echo "egress (cluster A): $OUT/client-credential.yaml  (Secret istio-system/client-credential)"
echo "ingress (cluster B): $OUT/mysql-credential.yaml  (Secret istio-system/mysql-credential)"
