//! The decision at every hour of the day, in every region, for each situation a ClassLinkSync
//! can be in; and a simulation of three nights of random events.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::schedule::Window;

const REGIONS: [Region; 4] = [Region::US, Region::AU, Region::NZ, Region::UK];
const KEY: &str = "district/riverside";

fn ts(s: &str) -> Timestamp {
    s.parse().expect("test timestamp")
}

fn mins(n: i64) -> SignedDuration {
    SignedDuration::from_mins(n)
}

/// A ClassLinkSync created long ago that last synced successfully `previous` and whose
/// inputs have not changed since.
fn synced(region: Region, previous: Timestamp) -> Observed {
    Observed {
        key: KEY.to_owned(),
        region,
        suspend: false,
        initial_sync: InitialSync::Immediate,
        created: ts("2026-01-01T00:00:00Z"),
        manual_request: false,
        running: false,
        last_start: Some(previous),
        last_sync: Some(FinishedSync {
            started: previous,
            completed: previous + mins(2),
            failed_with: None,
        }),
        failed_attempts: 0,
        inputs: Inputs {
            recorded: Some("a".into()),
            current: "a".into(),
            current_since: ts("2026-01-01T00:00:00Z"),
        },
    }
}

fn never_synced(region: Region, created: Timestamp) -> Observed {
    Observed {
        created,
        last_start: None,
        last_sync: None,
        inputs: Inputs {
            recorded: None,
            current: "a".into(),
            current_since: created,
        },
        ..synced(region, created)
    }
}

fn failed(region: Region, completed: Timestamp, code: ErrorCode, attempts: u32) -> Observed {
    let started = completed - mins(1);
    Observed {
        last_sync: Some(FinishedSync {
            started,
            completed,
            failed_with: Some(code),
        }),
        failed_attempts: attempts,
        ..synced(region, started)
    }
}

fn next_of(decision: &Decision) -> Option<Timestamp> {
    match decision {
        Decision::Wait(w) => w.next_sync_time,
        Decision::Start(_) => None,
    }
}

/// Every hour of a winter day and of the days around each daylight saving change, in UTC.
fn hours() -> Vec<Timestamp> {
    let days = [
        "2026-11-30", // the day this suite was pinned for
        "2026-03-08", // Chicago springs forward
        "2026-11-01", // Chicago falls back
        "2026-04-05", // Auckland leaves daylight time
        "2026-09-27", // Auckland enters daylight time
    ];
    days.iter()
        .flat_map(|day| (0..24).map(move |h| ts(&format!("{day}T{h:02}:07:00Z"))))
        .collect()
}

#[test]
fn a_manual_request_starts_manual_at_every_hour_whatever_else_is_due() {
    for region in REGIONS {
        for now in hours() {
            // Due at once for several reasons: never synced, a change, a retry, the slot.
            let mut o = failed(region, now - mins(90), ErrorCode::ServerError, 1);
            o.manual_request = true;
            o.inputs.current = "b".into();
            o.inputs.current_since = now - mins(5);
            assert_eq!(
                decide(now, &o),
                Decision::Start(Trigger::Manual),
                "{region:?} {now}"
            );
            let mut new = never_synced(region, now);
            new.manual_request = true;
            assert_eq!(decide(now, &new), Decision::Start(Trigger::Manual));
        }
    }
}

#[test]
fn a_new_classlinksync_starts_initial_at_every_hour() {
    for region in REGIONS {
        for now in hours() {
            assert_eq!(
                decide(now, &never_synced(region, now)),
                Decision::Start(Trigger::Initial)
            );
        }
    }
}

#[test]
fn next_window_waits_for_its_slot_and_never_starts_late_the_night_it_was_created() {
    for region in REGIONS {
        for now in hours() {
            let mut o = never_synced(region, now);
            o.initial_sync = InitialSync::NextWindow;
            let slot = slot_for(KEY);
            let next = next_of(&decide(now, &o)).expect("waits");
            let window = Window::containing(region, next).expect("inside a window");
            assert_eq!(next, window.slot_start(slot), "{region:?} {now}");
            assert!(next > now);
            // Asked again at the slot's time, it starts, as Scheduled.
            assert_eq!(decide(next, &o), Decision::Start(Trigger::Scheduled));
        }
    }
}

#[test]
fn any_sync_started_in_tonights_window_is_tonights() {
    for region in REGIONS {
        for now in hours() {
            let Some(tonight) = Window::containing(region, now) else {
                continue;
            };
            // Whatever started it (first, manual, retry, change) a minute ago.
            let o = synced(region, now - mins(1));
            let d = decide(now, &o);
            let next = next_of(&d).unwrap_or_else(|| panic!("{region:?} {now}: {d:?}"));
            assert_eq!(
                next,
                tonight.next().slot_start(slot_for(KEY)),
                "{region:?} {now}: tomorrow's slot"
            );
            // And it does not start at any later moment of tonight's window.
            let mut t = now;
            while t < tonight.closes() {
                assert!(
                    matches!(decide(t, &o), Decision::Wait(_)),
                    "{region:?}: a second sync at {t}"
                );
                t += mins(10);
            }
        }
    }
}

