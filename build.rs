//! Builds the Java shim next to the native library: `target/<profile>/sparkprom.jar`.
//!
//! The shim is compiled with `javac --release 8` against the oldest supported Spark's
//! `spark-core` and `spark-sql` (Scala 2.12 build, Java 8 class files), `metrics-core` and `slf4j-api` jars, so it
//! links only against API that every later release keeps; the same bytecode runs on Spark 3.4 to
//! 4.3. The jars are looked up in `SPARKPROM_SPARK_JARS` (a directory), then the copy of the first
//! release in `tests/spark-versions.txt` that `tests/setup.sh` installs under `~/.cache/sparkprom`,
//! then `$SPARK_HOME/jars`, the `pyspark` package of `python3` and the other installed copies.
//! Without them the native library still builds and a warning says why the jar is missing; the
//! build runs again once they appear.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=jvm-shim");
    println!("cargo:rerun-if-env-changed=SPARKPROM_SPARK_JARS");
    println!("cargo:rerun-if-env-changed=SPARK_HOME");
    let version = build_version();
    // The library and the jar carry the same string; the jar refuses a library of another build.
    println!("cargo:rustc-env=SPARKPROM_BUILD_VERSION={version}");

    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    // OUT_DIR is target/<profile>/build/<pkg>-<hash>/out; the jar belongs in target/<profile>.
    let profile_dir = out_dir
        .ancestors()
        .nth(3)
        .expect("OUT_DIR is three levels below the profile directory")
        .to_path_buf();

    println!("cargo:rerun-if-changed=tests/spark-versions.txt");
    let candidates = candidate_jar_dirs();
    let Some(jars) = candidates.iter().find_map(|dir| compile_jars(dir)) else {
        // Look again when any of these changes (a directory's entries, or one appearing).
        for dir in &candidates {
            println!("cargo:rerun-if-changed={}", dir.display());
        }
        println!(
            "cargo:warning=sparkprom.jar not built: no Spark 3.x jars found (set SPARKPROM_SPARK_JARS \
             to a directory with spark-core_2.12, spark-sql_2.12, spark-catalyst_2.12, scala-library, metrics-core and slf4j-api jars, or run tests/setup.sh)"
        );
        return;
    };
    for jar in &jars {
        println!("cargo:rerun-if-changed={}", jar.display());
    }
    let classpath = jars
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    build_jar(
        &out_dir,
        &profile_dir.join("sparkprom.jar"),
        &classpath,
        &version,
    );
}

/// `<version>+<commit>`: the version is the tag `v<version>` when HEAD carries one, else
/// Cargo.toml's version with `-dev`; the commit is HEAD's first 12 hex digits. Two builds of one
/// commit agree, two commits never do, so a stale library left on a path or in a volume is
/// refused by name. `SPARKPROM_VERSION` and `SPARKPROM_COMMIT` override the two parts (a build
/// from a source tarball, or a copy of a checkout); without git and SPARKPROM_COMMIT the commit
/// is `nogit`.
fn build_version() -> String {
    println!("cargo:rerun-if-env-changed=SPARKPROM_VERSION");
    println!("cargo:rerun-if-env-changed=SPARKPROM_COMMIT");
    // A new commit moves HEAD or a ref, a new tag adds one: build again to pick them up. In a
    // worktree HEAD is its own and the refs are the common directory's: both are watched.
    for dir in ["--git-dir", "--git-common-dir"] {
        let Some(git_dir) = git(&["rev-parse", dir]) else {
            continue;
        };
        let git_dir = PathBuf::from(git_dir);
        for watched in ["HEAD", "refs", "packed-refs"] {
            let path = git_dir.join(watched);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    let version = env::var("SPARKPROM_VERSION")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| {
            git(&[
                "describe",
                "--tags",
                "--exact-match",
                "--match",
                "v[0-9]*",
                "HEAD",
            ])
            .map(|tag| tag.trim_start_matches('v').to_string())
            .unwrap_or_else(|| {
                format!(
                    "{}-dev",
                    env::var("CARGO_PKG_VERSION").expect("cargo sets CARGO_PKG_VERSION")
                )
            })
        });
    let commit = env::var("SPARKPROM_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "nogit".to_string());
    format!("{version}+{commit}")
}

/// A git command's trimmed output, or None when git or the repository is missing.
fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .args(args)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !text.trim().is_empty()).then(|| text.trim().to_string())
}

