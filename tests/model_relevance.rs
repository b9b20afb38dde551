//! The relevance compressor with the real all-MiniLM-L6-v2 on ONNX Runtime: long prose and a
//! long source file keep the part that answers the task and drop at least half.

use headroom_test_support::model as model_support;

use headroom::compress::text::{RelevanceCompressor, SentenceEmbedder, TextConfig};
use headroom::compress::{BlockInput, Compressor};
use headroom::model::load_embedder;
use headroom::model_glue::ModelEmbedder;
use model_support::{fixture, minilm_cpu, ready};
use std::sync::{Arc, OnceLock};

fn embedder() -> Option<Arc<dyn SentenceEmbedder>> {
    static E: OnceLock<Option<Arc<dyn SentenceEmbedder>>> = OnceLock::new();
    E.get_or_init(|| {
        let cfg = minilm_cpu();
        if !ready(&cfg) {
            return None;
        }
        let (embedder, _) = load_embedder(&cfg).expect("MiniLM loads");
        Some(Arc::new(ModelEmbedder(embedder)))
    })
    .clone()
}

fn compressor() -> Option<&'static RelevanceCompressor> {
    static C: OnceLock<Option<RelevanceCompressor>> = OnceLock::new();
    C.get_or_init(|| Some(RelevanceCompressor::new(embedder()?, TextConfig::default())))
        .as_ref()
}

fn compress(text: &str, task: &str) -> String {
    let c = compressor().expect("checked by the caller");
    c.compress(&BlockInput { text, task })
        .expect("compresses")
        .expect("the block gets shorter")
}

/// cl100k tokens, as the pipeline counts them.
fn tokens(s: &str) -> usize {
    headroom::compress::tokens::count(s)
}

fn assert_dropped_half(before: &str, after: &str) {
    assert!(
        tokens(after) * 2 <= tokens(before),
        "kept {} of {} tokens:\n{after}",
        tokens(after),
        tokens(before)
    );
}

#[test]
fn prose_keeps_the_paragraph_that_answers_the_task_and_drops_half() {
    if compressor().is_none() {
        return;
    }
    let doc = std::fs::read_to_string(fixture("operations_guide.md")).unwrap();
    let out = compress(
        &doc,
        "How do I rotate the TLS certificate without restarting the gateway?",
    );
    assert!(
        out.contains("To rotate the TLS certificate without restarting the gateway, upload the new certificate"),
        "{out}"
    );
    assert!(out.contains("`harborctl reload --certificates`"), "{out}");
    // Headings stay as the document's outline.
    for heading in [
        "# Harbor Gateway operations guide",
        "## Dashboards",
        "## Glossary",
    ] {
        assert!(out.contains(heading), "{heading} missing:\n{out}");
    }
    assert!(out.contains("paragraphs omitted …]"), "{out}");
    assert!(!out.contains("Bananas"));
    assert_dropped_half(&doc, &out);
}

#[test]
fn prose_selection_follows_meaning_when_the_task_shares_few_words() {
    if compressor().is_none() {
        return;
    }
    let doc = std::fs::read_to_string(fixture("operations_guide.md")).unwrap();
    let out = compress(
        &doc,
        "Who has to sign off before a routing rule edit goes live?",
    );
    assert!(
        out.contains("Routing changes go through the same review process as code"),
        "{out}"
    );
    assert_dropped_half(&doc, &out);
}

#[test]
fn source_file_keeps_the_function_that_answers_the_task_and_drops_half() {
    if compressor().is_none() {
        return;
    }
    let src = std::fs::read_to_string(fixture("inventory.py")).unwrap();
    let out = compress(
        &src,
        "Why does moving stock between warehouse locations get refused?",
    );
    // The whole method survives verbatim (it sits inside the Inventory class unit).
    assert!(out.contains("    def transfer(self, sku: str, source: str, destination: str, quantity: int) -> None:"), "{out}");
    assert!(
        out.contains("f\"{self.available(sku, source)} unreserved\""),
        "{out}"
    );
    // Dropped items leave their signature and a marker.
    assert!(out.contains("omitted: the bod"), "{out}");
    assert_dropped_half(&src, &out);
}

#[test]
fn same_block_and_task_give_the_same_output() {
    if compressor().is_none() {
        return;
    }
    let doc = std::fs::read_to_string(fixture("operations_guide.md")).unwrap();
    let task = "What happens to memory when many streaming clients connect?";
    let first = compress(&doc, task);
    assert_eq!(first, compress(&doc, task));
    assert!(
        first.contains("Memory usage grows with the number of concurrent connections"),
        "{first}"
    );
}

