#!/bin/bash
# Databricks cluster-scoped init script: installs sparkprom on every node and, when given a URL,
# configures the driver's and executors' metrics systems to push to a remote_write endpoint.
#
# Three ways to configure the sink:
# - the cluster's Spark config (or a compute policy) carries the sink's properties,
#   spark.metrics.conf.*.sink.prom.class=io.sparkprom.RemoteWriteSink, ...url=..., and this
#   script only installs the jar. This works on every runtime and access mode.
# - a file sparkprom-init.env in the same folder as the jar (SOURCE below), with lines
#   SPARKPROM_URL=... as listed next. From DBR 19 on, init scripts of standard-access clusters
#   see none of the cluster's environment variables: the file is how they reach the script.
# - environment variables (Advanced options > Spark > Environment variables), where init
#   scripts see them; they win over the file. The script writes the sink's block into the
#   node's metrics.properties:
#   SPARKPROM_URL      remote_write URL, e.g.
#                      https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-.../api/v1/remote_write
#                      (without it only the jar, and a library beside it, are installed)
#   SPARKPROM_REGION   AWS region: turns SigV4 on (credentials from the instance profile). An
#                      AMP URL (aps-workspaces.<region>...) is signed without it, in the URL's
#                      region; any other URL is sent unsigned unless it is set (the log says which)
#   SPARKPROM_SOURCE   folder holding the release sparkprom.jar, which carries the native
#                      library (default below: edit SOURCE where the variable cannot reach the
#                      script); a loose library beside it is installed too, the one for this
#                      node's architecture (libsparkprom-linux-x86_64.so or
#                      libsparkprom-linux-aarch64.so, as the release names them; else a
#                      libsparkprom.so), as /databricks/sparkprom/libsparkprom.so
#   SPARKPROM_LABELS   extra labels, e.g. team=etl,env=prod; a `cluster` given here wins over the
#                      cluster's name, which is the `cluster` label otherwise
#   SPARKPROM_PERIOD   report period in seconds (default 10)
#   SPARKPROM_FAIL_OPEN  true (the default): when the sink cannot be installed (the jar unreadable,
#                      the core not loading on the node) say so at ERROR and start the cluster
#                      without it; false: exit 1, so the cluster's start fails with the reason
#
# Every line goes to stdout (problems to stderr), which cluster log delivery keeps under
# <destination>/<cluster-id>/init_scripts/, and to /tmp/sparkprom-init.log on the node. A compute
# policy fixes this script for every cluster, so by default monitoring never stops a cluster:
# a revoked READ VOLUME or a moved jar costs the metrics (the SparkpromNoData alert sees their
# absence), never the jobs. SPARKPROM_FAIL_OPEN=false is the opt-in to fail the start instead.
# SPARKPROM_ROOT (default /) lets a test run it against a directory laid out like a node.

ROOT="${SPARKPROM_ROOT:-/}"
ROOT="${ROOT%/}"
LOG="$ROOT/tmp/sparkprom-init.log"
SOURCE="${SPARKPROM_SOURCE:-/Volumes/main/default/sparkprom}"
CONFIG_FILE="$SOURCE/sparkprom-init.env"
JARS="$ROOT/databricks/jars"                 # on the driver's and executors' classpath
NATIVE_DIR="$ROOT/databricks/sparkprom"
METRICS_CONF="$ROOT/databricks/spark/conf/metrics.properties"
MARK_BEGIN="# sparkprom: begin (written by sparkprom-init.sh)"
MARK_END="# sparkprom: end"

log() { echo "$(date -u +%FT%TZ) sparkprom-init: $*" | tee -a "$LOG" 2>/dev/null || true; }
problem() { echo "$(date -u +%FT%TZ) sparkprom-init: ERROR $*" | tee -a "$LOG" >&2 2>/dev/null || echo "sparkprom-init: ERROR $*" >&2; }

SETTINGS="SPARKPROM_URL SPARKPROM_REGION SPARKPROM_LABELS SPARKPROM_PERIOD SPARKPROM_FAIL_OPEN"

