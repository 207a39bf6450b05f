//! `order.created`: the buyer's Person and Organization, the order's Deal (value, currency, order
//! id, status and source), and a Note on it listing the line items.

use dealbridge_core::outcome::RecordKind;
use dealbridge_events::records::Order;

use super::context::{html, Flow};
use super::error::FlowResult;
use super::journal::Lookup;
use super::notes::{find_note, NoteOn};
use super::orders::deal_of;

pub(crate) async fn run(flow: &mut Flow<'_>) -> FlowResult<()> {
    let order: Order = flow.payload()?;
    let (deal_id, _) = deal_of(flow, &order).await?;
    let key = flow.event_key();
    let on = NoteOn::Deal(deal_id);
    let note = on.note(&line_items(&order), &key);
    let client = flow.client.clone();
    let note_id = flow
        .journal()
        .once(
            "note",
            Lookup::OnResume,
            || find_note(&client, on, &key),
            || async { Ok(client.notes().create(&note).await?.id) },
        )
        .await?;
    flow.became(RecordKind::Note, note_id);
    Ok(())
}

/// The note's content: the order's lines and totals.
fn line_items(order: &Order) -> String {
    let number = order.number.as_deref().unwrap_or(&order.id);
    let mut out = format!("<b>Order {}</b><ul>", html(number));
    for line in &order.line_items {
        let sku = line
            .sku
            .as_deref()
            .map(|sku| format!(" ({})", html(sku)))
            .unwrap_or_default();
        out.push_str(&format!(
            "<li>{} × {}{sku} at {} {}</li>",
            line.quantity,
            html(&line.name),
            html(&line.unit_price),
            html(&order.currency),
        ));
    }
    out.push_str("</ul>");
    for (label, value) in [("Subtotal", &order.subtotal), ("Tax", &order.tax)] {
        if let Some(value) = value {
            out.push_str(&format!(
                "{label}: {} {}<br>",
                html(value),
                html(&order.currency)
            ));
        }
    }
    out.push_str(&format!(
        "Total: {} {}",
        html(&order.total),
        html(&order.currency)
    ));
    out
}
