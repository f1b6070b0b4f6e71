//! The `tcpconform` binary on random command lines: every run ends with one of the documented
//! exit codes (0 held, 1 divergence, 2 bad input, 3 harness failure), never a panic or a
//! signal, and bad input says what is wrong on stderr.
//!
//! Command lines are drawn from the real subcommands and flags with good and bad values, plus
//! junk; scenario and sysctl.conf files are written with random content. Commands that run
//! cases always get `--cases 1` (and `--diff-cases 1`) so that each run is short.
//! `PROPTEST_CASES` sets how many command lines (default 40).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use proptest::prelude::*;

const SUBCOMMANDS: &[&str] = &[
    "run",
    "replay",
    "predict",
    "check",
    "diff",
    "bench",
    "kernel",
    "rules",
    "help",
    "--help",
    "--version",
    "",
    "frobnicate",
    "-x",
];

const NUMBERS: &[&str] = &[
    "0",
    "1",
    "2",
    "-1",
    "x",
    "1e3",
    "18446744073709551616",
    "",
    " 1",
];

const PROFILES: &[&str] = &[
    "linux-6.18",
    "linux-6.1",
    "linux-99.0",
    "linux-",
    "freebsd-14",
    "",
    "linux-6.18.1",
    "LINUX-6.18",
];

const VARIANTS: &[&str] = &[
    "listen_after_connect=einval",
    "connect_after_listen=connects",
    "listen_after_connect=maybe",
    "frob=1",
    "listen_after_connect",
    "",
];

const SYSCTLS: &[&str] = &[
    "net.ipv4.tcp_tw_reuse=0",
    "net.ipv4.tcp_tw_reuse=7",
    "net.ipv4.ip_local_port_range=40000 40009",
    "net.ipv4.ip_local_port_range=40009 40000",
    "net/ipv4/tcp_fin_timeout=5",
    "net.ipv4.tcp_rfc1337",
    "=1",
    "net.core.somaxconn=128",
    "kernel.nonsense=1",
    "net.ipv4.tcp_max_tw_buckets=-5",
    "",
];

/// One token of a command line; files are made when the command runs.
#[derive(Clone, Debug)]
enum Token {
    Word(String),
    /// A file with this content.
    File(String),
    /// A path that does not exist.
    Missing,
}

fn pick(list: &'static [&'static str]) -> impl Strategy<Value = Token> {
    proptest::sample::select(list).prop_map(|s| Token::Word(s.to_owned()))
}

fn word(s: &'static str) -> impl Strategy<Value = Vec<Token>> {
    Just(vec![Token::Word(s.to_owned())])
}

fn with(
    flag: &'static str,
    value: impl Strategy<Value = Token>,
) -> impl Strategy<Value = Vec<Token>> {
    value.prop_map(move |v| vec![Token::Word(flag.to_owned()), v])
}

/// File contents: a valid scenario, a valid sysctl.conf, or something else.
fn content() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("s0 = socket(inet) = 0\nbind(s0, 127.0.0.1:5000) = 0\n".to_owned()),
        Just("s0 = socket(inet)\nlisten(s0) = -1 EADDRINUSE\n".to_owned()),
        Just("net.ipv4.tcp_tw_reuse = 0\n# comment\n-net.ipv4.nope = 1\n".to_owned()),
        Just("@hosts 2\n@sysctl b net.ipv4.tcp_tw_reuse=1\ns0 = socket(inet, host=b)\n".to_owned()),
        Just(String::new()),
        "[ -~\n]{0,120}",
        any::<Vec<u8>>().prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

fn file() -> impl Strategy<Value = Token> {
    prop_oneof![
        4 => content().prop_map(Token::File),
        1 => Just(Token::Missing),
    ]
}

/// A flag of `run`, `check`, `diff` or `bench` (or of none).
fn flag(sub: &'static str) -> BoxedStrategy<Vec<Token>> {
    let any_flag = prop_oneof![
        with("--cases", pick(NUMBERS)),
        with("--seed", pick(NUMBERS)),
        with("--max-len", pick(NUMBERS)),
        with("--diff-cases", pick(NUMBERS)),
        with("--profile", pick(PROFILES)),
        with("--sysctl", pick(SYSCTLS)),
        with("--left", pick(SYSCTLS)),
        with("--right", pick(SYSCTLS)),
        with("--file", file()),
        with("--left-file", file()),
        with("--right-file", file()),
        with("--record", file()),
        with("--variant", pick(VARIANTS)),
        with("--baseline", file()),
        with("--junit", file()),
        word("--json"),
        word("--list"),
        word("--stop-at-first"),
        word("--host"),
        word("--confirm"),
        word("--"),
        file().prop_map(|f| vec![f]),
        "[ -~]{0,12}".prop_map(|w| vec![Token::Word(w)]),
    ];
    let own: BoxedStrategy<Vec<Token>> = match sub {
        "run" => prop_oneof![
            with("--cases", pick(NUMBERS)),
            with("--seed", pick(NUMBERS)),
            with("--max-len", pick(NUMBERS)),
            with("--profile", pick(PROFILES)),
            with("--sysctl", pick(SYSCTLS)),
            with("--record", file()),
            word("--json"),
        ]
        .boxed(),
        "replay" | "predict" => prop_oneof![
            3 => file().prop_map(|f| vec![f]),
            1 => with("--profile", pick(PROFILES)),
            1 => word("--json"),
        ]
        .boxed(),
        "check" => prop_oneof![
            with("--sysctl", pick(SYSCTLS)),
            with("--file", file()),
            word("--host"),
            with("--cases", pick(NUMBERS)),
            with("--diff-cases", pick(NUMBERS)),
            with("--seed", pick(NUMBERS)),
            with("--profile", pick(PROFILES)),
            word("--json"),
        ]
        .boxed(),
        "diff" => prop_oneof![
            with("--profile", pick(PROFILES)),
            with("--left", pick(SYSCTLS)),
            with("--right", pick(SYSCTLS)),
            with("--left-file", file()),
            with("--right-file", file()),
            with("--cases", pick(NUMBERS)),
            with("--seed", pick(NUMBERS)),
            word("--json"),
        ]
        .boxed(),
        "bench" => prop_oneof![
            with("--cases", pick(NUMBERS)),
            with("--seed", pick(NUMBERS)),
            with("--max-len", pick(NUMBERS)),
            word("--json"),
        ]
        .boxed(),
        _ => any_flag.clone().boxed(),
    };
    prop_oneof![4 => own, 1 => any_flag].boxed()
}

