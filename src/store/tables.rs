//! How each row of the engine's model maps onto its table: column lists, values and
//! decoding, so one generic writer loads and writes every provider table.

use std::borrow::Cow;

use crate::engine::model::{
    ClassRow, GuardianLinkRow, GuardianRow, MembershipRow, PersonRole, PersonRow, Row, SchoolRow,
};
use crate::intern::{Interner, Text};

/// A value bound into a statement, borrowed from the row it comes from where it can be: a
/// first sync binds over a million rows, and copying each value twice (into the statement's
/// arguments, then by the driver) was a third of its time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value<'a> {
    /// Text, or NULL (every provider column).
    Text(Option<&'a str>),
    /// Text made for the statement (a list joined with commas).
    Owned(String),
    /// An integer, or NULL (identities' priority and creation time).
    Int(Option<i64>),
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        Value::Text(Some(v))
    }
}

impl<'a> From<&'a String> for Value<'a> {
    fn from(v: &'a String) -> Self {
        Value::Text(Some(v))
    }
}

impl<'a> From<&'a Text> for Value<'a> {
    fn from(v: &'a Text) -> Self {
        Value::Text(Some(v))
    }
}

impl<'a> From<&'a Option<String>> for Value<'a> {
    fn from(v: &'a Option<String>) -> Self {
        Value::Text(v.as_deref())
    }
}

/// A provider table: every row also carries `namespace` and `provider`, which come first in
/// the primary key.
pub trait ProviderTable: Row + Sized {
    /// Table name.
    const TABLE: &'static str;
    /// Key columns after namespace and provider, in the order of [`ProviderTable::key_values`].
    const KEY_COLUMNS: &'static [&'static str];
    /// The other columns, in the order of [`ProviderTable::values`].
    const VALUE_COLUMNS: &'static [&'static str];
    /// The key's values.
    fn key_values(key: &Self::Key) -> Vec<Value<'_>>;
    /// The row's key columns' values, then its other columns' values.
    fn values(&self) -> Vec<Value<'_>>;
    /// Decodes a row selected as key columns then value columns; text that recurs from row
    /// to row may be shared through `shared`.
    fn decode(row: impl Columns, shared: &mut Interner) -> Result<Self, sqlx::Error>;
}

/// The columns of one row, read by position, each once: a database row, or the text values
/// of a row that a bulk read returned (SQLite, see `load_table`).
pub trait Columns {
    /// The text (or NULL) of column `index`.
    fn text(&mut self, index: usize) -> Result<Option<String>, sqlx::Error>;

    /// The text (or NULL) of column `index`, borrowed from the row where it can be: for a
    /// value that is looked up or shared, not kept as it is.
    fn text_ref(&mut self, index: usize) -> Result<Option<Cow<'_, str>>, sqlx::Error> {
        Ok(self.text(index)?.map(Cow::Owned))
    }

    /// The integer (or NULL) of column `index`; a bulk read has it as text.
    fn int(&mut self, index: usize) -> Result<Option<i64>, sqlx::Error> {
        self.text(index)?
            .map(|t| {
                t.parse().map_err(|_| sqlx::Error::ColumnDecode {
                    index: index.to_string(),
                    source: "not an integer".into(),
                })
            })
            .transpose()
    }
}

/// A database row, of either driver: a text is borrowed from the row where it can be.
impl<R: sqlx::Row> Columns for &R
where
    usize: sqlx::ColumnIndex<R>,
    for<'r> Option<&'r str>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<String>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<i64>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn text(&mut self, index: usize) -> Result<Option<String>, sqlx::Error> {
        self.try_get::<Option<String>, _>(index)
    }

    fn text_ref(&mut self, index: usize) -> Result<Option<Cow<'_, str>>, sqlx::Error> {
        Ok(self.try_get::<Option<&str>, _>(index)?.map(Cow::Borrowed))
    }

    fn int(&mut self, index: usize) -> Result<Option<i64>, sqlx::Error> {
        self.try_get::<Option<i64>, _>(index)
    }
}

impl Columns for &mut (dyn Columns + '_) {
    fn text(&mut self, index: usize) -> Result<Option<String>, sqlx::Error> {
        (**self).text(index)
    }

    fn text_ref(&mut self, index: usize) -> Result<Option<Cow<'_, str>>, sqlx::Error> {
        (**self).text_ref(index)
    }

    fn int(&mut self, index: usize) -> Result<Option<i64>, sqlx::Error> {
        (**self).int(index)
    }
}

