#!/usr/bin/env bash
# The release build. Leaves in target/dist/:
#   libsparkprom-linux-x86_64.so   linux-x86_64, loads on glibc 2.17 and newer (Amazon Linux 2
#                                  and 2023, Ubuntu 20.04+, RHEL/CentOS 7+)
#   libsparkprom-linux-aarch64.so  linux-aarch64 (Graviton), the same glibc floor
#   (named by platform, so both can lie in one folder or on one library path: the loader picks
#   the file of the JVM's architecture and skips the other)
#   sparkprom.jar             the sink's classes plus both libraries (one jar for every node)
#   BUILD-INFO                the version (tag or Cargo.toml's -dev, + commit), the tools used and
#                             every file's SHA-256
#   SHA256SUMS                the sums of the libraries, the jar and the POM, `sha256sum -c` form
#   sparkprom-<version>.pom   Maven coordinates io.sparkprom:sparkprom:<version>
#   LICENSE, THIRD-PARTY-NOTICES.md, CHANGELOG.md
# SPARKPROM_TARGETS (default "x86_64 aarch64") chooses the architectures.
#
# x86_64 is compiled by the rustup toolchain. rustup cannot fetch aarch64's standard library
# here, so aarch64 is compiled by Debian's rustc-web (/usr/bin/rustc), whose aarch64 std is the
# arm64 package libstd-rust-web-dev (tests/setup.sh installs both; AARCH64_RUSTC overrides).
#
# The library is linked by zig against glibc 2.17's symbol versions (cargo-zigbuild), whatever
# the building machine's glibc is. Both tools are pinned and installed when missing: zig from the
# `ziglang` wheel on PyPI, cargo-zigbuild from crates.io. Paths of this checkout and of cargo's
# registry are mapped to fixed names, and the jar gets fixed timestamps, so one commit built with
# one rustc gives the same bytes anywhere (tests/e2e/test_release.py checks this).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$(pwd)

ZIG_VERSION=0.15.2
CARGO_ZIGBUILD_VERSION=0.24.1
GLIBC_FLOOR=2.17
targets=${SPARKPROM_TARGETS:-x86_64 aarch64}
aarch64_rustc=${AARCH64_RUSTC:-/usr/bin/rustc}
cache="${SPARKPROM_CACHE:-$HOME/.cache/sparkprom}"
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
export PATH="$cargo_home/bin:$PATH"

zig_dir="$cache/ziglang-$ZIG_VERSION"
if [ ! -x "$zig_dir/ziglang/zig" ]; then
  echo "release: installing zig $ZIG_VERSION (ziglang wheel) into $zig_dir"
  python3 -m pip install -q --disable-pip-version-check --target "$zig_dir" "ziglang==$ZIG_VERSION"
fi
export PATH="$zig_dir/ziglang:$PATH"
# Its PyPI wheel carries the built binary: `cargo install` compiled it for minutes on a fresh
# machine. --no-deps: zig is the one pinned above.
zigbuild_dir="$cache/cargo-zigbuild-$CARGO_ZIGBUILD_VERSION"
if [ ! -x "$zigbuild_dir/bin/cargo-zigbuild" ]; then
  echo "release: installing cargo-zigbuild $CARGO_ZIGBUILD_VERSION (its wheel) into $zigbuild_dir"
  python3 -m pip install -q --disable-pip-version-check --no-deps --target "$zigbuild_dir" \
    "cargo-zigbuild==$CARGO_ZIGBUILD_VERSION"
fi
export PATH="$zigbuild_dir/bin:$PATH"

# --remap-path-prefix: panic messages name source files; keep this machine's paths out of them.
# (With --target, RUSTFLAGS reach only the library, not build.rs.)
export RUSTFLAGS="--remap-path-prefix=$repo=/sparkprom --remap-path-prefix=$cargo_home=/cargo"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-315532800}

dist="$repo/target/dist"
rm -rf "$dist"
mkdir -p "$dist"
pack_args=()
compilers=()
for arch in $targets; do
  triple="$arch-unknown-linux-gnu"
  if [ "$arch" = x86_64 ]; then
    rustc_for_target=$(rustup which rustc)
    rustup target list --installed 2>/dev/null | grep -qx "$triple" || rustup target add "$triple"
  else
    rustc_for_target=$aarch64_rustc
    [ -d "$("$rustc_for_target" --print sysroot)/lib/rustlib/$triple/lib" ] || {
      echo "release: $rustc_for_target has no standard library for $triple: run tests/setup.sh" >&2; exit 1; }
  fi
  echo "release: building $triple against glibc $GLIBC_FLOOR with $("$rustc_for_target" --version)"
  RUSTC=$rustc_for_target cargo zigbuild --quiet --profile portable --lib --target "$triple.$GLIBC_FLOOR"
  compilers+=("$arch: $("$rustc_for_target" --version)")
  name="libsparkprom-linux-$arch.so"
  cp "target/$triple/portable/libsparkprom.so" "$dist/$name"
  pack_args+=("linux-$arch=$dist/$name")
  # build.rs compiled the shim for this profile; the classes are the same for every target.
  classes_jar="target/$triple/portable/sparkprom.jar"
done

[ -f "$classes_jar" ] || { echo "release: build.rs made no sparkprom.jar (see its warning above)" >&2; exit 1; }
python3 release/pack_jar.py "$classes_jar" "$dist/sparkprom.jar" "${pack_args[@]}"

{
  # The jar's own answer: the version and commit build.rs gave the jar and both libraries.
  echo "sparkprom $(java -jar "$dist/sparkprom.jar" --version | sed -n 's/^sparkprom jar //p')"
  printf '%s\n' "${compilers[@]}"
  echo "zig $(zig version), cargo-zigbuild $CARGO_ZIGBUILD_VERSION, glibc floor $GLIBC_FLOOR"
  echo "$(javac -version 2>&1)"
  echo
  (cd "$dist" && sha256sum libsparkprom*.so sparkprom.jar)
} > "$dist/BUILD-INFO"
# Maven coordinates io.sparkprom:sparkprom:<version> (the version without the commit).
version=$(sed -n 's/^sparkprom \(.*\)+.*/\1/p' "$dist/BUILD-INFO")
sed "s/@VERSION@/$version/" release/pom.xml > "$dist/sparkprom-$version.pom"
cp LICENSE THIRD-PARTY-NOTICES.md CHANGELOG.md "$dist/"
(cd "$dist" && sha256sum libsparkprom*.so sparkprom.jar "sparkprom-$version.pom" > SHA256SUMS)
cat "$dist/BUILD-INFO"