fn command_line() -> impl Strategy<Value = Vec<Token>> {
    proptest::sample::select(SUBCOMMANDS).prop_flat_map(|sub| {
        proptest::collection::vec(flag(sub), 0..5).prop_map(move |flags| {
            let mut v = vec![Token::Word(sub.to_owned())];
            v.extend(flags.into_iter().flatten());
            v
        })
    })
}

/// The arguments, files written under `dir`; runs of cases bounded to one case.
fn materialize(tokens: &[Token], dir: &Path) -> Vec<String> {
    let mut args: Vec<String> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| match t {
            Token::Word(w) => w.clone(),
            Token::File(text) => {
                let p: PathBuf = dir.join(format!("f{i}.scn"));
                std::fs::write(&p, text).expect("writes a file");
                p.display().to_string()
            }
            Token::Missing => dir.join("missing.scn").display().to_string(),
        })
        .collect();
    // Keep runs short: a command that runs cases runs one.
    let runs_cases = matches!(
        args.first().map(String::as_str),
        Some("run" | "check" | "diff" | "bench")
    );
    if runs_cases {
        let mut bounded = Vec::new();
        let mut i = 0;
        while i < args.len() {
            if (args[i] == "--cases" || args[i] == "--diff-cases") && i + 1 < args.len() {
                // Only values that cannot ask for many cases.
                if args[i + 1].trim().parse::<u64>().is_ok_and(|n| n > 2) {
                    args[i + 1] = "1".into();
                }
                bounded.push(args[i].clone());
                bounded.push(args[i + 1].clone());
                i += 2;
                continue;
            }
            bounded.push(args[i].clone());
            i += 1;
        }
        args = bounded;
        for flag in ["--cases", "--diff-cases"] {
            let applies = flag == "--cases" || args[0] == "check";
            if applies && !args.iter().any(|a| a == flag) {
                args.push(flag.into());
                args.push("1".into());
            }
        }
    }
    args
}

fn run(args: &[String], dir: &Path) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tcpconform"))
        .args(args)
        .current_dir(dir)
        .env_remove("TCPCONFORM_CASES")
        .env_remove("TCPCONFORM_SEED")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs tcpconform");
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("waits") {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            return (status.code(), err);
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("tcpconform {args:?} ran for more than 120 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "tcpconform-random-args-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).expect("makes a temporary directory");
    dir
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 40,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_command_line_ends_with_a_documented_exit_code_and_no_panic(tokens in command_line()) {
        let dir = temp_dir();
        let args = materialize(&tokens, &dir);
        let (code, stderr) = run(&args, &dir);
        let _ = std::fs::remove_dir_all(&dir);
        prop_assert!(!stderr.contains("panicked"), "tcpconform {:?} panicked:\n{}", args, stderr);
        prop_assert!(
            matches!(code, Some(0..=3)),
            "tcpconform {:?} ended with {:?}:\n{}", args, code, stderr
        );
        if code == Some(2) {
            prop_assert!(!stderr.trim().is_empty(), "tcpconform {:?}: exit 2 without a message", args);
        }
    }
}

#[test]
fn bad_input_is_exit_code_2_with_a_message() {
    let dir = temp_dir();
    let bad_scenario = dir.join("bad.scn");
    std::fs::write(&bad_scenario, "s0 = socket(inet)\nbind(s0, nowhere)\n").expect("writes");
    let bad_conf = dir.join("bad.conf");
    std::fs::write(&bad_conf, "net.ipv4.tcp_tw_reuse\n").expect("writes");
    let bad_scenario = bad_scenario.display().to_string();
    let bad_conf = bad_conf.display().to_string();
    for args in [
        vec!["predict", bad_scenario.as_str()],
        vec!["run", "--sysctl", "kernel.nonsense=1", "--cases", "1"],
        vec!["run", "--profile", "linux-", "--cases", "1"],
        vec![
            "run",
            "--variant",
            "listen_after_connect=maybe",
            "--cases",
            "1",
        ],
        vec!["run", "--baseline", bad_conf.as_str(), "--cases", "1"],
        vec!["predict", "--variant", "frob=1", bad_scenario.as_str()],
        vec!["check", "--file", bad_conf.as_str(), "--cases", "1"],
        vec!["frobnicate"],
    ] {
        let args: Vec<String> = args.into_iter().map(str::to_owned).collect();
        let (code, stderr) = run(&args, &dir);
        assert_eq!(code, Some(2), "tcpconform {args:?}: {stderr}");
        assert!(!stderr.trim().is_empty(), "tcpconform {args:?}: no message");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
