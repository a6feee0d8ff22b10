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
#   SPARKPROM_REGION   AWS region: turns SigV4 on (AMP; credentials from the instance profile)
#   SPARKPROM_SOURCE   folder holding the release sparkprom.jar, which carries the native
#                      library (default below: edit SOURCE where the variable cannot reach the
#                      script); a loose library beside it is installed too, the one for this
#                      node's architecture (libsparkprom-linux-x86_64.so or
#                      libsparkprom-linux-aarch64.so, as the release names them; else a
#                      libsparkprom.so), as /databricks/sparkprom/libsparkprom.so
#   SPARKPROM_LABELS   extra labels, e.g. team=etl,env=prod
#   SPARKPROM_PERIOD   report period in seconds (default 10)
#   SPARKPROM_FAIL_OPEN=true  start the cluster without the sink when it cannot be installed
#
# Every line goes to stdout (problems to stderr), which cluster log delivery keeps under
# <destination>/<cluster-id>/init_scripts/, and to /tmp/sparkprom-init.log on the node. When the
# sink cannot be installed the script exits 1, so the cluster's start fails with the reason in
# its event log, rather than a cluster running without metrics that nobody notices; with
# SPARKPROM_FAIL_OPEN=true it exits 0 and the cluster starts without the sink.
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

# SPARKPROM_* lines of the file beside the jar, for variables the environment does not set.
# Read as data, never run: only NAME=value lines with a known name count.
read_config_file() {
  [ -r "$CONFIG_FILE" ] || return 0
  local line name value
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in ''|'#'*) continue ;; esac
    name="${line%%=*}"
    value="${line#*=}"
    case "$name" in
      SPARKPROM_URL|SPARKPROM_REGION|SPARKPROM_LABELS|SPARKPROM_PERIOD|SPARKPROM_FAIL_OPEN)
        [ -n "${!name:-}" ] || printf -v "$name" '%s' "$value" ;;
      *) problem "$CONFIG_FILE: '$name' is not a setting of this script (ignored)" ;;
    esac
  done <"$CONFIG_FILE"
  log "read $CONFIG_FILE"
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
  # Labels: the cluster's name (commas and '=' would break the list) and the user's own.
  local cluster labels
  cluster=$(printf '%s' "${DB_CLUSTER_NAME:-}" | tr ',=' '__')
  labels=""
  [ -n "$cluster" ] && labels="cluster=$cluster"
  [ -n "${SPARKPROM_LABELS:-}" ] && labels="${labels:+$labels,}$SPARKPROM_LABELS"

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
      [ -n "${SPARKPROM_REGION:-}" ] && echo "*.sink.sparkprom.sigv4.region=$SPARKPROM_REGION"
      echo "$MARK_END"
    } >>"$kept" || return 1
  fi
  mv "$kept" "$METRICS_CONF"
}

mkdir -p "$(dirname "$LOG")" 2>/dev/null
read_config_file
if install; then
  exit 0
fi
if [ "${SPARKPROM_FAIL_OPEN:-false}" = true ]; then
  problem "sparkprom is not active on this node; the cluster starts without it (SPARKPROM_FAIL_OPEN=true)"
  exit 0
fi
problem "sparkprom could not be installed: failing this init script so the cluster does not run without metrics unnoticed (set SPARKPROM_FAIL_OPEN=true to start without the sink instead)"
exit 1
