#!/usr/bin/env bash
# Installs what the build, the tests and the quickstart need, on a fresh machine or again (each
# step is skipped when its result is already there): a JDK, Debian's prometheus and
# prometheus-node-exporter, the newer receivers (Prometheus 3.5, VictoriaMetrics 1.112: see below),
# pytest, protobuf and opentelemetry-proto, and every Spark release in tests/spark-versions.txt as a
# pyspark wheel unpacked under ~/.cache/sparkprom/pyspark-<version> (SPARK_HOME is its pyspark/),
# and the aarch64 toolchain and emulator. SPARKPROM_SETUP=quickstart installs only what the
# quickstart needs: the oldest release (to compile against) and the newest (to run), no aarch64.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache="${SPARKPROM_CACHE:-$HOME/.cache/sparkprom}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

packages=()
command -v javac >/dev/null || packages+=(openjdk-17-jdk-headless)
command -v prometheus >/dev/null || packages+=(prometheus)
command -v promtool >/dev/null || packages+=(prometheus)
command -v prometheus-node-exporter >/dev/null || packages+=(prometheus-node-exporter)
# readelf reads the release library's glibc symbol versions (tests/e2e/test_release.py).
command -v readelf >/dev/null || packages+=(binutils)
# The TLS tests make their certificate authority with the openssl tool.
command -v openssl >/dev/null || packages+=(openssl)
# Pods on one node (tests/e2e/harness/pods.py) are network namespaces made with `ip netns`.
command -v ip >/dev/null || packages+=(iproute2)
if [ ${#packages[@]} -gt 0 ]; then
  echo "setup: installing ${packages[*]} (apt-get)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

# aarch64 (Graviton): rustup cannot download aarch64's standard library here, so the aarch64 core
# is built with Debian's rustc-web, whose aarch64 std is the arm64 package of libstd-rust-web-dev,
# and linked by zig (release/build.sh) or, for the test binaries, by Debian's cross gcc. The
# tests run it under qemu-user, with Debian's arm64 glibc and an arm64 JRE beside the amd64 one.
# Each package is pinned; if the archive has moved on, the current one is installed and the
# line says so (update the pin).
ARM64_PACKAGES=(
  "rustc-web=1.96.0+dfsg1-1~deb12u2" "cargo-web=1.96.0+dfsg1-1~deb12u2"
  "libstd-rust-web-dev:arm64=1.96.0+dfsg1-1~deb12u2" "gcc-aarch64-linux-gnu=4:12.2.0-3"
  "libc6-dev-arm64-cross=2.36-8cross1" "qemu-user-static=1:7.2+dfsg-7+deb12u18+b3"
  "libc6:arm64" "openjdk-17-jre-headless:arm64"
)
if [ "${SPARKPROM_SETUP:-}" != quickstart ] && ! { [ -x /usr/bin/rustc ] && command -v qemu-aarch64-static >/dev/null \
    && command -v aarch64-linux-gnu-gcc >/dev/null && [ -x /usr/lib/jvm/java-17-openjdk-arm64/bin/java ] \
    && [ -d /usr/lib/rustlib/aarch64-unknown-linux-gnu/lib ]; }; then
  echo "setup: installing the aarch64 toolchain and emulator (apt-get, arm64 multiarch)"
  $sudo dpkg --add-architecture arm64
  $sudo apt-get update -qq
  # The arm64 JRE must match the amd64 one's version (Multi-Arch: same): both come from the archive.
  jre_version=$(apt-cache policy openjdk-17-jre-headless:amd64 | sed -n 's/ *Candidate: //p')
  wanted=()
  for package in "${ARM64_PACKAGES[@]}"; do
    name=${package%%=*}
    case "$name" in openjdk-17-jre-headless:arm64) package="$name=$jre_version" ;; esac
    # (The archive's list is read whole first: grep -q closing the pipe early would trip pipefail.)
    if [ "$package" != "$name" ] && ! grep -qF " ${package#*=} " <<<"$(apt-cache madison "$name")"; then
      echo "setup: WARNING: $package is no longer in the archive; installing its current version (update the pin in tests/setup.sh)"
      package=$name
    fi
    wanted+=("$package")
  done
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${wanted[@]}" "openjdk-17-jre-headless:amd64=$jre_version" >/dev/null
fi

# Newer receivers beside Debian's Prometheus 2.42 (which stays, for remote write 1.0 and the
# fallback): Prometheus 3.5 (remote write 2.0, native histograms) from Debian unstable and
# VictoriaMetrics 1.112 (OTLP) from Debian 13, with the remote-write 2.0 proto from unstable's
# golang-github-prometheus-prometheus-dev. Only these packages are taken, not installed (prometheus
# 3.5 would replace 2.42): apt-get download through an apt state of our own (the system's sources
# and lists stay as they are), then dpkg -x, keeping the binaries (static Go, glibc and libzstd
# only) and the protos' folder (prompb/) under $cache/receivers/<name>-<upstream major.minor>,
# with the package's copyright and its Debian version in a VERSION file. About 60 MB downloaded. Each package is pinned; if the archive has moved on,
# the newest of the same major.minor is taken and the line says so (update the pin).
RECEIVER_PACKAGES=(
  "prometheus-3.5:unstable:prometheus=3.5.3+ds1-6:usr/bin/prometheus"
  "victoria-metrics-1.112:trixie:victoria-metrics=1.112.0+ds1-2:usr/bin/victoria-metrics"
  "prometheus-proto-3.5:unstable:golang-github-prometheus-prometheus-dev=3.5.3+ds1-6:usr/share/gocode/src/github.com/prometheus/prometheus/prompb"
)
receivers="$cache/receivers"
missing_receivers=()
[ "${SPARKPROM_SETUP:-}" = quickstart ] || for entry in "${RECEIVER_PACKAGES[@]}"; do
  [ -f "$receivers/${entry%%:*}/VERSION" ] || missing_receivers+=("$entry")
done
if [ ${#missing_receivers[@]} -gt 0 ]; then
  echo "setup: fetching ${#missing_receivers[@]} receiver package(s) into $receivers (apt-get download, dpkg -x)"
  apt_state="$receivers/.apt"
  rm -rf "$apt_state"
  mkdir -p "$apt_state/lists/partial" "$apt_state/cache/archives/partial" "$apt_state/debs"
  {
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian unstable main"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main"
  } > "$apt_state/sources.list"
  # Only the Packages lists (no DEP-11 or translations), in this state alone.
  apt_options=(-o "Dir::Etc::sourcelist=$apt_state/sources.list" -o Dir::Etc::sourceparts=-
    -o "Dir::State::Lists=$apt_state/lists" -o "Dir::Cache=$apt_state/cache" -o Dir::State::status=/dev/null
    -o Debug::NoLocking=1 -o APT::Architectures=amd64 -o APT::Sandbox::User=root -o Acquire::Languages=none
    -o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false
    -o Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false
    -o Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false
    -o Acquire::IndexTargets::deb::DEP-11-icons-hidpi::DefaultEnabled=false)
  apt-get -qq "${apt_options[@]}" update
  for entry in "${missing_receivers[@]}"; do
    IFS=: read -r dir suite package keep <<<"$entry"
    name=${package%%=*} pinned=${package#*=}
    # Every version of the package in that suite, newest first: the pin, else the newest of its major.minor.
    available=$(apt-cache "${apt_options[@]}" madison "$name" | awk -F' [|] ' -v s="$suite/" 'index($3, s) {print $2}')
    version=$(grep -xF "$pinned" <<<"$available" || true)
    if [ -z "$version" ]; then
      minor=$(cut -d. -f1,2 <<<"$pinned")
      version=$(awk -v m="$minor." 'index($0, m) == 1' <<<"$available" | sort -Vr | head -1)
      [ -n "$version" ] || { echo "setup: Debian $suite has no $name $minor any more (it has: $(echo $available)); update RECEIVER_PACKAGES in tests/setup.sh" >&2; exit 1; }
      echo "setup: WARNING: $package is no longer in the archive; taking $name=$version (update the pin in tests/setup.sh)"
    fi
    (cd "$apt_state/debs" && apt-get -qq "${apt_options[@]}" download "$name=$version")
    staging="$receivers/$dir.partial"
    rm -rf "$staging" "$receivers/$dir"
    mkdir -p "$staging"
    dpkg -x "$apt_state/debs/${name}_${version/*:/}_"*.deb "$staging/deb"
    mv "$staging/deb/$keep" "$staging/"
    cp "$staging/deb/usr/share/doc/$name/copyright" "$staging/copyright"
    rm -rf "$staging/deb"
    echo "$name $version (Debian $suite)" > "$staging/VERSION"
    mv "$staging" "$receivers/$dir"
    echo "setup: $receivers/$dir: $name $version"
  done
  rm -rf "$apt_state"
fi

python3 -m pytest --version >/dev/null 2>&1 || python3 -m pip install -q --disable-pip-version-check pytest
# The official generated classes decode what the sink sends over OTLP (and, with the proto above,
# remote write 2.0) independently of the Rust encoders.
[ "${SPARKPROM_SETUP:-}" = quickstart ] || python3 -c "import google.protobuf, opentelemetry.proto" 2>/dev/null \
  || python3 -m pip install -q --disable-pip-version-check protobuf opentelemetry-proto
# botocore's SigV4 signer checks the sink's signatures independently of the Rust signer.
python3 -c "import botocore" 2>/dev/null || python3 -m pip install -q --disable-pip-version-check botocore
# The alert tests read the rules as YAML.
python3 -c "import yaml" 2>/dev/null || python3 -m pip install -q --disable-pip-version-check pyyaml

mkdir -p "$cache"
versions=$(grep -v '^#' "$here/spark-versions.txt" | awk 'NF {print $1}')
if [ "${SPARKPROM_SETUP:-}" = quickstart ]; then
  versions=$(printf '%s\n' $versions | sed -n '1p;$p')
fi
# The releases install side by side: each is mostly a download and an unpack (a few minutes each
# one after another on a fresh machine).
installs=()
for version in $versions; do
  target="$cache/pyspark-$version"
  if [ ! -x "$target/pyspark/bin/spark-submit" ]; then
    echo "setup: installing pyspark $version into $target"
    rm -rf "$target"
    python3 -m pip install -q --disable-pip-version-check --target "$target" "pyspark==$version" &
    installs+=("$!:$version")
  fi
done
for install in ${installs[@]+"${installs[@]}"}; do
  wait "${install%%:*}" || { echo "setup: installing pyspark ${install#*:} failed" >&2; exit 1; }
done
echo "setup: ready (Spark: $(echo $versions))"