/// Directories that may hold the jars to compile against, the preferred first.
fn candidate_jar_dirs() -> Vec<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Ok(dir) = env::var("SPARKPROM_SPARK_JARS") {
        candidates.push(dir.into());
    }
    let cache = env::var("HOME")
        .ok()
        .map(|home| Path::new(&home).join(".cache/sparkprom"));
    if let (Some(cache), Some(oldest)) = (&cache, oldest_tested_release()) {
        candidates.push(cache.join(format!("pyspark-{oldest}/pyspark/jars")));
    }
    if let Ok(home) = env::var("SPARK_HOME") {
        candidates.push(Path::new(&home).join("jars"));
    }
    if let Ok(out) = Command::new("python3")
        .args([
            "-c",
            "import pyspark, os; print(os.path.dirname(pyspark.__file__))",
        ])
        .output()
    {
        let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() && !dir.is_empty() {
            candidates.push(Path::new(&dir).join("jars"));
        }
    }
    if let Some(Ok(entries)) = cache.as_ref().map(fs::read_dir) {
        let mut dirs: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path().join("pyspark/jars"))
            .collect();
        dirs.sort();
        candidates.extend(dirs);
    }
    candidates
}

/// The first version in tests/spark-versions.txt: the oldest release the tests run on.
fn oldest_tested_release() -> Option<String> {
    let list = fs::read_to_string("tests/spark-versions.txt").ok()?;
    list.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| line.split_whitespace().next())
        .map(str::to_string)
}

/// The jars the shim compiles against, if `dir` has them. scala-library only lets javac see
/// SparkConf's supertypes; nothing of it is called.
fn compile_jars(dir: &Path) -> Option<[PathBuf; 6]> {
    Some([
        find_jar(dir, "spark-core_2.12-")?,
        // The streaming listener's events (StreamingQueryProgress and friends); catalyst for
        // the types their signatures name.
        find_jar(dir, "spark-sql_2.12-")?,
        find_jar(dir, "spark-catalyst_2.12-")?,
        find_jar(dir, "scala-library-2.12.")?,
        find_jar(dir, "metrics-core-")?,
        find_jar(dir, "slf4j-api-")?,
    ])
}

fn find_jar(dir: &Path, prefix: &str) -> Option<PathBuf> {
    fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(".jar"))
        })
}

fn build_jar(out_dir: &Path, jar_path: &Path, classpath: &str, version: &str) {
    let generated = out_dir.join("java-gen/io/sparkprom");
    let classes = out_dir.join("classes");
    let _ = fs::remove_dir_all(&classes);
    fs::create_dir_all(&generated).expect("create java-gen");
    fs::create_dir_all(&classes).expect("create classes");
    // The version the jar checks the native library against at load time.
    fs::write(
        generated.join("BuildInfo.java"),
        format!(
            "package io.sparkprom;\n\n/** Generated by build.rs. */\nfinal class BuildInfo {{\n    \
             static final String VERSION = \"{}\";\n\n    private BuildInfo() {{}}\n}}\n",
            version
        ),
    )
    .expect("write BuildInfo.java");

    let mut sources = vec![generated.join("BuildInfo.java")];
    collect_java(Path::new("jvm-shim/src"), &mut sources);
    let status = Command::new("javac")
        .args([
            "--release",
            "8",
            "-Xlint:-options",
            "-encoding",
            "UTF-8",
            "-cp",
            classpath,
            "-d",
        ])
        .arg(&classes)
        .args(&sources)
        .status()
        .expect("javac could not be started: install a JDK (8 or newer)");
    assert!(status.success(), "javac failed on jvm-shim/");

    let _ = fs::remove_file(jar_path);
    let status = Command::new("jar")
        .arg("--create")
        .arg("--file")
        .arg(jar_path)
        // `java -jar sparkprom.jar --version` prints the jar's and the native core's versions.
        .arg("--main-class")
        .arg("io.sparkprom.Main")
        .arg("-C")
        .arg(&classes)
        .arg(".")
        .status()
        .expect("jar could not be started: install a JDK");
    assert!(status.success(), "jar failed");
}

fn collect_java(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_java(&path, out);
        } else if path.extension().is_some_and(|e| e == "java") {
            out.push(path);
        }
    }
}
