//! User-service handlers: parse, call the domain and storage, answer.

use std::rc::Rc;

use response_handler::{
    ApiError, ApiResult, Fields, PageRequest, Reply, RequestContext, Role, pagination, token_keys,
};
use serde_json::json;

use crate::domain::{Email, Name, Password, User};
use crate::schema;
use crate::storage;

/// `GET /health`: healthy when the service's database answers.
pub async fn health(ctx: Rc<RequestContext>) -> ApiResult {
    outbox::health_reply(ctx.config.name, schema::open())
}

fn role_of(user: &User) -> Role {
    if user.role == "admin" {
        Role::Admin
    } else {
        Role::User
    }
}

/// The role `admin_emails` gives this address now.
fn role_for(email: &Email) -> Role {
    let admin_emails = spin_sdk::variables::get("admin_emails").unwrap_or_default();
    if auth::listed_as_admin(email.normalized(), &admin_emails) {
        Role::Admin
    } else {
        Role::User
    }
}

/// `user` with the role `admin_emails` gives it now, stored when it changed: adding an address
/// promotes and removing one demotes, at the next login, token refresh or profile read.
fn with_current_role(db: &store::Database, user: User) -> Result<User, ApiError> {
    let role = Email::parse(&user.email)
        .map(|email| role_for(&email))
        .unwrap_or(Role::User);
    if role.as_str() == user.role {
        return Ok(user);
    }
    storage::set_role(db, &user.id, role.as_str())?;
    Ok(User {
        role: role.as_str().to_string(),
        ..user
    })
}

fn token_for(user: &User) -> Result<String, ApiError> {
    token_keys()?
        .issue(&user.id, &user.email, &user.name, role_of(user))
        .map_err(ApiError::internal)
}

/// `POST /register`: `{email, password, name}` -> 201 `{user, token}`.
pub async fn register(ctx: Rc<RequestContext>) -> ApiResult {
    let body = ctx.json()?;
    let mut fields = Fields::of(body)?;
    let email = fields.required_str("email");
    let password = fields.required_str("password");
    let name = fields.required_str("name");
    let email = fields.parsed("email", email, Email::parse);
    let password = fields.parsed("password", password, Password::parse);
    let name = fields.parsed("name", name, Name::parse);
    let (email, password, name) = fields.complete((email, password, name))?;

    let role = role_for(&email);
    let password_hash =
        auth::hash_password(password.expose()).map_err(|e| ApiError::internal(e.0))?;
    let db = schema::open()?;
    let user = storage::insert_user(&db, &email, &name, &password_hash, role.as_str())?;
    let token = token_for(&user)?;
    outbox::deliver_after_response(&ctx, schema::open);
    Ok(Reply::created(
        &json!({ "user": user, "token": token }),
        "User registered successfully",
    ))
}

/// `POST /login`: `{email, password}` -> 200 `{user, token}`; one 401 for every bad credential.
pub async fn login(ctx: Rc<RequestContext>) -> ApiResult {
    let body = ctx.json()?;
    let mut fields = Fields::of(body)?;
    let email = fields.required_str("email");
    let password = fields.required_str("password");
    let (email, password) = fields.complete((email, password))?;
    let invalid = || ApiError::unauthorized("Invalid credentials");
    let db = schema::open()?;
    let credentials = match Email::parse(email) {
        Ok(email) => storage::find_credentials(&db, &email)?,
        Err(_) => None,
    };
    // Verify against a decoy hash when the email is unknown, so both failures cost the same.
    let hash = credentials
        .as_ref()
        .map_or(auth::decoy_hash(), |c| c.password_hash.as_str());
    let matches = auth::verify_password(password, hash);
    let user = match credentials {
        Some(credentials) if matches => with_current_role(&db, credentials.user)?,
        _ => return Err(invalid()),
    };
    let token = token_for(&user)?;
    outbox::deliver_after_response(&ctx, schema::open);
    Ok(Reply::ok(
        &json!({ "user": user, "token": token }),
        "Login successful",
    ))
}

/// `GET /users/me`: the caller's profile.
pub async fn me(ctx: Rc<RequestContext>) -> ApiResult {
    let identity = ctx.identity()?;
    let db = schema::open()?;
    let user = storage::find_user(&db, &identity.user_id)?.ok_or_else(|| {
        ApiError::not_found("User not found").with_details(json!({ "userId": identity.user_id }))
    })?;
    Ok(Reply::ok(
        &with_current_role(&db, user)?,
        "Profile retrieved successfully",
    ))
}

/// `POST /token/refresh`: a fresh token for the caller's still-valid one, with the role
/// `admin_emails` gives now; a deleted user gets 401.
pub async fn refresh(ctx: Rc<RequestContext>) -> ApiResult {
    let identity = ctx.identity()?;
    let db = schema::open()?;
    let user = storage::find_user(&db, &identity.user_id)?
        .ok_or_else(|| ApiError::unauthorized("Invalid or expired token"))?;
    let user = with_current_role(&db, user)?;
    let token = token_for(&user)?;
    Ok(Reply::ok(
        &json!({ "user": user, "token": token }),
        "Token refreshed",
    ))
}

/// `GET /users` (admin): newest first, paginated.
pub async fn list(ctx: Rc<RequestContext>) -> ApiResult {
    ctx.admin()?;
    let page = PageRequest::parse(ctx.query(), 20, 100)?;
    let db = schema::open()?;
    let (users, total) = storage::list_users(&db, page)?;
    Ok(Reply::paginated(
        &users,
        pagination(page.page, page.limit, total),
        "Users retrieved successfully",
    ))
}

/// `POST /auth/verify`: the original design's token check, kept for compatibility.
pub async fn verify(ctx: Rc<RequestContext>) -> ApiResult {
    let identity = ctx.identity()?;
    Ok(Reply::ok(
        &json!({ "id": identity.user_id, "email": identity.email, "name": identity.name, "role": identity.role }),
        "Token valid",
    ))
}
