//! The store's connections: sqlx's `Any` driver for SQLite, PostgreSQL's own driver for
//! PostgreSQL. The statements are the same text on both; what differs is how rows are
//! inserted in bulk (`COPY` on PostgreSQL, which `Any` does not offer) and how rows are
//! decoded (PostgreSQL's own rows are read in place; `Any` copies every value first).

use futures_util::TryStreamExt as _;
use sqlx::postgres::{PgConnection, PgPool};
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, AnyPool, Postgres, Transaction};

use super::tables::{Columns, Value};
use super::{Backend, StoreError, db};

/// The store's pool of connections.
#[derive(Debug, Clone)]
pub(super) enum Pool {
    /// An SQLite file, through sqlx's `Any` driver.
    Sqlite(AnyPool),
    /// A PostgreSQL server.
    Postgres(PgPool),
}

impl Pool {
    /// A transaction on a pooled connection.
    pub(super) async fn begin(&self) -> Result<Tx, sqlx::Error> {
        Ok(match self {
            Pool::Sqlite(pool) => Tx::Sqlite(pool.begin().await?),
            Pool::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    /// Closes every connection.
    pub(super) async fn close(&self) {
        match self {
            Pool::Sqlite(pool) => pool.close().await,
            Pool::Postgres(pool) => pool.close().await,
        }
    }
}

/// A transaction of either backend; dropped without commit, it rolls back.
pub(super) enum Tx {
    /// SQLite's.
    Sqlite(Transaction<'static, Any>),
    /// PostgreSQL's.
    Postgres(Transaction<'static, Postgres>),
}

impl Tx {
    /// The transaction's connection, to run statements on.
    pub(super) fn conn(&mut self) -> Conn<'_> {
        match self {
            Tx::Sqlite(tx) => Conn::Sqlite(tx),
            Tx::Postgres(tx) => Conn::Postgres(tx),
        }
    }

    /// Commits.
    pub(super) async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await,
            Tx::Postgres(tx) => tx.commit().await,
        }
    }

    /// Rolls back.
    pub(super) async fn rollback(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(tx) => tx.rollback().await,
            Tx::Postgres(tx) => tx.rollback().await,
        }
    }
}

/// A connection statements run on: a transaction's, borrowed.
pub(super) enum Conn<'c> {
    /// SQLite, through sqlx's `Any` driver.
    Sqlite(&'c mut AnyConnection),
    /// PostgreSQL.
    Postgres(&'c mut PgConnection),
}

impl Conn<'_> {
    /// Which database this is.
    pub(super) fn backend(&self) -> Backend {
        match self {
            Conn::Sqlite(_) => Backend::Sqlite,
            Conn::Postgres(_) => Backend::Postgres,
        }
    }

    /// Runs one statement with `values` bound as `$1`, `$2`, ...; returns the rows it
    /// changed.
    pub(super) async fn execute(
        &mut self,
        sql: &str,
        values: Vec<Value<'_>>,
    ) -> Result<u64, sqlx::Error> {
        Ok(match self {
            Conn::Sqlite(conn) => bind(sqlx::query(sql), values)
                .execute(&mut **conn)
                .await?
                .rows_affected(),
            Conn::Postgres(conn) => bind(sqlx::query(sql), values)
                .execute(&mut **conn)
                .await?
                .rows_affected(),
        })
    }

    /// Runs statements given as one text, nothing bound (a migration).
    pub(super) async fn execute_script(&mut self, sql: &str) -> Result<(), sqlx::Error> {
        match self {
            Conn::Sqlite(conn) => sqlx::raw_sql(sql).execute(&mut **conn).await.map(drop),
            Conn::Postgres(conn) => sqlx::raw_sql(sql).execute(&mut **conn).await.map(drop),
        }
    }

    /// Hands `each` the rows of one query, decoded as they arrive: never all held as
    /// driver rows at once. A failure to read them is reported as `what`.
    pub(super) async fn each_row(
        &mut self,
        sql: &str,
        values: Vec<Value<'_>>,
        what: &'static str,
        mut each: impl FnMut(&mut dyn Columns) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        match self {
            Conn::Sqlite(conn) => {
                let mut rows = bind(sqlx::query(sql), values).fetch(&mut **conn);
                while let Some(row) = rows.try_next().await.map_err(db(what))? {
                    each(&mut &row)?;
                }
            }
            Conn::Postgres(conn) => {
                let mut rows = bind(sqlx::query(sql), values).fetch(&mut **conn);
                while let Some(row) = rows.try_next().await.map_err(db(what))? {
                    each(&mut &row)?;
                }
            }
        }
        Ok(())
    }

    /// Every row of one query, each made by `decode`; a failure to read or decode them is
    /// reported as `what`.
    pub(super) async fn rows<T>(
        &mut self,
        sql: &str,
        values: Vec<Value<'_>>,
        what: &'static str,
        mut decode: impl FnMut(&mut dyn Columns) -> Result<T, sqlx::Error>,
    ) -> Result<Vec<T>, StoreError> {
        let mut decoded = Vec::new();
        self.each_row(sql, values, what, |row| {
            decoded.push(decode(row).map_err(db(what))?);
            Ok(())
        })
        .await?;
        Ok(decoded)
    }
}

/// Binds `values` in order, on either driver.
pub(super) fn bind<'q, DB: sqlx::Database>(
    mut query: Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>,
    values: Vec<Value<'q>>,
) -> Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
where
    Option<&'q str>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    for value in values {
        query = match value {
            Value::Text(v) => query.bind(v),
            Value::Owned(v) => query.bind(v),
            Value::Int(v) => query.bind(v),
        };
    }
    query
}

