//! Stage `lsp`: the answers to requests — hover, completion, definition,
//! references, document symbols, code actions, rename — from the workspace
//! as it is. Key texts come from `load::shape` (the table the JSON Schemas
//! are written from); fixes are the ones `check`'s messages suggest.
//!
//! Read-only: nothing here changes the workspace. A position out of range
//! is clamped; a request about a file qa-reload does not read answers
//! `null`.

use std::collections::HashMap;

use lsp_types::request::{self as req, Request as _};
use lsp_types::{
    CodeAction, CodeActionKind, CodeActionOrCommand, CodeActionParams, CompletionItem,
    CompletionItemKind, CompletionParams, CompletionResponse, CreateFile, CreateFileOptions,
    DocumentChangeOperation, DocumentChanges, DocumentSymbol, DocumentSymbolParams,
    DocumentSymbolResponse, GotoDefinitionParams, GotoDefinitionResponse, Hover, HoverContents,
    HoverParams, Location, MarkupContent, MarkupKind, OneOf,
    OptionalVersionedTextDocumentIdentifier, Position, PrepareRenameResponse, Range,
    ReferenceParams, RenameParams, ResourceOp, SymbolKind, TextDocumentEdit,
    TextDocumentPositionParams, TextEdit, Uri, WorkspaceEdit,
};
use serde_json::Value;

use crate::diagnostic::{ConfigError, Pos};
use crate::load::config::FileRole;
use crate::load::node::{Node, Value as Yaml};
use crate::load::schema;
use crate::load::shape::Ty;
use crate::model::IntegrationKind;

use super::cursor::{self, At, Span, is_step};
use super::server::State;
use super::text::Text;

/// Why a request got no result.
pub enum Refusal {
    UnknownMethod,
    BadParams(String),
    Failed(String),
}

/// Answers one request (`shutdown` excepted, which the loop handles).
pub fn answer(state: &State, method: &str, params: Value) -> Result<Value, Refusal> {
    fn p<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, Refusal> {
        super::server::params(v).map_err(Refusal::BadParams)
    }
    let json = |v: Result<Value, serde_json::Error>| v.map_err(|e| Refusal::Failed(e.to_string()));
    match method {
        req::HoverRequest::METHOD => json(serde_json::to_value(hover(
            state,
            &p::<HoverParams>(params)?,
        ))),
        req::Completion::METHOD => json(serde_json::to_value(complete(
            state,
            &p::<CompletionParams>(params)?,
        ))),
        req::GotoDefinition::METHOD => json(serde_json::to_value(definition(
            state,
            &p::<GotoDefinitionParams>(params)?,
        ))),
        req::References::METHOD => json(serde_json::to_value(references(
            state,
            &p::<ReferenceParams>(params)?,
        ))),
        req::DocumentSymbolRequest::METHOD => json(serde_json::to_value(symbols(
            state,
            &p::<DocumentSymbolParams>(params)?,
        ))),
        req::CodeActionRequest::METHOD => json(serde_json::to_value(actions(
            state,
            &p::<CodeActionParams>(params)?,
        ))),
        req::PrepareRenameRequest::METHOD => json(serde_json::to_value(prepare_rename(
            state,
            &p::<TextDocumentPositionParams>(params)?,
        ))),
        req::Rename::METHOD => {
            let edit = rename(state, &p::<RenameParams>(params)?)?;
            json(serde_json::to_value(edit))
        }
        _ => Err(Refusal::UnknownMethod),
    }
}

/// The file, its text and what is at the position.
struct Here<'a> {
    rel: String,
    role: FileRole,
    text: &'a Text,
    at: At,
}

fn here<'a>(state: &'a State, uri: &Uri, position: Position) -> Option<Here<'a>> {
    let rel = state.rel(uri)?;
    let role = FileRole::of(&rel)?;
    let text = state.text_of(&rel)?;
    let pos = text.pos(position, state.enc);
    let line = pos.line - 1;
    let col = pos.col - 1;
    Some(Here {
        at: cursor::at(text, role, line, col),
        rel,
        role,
        text,
    })
}

impl Here<'_> {
    fn range(&self, span: &Span, state: &State) -> Range {
        let line = self.at.line + 1;
        Range {
            start: self
                .text
                .position(Pos::new(line, span.start + 1), state.enc),
            end: self.text.position(Pos::new(line, span.end + 1), state.enc),
        }
    }

    /// The value of the line when the cursor is on it and the key is `key`.
    fn value_of(&self, key: &str) -> Option<&Span> {
        let k = self.at.parsed.key.as_ref()?;
        (k.text == key && !self.at.on_key).then_some(())?;
        self.at.parsed.value.as_ref()
    }

    /// The integration a step's `integration:` names at the cursor.
    fn integration(&self) -> Option<IntegrationKind> {
        if !matches!(self.at.shape, Some(s) if is_step(s)) {
            return None;
        }
        self.value_of("integration")?.text.parse().ok()
    }
}