# The setting whose name is closest to $1 (edit distance at most 3), for "did you mean".
closest_setting() {
  printf '%s\n' $SETTINGS | awk -v typed="$1" '
    function distance(a, b,   i, j, cost, d, la, lb) {
      la = length(a); lb = length(b)
      for (i = 0; i <= la; i++) d[i, 0] = i
      for (j = 0; j <= lb; j++) d[0, j] = j
      for (i = 1; i <= la; i++)
        for (j = 1; j <= lb; j++) {
          cost = substr(a, i, 1) != substr(b, j, 1)
          d[i, j] = d[i-1, j] + 1
          if (d[i, j-1] + 1 < d[i, j]) d[i, j] = d[i, j-1] + 1
          if (d[i-1, j-1] + cost < d[i, j]) d[i, j] = d[i-1, j-1] + cost
        }
      return d[la, lb]
    }
    { n = distance(toupper(typed), $0); if (best == "" || n < min) { min = n; best = $0 } }
    END { if (min <= 3) print best }'
}

# SPARKPROM_* lines of the file beside the jar, for variables the environment does not set.
# Read as data, never run: only NAME=value lines with a known name count.
read_config_file() {
  [ -r "$CONFIG_FILE" ] || return 0
  local line name value guess
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in ''|'#'*) continue ;; esac
    name="${line%%=*}"
    value="${line#*=}"
    case " $SETTINGS " in
      *" $name "*) [ -n "${!name:-}" ] || printf -v "$name" '%s' "$value" ;;
      *) guess=$(closest_setting "$name")
         problem "$CONFIG_FILE: '$name' is not a setting of this script and is ignored${guess:+; did you mean $guess?} (settings: $SETTINGS)" ;;
    esac
  done <"$CONFIG_FILE"
  log "read $CONFIG_FILE"
}

# The region SigV4 signs in: SPARKPROM_REGION, else an AMP URL's own; empty: not signed.
signing_region() {
  if [ -n "${SPARKPROM_REGION:-}" ]; then
    printf '%s' "$SPARKPROM_REGION"
  else
    printf '%s' "${SPARKPROM_URL:-}" | sed -n 's#^https://aps-workspaces\.\([a-z0-9-]*\)\.amazonaws\.com.*#\1#p'
  fi
}

# The labels: the user's, then the cluster's name as `cluster` unless the user gave one (a label
# given twice is refused by the sink, which would then be off).
labels() {
  local cluster user="${SPARKPROM_LABELS:-}"
  cluster=$(printf '%s' "${DB_CLUSTER_NAME:-}" | tr ',=' '__')
  case ",${user// /}" in
    *,cluster=*) cluster="" ;;
  esac
  printf '%s' "$user${cluster:+${user:+,}cluster=$cluster}"
}

install() {
  if [ ! -r "$SOURCE/sparkprom.jar" ]; then
    problem "$SOURCE/sparkprom.jar cannot be read: nothing installed. Set SOURCE in this script (or SPARKPROM_SOURCE) to the folder holding the release jar, and give the cluster's owner READ VOLUME on it"
    return 1
  fi
  mkdir -p "$JARS" "$(dirname "$METRICS_CONF")" || { problem "cannot create $JARS"; return 1; }
  # Copy to a temporary name first: a half-copied jar on the classpath would break Spark.
  cp "$SOURCE/sparkprom.jar" "$JARS/.sparkprom.jar.tmp" && mv "$JARS/.sparkprom.jar.tmp" "$JARS/sparkprom.jar" \
    || { problem "cannot copy sparkprom.jar into $JARS"; return 1; }
  local library="" loose
  # Driver and workers may run on different architectures (x86_64 and Graviton instance types):
  # each node takes the file of its own.
  for loose in "$SOURCE/libsparkprom-linux-$(uname -m).so" "$SOURCE/libsparkprom.so"; do
    [ -r "$loose" ] || continue
    library="$NATIVE_DIR/libsparkprom.so"
    mkdir -p "$NATIVE_DIR" && cp "$loose" "$NATIVE_DIR/.libsparkprom.so.tmp" \
      && mv "$NATIVE_DIR/.libsparkprom.so.tmp" "$library" || { problem "cannot install $loose as $library"; return 1; }
    break
  done
  verify_core "$library" || return 1
  write_block "$library" || { problem "cannot write $METRICS_CONF"; return 1; }
  if [ -n "${SPARKPROM_URL:-}" ]; then
    log "installed: $JARS/sparkprom.jar${library:+, $library}; pushing to $SPARKPROM_URL (${DB_IS_DRIVER:+driver }node of ${DB_CLUSTER_NAME:-an unnamed cluster})"
    local region
    region=$(signing_region)
    if [ -n "$region" ]; then
      log "SigV4 signing is on: region $region, credentials from the instance profile"
    else
      problem "SigV4 signing is OFF: SPARKPROM_REGION is not set and $SPARKPROM_URL is not an AMP URL; requests go out unsigned (set SPARKPROM_REGION if the receiver wants AWS signatures)"
    fi
  else
    log "installed: $JARS/sparkprom.jar${library:+, $library}; SPARKPROM_URL is not set, so the sink is configured by the cluster's Spark config alone (spark.metrics.conf.*.sink.<name>.class=io.sparkprom.RemoteWriteSink and .url=...${library:+, .library=$library}); without them nothing is pushed"
  fi
}