/// How much `COPY` text is sent at a time: the server parses one part while the next is
/// written.
const COPY_PART_BYTES: usize = 1 << 20;

/// Inserts `rows` into `table` with PostgreSQL's `COPY ... FROM STDIN`: each row is its
/// `prefix` then its own values, one per column of `columns`. Returns the rows inserted.
///
/// `COPY` writes the rows a page at a time (one write-ahead-log record per page, not per
/// row) and parses its text format without a statement to plan; the rows go as one stream,
/// so the server inserts one part while the client writes the next.
pub(super) async fn copy_in<'q, R: IntoIterator<Item = Value<'q>>>(
    conn: &mut PgConnection,
    table: &str,
    columns: &[&str],
    prefix: &[Value<'q>],
    rows: impl Iterator<Item = R>,
) -> Result<u64, StoreError> {
    let mut rows = rows.peekable();
    if rows.peek().is_none() {
        return Ok(0);
    }
    let mut shared = Vec::new();
    for value in prefix {
        copy_value(&mut shared, value);
        shared.push(b'\t');
    }
    let statement = format!("COPY {table} ({}) FROM STDIN", columns.join(", "));
    let mut copy = conn
        .copy_in_raw(&statement)
        .await
        .map_err(db("starting to copy rows"))?;
    let mut part = Vec::with_capacity(COPY_PART_BYTES + COPY_PART_BYTES / 8);
    for row in rows {
        part.extend_from_slice(&shared);
        let mut width = prefix.len();
        for (i, value) in row.into_iter().enumerate() {
            if i > 0 {
                part.push(b'\t');
            }
            copy_value(&mut part, &value);
            width += 1;
        }
        part.push(b'\n');
        if width != columns.len() {
            // Dropped unfinished, the copy is cancelled, and the transaction rolls back.
            return Err(StoreError::Corrupt(format!(
                "a row of {table} has {width} values for {} columns",
                columns.len()
            )));
        }
        if part.len() >= COPY_PART_BYTES {
            copy.send(part.as_slice())
                .await
                .map_err(db("copying rows"))?;
            part.clear();
        }
    }
    if !part.is_empty() {
        copy.send(part.as_slice())
            .await
            .map_err(db("copying rows"))?;
    }
    copy.finish().await.map_err(db("copying rows"))
}

/// One value in `COPY`'s text format: `\N` for NULL; in a text, a backslash, tab, newline
/// or carriage return escaped with a backslash.
fn copy_value(out: &mut Vec<u8>, value: &Value<'_>) {
    let text = match value {
        Value::Text(None) | Value::Int(None) => {
            out.extend_from_slice(b"\\N");
            return;
        }
        Value::Int(Some(n)) => {
            out.extend_from_slice(n.to_string().as_bytes());
            return;
        }
        Value::Text(Some(text)) => text.as_bytes(),
        Value::Owned(text) => text.as_bytes(),
    };
    if !text
        .iter()
        .any(|b| matches!(b, b'\\' | b'\t' | b'\n' | b'\r'))
    {
        out.extend_from_slice(text);
        return;
    }
    for &b in text {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            other => out.push(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(values: &[Value<'_>]) -> String {
        let mut out = Vec::new();
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                out.push(b'\t');
            }
            copy_value(&mut out, value);
        }
        String::from_utf8(out).expect("UTF-8 in, UTF-8 out")
    }

    #[test]
    fn copy_text_escapes_what_would_split_a_row_or_a_column() {
        let values = [
            Value::Text(Some("plain")),
            Value::Text(None),
            Value::Text(Some("a\tb\nc\rd\\e")),
            Value::Owned("\\N".to_owned()),
            Value::Text(Some("")),
            Value::Int(Some(-7)),
            Value::Int(None),
            Value::Text(Some("é, \"quoted\" {x}")),
        ];
        assert_eq!(
            line(&values),
            "plain\t\\N\ta\\tb\\nc\\rd\\\\e\t\\\\N\t\t-7\t\\N\té, \"quoted\" {x}"
        );
    }
}