fn markdown(value: String) -> Hover {
    Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value,
        }),
        range: None,
    }
}

fn hover(state: &State, p: &HoverParams) -> Option<Hover> {
    let tdp = &p.text_document_position_params;
    let h = here(state, &tdp.text_document.uri, tdp.position)?;
    if let Some(kind) = h.integration() {
        let (file, doc) = state.ws.integration_file(kind)?;
        let url = doc.integration().map_or_else(
            || "(the file has errors)".to_string(),
            |i| i.base_url.shown(),
        );
        return Some(markdown(format!(
            "**{kind}** integration\n\nbase URL: `{url}`\n\nfile: `{file}`"
        )));
    }
    let field = h.at.field()?;
    if !h.at.on_key {
        return None;
    }
    let mut text = format!("**{}**: {}", field.key, field.help());
    if h.role == FileRole::Workflow
        && h.at.parsed.indent == 0
        && let Some(w) = state.ws.doc(&h.rel).and_then(|d| d.workflow())
    {
        let minutes: u64 = w.steps.iter().map(|s| u64::from(s.estimated_minutes)).sum();
        text.push_str(&format!(
            "\n\nworkflow `{}`: {} steps, {minutes} minutes estimated in total",
            w.id,
            w.steps.len()
        ));
    }
    Some(markdown(text))
}

fn complete(state: &State, p: &CompletionParams) -> Option<CompletionResponse> {
    let tdp = &p.text_document_position;
    let h = here(state, &tdp.text_document.uri, tdp.position)?;
    let shape = h.at.shape?;
    let items: Vec<CompletionItem> = if h.at.on_key {
        shape
            .fields
            .iter()
            .filter(|f| !h.at.siblings.iter().any(|s| s == f.key))
            .map(|f| CompletionItem {
                label: f.key.to_string(),
                kind: Some(CompletionItemKind::PROPERTY),
                detail: Some(f.help()),
                insert_text: Some(format!("{}: ", f.key)),
                ..Default::default()
            })
            .collect()
    } else {
        let field = h.at.field()?;
        let value = |label: &str, detail: String| CompletionItem {
            label: label.to_string(),
            kind: Some(CompletionItemKind::VALUE),
            detail: Some(detail),
            ..Default::default()
        };
        match field.ty {
            Ty::Bool => ["true", "false"]
                .into_iter()
                .map(|b| value(b, "boolean".into()))
                .collect(),
            Ty::IntegrationName => state
                .ws
                .configured()
                .iter()
                .map(|k| value(k.as_str(), k.config_file()))
                .collect(),
            _ => return None,
        }
    };
    Some(CompletionResponse::Array(items))
}

fn definition(state: &State, p: &GotoDefinitionParams) -> Option<GotoDefinitionResponse> {
    let tdp = &p.text_document_position_params;
    let h = here(state, &tdp.text_document.uri, tdp.position)?;
    if let Some(kind) = h.integration() {
        let (file, _) = state.ws.integration_file(kind)?;
        return Some(GotoDefinitionResponse::Scalar(
            state.location(&file, Pos::START)?,
        ));
    }
    let others = same_id(state, &h)?;
    Some(GotoDefinitionResponse::Array(others))
}

/// On a workflow's top-level `id`: the other files declaring the same id.
fn same_id(state: &State, h: &Here<'_>) -> Option<Vec<Location>> {
    if h.role != FileRole::Workflow || h.at.parsed.indent != 0 {
        return None;
    }
    let id = &h
        .at
        .parsed
        .value
        .as_ref()
        .filter(|_| h.at.parsed.key.as_ref().is_some_and(|k| k.text == "id"))?
        .text;
    let others: Vec<Location> = state
        .ws
        .declaring(id)
        .filter(|(rel, _)| *rel != h.rel)
        .filter_map(|(rel, w)| state.location(rel, w.id_pos))
        .collect();
    (!others.is_empty()).then_some(others)
}

