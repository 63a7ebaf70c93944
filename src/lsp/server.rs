//! Stage `lsp`: the main loop over one `lsp_server::Connection`. It takes
//! messages in order: notifications change the workspace and publish the
//! diagnostics of every file the change touched; requests are answered from
//! the workspace as it is.
//!
//! Bad input — unknown methods, parameters that do not fit, positions out
//! of range, a change to a file that is not open — gets the protocol's
//! error or a log line, never a panic or an exit. The loop ends on `exit`
//! or when the input closes.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use lsp_server::{Connection, ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types::notification::{self as note, Notification as _};
use lsp_types::request::{self as req, Request as _};
use lsp_types::{
    CodeDescription, Diagnostic, DiagnosticRelatedInformation, DiagnosticSeverity,
    DidChangeTextDocumentParams, DidChangeWatchedFilesParams,
    DidChangeWatchedFilesRegistrationOptions, DidCloseTextDocumentParams,
    DidOpenTextDocumentParams, FileSystemWatcher, GlobPattern, InitializeParams, Location,
    NumberOrString, OneOf, PublishDiagnosticsParams, Registration, RegistrationParams,
    ServerCapabilities, ServerInfo, TextDocumentSyncCapability, TextDocumentSyncKind, Uri,
};
use serde_json::Value;

use crate::cli::check::Checkout;
use crate::diagnostic::{ConfigError, ErrorKind, Severity};

use super::features;
use super::text::{Encoding, Text};
use super::workspace::{Content, Workspace};

/// How the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// `exit` after `shutdown`: exit code 0.
    Clean,
    /// `exit` without `shutdown`, or the input closed first: exit code 1
    /// (as the protocol asks).
    Abrupt,
}

/// Where the rules behind each error kind are written down: the
/// repository's `docs/errors.md`, one heading per kind.
fn rule_doc(kind: ErrorKind) -> Option<Uri> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/errors.md");
    let mut url = url::Url::from_file_path(path).ok()?;
    url.set_fragment(Some(kind.as_str()));
    Uri::from_str(url.as_str()).ok()
}

/// The name diagnostics carry as their `source`.
pub const SOURCE: &str = "qa-reload";

/// An open buffer.
struct Open {
    uri: Uri,
    version: i32,
}

/// The server's state between messages.
pub(super) struct State {
    pub ws: Workspace,
    pub enc: Encoding,
    root: PathBuf,
    /// Repository-relative path → the buffer the editor has open.
    open: HashMap<String, Open>,
    /// What was last published per file (files with nothing to report and
    /// nothing published before are left out).
    published: HashMap<String, Vec<Diagnostic>>,
    shutdown: bool,
}

/// Runs the server on `connection` until `exit` or the input closes.
/// `repo` is the folder to serve when the client names no workspace.
pub fn run(connection: &Connection, repo: &Path) -> Exit {
    let Some((id, params, raw)) = wait_for_initialize(connection) else {
        return Exit::Abrupt;
    };
    let root = workspace_root(&params).unwrap_or_else(|| repo.to_path_buf());
    let checkout = match Checkout::open(&root) {
        Ok(c) => c,
        Err(message) => {
            tracing::error!("lsp: {message}");
            respond(
                connection,
                Response::new_err(id, ErrorCode::RequestFailed as i32, message),
            );
            return Exit::Abrupt;
        }
    };
    let (enc, legacy) = negotiate(&params, &raw);
    let mut result = serde_json::json!({
        "capabilities": capabilities(enc),
        "serverInfo": ServerInfo {
            name: "qa-reload".into(),
            version: Some(env!("CARGO_PKG_VERSION").into()),
        },
    });
    if legacy {
        result["offsetEncoding"] = Value::from(enc.kind().as_str());
    }
    respond(connection, Response::new_ok(id, result));
    let started = std::time::Instant::now();
    let ws = Workspace::load(checkout);
    tracing::info!(
        "lsp: loaded {} files in {} ms",
        ws.len(),
        started.elapsed().as_millis()
    );
    let root = std::fs::canonicalize(&root).unwrap_or(root);
    let mut state = State {
        ws,
        enc,
        root,
        open: HashMap::new(),
        published: HashMap::new(),
        shutdown: false,
    };
    if watches_files(&params) {
        register_watchers(connection);
    }
    let all = state.ws.files_with_problems().into_iter().collect();
    state.publish(connection, &all);
    for message in &connection.receiver {
        match message {
            Message::Request(request) => state.request(connection, request),
            Message::Notification(n) if n.method == note::Exit::METHOD => {
                return if state.shutdown {
                    Exit::Clean
                } else {
                    Exit::Abrupt
                };
            }
            Message::Notification(n) => state.notification(connection, n),
            Message::Response(_) => {}
        }
    }
    Exit::Abrupt
}

