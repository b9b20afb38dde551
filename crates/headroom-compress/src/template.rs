//! Line templates: a line with its variable parts (numbers, ids, hashes, uuids, timestamps,
//! paths, quoted values) replaced by `<*>`, so lines that differ only in those parts cluster.
//!
//! Must never: allocate per character or use backtracking regexes (this runs on every line of
//! every log).

/// The template of one line. Whitespace runs collapse to one space.
pub fn template(line: &str) -> String {
    template_with_values(line, None)
}

/// The template of one line; the masked values are pushed to `values` when given.
pub fn template_with_values<'l>(line: &'l str, mut values: Option<&mut Vec<&'l str>>) -> String {
    let mut out = String::with_capacity(line.len().min(256));
    for token in line.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        push_masked(token, &mut out, values.as_deref_mut());
        if out.len() > 400 {
            break;
        }
    }
    out
}

fn push_masked<'l>(token: &'l str, out: &mut String, values: Option<&mut Vec<&'l str>>) {
    // key=value keeps the key.
    if let Some(eq) = token.find('=') {
        if eq > 0 {
            out.push_str(&token[..=eq]);
            let value = &token[eq + 1..];
            if !value.is_empty() {
                push_masked(value, out, values);
            }
            return;
        }
    }
    if is_variable(token) {
        // Keep surrounding punctuation such as brackets and trailing commas.
        let start = token
            .find(|c: char| c.is_alphanumeric() || c == '/' || c == '.' || c == '~')
            .unwrap_or(0);
        let end = token
            .char_indices()
            .rev()
            .find(|(_, c)| c.is_alphanumeric() || *c == '/')
            .map(|(i, c)| i + c.len_utf8())
            .unwrap_or(token.len());
        if start < end {
            out.push_str(&token[..start]);
            out.push_str("<*>");
            out.push_str(&token[end..]);
            if let Some(v) = values {
                v.push(&token[start..end]);
            }
        } else {
            out.push_str("<*>");
            if let Some(v) = values {
                v.push(token);
            }
        }
    } else {
        out.push_str(token);
    }
}

fn is_variable(token: &str) -> bool {
    let b = token.as_bytes();
    if b.iter().any(u8::is_ascii_digit) {
        return true;
    }
    // Paths and URLs.
    if token.matches('/').count() >= 2 || token.contains("://") {
        return true;
    }
    // Quoted values.
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        return true;
    }
    // Long hex-ish or base64-ish identifiers without digits are rare; long mixed-case ids.
    b.len() >= 24 && !token.contains('_') && token.chars().all(|c| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_differing_in_ids_and_numbers_share_a_template() {
        let a = template("2024-05-01T12:00:01Z INFO worker processed batch id=4411 in 12ms");
        let b = template("2024-05-01T12:07:55Z INFO worker processed batch id=4412 in 9ms");
        assert_eq!(a, b);
        assert_eq!(a, "<*> INFO worker processed batch id=<*> in <*>");
    }

    #[test]
    fn paths_uuids_and_quoted_values_are_masked() {
        let mut values = Vec::new();
        let a = template_with_values(
            "GET /api/v1/users/8c1f2e9a-1111-4a5b-9c3d-2e4f5a6b7c8d \"curl/8.1\" [200]",
            Some(&mut values),
        );
        assert_eq!(a, "GET <*> \"<*>\" [<*>]");
        assert_eq!(
            values,
            [
                "/api/v1/users/8c1f2e9a-1111-4a5b-9c3d-2e4f5a6b7c8d",
                "curl/8.1",
                "200"
            ]
        );
    }

    #[test]
    fn different_messages_keep_different_templates() {
        assert_ne!(
            template("INFO cache hit key=7"),
            template("INFO cache miss key=7")
        );
    }
}

/// Merges templates that differ in a few word positions (Drain-style): templates with the same
/// number of tokens whose tokens agree in at least 70 % of positions share one cluster, whose
/// template has `<*>` where they differ. Deterministic: clusters form in first-seen order.
#[derive(Default)]
pub struct Clusters {
    /// Per token count: indices into `templates`.
    buckets: std::collections::HashMap<usize, Vec<usize>>,
    templates: Vec<Vec<String>>,
}

/// Bound on clusters compared per bucket, so pathological inputs stay linear.
const MAX_CLUSTERS_PER_BUCKET: usize = 64;

impl Clusters {
    /// Returns the cluster id for a raw template.
    pub fn assign(&mut self, raw: &str) -> usize {
        let tokens: Vec<&str> = raw.split(' ').collect();
        let bucket = self.buckets.entry(tokens.len()).or_default();
        let mut best: Option<(usize, usize)> = None; // (cluster, agreeing positions)
        for &c in bucket.iter() {
            let t = &self.templates[c];
            let agree = t
                .iter()
                .zip(&tokens)
                .filter(|(a, b)| a.as_str() == **b || a.as_str() == "<*>")
                .count();
            if best.is_none_or(|(_, ba)| agree > ba) {
                best = Some((c, agree));
            }
        }
        if let Some((c, agree)) = best {
            let mergeable = tokens.len() >= 4 && agree * 10 >= tokens.len() * 7;
            if agree == tokens.len() || mergeable {
                for (slot, tok) in self.templates[c].iter_mut().zip(&tokens) {
                    if slot != tok {
                        *slot = "<*>".to_string();
                    }
                }
                return c;
            }
        }
        let id = self.templates.len();
        self.templates
            .push(tokens.iter().map(|s| s.to_string()).collect());
        if bucket.len() < MAX_CLUSTERS_PER_BUCKET {
            bucket.push(id);
        }
        id
    }

    pub fn template(&self, id: usize) -> String {
        self.templates
            .get(id)
            .map(|t| t.join(" "))
            .unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.templates.len()
    }

    pub fn is_empty(&self) -> bool {
        self.templates.is_empty()
    }
}

#[cfg(test)]
mod cluster_tests {
    use super::*;

    #[test]
    fn templates_differing_in_one_word_merge_into_a_wildcard() {
        let mut c = Clusters::default();
        let a = c.assign(&template(
            "12:00 INFO processed order 1 for tenant alpha in 3ms",
        ));
        let b = c.assign(&template(
            "12:01 INFO processed order 2 for tenant billing in 5ms",
        ));
        let other = c.assign(&template("12:02 WARN queue depth 7"));
        assert_eq!(a, b);
        assert_ne!(a, other);
        assert_eq!(
            c.template(a),
            "<*> INFO processed order <*> for tenant <*> in <*>"
        );
    }

    #[test]
    fn short_templates_do_not_merge() {
        let mut c = Clusters::default();
        assert_ne!(c.assign("cache hit"), c.assign("cache miss"));
    }
}