fn references(state: &State, p: &ReferenceParams) -> Option<Vec<Location>> {
    let tdp = &p.text_document_position;
    let h = here(state, &tdp.text_document.uri, tdp.position)?;
    let kind = match h.role {
        FileRole::Integration(kind) => kind,
        FileRole::Workflow => match h.integration() {
            Some(kind) => kind,
            None => return same_id(state, &h),
        },
        FileRole::Settings => return None,
    };
    let mut out = Vec::new();
    for (rel, w) in state.ws.users(kind) {
        for step in &w.steps {
            if step.integration.as_deref() == Some(kind.as_str()) {
                out.extend(state.location(rel, step.integration_pos));
            }
        }
    }
    Some(out)
}

/// The steps of a workflow's tree: (id, name, first line) each.
fn steps_of(tree: &Node) -> Vec<(String, String, u32)> {
    let Some(steps) = tree.get("steps") else {
        return Vec::new();
    };
    let Yaml::Seq(items) = &steps.value.value else {
        return Vec::new();
    };
    items
        .iter()
        .map(|item| {
            let text = |key: &str| {
                item.get(key)
                    .and_then(|e| e.value.scalar_text())
                    .unwrap_or_default()
            };
            (text("id"), text("name"), item.pos.line)
        })
        .collect()
}

#[allow(deprecated)]
fn symbols(state: &State, p: &DocumentSymbolParams) -> Option<DocumentSymbolResponse> {
    let rel = state.rel(&p.text_document.uri)?;
    let doc = state.ws.doc(&rel)?;
    let tree = doc.load.tree.as_ref()?;
    let text = &doc.text;
    let last = text.line_count();
    let line_range = |from: u32, to: u32| Range {
        start: text.position(Pos::new(from, 1), state.enc),
        end: text.position(Pos::new(to, u32::MAX), state.enc),
    };
    let steps = steps_of(tree);
    let children: Vec<DocumentSymbol> = steps
        .iter()
        .enumerate()
        .map(|(i, (id, name, line))| {
            let end = steps
                .get(i + 1)
                .map_or(last, |next| next.2.saturating_sub(1).max(*line));
            DocumentSymbol {
                name: if id.is_empty() {
                    "(step)".into()
                } else {
                    id.clone()
                },
                detail: (!name.is_empty()).then(|| name.clone()),
                kind: SymbolKind::METHOD,
                tags: None,
                deprecated: None,
                range: line_range(*line, end),
                selection_range: line_range(*line, *line),
                children: None,
            }
        })
        .collect();
    let name = match doc.role {
        FileRole::Workflow => tree
            .get("id")
            .and_then(|e| e.value.scalar_text())
            .unwrap_or_else(|| schema::file_stem(&rel).to_string()),
        _ => rel.clone(),
    };
    Some(DocumentSymbolResponse::Nested(vec![DocumentSymbol {
        name,
        detail: tree.get("name").and_then(|e| e.value.scalar_text()),
        kind: SymbolKind::MODULE,
        tags: None,
        deprecated: None,
        range: line_range(1, last),
        selection_range: line_range(1, 1),
        children: Some(children),
    }]))
}

/// The example configuration of each integration, as this repository
/// ships it: what "create the missing config file" writes.
fn example(kind: IntegrationKind) -> &'static str {
    match kind {
        IntegrationKind::Jira => include_str!("../../config/jira_config.yaml"),
        IntegrationKind::Postman => include_str!("../../config/postman_config.yaml"),
        IntegrationKind::Testmo => include_str!("../../config/testmo_config.yaml"),
    }
}

fn actions(state: &State, p: &CodeActionParams) -> Option<Vec<CodeActionOrCommand>> {
    let uri = &p.text_document.uri;
    let rel = state.rel(uri)?;
    let text = state.text_of(&rel)?;
    let from = p.range.start.line + 1;
    let to = p.range.end.line + 1;
    let mut out = Vec::new();
    for e in state.ws.diagnostics(&rel) {
        if e.line < from || e.line > to {
            continue;
        }
        if let Some(action) = fix(state, uri, text, &e) {
            out.push(CodeActionOrCommand::CodeAction(action));
        }
    }
    Some(out)
}

fn quoted_between(message: &str, before: &str) -> Option<String> {
    let rest = message.split(before).nth(1)?;
    Some(rest.split('`').next()?.to_string())
}