/// Waits for `initialize`, answering other requests with "not
/// initialized" and dropping notifications. `None`: exit or the input
/// closed first.
fn wait_for_initialize(connection: &Connection) -> Option<(RequestId, InitializeParams, Value)> {
    for message in &connection.receiver {
        match message {
            Message::Request(r) if r.method == req::Initialize::METHOD => {
                match serde_json::from_value::<InitializeParams>(r.params.clone()) {
                    Ok(params) => return Some((r.id, params, r.params)),
                    Err(e) => respond(
                        connection,
                        Response::new_err(
                            r.id,
                            ErrorCode::InvalidParams as i32,
                            format!("initialize: {e}"),
                        ),
                    ),
                }
            }
            Message::Request(r) => respond(
                connection,
                Response::new_err(
                    r.id,
                    ErrorCode::ServerNotInitialized as i32,
                    "send initialize first".into(),
                ),
            ),
            Message::Notification(n) if n.method == note::Exit::METHOD => return None,
            Message::Notification(_) | Message::Response(_) => {}
        }
    }
    None
}

/// The folder the client opened, if it names one that exists.
fn workspace_root(params: &InitializeParams) -> Option<PathBuf> {
    let folder = params
        .workspace_folders
        .as_ref()
        .and_then(|f| f.first())
        .map(|f| f.uri.clone());
    #[allow(deprecated)]
    let uri = folder.or_else(|| params.root_uri.clone())?;
    let path = url::Url::parse(uri.as_str()).ok()?.to_file_path().ok()?;
    path.is_dir().then_some(path)
}

/// The position encoding, and whether the client asked with the older
/// `offsetEncoding` capability (so the answer must use that name too).
fn negotiate(params: &InitializeParams, raw: &Value) -> (Encoding, bool) {
    if let Some(offered) = params
        .capabilities
        .general
        .as_ref()
        .and_then(|g| g.position_encodings.as_ref())
    {
        return (Encoding::negotiate(offered), false);
    }
    let legacy: Vec<lsp_types::PositionEncodingKind> = raw
        .pointer("/capabilities/offsetEncoding")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|s| lsp_types::PositionEncodingKind::from(s.to_string()))
                .collect()
        })
        .unwrap_or_default();
    (Encoding::negotiate(&legacy), !legacy.is_empty())
}

fn capabilities(enc: Encoding) -> ServerCapabilities {
    ServerCapabilities {
        position_encoding: Some(enc.kind()),
        text_document_sync: Some(TextDocumentSyncCapability::Kind(TextDocumentSyncKind::FULL)),
        hover_provider: Some(lsp_types::HoverProviderCapability::Simple(true)),
        completion_provider: Some(lsp_types::CompletionOptions {
            trigger_characters: Some(vec![":".into(), " ".into()]),
            ..Default::default()
        }),
        definition_provider: Some(OneOf::Left(true)),
        references_provider: Some(OneOf::Left(true)),
        document_symbol_provider: Some(OneOf::Left(true)),
        code_action_provider: Some(lsp_types::CodeActionProviderCapability::Simple(true)),
        rename_provider: Some(OneOf::Right(lsp_types::RenameOptions {
            prepare_provider: Some(true),
            work_done_progress_options: Default::default(),
        })),
        ..Default::default()
    }
}

fn watches_files(params: &InitializeParams) -> bool {
    params
        .capabilities
        .workspace
        .as_ref()
        .and_then(|w| w.did_change_watched_files)
        .and_then(|d| d.dynamic_registration)
        .unwrap_or(false)
}