#[test]
fn a_sync_in_the_afternoon_leaves_tonights_slot() {
    for region in REGIONS {
        for now in hours() {
            if Window::containing(region, now).is_some() {
                continue;
            }
            let d = decide(now, &synced(region, now - mins(1)));
            let next = next_of(&d).expect("waits");
            let tonight = Window::containing(region, next).expect("in a window");
            assert!(tonight.opens() > now, "{region:?} {now}");
            assert!(
                tonight.opens().duration_since(now) < SignedDuration::from_hours(13),
                "{region:?} {now}: {next} is not tonight"
            );
        }
    }
}

#[test]
fn a_transient_failure_is_retried_with_growing_backoff_at_every_hour() {
    for region in REGIONS {
        for now in hours() {
            let just_failed = failed(region, now, ErrorCode::EndpointUnreachable, 1);
            match decide(now, &just_failed) {
                Decision::Wait(w) => {
                    let next = w.next_sync_time.expect("a time");
                    // A retry, or a nightly slot that comes first.
                    if w.reason != WaitReason::Scheduled {
                        assert_eq!(
                            w.reason,
                            WaitReason::Retrying {
                                attempt: 1,
                                code: ErrorCode::EndpointUnreachable
                            }
                        );
                        let wait = next.duration_since(now);
                        assert!(wait >= mins(1) && wait <= SignedDuration::from_secs(72));
                    }
                }
                other => panic!("{region:?} {now}: {other:?}"),
            }
            let after = now + mins(2);
            assert!(matches!(
                decide(after, &just_failed),
                Decision::Start(Trigger::Retry | Trigger::Scheduled)
            ));
        }
    }
    // 1, 2, 4 … 60 minutes, each up to 20% longer by jitter, and never more than 72.
    for (attempt, base_minutes) in (1..=12).zip([1u64, 2, 4, 8, 16, 32, 60, 60, 60, 60, 60, 60]) {
        let wait = retry_delay(KEY, attempt).as_secs();
        let base = base_minutes * 60;
        assert!(
            wait >= base && wait <= base + base / 5,
            "attempt {attempt}: {wait} s"
        );
    }
    assert!(retry_delay(KEY, u32::MAX) <= Duration::from_secs(72 * 60));
}

#[test]
fn retry_jitter_depends_on_the_name_not_the_moment() {
    assert_eq!(retry_delay(KEY, 3), retry_delay(KEY, 3));
    let delays: BTreeSet<Duration> = (0..50)
        .map(|n| retry_delay(&format!("ns/sync-{n}"), 3))
        .collect();
    assert!(delays.len() > 40, "jitter spreads retries: {delays:?}");
    assert!(
        delays
            .iter()
            .all(|d| *d >= Duration::from_secs(240) && *d <= Duration::from_secs(288))
    );
}

#[test]
fn a_permanent_failure_waits_for_the_night_a_change_or_a_request() {
    for region in REGIONS {
        for now in hours() {
            let o = failed(region, now - mins(3), ErrorCode::AuthenticationFailed, 5);
            let as_success = synced(region, now - mins(4));
            let d = decide(now, &o);
            assert!(!matches!(d, Decision::Start(Trigger::Retry)));
            assert_eq!(
                next_of(&d),
                next_of(&decide(now, &as_success)),
                "{region:?} {now}"
            );
        }
    }
}

#[test]
fn a_change_starts_one_sync_after_the_inputs_settle_at_every_hour() {
    for region in REGIONS {
        for now in hours() {
            let mut o = synced(region, now - mins(1));
            o.inputs.current = "b".into();
            o.inputs.current_since = now - SignedDuration::from_secs(10);
            let d = decide(now, &o);
            assert_eq!(
                d,
                Decision::Wait(Wait {
                    next_sync_time: Some(now + SignedDuration::from_secs(20)),
                    reason: WaitReason::ChangePending,
                    adopt_inputs: false,
                }),
                "{region:?} {now}"
            );
            let settled = now + SignedDuration::from_secs(20);
            assert_eq!(decide(settled, &o), Decision::Start(Trigger::Changed));
        }
    }
}

