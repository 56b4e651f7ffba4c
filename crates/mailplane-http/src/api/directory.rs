//! `/v1/tenants/{tenant}/aliases`, `/groups` and a mailbox's `/forwarding`: the directory
//! beyond mailboxes (`directory.administer`). Every address is unique across mailboxes,
//! aliases and groups on the platform, and uses a verified domain of the tenant. Named like
//! the library's and the store's `directory` modules.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use utoipa_axum::{router::OpenApiRouter, routes};

use mailplane::input::{AliasCreate, Forwarding, GroupCreate, GroupMemberRef};
use mailplane::types::resources::{Alias, Group, Mailbox};
use mailplane::types::{AliasId, GroupId, MailboxId, TenantId};

use crate::AppState;
use crate::api::requests::respond;
use crate::extract::{ApiJson, ApiQuery, Authenticated, IdPath, path_id};
use crate::problem::{ApiError, Problem};

/// The activity of each of this file's operations, in the order of the book's endpoint table;
/// `activities.rs` lists this table with the other resources'.
pub(crate) const ACTIVITIES: &[(&str, &str)] = &[
    ("alias_create", mailplane::activity::DIRECTORY),
    ("mailbox_forwarding_set", mailplane::activity::DIRECTORY),
    ("mailbox_forwarding_clear", mailplane::activity::DIRECTORY),
    ("alias_list", mailplane::activity::DIRECTORY),
    ("alias_delete", mailplane::activity::DIRECTORY),
    ("group_list", mailplane::activity::DIRECTORY),
    ("group_create", mailplane::activity::DIRECTORY),
    ("group_delete", mailplane::activity::DIRECTORY),
    ("group_member_add", mailplane::activity::DIRECTORY),
    ("group_member_remove", mailplane::activity::DIRECTORY),
];

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(alias_list))
        .routes(routes!(alias_create))
        .routes(routes!(alias_delete))
        .routes(routes!(group_list, group_create))
        .routes(routes!(group_delete))
        .routes(routes!(group_member_add, group_member_remove))
        .routes(routes!(mailbox_forwarding_set, mailbox_forwarding_clear))
}

/// A tenant's aliases.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct AliasList {
    /// The aliases, in the order they were added.
    pub items: Vec<Alias>,
}

/// A tenant's groups.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct GroupList {
    /// The groups with their members, in the order they were created.
    pub items: Vec<Group>,
}

/// The member to remove: exactly one of `mailbox_id` and `address`.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MemberQuery {
    /// A mailbox of the tenant.
    #[param(format = Uuid)]
    pub mailbox_id: Option<String>,
    /// An external address.
    pub address: Option<String>,
}

/// Lists a tenant's aliases.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/aliases", operation_id = "alias_list", tag = "directory",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The aliases.", body = AliasList),
        (status = 400, description = "The id is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds no letter for `directory.administer`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn alias_list(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(tenant): IdPath<TenantId>,
) -> Result<Json<AliasList>, ApiError> {
    let items = s.control_plane.alias_list(&actor, tenant).await?;
    Ok(Json(AliasList { items }))
}

