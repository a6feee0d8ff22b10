#!/bin/bash
# EMR on EC2 bootstrap action: installs the release sparkprom.jar on every node, checked against its
# SHA-256, into /usr/share/aws/emr/emrfs/auxlib/, a folder that EMR's own spark.driver.extraClassPath
# and spark.executor.extraClassPath name (so no class path is set here: a cluster's value would
# replace EMR's list, and EMRFS and Glue with it). The sink itself is configured by the cluster's
# configurations (configurations.json here: the spark-metrics classification).
#   aws emr create-cluster ... \
#     --bootstrap-actions Path=s3://my-bucket/sparkprom/sparkprom-bootstrap.sh,Args=[s3://my-bucket/sparkprom/0.1.0/sparkprom.jar,<sha256>] \
#     --configurations file://configurations.json
# Arguments: the jar's location (s3://..., read with the cluster's instance profile; https://...;
# or a path), then its SHA-256 (the sparkprom.jar line of the release's SHA256SUMS; without it
# the SHA256SUMS beside the jar is read).
#
# Bootstrap actions run before EMR installs Spark, on every node and on nodes added later; a
# failing one fails the node. So when the jar cannot be installed this says so at ERROR (EMR keeps
# the output under <log URI>/<cluster id>/node/<instance id>/bootstrap-actions/) and installs a
# stand-in sink class instead (Spark fails every SparkContext whose configuration names a sink it
# cannot load): the cluster runs without metrics, which the SparkpromNoData alert sees.
# SPARKPROM_FAIL_OPEN=false (or a third argument, fail-closed) fails the node instead.
# SPARKPROM_ROOT (default /) lets a test run it against a directory laid out like a node.
set -u
ROOT="${SPARKPROM_ROOT:-/}"
ROOT="${ROOT%/}"
AUXLIB="$ROOT/usr/share/aws/emr/emrfs/auxlib"
src="${1:-}"
want="${2:-}"
[ "${3:-}" = fail-closed ] && SPARKPROM_FAIL_OPEN=false

log() { echo "$(date -u +%FT%TZ) sparkprom-bootstrap: $*"; }
problem() { echo "$(date -u +%FT%TZ) sparkprom-bootstrap: ERROR $*" >&2; }
# Root-owned folders: through sudo when not root (bootstrap actions run as hadoop); a test's
# directory (SPARKPROM_ROOT) is its own.
as_root() { if [ "$(id -u)" = 0 ] || [ -n "$ROOT" ]; then "$@"; else sudo "$@"; fi; }

fetch() {
  case "$1" in
    s3://*) aws s3 cp --only-show-errors "$1" "$2" ;;
    http://*|https://*) curl -fsSL --retry 5 -o "$2" "$1" ;;
    *) cp "$1" "$2" ;;
  esac
}

install() {
  if [ -z "$src" ]; then
    problem "no jar location given: Args=[s3://.../sparkprom.jar,<sha256>]"
    return 1
  fi
  local work got
  work=$(mktemp -d) || return 1
  trap 'rm -rf "$work"' RETURN
  fetch "$src" "$work/sparkprom.jar" || { problem "cannot fetch $src (the instance profile must be allowed s3:GetObject on it)"; return 1; }
  if [ -z "$want" ]; then
    fetch "${src%/*}/SHA256SUMS" "$work/SHA256SUMS" || { problem "cannot fetch ${src%/*}/SHA256SUMS: give the SHA-256 as the second argument"; return 1; }
    want=$(grep -E "[ *]${src##*/}\$" "$work/SHA256SUMS" | cut -d' ' -f1)
  fi
  got=$(sha256sum "$work/sparkprom.jar" | cut -d' ' -f1)
  if [ "$got" != "$want" ]; then
    problem "$src has SHA-256 $got but ${want:-no sum was found for it}: refused"
    return 1
  fi
  as_root mkdir -p "$AUXLIB" && as_root cp "$work/sparkprom.jar" "$AUXLIB/.sparkprom.jar.tmp" \
    && as_root chmod 644 "$AUXLIB/.sparkprom.jar.tmp" && as_root mv "$AUXLIB/.sparkprom.jar.tmp" "$AUXLIB/sparkprom.jar" \
    || { problem "cannot install into $AUXLIB"; return 1; }
  log "installed $AUXLIB/sparkprom.jar from $src (SHA-256 $got)"
}

