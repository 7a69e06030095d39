//! User rows in SQLite (label `users`). Every statement is parameterised.

use contracts::events::{EventPayload, UserCreated};
use response_handler::PageRequest;
use spin_sdk::sqlite::{QueryResult, Value};
use store::Database;

use crate::domain::{Email, Name, User};
use crate::error::Error;

/// A stored user with the hash needed to check a login.
pub struct Credentials {
    pub user: User,
    pub password_hash: String,
}

const USER_COLUMNS: &str = "id, email, name, role, created_at";

fn users_of(result: &QueryResult) -> Vec<User> {
    result
        .rows()
        .filter_map(|row| {
            Some(User {
                id: row.get::<&str>("id")?.to_string(),
                email: row.get::<&str>("email")?.to_string(),
                name: row.get::<&str>("name")?.to_string(),
                role: row.get::<&str>("role")?.to_string(),
                created_at: row.get::<&str>("created_at")?.to_string(),
            })
        })
        .collect()
}

/// Inserts a user and records `user.created` in the same transaction. The unique index on
/// the normalised email decides duplicates, also under concurrent registrations.
pub fn insert_user(
    db: &Database,
    email: &Email,
    name: &Name,
    password_hash: &str,
    role: &str,
) -> Result<User, Error> {
    let user = User {
        id: format!("usr_{}", uuid::Uuid::new_v4().simple()),
        email: email.as_str().to_string(),
        name: name.as_str().to_string(),
        role: role.to_string(),
        created_at: envelope::rfc3339_from_millis(envelope::now_millis()),
    };
    db.transaction(|db| {
        let inserted = db.execute(
            "INSERT INTO users (id, email, email_normalized, name, password_hash, role, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (email_normalized) DO NOTHING
             RETURNING id",
            &[
                Value::Text(user.id.clone()),
                Value::Text(user.email.clone()),
                Value::Text(email.normalized().to_string()),
                Value::Text(user.name.clone()),
                Value::Text(password_hash.to_string()),
                Value::Text(user.role.clone()),
                Value::Text(user.created_at.clone()),
            ],
        )?;
        if inserted.rows.is_empty() {
            return Err(Error::EmailTaken {
                email: user.email.clone(),
            });
        }
        outbox::record(
            db,
            "user-service",
            &EventPayload::UserCreated(UserCreated {
                user_id: user.id.clone(),
                email: user.email.clone(),
                name: user.name.clone(),
            }),
        )?;
        Ok(user.clone())
    })
}

pub fn find_credentials(db: &Database, email: &Email) -> Result<Option<Credentials>, Error> {
    let result = db.execute(
        &format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE email_normalized = ?"),
        &[Value::Text(email.normalized().to_string())],
    )?;
    let hash = result
        .rows()
        .next()
        .and_then(|row| row.get::<&str>("password_hash").map(str::to_string));
    Ok(users_of(&result)
        .into_iter()
        .next()
        .zip(hash)
        .map(|(user, password_hash)| Credentials {
            user,
            password_hash,
        }))
}

pub fn find_user(db: &Database, id: &str) -> Result<Option<User>, Error> {
    let result = db.execute(
        &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?"),
        &[Value::Text(id.to_string())],
    )?;
    Ok(users_of(&result).into_iter().next())
}

/// A page of users, newest first, and the total, read in one transaction so they agree.
pub fn list_users(db: &Database, page: PageRequest) -> Result<(Vec<User>, u64), Error> {
    db.read_transaction(|db| {
        let total = db.execute("SELECT COUNT(*) AS total FROM users", &[])?;
        let total = total.rows().next().and_then(|row| row.get::<i64>("total")).unwrap_or(0);
        let rows = db.execute(
            &format!("SELECT {USER_COLUMNS} FROM users ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?"),
            &[Value::Integer(i64::from(page.limit)), Value::Integer(page.offset())],
        )?;
        Ok((users_of(&rows), u64::try_from(total).unwrap_or(0)))
    })
}

/// Records the role `admin_emails` now gives a user.
pub fn set_role(db: &Database, id: &str, role: &str) -> Result<(), Error> {
    db.execute(
        "UPDATE users SET role = ? WHERE id = ?",
        &[Value::Text(role.to_string()), Value::Text(id.to_string())],
    )?;
    Ok(())
}
