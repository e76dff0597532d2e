//! One answer, two renderings: Open311's JSON is the "Spark" mapping of its
//! XML, so every endpoint builds a JSON value and this writes the XML from
//! it: an array becomes its plural element holding one singular element per
//! item, an object its fields, `null` an empty element.

use serde_json::Value;

/// The element of one item of a list (GeoReport v2 and mySociety's names).
fn singular(plural: &str) -> &str {
    match plural {
        "services" => "service",
        "service_requests" => "request",
        "service_request_updates" => "request_update",
        "errors" => "error",
        "attributes" => "attribute",
        "values" => "value",
        "endpoints" => "endpoint",
        "formats" => "format",
        other => other.strip_suffix('s').unwrap_or(other),
    }
}

/// Escapes text for an element's content.
fn escape(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            // Control characters other than tab and newlines, and U+FFFE/U+FFFF, are not XML.
            c if ((c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{fffe}' | '\u{ffff}') => {}
            c => out.push(c),
        }
    }
}

fn element(name: &str, value: &Value, out: &mut String) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    match value {
        Value::Null => {}
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => escape(s, out),
        Value::Array(items) => {
            let item = singular(name);
            for v in items {
                element(item, v, out);
            }
        }
        Value::Object(fields) => {
            for (k, v) in fields {
                element(k, v, out);
            }
        }
    }
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// The XML document of `value` under the root element `root`.
pub fn document(root: &str, value: &Value) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
    element(root, value, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_hold_their_singular_items_and_text_is_escaped() {
        let v = json!([{"service_code": "09006", "service_name": "占道经营 <街面>", "metadata": true, "group": null}]);
        assert_eq!(
            document("services", &v),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><services><service><service_code>09006</service_code>\
             <service_name>占道经营 &lt;街面&gt;</service_name><metadata>true</metadata><group></group></service></services>"
        );
        let nested = json!({"service_code": "1", "attributes": [{"values": [{"key": "0", "name": "a&b"}]}]});
        assert_eq!(
            document("service_definition", &nested),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><service_definition><service_code>1</service_code><attributes>\
             <attribute><values><value><key>0</key><name>a&amp;b</name></value></values></attribute></attributes>\
             </service_definition>"
        );
        assert!(
            document("errors", &json!([{"code": 400, "description": "x\u{1}y"}]))
                .contains("<code>400</code><description>xy</description>")
        );
    }
}
