//! The timer lanes: random cases whose timers really run out on the kernel, many side by side,
//! each judged in lock-step with the model (`tcpconform lane timers|timewait`).
//!
//! - The timer lane (orphan FIN-WAIT-2, keepalive, TCP_USER_TIMEOUT, SYN retries,
//!   `tcp_tw_reuse_delay`, vanished and rebooted peers, all with second-long settings): 128
//!   cases, 64 at a time, about 12 s.
//! - The TIME-WAIT lane: 240 cases that each hold a TIME-WAIT and sleep across its real 60 s
//!   end (`TCP_TIMEWAIT_LEN`, not tunable), all at once, about 70 s. Set
//!   `TCPCONFORM_SKIP_TIMEWAIT_LANE=1` to leave it out (it says so, and is not counted as a
//!   pass of the lane).
//!
//! `TCPCONFORM_SEED` repeats a run (the seed is printed). The two lanes take turns: the timer
//! lane's deadlines are tight, and the TIME-WAIT lane's setup of 240 namespaces is a burst.

use std::sync::Mutex;

use tcpconform_harness::campaign::CampaignOutcome;
use tcpconform_harness::campaign::render::render_groups;
use tcpconform_harness::lanes::{self, Lane, LaneOptions, LaneReport};
use tcpconform_harness::{kernel, sandbox};
use tcpconform_model::RuleId;
use tcpconform_tests::{env_number, repo_root};

static ONE_LANE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The TIME-WAIT lane's seed in `cargo test` (see [`run_lane`]).
const TIME_WAIT_LANE_SEED: u64 = 4242;
/// The timer lane's seed in `cargo test`: the one that found the pending-error gap of a failed
/// connect() (see [`run_lane`]).
const TIMER_LANE_SEED: u64 = 1795495721409569585;

fn run_lane(lane: Lane, cases: u32, concurrency: usize) -> LaneReport {
    let _turn = ONE_LANE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let profile = kernel::running_profile().expect("the running kernel has a version");
    // Both lanes run a fixed seed, so that CI repeats itself: random seeds have shown timing
    // edges not yet modelled (a keepalive probe meeting an expiring FIN-WAIT-2, once in about
    // ten timer-lane runs; a TIME-WAIT-lane divergence whose minute-a-round shrink did not
    // finish; see the closing note of issue 8). `tcpconform lane timers|timewait --seed S` and
    // TCPCONFORM_SEED explore others.
    let default_seed = match lane {
        Lane::TimeWait => TIME_WAIT_LANE_SEED,
        Lane::Timers => TIMER_LANE_SEED,
    };
    let seed = env_number("TCPCONFORM_SEED", default_seed);
    let mut options = LaneOptions::new(lane, profile, seed);
    options.cases = cases;
    options.concurrency = concurrency;
    options.found_dir = Some(repo_root().join("target").join("tcpconform-found"));
    println!(
        "{} lane: {cases} cases, {concurrency} at a time, seed {seed} (TCPCONFORM_SEED={seed} \
         repeats it), {profile}",
        lane.name()
    );
    let report = lanes::run(&options, &|_| {});
    println!("{}", report.summary());
    match &report.outcome {
        CampaignOutcome::Passed => {}
        CampaignOutcome::HarnessFailed(e) => panic!("the harness failed (not a verdict): {e}"),
        CampaignOutcome::Diverged(_) => {
            panic!(
                "the kernel diverged from the model in the {} lane (seed {seed}):\n{}",
                lane.name(),
                render_groups(&report.as_campaign(), "cargo run -p tcpconform -- replay")
            );
        }
    }
    report
}

#[test]
fn in_the_timer_lane_timers_run_out_as_the_model_says() {
    if !sandbox::on_os_or_skip(
        "in_the_timer_lane_timers_run_out_as_the_model_says",
        tcpconform_model::profile::Os::Linux,
        "the lanes shorten Linux's timers with Linux sysctls",
    ) {
        return;
    }
    if !sandbox::kernel_or_skip("in_the_timer_lane_timers_run_out_as_the_model_says") {
        return;
    }
    let report = run_lane(Lane::Timers, 128, 64);
    // A lane whose timers never ran out would have tested nothing: with 128 cases a handful
    // of expiries is the least to expect (a typical run sees 20–40, of four or more kinds).
    let expired = report.total_expiries();
    assert!(
        expired >= 5,
        "only {expired} timer expiries in {} cases: {:?}",
        report.cases,
        report.expiries
    );
    assert!(
        report.expiries.len() >= 2,
        "only one kind of timer ran out: {:?}",
        report.expiries
    );
}

#[test]
fn in_the_time_wait_lane_time_wait_ends_after_sixty_seconds_as_the_model_says() {
    if std::env::var_os("TCPCONFORM_SKIP_TIMEWAIT_LANE").is_some_and(|v| v != "0") {
        println!(
            "SKIPPED: the TIME-WAIT lane (TCPCONFORM_SKIP_TIMEWAIT_LANE is set); run \
             `tcpconform lane timewait` or unset it to check real 60 s TIME-WAIT expiries"
        );
        return;
    }
    if !sandbox::on_os_or_skip(
        "in_the_time_wait_lane_time_wait_ends_after_sixty_seconds_as_the_model_says",
        tcpconform_model::profile::Os::Linux,
        "the lanes shorten Linux's timers with Linux sysctls",
    ) {
        return;
    }
    if !sandbox::kernel_or_skip(
        "in_the_time_wait_lane_time_wait_ends_after_sixty_seconds_as_the_model_says",
    ) {
        return;
    }
    let report = run_lane(Lane::TimeWait, 240, 240);
    let expired = report
        .expiries
        .get(&RuleId::TimeWaitExpires)
        .copied()
        .unwrap_or(0);
    // A random op may end a TIME-WAIT early (a SYN that reuses it); nearly every case sees
    // one expire.
    assert!(
        expired >= 200,
        "only {expired} TIME-WAIT expiries in {} cases",
        report.cases
    );
}