# FALLBACK_JAR begin (release/fallback_jar.sh writes this block)
FALLBACK_JAR='
UEsDBBQAAAAIAAAAIQCyfwLuGwAAABkAAAAUAAAATUVUQS1JTkYvTUFOSUZFU1QuTUbzTczLTEst
LtENSy0qzszPs1Iw1DPg5eLlAgBQSwMEFAAAAAgAAAAhACP3TJCbAgAAlgQAACIAAABpby9zcGFy
a3Byb20vUmVtb3RlV3JpdGVTaW5rLmNsYXNzpVPbbhMxEB03abYNW1rSC23pxVAoSVWyQuKpQRUS
tA8ooSipisQTzq6VuNm1V7YXyK/wFxQJEA98AB+FGG9DWy6iD6y0Y894zpzxzPjb9y9fAeABbJVh
DAoeFH0YhxKBmWP2mgUxk73goHvMQ0ug9FBIYXcJFKq1ozJMwKQHZR+uOPcVoQKTMj1ItUqCNk+U
5S+0sLwj5AARhg0nETHlw1WYJlA0TEQEyMtJuAYVD2Z9mIP5X1g7Q2N5glCuNYH5Zn6CLM+1kLZj
NWdJYwKuEzK1124ftOkZ+w6VylIhjWVxzCOqJLV9YdAa8R3c8p9n1IRapJZWnzDLulqEA0PdDUf2
bbrXatOuUtZYzVLKQiuUrNFQZXF0keOcun7MNGUyomlmT0nRQUb3hMx9OYsaVFhDY9WjWBFD3/SH
dXroHJ8etajhMnJ50oRbTMfU6b54iz7MBUPhYJIl3Gy7a0iqOYbXNr9TGGdIoOtlWIJlD274sAKr
BGb/UjYCXuq0WGJdq80LJUdW2WvUjjxYJ3BL6V7AUhb2+Wlrg1FagcGeBqeN3R3hMyti5FAp11Zw
02iGOAahilifxfwM2MrXNu8JLOkQiXASHmNbCEw3heTPsqTL9SHrxmh59T+Rm3/k3uFhhvM4bDHJ
elzn3FMdy8JBi6UjyvG8nG46rUpx3jVPldPLHZXpkO8L5zT323DXXZZwH4d7DAis4V92M46PqoT7
caAob6JWxbWA68TWJyCfwXuPeywyyqu5fQ6KMA8eLOSojQuo4j9Qi3i6hKhl2HIPcYR6hLm4b/YE
/HcwXfwA/gnMVBY+wqILMJYHqOSBVxG0himvo74Bt9FSAFLBOHfOoi3lnPifk5dywybKzcvdaijv
Xu62jbKaZ1f7AVBLAQIUAxQAAAAIAAAAIQCyfwLuGwAAABkAAAAUAAAAAAAAAAAAAACAAQAAAABN
RVRBLUlORi9NQU5JRkVTVC5NRlBLAQIUAxQAAAAIAAAAIQAj90yQmwIAAJYEAAAiAAAAAAAAAAAA
AACAAU0AAABpby9zcGFya3Byb20vUmVtb3RlV3JpdGVTaW5rLmNsYXNzUEsFBgAAAAACAAIAkgAA
ACgDAAAAAA==
'
# FALLBACK_JAR end

if install; then
  exit 0
fi
if [ "${SPARKPROM_FAIL_OPEN:-true}" = false ]; then
  problem "sparkprom could not be installed: failing this bootstrap action, so the node does not start (fail-closed)"
  exit 1
fi
stand_in=$(mktemp)
as_root mkdir -p "$AUXLIB" && printf '%s' "$FALLBACK_JAR" | base64 -d >"$stand_in" && chmod 644 "$stand_in" \
  && as_root cp "$stand_in" "$AUXLIB/sparkprom.jar" && rm -f "$stand_in" \
  && log "installed a stand-in $AUXLIB/sparkprom.jar: Spark starts, and each JVM says on stderr that it sends no metrics" \
  || problem "cannot install the stand-in jar into $AUXLIB: a configuration naming io.sparkprom.RemoteWriteSink will fail"
problem "sparkprom is NOT active on this node: the cluster starts without its metrics (fix what the lines above name; fail-closed as the third argument fails the node instead)"
exit 0
