//! People who use the web console: their accounts (password hashes only),
//! their sessions (token hashes only) and failed logins, which throttle
//! password guessing across every server process.

use std::time::Duration;

use super::{Database, DatabaseError};

/// What a console user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserRole {
    /// Everything, including changing rules, manifests, users, revocations.
    Admin,
    /// Look and query, change nothing.
    Viewer,
}

impl UserRole {
    pub fn as_str(self) -> &'static str {
        match self {
            UserRole::Admin => "admin",
            UserRole::Viewer => "viewer",
        }
    }

    pub fn parse(text: &str) -> Option<UserRole> {
        match text {
            "admin" => Some(UserRole::Admin),
            "viewer" => Some(UserRole::Viewer),
            _ => None,
        }
    }
}

/// A signed-in person, as a request's session names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: String,
    pub role: UserRole,
    /// The token every form of this session must carry back.
    pub csrf: String,
}

/// A user as `user list` shows them.
#[derive(Debug, Clone)]
pub struct UserRow {
    pub name: String,
    pub role: String,
    pub created_at: std::time::SystemTime,
}

/// Failed logins of one name within `LOGIN_WINDOW` after which logging in
/// as it is refused until the window has passed.
pub const LOGIN_FAILURES_ALLOWED: i64 = 5;
pub const LOGIN_WINDOW: Duration = Duration::from_secs(15 * 60);

impl Database {
    /// Adds a user or, when `replace`, sets an existing one's password
    /// and role (ending its sessions). False when the name is taken and
    /// not to be replaced.
    pub async fn put_user(
        &self,
        name: &str,
        password_hash: &str,
        role: UserRole,
        replace: bool,
    ) -> Result<bool, DatabaseError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let sql = if replace {
            "INSERT INTO console_user (name, password_hash, role) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET password_hash = EXCLUDED.password_hash, role = EXCLUDED.role"
        } else {
            "INSERT INTO console_user (name, password_hash, role) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
        };
        let put = tx.execute(sql, &[&name, &password_hash, &role.as_str()]).await? == 1;
        // A new password or role ends the sessions made under the old ones
        // (a new user has none).
        if put && replace {
            tx.execute("DELETE FROM console_session WHERE user_name = $1", &[&name])
                .await?;
        }
        tx.commit().await?;
        Ok(put)
    }

    /// Removes a user and their sessions; false when there was none.
    pub async fn remove_user(&self, name: &str) -> Result<bool, DatabaseError> {
        let client = self.client().await?;
        Ok(client
            .execute("DELETE FROM console_user WHERE name = $1", &[&name])
            .await?
            == 1)
    }

    pub async fn users(&self) -> Result<Vec<UserRow>, DatabaseError> {
        let client = self.client().await?;
        let rows = client
            .query("SELECT name, role, created_at FROM console_user ORDER BY name", &[])
            .await?;
        Ok(rows
            .iter()
            .map(|row| UserRow {
                name: row.get(0),
                role: row.get(1),
                created_at: row.get(2),
            })
            .collect())
    }

    /// The stored password hash and role of `name`, if such a user exists.
    pub async fn login_details(&self, name: &str) -> Result<Option<(String, UserRole)>, DatabaseError> {
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT password_hash, role FROM console_user WHERE name = $1", &[&name])
            .await?;
        Ok(row.and_then(|row| Some((row.get(0), UserRole::parse(row.get(1))?))))
    }

    /// Failed logins of `name` within the window.
    pub async fn recent_login_failures(&self, name: &str) -> Result<i64, DatabaseError> {
        let client = self.client().await?;
        let window = LOGIN_WINDOW.as_secs_f64();
        Ok(client
            .query_one(
                "SELECT count(*) FROM login_failure WHERE user_name = $1 \
                 AND at > now() - make_interval(secs => $2)",
                &[&name, &window],
            )
            .await?
            .get(0))
    }

    /// Notes a failed login (and forgets those older than the window).
    pub async fn note_login_failure(&self, name: &str) -> Result<(), DatabaseError> {
        let client = self.client().await?;
        let window = LOGIN_WINDOW.as_secs_f64();
        client
            .execute(
                "DELETE FROM login_failure WHERE at < now() - make_interval(secs => $1)",
                &[&window],
            )
            .await?;
        client
            .execute("INSERT INTO login_failure (user_name) VALUES ($1)", &[&name])
            .await?;
        Ok(())
    }

    /// Starts a session for `user`: a fresh token (never one the browser
    /// brought, so a planted cookie is worth nothing) lasting `lasting`.
    pub async fn start_session(
        &self,
        token_hash: &[u8],
        user: &str,
        csrf: &str,
        lasting: Duration,
    ) -> Result<(), DatabaseError> {
        let client = self.client().await?;
        client
            .execute("DELETE FROM login_failure WHERE user_name = $1", &[&user])
            .await?;
        client
            .execute(
                "INSERT INTO console_session (token_hash, user_name, csrf_token, expires_at) \
                 VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
                &[&token_hash, &user, &csrf, &lasting.as_secs_f64()],
            )
            .await?;
        Ok(())
    }

    /// The live session with this token, if any.
    pub async fn session(&self, token_hash: &[u8]) -> Result<Option<Session>, DatabaseError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT s.user_name, u.role, s.csrf_token FROM console_session s \
                 JOIN console_user u ON u.name = s.user_name \
                 WHERE s.token_hash = $1 AND s.expires_at > now()",
            )
            .await?;
        let row = client.query_opt(&statement, &[&token_hash]).await?;
        Ok(row.and_then(|row| {
            Some(Session {
                user: row.get(0),
                role: UserRole::parse(row.get(1))?,
                csrf: row.get(2),
            })
        }))
    }

    /// Ends a session (logout): its token stops working at once.
    pub async fn end_session(&self, token_hash: &[u8]) -> Result<(), DatabaseError> {
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM console_session WHERE token_hash = $1 OR expires_at < now()",
                &[&token_hash],
            )
            .await?;
        Ok(())
    }
}
