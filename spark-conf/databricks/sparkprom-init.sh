#!/bin/bash
# Databricks cluster-scoped init script: installs sparkprom on every node and, when given a URL,
# configures the driver's and executors' metrics systems to push to a remote_write endpoint.
#
# Two ways to configure the sink:
# - the cluster's Spark config (or a compute policy) carries the sink's properties,
#   spark.metrics.conf.*.sink.prom.class=io.sparkprom.RemoteWriteSink, ...url=..., and this
#   script only installs the jar. This works on every runtime: from DBR 19 on, init scripts no
#   longer see the cluster's own environment variables, so the variables below may not arrive.
# - environment variables (Advanced options > Spark > Environment variables), a convenience
#   where init scripts see them; the script then writes the sink's block into metrics.properties:
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
  if [ ! -r "$SOURCE/sparkprom.jar" ]; then
    log "$SOURCE/sparkprom.jar cannot be read: nothing installed (set SPARKPROM_SOURCE to the folder holding it)"
    return 1
  fi
  mkdir -p "$JARS" "$(dirname "$METRICS_CONF")" || return 1
  # Copy to a temporary name first: a half-copied jar on the classpath would break Spark.
  cp "$SOURCE/sparkprom.jar" "$JARS/.sparkprom.jar.tmp" && mv "$JARS/.sparkprom.jar.tmp" "$JARS/sparkprom.jar" || return 1
  local library="" loose
  # Driver and workers may run on different architectures (x86_64 and Graviton instance types):
  # each node takes the file of its own.
  for loose in "$SOURCE/libsparkprom-linux-$(uname -m).so" "$SOURCE/libsparkprom.so"; do
    [ -r "$loose" ] || continue
    library="$NATIVE_DIR/libsparkprom.so"
    mkdir -p "$NATIVE_DIR" && cp "$loose" "$NATIVE_DIR/.libsparkprom.so.tmp" \
      && mv "$NATIVE_DIR/.libsparkprom.so.tmp" "$library" || return 1
    break
  done
  write_block "$library" || return 1
  if [ -n "${SPARKPROM_URL:-}" ]; then
    log "installed: $JARS/sparkprom.jar${library:+, $library}; pushing to $SPARKPROM_URL (${DB_IS_DRIVER:+driver }node of ${DB_CLUSTER_NAME:-an unnamed cluster})"
  else
    log "installed: $JARS/sparkprom.jar${library:+, $library}; SPARKPROM_URL is not set, so the sink is configured by the cluster's Spark config alone (spark.metrics.conf.*.sink.<name>.class=io.sparkprom.RemoteWriteSink and .url=...${library:+, .library=$library}); without them nothing is pushed"
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
install || log "sparkprom is not active on this node; the cluster starts without it"
exit 0