/// Asks the client to report changes to the files qa-reload reads (and
/// to their folders, so a removed or checked-out folder is seen).
fn register_watchers(connection: &Connection) {
    let watchers = [
        "**/workflows/**",
        "**/config/*.yaml",
        "**/workflows",
        "**/config",
    ]
    .into_iter()
    .map(|glob| FileSystemWatcher {
        glob_pattern: GlobPattern::String(glob.into()),
        kind: None,
    })
    .collect();
    let options = DidChangeWatchedFilesRegistrationOptions { watchers };
    let params = RegistrationParams {
        registrations: vec![Registration {
            id: "qa-reload-files".into(),
            method: note::DidChangeWatchedFiles::METHOD.into(),
            register_options: serde_json::to_value(options).ok(),
        }],
    };
    let request = Request::new(
        RequestId::from("qa-reload-register".to_string()),
        req::RegisterCapability::METHOD.into(),
        params,
    );
    respond_message(connection, request.into());
}

fn respond(connection: &Connection, response: Response) {
    respond_message(connection, response.into());
}

fn respond_message(connection: &Connection, message: Message) {
    if connection.sender.send(message).is_err() {
        tracing::warn!("lsp: the client is gone; a message was not sent");
    }
}

impl State {
    fn request(&mut self, connection: &Connection, request: Request) {
        let Request { id, method, params } = request;
        if self.shutdown {
            respond(
                connection,
                Response::new_err(
                    id,
                    ErrorCode::InvalidRequest as i32,
                    "the server is shutting down".into(),
                ),
            );
            return;
        }
        if method == req::Shutdown::METHOD {
            self.shutdown = true;
            respond(connection, Response::new_ok(id, Value::Null));
            return;
        }
        let response = match features::answer(self, &method, params) {
            Ok(value) => Response::new_ok(id, value),
            Err(features::Refusal::UnknownMethod) => {
                tracing::info!("lsp: no such method: {method}");
                Response::new_err(
                    id,
                    ErrorCode::MethodNotFound as i32,
                    format!("no such method: {method}"),
                )
            }
            Err(features::Refusal::BadParams(e)) => {
                tracing::warn!("lsp: {method}: parameters refused: {e}");
                Response::new_err(
                    id,
                    ErrorCode::InvalidParams as i32,
                    format!("{method}: {e}"),
                )
            }
            Err(features::Refusal::Failed(message)) => {
                Response::new_err(id, ErrorCode::RequestFailed as i32, message)
            }
        };
        respond(connection, response);
    }

    fn notification(&mut self, connection: &Connection, n: Notification) {
        let method = n.method.clone();
        let touched = match method.as_str() {
            note::DidOpenTextDocument::METHOD => n
                .extract::<DidOpenTextDocumentParams>(&method)
                .map(|p| self.did_open(p)),
            note::DidChangeTextDocument::METHOD => n
                .extract::<DidChangeTextDocumentParams>(&method)
                .map(|p| self.did_change(p)),
            note::DidCloseTextDocument::METHOD => n
                .extract::<DidCloseTextDocumentParams>(&method)
                .map(|p| self.did_close(p)),
            note::DidChangeWatchedFiles::METHOD => n
                .extract::<DidChangeWatchedFilesParams>(&method)
                .map(|p| self.watched(p)),
            note::Initialized::METHOD | note::DidSaveTextDocument::METHOD | "$/cancelRequest" => {
                return;
            }
            _ => {
                tracing::debug!("lsp: ignored notification {method}");
                return;
            }
        };
        match touched {
            Ok(touched) => self.publish(connection, &touched),
            Err(e) => tracing::warn!("lsp: {method}: parameters refused: {e}"),
        }
    }

    fn did_open(&mut self, p: DidOpenTextDocumentParams) -> BTreeSet<String> {
        let Some(rel) = self.rel(&p.text_document.uri) else {
            return BTreeSet::new();
        };
        self.open.insert(
            rel.clone(),
            Open {
                uri: p.text_document.uri,
                version: p.text_document.version,
            },
        );
        self.ws.set(
            &rel,
            Content::Bytes(p.text_document.text.into_bytes()),
            true,
        )
    }