#[test]
fn no_task_text_means_no_compression() {
    let Some(c) = compressor() else { return };
    let doc = std::fs::read_to_string(fixture("operations_guide.md")).unwrap();
    assert_eq!(
        c.compress(&BlockInput {
            text: &doc,
            task: "  "
        })
        .unwrap(),
        None
    );
}

#[test]
fn relevance_scores_rank_the_item_that_matches_the_task_first() {
    let Some(c) = compressor() else { return };
    let items = [
        "2024-05-01 INFO cache warmed in 120 ms",
        "2024-05-01 WARN certificate for shop.example.com expires in 3 days",
        "2024-05-01 INFO 200 GET /health",
    ];
    let scores = c
        .relevance("when does the TLS cert run out?", &items)
        .expect("scores");
    assert_eq!(scores.len(), 3);
    assert!(scores[1] > scores[0] && scores[1] > scores[2], "{scores:?}");
}

#[test]
fn a_scoring_budget_smaller_than_the_block_still_finds_the_answer_via_the_lexical_prefilter() {
    let Some(embedder) = embedder() else { return };
    // 160 tokens: room for the task and five 24-token heads out of ~25 paragraphs.
    let c = RelevanceCompressor::new(
        embedder,
        TextConfig {
            score_tokens: 160,
            ..TextConfig::default()
        },
    );
    let doc = std::fs::read_to_string(fixture("operations_guide.md")).unwrap();
    let task = "How do I rotate the TLS certificate without restarting the gateway?";
    let out = c
        .compress(&BlockInput { text: &doc, task })
        .expect("compresses")
        .expect("shorter");
    assert!(out.contains("`harborctl reload --certificates`"), "{out}");
    assert_dropped_half(&doc, &out);
}

/// The default int8 copy (preferred when present) keeps what fp32 keeps where it matters: the
/// passage that answers each task on the test corpus, and the same top-ranked paragraphs. (The
/// two differ at the margin: a paragraph scored just above or below the cut.)
#[test]
fn int8_model_keeps_the_answers_and_top_ranks_fp32_keeps() {
    let base = minilm_cpu();
    if !ready(&base) {
        return;
    }
    let Ok((default_model, tokenizer)) = headroom::model::locate_model_files(&base) else {
        return;
    };
    let dir = default_model.parent().expect("model in a directory");
    let (fp32, int8) = (dir.join("model.onnx"), dir.join("model.int8.onnx"));
    if !int8.is_file() || !fp32.is_file() {
        eprintln!(
            "skipping: needs both {} and {}",
            fp32.display(),
            int8.display()
        );
        return;
    }
    let load = |path: &std::path::Path| {
        let cfg = headroom::model::ModelConfig {
            path: Some(path.to_path_buf()),
            tokenizer: Some(tokenizer.clone()),
            ..minilm_cpu()
        };
        let (e, _) = load_embedder(&cfg).expect("MiniLM loads");
        RelevanceCompressor::new(Arc::new(ModelEmbedder(e)), TextConfig::default())
    };
    let models = [("fp32", load(&fp32)), ("int8", load(&int8))];
    let doc = std::fs::read_to_string(fixture("operations_guide.md")).unwrap();
    let src = std::fs::read_to_string(fixture("inventory.py")).unwrap();
    let cases = [
        (
            &doc,
            "How do I rotate the TLS certificate without restarting the gateway?",
            "`harborctl reload --certificates`",
        ),
        (
            &doc,
            "Who has to sign off before a routing rule edit goes live?",
            "an approval from a second engineer",
        ),
        (
            &src,
            "Why does moving stock between warehouse locations get refused?",
            "def transfer(self, sku: str, source: str, destination: str, quantity: int)",
        ),
    ];
    for (text, task, answer) in cases {
        for (name, c) in &models {
            let out = c
                .compress(&BlockInput { text, task })
                .expect("compresses")
                .expect("the block gets shorter");
            assert!(
                out.contains(answer),
                "{name} lost the answer to `{task}`:\n{out}"
            );
            assert_dropped_half(text, &out);
        }
    }
    let items: Vec<&str> = doc.split("\n\n").filter(|p| !p.trim().is_empty()).collect();
    let top = |c: &RelevanceCompressor, task: &str| {
        let scores = c.relevance(task, &items).expect("scores");
        let mut order: Vec<usize> = (0..scores.len()).collect();
        order.sort_by(|&i, &j| scores[j].total_cmp(&scores[i]));
        order.truncate(3);
        order
    };
    for task in [
        "How do I rotate the TLS certificate?",
        "Who approves routing changes?",
    ] {
        assert_eq!(
            top(&models[0].1, task),
            top(&models[1].1, task),
            "top-3 paragraphs differ for `{task}`"
        );
    }
}