/// One value of a row that a bulk read returned as JSON (SQLite, see `load_rows`): text or
/// NULL, borrowed from the JSON text unless it had to be unescaped.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BulkValue<'a>(pub Option<Cow<'a, str>>);

impl<'de> serde::Deserialize<'de> for BulkValue<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = BulkValue<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("text or null")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(BulkValue(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(BulkValue(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(BulkValue(Some(Cow::Owned(v))))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(BulkValue(None))
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(BulkValue(None))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// A row's values as a bulk read parsed them; each is moved out when it is read.
impl Columns for Vec<BulkValue<'_>> {
    fn text(&mut self, index: usize) -> Result<Option<String>, sqlx::Error> {
        Ok(self.text_ref(index)?.map(Cow::into_owned))
    }

    fn text_ref(&mut self, index: usize) -> Result<Option<Cow<'_, str>>, sqlx::Error> {
        let len = self.len();
        self.get_mut(index)
            .map(|value| value.0.take())
            .ok_or(sqlx::Error::ColumnIndexOutOfBounds { index, len })
    }
}

fn text<C: Columns + ?Sized>(row: &mut C, index: usize) -> Result<Option<String>, sqlx::Error> {
    row.text(index)
}

pub(super) fn required<C: Columns + ?Sized>(
    row: &mut C,
    index: usize,
) -> Result<String, sqlx::Error> {
    Ok(text(row, index)?.unwrap_or_default())
}

/// What `f` makes of the text of column `index` (NULL as empty), borrowed where it can be.
pub(super) fn required_ref<C: Columns + ?Sized, R>(
    row: &mut C,
    index: usize,
    f: impl FnOnce(&str) -> R,
) -> Result<R, sqlx::Error> {
    Ok(f(row.text_ref(index)?.as_deref().unwrap_or_default()))
}

/// Lists are kept as comma separated text: sourcedIds and grades hold no commas in practice,
/// and the engine only compares them whole.
fn list(row: &mut impl Columns, index: usize) -> Result<Vec<String>, sqlx::Error> {
    Ok(required(row, index)?
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect())
}

impl ProviderTable for SchoolRow {
    const TABLE: &'static str = "schools";
    const KEY_COLUMNS: &'static [&'static str] = &["sourced_id"];
    const VALUE_COLUMNS: &'static [&'static str] = &["name", "identifier"];
    fn key_values(key: &String) -> Vec<Value<'_>> {
        vec![key.into()]
    }
    fn values(&self) -> Vec<Value<'_>> {
        vec![
            (&self.sourced_id).into(),
            (&self.name).into(),
            (&self.identifier).into(),
        ]
    }
    fn decode(mut row: impl Columns, _: &mut Interner) -> Result<Self, sqlx::Error> {
        Ok(SchoolRow {
            sourced_id: required(&mut row, 0)?,
            name: required(&mut row, 1)?,
            identifier: text(&mut row, 2)?,
        })
    }
}

impl ProviderTable for PersonRow {
    const TABLE: &'static str = "people";
    const KEY_COLUMNS: &'static [&'static str] = &["sourced_id"];
    const VALUE_COLUMNS: &'static [&'static str] = &[
        "identity_id",
        "role",
        "email",
        "username",
        "given_name",
        "family_name",
        "identifier",
        "grades",
        "schools",
    ];
    fn key_values(key: &String) -> Vec<Value<'_>> {
        vec![key.into()]
    }
    fn values(&self) -> Vec<Value<'_>> {
        vec![
            (&self.sourced_id).into(),
            (&self.identity_id).into(),
            self.role.as_str().into(),
            (&self.email).into(),
            (&self.username).into(),
            (&self.given_name).into(),
            (&self.family_name).into(),
            (&self.identifier).into(),
            (&self.grades).into(),
            Value::Owned(self.schools.join(",")),
        ]
    }
    fn decode(mut row: impl Columns, _: &mut Interner) -> Result<Self, sqlx::Error> {
        let role = required(&mut row, 2)?;
        Ok(PersonRow {
            sourced_id: required(&mut row, 0)?,
            identity_id: text(&mut row, 1)?,
            role: PersonRole::parse(&role).ok_or_else(|| {
                sqlx::Error::Decode(format!("unknown person role {role:?} in the store").into())
            })?,
            email: text(&mut row, 3)?,
            username: text(&mut row, 4)?,
            given_name: text(&mut row, 5)?,
            family_name: text(&mut row, 6)?,
            identifier: text(&mut row, 7)?,
            grades: required(&mut row, 8)?,
            schools: list(&mut row, 9)?,
        })
    }
}