    fn did_change(&mut self, p: DidChangeTextDocumentParams) -> BTreeSet<String> {
        let Some(rel) = self.rel(&p.text_document.uri) else {
            return BTreeSet::new();
        };
        let Some(open) = self.open.get_mut(&rel) else {
            tracing::warn!("lsp: a change to {rel}, which is not open, was ignored");
            return BTreeSet::new();
        };
        open.version = p.text_document.version;
        let mut text = self
            .ws
            .doc(&rel)
            .map(|d| d.text.as_str().to_string())
            .unwrap_or_default();
        for change in p.content_changes {
            match change.range {
                None => text = change.text,
                Some(range) => {
                    let index = Text::new(text);
                    let start = index.offset(range.start, self.enc);
                    let end = index.offset(range.end, self.enc).max(start);
                    let mut next = index.as_str().to_string();
                    next.replace_range(start..end, &change.text);
                    text = next;
                }
            }
        }
        self.ws.set(&rel, Content::Bytes(text.into_bytes()), true)
    }

    fn did_close(&mut self, p: DidCloseTextDocumentParams) -> BTreeSet<String> {
        let Some(rel) = self.rel(&p.text_document.uri) else {
            return BTreeSet::new();
        };
        if self.open.remove(&rel).is_none() {
            return BTreeSet::new();
        }
        self.ws.reread(&rel)
    }

    fn watched(&mut self, p: DidChangeWatchedFilesParams) -> BTreeSet<String> {
        let mut touched = BTreeSet::new();
        let mut rescan = false;
        for change in p.changes {
            match self.rel(&change.uri) {
                Some(rel) if crate::load::config::FileRole::of(&rel).is_some() => {
                    if !self.open.contains_key(&rel) {
                        touched.extend(self.ws.reread(&rel));
                    }
                }
                // A folder (or something qa-reload does not read) changed:
                // look at the whole disk again.
                _ => rescan = true,
            }
        }
        if rescan {
            let open = &self.open;
            touched.extend(self.ws.rescan(&|rel| open.contains_key(rel)));
        }
        touched
    }

    /// The repository-relative path of a `file:` URI inside the root.
    pub(super) fn rel(&self, uri: &Uri) -> Option<String> {
        let path = url::Url::parse(uri.as_str()).ok()?.to_file_path().ok()?;
        let inside = path
            .strip_prefix(&self.root)
            .ok()
            .map(Path::to_path_buf)
            .or_else(|| {
                // The client may name the root through a link: compare real paths.
                let parent = std::fs::canonicalize(path.parent()?).ok()?;
                let full = parent.join(path.file_name()?);
                full.strip_prefix(&self.root).ok().map(Path::to_path_buf)
            })?;
        let parts: Option<Vec<&str>> = inside.iter().map(|p| p.to_str()).collect();
        Some(parts?.join("/"))
    }

    /// The URI of a repository-relative path: the open buffer's own, or
    /// one made from the path.
    pub(super) fn uri(&self, rel: &str) -> Option<Uri> {
        if let Some(open) = self.open.get(rel) {
            return Some(open.uri.clone());
        }
        let url = url::Url::from_file_path(self.root.join(rel)).ok()?;
        Uri::from_str(url.as_str()).ok()
    }

    /// The text of `rel` as the editor sees it (empty when unknown).
    pub(super) fn text_of(&self, rel: &str) -> Option<&Text> {
        self.ws.doc(rel).map(|d| &d.text)
    }

    /// Publishes the diagnostics of each file whose list changed.
    fn publish(&mut self, connection: &Connection, files: &BTreeSet<String>) {
        for rel in files {
            let diagnostics = self.diagnostics(rel);
            let before = self.published.get(rel);
            if before.map_or(diagnostics.is_empty(), |b| *b == diagnostics) {
                continue;
            }
            let Some(uri) = self.uri(rel) else {
                continue;
            };
            let params = PublishDiagnosticsParams {
                uri,
                diagnostics: diagnostics.clone(),
                version: self.open.get(rel).map(|o| o.version),
            };
            if diagnostics.is_empty() {
                self.published.remove(rel);
            } else {
                self.published.insert(rel.clone(), diagnostics);
            }
            respond_message(
                connection,
                Notification::new(note::PublishDiagnostics::METHOD.into(), params).into(),
            );
        }
    }

