//! The LLMLingua-2 path on the generated tiny token classifier, whose per-token logit margins
//! are fixed by `scripts/model/build_tiny_classifier.py`, so the kept words are known.
//!
//! Word keep-probabilities for SENTENCE (sigmoid of the margins, averaged per word):
//! server .953, crashed .924, disk .881, full .818, lost .731, requests .575 (request +2,
//! ##s -1), /var/log .5 and 42 .5 (neutral tokens), check .378, please .269, now .182,
//! because/was/we .119, at .076, the/and/so/it .047. 20 words.

use headroom_test_support::model as model_support;

use headroom::compress::text::{TextConfig, WordCompressor};
use headroom::compress::{BlockInput, Compressor};
use headroom::model::{load_token_classifier, Device};
use headroom::model_glue::ModelWordScorer;
use model_support::{ready, tiny_classifier};
use std::sync::Arc;

const SENTENCE: &str =
    "The server crashed because the disk at /var/log was full and we lost 42 requests so please check it now";

fn compressor(keep_ratio: f64) -> Option<WordCompressor> {
    let cfg = tiny_classifier(Device::Cpu);
    if !ready(&cfg) {
        return None;
    }
    let (classifier, _) = load_token_classifier(&cfg).expect("tiny classifier loads");
    Some(WordCompressor::new(
        Arc::new(ModelWordScorer(classifier)),
        TextConfig {
            keep_ratio,
            ..TextConfig::default()
        },
    ))
}

#[test]
fn keeps_exactly_the_top_30_percent_plus_numbers_and_paths() {
    let Some(c) = compressor(0.3) else { return };
    // ceil(0.3 * 20) = 6 words at or above .575, plus the forced /var/log and 42.
    assert_eq!(
        c.compress_text(SENTENCE).unwrap(),
        "server crashed disk /var/log full lost 42 requests"
    );
}

#[test]
fn a_higher_rate_lowers_the_quantile() {
    let Some(c) = compressor(0.5) else { return };
    // ceil(0.5 * 20) = 10: the tenth highest is please (.269).
    assert_eq!(
        c.compress_text(SENTENCE).unwrap(),
        "server crashed disk /var/log full lost 42 requests please check"
    );
}

#[test]
fn long_input_is_windowed_at_sentence_ends_and_every_window_is_scored() {
    let Some(c) = compressor(0.3) else { return };
    // 24 tokens per sentence x 60 = 1,440 tokens: at least three 512-token windows.
    let line = format!("{SENTENCE} .");
    let text = vec![line.as_str(); 60].join("\n");
    let out = c.compress_text(&text).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 60, "{out}");
    for line in lines {
        assert_eq!(line, "server crashed disk /var/log full lost 42 requests");
    }
}

#[test]
fn compressor_declines_when_nothing_would_be_dropped() {
    let Some(c) = compressor(1.0) else { return };
    let input = BlockInput {
        text: SENTENCE,
        task: "",
    };
    assert_eq!(c.compress(&input).unwrap(), None);
}

#[test]
fn inference_timings_reach_the_prometheus_metrics() {
    let cfg = tiny_classifier(Device::Cpu);
    if !ready(&cfg) {
        return;
    }
    let loaded = headroom::model_glue::load(&cfg).expect("tiny classifier loads");
    loaded
        .compressor
        .compress(&BlockInput {
            text: SENTENCE,
            task: "",
        })
        .expect("the classifier runs");
    let text = String::from_utf8(headroom::metrics::render()).expect("utf-8 exposition");
    let sample = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    };
    assert!(
        sample("headroom_model_inference_seconds_count{device=\"cpu\"}") >= 1.0,
        "{text}"
    );
    assert!(sample("headroom_model_tokens_scored_total{device=\"cpu\"}") >= 20.0);
}