impl ProviderTable for ClassRow {
    const TABLE: &'static str = "classes";
    const KEY_COLUMNS: &'static [&'static str] = &["sourced_id"];
    const VALUE_COLUMNS: &'static [&'static str] = &[
        "school",
        "title",
        "class_code",
        "class_type",
        "course",
        "terms",
    ];
    fn key_values(key: &String) -> Vec<Value<'_>> {
        vec![key.into()]
    }
    fn values(&self) -> Vec<Value<'_>> {
        vec![
            (&self.sourced_id).into(),
            (&self.school).into(),
            (&self.title).into(),
            (&self.class_code).into(),
            (&self.class_type).into(),
            (&self.course).into(),
            (&self.terms).into(),
        ]
    }
    fn decode(mut row: impl Columns, _: &mut Interner) -> Result<Self, sqlx::Error> {
        Ok(ClassRow {
            sourced_id: required(&mut row, 0)?,
            school: required(&mut row, 1)?,
            title: text(&mut row, 2)?,
            class_code: text(&mut row, 3)?,
            class_type: text(&mut row, 4)?,
            course: text(&mut row, 5)?,
            terms: required(&mut row, 6)?,
        })
    }
}

impl ProviderTable for MembershipRow {
    const TABLE: &'static str = "memberships";
    const KEY_COLUMNS: &'static [&'static str] = &["class_id", "person_id"];
    const VALUE_COLUMNS: &'static [&'static str] = &["role", "school"];
    fn key_values(key: &(Text, Text)) -> Vec<Value<'_>> {
        vec![(&key.0).into(), (&key.1).into()]
    }
    fn values(&self) -> Vec<Value<'_>> {
        vec![
            (&self.class).into(),
            (&self.person).into(),
            (&self.role).into(),
            (&self.school).into(),
        ]
    }
    fn decode(mut row: impl Columns, shared: &mut Interner) -> Result<Self, sqlx::Error> {
        let mut text = |i: usize| required_ref(&mut row, i, |t| shared.get(t));
        Ok(MembershipRow {
            class: text(0)?,
            person: text(1)?,
            role: text(2)?,
            school: text(3)?,
        })
    }
}

impl ProviderTable for GuardianRow {
    const TABLE: &'static str = "guardians";
    const KEY_COLUMNS: &'static [&'static str] = &["sourced_id"];
    const VALUE_COLUMNS: &'static [&'static str] = &[
        "relationship",
        "given_name",
        "family_name",
        "email",
        "phone",
        "sms",
        "schools",
    ];
    fn key_values(key: &String) -> Vec<Value<'_>> {
        vec![key.into()]
    }
    fn values(&self) -> Vec<Value<'_>> {
        vec![
            (&self.sourced_id).into(),
            (&self.relationship).into(),
            (&self.given_name).into(),
            (&self.family_name).into(),
            (&self.email).into(),
            (&self.phone).into(),
            (&self.sms).into(),
            Value::Owned(self.schools.join(",")),
        ]
    }
    fn decode(mut row: impl Columns, _: &mut Interner) -> Result<Self, sqlx::Error> {
        Ok(GuardianRow {
            sourced_id: required(&mut row, 0)?,
            relationship: required(&mut row, 1)?,
            given_name: text(&mut row, 2)?,
            family_name: text(&mut row, 3)?,
            email: text(&mut row, 4)?,
            phone: text(&mut row, 5)?,
            sms: text(&mut row, 6)?,
            schools: list(&mut row, 7)?,
        })
    }
}

impl ProviderTable for GuardianLinkRow {
    const TABLE: &'static str = "guardian_links";
    const KEY_COLUMNS: &'static [&'static str] = &["guardian_id", "student_id"];
    const VALUE_COLUMNS: &'static [&'static str] = &["relationship", "schools"];
    fn key_values(key: &(String, String)) -> Vec<Value<'_>> {
        vec![(&key.0).into(), (&key.1).into()]
    }
    fn values(&self) -> Vec<Value<'_>> {
        vec![
            (&self.guardian).into(),
            (&self.student).into(),
            (&self.relationship).into(),
            Value::Owned(self.schools.join(",")),
        ]
    }
    fn decode(mut row: impl Columns, _: &mut Interner) -> Result<Self, sqlx::Error> {
        Ok(GuardianLinkRow {
            guardian: required(&mut row, 0)?,
            student: required(&mut row, 1)?,
            relationship: required(&mut row, 2)?,
            schools: list(&mut row, 3)?,
        })
    }
}