/// The fix a `check` message suggests, as an edit.
// `WorkspaceEdit::changes` is keyed by `Uri`, whose parsed form caches in a
// `Cell`; the key is never changed while in the map.
#[allow(clippy::mutable_key_type)]
fn fix(state: &State, uri: &Uri, text: &Text, e: &ConfigError) -> Option<CodeAction> {
    let range = text.word_range(e.pos(), state.enc);
    let edit = |title: String, new_text: String| {
        let changes = HashMap::from([(uri.clone(), vec![TextEdit { range, new_text }])]);
        CodeAction {
            title,
            kind: Some(CodeActionKind::QUICKFIX),
            edit: Some(WorkspaceEdit {
                changes: Some(changes),
                ..Default::default()
            }),
            is_preferred: Some(true),
            ..Default::default()
        }
    };
    if let Some(suggestion) = quoted_between(&e.message, "did you mean `") {
        return Some(edit(format!("Change to `{suggestion}`"), suggestion));
    }
    if e.message.ends_with("; remove the quotes") {
        let line = text.line(e.line - 1);
        let token: String = line.chars().skip(e.column as usize - 1).collect();
        let quote = token.chars().next().filter(|c| matches!(c, '"' | '\''))?;
        let inner: String = token.chars().skip(1).take_while(|&c| c != quote).collect();
        return Some(edit(format!("Remove the quotes from {inner}"), inner));
    }
    let file = quoted_between(&e.message, "which is not configured; add ").or_else(|| {
        e.message
            .split("which is not configured; add ")
            .nth(1)
            .map(str::to_string)
    })?;
    let kind = FileRole::of(&file).and_then(|r| match r {
        FileRole::Integration(kind) => Some(kind),
        _ => None,
    })?;
    let new_uri = state.uri(&file)?;
    let create = DocumentChangeOperation::Op(ResourceOp::Create(CreateFile {
        uri: new_uri.clone(),
        options: Some(CreateFileOptions {
            overwrite: Some(false),
            ignore_if_exists: Some(true),
        }),
        annotation_id: None,
    }));
    let fill = DocumentChangeOperation::Edit(TextDocumentEdit {
        text_document: OptionalVersionedTextDocumentIdentifier {
            uri: new_uri,
            version: None,
        },
        edits: vec![OneOf::Left(TextEdit {
            range: Range::default(),
            new_text: example(kind).to_string(),
        })],
    });
    Some(CodeAction {
        title: format!("Create {file} from the example"),
        kind: Some(CodeActionKind::QUICKFIX),
        edit: Some(WorkspaceEdit {
            document_changes: Some(DocumentChanges::Operations(vec![create, fill])),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// On a step's `id` value: its range and text.
fn step_id<'a>(state: &State, h: &'a Here<'_>) -> Option<(Range, &'a str)> {
    if !matches!(h.at.shape, Some(s) if is_step(s)) {
        return None;
    }
    let value = h.value_of("id")?;
    (!value.text.is_empty()).then_some((h.range(value, state), value.text.as_str()))
}

fn prepare_rename(state: &State, p: &TextDocumentPositionParams) -> Option<PrepareRenameResponse> {
    let h = here(state, &p.text_document.uri, p.position)?;
    let (range, text) = step_id(state, &h)?;
    Some(PrepareRenameResponse::RangeWithPlaceholder {
        range,
        placeholder: text.to_string(),
    })
}

#[allow(clippy::mutable_key_type)] // as in `fix`
fn rename(state: &State, p: &RenameParams) -> Result<Option<WorkspaceEdit>, Refusal> {
    let tdp = &p.text_document_position;
    let Some(h) = here(state, &tdp.text_document.uri, tdp.position) else {
        return Ok(None);
    };
    let Some((range, old)) = step_id(state, &h) else {
        return Err(Refusal::Failed("only a step's `id` can be renamed".into()));
    };
    let new = p.new_name.trim();
    if !schema::is_valid_id(new) {
        return Err(Refusal::Failed(format!(
            "`{new}` is not a valid step id: lower-case letters, digits and `-`, starting with a letter or digit"
        )));
    }
    let taken = (0..h.text.line_count())
        .filter(|&n| n != h.at.line)
        .map(|n| cursor::at(h.text, h.role, n, 0))
        .any(|at| {
            matches!(at.shape, Some(s) if is_step(s))
                && at.parsed.key.as_ref().is_some_and(|k| k.text == "id")
                && at.parsed.value.as_ref().is_some_and(|v| v.text == new)
        });
    if taken && new != old {
        return Err(Refusal::Failed(format!(
            "step id `{new}` is already used in this workflow"
        )));
    }
    let changes = HashMap::from([(
        tdp.text_document.uri.clone(),
        vec![TextEdit {
            range,
            new_text: new.to_string(),
        }],
    )]);
    Ok(Some(WorkspaceEdit {
        changes: Some(changes),
        ..Default::default()
    }))
}
