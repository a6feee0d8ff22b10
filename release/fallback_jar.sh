#!/usr/bin/env bash
# Compiles jvm-shim/fallback/ (the stand-in sink the install scripts put in place when they cannot
# install the real one) and embeds the jar, base64, in each install script between its
# FALLBACK_JAR markers (the Databricks init script, the EMR bootstrap action). Run it after
# changing the stand-in's source; tests/e2e/test_platforms.py checks that the embedded classes are
# what the source compiles to.
# Needs a JDK and the oldest tested Spark's jars (tests/setup.sh installs them).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
oldest=$(grep -v '^#' tests/spark-versions.txt | awk 'NF { print $1; exit }')
jars="${SPARKPROM_SPARK_JARS:-${SPARKPROM_CACHE:-$HOME/.cache/sparkprom}/pyspark-$oldest/pyspark/jars}"
classpath=$(ls "$jars"/spark-core_2.12-*.jar "$jars"/metrics-core-*.jar "$jars"/scala-library-2.12.*.jar | paste -sd:)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
javac --release 8 -Xlint:-options -encoding UTF-8 -cp "$classpath" -d "$work/classes" \
  jvm-shim/fallback/io/sparkprom/RemoteWriteSink.java
# Fixed timestamps and order: the same source gives the same bytes.
python3 - "$work/classes" "$work/fallback.jar" <<'PY'
import sys, zipfile
from pathlib import Path
classes, out = Path(sys.argv[1]), sys.argv[2]
with zipfile.ZipFile(out, "w") as jar:
    for name, data in [("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\r\n\r\n")] + sorted(
            (str(p.relative_to(classes)), p.read_bytes()) for p in classes.rglob("*.class")):
        info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        jar.writestr(info, data)
PY
for script in spark-conf/databricks/sparkprom-init.sh spark-conf/emr-on-ec2/sparkprom-bootstrap.sh; do
python3 - "$script" "$work/fallback.jar" <<'PY'
import base64, re, sys
script, jar = sys.argv[1], sys.argv[2]
text = open(script).read()
encoded = base64.encodebytes(open(jar, "rb").read()).decode()
begin, end = "# FALLBACK_JAR begin (release/fallback_jar.sh writes this block)\n", "# FALLBACK_JAR end\n"
block = begin + "FALLBACK_JAR='\n" + encoded + "'\n" + end
if begin in text:
    text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S)
else:
    sys.exit(f"{script} has no FALLBACK_JAR markers")
open(script, "w").write(text)
PY
echo "embedded $(stat -c %s "$work/fallback.jar") bytes of jar in $script"
done
