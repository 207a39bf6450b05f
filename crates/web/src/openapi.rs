//! The OpenAPI document of the HTTP API that other systems call: the signed event API (with one
//! request schema per event type) and the store webhook routes. Built once from the events
//! crate's payload schemas, so the document and the parsers cannot disagree on a field.

use dealbridge_core::event::EventType;
use dealbridge_events::event_api;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, Type};
use utoipa::openapi::{
    ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathItem, PathsBuilder, Ref, Required,
    ResponseBuilder, ResponsesBuilder,
};

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

/// `{"type": NAME, "timestamp": date-time, "data": <the type's payload>}` for one event type.
fn envelope(kind: &EventType, data_schema: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .title(Some(kind.name()))
        .property("type", string().enum_values(Some([kind.name()])))
        .property(
            "timestamp",
            string()
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
                .description(Some("When it happened (RFC 3339)")),
        )
        .property("data", Ref::from_schema_name(data_schema))
        .required("type")
        .required("timestamp")
        .required("data")
}

fn header(name: &str, description: &str) -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Header)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(string()))
        .build()
}

fn path_parameter(name: &str, description: &str) -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(string()))
        .build()
}

fn responses(answers: &[(&str, &str)]) -> utoipa::openapi::Responses {
    answers
        .iter()
        .fold(ResponsesBuilder::new(), |builder, (status, description)| {
            builder.response(*status, ResponseBuilder::new().description(*description))
        })
        .build()
}

fn events_operation() -> utoipa::openapi::path::Operation {
    let mut one_of = OneOfBuilder::new();
    for kind in EventType::api_types() {
        if let Some(schema) = event_api::schema_name(&kind) {
            one_of = one_of.item(envelope(&kind, schema));
        }
    }
    OperationBuilder::new()
        .operation_id(Some("sendEvent"))
        .summary(Some("Send a signed event"))
        .description(Some(
            "Standard Webhooks signature (`webhook-signature: v1,<base64 HMAC-SHA256 of \
             {webhook-id}.{webhook-timestamp}.{body}>`) with any active secret of the tenant; \
             `webhook-timestamp` within 5 minutes; `webhook-id` is the dedupe key.",
        ))
        .parameter(header("dealbridge-tenant", "The tenant id shown on the dashboard"))
        .parameter(header("webhook-id", "Unique per event; resending it is recorded once"))
        .parameter(header("webhook-timestamp", "Unix seconds when sent"))
        .parameter(header("webhook-signature", "`v1,<base64>` entries, space-separated"))
        .request_body(Some(
            RequestBodyBuilder::new()
                .required(Some(Required::True))
                .content("application/json", ContentBuilder::new().schema(Some(one_of)).build())
                .build(),
        ))
        .responses(responses(&[
            ("200", "Recorded (`status`: `recorded`, `stale`, or `duplicate` for a resent `webhook-id`)"),
            ("400", "Invalid payload: `errors` lists `{field, message}`"),
            ("401", "Bad signature, or a timestamp outside the tolerance"),
            ("404", "Unknown tenant"),
            ("413", "Body over 256 KiB"),
            ("503", "Not recorded; retry"),
        ]))
        .build()
}

fn store_hook_operation(kind: &str, check: &str) -> utoipa::openapi::path::Operation {
    let mut operation = OperationBuilder::new()
        .operation_id(Some(format!("{kind}Webhook")))
        .summary(Some(format!(
            "{kind} webhook deliveries for one store connection"
        )))
        .description(Some(check))
        .parameter(path_parameter(
            "path_token",
            "The connection's unguessable path, shown on the dashboard",
        ));
    if kind == "api2cart" {
        operation = operation.parameter(
            ParameterBuilder::new()
                .name("token")
                .parameter_in(ParameterIn::Query)
                .required(Required::True)
                .description(Some("The connection's callback token"))
                .schema(Some(string()))
                .build(),
        );
    }
    operation
        .responses(responses(&[
            (
                "200",
                "Recorded, a duplicate, ignored, or a connection-loss notice taken",
            ),
            ("400", "Invalid payload"),
            ("401", "Bad signature or token"),
            ("404", "Unknown connection"),
            ("413", "Body over 1 MiB"),
            ("503", "Not recorded; retry"),
        ]))
        .build()
}

/// The whole document, as served at `/api/v1/openapi.json`.
pub fn document() -> OpenApi {
    let paths = PathsBuilder::new()
        .path(
            "/api/v1/events",
            PathItem::new(HttpMethod::Post, events_operation()),
        )
        .path(
            "/hooks/shopify/{path_token}",
            PathItem::new(
                HttpMethod::Post,
                store_hook_operation("shopify", "X-Shopify-Hmac-Sha256 over the raw body"),
            ),
        )
        .path(
            "/hooks/woocommerce/{path_token}",
            PathItem::new(
                HttpMethod::Post,
                store_hook_operation("woocommerce", "X-WC-Webhook-Signature over the raw body"),
            ),
        )
        .path(
            "/hooks/api2cart/{path_token}",
            PathItem::new(
                HttpMethod::Post,
                store_hook_operation("api2cart", "The callback URL's token"),
            ),
        );
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Dealbridge")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some("Events in: the signed event API and store webhooks")),
        )
        .paths(paths)
        .components(Some(event_api::schemas()))
        .build()
}