# The jar loads its native core on this node (architecture, glibc) and the two are of one
# build: what every JVM of the node will do at its start, done once here. Skipped, with a line,
# when no java is found (the JVMs then say it in their own logs).
verify_core() {
  local library="$1" java="${JAVA_HOME:+$JAVA_HOME/bin/}java" out
  if ! command -v "$java" >/dev/null 2>&1; then
    log "no java on PATH or JAVA_HOME: the native core's load is not checked here"
    return 0
  fi
  if out=$("$java" -jar "$JARS/sparkprom.jar" --version ${library:+"$library"} 2>&1); then
    log "$(printf '%s\n' "$out" | grep -E '^sparkprom native core' || echo 'native core loads')"
  else
    problem "the native core does not load on this node: $(printf '%s' "$out" | tr '\n' ' ')"
    return 1
  fi
}

# The sink's block in metrics.properties: written when SPARKPROM_URL is set, removed when not.
write_block() {
  local library="$1"
  local labels region
  labels=$(labels)
  region=$(signing_region)

  # Replace an earlier run's block, keep everything else Databricks put in the file.
  local kept="$METRICS_CONF.sparkprom.tmp"
  if [ -f "$METRICS_CONF" ]; then
    sed "/^$MARK_BEGIN\$/,/^$MARK_END\$/d" "$METRICS_CONF" >"$kept" || return 1
  else
    : >"$kept"
  fi
  if [ -n "${SPARKPROM_URL:-}" ]; then
    {
      echo "$MARK_BEGIN"
      echo "*.sink.sparkprom.class=io.sparkprom.RemoteWriteSink"
      echo "*.sink.sparkprom.url=$SPARKPROM_URL"
      echo "*.sink.sparkprom.period=${SPARKPROM_PERIOD:-10}"
      [ -n "$library" ] && echo "*.sink.sparkprom.library=$library"
      [ -n "$labels" ] && echo "*.sink.sparkprom.labels=$labels"
      [ -n "$region" ] && echo "*.sink.sparkprom.sigv4.region=$region"
      echo "$MARK_END"
    } >>"$kept" || return 1
  fi
  mv "$kept" "$METRICS_CONF"
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

# When the real jar could not be installed, a stand-in io.sparkprom.RemoteWriteSink (its source:
# jvm-shim/fallback/) that only says, on each JVM's stderr, that this JVM sends no metrics: Spark
# fails every SparkContext whose configuration (a compute policy's Spark conf) names a sink class
# it cannot find, so fail-open needs the class there.
install_fallback() {
  [ -f "$JARS/sparkprom.jar" ] && return 0
  mkdir -p "$JARS" && printf '%s' "$FALLBACK_JAR" | base64 -d >"$JARS/.sparkprom.jar.tmp" \
    && mv "$JARS/.sparkprom.jar.tmp" "$JARS/sparkprom.jar" \
    && log "installed a stand-in $JARS/sparkprom.jar: Spark starts, and each JVM says on stderr that it sends no metrics" \
    || problem "cannot install the stand-in jar into $JARS: a Spark conf that names io.sparkprom.RemoteWriteSink will fail"
}

mkdir -p "$(dirname "$LOG")" 2>/dev/null
read_config_file
if install; then
  exit 0
fi
if [ "${SPARKPROM_FAIL_OPEN:-true}" = false ]; then
  problem "sparkprom could not be installed: failing this init script, so the cluster does not start (SPARKPROM_FAIL_OPEN=false; remove it to start clusters without the sink instead)"
  exit 1
fi
install_fallback
problem "sparkprom is NOT active on this node: the cluster starts without its metrics (fix what the lines above name; SPARKPROM_FAIL_OPEN=false fails the cluster's start instead)"
exit 0