#[test]
fn suspended_starts_nothing_and_has_no_next_time() {
    for region in REGIONS {
        for now in hours() {
            let mut o = failed(region, now - mins(90), ErrorCode::ServerError, 1);
            o.suspend = true;
            o.manual_request = true;
            o.inputs.current = "b".into();
            assert_eq!(
                decide(now, &o),
                Decision::Wait(Wait {
                    next_sync_time: None,
                    reason: WaitReason::Suspended,
                    adopt_inputs: false,
                })
            );
        }
    }
}

#[test]
fn a_running_sync_is_left_alone() {
    let now = ts("2026-11-30T01:30:00Z");
    let mut o = never_synced(Region::US, now);
    o.running = true;
    o.manual_request = true;
    assert!(matches!(
        decide(now, &o),
        Decision::Wait(Wait {
            reason: WaitReason::Running,
            ..
        })
    ));
}

#[test]
fn a_sync_that_never_finished_is_retried_at_once() {
    let now = ts("2026-11-30T13:30:00Z");
    let mut o = synced(Region::UK, now - SignedDuration::from_hours(20));
    o.last_start = Some(now - mins(10));
    assert_eq!(decide(now, &o), Decision::Start(Trigger::Retry));
}

#[test]
fn a_status_from_before_fingerprints_adopts_them_without_a_sync() {
    let now = ts("2026-11-30T13:30:00Z");
    let mut o = synced(Region::UK, now - mins(60));
    o.inputs.recorded = None;
    match decide(now, &o) {
        Decision::Wait(w) => {
            assert!(w.adopt_inputs);
            assert_eq!(w.reason, WaitReason::Scheduled);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_fingerprint_ignores_suspend_and_display_name_and_sees_the_rest() {
    let spec = serde_json::json!({"displayName": "A", "suspend": false, "endpoint": "https://a"});
    let base = inputs_fingerprint(&spec, Some("1"), &[("x".into(), 1)]);
    let cosmetic =
        serde_json::json!({"displayName": "B", "suspend": true, "endpoint": "https://a"});
    assert_eq!(
        inputs_fingerprint(&cosmetic, Some("1"), &[("x".into(), 1)]),
        base
    );
    let endpoint =
        serde_json::json!({"displayName": "A", "suspend": false, "endpoint": "https://b"});
    assert_ne!(
        inputs_fingerprint(&endpoint, Some("1"), &[("x".into(), 1)]),
        base
    );
    assert_ne!(
        inputs_fingerprint(&spec, Some("2"), &[("x".into(), 1)]),
        base
    );
    assert_ne!(inputs_fingerprint(&spec, None, &[("x".into(), 1)]), base);
    assert_ne!(
        inputs_fingerprint(&spec, Some("1"), &[("x".into(), 2)]),
        base
    );
    assert_ne!(inputs_fingerprint(&spec, Some("1"), &[]), base);
    // The order exclusions are listed in does not matter.
    let two = [("x".to_owned(), 1), ("y".to_owned(), 4)];
    let swapped = [("y".to_owned(), 4), ("x".to_owned(), 1)];
    assert_eq!(
        inputs_fingerprint(&spec, Some("1"), &two),
        inputs_fingerprint(&spec, Some("1"), &swapped)
    );
}

/// One simulated ClassLinkSync, its status as the executor keeps it, and what happened.
struct Simulated {
    observed: Observed,
    /// The annotation's value and the last value handled.
    annotation: Option<u32>,
    handled: Option<u32>,
    running_until: Option<(Timestamp, Timestamp, Trigger, Option<ErrorCode>)>,
    starts: Vec<(Timestamp, Trigger)>,
    handled_values: Vec<u32>,
}

/// Three nights in one-minute steps with random events (manual requests, input changes,
/// failures of either kind, long and short syncs): at most one scheduled sync per window, no
/// scheduled sync in a window where another sync already started, never two syncs at once,
/// and every annotation value handled exactly once.
#[test]
fn over_three_nights_of_random_events_the_rules_hold() {
    let codes = [
        None,
        None,
        None,
        Some(ErrorCode::ServerError),
        Some(ErrorCode::SecretNotFound),
        Some(ErrorCode::AuthenticationFailed),
        Some(ErrorCode::ShrinkGuardTripped),
    ];
    for seed in 0..60u64 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let region = REGIONS[rng.usize(..4)];
        let start = ts("2026-10-30T00:00:00Z") + SignedDuration::from_hours(rng.i64(0..24 * 30));
        let key = format!("ns-{seed}/sync");
        let mut observed = never_synced(region, start);
        observed.key = key.clone();
        if rng.bool() {
            observed.initial_sync = InitialSync::NextWindow;
        }
        let mut sim = Simulated {
            observed,
            annotation: None,
            handled: None,
            running_until: None,
            starts: Vec::new(),
            handled_values: Vec::new(),
        };
        let mut next_value = 0u32;
        let mut fingerprint = 0u32;
        let end = start + SignedDuration::from_hours(72);
        let mut now = start;
        while now < end {
            // Events that come from outside.
            if rng.u32(..600) == 0 {
                next_value += 1;
                sim.annotation = Some(next_value);
            }
            if rng.u32(..900) == 0 {
                fingerprint += 1;
                sim.observed.inputs.current = format!("f{fingerprint}");
                sim.observed.inputs.current_since = now;
            }
            if rng.u32(..2000) == 0 {
                sim.observed.suspend = !sim.observed.suspend;
            }
            // A running sync ends.
            if let Some((started, until, trigger, code)) = sim.running_until
                && now >= until
            {
                let _ = trigger;
                sim.observed.last_sync = Some(FinishedSync {
                    started,
                    completed: now,
                    failed_with: code,
                });
                sim.observed.failed_attempts = match code {
                    Some(_) => sim.observed.failed_attempts + 1,
                    None => 0,
                };
                sim.running_until = None;
            }
            sim.observed.running = sim.running_until.is_some();
            sim.observed.manual_request = sim.annotation.is_some() && sim.annotation != sim.handled;
            // The executor: start what the decision says.
            if let Decision::Start(trigger) = decide(now, &sim.observed) {
                assert!(
                    sim.running_until.is_none(),
                    "seed {seed}: two syncs at once"
                );
                if trigger == Trigger::Manual {
                    sim.handled = sim.annotation;
                    sim.handled_values.extend(sim.annotation);
                }
                sim.observed.last_start = Some(now);
                sim.observed.inputs.recorded = Some(sim.observed.inputs.current.clone());
                let duration = mins(rng.i64(1..40));
                let code = codes[rng.usize(..codes.len())];
                sim.running_until = Some((now, now + duration, trigger, code));
                sim.starts.push((now, trigger));
            }
            now += mins(1);
        }

        // At most one scheduled sync per window, and none after another sync that night.
        let mut by_window: BTreeMap<Timestamp, Vec<Trigger>> = BTreeMap::new();
        for (at, trigger) in &sim.starts {
            if let Some(w) = Window::containing(region, *at) {
                by_window.entry(w.opens()).or_default().push(*trigger);
            }
        }
        for (opens, triggers) in &by_window {
            let scheduled = triggers
                .iter()
                .filter(|t| **t == Trigger::Scheduled)
                .count();
            assert!(
                scheduled <= 1,
                "seed {seed}: {scheduled} scheduled syncs in the window of {opens}: {triggers:?}"
            );
            if scheduled == 1 {
                assert_eq!(
                    triggers.first(),
                    Some(&Trigger::Scheduled),
                    "seed {seed}: a scheduled sync after another sync in the window of {opens}: {triggers:?}"
                );
            }
        }
        // Each value handled exactly once, and every value but perhaps the last handled
        // (a request may arrive in the last minutes or while suspended).
        let unique: BTreeSet<u32> = sim.handled_values.iter().copied().collect();
        assert_eq!(
            unique.len(),
            sim.handled_values.len(),
            "seed {seed}: a value handled twice"
        );
        let manual = sim
            .starts
            .iter()
            .filter(|(_, t)| *t == Trigger::Manual)
            .count();
        assert_eq!(manual, sim.handled_values.len(), "seed {seed}");
    }
}

#[test]
fn a_night_without_a_sync_is_reported_until_the_next_one() {
    // Last synced on the night of the 27th (UK slot); the nights of the 28th and 29th had
    // none. On the 30th at noon the next sync is tonight's, and status says a window was
    // missed.
    let slot = slot_for(KEY);
    let synced_at = Window::on_night(Region::UK, jiff::civil::date(2026, 11, 27)).slot_start(slot);
    let o = synced(Region::UK, synced_at);
    let noon = ts("2026-11-30T12:00:00Z");
    match decide(noon, &o) {
        Decision::Wait(w) => assert_eq!(
            w.reason,
            WaitReason::MissedWindow {
                night: jiff::civil::date(2026, 11, 29)
            }
        ),
        other => panic!("{other:?}"),
    }
    // Synced last night: nothing missed.
    let last_night = Window::on_night(Region::UK, jiff::civil::date(2026, 11, 29)).slot_start(slot);
    match decide(noon, &synced(Region::UK, last_night)) {
        Decision::Wait(w) => assert_eq!(w.reason, WaitReason::Scheduled),
        other => panic!("{other:?}"),
    }
    // Created after last night's slot: it was not due, so nothing was missed.
    let mut new = never_synced(Region::UK, ts("2026-11-30T11:00:00Z"));
    new.initial_sync = InitialSync::NextWindow;
    match decide(noon, &new) {
        Decision::Wait(w) => assert_eq!(w.reason, WaitReason::Scheduled),
        other => panic!("{other:?}"),
    }
}
