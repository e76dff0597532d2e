//! `GET /api/v1/docs`: the OpenAPI document (`api::openapi`) as a page to
//! read, grouped by tag, each operation with its parameters, body and answers.

use askama::Template;
use serde_json::Value;

use super::Nav;

/// A parameter of an operation.
pub struct Param {
    name: String,
    place: String,
    required: bool,
    description: String,
}

/// One operation.
pub struct Operation {
    method: String,
    path: String,
    summary: String,
    params: Vec<Param>,
    body: String,
    responses: Vec<(String, String)>,
}

/// The page.
#[derive(Template)]
#[template(path = "api_docs.html")]
pub struct ApiDocsPage {
    nav: Option<Nav>,
    title: String,
    description: String,
    groups: Vec<(String, String, Vec<Operation>)>,
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// The page of a document.
pub fn page(doc: &utoipa::openapi::OpenApi) -> ApiDocsPage {
    let doc = serde_json::to_value(doc).expect("an OpenAPI document serialises");
    let tags: Vec<(String, String)> = doc["tags"]
        .as_array()
        .map(|t| t.iter().map(|t| (text(&t["name"]), text(&t["description"]))).collect())
        .unwrap_or_default();
    let mut groups: Vec<(String, String, Vec<Operation>)> =
        tags.into_iter().map(|(name, description)| (name, description, Vec::new())).collect();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            let params = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| Param {
                    name: text(&p["name"]),
                    place: text(&p["in"]),
                    required: p["required"].as_bool().unwrap_or(false),
                    description: text(&p["description"]),
                })
                .collect();
            let body = op["requestBody"]["content"]
                .as_object()
                .map(|c| {
                    c.iter()
                        .map(|(mime, m)| {
                            let schema = m["schema"]["$ref"].as_str().and_then(|r| r.rsplit('/').next()).unwrap_or("");
                            format!("{mime} {schema}").trim().to_string()
                        })
                        .collect::<Vec<_>>()
                        .join("；")
                })
                .unwrap_or_default();
            let responses = op["responses"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(status, r)| (status.clone(), text(&r["description"])))
                .collect();
            let operation = Operation {
                method: method.to_uppercase(),
                path: path.clone(),
                summary: text(&op["summary"]),
                params,
                body,
                responses,
            };
            let tag = op["tags"][0].as_str().unwrap_or("").to_string();
            match groups.iter_mut().find(|g| g.0 == tag) {
                Some(group) => group.2.push(operation),
                None => groups.push((tag, String::new(), vec![operation])),
            }
        }
    }
    ApiDocsPage {
        nav: None,
        title: text(&doc["info"]["title"]),
        description: text(&doc["info"]["description"]),
        groups,
    }
}
