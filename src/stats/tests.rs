use super::*;
use crate::compress::BlockReport;

fn block(before: usize, after: usize) -> BlockReport {
    BlockReport {
        kind: "log",
        compressor: "log",
        tokens_before: before,
        tokens_after: after,
        duration: Duration::ZERO,
        cached: false,
        location: String::new(),
        outcome: crate::compress::Outcome::Compressed,
    }
}

fn request<'a>(blocks: &'a [BlockReport], model: &'a str) -> RequestRecord<'a> {
    RequestRecord {
        small_blocks: 0,
        blocks,
        model: Some(model),
        method: "POST",
        path: "/v1/messages",
        status: 200,
        ..Default::default()
    }
}

#[test]
fn lifetime_totals_and_history_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s/stats.json");
    let a = Stats::new();
    a.open(path.clone());
    a.record(&request(&[block(1000, 100)], "claude-sonnet-4-5"));
    a.flush();
    let b = Stats::new();
    b.open(path.clone());
    b.record(&RequestRecord {
        small_blocks: 0,
        failed: true,
        ..Default::default()
    });
    let (run, life) = b.snapshot();
    assert_eq!(run.requests, 1);
    assert_eq!(
        (
            life.requests,
            life.failed,
            life.tokens_before,
            life.tokens_after
        ),
        (2, 1, 1000, 100)
    );
    assert_eq!(life.compressors["log"].blocks, 1);
    assert_eq!(life.kinds["log"].tokens_before, 1000);
    assert_eq!(life.models["claude-sonnet-4-5"].tokens_after, 100);
    let ledger = b.ledger();
    let today = Period::Day.start_of(persist::now_unix());
    assert_eq!(ledger.history.days[&today].requests, 2);
}

#[test]
fn two_processes_on_one_file_sum_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stats.json");
    let (a, b) = (Stats::new(), Stats::new());
    a.open(path.clone());
    b.open(path.clone());
    for round in 0..5 {
        for _ in 0..3 {
            a.record(&request(&[], "m"));
        }
        for _ in 0..round {
            b.record(&request(&[], "m"));
        }
        a.flush();
        b.flush();
    }
    let file = persist::load(&path);
    assert_eq!(file.totals.requests, 15 + 10);
    assert_eq!(file.totals.models["m"].requests, 25);
    // Each instance's view is the file as it last wrote it plus its own unwritten counts.
    assert_eq!(b.snapshot().1.requests, 25);
    // An idle instance picks up what the other one writes.
    std::thread::sleep(Duration::from_millis(20));
    a.record(&request(&[], "m"));
    a.flush();
    b.flush();
    assert_eq!(b.snapshot().1.requests, 26);
}

#[test]
fn a_failing_write_is_remembered_retried_and_leaves_no_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where the file should be: every write fails, whoever runs the test.
    let path = dir.path().join("stats.json");
    std::fs::create_dir(&path).unwrap();
    let s = Stats::new();
    s.open(path.clone());
    s.record(&request(&[block(50, 10)], "m"));
    s.flush();
    let err = s.last_write_error().expect("error remembered");
    assert!(err.message.contains("stats.json"), "{err:?}");
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(names.iter().all(|n| !n.contains("tmp")), "{names:?}");
    // Nothing counted is lost: once the path is usable the same delta lands.
    std::fs::remove_dir(&path).unwrap();
    s.flush();
    assert!(s.last_write_error().is_none());
    assert_eq!(persist::load(&path).totals.tokens_before, 50);
}

#[test]
fn corrupt_file_is_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stats.json");
    std::fs::write(&path, b"{not json").unwrap();
    let s = Stats::new();
    s.open(path.clone());
    assert_eq!(s.snapshot().1, Totals::default());
    assert!(!path.exists());
    let aside: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(aside.len(), 1);
}

#[test]
fn recent_requests_hold_no_query_string() {
    let s = Stats::new();
    s.record(&RequestRecord {
        small_blocks: 0,
        path: "/v1/messages?beta=true&key=sk-ant-secret",
        ..request(&[block(10, 5)], "m")
    });
    let r = s.recent();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].path, "/v1/messages");
    assert_eq!((r[0].tokens_before, r[0].tokens_after), (10, 5));
}

#[test]
fn summary_prices_today_week_and_lifetime() {
    let s = Stats::new();
    s.record(&request(&[block(1_000_000, 0)], "claude-sonnet-4-5"));
    let v = summary(&s.ledger(), persist::now_unix(), &Pricing::default());
    for k in ["today", "last_7_days", "lifetime"] {
        assert_eq!(v[k]["tokens_saved"], 1_000_000, "{k}: {v}");
        assert_eq!(v[k]["estimated_dollars_saved"], 3.0, "{k}: {v}");
    }
}