    /// `check`'s errors of `rel` as protocol diagnostics, and a note on
    /// the file serving an id that other files also declare.
    pub(super) fn diagnostics(&self, rel: &str) -> Vec<Diagnostic> {
        let empty = Text::default();
        let text = self.text_of(rel).unwrap_or(&empty);
        let mut out: Vec<Diagnostic> = self
            .ws
            .diagnostics(rel)
            .iter()
            .map(|e| self.diagnostic(e, text))
            .collect();
        if let Some(w) = self.ws.doc(rel).and_then(|d| d.workflow()) {
            let others = self.ws.shared_with(rel);
            if let Some(first) = others.first() {
                // One note, however many files repeat the id.
                let more = match others.len() {
                    1 => String::new(),
                    n => format!(" and {} more files", n - 1),
                };
                let related = others
                    .iter()
                    .take(10)
                    .filter_map(|other| self.location(other, self.id_pos(other)))
                    .map(|location| DiagnosticRelatedInformation {
                        location,
                        message: "another declaration".into(),
                    })
                    .collect();
                out.push(Diagnostic {
                    range: text.word_range(w.id_pos, self.enc),
                    severity: Some(DiagnosticSeverity::INFORMATION),
                    code: Some(NumberOrString::String(ErrorKind::Reference.as_str().into())),
                    code_description: rule_doc(ErrorKind::Reference)
                        .map(|href| CodeDescription { href }),
                    source: Some(SOURCE.into()),
                    message: format!(
                        "workflow id `{}` is also declared by {first}{more}, which report it as a duplicate",
                        w.id
                    ),
                    related_information: Some(related),
                    tags: None,
                    data: None,
                });
            }
        }
        out
    }

    fn id_pos(&self, rel: &str) -> crate::diagnostic::Pos {
        self.ws
            .doc(rel)
            .and_then(|d| d.workflow())
            .map_or(crate::diagnostic::Pos::START, |w| w.id_pos)
    }

    /// A location in another file.
    pub(super) fn location(&self, rel: &str, pos: crate::diagnostic::Pos) -> Option<Location> {
        let empty = Text::default();
        let text = self.text_of(rel).unwrap_or(&empty);
        Some(Location {
            uri: self.uri(rel)?,
            range: text.word_range(pos, self.enc),
        })
    }

    fn diagnostic(&self, e: &ConfigError, text: &Text) -> Diagnostic {
        // A duplicate id points at the file that serves it.
        let related = self
            .ws
            .doc(&e.file)
            .and_then(|d| d.workflow())
            .filter(|w| e.kind == ErrorKind::Reference && e.pos() == w.id_pos)
            .and_then(|w| {
                self.ws
                    .declaring(&w.id)
                    .find(|(rel, _)| self.ws.shared_with(rel).contains(&e.file))
            })
            .and_then(|(winner, w)| self.location(winner, w.id_pos))
            .map(|location| {
                vec![DiagnosticRelatedInformation {
                    location,
                    message: "the file that serves this id".into(),
                }]
            });
        Diagnostic {
            range: text.word_range(e.pos(), self.enc),
            severity: Some(match e.severity {
                Severity::Error => DiagnosticSeverity::ERROR,
                Severity::Warning => DiagnosticSeverity::WARNING,
            }),
            code: Some(NumberOrString::String(e.kind.as_str().into())),
            code_description: rule_doc(e.kind).map(|href| CodeDescription { href }),
            source: Some(SOURCE.into()),
            message: e.message.clone(),
            related_information: related,
            tags: None,
            data: None,
        }
    }
}

/// An error the transport could not tie to a request.
pub(super) fn params<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, String> {
    serde_json::from_value(value).map_err(|e| e.to_string())
}
