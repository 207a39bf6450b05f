-- Events in from the tenant's other systems: the signing secrets of the signed event API and the
-- connected stores (Shopify, WooCommerce, API2Cart). Secrets are sealed by the app's key ring,
-- bound to the tenant; the store never sees one in clear.

-- Times are integer milliseconds (as in the jobs table) so they compare in time order.
create table event_api_secrets (
    tenant_id    text        not null,
    id           text        not null,
    secret       blob        not null,
    created_at   integer     not null,
    -- Set when a rotation retires the secret: it keeps verifying until then (the grace period).
    expires_at   integer,
    revoked_at   integer,
    constraint event_api_secrets_pkey primary key (tenant_id, id),
    constraint event_api_secrets_tenant_fkey foreign key (tenant_id) references tenants (id) on delete cascade
);

create table store_connections (
    tenant_id       text        not null,
    id              text        not null,
    kind            text        not null,
    display_name    text        not null,
    -- The Shopify shop domain (`x.myshopify.com`); null for the other kinds.
    shop_domain     text,
    -- The webhook secret (Shopify, WooCommerce) or the store key (API2Cart), sealed.
    secret          blob        not null,
    -- API2Cart only: the sealed token its callback URL carries (API2Cart signs nothing).
    callback_token  blob,
    -- Finds the connection from a delivery's URL; unguessable, never reused.
    path_token      text        not null,
    state           text        not null,
    attention_reason text,
    -- API2Cart's ids of the webhooks registered for this connection.
    webhook_ids     text        not null,
    created_at      integer     not null,
    updated_at      integer     not null,
    constraint store_connections_pkey primary key (tenant_id, id),
    constraint store_connections_path_token_key unique (path_token),
    constraint store_connections_tenant_fkey foreign key (tenant_id) references tenants (id) on delete cascade,
    constraint store_connections_kind_check check (kind in ('shopify', 'woocommerce', 'api2cart')),
    constraint store_connections_state_check check (state in ('active', 'needs_attention'))
);
