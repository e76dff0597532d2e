//! The words a case is found by in the case list's keyword search (关键词).
//!
//! Chinese is written without spaces and most search words are two
//! characters (垃圾, 占道, 井盖), so a case is indexed by its overlapping
//! character pairs (bigrams): "垃圾桶满溢" gives 垃圾 圾桶 桶满 满溢. A
//! keyword is looked up by its own pairs — every pair of a text that holds
//! the keyword is among the text's pairs — and the rows found are checked
//! against the keyword itself, so the index narrows the search and never
//! changes what it finds.
//!
//! Runs of letters and digits are paired; punctuation and spaces break a
//! run. A one-character run is a word by itself. Letters are lower-cased.

/// The words of a text, in their first order, each once: the pairs of each
/// run of letters and digits, and a one-character run as itself.
pub fn words(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for run in runs(text) {
        if run.len() == 1 {
            push_once(&mut out, run[0].to_string());
        }
        for pair in run.windows(2) {
            push_once(&mut out, pair.iter().collect());
        }
    }
    out
}

/// What the index keeps for a case: the words of its description,
/// separated by spaces.
pub fn case_words(description: &str) -> String {
    words(description).join(" ")
}

/// Whether a search is a case number (`2026-000123`, as filing numbers
/// them): it is looked up by number, not among the descriptions.
pub fn is_case_number(text: &str) -> bool {
    match text.trim().split_once('-') {
        Some((year, seq)) => {
            year.len() == 4 && seq.len() >= 6 && (year.chars().chain(seq.chars())).all(|c| c.is_ascii_digit())
        }
        None => false,
    }
}

/// The pairs a keyword is looked up by. A one-character run gives none (the
/// character may sit inside a longer run of the text); a keyword without a
/// pair (`路`, `，`) cannot use the index and is searched row by row.
pub fn keyword_pairs(keyword: &str) -> Vec<String> {
    let mut out = Vec::new();
    for run in runs(keyword) {
        for pair in run.windows(2) {
            push_once(&mut out, pair.iter().collect());
        }
    }
    out
}

/// Whether no character of a keyword changes under case mapping (汉字,
/// digits, punctuation): a text then holds the keyword exactly when its
/// lower-cased form does.
pub fn is_caseless(keyword: &str) -> bool {
    keyword.chars().all(|c| c.to_lowercase().eq([c]) && c.to_uppercase().eq([c]))
}

/// The lower-cased runs of letters and digits of a text.
fn runs(text: &str) -> Vec<Vec<char>> {
    let mut runs = Vec::new();
    let mut run = Vec::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            run.push(c);
        } else if !run.is_empty() {
            runs.push(std::mem::take(&mut run));
        }
    }
    if !run.is_empty() {
        runs.push(run);
    }
    runs
}

fn push_once(out: &mut Vec<String>, word: String) {
    if !out.contains(&word) {
        out.push(word);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_keyword_of_chinese_digits_and_punctuation_is_caseless_and_one_with_letters_is_not() {
        for caseless in ["垃圾", "井盖 12", "（占道）", "①"] {
            assert!(is_caseless(caseless), "{caseless}");
        }
        for cased in ["LED屏", "led", "Straße", "ǅ"] {
            assert!(!is_caseless(cased), "{cased}");
        }
    }

    #[test]
    fn a_description_gives_its_overlapping_pairs() {
        assert_eq!(words("垃圾桶满溢"), ["垃圾", "圾桶", "桶满", "满溢"]);
        assert_eq!(words("垃圾桶：满溢"), ["垃圾", "圾桶", "满溢"]);
    }

    #[test]
    fn a_pair_comes_once() {
        assert_eq!(words("垃圾，垃圾，垃圾"), ["垃圾"]);
    }

    #[test]
    fn a_lone_character_is_a_word() {
        assert_eq!(words("路 灯"), ["路", "灯"]);
        assert_eq!(words(""), Vec::<String>::new());
        assert_eq!(words("，。！"), Vec::<String>::new());
    }

    #[test]
    fn letters_are_lower_cased_and_digits_paired() {
        assert_eq!(words("A3路口"), ["a3", "3路", "路口"]);
        assert_eq!(keyword_pairs("a3"), ["a3"]);
    }

    #[test]
    fn the_index_keeps_the_words_of_the_description() {
        assert_eq!(case_words("井盖：缺失 A3"), "井盖 缺失 a3");
    }

    #[test]
    fn a_case_number_is_told_from_a_keyword() {
        assert!(is_case_number("2026-000123"));
        assert!(is_case_number(" 2026-1000123 "));
        assert!(!is_case_number("2026"));
        assert!(!is_case_number("2026-12"));
        assert!(!is_case_number("垃圾-000123"));
        assert!(!is_case_number("2026-00012a"));
    }

    #[test]
    fn a_keyword_is_looked_up_by_its_pairs_only() {
        assert_eq!(keyword_pairs("垃圾"), ["垃圾"]);
        assert_eq!(keyword_pairs("垃圾桶"), ["垃圾", "圾桶"]);
        assert_eq!(keyword_pairs("路"), Vec::<String>::new());
        assert_eq!(keyword_pairs("垃圾 桶"), ["垃圾"]);
        assert_eq!(keyword_pairs("%_"), Vec::<String>::new());
    }

    proptest! {
        /// A text that holds a keyword holds every pair it is looked up by:
        /// the index never hides a case the keyword is in.
        #[test]
        fn a_text_holding_a_keyword_has_all_its_pairs(
            text in "[垃圾桶满溢路灯a-cA-C0-9 ，%_]{0,24}",
            start in 0usize..24,
            len in 0usize..12,
        ) {
            let chars: Vec<char> = text.chars().collect();
            let start = start.min(chars.len());
            let end = (start + len).min(chars.len());
            let keyword: String = chars[start..end].iter().collect();
            let indexed = words(&text);
            for pair in keyword_pairs(&keyword) {
                prop_assert!(indexed.contains(&pair), "{pair} of {keyword:?} not among the words of {text:?}");
            }
        }
    }
}
