//! The process environment as the credential chain reads it: only the variables it uses (`AWS_*`
//! and the proxy variables), read without panicking on a variable that is not UTF-8 (any one of
//! the JVM's environment would make `std::env::vars()` panic, and the sink's start with it).

use std::collections::BTreeMap;
use std::ffi::OsString;

/// The variables the chain reads, by name; tests pass their own.
pub type Environment = BTreeMap<String, String>;

/// The proxy variables STS honours, in either case (`sources::sts_http`).
const PROXY_VARIABLES: &[&str] = &["HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY"];

/// This process's variables that the chain reads.
pub fn process_environment() -> Environment {
    environment_from(std::env::vars_os())
}

/// The wanted variables of `vars`; one whose name or value is not UTF-8 is left out, and a
/// wanted one is named in a WARN (it cannot be used as it is).
pub fn environment_from(vars: impl IntoIterator<Item = (OsString, OsString)>) -> Environment {
    let mut env = Environment::new();
    for (name, value) in vars {
        let Some(name) = name.to_str() else { continue };
        if !wanted(name) {
            continue;
        }
        match value.into_string() {
            Ok(value) => {
                env.insert(name.to_string(), value);
            }
            Err(_) => tracing::warn!(
                "the environment variable {name} is not valid UTF-8 and is ignored; set it to a UTF-8 value"
            ),
        }
    }
    env
}

fn wanted(name: &str) -> bool {
    name.starts_with("AWS_")
        || PROXY_VARIABLES
            .iter()
            .any(|proxy| name.eq_ignore_ascii_case(proxy))
}

/// A variable's value, trimmed; None when it is unset or blank (the SDKs treat both alike).
pub fn var<'a>(env: &'a Environment, name: &str) -> Option<&'a str> {
    env.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStringExt;

    #[test]
    fn variables_that_are_not_utf8_are_left_out_without_a_panic() {
        let bytes = |b: &[u8]| OsString::from_vec(b.to_vec());
        let env = environment_from([
            (bytes(b"LANG_LATIN1"), bytes(b"caf\xe9")),
            (bytes(b"\xff\xfe"), bytes(b"x")),
            (bytes(b"AWS_REGION"), bytes(b"eu-west-1")),
            (bytes(b"AWS_ROLE_ARN"), bytes(b"arn:\xff")),
            (bytes(b"https_proxy"), bytes(b"http://proxy:3128")),
            (bytes(b"HOME"), bytes(b"/root")),
        ]);
        assert_eq!(
            env.into_iter().collect::<Vec<_>>(),
            [
                ("AWS_REGION".to_string(), "eu-west-1".to_string()),
                ("https_proxy".to_string(), "http://proxy:3128".to_string())
            ]
        );
        // What the process really has is read the same way (this test process's environment).
        let _ = process_environment();
    }

    #[test]
    fn blank_is_unset() {
        let env: Environment = [("AWS_REGION".to_string(), "  ".to_string())].into();
        assert_eq!(var(&env, "AWS_REGION"), None);
    }
}
