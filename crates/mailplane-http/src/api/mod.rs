//! The API's handlers, one module per resource, and the router that collects them.

pub(crate) mod audit;
pub(crate) mod catalogue;
pub(crate) mod credentials;
pub(crate) mod directory;
pub(crate) mod domains;
pub(crate) mod health;
pub(crate) mod inventory;
pub(crate) mod lifecycle;
pub(crate) mod mailboxes;
pub(crate) mod messages;
pub(crate) mod partners;
pub(crate) mod passwords;
pub(crate) mod profiles;
pub(crate) mod requests;
pub(crate) mod retention;
pub(crate) mod suspensions;
pub(crate) mod tenants;
pub(crate) mod tickets;
pub(crate) mod webhooks;

use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

/// Every route with its OpenAPI description.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(health::routes())
        .merge(partners::routes())
        .merge(tenants::routes())
        .merge(domains::routes())
        .merge(mailboxes::routes())
        .merge(mailboxes::batch_routes())
        .merge(audit::routes())
        .merge(profiles::routes())
        .merge(requests::routes())
        .merge(credentials::routes())
        .merge(webhooks::routes())
        .merge(tickets::routes())
        .merge(catalogue::routes())
        .merge(inventory::routes())
        .merge(messages::routes())
        .merge(retention::routes())
        .merge(suspensions::routes())
        .merge(lifecycle::routes())
        .merge(directory::routes())
        .merge(passwords::routes())
}

/// Declares a page type for a resource: the items and the cursor of the next page.
macro_rules! page_of {
    ($name:ident, $item:ty) => {
        #[doc = concat!("A page of ", stringify!($item), " items.")]
        #[derive(serde::Serialize, utoipa::ToSchema)]
        pub struct $name {
            /// The items, in a stable order.
            pub items: Vec<$item>,
            /// Pass as `cursor` to get the next page; absent on the last page.
            pub next_cursor: Option<String>,
        }

        impl From<mailplane::Page<$item>> for $name {
            fn from(p: mailplane::Page<$item>) -> Self {
                $name {
                    items: p.items,
                    next_cursor: p.next_cursor,
                }
            }
        }
    };
}
pub(crate) use page_of;
