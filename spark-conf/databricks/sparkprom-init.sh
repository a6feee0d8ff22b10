#!/bin/bash
# Databricks cluster-scoped init script: installs sparkprom on every node and configures the
# driver's and executors' metrics systems to push to a remote_write endpoint.
#
# Cluster settings (Advanced options > Spark > Environment variables):
#   SPARKPROM_URL      remote_write URL (required), e.g.
#                      https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-.../api/v1/remote_write
#   SPARKPROM_REGION   AWS region: turns SigV4 on (AMP; credentials from the instance profile)
#   SPARKPROM_SOURCE   folder holding the release sparkprom.jar, which carries the native
#                      library (default: /Volumes/main/default/sparkprom); a libsparkprom.so
#                      beside it (e.g. a Graviton build) is installed and used instead
#   SPARKPROM_LABELS   extra labels, e.g. team=etl,env=prod
#   SPARKPROM_PERIOD   report period in seconds (default 10)
#
# It never fails the cluster's start: every problem is logged to $LOG and the script exits 0,
# leaving the node without the sink rather than without Spark.
# SPARKPROM_ROOT (default /) lets a test run it against a directory laid out like a node.

ROOT="${SPARKPROM_ROOT:-/}"
ROOT="${ROOT%/}"
LOG="$ROOT/tmp/sparkprom-init.log"
SOURCE="${SPARKPROM_SOURCE:-/Volumes/main/default/sparkprom}"
JARS="$ROOT/databricks/jars"                 # on the driver's and executors' classpath
NATIVE_DIR="$ROOT/databricks/sparkprom"
METRICS_CONF="$ROOT/databricks/spark/conf/metrics.properties"
MARK_BEGIN="# sparkprom: begin (written by sparkprom-init.sh)"
MARK_END="# sparkprom: end"

log() { echo "$(date -u +%FT%TZ) sparkprom-init: $*" >>"$LOG"; }

install() {
  if [ -z "${SPARKPROM_URL:-}" ]; then
    log "SPARKPROM_URL is not set: nothing installed (set it in the cluster's environment variables)"
    return 1
  fi
  if [ ! -r "$SOURCE/sparkprom.jar" ]; then
    log "$SOURCE/sparkprom.jar cannot be read: nothing installed (set SPARKPROM_SOURCE to the folder holding it)"
    return 1
  fi
  mkdir -p "$JARS" "$(dirname "$METRICS_CONF")" || return 1
  # Copy to a temporary name first: a half-copied jar on the classpath would break Spark.
  cp "$SOURCE/sparkprom.jar" "$JARS/.sparkprom.jar.tmp" && mv "$JARS/.sparkprom.jar.tmp" "$JARS/sparkprom.jar" || return 1
  local library=""
  if [ -r "$SOURCE/libsparkprom.so" ]; then
    library="$NATIVE_DIR/libsparkprom.so"
    mkdir -p "$NATIVE_DIR" && cp "$SOURCE/libsparkprom.so" "$NATIVE_DIR/.libsparkprom.so.tmp" \
      && mv "$NATIVE_DIR/.libsparkprom.so.tmp" "$library" || return 1
  fi

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
  {
    echo "$MARK_BEGIN"
    echo "*.sink.sparkprom.class=io.sparkprom.RemoteWriteSink"
    echo "*.sink.sparkprom.url=$SPARKPROM_URL"
    echo "*.sink.sparkprom.period=${SPARKPROM_PERIOD:-10}"
    [ -n "$library" ] && echo "*.sink.sparkprom.library=$library"
    [ -n "$labels" ] && echo "*.sink.sparkprom.labels=$labels"
    [ -n "${SPARKPROM_REGION:-}" ] && echo "*.sink.sparkprom.sigv4.region=$SPARKPROM_REGION"
    echo "$MARK_END"
  } >>"$kept" && mv "$kept" "$METRICS_CONF" || return 1
  log "installed: $JARS/sparkprom.jar${library:+, $library}; pushing to $SPARKPROM_URL (${DB_IS_DRIVER:+driver }node of ${DB_CLUSTER_NAME:-an unnamed cluster})"
}

mkdir -p "$(dirname "$LOG")" 2>/dev/null
install || log "sparkprom is not active on this node; the cluster starts without it"
exit 0
