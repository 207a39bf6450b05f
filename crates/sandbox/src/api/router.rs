//! Maps a method and path to an operation of the official files. Built once at startup; each
//! route carries its `x-token-cost` and scopes, so the hot path never looks at YAML.

use actix_web::http::Method;

use crate::spec::{self, Api, SpecOp};
use crate::world::entities::EntityKind;

/// What a matched route does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    List(EntityKind),
    Get(EntityKind),
    Create(EntityKind),
    Update(EntityKind),
    Delete(EntityKind),
    Search(EntityKind),
    FieldsList(EntityKind),
    FieldsGet(EntityKind),
    FieldsCreate(EntityKind),
    UsersMe,
    UsersList,
    UsersGet,
    ActivityTypesList,
    WebhooksList,
    WebhooksCreate,
    WebhooksDelete,
}

#[derive(Debug)]
pub struct Route {
    pub api: Api,
    pub method: Method,
    segments: Vec<&'static str>,
    pub op: Op,
    pub spec: &'static SpecOp,
}

impl Route {
    pub fn is_search(&self) -> bool {
        matches!(self.op, Op::Search(_))
    }

    pub fn is_write(&self) -> bool {
        self.method != Method::GET
    }
}

#[derive(Debug)]
pub struct Router {
    routes: Vec<Route>,
}

fn fields_path(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::Deal => "/dealFields",
        EntityKind::Person => "/personFields",
        _ => "/organizationFields",
    }
}

fn fields_item_path(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::Deal => "/dealFields/{field_code}",
        EntityKind::Person => "/personFields/{field_code}",
        _ => "/organizationFields/{field_code}",
    }
}

/// Every operation the sandbox implements, by the file, method and path template it comes from.
fn table() -> Vec<(Api, Method, String, Op)> {
    use EntityKind as E;
    let mut t = Vec::new();
    for kind in [
        E::Deal,
        E::Person,
        E::Organization,
        E::Activity,
        E::Pipeline,
        E::Stage,
    ] {
        let base = format!("/{}", kind.plural());
        let item = format!("{base}/{{id}}");
        t.push((Api::V2, Method::GET, base.clone(), Op::List(kind)));
        t.push((Api::V2, Method::POST, base.clone(), Op::Create(kind)));
        t.push((Api::V2, Method::GET, item.clone(), Op::Get(kind)));
        t.push((Api::V2, Method::PATCH, item.clone(), Op::Update(kind)));
        t.push((Api::V2, Method::DELETE, item, Op::Delete(kind)));
        if kind.has_custom_fields() {
            t.push((
                Api::V2,
                Method::GET,
                format!("{base}/search"),
                Op::Search(kind),
            ));
            let fields = fields_path(kind).to_owned();
            let field = fields_item_path(kind).to_owned();
            t.push((Api::V2, Method::GET, fields.clone(), Op::FieldsList(kind)));
            t.push((Api::V2, Method::POST, fields, Op::FieldsCreate(kind)));
            t.push((Api::V2, Method::GET, field, Op::FieldsGet(kind)));
        }
    }
    let n = E::Note;
    t.push((Api::V1, Method::GET, "/notes".into(), Op::List(n)));
    t.push((Api::V1, Method::POST, "/notes".into(), Op::Create(n)));
    t.push((Api::V1, Method::GET, "/notes/{id}".into(), Op::Get(n)));
    t.push((Api::V1, Method::PUT, "/notes/{id}".into(), Op::Update(n)));
    t.push((Api::V1, Method::DELETE, "/notes/{id}".into(), Op::Delete(n)));
    t.push((Api::V1, Method::GET, "/users/me".into(), Op::UsersMe));
    t.push((Api::V1, Method::GET, "/users".into(), Op::UsersList));
    t.push((Api::V1, Method::GET, "/users/{id}".into(), Op::UsersGet));
    t.push((
        Api::V1,
        Method::GET,
        "/activityTypes".into(),
        Op::ActivityTypesList,
    ));
    t.push((Api::V1, Method::GET, "/webhooks".into(), Op::WebhooksList));
    t.push((
        Api::V1,
        Method::POST,
        "/webhooks".into(),
        Op::WebhooksCreate,
    ));
    t.push((
        Api::V1,
        Method::DELETE,
        "/webhooks/{id}".into(),
        Op::WebhooksDelete,
    ));
    t
}

impl Router {
    /// Builds the routes. A route whose operation is missing from the official files is a bug in
    /// the table above: it is left out and logged here, and `tests/contract.rs` fails on it
    /// because it checks every declared operation (`declared`) against the files.
    pub fn new() -> Self {
        let routes = table()
            .into_iter()
            .filter_map(|(api, method, path, op)| {
                let spec = spec::lookup(api, method.as_str(), &path);
                if spec.is_none() {
                    tracing::error!(%path, "route missing from the official OpenAPI files");
                }
                let path: &'static str = spec?.path;
                let segments = path.split('/').filter(|s| !s.is_empty()).collect();
                Some(Route {
                    api,
                    method,
                    segments,
                    op,
                    spec: spec?,
                })
            })
            .collect();
        Self { routes }
    }

    /// Every declared operation as (file, method, path template), whether or not the official
    /// files know it.
    pub fn declared() -> Vec<(Api, String, String)> {
        table()
            .into_iter()
            .map(|(api, method, path, _)| (api, method.to_string(), path))
            .collect()
    }

    /// Finds the route and the values of its `{…}` segments. Literal segments win over
    /// parameters, so `/deals/search` is not read as `/deals/{id}`.
    pub fn find<'p>(
        &self,
        api: Api,
        method: &Method,
        path: &'p str,
    ) -> Option<(&Route, Vec<&'p str>)> {
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let mut best: Option<(&Route, Vec<&str>, usize)> = None;
        for route in self
            .routes
            .iter()
            .filter(|r| r.api == api && r.method == method)
        {
            if route.segments.len() != parts.len() {
                continue;
            }
            let mut params = Vec::new();
            let mut literals = 0;
            let fits = route.segments.iter().zip(&parts).all(|(seg, part)| {
                if seg.starts_with('{') {
                    params.push(*part);
                    true
                } else {
                    literals += 1;
                    seg == part
                }
            });
            if fits && best.as_ref().is_none_or(|b| literals > b.2) {
                best = Some((route, params, literals));
            }
        }
        best.map(|(r, p, _)| (r, p))
    }
}

impl Default for Router {
    fn default() -> Self {
        Self::new()
    }
}
