#!/bin/sh
# The init container's script: puts the release sparkprom.jar into a volume the Spark container
# mounts, after checking it against the release's SHA256SUMS, so that no Spark or EMR image has
# to be rebuilt for it. The pod templates of spark-conf/kubernetes and spark-conf/emr-on-eks carry
# the lines below inline (a test keeps them equal to this file); the jar image of jar-image/ runs
# this file. POSIX sh with curl or wget, aws (for s3://), sha256sum, grep and cut: what the
# curlimages/curl, amazon/aws-cli and busybox images have.
#   SPARKPROM_JAR_URL  where the jar is: https://..., s3://... (the pod's IAM role reads it) or a
#                      path in the init container's image
#   SPARKPROM_SHA256   its SHA-256, pinned in the template (recommended); else the sparkprom.jar line
#                      of SHA256SUMS beside it
#   SPARKPROM_DIR      the volume's mount point (default /opt/sparkprom)
# A jar that cannot be fetched or does not match is refused: the pod does not start, with this
# container's log saying why (a Spark conf naming the sink would fail the JVM without the jar).
set -eu
src="${SPARKPROM_JAR_URL:?set SPARKPROM_JAR_URL to the release sparkprom.jar}"
dir="${SPARKPROM_DIR:-/opt/sparkprom}"
name="${src##*/}"
fetch() {
  case "$1" in
    s3://*) aws s3 cp --only-show-errors "$1" "$2" ;;
    http://*|https://*)
      if command -v curl >/dev/null 2>&1; then curl -fsSL --retry 5 -o "$2" "$1"; else wget -q -O "$2" "$1"; fi ;;
    *) cp "$1" "$2" ;;
  esac
}
fetch "$src" "$dir/.sparkprom.jar.part" || { echo "ERROR sparkprom: cannot fetch $src" >&2; exit 1; }
want="${SPARKPROM_SHA256:-}"
if [ -z "$want" ]; then
  fetch "${src%/*}/SHA256SUMS" "$dir/.SHA256SUMS" \
    || { echo "ERROR sparkprom: cannot fetch ${src%/*}/SHA256SUMS (or pin SPARKPROM_SHA256)" >&2; exit 1; }
  want=$(grep -E "[ *]$name\$" "$dir/.SHA256SUMS" | cut -d' ' -f1)
fi
got=$(sha256sum "$dir/.sparkprom.jar.part" | cut -d' ' -f1)
if [ "$got" != "$want" ]; then
  rm -f "$dir/.sparkprom.jar.part"
  echo "ERROR sparkprom: $src has SHA-256 $got but ${want:-no sum was found for $name}: refused" >&2
  exit 1
fi
mv "$dir/.sparkprom.jar.part" "$dir/sparkprom.jar"
echo "sparkprom: $dir/sparkprom.jar from $src, SHA-256 $got"