/// Adds an alias (an extra address) to a mailbox, on a verified domain of the tenant.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/mailboxes/{mailbox}/aliases", operation_id = "alias_create", tag = "directory",
    params(
        ("tenant" = String, Path, format = Uuid, description = "The tenant's id."),
        ("mailbox" = String, Path, format = Uuid, description = "The mailbox's id."),
    ),
    request_body = AliasCreate, security(("bearer" = [])),
    responses(
        (status = 201, description = "The alias.", body = Alias, headers(("Mailplane-Request" = String, description = "The request provider automation fulfilled to make this change, if any."))),
        (status = 202, description = "Filed: a request to the responsible party, or a proposal to the accountable party; the body is the request.", body = crate::api::requests::RequestView, headers(("Location" = String, description = "The request's URL."))),
        (status = 400, description = "An id or the body is invalid, or the domain is not verified.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds neither R nor A for `directory.administer`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant or mailbox, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The address is in use by a mailbox, an alias or a group.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn alias_create(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath((tenant, mailbox)): IdPath<(TenantId, MailboxId)>,
    ApiJson(input): ApiJson<AliasCreate>,
) -> Result<Response, ApiError> {
    let outcome = s
        .control_plane
        .alias_create(&actor, tenant, mailbox, input)
        .await?;
    Ok(respond(outcome, StatusCode::CREATED))
}

/// Removes an alias.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/aliases/{alias}", operation_id = "alias_delete", tag = "directory",
    params(
        ("tenant" = String, Path, format = Uuid, description = "The tenant's id."),
        ("alias" = String, Path, format = Uuid, description = "The alias's id."),
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The alias was removed.", headers(("Mailplane-Request" = String, description = "The request provider automation fulfilled to make this change, if any."))),
        (status = 202, description = "Filed: a request to the responsible party, or a proposal to the accountable party; the body is the request.", body = crate::api::requests::RequestView, headers(("Location" = String, description = "The request's URL."))),
        (status = 400, description = "An id is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds neither R nor A for `directory.administer`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant or alias, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The tenant is at end of service: its configuration is destroyed or being destroyed.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn alias_delete(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath((tenant, alias)): IdPath<(TenantId, AliasId)>,
) -> Result<Response, ApiError> {
    let outcome = s.control_plane.alias_delete(&actor, tenant, alias).await?;
    Ok(respond(outcome, StatusCode::NO_CONTENT))
}

/// Lists a tenant's distribution groups with their members.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/groups", operation_id = "group_list", tag = "directory",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The groups.", body = GroupList),
        (status = 400, description = "The id is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds no letter for `directory.administer`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn group_list(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(tenant): IdPath<TenantId>,
) -> Result<Json<GroupList>, ApiError> {
    let items = s.control_plane.group_list(&actor, tenant).await?;
    Ok(Json(GroupList { items }))
}

/// Creates a distribution group, on a verified domain of the tenant.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/groups", operation_id = "group_create", tag = "directory",
    params(("tenant" = String, Path, format = Uuid, description = "The tenant's id.")),
    request_body = GroupCreate, security(("bearer" = [])),
    responses(
        (status = 201, description = "The group.", body = Group, headers(("Mailplane-Request" = String, description = "The request provider automation fulfilled to make this change, if any."))),
        (status = 202, description = "Filed: a request to the responsible party, or a proposal to the accountable party; the body is the request.", body = crate::api::requests::RequestView, headers(("Location" = String, description = "The request's URL."))),
        (status = 400, description = "The id or the body is invalid, or the domain is not verified.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds neither R nor A for `directory.administer`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The address is in use by a mailbox, an alias or a group.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn group_create(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath(tenant): IdPath<TenantId>,
    ApiJson(input): ApiJson<GroupCreate>,
) -> Result<Response, ApiError> {
    let outcome = s.control_plane.group_create(&actor, tenant, input).await?;
    Ok(respond(outcome, StatusCode::CREATED))
}

/// Deletes a group and its memberships.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/groups/{group}", operation_id = "group_delete", tag = "directory",
    params(
        ("tenant" = String, Path, format = Uuid, description = "The tenant's id."),
        ("group" = String, Path, format = Uuid, description = "The group's id."),
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The group was deleted.", headers(("Mailplane-Request" = String, description = "The request provider automation fulfilled to make this change, if any."))),
        (status = 202, description = "Filed: a request to the responsible party, or a proposal to the accountable party; the body is the request.", body = crate::api::requests::RequestView, headers(("Location" = String, description = "The request's URL."))),
        (status = 400, description = "An id is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds neither R nor A for `directory.administer`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant or group, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The tenant is at end of service: its configuration is destroyed or being destroyed.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn group_delete(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath((tenant, group)): IdPath<(TenantId, GroupId)>,
) -> Result<Response, ApiError> {
    let outcome = s.control_plane.group_delete(&actor, tenant, group).await?;
    Ok(respond(outcome, StatusCode::NO_CONTENT))
}

/// Adds a member to a group: a mailbox of the tenant, or an external address.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/groups/{group}/members", operation_id = "group_member_add", tag = "directory",
    params(
        ("tenant" = String, Path, format = Uuid, description = "The tenant's id."),
        ("group" = String, Path, format = Uuid, description = "The group's id."),
    ),
    request_body = GroupMemberRef, security(("bearer" = [])),
    responses(
        (status = 200, description = "The group with the new member.", body = Group, headers(("Mailplane-Request" = String, description = "The request provider automation fulfilled to make this change, if any."))),
        (status = 202, description = "Filed: a request to the responsible party, or a proposal to the accountable party; the body is the request.", body = crate::api::requests::RequestView, headers(("Location" = String, description = "The request's URL."))),
        (status = 400, description = "An id or the body is invalid: give exactly one of `mailbox_id` and `address`.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds neither R nor A for `directory.administer`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant or group, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The member is in the group already.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn group_member_add(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath((tenant, group)): IdPath<(TenantId, GroupId)>,
    ApiJson(member): ApiJson<GroupMemberRef>,
) -> Result<Response, ApiError> {
    let outcome = s
        .control_plane
        .group_member_add(&actor, tenant, group, member)
        .await?;
    Ok(respond(outcome, StatusCode::OK))
}

/// Removes a member from a group, named by `mailbox_id` or `address` in the query.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/groups/{group}/members", operation_id = "group_member_remove", tag = "directory",
    params(
        ("tenant" = String, Path, format = Uuid, description = "The tenant's id."),
        ("group" = String, Path, format = Uuid, description = "The group's id."),
        MemberQuery,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The group without the member.", body = Group, headers(("Mailplane-Request" = String, description = "The request provider automation fulfilled to make this change, if any."))),
        (status = 202, description = "Filed: a request to the responsible party, or a proposal to the accountable party; the body is the request.", body = crate::api::requests::RequestView, headers(("Location" = String, description = "The request's URL."))),
        (status = 400, description = "An id or the query is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds neither R nor A for `directory.administer`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant, group or member, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The tenant is at end of service: its configuration is destroyed or being destroyed.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn group_member_remove(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath((tenant, group)): IdPath<(TenantId, GroupId)>,
    ApiQuery(q): ApiQuery<MemberQuery>,
) -> Result<Response, ApiError> {
    let mailbox_id = q
        .mailbox_id
        .as_deref()
        .map(|m| path_id::<MailboxId>("mailbox_id", m))
        .transpose()?;
    let member = GroupMemberRef {
        mailbox_id,
        address: q.address,
    };
    let outcome = s
        .control_plane
        .group_member_remove(&actor, tenant, group, member)
        .await?;
    Ok(respond(outcome, StatusCode::OK))
}

/// Forwards a mailbox's mail to an address (used while migrating in).
#[utoipa::path(put, path = "/v1/tenants/{tenant}/mailboxes/{mailbox}/forwarding", operation_id = "mailbox_forwarding_set", tag = "directory",
    params(
        ("tenant" = String, Path, format = Uuid, description = "The tenant's id."),
        ("mailbox" = String, Path, format = Uuid, description = "The mailbox's id."),
    ),
    request_body = Forwarding, security(("bearer" = [])),
    responses(
        (status = 200, description = "The mailbox with its forwarding target.", body = Mailbox, headers(("Mailplane-Request" = String, description = "The request provider automation fulfilled to make this change, if any."))),
        (status = 202, description = "Filed: a request to the responsible party, or a proposal to the accountable party; the body is the request.", body = crate::api::requests::RequestView, headers(("Location" = String, description = "The request's URL."))),
        (status = 400, description = "An id or the address is invalid, or it is the mailbox's own.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds neither R nor A for `directory.administer`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant or mailbox, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The tenant is at end of service: its configuration is destroyed or being destroyed.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn mailbox_forwarding_set(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath((tenant, mailbox)): IdPath<(TenantId, MailboxId)>,
    ApiJson(input): ApiJson<Forwarding>,
) -> Result<Response, ApiError> {
    let outcome = s
        .control_plane
        .mailbox_forwarding_set(&actor, tenant, mailbox, input)
        .await?;
    Ok(respond(outcome, StatusCode::OK))
}

/// Stops forwarding a mailbox's mail.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/mailboxes/{mailbox}/forwarding", operation_id = "mailbox_forwarding_clear", tag = "directory",
    params(
        ("tenant" = String, Path, format = Uuid, description = "The tenant's id."),
        ("mailbox" = String, Path, format = Uuid, description = "The mailbox's id."),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The mailbox without a forwarding target.", body = Mailbox, headers(("Mailplane-Request" = String, description = "The request provider automation fulfilled to make this change, if any."))),
        (status = 202, description = "Filed: a request to the responsible party, or a proposal to the accountable party; the body is the request.", body = crate::api::requests::RequestView, headers(("Location" = String, description = "The request's URL."))),
        (status = 400, description = "An id is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's party holds neither R nor A for `directory.administer`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant or mailbox, or not in the caller's scope.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The tenant is at end of service: its configuration is destroyed or being destroyed.", body = Problem, content_type = "application/problem+json"),
    ))]
async fn mailbox_forwarding_clear(
    State(s): State<AppState>,
    Authenticated(actor): Authenticated,
    IdPath((tenant, mailbox)): IdPath<(TenantId, MailboxId)>,
) -> Result<Response, ApiError> {
    let outcome = s
        .control_plane
        .mailbox_forwarding_clear(&actor, tenant, mailbox)
        .await?;
    Ok(respond(outcome, StatusCode::OK))
}

#[cfg(test)]
mod tests {
    /// An alias is made under its mailbox and deleted under its tenant: the creation's link
    /// to the deletion takes the alias's id from the created body.
    #[test]
    fn an_alias_creation_links_to_its_deletion() {
        let doc = crate::openapi();
        let create = doc["paths"]
            .as_object()
            .expect("paths")
            .values()
            .flat_map(|item| item.as_object().expect("a path item").values())
            .find(|op| op["operationId"] == "alias_create")
            .expect("the operation alias_create");
        assert_eq!(
            create["responses"]["201"]["links"]["alias_delete"]["parameters"]["alias"],
            "$response.body#/id"
        );
    }
}