#[test]
fn plain_requests_counted_in_runs_add_what_each_adds_on_its_own() {
    // Plain requests of several models and hours, with blocked and token-carrying ones between
    // them, near the model cap, team sharing switched on midway, and reads between: the stats
    // must equal adding each request's full totals one by one, in order.
    let blocks = [block(500, 50)];
    let hour = 3_600_000u64;
    let t0 = 1_700_000_000_000u64;
    let mut seq: Vec<(RequestRecord<'static>, u64)> = Vec::new();
    let names: Vec<&'static str> = (0..totals::MAX_MODELS + 4)
        .map(|i| &*Box::leak(format!("model-{i}").into_boxed_str()))
        .collect();
    let blocks: &'static [BlockReport] = Box::leak(Box::new(blocks));
    // One name short of the cap, a plain request of a new model, then a blocked request of
    // another new one: the plain one was first, so it keeps its name and the other is `other`.
    for name in &names[..totals::MAX_MODELS - 1] {
        seq.push((request(&[], name), t0));
    }
    seq.push((request(&[], "late-plain"), t0 + 1));
    seq.push((request(blocks, "late-blocked"), t0 + 2));
    for (i, name) in names.iter().enumerate() {
        let usage = crate::usage::Usage {
            input: 20 + i as u64,
            output: 9,
            cache_read: i as u64 % 3,
            cache_creation: 1,
        };
        let at = t0 + (i as u64 / 7) * hour + i as u64;
        for k in 0..3 {
            seq.push((
                RequestRecord {
                    failed: k == 1,
                    usage,
                    ..request(&[], name)
                },
                at + k,
            ));
        }
        if i % 5 == 2 {
            // A new model in a blocked request between plain ones, as the cap nears.
            seq.push((request(blocks, names[names.len() - 1 - i % 3]), at + 5));
        }
        if i % 9 == 4 {
            seq.push((
                RequestRecord {
                    token: Some("team-a"),
                    ..request(&[], name)
                },
                at + 6,
            ));
        }
        // The same model again in the next hour.
        seq.push((request(&[], name), at + hour));
    }
    let s = Stats::new();
    let mut run = Totals::default();
    let mut ledger = Ledger::default();
    let mut team: Option<Ledger> = None;
    for (n, (r, at)) in seq.iter().enumerate() {
        if n == seq.len() / 2 {
            s.share_with_team();
            team = Some(Ledger::default());
        }
        s.record_at(r, *at);
        let model = totals::model_key(r.model);
        let d = r.totals(&model);
        let unix = (*at / 1000) as i64;
        run.add(&d);
        ledger.totals.add(&d);
        ledger.history.record(unix, &d);
        if let Some(t) = team.as_mut() {
            t.totals.add(&d);
            t.history.record(unix, &d);
        }
        if n % 11 == 0 {
            assert_eq!(s.snapshot().0, run, "after request {n}");
        }
    }
    assert_eq!(s.snapshot().0, run);
    assert_eq!(s.ledger(), ledger);
    assert_eq!(s.team_pending(), team.unwrap());
    assert!(run.models.contains_key("late-plain"));
    assert!(!run.models.contains_key("late-blocked"));
}

#[test]
fn reused_dashboard_entries_carry_nothing_of_the_request_they_held() {
    let s = Stats::new();
    let long = format!("/v1/{}", "x".repeat(100));
    for i in 0..(recent::RECENT + 10) {
        let (model, path) = if i.is_multiple_of(2) {
            ("claude-sonnet-4-5-with-a-long-name", long.as_str())
        } else {
            ("m", "/v1/messages")
        };
        s.record(&RequestRecord {
            model: Some(model),
            path,
            method: if i.is_multiple_of(2) { "POST" } else { "GET" },
            status: 200 + i as u16,
            ..Default::default()
        });
    }
    let recent = s.recent();
    assert_eq!(recent.len(), recent::RECENT);
    for (n, r) in recent.iter().enumerate() {
        let i = recent::RECENT + 10 - 1 - n;
        let want = if i.is_multiple_of(2) {
            ("claude-sonnet-4-5-with-a-long-name", long.as_str(), "POST")
        } else {
            ("m", "/v1/messages", "GET")
        };
        assert_eq!((r.model.as_str(), r.path.as_str(), r.method.as_str()), want);
        assert_eq!(r.status, 200 + i as u16);
    }
}

#[test]
fn requests_recorded_on_many_threads_are_all_read() {
    // Workers record into their own shards; every reader sees every request: the totals, the
    // per-model counts, the ledger a flush would write, and the dashboard's newest entries.
    let s = Stats::new();
    let blocks = [block(300, 30)];
    let threads = shard::SHARDS + 4;
    let per_thread = 200u64;
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (s, blocks) = (&s, &blocks);
            scope.spawn(move || {
                for i in 0..per_thread {
                    let model = if i % 50 < 40 {
                        "claude-sonnet-4-5"
                    } else {
                        "gpt-4o"
                    };
                    let r = if i % 25 == 0 {
                        request(blocks, model)
                    } else {
                        RequestRecord {
                            usage: crate::usage::Usage {
                                input: 3,
                                output: 2,
                                ..Default::default()
                            },
                            ..request(&[], model)
                        }
                    };
                    s.record(&r);
                    if t == 0 && i % 40 == 0 {
                        // Reads while the others record never see more than was recorded.
                        assert!(s.snapshot().0.requests <= threads as u64 * per_thread);
                    }
                }
            });
        }
    });
    let total = threads as u64 * per_thread;
    let (run, life) = s.snapshot();
    assert_eq!(run.requests, total);
    assert_eq!(life.requests, total);
    assert_eq!(run.models["claude-sonnet-4-5"].requests, total * 4 / 5);
    assert_eq!(run.models["gpt-4o"].requests, total / 5);
    let blocked = threads as u64 * per_thread.div_ceil(25);
    assert_eq!(run.tokens_before, blocked * 300);
    assert_eq!(run.upstream_usage.input, (total - blocked) * 3);
    assert_eq!(s.ledger().totals, run);
    let recent = s.recent();
    assert_eq!(recent.len(), recent::RECENT);
    assert!(recent.windows(2).all(|w| w[0].order > w[1].order));
}
