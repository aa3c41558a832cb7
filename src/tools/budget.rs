//! Keeps results within a model's context: Claude Code refuses tool results over 25k tokens,
//! and a long list is rarely worth more than a few thousand.

use serde_json::{Value, json};

/// About 15k tokens of JSON.
const MAX_RESULT_BYTES: usize = 60_000;
/// Room for the note added when a list is cut.
const NOTE_ROOM: usize = 400;

/// The result as JSON text, within budget: an oversized result first loses the tail of its
/// largest top-level list (keeping at least one item) and says so: `count` follows the kept
/// items, `truncated` is set, and `note` names what was left out and how to see it.
pub fn fit(result: &mut Value) -> String {
    let text = result.to_string();
    if text.len() <= MAX_RESULT_BYTES || !cut(result, text.len()) {
        return text;
    }
    result.to_string()
}

/// Shortens the largest list of a result of `size` bytes; false when there is nothing to cut.
fn cut(result: &mut Value, size: usize) -> bool {
    let Some(object) = result.as_object_mut() else {
        return false;
    };
    let Some(key) =
        object.iter().filter(|(_, v)| v.is_array()).max_by_key(|(_, v)| json_len(v)).map(|(k, _)| k.clone())
    else {
        return false;
    };
    let items = object[&key].as_array().expect("chosen for being an array");
    let mut room = MAX_RESULT_BYTES.saturating_sub(size - json_len(&object[&key]) + NOTE_ROOM);
    let keep = items
        .iter()
        .take_while(|item| {
            let cost = json_len(item) + 1;
            let fits = cost <= room;
            room = room.saturating_sub(cost);
            fits
        })
        .count()
        .max(1);
    let total = items.len();
    if keep >= total {
        return false;
    }
    object.get_mut(&key).and_then(Value::as_array_mut).expect("still an array").truncate(keep);
    if object.contains_key("count") {
        object.insert("count".into(), json!(keep));
    }
    object.insert("truncated".into(), json!(true));
    object.insert(
        "note".into(),
        json!(format!(
            "Shortened to fit the response size budget: kept the first {keep} of {total} {key}. \
             Narrow the filter or lower `limit` to see the rest."
        )),
    );
    true
}

fn json_len(value: &Value) -> usize {
    serde_json::to_vec(value).map_or(0, |bytes| bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_results_are_untouched() {
        let mut value = json!({"success": true, "count": 2, "items": [1, 2], "truncated": false});
        let before = value.clone();
        assert_eq!(fit(&mut value), before.to_string());
        assert_eq!(value, before);
    }

    #[test]
    fn oversized_results_lose_their_tail_with_a_note() {
        let row = "x".repeat(1000);
        let mut value = json!({"success": true, "count": 200, "logs": vec![row; 200], "truncated": false});
        let text = fit(&mut value);
        assert_eq!(text, value.to_string(), "the text is the shortened result");
        assert!(text.len() <= MAX_RESULT_BYTES);
        let kept = value["logs"].as_array().unwrap().len();
        assert!(kept > 50 && kept < 60, "{kept}");
        assert_eq!(value["count"], json!(kept));
        assert_eq!(value["truncated"], json!(true));
        assert!(value["note"].as_str().unwrap().contains(&format!("kept the first {kept} of 200 logs")));
    }

    #[test]
    fn a_single_huge_item_is_kept() {
        let mut value = json!({"success": true, "count": 1, "deployments": ["y".repeat(MAX_RESULT_BYTES * 2)]});
        fit(&mut value);
        assert_eq!(value["deployments"].as_array().unwrap().len(), 1);
    }
}
